"""Uploaded files, content-addressed: ``<blob dir>/ab/cdef…`` named by SHA-256, written atomically.

The same bytes uploaded twice are stored once; a file is complete before its row exists, so a
crash mid-upload leaves at most an orphan file, never a row pointing at half a file.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from pathlib import Path

from sqlalchemy import Connection
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from pyosi.media._write import atomic_write_bytes
from pyosi.paths import data_dir
from pyosi.storage.schema import blobs

BLOB_DIR_ENV = "PYOSI_BLOB_DIR"


def blob_dir() -> Path:
    import os

    explicit = os.environ.get(BLOB_DIR_ENV)
    return Path(explicit) if explicit else data_dir() / "blobs"


class BlobStore:
    def __init__(self, root: Path | None = None) -> None:
        self.root = root or blob_dir()

    def path(self, sha256: str) -> Path:
        return self.root / sha256[:2] / sha256[2:]

    def put(self, conn: Connection, data: bytes, mime: str | None) -> str:
        """Store ``data`` (inside the caller's transaction for the row) and return its hash."""
        digest = self.write(data)
        self.record(conn, digest, len(data), mime)
        return digest

    def write(self, data: bytes) -> str:
        """The file alone, complete and fsynced when this returns; its hash.

        Callers that hold a transaction open call this first, outside it: the fsync can take
        tens of milliseconds, and on SQLite every other writer waits for the transaction.
        """
        digest = hashlib.sha256(data).hexdigest()
        target = self.path(digest)
        if not target.exists():
            target.parent.mkdir(parents=True, exist_ok=True)
            try:
                atomic_write_bytes(target, data, replace=False)
            except Exception:
                if not target.exists():  # a concurrent upload of the same bytes is fine
                    raise
        return digest

    def record(self, conn: Connection, digest: str, size: int, mime: str | None) -> None:
        """The row for a file :meth:`write` stored, inside the caller's transaction."""
        values = {
            "sha256": digest,
            "size": size,
            "mime": mime,
            "created_at": dt.datetime.now(dt.UTC),
        }
        # Concurrent uploads of the same bytes race for the row: the loser's insert is a no-op.
        insert = pg_insert if conn.dialect.name == "postgresql" else sqlite_insert
        conn.execute(insert(blobs).values(**values).on_conflict_do_nothing())

    def get(self, sha256: str) -> bytes:
        return self.path(sha256).read_bytes()
