"""Public image watermark API: any ndarray or Pillow image in, same type and size out.

The mark lives in luma; colour images get it spread along the luma weights. Pillow modes are handled
at their own precision (16-bit and float greyscale), alpha is kept, and modes that cannot hold a
fine signal (palette, bilevel) come back as RGB(A) / L.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, TypeVar, cast

import numpy as np
from numpy.typing import NDArray
from PIL import Image

from pyosi.errors import ImageTooSmallError, InvalidPayloadError, UnsupportedMediaError
from pyosi.watermark.detect import detect_luma
from pyosi.watermark.detection import Detection
from pyosi.watermark.embed import luma_delta
from pyosi.watermark.keys import WatermarkKey
from pyosi.watermark.pattern import F32, KeyedTile

PAYLOAD_BYTES = 8
MIN_IMAGE_SIDE = 128
DEFAULT_FALSE_ALARM_LIMIT = 1e-6

ImageT = TypeVar("ImageT", np.ndarray[Any, Any], Image.Image)

_LUMA = np.array([0.299, 0.587, 0.114], dtype=np.float32)  # ITU-R 601, as Pillow's convert("L")
#: Per-channel share of a luma change: along the luma weights, the smallest RGB change (in mean
#: squared error) that moves luma by one unit.
_SPREAD = _LUMA / np.float32(np.dot(_LUMA, _LUMA))
#: Mean squared RGB error per unit of squared luma change when spread that way.
_SPREAD_MSE = float(np.dot(_SPREAD, _SPREAD) / 3.0)
_VIA_RGB = {"CMYK", "YCbCr", "LAB", "HSV"}


def _check_size(h: int, w: int) -> None:
    if min(h, w) < MIN_IMAGE_SIDE:
        raise ImageTooSmallError(
            f"image is {w}×{h} pixels; a watermark needs at least {MIN_IMAGE_SIDE}×{MIN_IMAGE_SIDE}"
        )


def _colour_channels(arr: NDArray[Any]) -> int:
    """How many leading channels hold colour: 1 for grey (+alpha), 3 for RGB (+alpha)."""
    return 1 if arr.ndim == 2 or arr.shape[2] <= 2 else 3


def _luma(arr: NDArray[Any]) -> F32:
    if arr.ndim == 2:
        return arr.astype(np.float32)
    if _colour_channels(arr) == 1:
        return arr[..., 0].astype(np.float32)
    return cast(F32, arr[..., :3].astype(np.float32) @ _LUMA)


def _luma8(arr: NDArray[Any]) -> tuple[F32, float]:
    """Luma in 8-bit units, and the factor the array's own units are scaled by."""
    peak = _peak(arr)
    luma = _luma(arr)
    return (luma if peak == 1.0 else luma / np.float32(peak)), peak


def _peak(arr: NDArray[Any]) -> float:
    """Scale of the sample values relative to 8-bit (the mark is designed in 8-bit units)."""
    if arr.dtype == np.uint8:
        return 1.0
    if arr.dtype == np.uint16:
        return 257.0
    if np.issubdtype(arr.dtype, np.floating):
        return 1.0 / 255.0 if float(np.nanmax(arr)) <= 1.0 else 1.0
    return 257.0 if int(arr.max()) > 255 else 1.0


def _achromatic(arr: NDArray[Any]) -> bool:
    """True when R, G and B are equal everywhere (a grey picture stored as colour)."""
    red = arr[..., 0]
    return bool(np.array_equal(red, arr[..., 1]) and np.array_equal(red, arr[..., 2]))


def _apply(arr: NDArray[Any], delta: F32, spread: bool) -> NDArray[Any]:
    """Add the luma change to the colour channels (not alpha), clipped to the dtype's range.

    With ``spread`` (the caller's choice, for three colour channels), they get it along the luma
    weights (:data:`_SPREAD`): G changes most, B least, and luma by exactly ``delta``; otherwise
    every channel changes alike.
    """
    out = arr.copy()
    colour = out if out.ndim == 2 else out[..., : _colour_channels(out)]
    chans = [colour] if colour.ndim == 2 else [colour[..., c] for c in range(colour.shape[2])]
    shares = [float(w) for w in _SPREAD] if spread else [1.0] * len(chans)
    if np.issubdtype(arr.dtype, np.integer):
        info = np.iinfo(arr.dtype)
        wide = np.int32 if arr.dtype.itemsize >= 2 else np.int16
        alike: NDArray[Any] | None = None if spread else np.rint(delta).astype(wide)
        for ch, share in zip(chans, shares, strict=True):
            # Without the spread every channel gets the same change: rounded once.
            d = alike if alike is not None else np.rint(delta * np.float32(share)).astype(wide)
            ch[...] = np.clip(ch.astype(wide) + d, info.min, info.max)
    else:
        top = 1.0 if float(np.nanmax(arr)) <= 1.0 else 255.0
        for ch, share in zip(chans, shares, strict=True):
            ch[...] = np.clip(ch + delta * np.float32(share), 0.0, top)
    return out


