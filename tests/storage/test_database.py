"""Schema migrations on SQLite and PostgreSQL, and refusing an out-of-date database."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from sqlalchemy import inspect, select

from pyosi.provenance.store import ManifestStore, StoredManifest
from pyosi.storage import DatabaseNotMigratedError, database_url, open_database
from pyosi.storage.schema import metadata


def test_upgrade_creates_every_table(db_url: str) -> None:
    db = open_database(db_url)
    with pytest.raises(DatabaseNotMigratedError, match="pyosi db upgrade"):
        db.check_current()
    before, after = db.upgrade()
    assert before is None and after == db.head() and db.current() == db.head()
    db.check_current()
    tables = set(inspect(db.engine).get_table_names())
    assert set(metadata.tables) <= tables
    assert db.upgrade() == (db.head(), db.head())  # idempotent
    db.dispose()


def test_migrations_match_the_schema(db_url: str) -> None:
    # What Alembic would autogenerate after head must be nothing: the migrations are complete.
    from alembic.autogenerate import compare_metadata
    from alembic.runtime.migration import MigrationContext

    db = open_database(db_url)
    db.upgrade()
    with db.engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), metadata)
    assert diff == []
    db.dispose()


def test_store_works_on_each_database(db_url: str) -> None:
    store = ManifestStore(db_url)
    record = StoredManifest(
        content_id=b"\x00\x01\x02\x03\x04\x05\x06\x07",
        key_id="k",
        created_at=dt.datetime(2026, 11, 21, tzinfo=dt.UTC),
        title="t",
        mime="image/jpeg",
        sha256="0" * 64,
        signer=None,
        digital_source_type=None,
        manifest={"a": 1},
    )
    store.put(record)
    assert store.get(record.content_id) == record
    store.close()


def test_store_refuses_an_old_database_when_not_upgrading(tmp_path: Path) -> None:
    from pyosi.errors import ProvenanceError

    url = f"sqlite:///{tmp_path / 'old.db'}"
    with pytest.raises(ProvenanceError, match="pyosi db upgrade"):
        ManifestStore(url, upgrade=False)


def test_legacy_manifest_database_is_adopted(tmp_path: Path) -> None:
    # pyosi 0.1 made `manifests` with create_all and no alembic_version table.
    from pyosi.storage.schema import manifests

    db = open_database(f"sqlite:///{tmp_path / 'legacy.db'}")
    metadata.create_all(db.engine, tables=[manifests])
    with db.engine.begin() as conn:
        conn.execute(
            manifests.insert().values(
                content_id="00" * 8,
                key_id="k",
                created_at=dt.datetime(2026, 1, 1, tzinfo=dt.UTC),
                sha256="0" * 64,
                manifest_json="{}",
            )
        )
    assert db.upgrade() == ("0001", db.head())
    with db.engine.connect() as conn:
        assert conn.execute(select(manifests.c.key_id)).scalar_one() == "k"
    db.dispose()


def test_default_url_and_postgres_driver(data_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert database_url() == f"sqlite:///{data_dir / 'pyosi.db'}"
    monkeypatch.setenv("PYOSI_DATABASE_URL", "postgresql://u:secret@h/db")
    assert database_url() == "postgresql+psycopg://u:secret@h/db"
    db = open_database()
    assert "secret" not in db.safe_url
    db.dispose()
