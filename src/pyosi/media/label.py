"""Visible AI labels: a badge in a corner that stays legible on any background.

Korea's AI Basic Act wants realistic deepfakes labelled visibly and China's GB 45438 sets the
text at ≥ 5% of the short side; the badge's text is sized so its *ink* height (cap and Hangul
height, not the font's nominal size) is at least that. Legibility on any background comes from
contrast, not colour choice: white text on a near-opaque dark plate with a thin light rim, so the
badge separates from both dark and light surroundings.
"""

from __future__ import annotations

import functools
from importlib import resources
from typing import Literal

from PIL import Image, ImageDraw, ImageFont

LabelLanguage = Literal["ko", "en", "both"]
Corner = Literal["top-left", "top-right", "bottom-left", "bottom-right"]

TEXTS = {"ko": "AI 생성", "en": "AI-generated"}
EDITED_TEXTS = {"ko": "AI로 편집됨", "en": "AI-edited"}
MIN_TEXT_FRACTION = 0.05  # ink height / short side
_FONT = "PyosiLabelSans-Bold.ttf"
_PLATE = (20, 20, 24)
_PLATE_ALPHA = 225
_RIM = (255, 255, 255, 150)
_TEXT = (255, 255, 255, 255)


@functools.cache
def _font_bytes() -> bytes:
    return resources.files("pyosi.media").joinpath("fonts", _FONT).read_bytes()


def font(size: int) -> ImageFont.FreeTypeFont:
    """The bundled label font (Hangul and Latin) at ``size`` pixels."""
    import io

    return ImageFont.truetype(io.BytesIO(_font_bytes()), size)


def label_text(language: LabelLanguage, *, edited: bool = False) -> str:
    texts = EDITED_TEXTS if edited else TEXTS
    return f"{texts['ko']} · {texts['en']}" if language == "both" else texts[language]


def missing_glyphs(text: str) -> str:
    """Characters of ``text`` the bundled font cannot draw (they would render as boxes)."""
    cmap = _cmap()
    return "".join(sorted({c for c in text if not c.isspace() and ord(c) not in cmap}))


@functools.cache
def _cmap() -> frozenset[int]:
    import io

    from fontTools.ttLib import TTFont

    return frozenset(TTFont(io.BytesIO(_font_bytes()))["cmap"].getBestCmap())


def draw_label(
    image: Image.Image,
    text: str,
    *,
    corner: Corner = "top-right",
    text_fraction: float = MIN_TEXT_FRACTION,
) -> Image.Image:
    """Return a copy of ``image`` with ``text`` on a badge in ``corner``; mode and size kept."""
    missing = missing_glyphs(text)
    if missing:
        raise ValueError(f"the label font has no glyphs for {missing!r}")
    short = min(image.size)
    target_ink = max(8.0, text_fraction * short)
    # Ink height depends on the glyphs; measure at a reference size and scale once, then nudge
    # up until the rendered ink really reaches the target (rounding can leave it a pixel short).
    probe = font(100)
    size = max(8, int(100 * target_ink / _ink_height(probe, text)) + 1)
    fnt = font(size)
    while _ink_height(fnt, text) < target_ink:
        size += 1
        fnt = font(size)
    left, top, right, bottom = fnt.getbbox(text)
    pad_x, pad_y = round(0.45 * target_ink), round(0.35 * target_ink)
    margin = round(0.4 * target_ink)
    bw, bh = right - left + 2 * pad_x, bottom - top + 2 * pad_y
    if bw + 2 * margin > image.width:
        raise ValueError(f"a {text!r} label does not fit a {image.width}-pixel-wide image")
    x = margin if corner.endswith("left") else image.width - margin - bw
    y = margin if corner.startswith("top") else image.height - margin - bh
    overlay = Image.new("RGBA", image.size, (0, 0, 0, 0))
    draw = ImageDraw.Draw(overlay)
    radius = round(0.3 * bh)
    rim = max(1, round(0.06 * target_ink))
    draw.rounded_rectangle(
        (x, y, x + bw - 1, y + bh - 1),
        radius=radius,
        fill=(*_PLATE, _PLATE_ALPHA),
        outline=_RIM,
        width=rim,
    )
    draw.text((x + pad_x - left, y + pad_y - top), text, font=fnt, fill=_TEXT)
    return _composite(image, overlay)


def _ink_height(fnt: ImageFont.FreeTypeFont, text: str) -> float:
    _left, top, _right, bottom = fnt.getbbox(text)
    return float(bottom - top)


def _composite(image: Image.Image, overlay: Image.Image) -> Image.Image:
    mode = image.mode
    if mode in {"RGB", "RGBA"}:
        base = image.convert("RGBA")
        out = Image.alpha_composite(base, overlay)
        if mode == "RGB":
            return out.convert("RGB")
        # Keep the original alpha outside the badge; the badge itself is opaque enough to read.
        alpha = Image.composite(out.getchannel("A"), image.getchannel("A"), overlay.getchannel("A"))
        out.putalpha(alpha)
        return out
    if mode in {"L", "LA"}:
        rgb = _composite(image.convert("RGBA" if mode == "LA" else "RGB"), overlay)
        return rgb.convert(mode)
    raise ValueError(f"cannot label a {mode} image; convert it to RGB first")
