"""Image files in and out: every raster format Pillow decodes, identified by content.

Loading sniffs the bytes (never the extension), refuses oversized headers before any pixel is
decoded, and turns every decoder failure into a :class:`~pyosi.errors.MediaError`. Animated and
multi-page files (GIF, WebP, APNG, TIFF) load their first frame only: watermarking animation is
out of scope, and ``LoadedImage.n_frames`` says what was left out. Saving is atomic (see
:func:`save_image`).
"""

from __future__ import annotations

import functools
import io
import os
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from PIL import Image, ImageOps, PngImagePlugin, UnidentifiedImageError

from pyosi.errors import (
    CorruptMediaError,
    MediaError,
    MediaTooLargeError,
    OutputError,
    PyosiError,
    UnsupportedMediaError,
)
from pyosi.media._write import atomic_save, check_output, prepare_for_format
from pyosi.media.sniff import HEAD_BYTES, open_regular, sniff_mime

DEFAULT_MAX_PIXELS = 150_000_000
MAX_PIXELS_ENV = "PYOSI_MAX_PIXELS"
DEFAULT_QUALITY = 95

# EPS is decoded by running Ghostscript, an interpreter we will not feed untrusted files; the
# others are identify-only stubs in Pillow (no pixel decoder without platform handlers).
_EXCLUDED_FORMATS = frozenset({"EPS", "BUFR", "GRIB", "HDF5", "MPEG", "WMF"})
# Pillow names a multi-picture JPEG "MPO"; it is written back as a plain JPEG.
_FORMAT_ALIASES = {"JPG": "JPEG", "TIF": "TIFF", "MPO": "JPEG"}
# Formats that hold an ICC profile and an EXIF block.
_METADATA_FORMATS = frozenset({"JPEG", "PNG", "WEBP", "TIFF"})
_LOSSY_FORMATS = frozenset({"JPEG", "MPO", "JPEG2000", "AVIF"})
_ORIENTATION = 0x0112
_MIME_NAMES = {"image/webp": "WebP"}
_TIFF_XMP_TAG = 700


@dataclass(frozen=True, slots=True, eq=False)
class LoadedImage:
    """A decoded image plus what is needed to write it back faithfully."""

    #: Fully loaded pixels, EXIF orientation applied (as a viewer displays them).
    image: Image.Image
    #: Pillow's format name: "JPEG", "PNG", "WEBP", "TIFF", "GIF", "BMP", "MPO", ...
    format: str
    path: Path | None
    icc_profile: bytes | None
    #: Raw EXIF block (JPEG, PNG, WebP; not TIFF tags), Orientation reset to 1 as the pixels are
    #: already upright.
    exif: bytes | None
    size_bytes: int
    #: Frames or pages in the file; only the first is in ``image``.
    n_frames: int = 1
    #: The source was losslessly coded (e.g. a VP8L WebP); a WebP re-save then stays lossless.
    lossless: bool = False

    @property
    def name(self) -> str:
        return str(self.path) if self.path is not None else "<bytes>"


@functools.cache
def readable_formats() -> tuple[str, ...]:
    """Pillow format names :func:`load_image` accepts, in Pillow's identification order."""
    Image.init()
    return tuple(f for f in Image.ID if f in Image.OPEN and f not in _EXCLUDED_FORMATS)


@functools.cache
def supported_extensions() -> frozenset[str]:
    """Lower-case file extensions (".jpg", ".png", ...) of readable formats, for folder scans."""
    formats = {*readable_formats(), "MPO"}
    return frozenset(ext for ext, fmt in Image.registered_extensions().items() if fmt in formats)


def load_image(
    source: str | os.PathLike[str] | bytes, *, max_pixels: int | None = None
) -> LoadedImage:
    """Decode an image file (a path) or image bytes.

    ``max_pixels`` defaults to ``$PYOSI_MAX_PIXELS`` or 150 million. Pillow's own hard limit
    (``2 * PIL.Image.MAX_IMAGE_PIXELS``, ~179 million) also applies; raise that too for more.
    """
    limit = _pixel_limit(max_pixels)
    if isinstance(source, bytes):
        return _load(io.BytesIO(source), None, len(source), limit)
    path = Path(source)
    f, size = open_regular(path)
    with f:
        return _load(f, path, size, limit)


