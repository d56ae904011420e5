"""Who may do what: users with passwords, API keys, roles and the permission table.

Passwords are hashed with scrypt (stdlib, memory-hard); API keys are 256-bit random secrets, so a
plain SHA-256 of the secret is enough to store and compare them. A key reads
``pyosi_<id>_<secret>``: the id is public (shown in lists and logs), the secret is shown once.
Every change to users and keys, and every login, goes into the audit log in the same transaction.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import secrets
from dataclasses import dataclass
from enum import StrEnum

from sqlalchemy import Engine, delete, insert, select, update
from sqlalchemy.exc import IntegrityError

from pyosi.errors import PyosiError
from pyosi.service import audit
from pyosi.storage import reading, utc
from pyosi.storage.schema import api_keys, sessions, users


class Role(StrEnum):
    ADMIN = "admin"
    REVIEWER = "reviewer"
    INGEST = "ingest"  # platform uploads
    GENERATOR = "generator"  # marking
    AUDITOR = "auditor"  # read-only plus reports (e.g. an election commission)


class Permission(StrEnum):
    SCAN = "scan"
    READ_ITEMS = "read-items"
    DECIDE = "decide"
    MARK = "mark"
    MANAGE_PARTNERS = "manage-partners"
    READ_POLICY = "read-policy"
    WRITE_POLICY = "write-policy"
    READ_ELECTIONS = "read-elections"
    WRITE_ELECTIONS = "write-elections"
    REPORTS = "reports"
    MANAGE_WEBHOOKS = "manage-webhooks"
    READ_AUDIT = "read-audit"
    MANAGE_USERS = "manage-users"
    READ_JOBS = "read-jobs"


_ALL = frozenset(Role)
PERMISSIONS: dict[Permission, frozenset[Role]] = {
    Permission.SCAN: frozenset({Role.ADMIN, Role.INGEST, Role.REVIEWER}),
    Permission.READ_ITEMS: frozenset({Role.ADMIN, Role.REVIEWER, Role.AUDITOR, Role.INGEST}),
    Permission.DECIDE: frozenset({Role.ADMIN, Role.REVIEWER}),
    Permission.MARK: frozenset({Role.ADMIN, Role.GENERATOR}),
    Permission.MANAGE_PARTNERS: frozenset({Role.ADMIN}),
    Permission.READ_POLICY: frozenset({Role.ADMIN, Role.REVIEWER, Role.AUDITOR}),
    Permission.WRITE_POLICY: frozenset({Role.ADMIN}),
    Permission.READ_ELECTIONS: _ALL,
    Permission.WRITE_ELECTIONS: frozenset({Role.ADMIN}),
    Permission.REPORTS: frozenset({Role.ADMIN, Role.AUDITOR}),
    Permission.MANAGE_WEBHOOKS: frozenset({Role.ADMIN}),
    Permission.READ_AUDIT: frozenset({Role.ADMIN, Role.AUDITOR}),
    Permission.MANAGE_USERS: frozenset({Role.ADMIN}),
    Permission.READ_JOBS: frozenset({Role.ADMIN, Role.INGEST, Role.REVIEWER, Role.GENERATOR}),
}

_SCRYPT = {"n": 2**14, "r": 8, "p": 1}
MIN_PASSWORD = 10
SESSION_HOURS = 12


class AuthError(PyosiError):
    """Bad credentials, or a user or key that cannot be created."""

    exit_code = 4


@dataclass(frozen=True)
class Principal:
    """Whoever is calling: a user (``user:name``) or an API key (``key:id``)."""

    name: str
    role: Role
    #: The session's CSRF token when the caller came with a session cookie (a browser).
    csrf_token: str | None = None

    @property
    def display_name(self) -> str:
        return self.name.split(":", 1)[-1]

    def can(self, permission: Permission) -> bool:
        return self.role in PERMISSIONS[permission]


def hash_password(password: str) -> str:
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(password.encode(), salt=salt, dklen=32, **_SCRYPT)
    b64 = base64.b64encode
    return f"scrypt${_SCRYPT['n']}${b64(salt).decode()}${b64(digest).decode()}"


def check_password(password: str, stored: str) -> bool:
    try:
        scheme, n, salt, digest = stored.split("$")
        expected = base64.b64decode(digest)
        got = hashlib.scrypt(
            password.encode(), salt=base64.b64decode(salt), dklen=32, n=int(n), r=8, p=1
        )
    except (ValueError, TypeError):
        return False
    return scheme == "scrypt" and hmac.compare_digest(got, expected)


def add_user(engine: Engine, username: str, password: str, role: Role, *, actor: str) -> None:
    if not username or len(username) > 64 or not username.replace("-", "").isalnum():
        raise AuthError("user names are 1-64 letters, digits or '-'")
    if len(password) < MIN_PASSWORD:
        raise AuthError(f"passwords need at least {MIN_PASSWORD} characters")
    try:
        with engine.begin() as conn:
            conn.execute(
                insert(users).values(
                    username=username,
                    password_hash=hash_password(password),
                    role=role.value,
                    created_at=_now(),
                    disabled=False,
                )
            )
            audit.append(
                conn, actor=actor, action="user.add", subject=username, details={"role": role}
            )
    except IntegrityError:
        raise AuthError(f"user {username!r} already exists") from None


def login(engine: Engine, username: str, password: str) -> Principal:
    """Check a password; the attempt, good or bad, is audited."""
    with engine.begin() as conn:
        row = conn.execute(select(users).where(users.c.username == username)).mappings().first()
        ok = (
            row is not None
            and not row["disabled"]
            and check_password(password, row["password_hash"])
        )
        audit.append(
            conn,
            actor=f"user:{username}",
            action="login" if ok else "login.failed",
            subject=username,
        )
    if not ok or row is None:
        raise AuthError("wrong user name or password")
    return Principal(f"user:{username}", Role(row["role"]))


@dataclass(frozen=True)
class Session:
    token: str  # goes into the cookie; only its hash is stored
    principal: Principal
    expires_at: dt.datetime


def start_session(engine: Engine, username: str, password: str) -> Session:
    """Log in (audited, good or bad) and open a server-side session."""
    principal = login(engine, username, password)
    token = secrets.token_urlsafe(32)
    csrf = secrets.token_urlsafe(24)
    now = _now()
    expires = now + dt.timedelta(hours=SESSION_HOURS)
    with engine.begin() as conn:
        user_id = conn.execute(select(users.c.id).where(users.c.username == username)).scalar_one()
        conn.execute(delete(sessions).where(sessions.c.expires_at < now))
        conn.execute(
            insert(sessions).values(
                token_hash=_key_hash(token),
                user_id=user_id,
                csrf_token=csrf,
                created_at=now,
                expires_at=expires,
            )
        )
    return Session(token, Principal(principal.name, principal.role, csrf), expires)


def resolve_session(engine: Engine, token: str) -> Principal | None:
    """The user behind a session cookie, or None (unknown, expired, or the user disabled)."""
    if not token or len(token) > 100:
        return None
    with reading(engine) as conn:
        row = (
            conn.execute(
                select(
                    users.c.username,
                    users.c.role,
                    users.c.disabled,
                    sessions.c.csrf_token,
                    sessions.c.expires_at,
                )
                .join(users, users.c.id == sessions.c.user_id)
                .where(sessions.c.token_hash == _key_hash(token))
            )
            .mappings()
            .first()
        )
    if row is None or row["disabled"] or utc(row["expires_at"]) < _now():
        return None
    return Principal(f"user:{row['username']}", Role(row["role"]), row["csrf_token"])


def end_session(engine: Engine, token: str) -> None:
    with engine.begin() as conn:
        row = conn.execute(
            select(users.c.username)
            .join(sessions, users.c.id == sessions.c.user_id)
            .where(sessions.c.token_hash == _key_hash(token))
        ).first()
        conn.execute(delete(sessions).where(sessions.c.token_hash == _key_hash(token)))
        if row is not None:
            audit.append(conn, actor=f"user:{row[0]}", action="logout", subject=row[0])


@dataclass(frozen=True)
class UserInfo:
    username: str
    role: Role
    disabled: bool
    created_at: dt.datetime


def list_users(engine: Engine) -> list[UserInfo]:
    with reading(engine) as conn:
        rows = conn.execute(select(users).order_by(users.c.username)).mappings()
        return [
            UserInfo(r["username"], Role(r["role"]), r["disabled"], r["created_at"]) for r in rows
        ]


def set_user_disabled(engine: Engine, username: str, disabled: bool, *, actor: str) -> None:
    with engine.begin() as conn:
        done = conn.execute(
            update(users).where(users.c.username == username).values(disabled=disabled)
        )
        if done.rowcount != 1:
            raise AuthError(f"no user {username!r}")
        if disabled:
            uid = select(users.c.id).where(users.c.username == username).scalar_subquery()
            conn.execute(delete(sessions).where(sessions.c.user_id == uid))
        audit.append(
            conn,
            actor=actor,
            action="user.disable" if disabled else "user.enable",
            subject=username,
        )


def set_password(engine: Engine, username: str, password: str, *, actor: str) -> None:
    if len(password) < MIN_PASSWORD:
        raise AuthError(f"passwords need at least {MIN_PASSWORD} characters")
    with engine.begin() as conn:
        done = conn.execute(
            update(users)
            .where(users.c.username == username)
            .values(password_hash=hash_password(password))
        )
        if done.rowcount != 1:
            raise AuthError(f"no user {username!r}")
        uid = select(users.c.id).where(users.c.username == username).scalar_subquery()
        conn.execute(delete(sessions).where(sessions.c.user_id == uid))
        audit.append(conn, actor=actor, action="user.password", subject=username)


@dataclass(frozen=True)
class ApiKeyInfo:
    id: str
    name: str
    role: Role
    created_at: dt.datetime
    revoked_at: dt.datetime | None


def list_api_keys(engine: Engine) -> list[ApiKeyInfo]:
    with reading(engine) as conn:
        rows = conn.execute(select(api_keys).order_by(api_keys.c.created_at)).mappings()
        return [
            ApiKeyInfo(r["id"], r["name"], Role(r["role"]), r["created_at"], r["revoked_at"])
            for r in rows
        ]


def create_api_key(engine: Engine, name: str, role: Role, *, actor: str) -> tuple[str, str]:
    """A new key: returns (public id, the full key — shown once, stored only as a hash)."""
    key_id = secrets.token_hex(6)
    secret = secrets.token_urlsafe(32)
    with engine.begin() as conn:
        conn.execute(
            insert(api_keys).values(
                id=key_id,
                key_hash=_key_hash(secret),
                name=name,
                role=role.value,
                created_at=_now(),
            )
        )
        audit.append(
            conn,
            actor=actor,
            action="apikey.create",
            subject=key_id,
            details={"name": name, "role": role},
        )
    return key_id, f"pyosi_{key_id}_{secret}"


def revoke_api_key(engine: Engine, key_id: str, *, actor: str) -> None:
    with engine.begin() as conn:
        done = conn.execute(
            update(api_keys)
            .where(api_keys.c.id == key_id, api_keys.c.revoked_at.is_(None))
            .values(revoked_at=_now())
        )
        if done.rowcount != 1:
            raise AuthError(f"no active API key {key_id!r}")
        audit.append(conn, actor=actor, action="apikey.revoke", subject=key_id)


def resolve_api_key(engine: Engine, token: str) -> Principal | None:
    """The principal of a presented key, or None (unknown, malformed or revoked)."""
    parts = token.split("_", 2)
    if len(parts) != 3 or parts[0] != "pyosi":
        return None
    key_id, secret = parts[1], parts[2]
    with reading(engine) as conn:
        row = conn.execute(select(api_keys).where(api_keys.c.id == key_id)).mappings().first()
    if row is None or row["revoked_at"] is not None:
        return None
    if not hmac.compare_digest(row["key_hash"], _key_hash(secret)):
        return None
    return Principal(f"key:{key_id}", Role(row["role"]))


def _key_hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)
