"""Shared fixtures: small images and keys, made fresh in each test's tmp_path."""

from __future__ import annotations

import struct
import zlib
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from skimage import data

from pyosi.watermark import WatermarkKey


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
