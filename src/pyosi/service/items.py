"""Items: an upload, what the detectors found, what the policy decided, and people's decisions.

The API, the UI and the background worker are thin shells over these functions. Each write is one
transaction that also queues its webhook events and, for decisions, appends to the audit log, so a
crash leaves either all of it or none.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from sqlalchemy import Connection, Engine, and_, func, or_, select, update

from pyosi.errors import MediaError, UnsupportedMediaError
from pyosi.policy.engine import Action, PolicyContext, PolicyOutcome
from pyosi.policy.rules import KST, kst_day_start, kst_today
from pyosi.scan import ScanResult
from pyosi.service import audit, webhooks
from pyosi.service.blobs import BlobStore
from pyosi.service.errors import InvalidRequestError, NotFoundError
from pyosi.service.policies import current_policy, current_version
from pyosi.storage import read_only, reading, utc
from pyosi.storage.schema import decisions, items


class ItemStatus(StrEnum):
    LABELED = "labeled"  # labelled by policy, nothing more to do
    NO_SIGNAL = "no-signal"
    NEEDS_REVIEW = "needs-review"
    ESCALATED = "escalated"  # a takedown candidate (e.g. inside an election ban)
    TAKEDOWN_REQUESTED = "takedown-requested"
    CONFIRMED = "confirmed"
    DISMISSED = "dismissed"


#: Statuses a reviewer still has to look at, most urgent first.
OPEN_STATUSES = (ItemStatus.ESCALATED, ItemStatus.NEEDS_REVIEW)


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
_EVENT_AFTER = {
    DecisionAction.CONFIRM: "item.labeled",
    DecisionAction.RELABEL: "item.labeled",
    DecisionAction.ESCALATE: "item.escalated",
    DecisionAction.REQUEST_TAKEDOWN: "takedown.requested",
}


@dataclass(frozen=True)
class UploadContext:
    """What the platform knows about an upload besides its bytes."""

    post_text: str | None = None
    uploader_id: str | None = None
    declared_ai: bool | None = None
    election_related: bool | None = None
    realistic: bool | None = None  # a photorealistic person or scene (deepfake rules)
    language: str = "ko"
    filename: str | None = None

    def __post_init__(self) -> None:
        if self.language not in ("ko", "en"):
            raise InvalidRequestError(f"language must be 'ko' or 'en', not {self.language!r}")

    def to_json(self) -> dict[str, Any]:
        return {
            "post_text": self.post_text,
            "uploader_id": self.uploader_id,
            "declared_ai": self.declared_ai,
            "election_related": self.election_related,
            "realistic": self.realistic,
            "language": self.language,
            "filename": self.filename,
        }

    @classmethod
    def from_json(cls, doc: Mapping[str, Any]) -> UploadContext:
        fields: dict[str, Any] = {k: doc[k] for k in cls.__dataclass_fields__ if k in doc}
        return cls(**fields)


@dataclass(frozen=True)
class Item:
    id: str
    created_at: dt.datetime
    updated_at: dt.datetime
    blob_sha256: str
    filename: str | None
    media_type: str | None
    verdict: str
    status: str
    label: str | None
    election_related: bool
    in_election_window: bool
    needs_review: bool
    policy_version: int | None
    context: Mapping[str, Any]
    outcome: Mapping[str, Any]
    scan: Mapping[str, Any]
    decisions: list[dict[str, Any]] = field(default_factory=list)

    @property
    def labels(self) -> list[dict[str, Any]]:
        """The labels in force: a reviewer's relabel replaces the policy's."""
        return list(self.outcome.get("labels", []))

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "url": f"/v1/items/{self.id}",
            "created_at": utc(self.created_at).isoformat(),
            "updated_at": utc(self.updated_at).isoformat(),
            "sha256": self.blob_sha256,
            "filename": self.filename,
            "media_type": self.media_type,
            "mime": self.scan.get("mime"),
            "size": self.scan.get("size"),
            "verdict": self.verdict,
            "status": self.status,
            "labels": self.labels,
            "actions": self.outcome.get("actions", []),
            "reasons": self.outcome.get("reasons", []),
            "rules": self.outcome.get("rules", []),
            "election": self.outcome.get("election"),
            "election_related": self.election_related,
            "in_election_window": self.in_election_window,
            "election_evidence": self.outcome.get("election_evidence"),
            "topics": self.outcome.get("topics", []),
            "needs_review": self.needs_review,
            "policy_version": self.policy_version,
            "context": dict(self.context),
            "signals": self.scan.get("signals", []),
            "credentials": self.scan.get("credentials"),
            "credentials_recovered": self.scan.get("credentials_recovered"),
            "errors": self.scan.get("errors", []),
            "decisions": self.decisions,
        }

    def summary(self) -> dict[str, Any]:
        """What an event or a report row carries: no signals, no post text."""
        return {
            "id": self.id,
            "created_at": utc(self.created_at).isoformat(),
            "sha256": self.blob_sha256,
            "verdict": self.verdict,
            "status": self.status,
            "labels": [{"id": lab["id"], "ko": lab["ko"], "en": lab["en"]} for lab in self.labels],
            "actions": self.outcome.get("actions", []),
            "election_related": self.election_related,
            "in_election_window": self.in_election_window,
            "policy_version": self.policy_version,
        }


def initial_status(outcome: PolicyOutcome) -> ItemStatus:
    """Where the policy's actions put a new item in the review flow."""
    if Action.ESCALATE in outcome.actions or Action.TAKEDOWN_CANDIDATE in outcome.actions:
        return ItemStatus.ESCALATED
    if Action.REVIEW in outcome.actions:
        return ItemStatus.NEEDS_REVIEW
    return ItemStatus.LABELED if outcome.labels else ItemStatus.NO_SIGNAL