def save_image(
    image: Image.Image,
    path: str | os.PathLike[str],
    *,
    like: LoadedImage | None = None,
    format: str | None = None,
    quality: int = DEFAULT_QUALITY,
    xmp: bytes | None = None,
    overwrite: bool = False,
    overwrite_input: bool = False,
) -> Path:
    """Write ``image`` atomically and return the path written.

    The format comes from ``format``, else the file extension, else ``like.format``. ICC profile
    and EXIF come from ``like`` (else ``image.info``) where the format can hold them; ``xmp`` is
    an XMP packet to embed (JPEG, PNG, WebP, TIFF). Modes the format cannot store are converted,
    except transparency, which is never dropped silently: an image with real alpha bound for JPEG
    raises :class:`OutputError`. An existing file is kept unless ``overwrite``; ``like``'s own
    file is kept unless ``overwrite_input``.
    """
    target = Path(path)
    fmt = output_format(target, format, like)
    check_output(
        target,
        input_path=like.path if like is not None else None,
        overwrite=overwrite,
        overwrite_input=overwrite_input,
    )
    out, params = _encoding(image, fmt, like=like, quality=quality, xmp=xmp)
    atomic_save(out, target, fmt, params, replace=overwrite or overwrite_input)
    return target


def encode_image(
    image: Image.Image,
    format: str,
    *,
    like: LoadedImage | None = None,
    quality: int = DEFAULT_QUALITY,
    xmp: bytes | None = None,
) -> bytes:
    """The bytes :func:`save_image` would write, for callers that post-process them (signing)."""
    fmt = _FORMAT_ALIASES.get(format.upper(), format.upper())
    out, params = _encoding(image, fmt, like=like, quality=quality, xmp=xmp)
    buf = io.BytesIO()
    try:
        out.save(buf, format=fmt, **params)
    except (OSError, ValueError) as e:
        raise OutputError(f"cannot encode {fmt}: {e}") from None
    return buf.getvalue()


def _encoding(
    image: Image.Image,
    fmt: str,
    *,
    like: LoadedImage | None,
    quality: int,
    xmp: bytes | None,
) -> tuple[Image.Image, dict[str, object]]:
    """The image converted for ``fmt`` and Pillow's save parameters."""
    if not 1 <= quality <= 100:
        raise OutputError(f"quality must be between 1 and 100, not {quality}")
    icc = like.icc_profile if like is not None else image.info.get("icc_profile")
    exif = like.exif if like is not None else image.info.get("exif")
    out, icc = prepare_for_format(image, fmt, icc if isinstance(icc, bytes) else None)
    params: dict[str, object] = {}
    if fmt in _METADATA_FORMATS:
        # Explicit even when None: Pillow would otherwise fall back to image.info's profile.
        params["icc_profile"] = icc
        if isinstance(exif, bytes) and exif:
            params["exif"] = exif
    if fmt == "JPEG":
        params["quality"] = quality
    elif fmt == "WEBP":
        lossless = like is not None and like.format == "WEBP" and like.lossless
        if lossless:  # exact: keep the colour under fully transparent pixels too
            params.update(lossless=True, exact=True)
        else:
            params["quality"] = quality
    elif fmt == "TIFF":
        params["compression"] = "tiff_adobe_deflate"
    if xmp is not None:
        params.update(_xmp_params(fmt, xmp))
    return out, params


def _xmp_params(fmt: str, xmp: bytes) -> dict[str, object]:
    if fmt in {"JPEG", "WEBP"}:
        return {"xmp": xmp}
    if fmt == "PNG":
        info = PngImagePlugin.PngInfo()
        # The key Adobe's XMP specification (part 3) gives for PNG: an uncompressed iTXt chunk.
        info.add_itxt("XML:com.adobe.xmp", xmp.decode("utf-8"), zip=False)
        return {"pnginfo": info}
    if fmt == "TIFF":
        return {"tiffinfo": {_TIFF_XMP_TAG: xmp}}
    raise OutputError(f"{fmt} files cannot carry XMP metadata; use .jpg, .png, .webp or .tif")


def output_format(target: Path, format: str | None, like: LoadedImage | None) -> str:
    """The Pillow format to write ``target`` in (see :func:`save_image`)."""
    Image.init()
    if format:
        fmt = _FORMAT_ALIASES.get(format.upper(), format.upper())
    elif fmt_ext := Image.registered_extensions().get(target.suffix.lower()):
        fmt = _FORMAT_ALIASES.get(fmt_ext, fmt_ext)
    elif like is not None:
        fmt = _FORMAT_ALIASES.get(like.format, like.format)
    else:
        raise OutputError(
            f"cannot tell the output format from {target.name!r}; use an extension like .png"
        )
    if fmt not in Image.SAVE:
        raise OutputError(f"cannot write {fmt} files; use .png, .jpg, .webp or .tif")
    return fmt


# -- loading ---------------------------------------------------------------------------------


def _pixel_limit(max_pixels: int | None) -> int:
    if max_pixels is not None:
        if max_pixels <= 0:
            raise ValueError("max_pixels must be positive")
        return max_pixels
    env = os.environ.get(MAX_PIXELS_ENV, "").strip()
    if not env:
        return DEFAULT_MAX_PIXELS
    try:
        limit = int(env.replace("_", ""))
    except ValueError:
        limit = 0
    if limit <= 0:
        raise PyosiError(f"{MAX_PIXELS_ENV} must be a positive whole number, not {env!r}")
    return limit


