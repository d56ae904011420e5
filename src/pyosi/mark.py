"""The generator-side pipeline: visible label → watermark → XMP → C2PA signature → store.

The order matters: the watermark goes over the label so the label's pixels carry it too, the XMP is
written before signing, and the signature comes last so it binds the final bytes. The manifest is
recorded in the manifest store under the watermark's content id *before* the file is published, so
a published file always has durable credentials; if publishing fails the record is removed.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pyosi.errors import OutputError, ProvenanceError
from pyosi.media import LoadedImage, check_output, encode_image, load_image, output_format
from pyosi.media._write import atomic_write_bytes
from pyosi.media.label import Corner, LabelLanguage, draw_label, label_text
from pyosi.media.quality import psnr as image_psnr
from pyosi.provenance.credentials import Generation, ai_manifest, read_credentials, sign
from pyosi.provenance.identity import Identity
from pyosi.provenance.store import ManifestStore, StoredManifest, new_content_id
from pyosi.provenance.xmp import build_packet
from pyosi.watermark import WatermarkKey, embed_image

#: Formats that carry both XMP and an embedded C2PA manifest.
MARKABLE_FORMATS = ("JPEG", "PNG", "WEBP", "TIFF")
_MIME = {"JPEG": "image/jpeg", "PNG": "image/png", "WEBP": "image/webp", "TIFF": "image/tiff"}


@dataclass(frozen=True)
class MarkResult:
    output: Path
    format: str
    content_id: bytes
    key_id: str
    psnr_db: float  # of the watermark alone (label excluded)
    label: str | None
    signed: bool
    signer: str | None
    sha256: str
    width: int
    height: int
    frames: int = 1

    @property
    def embeds_metadata(self) -> bool:
        return self.format in MARKABLE_FORMATS

    def to_json(self) -> dict[str, Any]:
        return {
            "output": str(self.output),
            "format": self.format,
            "content_id": self.content_id.hex(),
            "key_id": self.key_id,
            "psnr_db": round(self.psnr_db, 2),
            "label": self.label,
            "signed": self.signed,
            "signer": self.signer,
            "sha256": self.sha256,
            "width": self.width,
            "height": self.height,
            "frames": self.frames,
        }


@dataclass(frozen=True)
class MarkedImage:
    """A marked image in memory: its bytes and the manifest record to store for it."""

    data: bytes
    format: str
    mime: str | None
    content_id: bytes
    key_id: str
    psnr_db: float
    label: str | None
    signer: str | None
    sha256: str
    width: int
    height: int
    frames: int
    record: StoredManifest

    def to_json(self) -> dict[str, Any]:
        return {
            "format": self.format,
            "mime": self.mime,
            "content_id": self.content_id.hex(),
            "key_id": self.key_id,
            "psnr_db": round(self.psnr_db, 2),
            "label": self.label,
            "signed": self.signer is not None,
            "signer": self.signer,
            "sha256": self.sha256,
            "width": self.width,
            "height": self.height,
            "frames": self.frames,
        }


def mark_image(
    source: str | os.PathLike[str] | bytes | LoadedImage,
    *,
    title: str,
    format: str | None = None,
    key: WatermarkKey,
    generation: Generation,
    identity: Identity | None,
    store: ManifestStore | None = None,
    content_id: bytes | None = None,
    label: LabelLanguage | None = None,
    label_corner: Corner = "top-right",
    quality: int = 95,
    strength: float = 1.0,
) -> MarkedImage:
    """Label, watermark, add XMP and sign an image; nothing is written or stored.

    ``format``: the output's Pillow format (default: the input's). ``store`` is only consulted,
    so that a content id already taken is refused before any work is done.
    """
    loaded = source if isinstance(source, LoadedImage) else load_image(source)
    fmt = output_format(Path(), format, loaded)  # the given format, else the input's
    # Other formats (GIF, BMP, …) get the watermark alone; the store still records the facts.
    embeds_metadata = fmt in MARKABLE_FORMATS
    cid = content_id if content_id is not None else new_content_id()
    if store is not None and cid in store:
        raise ProvenanceError(f"content id {cid.hex()} is already in the manifest store")

    image = loaded.image
    text = None
    if label is not None:
        text = label_text(label, edited=generation.kind == "edited")
        try:
            image = draw_label(image, text, corner=label_corner)
        except ValueError as e:
            raise OutputError(f"cannot draw the label: {e}") from None
    marked = embed_image(image, payload=cid, key=key, strength=strength)
    psnr = image_psnr(image, marked)

    from pyosi import __version__

    xmp = build_packet(
        digital_source_type=generation.digital_source_type,
        creator_tool=f"pyosi {__version__} ({generation.model})",
    )
    data = encode_image(
        marked, fmt, like=loaded, quality=quality, xmp=xmp if embeds_metadata else None
    )
    signer = None
    if identity is not None and embeds_metadata:
        manifest = ai_manifest(generation, title=title, mime=_MIME[fmt], content_id=cid)
        data = sign(data, manifest, identity)
        signer = identity.subject
    digest = hashlib.sha256(data).hexdigest()
    return MarkedImage(
        data=data,
        format=fmt,
        mime=_MIME.get(fmt),
        content_id=cid,
        key_id=key.id,
        psnr_db=psnr,
        label=text,
        signer=signer,
        sha256=digest,
        width=marked.width,
        height=marked.height,
        frames=loaded.n_frames,
        record=_record(data, cid, key, generation, title, fmt, digest),
    )


def mark_image_file(
    input_path: str | os.PathLike[str],
    output_path: str | os.PathLike[str],
    *,
    key: WatermarkKey,
    generation: Generation,
    identity: Identity | None,
    store: ManifestStore | None,
    content_id: bytes | None = None,
    label: LabelLanguage | None = None,
    label_corner: Corner = "top-right",
    quality: int = 95,
    strength: float = 1.0,
    overwrite: bool = False,
    overwrite_input: bool = False,
) -> MarkResult:
    """Mark an image file end to end. ``identity=None`` skips the C2PA signature."""
    src, out = Path(input_path), Path(output_path)
    loaded = load_image(src)
    fmt = output_format(out, None, loaded)
    check_output(out, input_path=src, overwrite=overwrite, overwrite_input=overwrite_input)
    m = mark_image(
        loaded,
        title=out.name,
        format=fmt,
        key=key,
        generation=generation,
        identity=identity,
        store=store,
        content_id=content_id,
        label=label,
        label_corner=label_corner,
        quality=quality,
        strength=strength,
    )
    if store is not None:
        store.put(m.record)
    try:
        atomic_write_bytes(out, m.data, replace=overwrite or overwrite_input)
    except BaseException:
        if store is not None:
            store.delete(m.content_id)
        raise
    return MarkResult(
        output=out,
        format=m.format,
        content_id=m.content_id,
        key_id=m.key_id,
        psnr_db=m.psnr_db,
        label=m.label,
        signed=m.signer is not None,
        frames=m.frames,
        signer=m.signer,
        sha256=m.sha256,
        width=m.width,
        height=m.height,
    )


def _record(
    data: bytes,
    cid: bytes,
    key: WatermarkKey,
    generation: Generation,
    title: str,
    fmt: str,
    digest: str,
) -> StoredManifest:
    # Store what a verifier reads back from the signed file, so a recovered manifest is exactly
    # the one that was embedded (unsigned files still get a record of the generation facts).
    # Validation results are left out: they describe one reading, and every reader re-validates.
    creds = read_credentials(data, anchors="")
    if creds is not None:
        manifest: dict[str, Any] = {
            k: creds.store[k] for k in ("active_manifest", "manifests") if k in creds.store
        }
    else:
        manifest = {"unsigned": True, "generation": generation.assertion()}
    return StoredManifest(
        content_id=cid,
        key_id=key.id,
        created_at=generation.created,
        title=title,
        mime=_MIME.get(fmt),
        sha256=digest,
        signer=creds.signer if creds is not None else None,
        digital_source_type=generation.digital_source_type,
        manifest=manifest,
    )
