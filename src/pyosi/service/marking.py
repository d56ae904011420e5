"""Marking through the service: the library's pipeline, the service's identity and key.

The service signs with the data directory's signing identity (``pyosi identity init`` or
``identity import``) and watermarks with its default key; the marked file goes to the blob store
and its manifest to the manifest store, so ``/v1/credentials`` and every scan can find it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from pyosi.errors import IdentityError
from pyosi.keyring import default_key
from pyosi.mark import mark_image
from pyosi.provenance.credentials import Generation
from pyosi.provenance.identity import Identity
from pyosi.service import audit
from pyosi.service.errors import NotFoundError

if TYPE_CHECKING:
    from pyosi.service.app import Service

_FORMATS = {"jpeg": "JPEG", "png": "PNG", "webp": "WEBP"}


@dataclass(frozen=True)
class MarkOptions:
    model: str
    model_version: str | None = None
    kind: Literal["generated", "edited"] = "generated"
    label: Literal["ko", "en", "both"] | None = None
    prompt: str | None = None
    include_prompt: bool = False
    format: Literal["jpeg", "png", "webp"] | None = None
    quality: int = 95
    title: str = "image"


def _identity() -> Identity:
    try:
        return Identity.load()
    except IdentityError as e:
        raise IdentityError(
            f"the service has no signing identity ({e}); run `pyosi identity init` or "
            "`pyosi identity import` on the server"
        ) from None


def mark_upload(
    service: Service, data: bytes, options: MarkOptions, *, actor: str
) -> dict[str, Any]:
    """Mark ``data``; store the file and its manifest; returns what the API answers."""
    key, _ = default_key()
    generation = Generation(
        model=options.model,
        model_version=options.model_version,
        kind=options.kind,
        prompt=options.prompt,
        include_prompt=options.include_prompt,
    )
    fmt = _FORMATS[options.format] if options.format else None
    marked = mark_image(
        data,
        title=_title(options.title, fmt),
        format=fmt,
        key=key,
        generation=generation,
        identity=_identity(),
        store=service.store,
        label=options.label,
        quality=options.quality,
    )
    engine = service.db.engine
    with engine.begin() as conn:
        service.blobs.put(conn, marked.data, marked.mime)
        audit.append(
            conn,
            actor=actor,
            action="mark.create",
            subject=marked.content_id.hex(),
            details={"model": options.model, "kind": options.kind, "sha256": marked.sha256},
        )
    service.store.put(marked.record)
    cid = marked.content_id.hex()
    return {
        **marked.to_json(),
        "file_url": f"/v1/marks/{cid}/file",
        "credentials_url": f"/v1/credentials/{cid}",
        "manifest": marked.record.manifest,
    }


def marked_file(service: Service, content_id: bytes) -> tuple[bytes, str]:
    stored = service.store.get(content_id)
    if stored is None:
        raise NotFoundError(f"no marked file with content id {content_id.hex()}")
    try:
        return service.blobs.get(stored.sha256), stored.mime or "application/octet-stream"
    except FileNotFoundError:
        raise NotFoundError(
            f"content id {content_id.hex()} was marked elsewhere (e.g. with the CLI); "
            "only its credentials are here"
        ) from None


def _title(name: str, fmt: str | None) -> str:
    name = name.replace("\\", "/").rsplit("/", 1)[-1][:200] or "image"
    if fmt is None:
        return name
    stem = name.rsplit(".", 1)[0] if "." in name else name
    return f"{stem}.{'jpg' if fmt == 'JPEG' else fmt.lower()}"