def evaluate(
    engine: Engine, result: ScanResult, context: UploadContext, *, now: dt.datetime | None = None
) -> PolicyOutcome:
    """The policy in force applied to a scan and its upload context."""
    policy = current_policy(engine)
    pc = PolicyContext(
        post_text=context.post_text,
        uploader_id=context.uploader_id,
        declared_ai=context.declared_ai,
        election_related=context.election_related,
        realistic=context.realistic,
        language="en" if context.language == "en" else "ko",
        now=now or dt.datetime.now(dt.UTC),
    )
    return policy.evaluate(result.decision, pc)


def create_item(
    engine: Engine,
    blobs: BlobStore,
    data: bytes,
    context: UploadContext,
    scan: ScanResult | Callable[[bytes, str], ScanResult],
    *,
    item_id: str | None = None,
    stored_sha256: str | None = None,
    now: dt.datetime | None = None,
    in_transaction: Any = None,
) -> Item:
    """Scan an upload, apply the policy and store it all as a new item.

    ``scan``: the upload's scan result, or how to scan it (``Service.scan``; not called when the
    item already exists).
    ``stored_sha256``: the bytes are already in the blob store (a background job). ``item_id``
    makes the call idempotent: a job that is run again after its worker died finds its item.
    ``in_transaction(conn, item_id)`` runs inside the item's transaction (a job marks itself done).
    """
    if item_id is not None:
        try:
            return get_item(engine, item_id)
        except NotFoundError:
            pass
    result = scan if isinstance(scan, ScanResult) else scan(data, context.filename or "upload")
    if result.skipped:
        raise UnsupportedMediaError("not a media file pyosi reads (checked from its content)")
    if result.error is not None:
        raise MediaError(result.error)
    # The policy is only read: on SQLite that need not wait for another process's write.
    outcome = evaluate(read_only(engine), result, context, now=now)
    status = initial_status(outcome)
    labels = [lab.to_json() for lab in outcome.labels]
    doc = outcome.to_json()
    stored_outcome = {
        "labels": labels,
        "actions": doc["actions"],
        "reasons": doc["reasons"],
        "rules": doc["rules"],
        "election": doc["election"],
        "election_evidence": doc["election_evidence"],
        "topics": doc["topics"],
        "verdict": doc["verdict"],
    }
    item_id = item_id or secrets.token_hex(8)
    at = now or dt.datetime.now(dt.UTC)
    in_window = outcome.election is not None and outcome.election.in_window
    # The file is written (and fsynced) before the transaction, which on SQLite holds the one
    # write lock that every other upload and read in every process would otherwise wait for.
    # A crash in between leaves an orphan file, never a row without its file (blobs.py).
    sha = stored_sha256 or blobs.write(data)
    with engine.begin() as conn:
        if stored_sha256 is None:
            blobs.record(conn, sha, len(data), result.mime)
        conn.execute(
            items.insert().values(
                id=item_id,
                created_at=at,
                updated_at=at,
                blob_sha256=sha,
                filename=context.filename,
                media_type=result.media_type,
                verdict=outcome.verdict.value,
                status=status.value,
                label=labels[0]["id"] if labels else None,
                election_related=outcome.election_related,
                in_election_window=bool(in_window and outcome.election_related),
                needs_review=status in OPEN_STATUSES,
                policy_version=outcome.policy_version,
                uploader_id=context.uploader_id,
                post_text=context.post_text,
                context=context.to_json(),
                outcome=_jsonable(stored_outcome),
                scan=_jsonable(result.to_json()),
            )
        )
        item = _load(conn, item_id)
        if labels:
            webhooks.emit(conn, "item.labeled", item.summary())
        if status is ItemStatus.ESCALATED:
            webhooks.emit(conn, "item.escalated", item.summary())
        if in_transaction is not None:
            in_transaction(conn, item_id)
    return item


