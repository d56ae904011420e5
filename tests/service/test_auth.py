"""Users, passwords, API keys, sessions and CSRF, on SQLite and PostgreSQL."""

from __future__ import annotations

import pytest

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
    list_api_keys,
    login,
    resolve_api_key,
    resolve_session,
    revoke_api_key,
    set_user_disabled,
    start_session,
)
from pyosi.storage import Database
from tests.service.conftest import PASSWORD, Env, jpeg


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
    with pytest.raises(AuthError, match="user names"):
        add_user(db.engine, "bad name!", "a long password", Role.ADMIN, actor="cli")
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
    assert [k.id for k in list_api_keys(db.engine)] == [key_id]
    revoke_api_key(db.engine, key_id, actor="cli")
    assert resolve_api_key(db.engine, token) is None
    with pytest.raises(AuthError):
        revoke_api_key(db.engine, key_id, actor="cli")


def test_sessions_end_when_the_user_is_disabled(db: Database) -> None:
    add_user(db.engine, "carol", PASSWORD, Role.REVIEWER, actor="cli")
    session = start_session(db.engine, "carol", PASSWORD)
    p = resolve_session(db.engine, session.token)
    assert p is not None and p.role is Role.REVIEWER and p.csrf_token
    set_user_disabled(db.engine, "carol", True, actor="cli")
    assert resolve_session(db.engine, session.token) is None
    with pytest.raises(AuthError):
        start_session(db.engine, "carol", PASSWORD)
    assert resolve_session(db.engine, "x" * 500) is None


def test_every_permission_has_roles_and_auditors_only_read() -> None:
    assert set(PERMISSIONS) == set(Permission)
    writes = {
        Permission.DECIDE, Permission.WRITE_POLICY, Permission.MARK, Permission.SCAN,
        Permission.WRITE_ELECTIONS, Permission.MANAGE_PARTNERS, Permission.MANAGE_WEBHOOKS,
        Permission.MANAGE_USERS,
    }  # fmt: skip
    assert all(Role.AUDITOR not in PERMISSIONS[p] for p in writes)
    assert Role.AUDITOR in PERMISSIONS[Permission.REPORTS]
    assert PERMISSIONS[Permission.MARK] == {Role.ADMIN, Role.GENERATOR}


def test_browser_sessions_need_the_csrf_token_on_writes(env: Env, users: dict[Role, str]) -> None:
    c = env.client
    bad = c.post("/v1/session", json={"username": "reviewer", "password": "wrong password"})
    assert bad.status_code == 401
    r = c.post("/v1/session", json={"username": "reviewer", "password": PASSWORD})
    assert r.status_code == 200 and r.json()["role"] == "reviewer"
    cookie = r.headers["set-cookie"].lower()
    assert "httponly" in cookie and "samesite=strict" in cookie
    csrf = r.json()["csrf_token"]
    assert c.get("/v1/me").json() == {"name": "user:reviewer", "role": "reviewer"}
    item = env.scan(jpeg(), declared_ai=True)
    url = f"/v1/items/{item['id']}/decisions"
    body = {"action": "confirm", "reason": "ok"}
    assert c.post(url, json=body).status_code == 403  # no token: a cross-site form could do this
    assert c.post(url, json=body, headers={"X-CSRF-Token": "wrong"}).status_code == 403
    ok = c.post(url, json=body, headers={"X-CSRF-Token": csrf})
    assert ok.status_code == 201 and ok.json()["decisions"][0]["actor"] == "user:reviewer"
    assert c.get("/v1/items").status_code == 200  # reads need no token
    assert c.delete("/v1/session").status_code == 204
    assert c.get("/v1/items").status_code == 401
