"""Embedding: a perceptually masked, tiled chip pattern added to luma.

The tile period scales with the image (TILES_PER_SIDE tiles across the short side, at least
MIN_PERIOD pixels), so a mark made on a large photo survives being downscaled for the web.
The caller spreads the luma change over the colour channels (:mod:`pyosi.watermark.image`), so
greyscale conversion keeps it exactly.
"""

from __future__ import annotations

import math

import cv2
import numpy as np

from pyosi.watermark.pattern import CHIPS, F32, shape_chips

TILES_PER_SIDE = 5.0
MIN_PERIOD = 64.0
#: Amplitude (grey levels) in flat areas, in textured ones, and the texture gain between. The
#: gain is steep and the ceiling low: moderately textured areas hide a change well and carry it
#: through JPEG far better per unit of error than busy texture, where the host drowns it anyway.
AMP_FLAT = 1.0
AMP_MAX = 5.5
TEXTURE_GAIN = 0.975
#: Whatever the texture, the mark never costs more than this (PSNR, dB); rounding included.
MIN_PSNR = 40.05


def tile_period(height: int, width: int) -> float:
    return max(MIN_PERIOD, min(height, width) / TILES_PER_SIDE)


def render(chips: F32, height: int, width: int, period: float) -> F32:
    """The chip pattern, bilinearly interpolated between chip centres, at pixel resolution."""
    chip = period / CHIPS
    reps_y = math.ceil(height / period) + 1
    reps_x = math.ceil(width / period) + 1
    tiled = np.tile(chips, (reps_y, reps_x))
    out_h = round(reps_y * period)
    out_w = round(reps_x * period)
    big = cv2.resize(tiled, (out_w, out_h), interpolation=cv2.INTER_LINEAR)
    # Start half a chip in so the replicated border of the tiled array stays outside the image.
    off = round(chip / 2)
    return np.ascontiguousarray(big[off : off + height, off : off + width], dtype=np.float32)


def mask(luma: F32, texture_boost: float = 1.0) -> F32:
    """Per-pixel luma amplitude: small on flat areas and skies, larger where texture hides it.
    ``texture_boost`` scales the texture part (not the flat-area floor)."""
    smooth = cv2.GaussianBlur(luma, (0, 0), 1.0)
    detail = luma - smooth
    activity = np.sqrt(cv2.GaussianBlur(detail * detail, (0, 0), 2.0))
    amp = AMP_FLAT + (TEXTURE_GAIN * texture_boost) * activity
    return np.minimum(amp, AMP_MAX * texture_boost, out=amp)


def luma_delta(luma: F32, chips: F32, strength: float = 1.0, mse_per_luma: float = 1.0) -> F32:
    """The luma change that carries ``chips``. ``mse_per_luma`` is the mean squared error per
    colour channel that one unit of squared luma change costs (1 when every channel changes
    alike; less when the change is spread along the luma weights): textured areas take the
    same per-channel change either way, hence more luma, and the PSNR cap counts it."""
    h, w = luma.shape
    pattern = render(shape_chips(chips), h, w, tile_period(h, w))
    pattern *= mask(luma, 1.0 / math.sqrt(mse_per_luma))
    # Busy images would otherwise take a larger total change; cap the mean squared error
    # (rounding to integers adds about 1/12).
    budget = (255.0**2 / 10 ** (MIN_PSNR / 10) - 1 / 12) / mse_per_luma
    mse = float(np.mean(np.square(pattern, dtype=np.float64)))
    gain = strength * min(1.0, math.sqrt(budget / mse)) if mse > 0 else strength
    if gain != 1.0:
        pattern *= np.float32(gain)
    return pattern
