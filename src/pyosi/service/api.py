"""``/v1`` routes: parse the request, check the role, call the library, shape the response."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

from fastapi import APIRouter, File, Form, Query, Request, UploadFile
from fastapi.responses import JSONResponse, PlainTextResponse
from pydantic import BaseModel, Field

from pyosi.keyring import registered_keys
from pyosi.provenance.credentials import trust_anchors
from pyosi.service.auth import Permission
from pyosi.service.items import (
    DecisionAction,
    InvalidRequestError,
    NotFoundError,
    UploadContext,
    add_decision,
    create_item,
    get_item,
    list_items,
)
from pyosi.signals.base import ScanContext

router = APIRouter()


def _service(request: Request) -> Any:
    return request.app.state.service


@router.get("/healthz", tags=["operations"])
def healthz(request: Request) -> dict[str, str]:
    """Liveness and database reachability."""
    service = _service(request)
    service.db.check_current()
    return {"status": "ok"}


@router.get("/metrics", tags=["operations"], response_class=PlainTextResponse)
def metrics(request: Request) -> PlainTextResponse:
    """Prometheus metrics: items by verdict and status."""
    from sqlalchemy import func, select

    from pyosi.storage.schema import items

    service = _service(request)
    lines = [
        "# HELP pyosi_items Items stored, by verdict and status.",
        "# TYPE pyosi_items gauge",
    ]
    with service.db.engine.connect() as conn:
        rows = conn.execute(
            select(items.c.verdict, items.c.status, func.count()).group_by(
                items.c.verdict, items.c.status
            )
        )
        for verdict, status, n in rows:
            lines.append(f'pyosi_items{{verdict="{verdict}",status="{status}"}} {n}')
    return PlainTextResponse("\n".join(lines) + "\n", media_type="text/plain; version=0.0.4")


@router.post("/v1/scans", status_code=201, tags=["items"])
async def create_scan(
    request: Request,
    file: Annotated[UploadFile, File(description="The uploaded media file.")],
    post_text: Annotated[str | None, Form(max_length=20000)] = None,
    uploader_id: Annotated[str | None, Form(max_length=128)] = None,
    declared_ai: Annotated[bool | None, Form()] = None,
    election_related: Annotated[bool | None, Form()] = None,
    language: Annotated[str, Form(pattern="^(ko|en)$")] = "ko",
) -> JSONResponse:
    """Scan an upload with every detector, apply the policy, store it as an item."""
    from starlette.concurrency import run_in_threadpool

    service = _service(request)
    service.require(request, Permission.SCAN)
    limit = service.settings.max_upload_bytes
    data = await file.read(limit + 1)
    if len(data) > limit:
        raise InvalidRequestError(f"uploads are limited to {limit} bytes")
    if not data:
        raise InvalidRequestError("the uploaded file is empty")
    context = UploadContext(
        post_text=post_text,
        uploader_id=uploader_id,
        declared_ai=declared_ai,
        election_related=election_related,
        language=language,
        filename=(file.filename or "upload")[:255],
    )
    item = await run_in_threadpool(
        create_item, service.db.engine, service.blobs, data, context, _scan_context(service)
    )
    return JSONResponse(
        item.to_json(), status_code=201, headers={"Location": f"/v1/items/{item.id}"}
    )


@router.get("/v1/items", tags=["items"])
def items_index(
    request: Request,
    status: str | None = None,
    label: str | None = None,
    since: dt.datetime | None = None,
    q: Annotated[str | None, Query(max_length=200)] = None,
    cursor: str | None = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> dict[str, Any]:
    """Items, newest first, filtered; follow ``next_cursor`` for the next page."""
    service = _service(request)
    service.require(request, Permission.READ_ITEMS)
    page = list_items(
        service.db.engine, status=status, label=label, since=since, q=q, cursor=cursor, limit=limit
    )
    return {"items": [i.to_json() for i in page.items], "next_cursor": page.next_cursor}


@router.get("/v1/items/{item_id}", tags=["items"])
def item_show(request: Request, item_id: str) -> dict[str, Any]:
    service = _service(request)
    service.require(request, Permission.READ_ITEMS)
    return get_item(service.db.engine, item_id).to_json()


class LabelIn(BaseModel):
    ko: str = Field(min_length=1, max_length=200)
    en: str = Field(min_length=1, max_length=200)


class DecisionIn(BaseModel):
    action: DecisionAction
    reason: str = Field(min_length=1, max_length=5000)
    label: LabelIn | None = None


@router.post("/v1/items/{item_id}/decisions", status_code=201, tags=["items"])
def decide(request: Request, item_id: str, body: DecisionIn) -> dict[str, Any]:
    """A reviewer's decision: confirm, relabel, escalate, request-takedown or dismiss."""
    service = _service(request)
    principal = service.require(request, Permission.DECIDE)
    item = add_decision(
        service.db.engine,
        item_id,
        body.action,
        body.reason,
        actor=principal.name,
        label=body.label.model_dump() if body.label else None,
    )
    return item.to_json()


@router.get("/v1/credentials/{content_id}", tags=["credentials"])
def credentials(request: Request, content_id: str) -> dict[str, Any]:
    """Public lookup of durable credentials by content id (rate-limited per address)."""
    service = _service(request)
    client = request.client.host if request.client else "unknown"
    service.limiter.check(f"ip:{client}", service.settings.public_rate_per_minute)
    try:
        cid = bytes.fromhex(content_id)
    except ValueError:
        cid = b""
    if len(cid) != 8:
        raise InvalidRequestError("a content id is 16 hex digits")
    stored = service.store.get(cid)
    if stored is None:
        raise NotFoundError(f"no credentials for content id {content_id}")
    return {
        "content_id": content_id,
        "title": stored.title,
        "signer": stored.signer,
        "created_at": stored.created_at.isoformat(),
        "digital_source_type": stored.digital_source_type,
        "sha256": stored.sha256,
        "manifest": stored.manifest,
    }


def _scan_context(service: Any) -> ScanContext:
    # Keys and anchors are read per request so a key registered with the CLI applies at once.
    return ScanContext(
        keys=registered_keys(),
        anchors=trust_anchors(service.settings.trust),
        store=service.store,
    )
