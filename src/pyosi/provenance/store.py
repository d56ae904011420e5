"""The manifest store: durable Content Credentials, keyed by the watermark's content id.

Every ``pyosi mark`` records the manifest it signed under the 8-byte payload its watermark
carries. When a copy has lost its metadata (re-saved, screenshotted, cropped), the watermark still
gives the content id, and the store gives back the credentials. The default store is SQLite in the
data directory (the same database the service uses, see :mod:`pyosi.storage`); any SQLAlchemy
URL works (``PYOSI_DATABASE_URL``, e.g. PostgreSQL).
"""

from __future__ import annotations

import datetime as dt
import json
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import insert, select
from sqlalchemy.exc import IntegrityError, SQLAlchemyError

from pyosi.errors import ProvenanceError, PyosiError
from pyosi.storage import Database, open_database, reading
from pyosi.storage.schema import manifests


@dataclass(frozen=True)
class StoredManifest:
    content_id: bytes
    key_id: str
    created_at: dt.datetime
    title: str | None
    mime: str | None
    sha256: str
    signer: str | None
    digital_source_type: str | None
    manifest: Mapping[str, Any]


def new_content_id() -> bytes:
    """A fresh random 8-byte content id (64 bits: collisions are negligible for billions)."""
    return secrets.token_bytes(8)


class ManifestStore:
    """Put and get manifests by content id. Safe to share between threads; open one per process."""

    def __init__(
        self, url: str | None = None, *, upgrade: bool = True, database: Database | None = None
    ) -> None:
        """Open the store in ``url`` (default: the data directory's database).

        ``upgrade`` migrates an out-of-date schema first (what the CLI wants on the embedded
        default); without it an out-of-date database is an error. ``database``: use this open
        database (and its connection pool) as it is; the caller owns it.
        """
        self._owned = database is None
        try:
            self._db: Database = database or open_database(url)
            if self._owned:
                self._db.ensure_current(upgrade=upgrade)
        except PyosiError as e:
            raise ProvenanceError(f"cannot open the manifest store: {e}") from None
        self._engine = self._db.engine
        self.url = self._db.url

    @property
    def _safe_url(self) -> str:
        return self._db.safe_url

    def put(self, record: StoredManifest) -> None:
        row = {
            "content_id": record.content_id.hex(),
            "key_id": record.key_id,
            "created_at": record.created_at,
            "title": record.title,
            "mime": record.mime,
            "sha256": record.sha256,
            "signer": record.signer,
            "digital_source_type": record.digital_source_type,
            "manifest_json": json.dumps(record.manifest, ensure_ascii=False),
        }
        try:
            with self._engine.begin() as conn:
                conn.execute(insert(manifests).values(**row))
        except IntegrityError:
            raise ProvenanceError(
                f"content id {record.content_id.hex()} is already in the manifest store; "
                "each marked file needs its own"
            ) from None
        except SQLAlchemyError as e:
            raise ProvenanceError(f"cannot write to the manifest store: {e}") from None

    def get(self, content_id: bytes) -> StoredManifest | None:
        try:
            with reading(self._engine) as conn:
                row = conn.execute(
                    select(manifests).where(manifests.c.content_id == content_id.hex())
                ).first()
        except SQLAlchemyError as e:
            raise ProvenanceError(f"cannot read the manifest store: {e}") from None
        if row is None:
            return None
        created = row.created_at
        if created.tzinfo is None:  # SQLite drops the zone; everything is stored in UTC
            created = created.replace(tzinfo=dt.UTC)
        return StoredManifest(
            content_id=bytes.fromhex(row.content_id),
            key_id=row.key_id,
            created_at=created,
            title=row.title,
            mime=row.mime,
            sha256=row.sha256,
            signer=row.signer,
            digital_source_type=row.digital_source_type,
            manifest=json.loads(row.manifest_json),
        )

    def delete(self, content_id: bytes) -> None:
        try:
            with self._engine.begin() as conn:
                conn.execute(manifests.delete().where(manifests.c.content_id == content_id.hex()))
        except SQLAlchemyError as e:
            raise ProvenanceError(f"cannot write to the manifest store: {e}") from None

    def __contains__(self, content_id: bytes) -> bool:
        return self.get(content_id) is not None

    def close(self) -> None:
        if self._owned:
            self._engine.dispose()
