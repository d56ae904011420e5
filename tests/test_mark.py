"""The generator-side pipeline: label → watermark → XMP → signature → manifest store."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from pyosi.errors import OutputError, ProvenanceError
from pyosi.mark import mark_image_file
from pyosi.media.metadata import read_metadata
from pyosi.provenance import sourcetype
from pyosi.provenance.credentials import Generation, read_credentials
from pyosi.provenance.identity import Identity, init_development
from pyosi.provenance.store import ManifestStore
from pyosi.provenance.xmp import parse_packet
from pyosi.watermark import WatermarkKey, detect_image

GEN = Generation(model="TestDiffusion", model_version="3.0", prompt="an astronaut")


@pytest.fixture
def identity(data_dir: Path) -> Identity:
    init_development()
    return Identity.load()


@pytest.mark.parametrize("suffix", [".jpg", ".png", ".webp", ".tif"])
def test_full_pipeline(
    photo_png: Path, tmp_path: Path, key: WatermarkKey, identity: Identity, suffix: str
) -> None:
    out = tmp_path / f"out{suffix}"
    store = ManifestStore()
    r = mark_image_file(
        photo_png, out, key=key, generation=GEN, identity=identity, store=store, label="ko"
    )
    assert r.signed and r.label == "AI 생성" and out.exists()
    data = out.read_bytes()
    # Signed last: the signature validates over the final bytes, soft binding = content id.
    creds = read_credentials(data)
    assert creds is not None and creds.state == "Trusted", creds
    assert creds.pyosi_payload == r.content_id
    assert creds.digital_source_types == (sourcetype.TRAINED_ALGORITHMIC_MEDIA,)
    # XMP survives signing.
    meta = read_metadata(data)
    assert meta.xmp is not None
    assert parse_packet(meta.xmp).digital_source_types == (sourcetype.TRAINED_ALGORITHMIC_MEDIA,)
    # The watermark carries the content id, and the store has the manifest under it.
    d = detect_image(Image.open(io.BytesIO(data)), keys=[key])
    assert d.detected and d.payload == r.content_id
    stored = store.get(r.content_id)
    assert stored is not None and stored.sha256 == r.sha256
    assert stored.manifest["active_manifest"] == creds.manifest_label


def test_label_is_under_the_watermark(
    photo_png: Path, tmp_path: Path, key: WatermarkKey, identity: Identity
) -> None:
    # Order check: the label's own pixels carry the mark (label first, watermark after).
    out = tmp_path / "out.png"
    mark_image_file(photo_png, out, key=key, generation=GEN, identity=None, store=None, label="en")
    plain = tmp_path / "plain.png"
    mark_image_file(
        photo_png, plain, key=key, generation=GEN, identity=None, store=None, content_id=b"12345678"
    )
    a = np.asarray(Image.open(out).convert("L"), dtype=float)[:60, -200:]
    assert np.std(a[a > 235]) > 0  # text not uniformly white: the mark modulates it too


def test_unsigned_and_non_metadata_formats(
    photo_png: Path, tmp_path: Path, key: WatermarkKey
) -> None:
    store = ManifestStore()
    r = mark_image_file(
        photo_png, tmp_path / "o.bmp", key=key, generation=GEN, identity=None, store=store
    )
    assert not r.signed and not r.embeds_metadata
    stored = store.get(r.content_id)
    assert stored is not None and stored.manifest["unsigned"] is True


def test_failed_publish_leaves_no_record(
    photo_png: Path,
    tmp_path: Path,
    key: WatermarkKey,
    identity: Identity,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import pyosi.mark

    def fail(*_a: object, **_k: object) -> None:
        raise OutputError("disk full")

    monkeypatch.setattr(pyosi.mark, "atomic_write_bytes", fail)
    store = ManifestStore()
    with pytest.raises(OutputError):
        mark_image_file(
            photo_png,
            tmp_path / "o.jpg",
            key=key,
            generation=GEN,
            identity=identity,
            store=store,
            content_id=b"abcdefgh",
        )
    assert b"abcdefgh" not in store and not (tmp_path / "o.jpg").exists()


def test_reused_content_id_is_refused(photo_png: Path, tmp_path: Path, key: WatermarkKey) -> None:
    store = ManifestStore()
    kw = {
        "key": key,
        "generation": GEN,
        "identity": None,
        "store": store,
        "content_id": b"samesame",
    }
    mark_image_file(photo_png, tmp_path / "a.png", **kw)  # type: ignore[arg-type]
    with pytest.raises(ProvenanceError, match="already in the manifest store"):
        mark_image_file(photo_png, tmp_path / "b.png", **kw)  # type: ignore[arg-type]
    assert not (tmp_path / "b.png").exists()
