"""The policy in force and the election calendar, as the service stores and edits them.

Every accepted policy is kept (``policy_versions``); the newest applies, and the shipped default
applies until the first edit. A new text must parse against the schema and carry a higher
``version`` than the one in force, so every decision can name the version it was made under. The
calendar is a table seeded from the shipped one. Each change is audited in its own transaction.
"""

from __future__ import annotations

import datetime as dt
import functools
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, Engine, RowMapping, delete, insert, select, update
from sqlalchemy.exc import IntegrityError

from pyosi.policy.engine import Policy, PolicyError, load_policy
from pyosi.policy.rules import ELECTION_KINDS, Election
from pyosi.service import audit
from pyosi.service.errors import ConflictError, NotFoundError
from pyosi.storage import reading, utc
from pyosi.storage.schema import elections, policy_versions

_SLUG = re.compile(r"[a-z0-9]+(?:-[a-z0-9]+)*")
SHIPPED = "shipped default"


@dataclass(frozen=True)
class PolicyVersion:
    version: int
    text: str
    author: str
    comment: str | None
    created_at: dt.datetime | None  # None: the shipped default, never edited

    def to_json(self, *, with_text: bool = True) -> dict[str, Any]:
        out: dict[str, Any] = {
            "version": self.version,
            "author": self.author,
            "comment": self.comment,
            "created_at": self.created_at.isoformat() if self.created_at else None,
        }
        if with_text:
            out["text"] = self.text
        return out


def shipped_text() -> str:
    from importlib import resources

    return resources.files("pyosi.policy").joinpath("default_policy.toml").read_text("utf-8")


@functools.cache
def _shipped_version() -> PolicyVersion:
    text = shipped_text()
    return PolicyVersion(validate_policy(text).version, text, SHIPPED, None, None)


def current_version(conn: Connection) -> PolicyVersion:
    row = (
        conn.execute(select(policy_versions).order_by(policy_versions.c.version.desc()).limit(1))
        .mappings()
        .first()
    )
    if row is None:
        return _shipped_version()
    return PolicyVersion(
        row["version"], row["text"], row["author"], row["comment"], utc(row["created_at"])
    )


def current_policy(engine: Engine) -> Policy:
    """The policy in force over the stored calendar (parsed once per text and calendar)."""
    with reading(engine) as conn:
        version = current_version(conn)
        calendar = tuple(_election(r) for r in conn.execute(select(elections)).mappings())
    return _parsed(version.text, calendar)


@functools.lru_cache(maxsize=16)
def _parsed(text: str, calendar: tuple[Election, ...]) -> Policy:
    return load_policy(text, elections=calendar)


def validate_policy(text: str) -> Policy:
    """Parse ``text``; :class:`PolicyError` says where it breaks the schema."""
    return load_policy(text, elections=())


def put_policy(engine: Engine, text: str, *, author: str, comment: str | None = None) -> int:
    """Store ``text`` as the policy in force; returns its version."""
    policy = validate_policy(text)
    with engine.begin() as conn:
        current = current_version(conn)
        if policy.version <= current.version:
            raise ConflictError(
                f"the new policy says version = {policy.version}, but version "
                f"{current.version} is in force: set version = {current.version + 1}"
            )
        try:
            conn.execute(
                insert(policy_versions).values(
                    version=policy.version,
                    created_at=dt.datetime.now(dt.UTC),
                    author=author,
                    comment=comment,
                    text=text,
                )
            )
        except IntegrityError:
            raise ConflictError(f"policy version {policy.version} already exists") from None
        audit.append(
            conn,
            actor=author,
            action="policy.update",
            subject=f"policy v{policy.version}",
            details={"from": current.version, "to": policy.version, "comment": comment},
        )
    return policy.version


def policy_history(engine: Engine) -> list[PolicyVersion]:
    with reading(engine) as conn:
        rows = conn.execute(select(policy_versions).order_by(policy_versions.c.version.desc()))
        out = [
            PolicyVersion(r["version"], r["text"], r["author"], r["comment"], utc(r["created_at"]))
            for r in rows.mappings()
        ]
    if not out:
        with reading(engine) as conn:
            out = [current_version(conn)]
    return out


def policy_version(engine: Engine, version: int) -> PolicyVersion:
    for v in policy_history(engine):
        if v.version == version:
            return v
    raise NotFoundError(f"no policy version {version}")


# ---- the election calendar -------------------------------------------------------------------