def get_item(engine: Engine, item_id: str) -> Item:
    with reading(engine) as conn:
        return _load(conn, item_id)


def _load(conn: Connection, item_id: str) -> Item:
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
            "at": utc(d["created_at"]).isoformat(),
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
    verdict: str | None = None,
    since: dt.datetime | None = None,
    until: dt.datetime | None = None,
    q: str | None = None,
    election: bool | None = None,
    cursor: str | None = None,
    limit: int = 50,
) -> Page:
    """Newest first; ``cursor`` continues where the previous page ended (stable under inserts).

    ``status`` may be ``open`` for everything a reviewer still has to look at; ``q`` matches the
    post text, file name, uploader, item id or file hash.
    """
    limit = max(1, min(limit, 200))
    query = select(items).order_by(items.c.created_at.desc(), items.c.id.desc()).limit(limit + 1)
    if status == "open":
        query = query.where(items.c.status.in_([s.value for s in OPEN_STATUSES]))
    elif status:
        query = query.where(items.c.status == status)
    if label:
        query = query.where(items.c.label == label)
    if verdict:
        query = query.where(items.c.verdict == verdict)
    if since is not None:
        query = query.where(items.c.created_at >= utc(since))
    if until is not None:
        query = query.where(items.c.created_at < utc(until))
    if election is not None:
        query = query.where(items.c.election_related.is_(election))
    if q:
        like = f"%{_escape_like(q)}%"
        query = query.where(
            or_(
                items.c.post_text.like(like, escape="\\"),
                items.c.filename.like(like, escape="\\"),
                items.c.uploader_id == q,
                items.c.id == q,
                items.c.blob_sha256 == q.lower(),
            )
        )
    if cursor:
        at, last_id = _decode_cursor(cursor)
        query = query.where(
            or_(items.c.created_at < at, and_(items.c.created_at == at, items.c.id < last_id))
        )
    with reading(engine) as conn:
        rows = list(conn.execute(query).mappings())
    page = [_item(r, []) for r in rows[:limit]]
    more = len(rows) > limit
    return Page(page, _encode_cursor(page[-1]) if more and page else None)


def count_by_status(engine: Engine) -> dict[str, int]:
    with reading(engine) as conn:
        rows = conn.execute(select(items.c.status, func.count()).group_by(items.c.status))
        return {status: n for status, n in rows}


