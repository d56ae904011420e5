"""Webhooks: signed event deliveries with retries, back-off and a delivery log.

An event (``item.labeled``, ``item.escalated``, ``takedown.requested``) is queued as one
``deliveries`` row per subscriber *inside the transaction that caused it*, so an event is never
lost nor sent for a change that rolled back. The background worker (:mod:`pyosi.service.worker`)
leases due rows, POSTs them and records the outcome; a failure is retried with exponential
back-off (30 s, 1 min, 2 min … capped at 1 h) up to ``MAX_ATTEMPTS`` times, then marked failed.

Each request carries::

    X-Pyosi-Event: item.escalated
    X-Pyosi-Delivery: <event id, the same on every retry: deduplicate on it>
    X-Pyosi-Signature: t=<unix time>,v1=<hex HMAC-SHA256 of "<t>.<body>" under the secret>

:func:`verify_signature` is what a receiver runs (it rejects stale timestamps, against replays).
The subscriber's secret is shown once at creation and stored encrypted.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import ipaddress
import json
import secrets
import socket
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import Connection, Engine, RowMapping, insert, or_, select, update

from pyosi.service import audit
from pyosi.service.errors import InvalidRequestError, NotFoundError
from pyosi.service.secrets import decrypt, encrypt
from pyosi.storage import reading, utc
from pyosi.storage.schema import deliveries, webhooks

EVENTS = ("item.labeled", "item.escalated", "takedown.requested")
MAX_ATTEMPTS = 8
BASE_DELAY = 30.0
MAX_DELAY = 3600.0
LEASE_SECONDS = 60
TIMEOUT_SECONDS = 10.0
SIGNATURE_TOLERANCE = 300


@dataclass(frozen=True)
class Webhook:
    id: int
    url: str
    description: str
    events: tuple[str, ...]
    active: bool
    created_at: dt.datetime

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "url": self.url,
            "description": self.description,
            "events": list(self.events),
            "active": self.active,
            "created_at": utc(self.created_at).isoformat(),
        }


@dataclass(frozen=True)
class Delivery:
    id: int
    webhook_id: int
    event_id: str
    event: str
    status: str  # pending, delivered, failed
    attempts: int
    next_attempt_at: dt.datetime | None
    last_error: str | None
    last_status_code: int | None
    delivered_at: dt.datetime | None
    created_at: dt.datetime

    def to_json(self) -> dict[str, Any]:
        def iso(v: dt.datetime | None) -> str | None:
            return utc(v).isoformat() if v else None

        return {
            "id": self.id,
            "webhook_id": self.webhook_id,
            "event_id": self.event_id,
            "event": self.event,
            "status": self.status,
            "attempts": self.attempts,
            "next_attempt_at": iso(self.next_attempt_at),
            "last_error": self.last_error,
            "last_status_code": self.last_status_code,
            "delivered_at": iso(self.delivered_at),
            "created_at": iso(self.created_at),
        }


def sign(secret: str, timestamp: int, body: bytes) -> str:
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return f"t={timestamp},v1={mac.hexdigest()}"


def verify_signature(
    secret: str,
    header: str,
    body: bytes,
    *,
    now: float | None = None,
    tolerance: int = SIGNATURE_TOLERANCE,
) -> bool:
    """True when ``header`` (X-Pyosi-Signature) signs ``body`` under ``secret`` and is fresh."""
    try:
        fields = dict(part.split("=", 1) for part in header.split(","))
        timestamp = int(fields["t"])
        given = fields["v1"]
    except (KeyError, ValueError):
        return False
    if abs((now if now is not None else time.time()) - timestamp) > tolerance:
        return False
    expected = sign(secret, timestamp, body).split("v1=", 1)[1]
    return hmac.compare_digest(expected, given)


def _refused_address(address: str) -> bool:
    # Link-local covers cloud metadata services (169.254.169.254); receivers on loopback or a
    # private network are legitimate (an authority's internal system), so those are allowed.
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    return ip.is_link_local or ip.is_multicast or ip.is_unspecified or ip.is_reserved


def check_target(url: str) -> None:
    """Refuse a URL whose host is or resolves to a link-local, multicast or reserved address.

    Checked when a webhook is added and again before every delivery (DNS may change).
    """
    host = urlsplit(url).hostname or ""
    try:
        infos = socket.getaddrinfo(host, None, proto=socket.IPPROTO_TCP)
    except (OSError, UnicodeError) as e:
        raise InvalidRequestError(f"cannot resolve the webhook host {host!r}: {e}") from None
    for info in infos:
        if _refused_address(str(info[4][0])):
            raise InvalidRequestError(
                f"the webhook host {host!r} is a link-local, multicast or reserved address"
            )


def validate_url(url: str) -> str:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise InvalidRequestError("a webhook URL is an absolute http:// or https:// URL")
    if parts.username or parts.password:
        raise InvalidRequestError("put no credentials in a webhook URL; it is signed instead")
    if len(url) > 2000:
        raise InvalidRequestError("the webhook URL is too long")
    try:
        if _refused_address(parts.hostname):
            raise InvalidRequestError(
                "a webhook cannot point at a link-local, multicast or reserved address"
            )
    except ValueError:
        pass  # a name, not an address: resolved before each delivery
    return url


def add_webhook(
    engine: Engine, url: str, events: Iterable[str], *, actor: str, description: str = ""
) -> tuple[Webhook, str]:
    """Subscribe ``url`` to ``events``; returns the webhook and its signing secret (shown once)."""
    wanted = tuple(dict.fromkeys(events))
    unknown = [e for e in wanted if e not in EVENTS]
    if unknown or not wanted:
        raise InvalidRequestError(
            f"events must be some of {', '.join(EVENTS)}"
            + (f" (unknown: {', '.join(unknown)})" if unknown else "")
        )
    validate_url(url)
    secret = "whsec_" + secrets.token_urlsafe(32)
    with engine.begin() as conn:
        new_id = conn.execute(
            insert(webhooks).values(
                url=url,
                description=description[:500],
                secret_encrypted=encrypt(secret.encode()),
                events=list(wanted),
                active=True,
                created_at=dt.datetime.now(dt.UTC),
            )
        ).inserted_primary_key
        assert new_id is not None
        audit.append(
            conn,
            actor=actor,
            action="webhook.add",
            subject=str(new_id[0]),
            details={"url": url, "events": list(wanted)},
        )
    return get_webhook(engine, int(new_id[0])), secret


def set_active(engine: Engine, webhook_id: int, active: bool, *, actor: str) -> Webhook:
    with engine.begin() as conn:
        done = conn.execute(
            update(webhooks).where(webhooks.c.id == webhook_id).values(active=active)
        )
        if done.rowcount != 1:
            raise NotFoundError(f"no webhook {webhook_id}")
        audit.append(
            conn,
            actor=actor,
            action="webhook.enable" if active else "webhook.disable",
            subject=str(webhook_id),
        )
    return get_webhook(engine, webhook_id)


def get_webhook(engine: Engine, webhook_id: int) -> Webhook:
    with reading(engine) as conn:
        row = conn.execute(select(webhooks).where(webhooks.c.id == webhook_id)).mappings().first()
    if row is None:
        raise NotFoundError(f"no webhook {webhook_id}")
    return _webhook(row)


def list_webhooks(engine: Engine) -> list[Webhook]:
    with reading(engine) as conn:
        rows = conn.execute(select(webhooks).order_by(webhooks.c.id)).mappings()
        return [_webhook(r) for r in rows]


def list_deliveries(
    engine: Engine, *, webhook_id: int | None = None, limit: int = 100
) -> list[Delivery]:
    q = select(deliveries).order_by(deliveries.c.id.desc()).limit(max(1, min(limit, 500)))
    if webhook_id is not None:
        q = q.where(deliveries.c.webhook_id == webhook_id)
    with reading(engine) as conn:
        return [_delivery(r) for r in conn.execute(q).mappings()]


def emit(conn: Connection, event: str, data: Mapping[str, Any]) -> int:
    """Queue ``event`` for every active subscriber, inside the caller's transaction."""
    assert event in EVENTS, event
    subscribers = [
        r.id
        for r in conn.execute(select(webhooks.c.id, webhooks.c.events).where(webhooks.c.active))
        if event in (r.events or [])
    ]
    if not subscribers:
        return 0
    now = dt.datetime.now(dt.UTC)
    event_id = secrets.token_hex(12)
    body = {"id": event_id, "type": event, "created_at": now.isoformat(), "data": dict(data)}
    payload = json.loads(json.dumps(body, default=str))
    conn.execute(
        insert(deliveries),
        [
            {
                "webhook_id": wid,
                "event_id": event_id,
                "event": event,
                "payload": payload,
                "status": "pending",
                "attempts": 0,
                "next_attempt_at": now,
                "created_at": now,
            }
            for wid in subscribers
        ],
    )
    return len(subscribers)


