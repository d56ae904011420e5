"""Opening the database and keeping its schema current with Alembic.

The CLI upgrades the embedded default (SQLite in the data directory) on first use, so `pyosi mark`
works on a fresh machine; the service never migrates on its own and refuses an out-of-date
database with the command that fixes it (`pyosi db upgrade`).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import os
from collections.abc import Iterator
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event, inspect, text
from sqlalchemy.exc import SQLAlchemyError

from pyosi.errors import PyosiError
from pyosi.paths import data_dir

DATABASE_URL_ENV = "PYOSI_DATABASE_URL"
# pg_advisory_lock key for migrations: any constant unlikely to clash ("pyosi" in ASCII).
_PG_MIGRATION_LOCK = 0x70796F7369


class DatabaseNotMigratedError(PyosiError):
    """The database's schema is older than this pyosi (or empty): run `pyosi db upgrade`."""


def database_url() -> str:
    """``$PYOSI_DATABASE_URL``, else ``pyosi.db`` in the data directory."""
    url = os.environ.get(DATABASE_URL_ENV)
    return with_driver(url) if url else f"sqlite:///{data_dir() / 'pyosi.db'}"


def with_driver(url: str) -> str:
    """``url`` with its driver: ``postgresql://`` means psycopg 3 here (SQLAlchemy's default
    driver for that name is psycopg2)."""
    if url.startswith("postgresql://"):
        return "postgresql+psycopg://" + url[len("postgresql://") :]
    return url


