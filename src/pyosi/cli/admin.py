"""``pyosi db``, ``pyosi users``, ``pyosi apikeys`` and ``pyosi audit``: running the service."""

from __future__ import annotations

import getpass
import os
from typing import Annotated

import typer
from rich.markup import escape

from pyosi.cli._common import emit_json, stdout
from pyosi.errors import PyosiError
from pyosi.service import audit
from pyosi.service.auth import Role, add_user, create_api_key, revoke_api_key
from pyosi.storage import Database, open_database

db_app = typer.Typer(no_args_is_help=True, help="The database: migrations and status.")
users_app = typer.Typer(no_args_is_help=True, help="Service users and their roles.")
apikeys_app = typer.Typer(no_args_is_help=True, help="API keys for the service.")
audit_app = typer.Typer(no_args_is_help=True, help="The hash-chained audit log.")
blobs_app = typer.Typer(no_args_is_help=True, help="The stored uploads and marked files.")

_JSON = typer.Option("--json", help="Print a JSON object.")
CLI_ACTOR = "cli"


def _actor() -> str:
    # Audit entries from the command line name the OS user who ran them.
    try:
        return f"{CLI_ACTOR}:{getpass.getuser()}"
    except (KeyError, OSError):
        return CLI_ACTOR


@db_app.command("upgrade")
def db_upgrade(as_json: Annotated[bool, _JSON] = False) -> None:
    """Migrate the database ($PYOSI_DATABASE_URL or the data directory's) to this version."""
    db = open_database()
    before, after = db.upgrade()
    db.dispose()
    if as_json:
        emit_json({"database": db.safe_url, "from": before, "to": after})
    elif before == after:
        stdout().print(f"{escape(db.safe_url)} is up to date (revision {after})")
    else:
        stdout().print(f"{escape(db.safe_url)} upgraded from {before or 'empty'} to {after}")


@db_app.command("status")
def db_status(as_json: Annotated[bool, _JSON] = False) -> None:
    """Show the database's schema revision and whether it is current."""
    db = open_database()
    current, head = db.current(), db.head()
    db.dispose()
    if as_json:
        emit_json({"database": db.safe_url, "current": current, "head": head})
    else:
        state = "current" if current == head else "needs `pyosi db upgrade`"
        stdout().print(f"{escape(db.safe_url)}: revision {current or 'none'} ({state})")


@users_app.command("add")
def users_add(
    username: Annotated[str, typer.Argument(help="Login name.")],
    role: Annotated[Role, typer.Option(help="What the user may do.")],
    password_env: Annotated[
        str | None,
        typer.Option(help="Read the password from this environment variable (for scripts)."),
    ] = None,
) -> None:
    """Add a user; the password is asked for (twice) unless --password-env names a variable."""
    if password_env is not None:
        password = os.environ.get(password_env, "")
        if not password:
            raise PyosiError(f"${password_env} is empty or not set")
    else:
        password = typer.prompt("password", hide_input=True, confirmation_prompt=True)
    db = _current()
    add_user(db.engine, username, password, role, actor=_actor())
    db.dispose()
    stdout().print(f"user [bold]{escape(username)}[/] added with role {role.value}")


@apikeys_app.command("create")
def apikeys_create(
    name: Annotated[str, typer.Argument(help="What the key is for, e.g. 'ingest pipeline'.")],
    role: Annotated[Role, typer.Option(help="What the key may do.")],
    as_json: Annotated[bool, _JSON] = False,
) -> None:
    """Create an API key; it is printed once and stored only as a hash."""
    db = _current()
    key_id, token = create_api_key(db.engine, name, role, actor=_actor())
    db.dispose()
    if as_json:
        emit_json({"id": key_id, "key": token, "role": role.value, "name": name})
        return
    stdout().print(f"API key [bold]{key_id}[/] ({role.value}) — shown once, keep it secret:")
    typer.echo(token)


@apikeys_app.command("revoke")
def apikeys_revoke(key_id: Annotated[str, typer.Argument(help="The key's public id.")]) -> None:
    """Revoke an API key at once."""
    db = _current()
    revoke_api_key(db.engine, key_id, actor=_actor())
    db.dispose()
    stdout().print(f"API key {escape(key_id)} revoked")


@audit_app.command("verify")
def audit_verify(as_json: Annotated[bool, _JSON] = False) -> None:
    """Check the hash chain; exit 1 and name the first broken entry if it does not hold."""
    db = _current()
    report = audit.verify(db.engine)
    db.dispose()
    if as_json:
        emit_json(
            {
                "entries": report.entries,
                "ok": report.ok,
                "broken_at": report.broken_at,
                "reason": report.reason,
            }
        )
    elif report.ok:
        stdout().print(f"audit chain intact: {report.entries} entries")
    else:
        stdout().print(
            f"[bold red]audit chain broken[/] at entry {report.broken_at}: {report.reason} "
            f"({report.entries} entries checked)"
        )
    if not report.ok:
        raise typer.Exit(1)


@blobs_app.command("gc")
def blobs_gc(
    older_than: Annotated[
        float,
        typer.Option(
            min=0.1,
            help="Only files older than this many hours (uploads in flight "
            "have their file before their row).",
        ),
    ] = 24.0,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="List, remove nothing.")] = False,
    as_json: Annotated[bool, _JSON] = False,
) -> None:
    """Remove stored files no row refers to: left by a process that died between writing an
    upload and committing it, and unfinished writes' temporary files. Rows are never touched."""
    import datetime as dt

    from pyosi.service.blobs import BlobStore, sweep_orphans

    db = _current()
    store = BlobStore()
    sweep = sweep_orphans(
        db.engine, store, older_than=dt.timedelta(hours=older_than), dry_run=dry_run
    )
    db.dispose()
    if as_json:
        emit_json({"blob_dir": str(store.root), **sweep.to_json()})
        return
    verb = "would remove" if dry_run else "removed"
    out = stdout()
    for path in sweep.paths:
        out.print(f"{verb} {escape(path)}")
    out.print(
        f"{verb} {sweep.files} orphan file(s), {sweep.bytes} bytes, in {escape(str(store.root))}"
    )


def _current() -> Database:
    """The database, migrated if it is the embedded default, else checked."""
    db = open_database()
    db.ensure_current(upgrade=db.is_sqlite and not os.environ.get("PYOSI_DATABASE_URL"))
    return db
