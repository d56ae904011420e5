"""Items: an upload, what the detectors found, what the policy decided, and people's decisions.

The API and the UI are thin shells over these functions; each write is one transaction that also
appends to the audit log where the issue asks for it (decisions).
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from sqlalchemy import Engine, and_, or_, select, update

from pyosi.errors import PyosiError
from pyosi.policy.labels import decide
from pyosi.scan import scan_bytes
from pyosi.service import audit
from pyosi.service.blobs import BlobStore
from pyosi.signals.base import ScanContext
from pyosi.storage.schema import decisions, items


class ItemStatus(StrEnum):
    LABELED = "labeled"  # labelled by policy, nothing more to do
    NO_SIGNAL = "no-signal"
    NEEDS_REVIEW = "needs-review"
    ESCALATED = "escalated"
    TAKEDOWN_REQUESTED = "takedown-requested"
    CONFIRMED = "confirmed"
    DISMISSED = "dismissed"


class DecisionAction(StrEnum):
    CONFIRM = "confirm"
    RELABEL = "relabel"
    ESCALATE = "escalate"
    REQUEST_TAKEDOWN = "request-takedown"
    DISMISS = "dismiss"


_STATUS_AFTER = {
    DecisionAction.CONFIRM: ItemStatus.CONFIRMED,
    DecisionAction.RELABEL: ItemStatus.CONFIRMED,
    DecisionAction.ESCALATE: ItemStatus.ESCALATED,
    DecisionAction.REQUEST_TAKEDOWN: ItemStatus.TAKEDOWN_REQUESTED,
    DecisionAction.DISMISS: ItemStatus.DISMISSED,
}


class NotFoundError(PyosiError):
    """No such item (or other resource)."""


class InvalidRequestError(PyosiError):
    """A request that cannot be carried out as given (the message says why)."""

    exit_code = 2


@dataclass(frozen=True)
class UploadContext:
    """What the platform knows about an upload besides its bytes."""

    post_text: str | None = None
    uploader_id: str | None = None
    declared_ai: bool | None = None
    election_related: bool | None = None
    language: str = "ko"
    filename: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "post_text": self.post_text,
            "uploader_id": self.uploader_id,
            "declared_ai": self.declared_ai,
            "election_related": self.election_related,
            "language": self.language,
        }


@dataclass(frozen=True)
class Item:
    id: str
    created_at: dt.datetime
    blob_sha256: str
    filename: str | None
    media_type: str | None
    verdict: str
    status: str
    label: str | None
    election_related: bool
    needs_review: bool
    policy_version: int | None
    context: Mapping[str, Any]
    outcome: Mapping[str, Any]
    scan: Mapping[str, Any]
    decisions: list[dict[str, Any]] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "created_at": _utc(self.created_at).isoformat(),
            "sha256": self.blob_sha256,
            "filename": self.filename,
            "media_type": self.media_type,
            "verdict": self.verdict,
            "status": self.status,
            "label": self.outcome.get("label"),
            "election_related": self.election_related,
            "needs_review": self.needs_review,
            "policy_version": self.policy_version,
            "actions": self.outcome.get("actions", []),
            "context": dict(self.context),
            "signals": self.scan.get("signals", []),
            "credentials": self.scan.get("credentials"),
            "credentials_recovered": self.scan.get("credentials_recovered"),
            "errors": self.scan.get("errors", []),
            "decisions": self.decisions,
        }


def create_item(
    engine: Engine,
    blobs: BlobStore,
    data: bytes,
    context: UploadContext,
    scan_context: ScanContext,
) -> Item:
    """Scan an upload, apply the policy and store it all as a new item."""
    result = scan_bytes(data, scan_context, path=context.filename or "upload")
    decision = decide(result.signals)
    declared = bool(context.declared_ai) and decision.label is None
    label = decision.label.to_json() if decision.label is not None else None
    if declared:  # self-declared AI use still gets the label, saying what it rests on
        from pyosi.policy.labels import FileVerdict, label_for

        declared_label = label_for(FileVerdict.AI_GENERATED, ["self-declared"])
        label = declared_label.to_json() if declared_label else None
    election = bool(context.election_related)
    actions = ["label"] if label else []
    status = ItemStatus.LABELED if label else ItemStatus.NO_SIGNAL
    if decision.needs_review or (election and label):
        status = ItemStatus.NEEDS_REVIEW
        actions.append("review")
    outcome = {"label": label, "actions": actions, "verdict": result.verdict.value}
    item_id = secrets.token_hex(8)
    now = dt.datetime.now(dt.UTC)
    with engine.begin() as conn:
        sha = blobs.put(conn, data, result.mime)
        conn.execute(
            items.insert().values(
                id=item_id,
                created_at=now,
                blob_sha256=sha,
                filename=context.filename,
                media_type=result.media_type,
                verdict=result.verdict.value if not declared else "ai-generated",
                status=status.value,
                label=(label or {}).get("en"),
                election_related=election,
                needs_review=status is ItemStatus.NEEDS_REVIEW,
                policy_version=None,
                uploader_id=context.uploader_id,
                post_text=context.post_text,
                context=context.to_json(),
                outcome=outcome,
                scan=_jsonable(result.to_json()),
            )
        )
    return get_item(engine, item_id)


def get_item(engine: Engine, item_id: str) -> Item:
    with engine.connect() as conn:
        row = conn.execute(select(items).where(items.c.id == item_id)).mappings().first()
        if row is None:
            raise NotFoundError(f"no item {item_id!r}")
        ds = conn.execute(
            select(decisions).where(decisions.c.item_id == item_id).order_by(decisions.c.id)
        ).mappings()
        history = [
            {
                "action": d["action"],
                "reason": d["reason"],
                "actor": d["actor"],
                "label": d["label"],
                "policy_version": d["policy_version"],
                "at": _utc(d["created_at"]).isoformat(),
            }
            for d in ds
        ]
    return _item(row, history)


@dataclass(frozen=True)
class Page:
    items: list[Item]
    next_cursor: str | None


def list_items(
    engine: Engine,
    *,
    status: str | None = None,
    label: str | None = None,
    since: dt.datetime | None = None,
    q: str | None = None,
    cursor: str | None = None,
    limit: int = 50,
) -> Page:
    """Newest first; ``cursor`` continues where the previous page ended (stable under inserts)."""
    limit = max(1, min(limit, 200))
    query = select(items).order_by(items.c.created_at.desc(), items.c.id.desc()).limit(limit + 1)
    if status:
        query = query.where(items.c.status == status)
    if label:
        query = query.where(items.c.label == label)
    if since is not None:
        query = query.where(items.c.created_at >= since)
    if q:
        like = f"%{q}%"
        query = query.where(
            or_(items.c.post_text.like(like), items.c.filename.like(like), items.c.id == q)
        )
    if cursor:
        at, last_id = _decode_cursor(cursor)
        query = query.where(
            or_(items.c.created_at < at, and_(items.c.created_at == at, items.c.id < last_id))
        )
    with engine.connect() as conn:
        rows = list(conn.execute(query).mappings())
    page = [_item(r, []) for r in rows[:limit]]
    more = len(rows) > limit
    return Page(page, _encode_cursor(page[-1]) if more and page else None)


def add_decision(
    engine: Engine,
    item_id: str,
    action: DecisionAction,
    reason: str,
    *,
    actor: str,
    label: Mapping[str, Any] | None = None,
    policy_version: int | None = None,
) -> Item:
    """Record a reviewer's decision, move the item's status, and audit it — one transaction."""
    if not reason.strip():
        raise InvalidRequestError("a decision needs a reason")
    if action is DecisionAction.RELABEL and not label:
        raise InvalidRequestError("relabel needs the new label (ko and en)")
    with engine.begin() as conn:
        found = conn.execute(select(items.c.id).where(items.c.id == item_id)).first()
        if found is None:
            raise NotFoundError(f"no item {item_id!r}")
        conn.execute(
            decisions.insert().values(
                item_id=item_id,
                actor=actor,
                action=action.value,
                reason=reason,
                label=dict(label) if label else None,
                policy_version=policy_version,
                created_at=dt.datetime.now(dt.UTC),
            )
        )
        changes: dict[str, Any] = {"status": _STATUS_AFTER[action].value, "needs_review": False}
        if label:
            changes["label"] = label.get("en")
        conn.execute(update(items).where(items.c.id == item_id).values(**changes))
        audit.append(
            conn,
            actor=actor,
            action=f"decision.{action.value}",
            subject=item_id,
            details={"reason": reason, "label": label, "policy_version": policy_version},
        )
    return get_item(engine, item_id)


def _item(row: Any, history: list[dict[str, Any]]) -> Item:
    return Item(
        id=row["id"],
        created_at=row["created_at"],
        blob_sha256=row["blob_sha256"],
        filename=row["filename"],
        media_type=row["media_type"],
        verdict=row["verdict"],
        status=row["status"],
        label=row["label"],
        election_related=row["election_related"],
        needs_review=row["needs_review"],
        policy_version=row["policy_version"],
        context=row["context"],
        outcome=row["outcome"],
        scan=row["scan"],
        decisions=history,
    )


def _encode_cursor(item: Item) -> str:
    raw = json.dumps([_utc(item.created_at).isoformat(), item.id]).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _decode_cursor(cursor: str) -> tuple[dt.datetime, str]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        at, item_id = json.loads(raw)
        return dt.datetime.fromisoformat(at), str(item_id)
    except (ValueError, TypeError) as e:
        raise InvalidRequestError(f"invalid cursor: {e}") from None


def _jsonable(doc: Mapping[str, Any]) -> dict[str, Any]:
    # Round-trip through JSON so the stored document is exactly what the API returns.
    return json.loads(json.dumps(doc, default=str))  # type: ignore[no-any-return]


def _utc(at: dt.datetime) -> dt.datetime:
    return at.replace(tzinfo=dt.UTC) if at.tzinfo is None else at.astimezone(dt.UTC)
