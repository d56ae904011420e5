"""Writing images: output checks, mode conversion for the target format, atomic replacement."""

from __future__ import annotations

import contextlib
import io
import os
import secrets
from collections.abc import Callable
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np
from PIL import Image, ImageCms

from pyosi.errors import OutputError

# Modes each format stores as they are; others are converted by prepare_for_format. Formats not
# listed get the image as it is and Pillow decides.
_STORABLE = {
    "JPEG": frozenset({"1", "L", "RGB", "CMYK"}),
    "PNG": frozenset({"1", "L", "LA", "I", "I;16", "RGB", "RGBA"}),
    "WEBP": frozenset({"RGB", "RGBA"}),
    "TIFF": frozenset({"1", "L", "LA", "RGB", "RGBA", "CMYK", "I;16", "I;16B", "I", "F"}),
    "BMP": frozenset({"1", "L", "RGB", "RGBA"}),
    "GIF": frozenset({"1", "L", "P", "RGB", "RGBA"}),
}
_ALPHA_MODES = frozenset({"RGBA", "LA", "RGBa", "La", "PA"})
_HIGH_BIT_MODES = frozenset({"I;16", "I;16L", "I;16B", "I;16N", "I", "F"})
# ICC colour-space signature (header bytes 16-20) each mode needs.
_ICC_SPACE = {"RGB": b"RGB ", "RGBA": b"RGB ", "CMYK": b"CMYK", "L": b"GRAY", "LA": b"GRAY"}


def same_file(a: str | os.PathLike[str], b: str | os.PathLike[str]) -> bool:
    """Whether two paths name the same existing file (through links, case-folding, ``..``)."""
    try:
        return Path(a).samefile(b)
    except OSError:
        return Path(a).resolve() == Path(b).resolve()


def check_output(
    target: Path,
    *,
    input_path: Path | None = None,
    overwrite: bool = False,
    overwrite_input: bool = False,
) -> None:
    """Raise :class:`OutputError` if ``target`` cannot or must not be written.

    Cheap, so callers can run it before expensive work; :func:`atomic_save` re-checks at the end.
    """
    if target.is_dir():
        raise OutputError(f"{target} is a directory; give an output file name")
    if not target.parent.is_dir():
        raise OutputError(f"cannot write {target}: directory {target.parent} does not exist")
    if input_path is not None and same_file(input_path, target):
        if not overwrite_input:
            raise OutputError(
                f"{target} is the input file; refusing to overwrite it (use --overwrite-input)"
            )
    elif (target.exists() or target.is_symlink()) and not overwrite:
        raise OutputError(f"{target} exists; refusing to overwrite it (use --force)")


def atomic_save(
    image: Image.Image, target: Path, fmt: str, params: dict[str, Any], *, replace: bool
) -> None:
    """Encode ``image`` to ``target`` atomically (see :func:`atomic_write`)."""
    atomic_write(target, lambda f: image.save(f, format=fmt, **params), replace=replace)


def atomic_write_bytes(target: Path, data: bytes, *, replace: bool, mode: int = 0o666) -> None:
    """Write ``data`` to ``target`` atomically (see :func:`atomic_write`)."""
    atomic_write(target, lambda f: f.write(data), replace=replace, mode=mode)


def atomic_write(
    target: Path, writer: Callable[[BinaryIO], object], *, replace: bool, mode: int = 0o666
) -> None:
    """Write to a temporary file beside ``target``, fsync it, then move it into place.

    On any failure the temporary file is removed, so ``target`` is either untouched or complete.
    Without ``replace`` an existing ``target`` is never overwritten, even one created meanwhile.
    ``mode`` applies from creation (0o600 for secrets: never readable by others, even briefly).
    """
    tmp = target.with_name(f".{target.name}.{secrets.token_hex(4)}.tmp")
    created = False
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
        created = True
        with os.fdopen(fd, "wb") as f:
            writer(f)
            f.flush()
            os.fsync(f.fileno())
        _publish(tmp, target, replace=replace)
    except BaseException as e:
        if created:
            tmp.unlink(missing_ok=True)
        if isinstance(e, OutputError) or not isinstance(e, Exception):
            raise
        reason = e.strerror if isinstance(e, OSError) and e.strerror else (str(e) or repr(e))
        raise OutputError(f"cannot write {target}: {reason}") from None
    _fsync_dir(target.parent)


