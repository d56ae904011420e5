"""How much marking changed an image: PSNR, for arrays and for Pillow images of any mode."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from numpy.typing import NDArray
from PIL import Image


def psnr_arrays(a: NDArray[Any], b: NDArray[Any], peak: float = 255.0) -> float:
    """Peak signal-to-noise ratio in dB; infinite when the arrays are identical."""
    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)) if a.size else 0.0
    return math.inf if mse == 0 else 10 * math.log10(peak**2 / mse)


def psnr(original: Image.Image, marked: Image.Image) -> float:
    """PSNR of the colour (not alpha) channels, at the images' own bit depth."""
    a, peak = _planes(original)
    b, _ = _planes(marked)
    if a.shape != b.shape:  # e.g. a palette image marked in RGB
        a, b = _planes(original.convert("RGB"))[0], _planes(marked.convert("RGB"))[0]
    return psnr_arrays(a, b, peak)


def _planes(im: Image.Image) -> tuple[NDArray[np.float64], float]:
    if im.mode.startswith("I;16") or im.mode == "I":
        return np.asarray(im, dtype=np.float64), 65535.0
    if im.mode == "F":
        a = np.asarray(im, dtype=np.float64)
        return a, 1.0 if a.size and float(a.max()) <= 1 else 255.0
    if im.mode in {"1", "L", "LA", "La"}:
        return np.asarray(im.convert("L"), dtype=np.float64), 255.0
    if im.mode == "CMYK":
        return np.asarray(im, dtype=np.float64), 255.0
    return np.asarray(im.convert("RGB"), dtype=np.float64), 255.0
