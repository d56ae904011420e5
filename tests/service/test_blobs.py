"""The blob store: content-addressed files, and the sweep of orphans a crash leaves behind."""

from __future__ import annotations

import datetime as dt
import os
import time
from pathlib import Path

from pyosi.service.blobs import BlobStore, sweep_orphans
from pyosi.storage import Database

HOUR = dt.timedelta(hours=1)


def _age(path: Path, hours: float) -> None:
    then = time.time() - hours * 3600
    os.utime(path, (then, then))


def test_sweep_removes_only_old_files_without_a_row(db: Database, tmp_path: Path) -> None:
    store = BlobStore(tmp_path / "blobs")
    with db.engine.begin() as conn:
        kept = store.put(conn, b"an upload with its row", "image/jpeg")
    orphan = store.write(b"written, then the process died before its row")
    young = store.write(b"an upload whose transaction is still running")
    tmp = store.path(orphan).with_name(".half-written.1234abcd.tmp")
    tmp.write_bytes(b"half")
    for path in (store.path(kept), store.path(orphan), tmp):
        _age(path, 3)

    dry = sweep_orphans(db.engine, store, older_than=HOUR, dry_run=True)
    assert dry.files == 2 and dry.dry_run and store.path(orphan).exists()
    swept = sweep_orphans(db.engine, store, older_than=HOUR)
    assert sorted(swept.paths) == sorted([str(store.path(orphan)), str(tmp)])
    assert swept.bytes == len(b"written, then the process died before its row") + 4
    assert store.get(kept) == b"an upload with its row"  # has a row
    assert store.path(young).exists()  # too new to judge
    assert sweep_orphans(db.engine, store, older_than=HOUR).files == 0


def test_storing_the_same_bytes_again_makes_an_old_file_fresh(db: Database, tmp_path: Path) -> None:
    # Its row is about to be written: the sweep must not take the file meanwhile.
    store = BlobStore(tmp_path / "blobs")
    sha = store.write(b"same bytes")
    _age(store.path(sha), 3)
    assert store.write(b"same bytes") == sha
    assert sweep_orphans(db.engine, store, older_than=HOUR).files == 0
    assert store.path(sha).exists()


def test_sweep_of_a_missing_blob_dir_is_empty(db: Database, tmp_path: Path) -> None:
    assert sweep_orphans(db.engine, BlobStore(tmp_path / "none"), older_than=HOUR).files == 0
