"""Uploaded files, content-addressed: ``<blob dir>/ab/cdef…`` named by SHA-256, written atomically.

The same bytes uploaded twice are stored once; a file is complete before its row exists, so a
crash mid-upload leaves at most an orphan file, never a row pointing at half a file.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import os
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import Connection, Engine, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from pyosi.media._write import atomic_write_bytes
from pyosi.paths import data_dir
from pyosi.storage import reading
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
        try:
            # Already stored: mark it fresh, so a sweep of orphans (its row may not be
            # committed yet) leaves it alone.
            os.utime(target)
        except FileNotFoundError:
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

    def files(self) -> Iterator[tuple[Path, str | None]]:
        """Every file under the root: (path, its hash), or None for an unfinished write's
        temporary file (``.<name>.<random>.tmp``)."""
        if not self.root.is_dir():
            return
        for sub in sorted(self.root.iterdir()):
            if not (sub.is_dir() and _HEX2.fullmatch(sub.name)):
                continue
            for f in sorted(sub.iterdir()):
                if _HEX62.fullmatch(f.name):
                    yield f, sub.name + f.name
                elif f.name.startswith(".") and f.name.endswith(".tmp"):
                    yield f, None


_HEX2 = re.compile(r"[0-9a-f]{2}")
_HEX62 = re.compile(r"[0-9a-f]{62}")


@dataclass(frozen=True)
class Sweep:
    """What :func:`sweep_orphans` removed (or would remove, on a dry run)."""

    files: int
    bytes: int
    paths: tuple[str, ...]
    dry_run: bool

    def to_json(self) -> dict[str, object]:
        return {"files": self.files, "bytes": self.bytes, "paths": list(self.paths),
                "dry_run": self.dry_run}  # fmt: skip


def sweep_orphans(
    engine: Engine, store: BlobStore, *, older_than: dt.timedelta, dry_run: bool = False
) -> Sweep:
    """Remove files no row refers to — left by a process that died between writing an upload
    and committing it — and unfinished writes' temporary files, once older than
    ``older_than`` (an upload in flight has its file before its row: keep the margin wide).
    """
    cutoff = time.time() - older_than.total_seconds()
    old = [(p, sha) for p, sha in store.files() if _mtime(p) < cutoff]
    known: set[str] = set()
    hashes = [sha for _, sha in old if sha is not None]
    with reading(engine) as conn:
        for i in range(0, len(hashes), 500):
            chunk = hashes[i : i + 500]
            known.update(
                conn.execute(select(blobs.c.sha256).where(blobs.c.sha256.in_(chunk))).scalars()
            )
    removed: list[Path] = []
    size = 0
    for path, sha in old:
        if sha in known:
            continue
        try:
            st = path.stat()
            if st.st_mtime >= cutoff:  # uploaded again meanwhile (BlobStore.write touches it)
                continue
            if not dry_run:
                path.unlink()
        except FileNotFoundError:
            continue
        removed.append(path)
        size += st.st_size
    return Sweep(len(removed), size, tuple(str(p) for p in removed), dry_run)


def _mtime(path: Path) -> float:
    try:
        return path.stat().st_mtime
    except FileNotFoundError:
        return float("inf")