def _load(fp: IO[bytes], path: Path | None, size: int, limit: int) -> LoadedImage:
    name = str(path) if path is not None else "<bytes>"
    if size == 0:
        raise CorruptMediaError(f"{name} is empty")
    with warnings.catch_warnings():
        # Our pixel limit below replaces Pillow's DecompressionBombWarning, and Pillow's other
        # warnings (odd metadata) must neither abort a load nor leak to the user.
        warnings.simplefilter("ignore")
        try:
            im = Image.open(fp, formats=readable_formats())
        except Image.DecompressionBombError:
            raise _pillow_bomb(name, limit) from None
        except UnidentifiedImageError:
            raise _unidentified(fp, name) from None
        except Exception as e:
            raise CorruptMediaError(f"{name} is truncated or damaged ({_reason(e)})") from None
        width, height = im.size
        if width * height > limit:
            raise MediaTooLargeError(
                f"{name}: {width}x{height} pixels is over the limit of {limit:,} pixels "
                f"(raise it with {MAX_PIXELS_ENV} if the file is trusted)"
            )
        try:
            im.load()
        except Image.DecompressionBombError:
            raise _pillow_bomb(name, limit) from None
        except MemoryError:
            raise MediaTooLargeError(f"{name}: not enough memory to decode it") from None
        except Exception as e:
            raise CorruptMediaError(f"{name} is truncated or damaged ({_reason(e)})") from None
        fmt = im.format or "UNKNOWN"
        icc = im.info.get("icc_profile")
        exif = im.info.get("exif")
        try:
            orientation = im.getexif().get(_ORIENTATION, 1)
            upright = ImageOps.exif_transpose(im)
        except Exception:  # unreadable EXIF: show the pixels as stored
            upright, orientation = im.copy(), 1
    return LoadedImage(
        image=upright,
        format=fmt,
        path=path,
        icc_profile=icc if isinstance(icc, bytes) and icc else None,
        exif=_upright_exif(exif, orientation) if isinstance(exif, bytes) and exif else None,
        size_bytes=size,
        n_frames=int(getattr(im, "n_frames", 1)),
        lossless=_is_lossless(im, fp, fmt),
    )


def _pillow_bomb(name: str, limit: int) -> MediaTooLargeError:
    # Pillow refuses before it reports the size, at twice its own MAX_IMAGE_PIXELS.
    pillow = 2 * (Image.MAX_IMAGE_PIXELS or 0)
    whose = " set by PIL.Image.MAX_IMAGE_PIXELS" if limit > pillow else ""
    return MediaTooLargeError(
        f"{name} has more than {pillow:,} pixels, over the limit of {min(limit, pillow):,}{whose}"
    )


def _unidentified(fp: IO[bytes], name: str) -> MediaError:
    # A known signature means "damaged", not "not an image".
    fp.seek(0)
    mime = sniff_mime(fp.read(HEAD_BYTES)) or ""
    if mime.startswith("image/"):
        kind = _MIME_NAMES.get(mime, mime.split("/")[1].upper())
        return CorruptMediaError(f"{name} looks like {kind} but its header is damaged")
    return UnsupportedMediaError(f"{name} is not an image in a format pyosi reads")


def _reason(e: BaseException) -> str:
    return str(e) or type(e).__name__


def _upright_exif(raw: bytes, orientation: int) -> bytes | None:
    if orientation == 1:
        return raw  # untouched: re-serialising would drop the thumbnail and maker-note offsets
    try:
        exif = Image.Exif()
        exif.load(raw)
        exif[_ORIENTATION] = 1
        return exif.tobytes()
    except Exception:  # keeping the old orientation would rotate the upright pixels again
        return None


def _is_lossless(im: Image.Image, fp: IO[bytes], fmt: str) -> bool:
    if fmt == "WEBP":
        return _webp_is_lossless(fp)
    if fmt == "TIFF":
        return im.info.get("compression") not in {"jpeg", "tiff_jpeg"}
    return fmt not in _LOSSY_FORMATS


def _webp_is_lossless(fp: IO[bytes]) -> bool:
    """Whether the first image chunk of a RIFF/WebP file is VP8L (lossless)."""
    try:
        fp.seek(12)
        for _ in range(64):  # a handful of metadata chunks precede the image
            head = fp.read(8)
            if len(head) < 8:
                return False
            fourcc, size = head[:4], int.from_bytes(head[4:], "little")
            if fourcc == b"VP8L":
                return True
            if fourcc in {b"VP8 ", b"ALPH", b"ANMF"}:
                return False
            fp.seek(size + (size & 1), os.SEEK_CUR)
    except OSError:
        pass
    return False
