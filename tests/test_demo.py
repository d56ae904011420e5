"""``pyosi demo`` on a reduced set: files, report, key permissions, the missing-extra message."""

from __future__ import annotations

import json
import stat
import sys
from pathlib import Path

import pytest
from PIL import Image
from typer.testing import CliRunner

import pyosi.demo
from pyosi.cli import get_app
from pyosi.demo import KEY_FILE, run_demo
from pyosi.errors import PyosiError
from pyosi.watermark import WatermarkKey, detect_image


def _format(path: Path) -> str | None:
    with Image.open(path) as im:
        return im.format


def test_demo_writes_files_and_report(tmp_path: Path) -> None:
    out = tmp_path / "demo"
    report = run_demo(out, images=["astronaut"], attacks=["jpeg90", "hflip", "hard"])
    assert [r.attack for r in report.rows] == ["jpeg90", "hflip", "hard"]

    key_path = out / KEY_FILE
    assert stat.S_IMODE(key_path.stat().st_mode) == 0o600
    key = WatermarkKey.load(key_path)
    assert key.id == report.key_id
    assert (out / "original" / "astronaut.png").is_file()
    assert (out / "marked" / "astronaut.png").is_file()

    # Pipelines ending in JPEG leave the JPEG bytes themselves; the others a PNG.
    assert {r.attack: _format(out / r.file) for r in report.rows} == {
        "jpeg90": "JPEG",
        "hflip": "PNG",
        "hard": "JPEG",
    }

    jpeg90 = report.rows[0]
    assert jpeg90.detected
    assert jpeg90.payload_ok
    assert jpeg90.found_payload == jpeg90.payload
    assert jpeg90.false_alarm_probability <= 1e-6
    assert jpeg90.psnr_db > 30
    # The report describes the file on disk: detecting it again gives the same answer.
    with Image.open(out / jpeg90.file) as im:
        again = detect_image(im.convert("RGB"), keys=[key])
    assert again.payload is not None
    assert again.payload.hex() == jpeg90.payload

    doc = json.loads((out / "report.json").read_text())
    assert doc["key_id"] == report.key_id
    assert doc["total"] == 3
    assert doc["recovered"] == sum(r.payload_ok for r in report.rows)
    assert {"image", "attack", "file", "detected", "payload_ok", "psnr_db"} <= set(doc["rows"][0])
    md = (out / "report.md").read_text()
    assert "| astronaut | jpeg90 |" in md
    assert f"--key {KEY_FILE}" in md


def test_demo_reruns_into_the_same_folder(tmp_path: Path) -> None:
    first = run_demo(tmp_path, images=["coffee"], attacks=["none"])
    second = run_demo(tmp_path, images=["coffee"], attacks=["none"])
    assert first.key_id != second.key_id  # a fresh key each run, replacing the old file
    assert WatermarkKey.load(tmp_path / KEY_FILE).id == second.key_id
    assert second.rows[0].payload_ok


def test_demo_command(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(pyosi.demo, "DEMO_IMAGES", ("rocket",))
    monkeypatch.setattr(pyosi.demo, "DEMO_ATTACKS", ("social", "rotate10"))
    out = tmp_path / "d"
    result = CliRunner().invoke(get_app(), ["demo", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "rotate10" in result.output
    assert "cases" in result.output
    assert len(json.loads((out / "report.json").read_text())["rows"]) == 2


def test_missing_scikit_image_names_the_extra(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "skimage", None)  # makes `import skimage...` fail
    monkeypatch.setitem(sys.modules, "skimage.data", None)
    with pytest.raises(PyosiError, match=r"pip install 'pyosi\[demo\]'"):
        run_demo(tmp_path, images=["astronaut"])
    result = CliRunner().invoke(get_app(), ["demo", "--out", str(tmp_path / "x")])
    assert result.exit_code == 6
    assert "pyosi[demo]" in result.output


def test_demo_shows_mark_strip_scan_recovered(tmp_path: Path) -> None:
    out = tmp_path / "demo"
    report = run_demo(out, images=["astronaut"], attacks=["jpeg90"])
    rows = {Path(c.file).name: c for c in report.credentials}
    assert rows["generated.jpg"].own_credentials == "Trusted"
    for name in ("stripped.jpg", "screenshot.jpg"):
        assert rows[name].own_credentials is None  # metadata gone...
        assert rows[name].recovered and rows[name].verdict == "ai-generated"  # ...yet recovered
    assert (out / "data" / "pyosi.db").is_file()
    assert "mark → strip → scan" in (out / "report.md").read_text()
