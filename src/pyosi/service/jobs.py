"""Background jobs: work too long for a request (large uploads) runs in the worker.

The API stores the upload (atomically, by hash), queues a job in the same transaction and answers
202 with the job's URL. A worker leases a job for ``LEASE_SECONDS``; the job's item is written in
the same transaction that marks the job done, so a worker that dies mid-job loses nothing: its
lease runs out and another worker runs the job again (the item id is fixed by the job, so a
second run can never make a second item). A job that fails ``MAX_ATTEMPTS`` times is marked
failed with its error.
"""

from __future__ import annotations

import datetime as dt
import secrets
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, Engine, RowMapping, insert, or_, select, update

from pyosi.service.errors import NotFoundError
from pyosi.storage import reading, utc
from pyosi.storage.schema import jobs

LEASE_SECONDS = 300
MAX_ATTEMPTS = 3


@dataclass(frozen=True)
class Job:
    id: str
    kind: str
    status: str  # queued, running, done, failed
    payload: Mapping[str, Any]
    result: Mapping[str, Any] | None
    error: str | None
    attempts: int
    created_by: str
    created_at: dt.datetime
    updated_at: dt.datetime

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "id": self.id,
            "url": f"/v1/jobs/{self.id}",
            "kind": self.kind,
            "status": self.status,
            "attempts": self.attempts,
            "created_at": utc(self.created_at).isoformat(),
            "updated_at": utc(self.updated_at).isoformat(),
            "result": dict(self.result) if self.result else None,
            "error": self.error,
        }
        if self.result and "item_id" in self.result:
            out["item_url"] = f"/v1/items/{self.result['item_id']}"
        return out


def enqueue(conn: Connection, kind: str, payload: Mapping[str, Any], *, created_by: str) -> str:
    """Queue a job inside the caller's transaction; returns its id."""
    job_id = secrets.token_hex(8)
    now = dt.datetime.now(dt.UTC)
    conn.execute(
        insert(jobs).values(
            id=job_id,
            kind=kind,
            status="queued",
            payload=dict(payload),
            attempts=0,
            created_by=created_by,
            created_at=now,
            updated_at=now,
        )
    )
    return job_id


def get_job(engine: Engine, job_id: str) -> Job:
    with reading(engine) as conn:
        row = conn.execute(select(jobs).where(jobs.c.id == job_id)).mappings().first()
    if row is None:
        raise NotFoundError(f"no job {job_id!r}")
    return _job(row)


def claim(engine: Engine, *, now: dt.datetime | None = None) -> Job | None:
    """Lease the oldest runnable job (queued, or running with a lapsed lease), or None."""
    now = now or dt.datetime.now(dt.UTC)
    runnable = or_(
        jobs.c.status == "queued",
        (jobs.c.status == "running") & (jobs.c.lease_until < now),
    )
    with reading(engine) as conn:
        candidates = conn.execute(
            select(jobs.c.id).where(runnable).order_by(jobs.c.created_at).limit(5)
        ).all()
    for (job_id,) in candidates:
        with engine.begin() as conn:
            done = conn.execute(
                update(jobs)
                .where(jobs.c.id == job_id, runnable)
                .values(
                    status="running",
                    attempts=jobs.c.attempts + 1,
                    lease_until=now + dt.timedelta(seconds=LEASE_SECONDS),
                    updated_at=now,
                )
            )
            if done.rowcount == 1:
                row = conn.execute(select(jobs).where(jobs.c.id == job_id)).mappings().one()
                return _job(row)
    return None


def renew(engine: Engine, job: Job, *, now: dt.datetime | None = None) -> bool:
    """Extend a long job's lease by ``LEASE_SECONDS`` from now; False if it is no longer this
    run's (the lease lapsed and another worker claimed it: ``attempts`` moved on)."""
    now = now or dt.datetime.now(dt.UTC)
    with engine.begin() as conn:
        done = conn.execute(
            update(jobs)
            .where(jobs.c.id == job.id, jobs.c.status == "running")
            .where(jobs.c.attempts == job.attempts)
            .values(lease_until=now + dt.timedelta(seconds=LEASE_SECONDS), updated_at=now)
        )
    return done.rowcount == 1


class LeaseKeeper:
    """For a job that may outlast its lease: :meth:`tick` as it makes progress renews the lease
    at most every ``every`` seconds (on SQLite each renewal is a write), from any thread."""

    def __init__(self, engine: Engine, job: Job, every: float) -> None:
        self._engine, self._job, self._every = engine, job, every
        self._last = time.monotonic()
        self._lock = threading.Lock()

    def tick(self) -> None:
        with self._lock:
            if time.monotonic() - self._last < self._every:
                return
            self._last = time.monotonic()
        renew(self._engine, self._job)


def finish(conn: Connection, job_id: str, result: Mapping[str, Any]) -> None:
    """Mark a job done inside the transaction that wrote its result."""
    conn.execute(
        update(jobs)
        .where(jobs.c.id == job_id)
        .values(
            status="done",
            result=dict(result),
            error=None,
            lease_until=None,
            updated_at=dt.datetime.now(dt.UTC),
        )
    )


def fail(engine: Engine, job: Job, error: str, *, retry: bool) -> None:
    """Record a failure: queue the job again while it has attempts left, else mark it failed."""
    final = not retry or job.attempts >= MAX_ATTEMPTS
    with engine.begin() as conn:
        conn.execute(
            update(jobs)
            .where(jobs.c.id == job.id)
            .values(
                status="failed" if final else "queued",
                error=error[:2000],
                lease_until=None,
                updated_at=dt.datetime.now(dt.UTC),
            )
        )


def queue_depth(engine: Engine) -> dict[str, int]:
    from sqlalchemy import func

    with reading(engine) as conn:
        rows = conn.execute(select(jobs.c.status, func.count()).group_by(jobs.c.status))
        return {status: n for status, n in rows}


def _job(row: RowMapping) -> Job:
    return Job(
        id=row["id"],
        kind=row["kind"],
        status=row["status"],
        payload=row["payload"],
        result=row["result"],
        error=row["error"],
        attempts=row["attempts"],
        created_by=row["created_by"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
    )
