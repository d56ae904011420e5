"""``pyosi identity``, ``pyosi mark image`` with credentials, and ``pyosi scan``, end to end."""

from __future__ import annotations

import json
import stat
from pathlib import Path
from typing import Any

from PIL import Image
from typer.testing import CliRunner, Result

from pyosi.cli import get_app

runner = CliRunner()


def _invoke(*args: str | Path) -> Result:
    result = runner.invoke(get_app(), [str(a) for a in args])
    assert "Traceback" not in result.output
    return result


def _lines(result: Result) -> list[dict[str, Any]]:
    return [json.loads(line) for line in result.stdout.splitlines() if line.strip()]


def test_identity_init_show_and_refuse_twice(data_dir: Path) -> None:
    r = _invoke("identity", "init", "--org", "Example AI", "--json")
    assert r.exit_code == 0, r.output
    info = json.loads(r.stdout)
    assert info["development"] is True and "Example AI" in info["subject"]
    assert stat.S_IMODE((data_dir / "identity" / "signer.key").stat().st_mode) == 0o600
    assert _invoke("identity", "show", "--json").exit_code == 0
    again = _invoke("identity", "init")
    assert again.exit_code == 5 and "already holds an identity" in again.output


def test_identity_show_without_one(data_dir: Path) -> None:
    r = _invoke("identity", "show")
    assert r.exit_code == 4 and "pyosi identity init" in r.output


def test_identity_import_checks_the_pair(data_dir: Path, tmp_path: Path) -> None:
    _invoke("identity", "init")
    d = data_dir / "identity"
    chain, key = tmp_path / "chain.pem", tmp_path / "key.pem"
    chain.write_bytes((d / "signer-chain.pem").read_bytes())
    key.write_bytes((d / "signer.key").read_bytes())
    bad = _invoke("identity", "import", "--cert", chain, "--key", chain, "--force")
    assert bad.exit_code == 4
    ok = _invoke("identity", "import", "--cert", chain, "--key", key, "--force", "--json")
    assert ok.exit_code == 0, ok.output and json.loads(ok.stdout)["development"] is False


def test_mark_strip_scan_recovers(data_dir: Path, photo_png: Path, tmp_path: Path) -> None:
    _invoke("identity", "init")
    out = tmp_path / "gen.jpg"
    r = _invoke(
        "mark", "image", photo_png, out, "--model", "TestDiffusion", "--label", "both", "--json"
    )
    assert r.exit_code == 0, r.output
    info = json.loads(r.stdout)
    assert info["signed"] and info["label"] == "AI 생성 · AI-generated"
    stripped = tmp_path / "stripped.png"
    Image.open(out).convert("RGB").save(stripped)
    scan = _invoke("scan", out, stripped, "--json")
    assert scan.exit_code == 0, scan.output
    docs = {Path(d["path"]).name: d for d in _lines(scan)}
    assert docs["gen.jpg"]["credentials"]["state"] == "Trusted"
    assert docs["gen.jpg"]["verdict"] == "ai-generated"
    rec = docs["stripped.png"]["credentials_recovered"]
    assert rec is not None and rec["content_id"] == info["content_id"]
    assert docs["stripped.png"]["label"]["rests_on"] == ["recovered"]
    text = _invoke("scan", stripped)
    assert "credentials recovered from watermark" in text.stdout and "AI 생성" in text.stdout


def test_mark_without_identity_warns_and_still_marks(
    data_dir: Path, photo_png: Path, tmp_path: Path
) -> None:
    r = _invoke("mark", "image", photo_png, tmp_path / "o.png")
    assert r.exit_code == 0 and "no signed credentials" in r.output
    assert (data_dir / "keys" / "default.json").exists()


def test_scan_folder_with_errors_carries_on(data_dir: Path, tmp_path: Path) -> None:
    folder = tmp_path / "in"
    folder.mkdir()
    Image.new("RGB", (64, 64)).save(folder / "plain.png")
    (folder / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 truncated")
    (folder / "unreadable.png").write_bytes(b"x")
    (folder / "unreadable.png").chmod(0)
    r = _invoke("scan", folder, "--json", "--workers", "2")
    docs = {Path(d["path"]).name: d for d in _lines(r)}
    assert set(docs) == {"plain.png", "broken.jpg", "unreadable.png"}
    assert docs["plain.png"]["verdict"] == "no-signal"
    assert docs["broken.jpg"]["errors"]
    (folder / "unreadable.png").chmod(0o644)


def test_scan_usage_errors(data_dir: Path, tmp_path: Path) -> None:
    assert _invoke("scan").exit_code == 2
    missing = _invoke("scan", tmp_path / "missing")
    assert missing.exit_code == 3 and "no such file" in missing.output
    unknown = _invoke("scan", tmp_path, "--detector", "nope")
    assert unknown.exit_code == 6 and "unknown detector" in unknown.output
    listing = _invoke("scan", "--list-detectors")
    assert listing.exit_code == 0 and "sd-watermark" in listing.stdout
