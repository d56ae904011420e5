"""Append-only, hash-chained audit log: every decision, policy change, key change and login.

Each entry's hash is SHA-256 over the previous entry's hash and the entry's own canonical JSON
(time, actor, action, subject, details), so changing, removing or reordering any row breaks every
hash after it. :func:`verify` walks the chain and names the first broken link.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, Engine, insert, select

from pyosi.storage import reading, utc
from pyosi.storage.schema import audit_log

GENESIS = "0" * 64


@dataclass(frozen=True)
class AuditEntry:
    id: int
    at: dt.datetime
    actor: str
    action: str
    subject: str | None
    details: Mapping[str, Any]
    prev_hash: str
    hash: str

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "at": utc(self.at).isoformat(),
            "actor": self.actor,
            "action": self.action,
            "subject": self.subject,
            "details": dict(self.details),
            "prev_hash": self.prev_hash,
            "hash": self.hash,
        }


@dataclass(frozen=True)
class ChainReport:
    entries: int
    ok: bool
    #: The first entry whose hash or link does not hold, and why.
    broken_at: int | None = None
    reason: str | None = None


def entry_hash(
    prev_hash: str,
    at: dt.datetime,
    actor: str,
    action: str,
    subject: str | None,
    details: Mapping[str, Any],
) -> str:
    body = json.dumps(
        {
            "at": utc(at).isoformat(timespec="microseconds"),
            "actor": actor,
            "action": action,
            "subject": subject,
            "details": details,
        },
        sort_keys=True,
        ensure_ascii=False,
        separators=(",", ":"),
    )
    return hashlib.sha256((prev_hash + body).encode("utf-8")).hexdigest()


def append(
    conn: Connection,
    *,
    actor: str,
    action: str,
    subject: str | None = None,
    details: Mapping[str, Any] | None = None,
) -> str:
    """Add an entry inside the caller's transaction (so it commits or rolls back with the change).

    The last hash is read in the same transaction; on SQLite the write lock serialises appends,
    on PostgreSQL the unique constraint on ``hash`` plus a row lock on the tail does.
    """
    tail = select(audit_log.c.hash).order_by(audit_log.c.id.desc()).limit(1)
    if conn.dialect.name == "postgresql":
        tail = tail.with_for_update()
    prev = conn.execute(tail).scalar_one_or_none() or GENESIS
    at = dt.datetime.now(dt.UTC)
    clean = json.loads(json.dumps(dict(details or {}), default=str))  # what the JSON column keeps
    digest = entry_hash(prev, at, actor, action, subject, clean)
    conn.execute(
        insert(audit_log).values(
            at=at,
            actor=actor,
            action=action,
            subject=subject,
            details=clean,
            prev_hash=prev,
            hash=digest,
        )
    )
    return digest


def verify(engine: Engine) -> ChainReport:
    """Walk the chain in order; report the first entry that does not hold."""
    prev = GENESIS
    n = 0
    with reading(engine) as conn:
        rows = conn.execute(select(audit_log).order_by(audit_log.c.id)).mappings()
        for row in rows:
            n += 1
            if row["prev_hash"] != prev:
                return ChainReport(n, False, row["id"], "its link does not match the entry before")
            expected = entry_hash(
                prev, row["at"], row["actor"], row["action"], row["subject"], row["details"]
            )
            if row["hash"] != expected:
                return ChainReport(n, False, row["id"], "its content does not match its hash")
            prev = row["hash"]
    return ChainReport(n, True)


def entries(engine: Engine, *, limit: int = 100, before_id: int | None = None) -> list[AuditEntry]:
    """Newest first, for the UI and reports."""
    q = select(audit_log).order_by(audit_log.c.id.desc()).limit(limit)
    if before_id is not None:
        q = q.where(audit_log.c.id < before_id)
    with reading(engine) as conn:
        return [AuditEntry(**dict(r)) for r in conn.execute(q).mappings()]
