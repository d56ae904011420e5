"""``pyosi key new`` and ``pyosi key show``."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest
from typer.testing import CliRunner

from pyosi.cli import get_app
from pyosi.watermark import WatermarkKey

runner = CliRunner()


def test_new_writes_a_private_key_file_in_cwd(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    result = runner.invoke(get_app(), ["key", "new"])
    assert result.exit_code == 0, result.output
    [path] = tmp_path.glob("pyosi-key-*.json")
    key = WatermarkKey.load(path)
    assert path.name == f"pyosi-key-{key.id}.json"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert key.id in result.stdout
    assert json.loads(path.read_text())["secret"] not in result.output  # never printed
    assert "secret" in result.stderr  # the reminder goes to stderr


def test_new_out_json(tmp_path: Path) -> None:
    out = tmp_path / "my.key"
    result = runner.invoke(get_app(), ["key", "new", "--out", str(out), "--json"])
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert doc == {"key_id": WatermarkKey.load(out).id, "path": str(out)}
    assert stat.S_IMODE(out.stat().st_mode) == 0o600


def test_new_refuses_to_overwrite_unless_forced(tmp_path: Path) -> None:
    out = tmp_path / "my.key"
    assert runner.invoke(get_app(), ["key", "new", "-o", str(out)]).exit_code == 0
    before = out.read_bytes()
    result = runner.invoke(get_app(), ["key", "new", "-o", str(out)])
    assert result.exit_code == 5
    assert "exists" in result.stderr and "--force" in result.stderr
    assert out.read_bytes() == before
    assert runner.invoke(get_app(), ["key", "new", "-o", str(out), "--force"]).exit_code == 0
    assert out.read_bytes() != before


def test_new_stdout_prints_the_key_and_writes_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    result = runner.invoke(get_app(), ["key", "new", "--stdout"])
    assert result.exit_code == 0, result.output
    assert WatermarkKey.from_json(result.stdout).id
    assert list(tmp_path.iterdir()) == []


def test_new_stdout_and_out_conflict(tmp_path: Path) -> None:
    result = runner.invoke(get_app(), ["key", "new", "--stdout", "--out", str(tmp_path / "k")])
    assert result.exit_code == 2
    assert list(tmp_path.iterdir()) == []


def test_show(key_file: Path, key: WatermarkKey) -> None:
    result = runner.invoke(get_app(), ["key", "show", str(key_file)])
    assert (result.exit_code, result.stdout.strip()) == (0, key.id)
    result = runner.invoke(get_app(), ["key", "show", str(key_file), "--json"])
    assert json.loads(result.stdout) == {"key_id": key.id, "path": str(key_file)}


def test_show_corrupt_key(tmp_path: Path) -> None:
    (tmp_path / "bad.json").write_text("{not json")
    result = runner.invoke(get_app(), ["key", "show", str(tmp_path / "bad.json")])
    assert result.exit_code == 4
    assert result.stderr.startswith("error: ")
    assert "Traceback" not in result.output
