"""Every third-party import is declared where it is needed: the core needs only the base
dependencies, the service only those plus the ``service`` extra. A missing declaration passes
every test in the dev environment (which has everything) and fails on a user's machine."""

from __future__ import annotations

import ast
import re
import sys
import tomllib
from importlib.metadata import PackageNotFoundError, packages_distributions, requires
from pathlib import Path

ROOT = Path(__file__).parents[1]
SRC = ROOT / "src" / "pyosi"
CORE = ["watermark", "media", "provenance", "signals", "policy", "storage", "scan.py", "mark.py",
        "keyring.py", "paths.py", "errors.py", "_json.py"]  # fmt: skip


def _declared(*extras: str) -> set[str]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    specs = list(project["dependencies"])
    for extra in extras:
        specs += project["optional-dependencies"][extra]
    names = {_name(s) for s in specs}
    return _with_requirements({n for n in names if not n.startswith("pyosi")})


def _name(spec: str) -> str:
    return re.split(r"[\[<>=!~ ;]", spec, maxsplit=1)[0].lower().replace("_", "-")


def _with_requirements(names: set[str]) -> set[str]:
    """The distributions and what they install themselves (FastAPI brings Starlette and
    pydantic): importing those directly is safe as long as the declared one stays."""
    seen: set[str] = set()
    todo = list(names)
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        try:
            reqs = requires(name) or []
        except PackageNotFoundError:
            continue
        todo += [_name(r) for r in reqs if "extra ==" not in r]
    return seen


def _imports(paths: list[Path]) -> set[str]:
    modules: set[str] = set()
    for path in paths:
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                modules |= {a.name.split(".")[0] for a in node.names}
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                modules.add(node.module.split(".")[0])
    return {m for m in modules if m not in sys.stdlib_module_names and m != "pyosi"}


def _distributions(modules: set[str]) -> dict[str, set[str]]:
    dists = packages_distributions()
    return {m: {d.lower().replace("_", "-") for d in dists.get(m, [m])} for m in modules}


def _files(*parts: str) -> list[Path]:
    out: list[Path] = []
    for part in parts:
        p = SRC / part
        out += sorted(p.rglob("*.py")) if p.is_dir() else [p]
    return out


def test_the_core_needs_only_the_base_dependencies() -> None:
    declared = _declared()
    missing = {m: d for m, d in _distributions(_imports(_files(*CORE))).items() if not d & declared}
    assert missing == {}


def test_the_service_needs_only_its_extra() -> None:
    declared = _declared("service", "postgres")
    missing = {
        m: d for m, d in _distributions(_imports(_files("service"))).items() if not d & declared
    }
    assert missing == {}
