"""The manifest store: durable credentials keyed by content id."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from pyosi.errors import ProvenanceError
from pyosi.provenance.store import ManifestStore, StoredManifest, new_content_id


def _record(cid: bytes) -> StoredManifest:
    return StoredManifest(
        content_id=cid,
        key_id="abcd",
        created_at=dt.datetime(2026, 11, 21, 12, 0, tzinfo=dt.UTC),
        title="out.jpg",
        mime="image/jpeg",
        sha256="0" * 64,
        signer="pyosi tests",
        digital_source_type="http://cv.iptc.org/newscodes/digitalsourcetype/trainedAlgorithmicMedia",
        manifest={"active_manifest": "urn:x", "manifests": {"urn:x": {"title": "어"}}},
    )


def test_put_get_round_trip_in_the_data_directory(data_dir: Path) -> None:
    store = ManifestStore()
    cid = new_content_id()
    assert store.get(cid) is None and cid not in store
    store.put(_record(cid))
    got = store.get(cid)
    assert got == _record(cid)
    assert (data_dir / "pyosi.db").exists()
    store.close()
    assert ManifestStore().get(cid) == _record(cid)  # persisted


def test_duplicate_content_id_is_refused() -> None:
    store = ManifestStore()
    cid = new_content_id()
    store.put(_record(cid))
    with pytest.raises(ProvenanceError, match="already in the manifest store"):
        store.put(_record(cid))
    store.delete(cid)
    assert cid not in store


def test_database_url_from_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PYOSI_DATABASE_URL", f"sqlite:///{tmp_path / 'other.db'}")
    ManifestStore().put(_record(b"\x01" * 8))
    assert (tmp_path / "other.db").exists()


def test_unusable_database_is_a_clear_error(tmp_path: Path) -> None:
    (tmp_path / "not-a-db").write_text("this is not sqlite" * 100)
    with pytest.raises(ProvenanceError, match="cannot open the manifest store"):
        ManifestStore(f"sqlite:///{tmp_path / 'not-a-db'}")


def test_content_ids_are_random_8_bytes() -> None:
    ids = {new_content_id() for _ in range(100)}
    assert len(ids) == 100 and all(len(i) == 8 for i in ids)
