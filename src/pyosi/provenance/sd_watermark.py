"""Read the invisible watermarks that Stable Diffusion pipelines embed with ``invisible-watermark``.

Both marks are written by ``imwatermark.WatermarkEncoder.encode(image, "dwtDct")`` from
invisible-watermark 0.2.0 (PyPI), whose decoder (``imwatermark/maxDct.py``, ``EmbedMaxDct.decode``
with its defaults ``scales=[0, 36, 36]`` and ``block=4``) :func:`decode_dwtdct_bits` re-implements
bit for bit with numpy and OpenCV only:

1. ``cv2.cvtColor(bgr, COLOR_BGR2YUV)`` on the 8-bit image; only U is read, because the loop runs
   over channels 0 and 1 and the scale of Y is 0 (V is never touched).
2. U is cropped to multiples of 4 rows and columns and given a one-level 2-D Haar DWT
   (``pywt.dwt2(..., "haar")``); only the approximation band cA is used.
3. cA is cut into 4x4 blocks in row-major order; block ``k`` carries message bit ``k % n_bits``.
   Despite the method's name there is no DCT: within each block the entry of largest magnitude,
   the top-left one excluded, is taken, and the block votes 1 when ``|value| mod 36 > 18``.
   (The encoder moved that entry to ``36 * floor(|value| / 36) + 9`` for 0, ``+ 27`` for 1.)
4. Each bit is the mean of its votes, read as 1 when ``mean * 255 > 127``.

The known messages:

* Stable Diffusion v1/v2, CompVis/Stability ``scripts/txt2img.py``: the bytes of
  ``"StableDiffusionV1"`` (136 bits), embedded in an 8-bit image in correct BGR order.
* Stable Diffusion XL in diffusers, ``pipelines/stable_diffusion_xl/watermark.py``
  (``StableDiffusionXLWatermarker``): the 48 bits of ``0xB3EC907BB19E`` (copied there from
  Stability-AI/generative-models), embedded in a float32 image in [0, 255]. diffusers 0.27 and
  earlier pass RGB as if it were BGR; 0.28.0 and later (PR #7013) flip it to BGR first.

:func:`detect_sd_watermarks` decodes each message as its pipeline wrote it, which is not always
what imwatermark's own decoder does, for two reasons:

* OpenCV's float YUV centres U on 0.5 rather than 128, so the encoder's cA is the 8-bit
  decoder's cA minus 255. Where U < 128 (warm colours: skin, wood, sunsets) the marked entry is
  negative there, and the 8-bit decoder reads its residue inverted; SDXL is therefore decoded
  from float YUV.
* A 0 moves the peak down by up to 27, often below its neighbours, so its block reads a random
  unmarked entry, while a 1 mostly stays the peak: 0-bits vote 1 far more often than 1-bits vote
  0. Each bit is therefore thresholded at the mean vote fraction over all bits, not at 1/2.

The chance probability models the decoded bits of an unmarked image as fair coins. On 600
unmarked crops of scikit-image photos (four hypotheses each), 0.46% of the per-hypothesis tail
probabilities fell below 0.01 and 0.08% below 0.001, in line with that model.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Literal

import cv2
import numpy as np
from numpy.typing import NDArray

#: ``pywt.Wavelet("haar").dec_lo[0]``; the same float64 products as PyWavelets are needed for
#: bit-exact decoding (the exact mean, (a + b + c + d) / 2, differs in the last bit and flips
#: ties of the arg-max and votes that sit exactly on the 18 threshold).
_HAAR = 0.7071067811865476
_SCALE = 36.0  # EmbedMaxDct's scale for U
_BLOCK = 4  # EmbedMaxDct's block size, in cA samples
#: WatermarkEncoder.encode and WatermarkDecoder.decode refuse anything with fewer pixels.
MIN_PIXELS = 256 * 256

SD_V1_NAME = "Stable Diffusion v1/v2"
SDXL_NAME = "Stable Diffusion XL (diffusers)"
#: ``WatermarkEncoder.set_watermark("bytes", "StableDiffusionV1".encode("utf-8"))``
SD_V1_BITS: NDArray[np.bool_] = np.unpackbits(
    np.frombuffer(b"StableDiffusionV1", dtype=np.uint8)
).astype(bool)
#: ``WatermarkEncoder.set_watermark("bits", [int(b) for b in bin(WATERMARK_MESSAGE)[2:]])``
SDXL_MESSAGE = 0b101100111110110010010000011110111011000110011110
SDXL_BITS: NDArray[np.bool_] = np.array([c == "1" for c in bin(SDXL_MESSAGE)[2:]], dtype=bool)

_Domain = Literal["uint8", "float32"]
#: Each message with the pixel type its pipeline hands to the encoder.
_MESSAGES: tuple[tuple[str, NDArray[np.bool_], _Domain], ...] = (
    (SD_V1_NAME, SD_V1_BITS, "uint8"),
    (SDXL_NAME, SDXL_BITS, "float32"),
)
_ORDERS: tuple[Literal["bgr", "rgb"], ...] = ("bgr", "rgb")
#: Message and channel-order hypotheses that each image is tested against (for the union bound).
N_HYPOTHESES = len(_MESSAGES) * len(_ORDERS)


@dataclass(frozen=True)
class SDWatermarkMatch:
    name: str  # SD_V1_NAME or SDXL_NAME
    bits_agree: int
    n_bits: int
    #: P(at least bits_agree of n_bits agree by chance), times N_HYPOTHESES (union bound).
    chance_probability: float
    #: "bgr": the encoder was given true BGR; "rgb": it was given RGB as if BGR.
    channel_order: str


def _check_image(image: NDArray[np.uint8]) -> None:
    if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
        raise ValueError(f"expected an HxWx3 uint8 image, got {image.shape} {image.dtype}")


def _haar_approx(u: NDArray[np.number[Any]]) -> NDArray[np.float64]:
    """cA of ``pywt.dwt2(u, "haar")`` for even-sized ``u``; bit for bit for uint8 ``u``.

    PyWavelets filters axis 0 first, then axis 1, each output being ``h*x[2i+1] + h*x[2i]`` in
    float64. Even sizes mean its boundary extension never comes into play. Scaling before
    adding keeps every product and sum the same as pywt's, with fewer temporaries.
    """
    x = u.astype(np.float64)
    x *= _HAAR
    rows = x[1::2] + x[0::2]
    rows *= _HAAR
    ca: NDArray[np.float64] = rows[:, 1::2] + rows[:, 0::2]
    return ca


def _votes(ca: NDArray[np.float64]) -> NDArray[np.bool_]:
    """One vote per 4x4 cA block, in the encoder's (row-major) block order; overwrites ``ca``.

    imwatermark reads the entry at the first arg-max of |entry| over the block, top-left entry
    excluded; only that entry's magnitude matters, and it is simply the maximum, which strided
    element-wise maxima find without gathering blocks.
    """
    nby, nbx = ca.shape[0] // _BLOCK, ca.shape[1] // _BLOCK
    mag = np.abs(ca, out=ca)[: nby * _BLOCK, : nbx * _BLOCK]
    right = np.maximum(np.maximum(mag[:, 1::4], mag[:, 2::4]), mag[:, 3::4])  # columns 1-3
    full = np.maximum(right, mag[:, 0::4])
    peak = np.maximum(np.maximum(right[0::4], full[1::4]), np.maximum(full[2::4], full[3::4]))
    votes: NDArray[np.bool_] = np.remainder(peak.ravel(), _SCALE) > 0.5 * _SCALE
    return votes


def _ca_uint8(image: NDArray[np.uint8], to_yuv: int) -> NDArray[np.float64]:
    """cA of U as imwatermark computes it from an 8-bit image.

    ``to_yuv`` is COLOR_BGR2YUV, or COLOR_RGB2YUV for an RGB array (equal to COLOR_BGR2YUV on
    its flipped copy, without the copy).
    """
    h, w = image.shape[:2]
    yuv = np.asarray(cv2.cvtColor(image, to_yuv))
    return _haar_approx(yuv[: h // 4 * 4, : w // 4 * 4, 1])


def _float_u_map() -> tuple[NDArray[np.float64], float]:
    """(weights of B, G, R; offset) of U in OpenCV's float BGR->YUV, which is affine."""
    probe = np.array([[[1, 0, 0], [0, 1, 0], [0, 0, 1], [0, 0, 0]]], np.float32)
    u = np.asarray(cv2.cvtColor(probe, cv2.COLOR_BGR2YUV), np.float64)[0, :, 1]
    return u[:3] - u[3], float(u[3])


