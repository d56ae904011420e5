"""Administration: partners' watermark keys, webhooks and their deliveries, the audit log."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from pydantic import BaseModel, Field

from pyosi.service import audit, webhooks
from pyosi.service.api._deps import service
from pyosi.service.auth import Permission
from pyosi.service.partners import (
    add_partner_key,
    list_partner_keys,
    parse_key,
    revoke_partner_key,
)

router = APIRouter()


class PartnerKeyIn(BaseModel):
    name: str = Field(min_length=1, max_length=128, examples=["Example AI"])
    key: str = Field(
        min_length=1,
        max_length=4000,
        description="The key file `pyosi key new` writes (JSON), or the 32-byte secret in hex.",
    )


@router.get("/v1/partners/keys", tags=["partners"])
def partner_keys_index(request: Request) -> dict[str, Any]:
    """Registered partner keys: public ids and names only; secrets never leave the service."""
    svc = service(request)
    svc.require(request, Permission.MANAGE_PARTNERS)
    return {"keys": [k.to_json() for k in list_partner_keys(svc.db.engine)]}


@router.post("/v1/partners/keys", tags=["partners"], status_code=201)
def partner_keys_add(request: Request, body: PartnerKeyIn) -> dict[str, Any]:
    """Register a partner's watermark key: every scan tries it from now on."""
    svc = service(request)
    principal = svc.require(request, Permission.MANAGE_PARTNERS)
    key = parse_key(body.key)
    return add_partner_key(svc.db.engine, body.name, key, actor=principal.name).to_json()


@router.delete("/v1/partners/keys/{key_id}", tags=["partners"])
def partner_keys_revoke(request: Request, key_id: str) -> dict[str, Any]:
    svc = service(request)
    principal = svc.require(request, Permission.MANAGE_PARTNERS)
    return revoke_partner_key(svc.db.engine, key_id, actor=principal.name).to_json()


class WebhookIn(BaseModel):
    url: str = Field(min_length=1, max_length=2000, examples=["https://example.org/pyosi"])
    events: list[str] = Field(min_length=1, examples=[list(webhooks.EVENTS)])
    description: str = Field(default="", max_length=500)


@router.get("/v1/webhooks", tags=["webhooks"])
def webhooks_index(request: Request) -> dict[str, Any]:
    svc = service(request)
    svc.require(request, Permission.MANAGE_WEBHOOKS)
    return {
        "events": list(webhooks.EVENTS),
        "webhooks": [w.to_json() for w in webhooks.list_webhooks(svc.db.engine)],
    }


@router.post("/v1/webhooks", tags=["webhooks"], status_code=201)
def webhooks_add(request: Request, body: WebhookIn) -> dict[str, Any]:
    """Subscribe a URL; the signing secret is in this answer only."""
    svc = service(request)
    principal = svc.require(request, Permission.MANAGE_WEBHOOKS)
    hook, secret = webhooks.add_webhook(
        svc.db.engine, body.url, body.events, actor=principal.name, description=body.description
    )
    return {**hook.to_json(), "secret": secret}


class WebhookPatch(BaseModel):
    active: bool


@router.patch("/v1/webhooks/{webhook_id}", tags=["webhooks"])
def webhooks_patch(request: Request, webhook_id: int, body: WebhookPatch) -> dict[str, Any]:
    svc = service(request)
    principal = svc.require(request, Permission.MANAGE_WEBHOOKS)
    return webhooks.set_active(
        svc.db.engine, webhook_id, body.active, actor=principal.name
    ).to_json()


@router.get("/v1/webhooks/deliveries", tags=["webhooks"])
def webhooks_deliveries(
    request: Request,
    webhook_id: int | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> dict[str, Any]:
    """The delivery log, newest first."""
    svc = service(request)
    svc.require(request, Permission.MANAGE_WEBHOOKS)
    rows = webhooks.list_deliveries(svc.db.engine, webhook_id=webhook_id, limit=limit)
    return {"deliveries": [d.to_json() for d in rows]}


@router.post("/v1/webhooks/deliveries/{delivery_id}/retry", tags=["webhooks"], status_code=202)
def webhooks_retry(request: Request, delivery_id: int) -> dict[str, str]:
    svc = service(request)
    principal = svc.require(request, Permission.MANAGE_WEBHOOKS)
    webhooks.retry_delivery(svc.db.engine, delivery_id, actor=principal.name)
    return {"status": "queued"}


@router.get("/v1/audit", tags=["audit"])
def audit_index(
    request: Request,
    before: int | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> dict[str, Any]:
    """Audit entries, newest first; ``before`` pages back."""
    svc = service(request)
    svc.require(request, Permission.READ_AUDIT)
    rows = audit.entries(svc.db.engine, limit=limit, before_id=before)
    return {
        "entries": [e.to_json() for e in rows],
        "next_before": rows[-1].id if len(rows) == limit else None,
    }


@router.get("/v1/audit/verify", tags=["audit"])
def audit_verify(request: Request) -> dict[str, Any]:
    """Walk the hash chain; name the first broken entry if it does not hold."""
    svc = service(request)
    svc.require(request, Permission.READ_AUDIT)
    report = audit.verify(svc.db.engine)
    return {
        "entries": report.entries,
        "ok": report.ok,
        "broken_at": report.broken_at,
        "reason": report.reason,
    }