@dataclass(frozen=True)
class StoredElection:
    """A calendar row: the policy's :class:`Election` plus its database id."""

    id: int
    election: Election

    def to_json(self, window_days: int = 90) -> dict[str, Any]:
        e = self.election
        start, end = e.window(window_days)
        return {
            "id": self.id,
            "slug": e.id,
            "date": e.date.isoformat(),
            "name_ko": e.name_ko,
            "name_en": e.name_en,
            "kind": e.kind,
            "verify": e.verify,
            "note": e.note,
            "window": {"start": start.isoformat(), "end": end.isoformat()},
        }


def list_elections(engine: Engine) -> list[StoredElection]:
    with reading(engine) as conn:
        rows = conn.execute(select(elections).order_by(elections.c.date)).mappings()
        return [StoredElection(r["id"], _election(r)) for r in rows]


def get_election(engine: Engine, election_id: int) -> StoredElection:
    with reading(engine) as conn:
        row = conn.execute(select(elections).where(elections.c.id == election_id)).mappings()
        found = row.first()
    if found is None:
        raise NotFoundError(f"no election {election_id}")
    return StoredElection(found["id"], _election(found))


def save_election(
    engine: Engine, fields: Mapping[str, Any], *, actor: str, election_id: int | None = None
) -> StoredElection:
    """Add (``election_id`` None) or replace a calendar entry; fields as in ``elections.toml``."""
    values = _election_values(fields)
    try:
        with engine.begin() as conn:
            if election_id is None:
                new_id = conn.execute(insert(elections).values(**values)).inserted_primary_key
                assert new_id is not None
                election_id = int(new_id[0])
                action = "election.add"
            else:
                done = conn.execute(
                    update(elections).where(elections.c.id == election_id).values(**values)
                )
                if done.rowcount != 1:
                    raise NotFoundError(f"no election {election_id}")
                action = "election.update"
            audit.append(
                conn, actor=actor, action=action, subject=values["slug"], details=_jsonable(values)
            )
    except IntegrityError:
        raise ConflictError(f"an election with id {values['slug']!r} already exists") from None
    return get_election(engine, election_id)


def delete_election(engine: Engine, election_id: int, *, actor: str) -> None:
    existing = get_election(engine, election_id)
    with engine.begin() as conn:
        conn.execute(delete(elections).where(elections.c.id == election_id))
        audit.append(
            conn,
            actor=actor,
            action="election.delete",
            subject=existing.election.id,
            details={"date": existing.election.date.isoformat()},
        )


def _election_values(fields: Mapping[str, Any]) -> dict[str, Any]:
    def text(name: str, limit: int = 200, *, required: bool = True) -> str:
        value = fields.get(name)
        if not required and (value is None or (isinstance(value, str) and not value.strip())):
            return ""
        if not isinstance(value, str) or not value.strip():
            raise PolicyError(f"{name}: a non-empty text is needed")
        if len(value) > limit:
            raise PolicyError(f"{name}: at most {limit} characters")
        return value.strip()

    slug = text("slug", 64)
    if not _SLUG.fullmatch(slug):
        raise PolicyError(f"slug: {slug!r} is not lower-case letters and digits joined by '-'")
    raw_date = fields.get("date")
    try:
        day = raw_date if isinstance(raw_date, dt.date) else dt.date.fromisoformat(str(raw_date))
    except ValueError:
        raise PolicyError(f"date: {raw_date!r} is not a date like 2028-04-12") from None
    kind = text("kind", 32)
    if kind not in ELECTION_KINDS:
        raise PolicyError(f"kind: {kind!r} is not one of {', '.join(ELECTION_KINDS)}")
    verify = fields.get("verify", False)
    if not isinstance(verify, bool):
        raise PolicyError("verify: true or false")
    return {
        "slug": slug,
        "date": day,
        "name_ko": text("name_ko"),
        "name_en": text("name_en"),
        "kind": kind,
        "verify": verify,
        "note": text("note", 2000, required=False),
        "utc_offset_minutes": 540,
    }


def _election(row: RowMapping) -> Election:
    return Election(
        id=row["slug"],
        name_ko=row["name_ko"],
        name_en=row["name_en"],
        date=row["date"],
        kind=row["kind"],
        verify=row["verify"],
        note=row["note"] or "",
        utc_offset=dt.timedelta(minutes=row["utc_offset_minutes"]),
    )


def _jsonable(values: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v.isoformat() if isinstance(v, dt.date) else v for k, v in values.items()}