#: Sends one request: (url, body, headers) -> HTTP status code; raises on a transport error.
Sender = Callable[[str, bytes, Mapping[str, str]], int]


class HttpSender:
    """POSTs with httpx: no redirects followed (a 3xx is a failure), short timeouts."""

    def __init__(self, timeout: float = TIMEOUT_SECONDS) -> None:
        import httpx2 as httpx

        self._client = httpx.Client(timeout=timeout, follow_redirects=False)

    def __call__(self, url: str, body: bytes, headers: Mapping[str, str]) -> int:
        return self._client.post(url, content=body, headers=dict(headers)).status_code

    def close(self) -> None:
        self._client.close()


def backoff(attempts: int) -> float:
    """Seconds to wait after the ``attempts``-th failure (with ±10% jitter against herds)."""
    delay: float = min(MAX_DELAY, BASE_DELAY * 2.0 ** max(0, attempts - 1))
    return delay * (0.9 + 0.2 * secrets.randbelow(1000) / 1000)


def deliver_due(
    engine: Engine, send: Sender, *, limit: int = 20, now: dt.datetime | None = None
) -> int:
    """Lease and send up to ``limit`` due deliveries; returns how many were attempted."""
    now = now or dt.datetime.now(dt.UTC)
    with reading(engine) as conn:
        due = conn.execute(
            select(deliveries.c.id)
            .where(
                deliveries.c.status == "pending",
                deliveries.c.next_attempt_at <= now,
                or_(deliveries.c.lease_until.is_(None), deliveries.c.lease_until < now),
            )
            .order_by(deliveries.c.next_attempt_at)
            .limit(limit)
        ).all()
    attempted = 0
    for (delivery_id,) in due:
        if _lease(engine, delivery_id, now):
            _attempt(engine, delivery_id, send)
            attempted += 1
    return attempted


