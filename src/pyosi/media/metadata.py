"""File metadata as stored (text chunks, EXIF, XMP), read without decoding any pixels.

Generators hide their traces in places Pillow only surfaces after decoding (PNG text chunks after
the image data) or merges away (tEXt vs iTXt vs zTXt), so PNG chunks are walked here directly,
with limits: a hostile file cannot make this read or inflate more than ``MAX_TEXT_BYTES``.
"""

from __future__ import annotations

import contextlib
import io
import struct
import zlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from PIL import Image

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
MAX_TEXT_BYTES = 16 << 20  # all text chunks of one file, inflated
_TEXT_CHUNKS = {b"tEXt", b"iTXt", b"zTXt"}
_EXIF_IFD = 0x8769


@dataclass(frozen=True)
class TextChunk:
    type: str  # "tEXt", "iTXt", "zTXt" or a private chunk such as ComfyUI's "comf"
    key: str
    value: str


@dataclass(frozen=True)
class FileMetadata:
    format: str | None  # Pillow's format name, None when Pillow cannot identify the file
    text: tuple[TextChunk, ...] = ()
    #: EXIF tags of IFD0 and the Exif sub-IFD merged (UserComment lives in the latter).
    exif: Mapping[int, Any] = field(default_factory=dict)
    xmp: bytes | None = None

    def text_value(self, key: str) -> str | None:
        """The first text chunk with exactly this (case-sensitive) key."""
        return next((c.value for c in self.text if c.key == key), None)


def read_metadata(data: bytes) -> FileMetadata:
    """Everything pyosi's trace detectors read; never raises on damaged metadata."""
    text: tuple[TextChunk, ...] = ()
    if data.startswith(PNG_SIGNATURE):
        text = tuple(png_text_chunks(data))
    try:
        with Image.open(io.BytesIO(data)) as im:
            fmt = im.format
            xmp = im.info.get("xmp")
            exif = _exif(im)
    except Exception:
        return FileMetadata(format=None, text=text)
    if xmp is None:
        xmp = next((c.value.encode() for c in text if c.key == "XML:com.adobe.xmp"), None)
    return FileMetadata(
        format=fmt, text=text, exif=exif, xmp=xmp if isinstance(xmp, bytes) else None
    )


def _exif(im: Image.Image) -> dict[int, Any]:
    try:
        exif = im.getexif()
    except Exception:
        return {}
    out: dict[int, Any] = dict(exif)
    with contextlib.suppress(Exception):  # a damaged sub-IFD is simply not read
        out.update(exif.get_ifd(_EXIF_IFD))
    return out


def png_text_chunks(data: bytes) -> list[TextChunk]:
    """Text chunks of a PNG (tEXt, iTXt, zTXt, ComfyUI's ``comf``), in file order."""
    out: list[TextChunk] = []
    budget = MAX_TEXT_BYTES
    pos = len(PNG_SIGNATURE)
    while pos + 8 <= len(data) and budget > 0:
        length, ctype = struct.unpack(">I4s", data[pos : pos + 8])
        body = data[pos + 8 : pos + 8 + length]
        pos += 12 + length
        if len(body) < length or ctype == b"IEND":
            break
        if ctype in _TEXT_CHUNKS or ctype == b"comf":
            chunk = _text_chunk(ctype, body, budget)
            if chunk is not None:
                out.append(chunk)
                budget -= len(chunk.value)
    return out


def _text_chunk(ctype: bytes, body: bytes, budget: int) -> TextChunk | None:
    key_raw, sep, rest = body.partition(b"\x00")
    if not sep or not key_raw:
        return None
    key = key_raw.decode("latin-1")
    try:
        if ctype in {b"tEXt", b"comf"}:
            value = rest.decode("latin-1" if ctype == b"tEXt" else "utf-8", "replace")
        elif ctype == b"zTXt":
            value = _inflate(rest[1:], budget).decode("latin-1")
        else:  # iTXt: compression flag, method, language\0, translated keyword\0, text
            flag = rest[0]
            _lang, _, tail = rest[2:].partition(b"\x00")
            _translated, _, raw = tail.partition(b"\x00")
            value = (_inflate(raw, budget) if flag else raw).decode("utf-8", "replace")
    except (IndexError, zlib.error, ValueError):
        return None
    return TextChunk(type=ctype.decode("latin-1"), key=key, value=value)


def _inflate(raw: bytes, budget: int) -> bytes:
    d = zlib.decompressobj()
    out = d.decompress(raw, budget)
    if d.unconsumed_tail:
        raise ValueError("text chunk inflates beyond the limit")  # a zip bomb: skip it
    return out
