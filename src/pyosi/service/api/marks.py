"""Generator side: ``/v1/marks`` and the public ``/v1/credentials/{content_id}`` lookup."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, File, Form, Request, UploadFile
from fastapi.responses import JSONResponse, Response
from starlette.concurrency import run_in_threadpool

from pyosi.service.api._deps import service
from pyosi.service.api.items import read_upload, upload_filename
from pyosi.service.auth import Permission
from pyosi.service.errors import InvalidRequestError, NotFoundError
from pyosi.service.marking import MarkOptions, mark_upload, marked_file

router = APIRouter(tags=["credentials"])


@router.post("/v1/marks", status_code=201)
async def create_mark(
    request: Request,
    file: Annotated[UploadFile, File(description="The generated image.")],
    model: Annotated[str, Form(min_length=1, max_length=200)],
    model_version: Annotated[str | None, Form(max_length=100)] = None,
    kind: Annotated[Literal["generated", "edited"], Form()] = "generated",
    label: Annotated[
        Literal["none", "ko", "en", "both"], Form(description="A visible label in a corner.")
    ] = "none",
    prompt: Annotated[str | None, Form(max_length=20000)] = None,
    include_prompt: Annotated[bool, Form()] = False,
    format: Annotated[Literal["jpeg", "png", "webp"] | None, Form()] = None,
    quality: Annotated[int, Form(ge=50, le=100)] = 95,
) -> JSONResponse:
    """Mark a generated image on every layer: visible label (optional), watermark carrying a new
    content id, XMP digital source type and a signed C2PA manifest; the manifest is stored for
    durable credentials. The answer names the marked file's URL."""
    svc = service(request)
    principal = svc.require(request, Permission.MARK)
    data = await read_upload(svc, file)
    options = MarkOptions(
        model=model,
        model_version=model_version,
        kind=kind,
        label=None if label == "none" else label,
        prompt=prompt,
        include_prompt=include_prompt,
        format=format,
        quality=quality,
        title=upload_filename(file, default="image"),
    )
    result = await run_in_threadpool(mark_upload, svc, data, options, actor=principal.name)
    return JSONResponse(result, status_code=201, headers={"Location": result["file_url"]})


@router.get("/v1/marks/{content_id}/file")
def mark_file(request: Request, content_id: str) -> Response:
    """The marked file a generator made (generator and admin roles)."""
    svc = service(request)
    svc.require(request, Permission.MARK)
    data, mime = marked_file(svc, _content_id(content_id))
    return Response(
        data,
        media_type=mime,
        headers={"Content-Disposition": f'attachment; filename="{content_id}"'},
    )


@router.get("/v1/credentials/{content_id}")
def credentials(request: Request, content_id: str) -> dict[str, Any]:
    """Public lookup of durable credentials by content id (rate-limited per address)."""
    svc = service(request)
    svc.limit_public(request)
    stored = svc.store.get(_content_id(content_id))
    if stored is None:
        raise NotFoundError(f"no credentials for content id {content_id}")
    return {
        "content_id": content_id.lower(),
        "title": stored.title,
        "signer": stored.signer,
        "created_at": stored.created_at.isoformat(),
        "digital_source_type": stored.digital_source_type,
        "sha256": stored.sha256,
        "manifest": stored.manifest,
    }


def _content_id(text: str) -> bytes:
    try:
        cid = bytes.fromhex(text)
    except ValueError:
        cid = b""
    if len(cid) != 8:
        raise InvalidRequestError("a content id is 16 hex digits")
    return cid
