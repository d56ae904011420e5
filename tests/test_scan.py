"""Scanning: every signal, durable credentials after stripping, folders, hostile files."""

from __future__ import annotations

import io
import json
import shutil
from pathlib import Path
from typing import ClassVar

import pytest
from PIL import Image

from pyosi.policy.labels import FileVerdict
from pyosi.provenance.store import ManifestStore
from pyosi.scan import SCHEMA, ScanOptions, scan_bytes, scan_file, scan_paths
from pyosi.signals import registry
from pyosi.signals.base import Basis, MediaType, ScanContext, Signal, SignalType, Subject, Verdict
from tests.conftest import mark_like_the_cli

FIXTURES = Path(__file__).resolve().parents[2] / "shared" / "fixtures" / "c2pa-rs"


@pytest.fixture
def marked(data_dir: Path, photo_png: Path, tmp_path: Path) -> tuple[Path, bytes]:
    """A file marked the way `pyosi mark image` does, with the data directory's own key."""
    out = tmp_path / "marked.jpg"
    return out, mark_like_the_cli(photo_png, out, model="TestDiffusion", store=ManifestStore())


def _jpeg(im: Image.Image, quality: int) -> bytes:
    buf = io.BytesIO()
    im.convert("RGB").save(buf, "JPEG", quality=quality)
    return buf.getvalue()


def test_marked_file_is_ai_generated_on_every_layer(marked: tuple[Path, bytes]) -> None:
    path, _cid = marked
    r = scan_file(path, ScanOptions.default().context())
    assert r.verdict is FileVerdict.AI_GENERATED and r.error is None and not r.errors
    assert {s.detector for s in r.signals} == {"c2pa", "pyosi-watermark", "xmp"}
    assert r.credentials is not None and r.credentials["state"] == "Trusted"
    assert r.decision.label is not None and r.decision.label.ko == "AI 생성"
    assert r.decision.label.rests_on == ("c2pa", "watermark", "metadata")


@pytest.mark.parametrize(
    "transform",
    [
        lambda im: _jpeg(im, 90),  # re-saved: metadata stripped
        lambda im: _jpeg(  # screenshot-like: crop to 80%, scale ×0.7, JPEG 70
            im.crop((51, 51, 461, 461)).resize((287, 287), Image.Resampling.BILINEAR), 70
        ),
    ],
    ids=["resaved", "screenshot"],
)
def test_credentials_recovered_from_watermark(marked: tuple[Path, bytes], transform) -> None:
    path, cid = marked
    copy = transform(Image.open(path))
    r = scan_bytes(copy, ScanOptions.default().context(), path="copy.jpg")
    assert r.credentials is None  # the copy carries no manifest of its own
    assert r.verdict is FileVerdict.AI_GENERATED
    assert r.recovered is not None and r.recovered["content_id"] == cid.hex()
    assert r.recovered["manifest"]["active_manifest"]
    assert r.decision.label is not None and r.decision.label.rests_on == ("recovered",)
    assert "credentials recovered from watermark" in r.signals[0].evidence


def test_without_keys_or_store_nothing_is_recovered(marked: tuple[Path, bytes]) -> None:
    path, _ = marked
    copy = _jpeg(Image.open(path), 90)
    r = scan_bytes(copy, ScanContext())
    assert r.verdict is FileVerdict.NO_SIGNAL and r.recovered is None


def test_json_schema(marked: tuple[Path, bytes]) -> None:
    path, _ = marked
    doc = scan_file(path, ScanOptions.default().context()).to_json()
    json.dumps(doc)  # serialisable as is
    assert doc["schema"] == SCHEMA
    assert set(doc) == {
        "schema", "path", "size", "sha256", "mime", "media_type", "verdict", "label",
        "needs_review", "signals", "credentials", "credentials_recovered", "errors", "error",
        "skipped", "timings_ms",
    }  # fmt: skip
    assert doc["label"]["ko"] == "AI 생성" and doc["label"]["en"] == "AI-generated"
    for s in doc["signals"]:
        assert s["basis"] in {b.value for b in Basis}
        assert s["verdict"] in {v.value for v in Verdict}
        assert 0 <= s["confidence"] <= 1 and s["evidence"]