def counts_by_day(
    engine: Engine, *, days: int = 30, now: dt.datetime | None = None
) -> list[dict[str, Any]]:
    """Items per Korean calendar day and verdict over the last ``days`` days (dashboard chart).

    Days are KST, like every time the UI shows and the election windows.
    """
    end = kst_today(now)
    start = end - dt.timedelta(days=days - 1)
    since = kst_day_start(start)
    buckets: dict[dt.date, dict[str, int]] = {start + dt.timedelta(days=i): {} for i in range(days)}
    with reading(engine) as conn:
        rows = conn.execute(
            select(items.c.created_at, items.c.verdict).where(items.c.created_at >= since)
        )
        for at, verdict in rows:
            day = utc(at).astimezone(KST).date()
            if day in buckets:
                buckets[day][verdict] = buckets[day].get(verdict, 0) + 1
    return [{"date": d.isoformat(), "counts": c} for d, c in buckets.items()]


def add_decision(
    engine: Engine,
    item_id: str,
    action: DecisionAction,
    reason: str,
    *,
    actor: str,
    label: Mapping[str, Any] | None = None,
) -> Item:
    """Record a reviewer's decision under the policy in force, move the item's status, queue its
    event and audit it — one transaction."""
    if not reason.strip():
        raise InvalidRequestError("a decision needs a reason")
    if action is DecisionAction.RELABEL:
        if (
            not label
            or not str(label.get("ko", "")).strip()
            or not str(label.get("en", "")).strip()
        ):
            raise InvalidRequestError("relabel needs the new label in Korean and English (ko, en)")
    elif label:
        raise InvalidRequestError("only relabel takes a label")
    now = dt.datetime.now(dt.UTC)
    with engine.begin() as conn:
        row = conn.execute(select(items).where(items.c.id == item_id)).mappings().first()
        if row is None:
            raise NotFoundError(f"no item {item_id!r}")
        version = current_version(conn).version
        conn.execute(
            decisions.insert().values(
                item_id=item_id,
                actor=actor,
                action=action.value,
                reason=reason,
                label=dict(label) if label else None,
                policy_version=version,
                created_at=now,
            )
        )
        changes: dict[str, Any] = {
            "status": _STATUS_AFTER[action].value,
            "needs_review": False,
            "updated_at": now,
        }
        if label:
            outcome = dict(row["outcome"])
            relabel = {
                "id": "reviewer",
                "kind": "reviewer",
                "ko": str(label["ko"]).strip(),
                "en": str(label["en"]).strip(),
                "visible_required": bool(label.get("visible_required", False)),
                "prominent": bool(label.get("prominent", False)),
                "rests_on": ["reviewer"],
            }
            outcome["policy_labels"] = outcome.get("labels", [])
            outcome["labels"] = [relabel]
            changes["outcome"] = outcome
            changes["label"] = "reviewer"
        conn.execute(update(items).where(items.c.id == item_id).values(**changes))
        audit.append(
            conn,
            actor=actor,
            action=f"decision.{action.value}",
            subject=item_id,
            details={"reason": reason, "label": label, "policy_version": version},
        )
        item = _load(conn, item_id)
        event = _EVENT_AFTER.get(action)
        if event is not None:
            webhooks.emit(conn, event, {**item.summary(), "decision": item.decisions[-1]})
    return item


def _item(row: Any, history: list[dict[str, Any]]) -> Item:
    return Item(
        id=row["id"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
        blob_sha256=row["blob_sha256"],
        filename=row["filename"],
        media_type=row["media_type"],
        verdict=row["verdict"],
        status=row["status"],
        label=row["label"],
        election_related=row["election_related"],
        in_election_window=row["in_election_window"],
        needs_review=row["needs_review"],
        policy_version=row["policy_version"],
        context=row["context"],
        outcome=row["outcome"],
        scan=row["scan"],
        decisions=history,
    )


def _escape_like(q: str) -> str:
    return q.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _encode_cursor(item: Item) -> str:
    raw = json.dumps([utc(item.created_at).isoformat(), item.id]).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _decode_cursor(cursor: str) -> tuple[dt.datetime, str]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        at, item_id = json.loads(raw)
        return utc(dt.datetime.fromisoformat(at)), str(item_id)
    except (ValueError, TypeError) as e:
        raise InvalidRequestError(f"invalid cursor: {e}") from None


def _jsonable(doc: Mapping[str, Any]) -> dict[str, Any]:
    # Round-trip through JSON so the stored document is exactly what the API returns.
    return json.loads(json.dumps(doc, default=str))  # type: ignore[no-any-return]
