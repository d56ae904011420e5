"""``pyosi db``, ``users``, ``apikeys``, ``audit``; ``serve`` refuses an old database."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlalchemy import update
from typer.testing import CliRunner, Result

from pyosi.cli import get_app
from pyosi.service.auth import resolve_api_key
from pyosi.storage import open_database
from pyosi.storage.schema import audit_log

runner = CliRunner()


def _invoke(*args: str, env: dict[str, str] | None = None, input: str | None = None) -> Result:
    result = runner.invoke(get_app(), list(args), env=env, input=input)
    assert "Traceback" not in result.output
    return result


def test_db_status_and_upgrade(data_dir: Path) -> None:
    status = json.loads(_invoke("db", "status", "--json").stdout)
    assert status["current"] is None and status["head"]
    up = json.loads(_invoke("db", "upgrade", "--json").stdout)
    assert up["from"] is None and up["to"] == status["head"]
    again = _invoke("db", "upgrade")
    assert again.exit_code == 0 and "up to date" in again.stdout
    assert "(current)" in _invoke("db", "status").stdout


def test_users_keys_and_the_audit_chain(data_dir: Path) -> None:
    added = _invoke(
        "users", "add", "alice", "--role", "reviewer", "--password-env", "PW",
        env={"PW": "a long enough password"},
    )  # fmt: skip
    assert added.exit_code == 0, added.output
    prompted = _invoke("users", "add", "bob", "--role", "admin", input="another password\n" * 2)
    assert prompted.exit_code == 0, prompted.output
    dup = _invoke("users", "add", "alice", "--role", "admin", "--password-env", "PW",
                  env={"PW": "a long enough password"})  # fmt: skip
    assert dup.exit_code == 4 and "already exists" in dup.output
    short = _invoke("users", "add", "carol", "--role", "admin", "--password-env", "PW",
                    env={"PW": "short"})  # fmt: skip
    assert short.exit_code == 4 and "at least" in short.output
    empty = _invoke("users", "add", "dan", "--role", "admin", "--password-env", "NOPE")
    assert empty.exit_code == 6 and "$NOPE" in empty.output
    bad_role = _invoke("users", "add", "erin", "--role", "king")
    assert bad_role.exit_code == 2

    created = json.loads(
        _invoke("apikeys", "create", "ingest bot", "--role", "ingest", "--json").stdout
    )
    db = open_database()
    assert resolve_api_key(db.engine, created["key"]) is not None
    assert _invoke("apikeys", "revoke", created["id"]).exit_code == 0
    assert resolve_api_key(db.engine, created["key"]) is None
    assert _invoke("apikeys", "revoke", created["id"]).exit_code == 4

    ok = _invoke("audit", "verify", "--json")
    assert ok.exit_code == 0 and json.loads(ok.stdout)["ok"]
    with db.engine.begin() as conn:
        conn.execute(update(audit_log).where(audit_log.c.id == 2).values(subject="forged"))
    broken = _invoke("audit", "verify")
    assert broken.exit_code == 1 and "broken" in broken.stdout and "entry 2" in broken.stdout
    db.dispose()


def test_serve_refuses_an_unmigrated_database(
    data_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PYOSI_DATABASE_URL", f"sqlite:///{data_dir / 'other.db'}")
    r = _invoke("serve")
    assert r.exit_code == 6 and "pyosi db upgrade" in r.output
    monkeypatch.setenv("PYOSI_DATABASE_URL", "postgresql://nobody@127.0.0.1:1/none")
    unreachable = _invoke("db", "status")
    assert unreachable.exit_code == 6 and "cannot read the database" in unreachable.output


def test_blobs_gc(data_dir: Path) -> None:
    import os
    import time

    from pyosi.service.blobs import BlobStore

    _invoke("db", "upgrade")
    store = BlobStore()
    sha = store.write(b"an orphan")
    old = time.time() - 48 * 3600
    os.utime(store.path(sha), (old, old))
    dry = json.loads(_invoke("blobs", "gc", "--dry-run", "--json").stdout)
    assert dry["files"] == 1 and dry["dry_run"] and store.path(sha).exists()
    done = _invoke("blobs", "gc")
    assert done.exit_code == 0 and "removed 1 orphan file(s)" in done.stdout
    assert not store.path(sha).exists()
