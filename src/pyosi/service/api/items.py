"""Uploads and the review flow: ``/v1/scans``, ``/v1/items``, decisions, and ``/v1/jobs``."""

from __future__ import annotations

import dataclasses
import datetime as dt
import secrets
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, File, Form, Query, Request, UploadFile
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from pyosi.media.sniff import HEAD_BYTES, sniff_mime
from pyosi.service import batches, jobs, metrics
from pyosi.service.api._deps import service
from pyosi.service.app import Service
from pyosi.service.auth import Permission, Principal
from pyosi.service.errors import InvalidRequestError
from pyosi.service.items import (
    DecisionAction,
    ItemStatus,
    UploadContext,
    add_decision,
    create_item,
    get_item,
    list_items,
)

router = APIRouter(tags=["items"])


async def _read_limited(svc: Service, file: UploadFile) -> bytes:
    limit = svc.settings.max_upload_bytes
    data = await file.read(limit + 1)
    if len(data) > limit:
        raise InvalidRequestError(f"uploads are limited to {limit} bytes")
    return data


def require_content(data: bytes) -> bytes:
    if not data:
        raise InvalidRequestError("the uploaded file is empty")
    return data


async def read_upload(svc: Service, file: UploadFile) -> bytes:
    """The upload's bytes, within the size limit and not empty (what it is, the scan tells
    from its content: names and MIME types lie)."""
    return require_content(await _read_limited(svc, file))


async def read_uploads(svc: Service, files: list[UploadFile]) -> list[tuple[str, bytes]]:
    """Each file's name and bytes, each within the size limit (a batch reports empty ones)."""
    return [(upload_filename(f), await _read_limited(svc, f)) for f in files]


def upload_filename(file: UploadFile, default: str = "upload") -> str:
    """The file's own name, without any folder and unprintable characters, at most 255."""
    name = (file.filename or default).replace("\\", "/").rsplit("/", 1)[-1]
    return "".join(ch for ch in name if ch.isprintable())[:255] or default


def queue_upload(svc: Service, principal: Principal, data: bytes, context: UploadContext) -> str:
    """Store the upload and queue its scan for the background worker; the job's id."""
    mime = sniff_mime(data[:HEAD_BYTES])
    if mime is None:
        from pyosi.errors import UnsupportedMediaError

        raise UnsupportedMediaError("not a media file pyosi reads (checked from its content)")
    with svc.db.engine.begin() as conn:
        sha = svc.blobs.put(conn, data, mime)
        return jobs.enqueue(
            conn,
            "scan",
            {"sha256": sha, "context": context.to_json(), "item_id": secrets.token_hex(8)},
            created_by=principal.name,
        )


async def submit_upload(
    svc: Service, principal: Principal, data: bytes, context: UploadContext, *, background: bool
) -> tuple[str, Any]:
    """Scan now (``("item", Item)``) or store and queue (``("job", job id)``); shared by the UI.

    The scan waits for a free scan process (:meth:`Service.scan_async`); storing the item is a
    short database transaction in a thread.
    """
    if background:
        return "job", await run_in_threadpool(queue_upload, svc, principal, data, context)
    result = await svc.scan_async(data, context.filename or "upload")
    item = await run_in_threadpool(create_item, svc.db.engine, svc.blobs, data, context, result)
    metrics.SCANS.labels(item.verdict).inc()
    return "item", item


def upload_context(
    post_text: Annotated[str | None, Form(max_length=20000)] = None,
    uploader_id: Annotated[str | None, Form(max_length=128)] = None,
    declared_ai: Annotated[bool | None, Form()] = None,
    election_related: Annotated[bool | None, Form()] = None,
    realistic: Annotated[
        bool | None, Form(description="A photorealistic person or scene (deepfake rules).")
    ] = None,
    language: Annotated[Literal["ko", "en"], Form()] = "ko",
) -> UploadContext:
    """The context fields an upload form may carry (the file name comes from each file)."""
    return UploadContext(
        post_text=post_text,
        uploader_id=uploader_id,
        declared_ai=declared_ai,
        election_related=election_related,
        realistic=realistic,
        language=language,
    )


@router.post(
    "/v1/scans",
    status_code=201,
    responses={202: {"description": "Queued: follow the Location header to the job."}},
)
async def create_scan(
    request: Request,
    file: Annotated[UploadFile, File(description="The uploaded media file.")],
    form: Annotated[UploadContext, Depends(upload_context)],
) -> Response:
    """Scan an upload with every detector, apply the policy in force, store it as an item.

    Large uploads (over ``PYOSI_ASYNC_BYTES``) and requests with ``Prefer: respond-async`` are
    scanned in the background: the answer is 202 with the job's URL.
    """
    svc = service(request)
    principal = svc.require(request, Permission.SCAN)
    data = await read_upload(svc, file)
    context = dataclasses.replace(form, filename=upload_filename(file))
    background = len(data) > svc.settings.async_bytes or "respond-async" in request.headers.get(
        "prefer", ""
    )
    kind, value = await submit_upload(svc, principal, data, context, background=background)
    if kind == "job":
        job = jobs.get_job(svc.db.engine, value)
        return JSONResponse(
            job.to_json(), status_code=202, headers={"Location": job.to_json()["url"]}
        )
    return JSONResponse(
        value.to_json(), status_code=201, headers={"Location": f"/v1/items/{value.id}"}
    )