_FLOAT_U_WEIGHTS, _FLOAT_U_OFFSET = _float_u_map()


def _pixel_pair_sums(rgb: NDArray[np.uint8]) -> NDArray[np.float64]:
    """Per-channel sums over the 2x2 pixel squares that make up one cA sample."""
    h, w = rgb.shape[:2]
    x = rgb[: h // 4 * 4, : w // 4 * 4]
    rows = np.add(x[0::2], x[1::2], dtype=np.uint16)
    return np.add(rows[:, 0::2], rows[:, 1::2], dtype=np.float64)


def _ca_float(sums: NDArray[np.float64], order: Literal["bgr", "rgb"]) -> NDArray[np.float64]:
    """cA of U as imwatermark computes it from a float image with these pixel values.

    U is affine in the pixels there, so cA = (sum of U over the 2x2 square) / 2 follows from
    the channel sums without converting the whole image to float (float32 rounding aside,
    which this decoder does not need to match).
    """
    b, g, r = _FLOAT_U_WEIGHTS
    if order == "rgb":  # the encoder took R for B and B for R
        b, r = r, b
    ca: NDArray[np.float64] = (
        r * sums[..., 0] + g * sums[..., 1] + b * sums[..., 2] + 4 * _FLOAT_U_OFFSET
    )
    ca *= 0.5
    return ca


def _vote_counts(
    votes: NDArray[np.bool_], n_bits: int
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Votes for 1 and all votes, per message bit."""
    bit_of_block = np.arange(len(votes)) % n_bits
    ones = np.bincount(bit_of_block[votes], minlength=n_bits).astype(np.float64)
    total = np.bincount(bit_of_block, minlength=n_bits).astype(np.float64)
    return ones, total


def decode_dwtdct_bits(bgr: NDArray[np.uint8], n_bits: int) -> NDArray[np.bool_]:
    """``WatermarkDecoder("bits", n_bits).decode(bgr, "dwtDct")`` of invisible-watermark 0.2.0.

    ``bgr`` is an HxWx3 uint8 image in OpenCV (BGR) channel order. Raises ValueError where
    imwatermark raises (fewer than 256*256 pixels).
    """
    _check_image(bgr)
    if n_bits < 1:
        raise ValueError("n_bits must be positive")
    if bgr.shape[0] * bgr.shape[1] < MIN_PIXELS:
        raise ValueError("image too small: dwtDct needs at least 256*256 pixels")
    ca = _ca_uint8(np.ascontiguousarray(bgr), cv2.COLOR_BGR2YUV)
    ones, total = _vote_counts(_votes(ca), n_bits)
    bits = np.zeros(n_bits, dtype=bool)
    # imwatermark's mean of an empty vote list is NaN, and NaN * 255 > 127 is False.
    seen = total > 0
    bits[seen] = ones[seen] / total[seen] * 255 > 127
    return bits


def _decode_adaptive(votes: NDArray[np.bool_], n_bits: int) -> NDArray[np.bool_] | None:
    """Bits read against the mean vote fraction (see the module docstring); None if a bit has
    no block (only in images a few pixels high)."""
    ones, total = _vote_counts(votes, n_bits)
    if not np.all(total > 0):
        return None
    fraction = ones / total
    bits: NDArray[np.bool_] = fraction > fraction.mean()
    return bits


def _upper_tail(k: int, n: int) -> float:
    """P(X >= k) for X ~ Binomial(n, 1/2), exactly (n is at most a few hundred)."""
    return sum(math.comb(n, i) for i in range(max(k, 0), n + 1)) / (1 << n)


def detect_sd_watermarks(
    rgb: NDArray[np.uint8], max_chance: float = 1e-6
) -> list[SDWatermarkMatch]:
    """Known Stable Diffusion dwtDct marks in an HxWx3 uint8 RGB image, most certain first.

    Every known message is decoded under both channel orders; a match is reported when its
    chance probability (binomial tail, union-bounded over N_HYPOTHESES) is at most
    ``max_chance``. Images under 256*256 pixels cannot carry the mark and give no matches.
    """
    _check_image(rgb)
    if rgb.shape[0] * rgb.shape[1] < MIN_PIXELS:
        return []
    matches: list[SDWatermarkMatch] = []
    rgb = np.ascontiguousarray(rgb)
    sums = _pixel_pair_sums(rgb)
    for order in _ORDERS:
        for name, message, domain in _MESSAGES:
            if domain == "uint8":
                # "rgb" means the encoder saw RGB as if it were BGR.
                ca = _ca_uint8(rgb, cv2.COLOR_RGB2YUV if order == "bgr" else cv2.COLOR_BGR2YUV)
            else:
                ca = _ca_float(sums, order)
            bits = _decode_adaptive(_votes(ca), len(message))
            if bits is None:
                continue
            n = len(message)
            agree = int(np.count_nonzero(bits == message))
            chance = min(1.0, N_HYPOTHESES * _upper_tail(agree, n))
            if chance <= max_chance:
                matches.append(SDWatermarkMatch(name, agree, n, chance, order))
    return sorted(matches, key=lambda m: m.chance_probability)