def test_unreadable_and_non_media_files(tmp_path: Path) -> None:
    ctx = ScanContext()
    missing = scan_file(tmp_path / "nope.jpg", ctx)
    assert missing.error is not None and "no such file" in missing.error
    (tmp_path / "notes.txt").write_text("hello")
    assert scan_file(tmp_path / "notes.txt", ctx).skipped
    truncated = _jpeg(Image.new("RGB", (300, 300), (9, 9, 9)), 90)[:400]
    r = scan_bytes(truncated, ctx, path="truncated.jpg")
    assert r.error is None and any(e.detector == "decode" for e in r.errors)
    assert r.verdict is FileVerdict.NO_SIGNAL


@pytest.mark.skipif(not FIXTURES.is_dir(), reason="../shared/fixtures missing")
def test_folder_scan_in_parallel_survives_hostile_files(
    marked: tuple[Path, bytes], tmp_path: Path
) -> None:
    folder = tmp_path / "corpus"
    shutil.copytree(FIXTURES, folder / "c2pa-rs")
    shutil.copy(marked[0], folder / "marked.jpg")
    (folder / "sub").mkdir()
    (folder / "sub" / "stripped.jpg").write_bytes(_jpeg(Image.open(marked[0]), 85))
    results = {Path(r.path).name: r for r in scan_paths([folder], ScanOptions.default(), workers=2)}
    assert len(results) == len(list(FIXTURES.iterdir())) + 2
    assert results["marked.jpg"].verdict is FileVerdict.AI_GENERATED
    assert results["stripped.jpg"].recovered is not None
    tiff = results["tiff_poc.tiff"]
    assert any("too many subfiles" in e.message for e in tiff.errors)
    wav = results["sample3.invalid.wav"]
    assert any("Invalid RIFF format" in e.message for e in wav.errors)
    for name in ("riff_bomb_1000.wav", "id3v23_compression_underflow.mp3", "sample1.webp"):
        assert results[name].error is None and results[name].verdict is FileVerdict.NO_SIGNAL
    xca = results["XCA.jpg"]
    assert xca.credentials is not None and xca.credentials["state"] == "Invalid"
    assert results["README.md"].skipped


class _Crash(SignalType):
    name = "test-crash"
    media_types: ClassVar[frozenset[MediaType]] = frozenset({MediaType.IMAGE})

    def detect(self, subject: Subject, context: ScanContext) -> list[Signal]:
        raise RuntimeError("detector bug")


class _Plugin(SignalType):
    name = "test-plugin"
    media_types: ClassVar[frozenset[MediaType]] = frozenset({MediaType.IMAGE})

    def detect(self, subject: Subject, context: ScanContext) -> list[Signal]:
        return [Signal(self.name, "x", Verdict.GENERATED, 0.9, Basis.FORENSIC, "plug-in says so")]


def test_a_crashing_detector_does_not_lose_the_scan() -> None:
    data = _jpeg(Image.new("RGB", (200, 200)), 90)
    r = scan_bytes(data, ScanContext(), detectors=[_Crash(), _Plugin()])
    assert r.errors[0].detector == "test-crash" and "detector bug" in r.errors[0].message
    assert r.verdict is FileVerdict.AI_GENERATED  # the plug-in still ran


def test_registry_takes_plug_ins_and_refuses_duplicates() -> None:
    registry.register(_Plugin)
    try:
        assert registry.get("test-plugin") is _Plugin
        with pytest.raises(ValueError, match="already registered"):
            registry.register(type("Other", (_Plugin,), {}))
        opts = ScanOptions(detectors=("test-plugin",), use_store=False)
        assert [t.name for t in opts.signal_types()] == ["test-plugin"]
    finally:
        registry._registry.pop("test-plugin", None)
    names = [t.name for t in registry.signal_types()]
    assert {"c2pa", "xmp", "traces", "sd-watermark", "pyosi-watermark"} <= set(names)
