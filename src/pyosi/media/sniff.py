"""What a file is, from its first bytes: one table for every part of pyosi that needs to know."""

from __future__ import annotations

import stat
from pathlib import Path
from typing import BinaryIO

from pyosi.errors import MediaError

#: Bytes :func:`sniff_mime` needs.
HEAD_BYTES = 32

# (offset, magic, MIME type)
_MAGIC: tuple[tuple[int, bytes, str], ...] = (
    (0, b"\xff\xd8\xff", "image/jpeg"),
    (0, b"\x89PNG\r\n\x1a\n", "image/png"),
    (0, b"GIF8", "image/gif"),
    (0, b"II*\x00", "image/tiff"),
    (0, b"MM\x00*", "image/tiff"),
    (0, b"BM", "image/bmp"),
    (0, b"%PDF-", "application/pdf"),
    (0, b"fLaC", "audio/flac"),
    (0, b"ID3", "audio/mpeg"),
)
_RIFF = {b"WEBP": "image/webp", b"WAVE": "audio/wav", b"AVI ": "video/avi"}
_FTYP = {
    b"avif": "image/avif",
    b"avis": "image/avif",
    b"heic": "image/heic",
    b"heix": "image/heic",
    b"mif1": "image/heif",
    b"qt  ": "video/quicktime",
    b"M4A ": "audio/mp4",
}


def sniff_mime(head: bytes) -> str | None:
    """The MIME type these leading bytes announce, if pyosi knows the signature."""
    for offset, magic, mime in _MAGIC:
        if head[offset : offset + len(magic)] == magic:
            return mime
    if head[:4] == b"RIFF" and head[8:12] in _RIFF:
        return _RIFF[head[8:12]]
    if head[4:8] == b"ftyp":
        return _FTYP.get(head[8:12], "video/mp4")
    if len(head) >= 2 and head[0] == 0xFF and head[1] & 0xE0 == 0xE0:
        return "audio/mpeg"  # an MPEG audio frame without an ID3 tag
    return None


def open_regular(path: Path) -> tuple[BinaryIO, int]:
    """Open a regular file for reading, with its size; anything else is a clear MediaError."""
    try:
        st = path.stat()
        if stat.S_ISDIR(st.st_mode):
            raise MediaError(f"{path} is a directory, not a media file")
        if not stat.S_ISREG(st.st_mode):
            raise MediaError(f"{path} is not a regular file")
        return path.open("rb"), st.st_size
    except FileNotFoundError:
        raise MediaError(f"{path}: no such file") from None
    except OSError as e:
        raise MediaError(f"cannot read {path}: {e.strerror or e}") from None
