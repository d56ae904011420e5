"""PSNR for arrays and for Pillow images of any mode."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from pyosi.media.quality import psnr, psnr_arrays


def test_psnr_images() -> None:
    a = Image.new("RGB", (16, 16), (100, 100, 100))
    b = Image.new("RGB", (16, 16), (101, 100, 100))
    assert psnr(a, a) == float("inf")
    assert psnr(a, b) == pytest.approx(10 * np.log10(255**2 * 3))


def test_psnr_sixteen_bit_uses_its_own_peak() -> None:
    a = Image.fromarray(np.full((8, 8), 1000, np.uint16))
    b = Image.fromarray(np.full((8, 8), 1001, np.uint16))
    assert psnr(a, b) == pytest.approx(10 * np.log10(65535.0**2))


def test_psnr_palette_against_rgb() -> None:
    pal = Image.new("RGB", (8, 8), (10, 20, 30)).convert("P")
    assert psnr(pal, pal.convert("RGB")) == float("inf")


def test_psnr_arrays() -> None:
    a = np.zeros((4, 4, 3), np.uint8)
    assert psnr_arrays(a, a + 1) == pytest.approx(10 * np.log10(255.0**2))
