"""Stable Diffusion's invisible watermarks, on files the real encoder made (tests/data)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from pyosi.provenance.sd_watermark import decode_dwtdct_bits, detect_sd_watermarks
from pyosi.signals.base import ScanContext, Subject
from pyosi.signals.sd_watermark import SdWatermarkSignal

DATA = Path(__file__).parents[1] / "data" / "sd_watermark"
SD_V1_BITS = np.unpackbits(np.frombuffer(b"StableDiffusionV1", dtype=np.uint8)).astype(bool)


def _rgb(name: str) -> np.ndarray:
    return np.asarray(Image.open(DATA / name).convert("RGB"))


@pytest.mark.parametrize(
    ("name", "mark", "order"),
    [
        ("sd_v1.png", "Stable Diffusion v1/v2", "bgr"),
        ("sdxl.png", "Stable Diffusion XL (diffusers)", "rgb"),
        ("sdxl_bgr.png", "Stable Diffusion XL (diffusers)", "bgr"),
    ],
)
def test_real_encoder_marks_are_found(name: str, mark: str, order: str) -> None:
    matches = detect_sd_watermarks(_rgb(name))
    assert [(m.name, m.channel_order) for m in matches] == [(mark, order)]
    m = matches[0]
    assert m.bits_agree >= m.n_bits - 2 and m.chance_probability < 1e-10


def test_sd_v1_decodes_bit_exactly() -> None:
    bgr = _rgb("sd_v1.png")[:, :, ::-1]
    assert np.array_equal(decode_dwtdct_bits(np.ascontiguousarray(bgr), 136), SD_V1_BITS)


def test_unmarked_photos_give_nothing(astronaut: Image.Image) -> None:
    rgb = np.asarray(astronaut)
    assert detect_sd_watermarks(rgb) == []
    assert detect_sd_watermarks(np.ascontiguousarray(rgb[50:400, 20:500])) == []


def test_detector_reports_the_chance_probability() -> None:
    data = (DATA / "sd_v1.png").read_bytes()
    signals = SdWatermarkSignal().detect(Subject(data), ScanContext())
    assert len(signals) == 1
    s = signals[0]
    assert s.verdict.value == "generated" and s.basis.value == "watermark"
    assert "chance" in s.evidence and s.details["chance_probability"] < 1e-6


def test_small_images_are_not_an_error() -> None:
    assert detect_sd_watermarks(np.zeros((64, 64, 3), np.uint8)) == []
