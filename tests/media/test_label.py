"""Visible labels: size, legibility on any background, Hangul glyphs, modes kept."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from pyosi.media.label import MIN_TEXT_FRACTION, draw_label, label_text, missing_glyphs


@pytest.mark.parametrize("language", ["ko", "en", "both"])
def test_font_has_every_glyph_of_every_label(language: str) -> None:
    for edited in (False, True):
        text = label_text(language, edited=edited)  # type: ignore[arg-type]
        assert missing_glyphs(text) == ""
    assert missing_glyphs("AI 생성 · 漢") == "漢"  # the check itself works


def _changed_box(before: Image.Image, after: Image.Image) -> tuple[int, int, int, int]:
    diff = np.any(np.asarray(before) != np.asarray(after), axis=-1)
    ys, xs = np.nonzero(diff)
    return int(xs.min()), int(ys.min()), int(xs.max()), int(ys.max())


@pytest.mark.parametrize("size", [(640, 480), (300, 900), (1600, 1200)])
def test_text_height_at_least_5_percent(size: tuple[int, int]) -> None:
    base = Image.new("RGB", size, (128, 128, 128))
    out = draw_label(base, "AI 생성", corner="bottom-left")
    # White text pixels only (the plate is dark): their vertical extent is the ink height.
    a = np.asarray(out).astype(int)
    white = np.all(a > 230, axis=-1)
    ys = np.nonzero(white.any(axis=1))[0]
    assert ys.max() - ys.min() + 1 >= MIN_TEXT_FRACTION * min(size)
    x0, _y0, _x1, y1 = _changed_box(base, out)
    assert x0 < size[0] / 2 and y1 > size[1] / 2  # bottom-left corner


@pytest.mark.parametrize("background", [(0, 0, 0), (255, 255, 255), (250, 40, 40)])
def test_readable_on_any_background(background: tuple[int, int, int]) -> None:
    base = Image.new("RGB", (800, 600), background)
    out = np.asarray(draw_label(base, "AI-generated")).astype(float)
    luma = out @ [0.299, 0.587, 0.114]
    box = luma[: int(600 * 0.2), int(800 * 0.5) :]  # top-right corner region
    text = box[box > 230]
    plate = box[box < 60]
    assert text.size > 200 and plate.size > 2000

    # WCAG contrast of white text on the dark plate stays well above 7:1 on every background.
    def rel(v: float) -> float:
        c = v / 255
        return c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4

    assert (rel(float(np.median(text))) + 0.05) / (rel(float(np.median(plate))) + 0.05) > 7


def test_modes_and_size_are_kept() -> None:
    rgba = Image.new("RGBA", (400, 300), (10, 200, 10, 0))
    out = draw_label(rgba, "AI 생성")
    assert out.mode == "RGBA" and out.size == rgba.size
    alpha = np.asarray(out.getchannel("A"))
    assert alpha.max() > 200 and alpha[-1, 0] == 0  # badge opaque, the rest keeps its alpha
    grey = draw_label(Image.new("L", (400, 300), 90), "AI")
    assert grey.mode == "L"


def test_too_narrow_image_is_refused() -> None:
    with pytest.raises(ValueError, match="does not fit"):
        draw_label(Image.new("RGB", (60, 1000)), label_text("both"))