def _lease(engine: Engine, delivery_id: int, now: dt.datetime) -> bool:
    # Several workers poll the same table: whoever moves the lease first owns the attempt.
    with engine.begin() as conn:
        done = conn.execute(
            update(deliveries)
            .where(
                deliveries.c.id == delivery_id,
                deliveries.c.status == "pending",
                or_(deliveries.c.lease_until.is_(None), deliveries.c.lease_until < now),
            )
            .values(lease_until=now + dt.timedelta(seconds=LEASE_SECONDS))
        )
        return done.rowcount == 1


def _attempt(engine: Engine, delivery_id: int, send: Sender) -> None:
    with reading(engine) as conn:
        row = (
            conn.execute(
                select(deliveries, webhooks.c.url, webhooks.c.secret_encrypted, webhooks.c.active)
                .join(webhooks, webhooks.c.id == deliveries.c.webhook_id)
                .where(deliveries.c.id == delivery_id)
            )
            .mappings()
            .one()
        )
    attempts = row["attempts"] + 1
    code: int | None = None
    error: str | None = None
    if not row["active"]:
        error = "webhook disabled"
    else:
        body = json.dumps(row["payload"], ensure_ascii=False, separators=(",", ":")).encode()
        headers = {
            "Content-Type": "application/json",
            "User-Agent": "pyosi-webhooks",
            "X-Pyosi-Event": row["event"],
            "X-Pyosi-Delivery": row["event_id"],
            "X-Pyosi-Signature": sign(
                decrypt(row["secret_encrypted"]).decode(), int(time.time()), body
            ),
        }
        try:
            check_target(row["url"])
            code = send(row["url"], body, headers)
            if not 200 <= code < 300:
                error = f"HTTP {code}"
        except Exception as e:  # any transport failure is retried, never fatal to the worker
            error = f"{type(e).__name__}: {e}"[:500]
    now = dt.datetime.now(dt.UTC)
    values: dict[str, Any] = {
        "attempts": attempts,
        "last_status_code": code,
        "last_error": error,
        "lease_until": None,
    }
    if error is None:
        values.update(status="delivered", delivered_at=now, next_attempt_at=None)
    elif attempts >= MAX_ATTEMPTS or not row["active"]:
        values.update(status="failed", next_attempt_at=None)
    else:
        values["next_attempt_at"] = now + dt.timedelta(seconds=backoff(attempts))
    with engine.begin() as conn:
        conn.execute(update(deliveries).where(deliveries.c.id == delivery_id).values(**values))


def retry_delivery(engine: Engine, delivery_id: int, *, actor: str) -> None:
    """Send a failed delivery again now (a person fixed the receiver)."""
    with engine.begin() as conn:
        done = conn.execute(
            update(deliveries)
            .where(deliveries.c.id == delivery_id, deliveries.c.status == "failed")
            .values(status="pending", attempts=0, next_attempt_at=dt.datetime.now(dt.UTC))
        )
        if done.rowcount != 1:
            raise NotFoundError(f"no failed delivery {delivery_id}")
        audit.append(conn, actor=actor, action="webhook.retry", subject=str(delivery_id))


def _webhook(row: RowMapping) -> Webhook:
    return Webhook(
        id=row["id"],
        url=row["url"],
        description=row["description"] or "",
        events=tuple(row["events"] or ()),
        active=row["active"],
        created_at=row["created_at"],
    )


def _delivery(row: RowMapping) -> Delivery:
    return Delivery(
        id=row["id"],
        webhook_id=row["webhook_id"],
        event_id=row["event_id"],
        event=row["event"],
        status=row["status"],
        attempts=row["attempts"],
        next_attempt_at=row["next_attempt_at"],
        last_error=row["last_error"],
        last_status_code=row["last_status_code"],
        delivered_at=row["delivered_at"],
        created_at=row["created_at"],
    )