def _embed_array(arr: NDArray[Any], payload: bytes, key: WatermarkKey, strength: float) -> Any:
    if arr.ndim not in (2, 3) or (arr.ndim == 3 and arr.shape[2] not in (1, 2, 3, 4)):
        raise UnsupportedMediaError(
            f"expected an H×W or H×W×C (C = 1 to 4) image array, got shape {arr.shape}"
        )
    if arr.dtype == np.bool_ or not (
        np.issubdtype(arr.dtype, np.integer) or np.issubdtype(arr.dtype, np.floating)
    ):
        raise UnsupportedMediaError(f"unsupported image array dtype {arr.dtype}")
    squeeze = arr.ndim == 3 and arr.shape[2] == 1
    work = arr[..., 0] if squeeze else arr
    _check_size(work.shape[0], work.shape[1])
    luma, peak = _luma8(work)
    chips = KeyedTile.for_key(key).chip_grid(payload)
    # A grey picture stored as RGB stays grey: the same change on every channel.
    spread = _colour_channels(work) == 3 and not _achromatic(work)
    delta = luma_delta(luma, chips, strength, _SPREAD_MSE if spread else 1.0)
    if peak != 1.0:
        delta *= np.float32(peak)
    out = _apply(work, delta, spread)
    return out[..., None] if squeeze else out


def _embed_pil(img: Image.Image, payload: bytes, key: WatermarkKey, strength: float) -> Image.Image:
    mode = img.mode
    if mode in ("P", "PA"):
        has_alpha = mode == "PA" or "transparency" in img.info
        img = img.convert("RGBA" if has_alpha else "RGB")
    elif mode == "1":
        img = img.convert("L")
    elif mode in _VIA_RGB:
        img = img.convert("RGB")
    elif mode == "La":
        img = img.convert("LA")
    elif mode == "RGBa":
        img = img.convert("RGBA")
    work_mode = img.mode
    arr = np.asarray(img)
    marked = _embed_array(arr, payload, key, strength)
    out = Image.fromarray(marked)
    if out.mode != work_mode:
        out = out.convert(work_mode)
    if mode in _VIA_RGB:
        out = out.convert(mode)
    out.info.update({k: v for k, v in img.info.items() if k in ("icc_profile", "dpi", "exif")})
    return out


def _validate_payload(payload: bytes) -> bytes:
    if not isinstance(payload, bytes | bytearray) or len(payload) != PAYLOAD_BYTES:
        raise InvalidPayloadError(f"payload must be exactly {PAYLOAD_BYTES} bytes")
    return bytes(payload)


def embed_image(
    image: ImageT, payload: bytes, key: WatermarkKey, *, strength: float = 1.0
) -> ImageT:
    """Embed an 8-byte ``payload`` under ``key``; returns the same type, size and mode family.

    ``strength`` scales the amplitude (1.0 is tuned for PSNR ≥ 40 dB); raise it for robustness,
    lower it for fidelity.
    """
    payload = _validate_payload(payload)
    if not 0.0 < strength <= 10.0:
        raise ValueError(f"strength must be in (0, 10], not {strength}")
    if not isinstance(key, WatermarkKey):
        raise TypeError("key must be a WatermarkKey")
    if isinstance(image, Image.Image):
        image.load()
        return _embed_pil(image, payload, key, strength)
    if isinstance(image, np.ndarray):
        return cast(ImageT, _embed_array(image, payload, key, strength))
    raise UnsupportedMediaError(f"expected a numpy array or PIL image, got {type(image).__name__}")


def to_luma(image: np.ndarray[Any, Any] | Image.Image) -> F32:
    """The luma plane detection works on, in 8-bit units, from any array or Pillow image."""
    if isinstance(image, Image.Image):
        image.load()
        if image.mode not in ("I;16", "I;16B", "I;16L", "I", "F", "L", "RGB"):
            image = image.convert("RGBA" if "A" in image.getbands() else "RGB")
        arr: NDArray[Any] = np.asarray(image)
    elif isinstance(image, np.ndarray):
        arr = image[..., 0] if image.ndim == 3 and image.shape[2] == 1 else image
        if arr.ndim not in (2, 3):
            raise UnsupportedMediaError(f"expected an image array, got shape {image.shape}")
    else:
        raise UnsupportedMediaError(
            f"expected a numpy array or PIL image, got {type(image).__name__}"
        )
    return _luma8(arr)[0]


def detect_image(
    image: np.ndarray[Any, Any] | Image.Image,
    keys: Sequence[WatermarkKey] | WatermarkKey,
    *,
    false_alarm_limit: float = DEFAULT_FALSE_ALARM_LIMIT,
) -> Detection:
    """Look for a mark made with any of ``keys``. Needs no original, size or orientation hint."""
    key_list = [keys] if isinstance(keys, WatermarkKey) else list(keys)
    if not key_list:
        raise ValueError("detect_image needs at least one key")
    luma = to_luma(image)
    _check_size(*luma.shape)
    return detect_luma(luma, key_list, false_alarm_limit)