@router.post("/v1/batches", status_code=202, tags=["jobs"])
async def create_batch(
    request: Request,
    files: Annotated[
        list[UploadFile],
        File(description="Media files and ZIP archives of them; each file becomes an item."),
    ],
    form: Annotated[UploadContext, Depends(upload_context)],
) -> Response:
    """Scan many files in the background, with one context for all: the answer is 202 with the
    job's URL; when done, the job's result lists each file's item (or why it has none).

    Archives are unpacked with a budget (``PYOSI_BATCH_FILES`` files, each under
    ``PYOSI_MAX_UPLOAD_BYTES``, four times that in all); a file that is not media, too large or
    unreadable is reported in the result and the rest go on.
    """
    svc = service(request)
    principal = svc.require(request, Permission.SCAN)
    job_id = await submit_batch(svc, principal, await read_uploads(svc, files), form)
    doc = jobs.get_job(svc.db.engine, job_id).to_json()
    return JSONResponse(doc, status_code=202, headers={"Location": doc["url"]})


async def submit_batch(
    svc: Service, principal: Principal, uploads: list[tuple[str, bytes]], context: UploadContext
) -> str:
    """Unpack, store and queue a batch (:mod:`pyosi.service.batches`) of ``(name, bytes)``
    uploads (:func:`read_uploads`); its job id. Shared by the UI."""
    limit = svc.settings.max_upload_bytes
    limits = batches.Limits(
        max_files=svc.settings.batch_files, max_file_bytes=limit, max_total_bytes=4 * limit
    )
    members = await run_in_threadpool(batches.expand, uploads, limits)
    return await run_in_threadpool(
        batches.queue_batch, svc, members, context, created_by=principal.name
    )


@router.get("/v1/jobs/{job_id}", tags=["jobs"])
def job_show(request: Request, job_id: str) -> dict[str, Any]:
    """A background job: queued, running, done (with its item's URL) or failed (with why)."""
    svc = service(request)
    svc.require(request, Permission.READ_JOBS)
    return jobs.get_job(svc.db.engine, job_id).to_json()


@router.get("/v1/items")
def items_index(
    request: Request,
    status: Annotated[
        str | None,
        Query(description="An item status, or 'open' for everything still to review."),
    ] = None,
    label: Annotated[str | None, Query(description="A label id, e.g. kr-ai-generated.")] = None,
    verdict: str | None = None,
    election: bool | None = None,
    since: dt.datetime | None = None,
    until: dt.datetime | None = None,
    q: Annotated[str | None, Query(max_length=200)] = None,
    cursor: Annotated[str | None, Query(max_length=500)] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> dict[str, Any]:
    """Items, newest first, filtered; follow ``next_cursor`` for the next page."""
    svc = service(request)
    svc.require(request, Permission.READ_ITEMS)
    if status and status != "open" and status not in {s.value for s in ItemStatus}:
        raise InvalidRequestError(
            f"status must be 'open' or one of {', '.join(s.value for s in ItemStatus)}"
        )
    page = list_items(
        svc.db.engine,
        status=status,
        label=label,
        verdict=verdict,
        election=election,
        since=since,
        until=until,
        q=q,
        cursor=cursor,
        limit=limit,
    )
    return {"items": [i.to_json() for i in page.items], "next_cursor": page.next_cursor}


@router.get("/v1/items/{item_id}")
def item_show(request: Request, item_id: str) -> dict[str, Any]:
    svc = service(request)
    svc.require(request, Permission.READ_ITEMS)
    return get_item(svc.db.engine, item_id).to_json()


#: Types served inline for previews; anything else downloads as an attachment.
_PREVIEWABLE = {"image/jpeg", "image/png", "image/gif", "image/webp"}


@router.get("/v1/items/{item_id}/file")
def item_file(request: Request, item_id: str) -> Response:
    """The uploaded bytes (previews show images inline; nothing else is ever rendered)."""
    svc = service(request)
    svc.require(request, Permission.READ_ITEMS)
    item = get_item(svc.db.engine, item_id)
    mime = item.scan.get("mime") or "application/octet-stream"
    inline = mime in _PREVIEWABLE
    return Response(
        svc.blobs.get(item.blob_sha256),
        media_type=mime if inline else "application/octet-stream",
        headers={
            "Content-Disposition": f'{"inline" if inline else "attachment"}; filename="{item.id}"',
            "Content-Security-Policy": "default-src 'none'; sandbox",
        },
    )


class LabelIn(BaseModel):
    ko: str = Field(min_length=1, max_length=200)
    en: str = Field(min_length=1, max_length=200)
    visible_required: bool = False
    prominent: bool = False


class DecisionIn(BaseModel):
    action: DecisionAction
    reason: str = Field(min_length=1, max_length=5000)
    label: LabelIn | None = None


@router.post("/v1/items/{item_id}/decisions", status_code=201)
def decide(request: Request, item_id: str, body: DecisionIn) -> dict[str, Any]:
    """A reviewer's decision: confirm, relabel, escalate, request-takedown or dismiss.

    Each records the policy version in force, moves the item's status, is audited and sends its
    webhook event (``item.labeled``, ``item.escalated`` or ``takedown.requested``).
    """
    svc = service(request)
    principal = svc.require(request, Permission.DECIDE)
    item = add_decision(
        svc.db.engine,
        item_id,
        body.action,
        body.reason,
        actor=principal.name,
        label=body.label.model_dump() if body.label else None,
    )
    return item.to_json()
