"""The append-only, hash-chained audit log, on SQLite and PostgreSQL."""

from __future__ import annotations

import pytest
from sqlalchemy import update

from pyosi.service import audit
from pyosi.service.auth import Role
from pyosi.storage import Database
from pyosi.storage.schema import audit_log
from tests.service.conftest import Env


def test_chain_verifies_and_points_at_the_first_broken_link(db: Database) -> None:
    for i in range(5):
        with db.engine.begin() as conn:
            audit.append(conn, actor="user:a", action="test", subject=str(i), details={"i": i})
    report = audit.verify(db.engine)
    assert report.ok and report.entries == 5
    ids = [e.id for e in reversed(audit.entries(db.engine))]
    with db.engine.begin() as conn:  # tamper with the third entry's content
        conn.execute(update(audit_log).where(audit_log.c.id == ids[2]).values(actor="user:b"))
    report = audit.verify(db.engine)
    assert not report.ok and report.broken_at == ids[2] and "content" in (report.reason or "")


def test_deleted_entry_breaks_the_link(db: Database) -> None:
    for i in range(3):
        with db.engine.begin() as conn:
            audit.append(conn, actor="x", action="test", details={"i": i})
    ids = [e.id for e in reversed(audit.entries(db.engine))]
    with db.engine.begin() as conn:
        conn.execute(audit_log.delete().where(audit_log.c.id == ids[1]))
    report = audit.verify(db.engine)
    assert not report.ok and report.broken_at == ids[2] and "link" in (report.reason or "")


def test_rolled_back_change_leaves_no_entry(db: Database) -> None:
    with pytest.raises(RuntimeError), db.engine.begin() as conn:
        audit.append(conn, actor="x", action="test")
        raise RuntimeError("the change failed")
    assert audit.verify(db.engine).entries == 0


def test_audit_api_pages_and_verifies(env: Env) -> None:
    with env.service.db.engine.begin() as conn:
        for i in range(5):
            audit.append(conn, actor="t", action="test", subject=str(i))
    h = env.tokens[Role.AUDITOR]
    first = env.client.get("/v1/audit", params={"limit": 3}, headers=h).json()
    assert [e["subject"] for e in first["entries"]][:3] == ["4", "3", "2"]
    rest = env.client.get(
        "/v1/audit", params={"limit": 3, "before": first["next_before"]}, headers=h
    ).json()
    assert "1" in [e["subject"] for e in rest["entries"]]
    check = env.client.get("/v1/audit/verify", headers=h).json()
    assert check["ok"] and check["entries"] >= 5  # API keys made by the fixture are audited too
