"""Watermark keys: generation, serialisation, files and their failure modes."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest

from pyosi.errors import InvalidKeyError, OutputError
from pyosi.watermark import WatermarkKey


def test_generate_is_random_and_round_trips() -> None:
    a, b = WatermarkKey.generate(), WatermarkKey.generate()
    assert a != b and a.id != b.id
    assert WatermarkKey.from_bytes(a.to_bytes()) == a
    assert len(a.to_bytes()) == 32
    assert len(a.id) == 16 and a.id not in repr(a.to_bytes())


def test_repr_hides_secret() -> None:
    key = WatermarkKey.generate()
    assert key.to_bytes().hex() not in repr(key)
    assert key.id in repr(key)


@pytest.mark.parametrize("bad", [b"", b"x" * 31, b"x" * 33])
def test_from_bytes_rejects_wrong_length(bad: bytes) -> None:
    with pytest.raises(InvalidKeyError):
        WatermarkKey.from_bytes(bad)


def test_derive_is_deterministic_and_label_separated() -> None:
    key = WatermarkKey.from_bytes(bytes(range(32)))
    assert key.derive("a", 16) == key.derive("a", 16)
    assert key.derive("a", 16) != key.derive("b", 16)
    # Pinned: a mark made today must be found by every later version.
    assert key.id == WatermarkKey.from_bytes(bytes(range(32))).id


def test_file_round_trip_with_0600(tmp_path: Path) -> None:
    key = WatermarkKey.generate()
    path = key.save(tmp_path / "k.json")
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert WatermarkKey.load(path) == key


def test_save_refuses_to_overwrite(tmp_path: Path) -> None:
    path = tmp_path / "k.json"
    path.write_text("keep me")
    with pytest.raises(OutputError):
        WatermarkKey.generate().save(path)
    assert path.read_text() == "keep me"
    assert list(tmp_path.iterdir()) == [path]


@pytest.mark.parametrize(
    "content",
    [
        "not json",
        "[]",
        json.dumps({"type": "other"}),
        json.dumps({"type": "pyosi-watermark-key", "version": 9}),
        json.dumps({"type": "pyosi-watermark-key", "version": 1, "secret": "!!!"}),
        json.dumps({"type": "pyosi-watermark-key", "version": 1, "secret": "AAAA"}),
    ],
)
def test_load_rejects_corrupt_files(tmp_path: Path, content: str) -> None:
    path = tmp_path / "bad.json"
    path.write_text(content)
    with pytest.raises(InvalidKeyError):
        WatermarkKey.load(path)


def test_load_rejects_mismatched_id(tmp_path: Path) -> None:
    key = WatermarkKey.generate()
    doc = json.loads(key.to_json())
    doc["id"] = "0" * 16
    path = tmp_path / "k.json"
    path.write_text(json.dumps(doc))
    with pytest.raises(InvalidKeyError, match="corrupt"):
        WatermarkKey.load(path)


def test_load_rejects_binary_and_missing(tmp_path: Path) -> None:
    path = tmp_path / "bin"
    path.write_bytes(b"\xff\xfe\x00")
    with pytest.raises(InvalidKeyError):
        WatermarkKey.load(path)
    with pytest.raises(InvalidKeyError):
        WatermarkKey.load(tmp_path / "missing.json")