def safe_url(url: str) -> str:
    """A database URL without its password, for messages and reports."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return "<unparseable URL>"


@dataclass
class Database:
    url: str
    engine: Engine

    @property
    def is_sqlite(self) -> bool:
        return self.engine.dialect.name == "sqlite"

    @property
    def safe_url(self) -> str:
        """The URL without credentials, for messages."""
        return self.engine.url.render_as_string(hide_password=True)

    def _alembic_config(self) -> Any:
        from alembic.config import Config

        cfg = Config()
        cfg.set_main_option("script_location", str(resources.files("pyosi.storage") / "migrations"))
        cfg.attributes["engine"] = self.engine
        return cfg

    def head(self) -> str:
        from alembic.script import ScriptDirectory

        head = ScriptDirectory.from_config(self._alembic_config()).get_current_head()
        assert head is not None
        return head

    def current(self) -> str | None:
        from alembic.runtime.migration import MigrationContext

        try:
            with self.engine.connect() as conn:
                rev = MigrationContext.configure(conn).get_current_revision()
        except SQLAlchemyError as e:
            raise PyosiError(f"cannot read the database {self.safe_url}: {e}") from None
        return rev

    @contextlib.contextmanager
    def _migration_lock(self) -> Iterator[None]:
        """Serialise migrations between processes (a folder scan starts one per core).

        SQLite: an advisory lock on a file beside the database; PostgreSQL: a session-level
        advisory lock. Whoever waits re-reads the revision afterwards and finds nothing to do.
        """
        if self.is_sqlite:
            db_path = self.engine.url.database
            if not db_path or db_path == ":memory:":
                yield
                return
            lock_path = Path(db_path).with_name(Path(db_path).name + ".migrate-lock")
            try:
                fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o600)
            except OSError as e:
                raise PyosiError(f"cannot lock {lock_path} for migration: {e}") from None
            try:
                fcntl.flock(fd, fcntl.LOCK_EX)
                yield
            finally:
                os.close(fd)  # closing releases the lock
            return
        if self.engine.dialect.name == "postgresql":
            with self.engine.connect() as conn:
                conn.execute(text("SELECT pg_advisory_lock(:k)"), {"k": _PG_MIGRATION_LOCK})
                conn.commit()
                try:
                    yield
                finally:
                    conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": _PG_MIGRATION_LOCK})
                    conn.commit()
            return
        yield

    def upgrade(self) -> tuple[str | None, str]:
        """Migrate to the newest schema; returns (revision before, revision after)."""
        with self._migration_lock():
            return self._upgrade_locked()

    def _upgrade_locked(self) -> tuple[str | None, str]:
        from alembic import command

        before = self.current()
        if before is None and _has_legacy_manifests(self.engine):
            # Databases from before migrations held only `manifests`, made by create_all with
            # the same shape as the first revision: adopt them instead of failing on it.
            command.stamp(self._alembic_config(), "0001")
            before = "0001"
        try:
            command.upgrade(self._alembic_config(), "head")
        except SQLAlchemyError as e:
            raise PyosiError(f"migrating {self.safe_url} failed: {e}") from None
        return before, self.head()

    def check_current(self) -> None:
        """Raise :class:`DatabaseNotMigratedError` unless the schema is at the newest revision."""
        current, head = self.current(), self.head()
        if current != head:
            state = "empty" if current is None else f"at revision {current}"
            raise DatabaseNotMigratedError(
                f"the database {self.safe_url} is {state}, this pyosi needs {head}: "
                "run `pyosi db upgrade` (back it up first if it holds data)"
            )

    def ensure_current(self, *, upgrade: bool) -> None:
        """Upgrade (embedded default) or check (service) the schema."""
        if upgrade and self.current() != self.head():
            self.upgrade()  # takes the lock, then re-reads the revision
        else:
            self.check_current()

    def dispose(self) -> None:
        self.engine.dispose()


def open_database(url: str | None = None) -> Database:
    """Connect (lazily) to ``url`` or the default database; creates the data directory for it."""
    resolved = url or database_url()
    if url is None and resolved.startswith("sqlite:///"):
        data_dir(create=True)
    try:
        engine = create_engine(resolved, pool_pre_ping=not resolved.startswith("sqlite"))
    except (SQLAlchemyError, ImportError, ValueError) as e:
        raise PyosiError(f"cannot open the database {resolved.split('@')[-1]}: {e}") from None
    if engine.dialect.name == "sqlite":
        event.listen(engine, "connect", _sqlite_pragmas)
        event.listen(engine, "begin", _sqlite_begin)
    return Database(resolved, engine)


def utc(at: dt.datetime) -> dt.datetime:
    """A stored time in UTC: SQLite hands back naive datetimes, and everything is written in UTC."""
    return at.replace(tzinfo=dt.UTC) if at.tzinfo is None else at.astimezone(dt.UTC)


def reading(engine: Engine) -> Connection:
    """A connection for reads only: on SQLite it does not take the write lock.

    Every other transaction on SQLite starts with ``BEGIN IMMEDIATE``: a transaction that reads
    and then writes (an audit entry after its chain's tail, a decision after its item) would
    otherwise fail at once with "database is locked" when another writer got in between, since
    SQLite cannot wait its way out of that. Use this for long reads (reports, chain checks).
    """
    return engine.connect().execution_options(pyosi_readonly=True)


def read_only(engine: Engine) -> Engine:
    """``engine`` (the same pool) for functions that only read: see :func:`reading`."""
    return engine.execution_options(pyosi_readonly=True)


def _sqlite_begin(conn: Connection) -> None:
    readonly = conn.get_execution_options().get("pyosi_readonly", False)
    conn.exec_driver_sql("BEGIN" if readonly else "BEGIN IMMEDIATE")


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    # WAL: readers never block the writer, so the service and CLI scans can share the file;
    # busy_timeout rides out the writer lock instead of failing with "database is locked".
    # pysqlite's own transaction handling is off (isolation_level None) so that _sqlite_begin
    # decides how each transaction begins.
    dbapi_conn.isolation_level = None
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA busy_timeout=15000")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.close()


def _has_legacy_manifests(engine: Engine) -> bool:
    try:
        names = set(inspect(engine).get_table_names())
    except SQLAlchemyError:
        return False
    return "manifests" in names and "alembic_version" not in names and "items" not in names
