"""docs/cli.md documents every command and every exit code."""

from __future__ import annotations

import re
from pathlib import Path

import typer.main

import pyosi.cli
from pyosi.cli import get_app

DOCS = Path(__file__).parents[2] / "docs" / "cli.md"


def _command_paths(command: object, prefix: str = "pyosi") -> list[str]:
    subcommands = getattr(command, "commands", None)
    if not subcommands:
        return [prefix]
    return [p for name, sub in subcommands.items() for p in _command_paths(sub, f"{prefix} {name}")]


def test_every_command_is_documented() -> None:
    text = DOCS.read_text()
    paths = _command_paths(typer.main.get_command(get_app()))
    assert "pyosi mark image" in paths and "pyosi detect" in paths
    assert [p for p in paths if f"`{p}" not in text] == []


def test_exit_codes_match_the_module_docstring() -> None:
    documented = {int(c) for c in re.findall(r"^\| (\d+)\s+\|", DOCS.read_text(), re.M)}
    in_code = {int(c) for c in re.findall(r"^  (\d+)\s", pyosi.cli.__doc__ or "", re.M)}
    assert documented == in_code == {0, 1, 2, 3, 4, 5, 6, 70, 130}