def _publish(tmp: Path, target: Path, *, replace: bool) -> None:
    if replace:
        tmp.replace(target)
        return
    try:
        target.hardlink_to(tmp)  # fails if target exists: no check-then-replace race
    except FileExistsError:
        raise OutputError(f"{target} exists; refusing to overwrite it (use --force)") from None
    except OSError:  # file systems without hard links
        if target.exists():
            raise OutputError(f"{target} exists; refusing to overwrite it (use --force)") from None
        tmp.replace(target)
    else:
        tmp.unlink()


def _fsync_dir(directory: Path) -> None:
    # Makes the rename durable; not possible on every platform, and the data is already safe.
    with contextlib.suppress(OSError):
        fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def prepare_for_format(
    image: Image.Image, fmt: str, icc: bytes | None
) -> tuple[Image.Image, bytes | None]:
    """Convert ``image`` to a mode ``fmt`` stores, with the ICC profile that still fits it."""
    try:
        out, icc = _convert(image, fmt, icc)
    except (ValueError, OSError) as e:
        raise OutputError(f"cannot store a {image.mode} image as {fmt}: {e}") from None
    space = _ICC_SPACE.get(out.mode)
    if icc is not None and space is not None and icc[16:20] != space:
        icc = None  # a profile for another colour space would misdescribe the pixels
    return out, icc


def _convert(im: Image.Image, fmt: str, icc: bytes | None) -> tuple[Image.Image, bytes | None]:
    if im.mode in {"P", "PA"} and fmt != "GIF":
        im = im.convert("RGBA" if im.has_transparency_data else "RGB")
    storable = _STORABLE.get(fmt)
    if storable is None or im.mode in storable:
        return im, icc
    if im.mode in _ALPHA_MODES and not storable & _ALPHA_MODES:
        alpha = im.getchannel(im.getbands()[-1])
        if alpha.getextrema() != (255, 255):
            raise OutputError(
                f"{fmt} cannot store transparency; save as .png or .webp to keep the alpha channel"
            )
        im = im.convert("L" if im.mode in {"LA", "La"} else "RGB")  # fully opaque: lossless
    if im.mode in _HIGH_BIT_MODES:
        im = _to_8bit(im, fmt)
    if im.mode == "CMYK" and "CMYK" not in storable:
        im, icc = _cmyk_to_rgb(im, icc)
    if im.mode not in storable:
        im = im.convert("RGBA" if im.mode in _ALPHA_MODES else "RGB")
    return im, icc


def _to_8bit(im: Image.Image, fmt: str) -> Image.Image:
    """Scale 16-bit, 32-bit or float grey to 8 bits (Pillow's own convert clips instead)."""
    a = np.asarray(im, dtype=np.float64)
    lo, hi = (float(a.min()), float(a.max())) if a.size else (0.0, 0.0)
    if im.mode.startswith("I;16") or (lo >= 0 and 255 < hi <= 65535):
        scale = 255 / 65535
    elif im.mode == "F" and lo >= 0 and hi <= 1:
        scale = 255.0
    elif lo >= 0 and hi <= 255:
        scale = 1.0
    else:
        raise OutputError(
            f"cannot fit {im.mode} values {lo:g}..{hi:g} into 8-bit {fmt}; save as .tif instead"
        )
    return Image.fromarray(np.clip(np.rint(a * scale), 0, 255).astype(np.uint8))


def _cmyk_to_rgb(im: Image.Image, icc: bytes | None) -> tuple[Image.Image, bytes | None]:
    """CMYK to sRGB through the image's profile when it has one; Pillow's naive formula if not."""
    if icc is not None:
        with contextlib.suppress(ImageCms.PyCMSError, OSError):
            srgb = ImageCms.createProfile("sRGB")
            src = ImageCms.ImageCmsProfile(io.BytesIO(icc))
            out = ImageCms.profileToProfile(im, src, srgb, outputMode="RGB")
            if out is not None:
                return out, ImageCms.ImageCmsProfile(srgb).tobytes()
    return im.convert("RGB"), None
