"""Shared fixtures: small images and keys, made fresh in each test's tmp_path."""

from __future__ import annotations

import os
import secrets
import struct
import zlib
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from skimage import data
from sqlalchemy import create_engine, text
from sqlalchemy.exc import OperationalError

from pyosi.keyring import default_key
from pyosi.mark import mark_image_file
from pyosi.provenance.credentials import Generation
from pyosi.provenance.identity import Identity, init_development
from pyosi.provenance.store import ManifestStore
from pyosi.storage import with_driver
from pyosi.watermark import WatermarkKey


@pytest.fixture(autouse=True)
def data_dir(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Every test gets its own empty pyosi data directory: never the user's real one."""
    d = tmp_path_factory.mktemp("pyosi-data")
    monkeypatch.setenv("PYOSI_DATA_DIR", str(d))
    monkeypatch.delenv("PYOSI_DATABASE_URL", raising=False)
    monkeypatch.delenv("PYOSI_TRUST_ANCHORS", raising=False)
    return d


@pytest.fixture(scope="session")
def astronaut() -> Image.Image:
    """scikit-image's 512x512 RGB photo (bundled, nothing downloaded)."""
    pixels = data.astronaut()  # type: ignore[no-untyped-call]
    return Image.fromarray(np.asarray(pixels, dtype=np.uint8))


@pytest.fixture(scope="session")
def small_photo(astronaut: Image.Image) -> Image.Image:
    """A 96x64 crop: big enough to show detail, fast to encode in every format."""
    return astronaut.crop((200, 80, 296, 144))


@pytest.fixture
def photo_png(tmp_path: Path, astronaut: Image.Image) -> Path:
    path = tmp_path / "photo.png"
    astronaut.save(path)
    return path


@pytest.fixture
def key() -> WatermarkKey:
    return WatermarkKey.generate()


@pytest.fixture
def key_file(tmp_path: Path, key: WatermarkKey) -> Path:
    return key.save(tmp_path / "key.json")


@pytest.fixture
def png_header_only() -> Callable[[int, int], bytes]:
    """PNG bytes whose valid IHDR claims width x height, with no pixel data at all."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        crc = zlib.crc32(kind + body) & 0xFFFFFFFF
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", crc)

    def make(width: int, height: int) -> bytes:
        ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
        return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IEND", b"")

    return make


# -- databases: SQLite always, PostgreSQL when CI provides one (PYOSI_TEST_POSTGRES_URL) ------

POSTGRES_ENV = "PYOSI_TEST_POSTGRES_URL"


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    admin = os.environ.get(POSTGRES_ENV)
    if not admin:
        pytest.skip(f"{POSTGRES_ENV} not set: no PostgreSQL to test against")
    admin = with_driver(admin)
    name = f"pyosi_test_{secrets.token_hex(4)}"
    engine = create_engine(admin, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    except OperationalError as e:
        pytest.skip(f"PostgreSQL at {POSTGRES_ENV} unreachable: {e.orig}")
    base = admin.rsplit("/", 1)[0]
    yield f"{base}/{name}"
    with engine.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    engine.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'test.db'}"
    url: str = request.getfixturevalue("postgres_url")
    # A clean schema per test: drop what an earlier test created.
    engine = create_engine(url)
    with engine.begin() as conn:
        conn.execute(text("DROP SCHEMA public CASCADE; CREATE SCHEMA public"))
    engine.dispose()
    return url


def mark_like_the_cli(photo: Path, out: Path, *, model: str, store: ManifestStore) -> bytes:
    """Mark ``photo`` into ``out`` the way `pyosi mark image` does (the development identity,
    the data directory's own key), the manifest into ``store``; returns the content id."""
    init_development()
    key, _ = default_key()
    generation = Generation(model=model)
    r = mark_image_file(
        photo, out, key=key, generation=generation, identity=Identity.load(), store=store
    )
    return r.content_id
