"""The audit chain and authentication, on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import update

from pyosi.service import audit
from pyosi.service.auth import (
    PERMISSIONS,
    AuthError,
    Permission,
    Role,
    add_user,
    check_password,
    create_api_key,
    hash_password,
    login,
    resolve_api_key,
    revoke_api_key,
)
from pyosi.storage import Database, open_database
from pyosi.storage.schema import audit_log


@pytest.fixture
def db(db_url: str) -> Iterator[Database]:
    database = open_database(db_url)
    database.upgrade()
    yield database
    database.dispose()


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


def test_passwords() -> None:
    stored = hash_password("correct horse battery")
    assert stored.startswith("scrypt$") and "correct" not in stored
    assert check_password("correct horse battery", stored)
    assert not check_password("wrong", stored) and not check_password("x", "garbage")


def test_users_and_logins_are_audited(db: Database) -> None:
    add_user(db.engine, "alice", "a long password", Role.REVIEWER, actor="cli")
    with pytest.raises(AuthError, match="already exists"):
        add_user(db.engine, "alice", "a long password", Role.ADMIN, actor="cli")
    with pytest.raises(AuthError, match="at least"):
        add_user(db.engine, "bob", "short", Role.ADMIN, actor="cli")
    assert login(db.engine, "alice", "a long password").role is Role.REVIEWER
    with pytest.raises(AuthError):
        login(db.engine, "alice", "nope")
    with pytest.raises(AuthError):
        login(db.engine, "nobody", "a long password")
    actions = [e.action for e in reversed(audit.entries(db.engine))]
    assert actions == ["user.add", "login", "login.failed", "login.failed"]


def test_api_keys(db: Database) -> None:
    key_id, token = create_api_key(db.engine, "ingest bot", Role.INGEST, actor="cli")
    p = resolve_api_key(db.engine, token)
    assert p is not None and p.role is Role.INGEST and p.name == f"key:{key_id}"
    assert resolve_api_key(db.engine, token[:-1] + ("A" if token[-1] != "A" else "B")) is None
    assert resolve_api_key(db.engine, "not a key") is None
    revoke_api_key(db.engine, key_id, actor="cli")
    assert resolve_api_key(db.engine, token) is None
    with pytest.raises(AuthError):
        revoke_api_key(db.engine, key_id, actor="cli")


def test_every_permission_has_roles_and_auditors_only_read() -> None:
    assert set(PERMISSIONS) == set(Permission)
    writes = {Permission.DECIDE, Permission.WRITE_POLICY, Permission.MARK, Permission.SCAN}
    assert all(Role.AUDITOR not in PERMISSIONS[p] for p in writes)
    assert Role.AUDITOR in PERMISSIONS[Permission.REPORTS]
