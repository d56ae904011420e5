"""Platform-pipeline attacks: what upload pipelines, editors and screenshots do to an image.

Every attack takes and returns an ``HxWx3`` ``uint8`` RGB array and is deterministic for a given
seed (only :func:`noise` draws random numbers). They go through Pillow the way real pipelines do:

- JPEG / WebP: a real encode + decode in memory with Pillow's defaults (JPEG 4:2:0 chroma
  subsampling, WebP method 4), the quality being the only parameter.
- Resizing uses Pillow's **bicubic** filter, the default of ``Image.resize`` and
  ``Image.thumbnail``: what a Pillow-based pipeline gets unless it asks for something else.
- Crops keep a fraction of the **area** (each side scaled by ``sqrt(area)``), so ``crop50`` keeps
  half of the pixels; ``anchor`` says which part is kept.
- Rotation: ``Image.rotate(angle, resample=BICUBIC, expand=False)``: same canvas, black corners,
  positive angles counter-clockwise.

Build attacks with other parameters from the factories (``jpeg(42)``, ``resize(0.6)``,
``crop(0.4, "topleft")``, ``compose("mine", resize(0.8), jpeg(60))``) or parse a name with
:func:`get_attack` (``"jpeg42"``, ``"rotate-5"``, ``"resize0.6+jpeg60"``).
"""

from __future__ import annotations

import io
import math
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from types import MappingProxyType
from typing import Any, Literal, cast, get_args

import numpy as np
import numpy.typing as npt
from PIL import Image, ImageEnhance, ImageFilter, ImageOps

ImageArray = npt.NDArray[np.uint8]
Seed = int | Sequence[int]
Transform = Callable[[ImageArray, np.random.Generator], ImageArray]
Anchor = Literal["center", "topleft", "topright", "bottomleft", "bottomright"]

#: Resampling filter for every resize (and rotation): Pillow's default.
RESAMPLE = Image.Resampling.BICUBIC
#: Required detection rate of the standard suite, and the lower one for its hardest attacks.
REQUIRED_RATE = 0.95
HARD_REQUIRED_RATE = 0.80


@dataclass(frozen=True)
class Step:
    """One operation of an attack: ``kind`` and ``params`` describe it, ``fn`` does it."""

    kind: str
    params: Mapping[str, float | str]
    label: str
    fn: Transform = field(repr=False, compare=False)


@dataclass(frozen=True)
class Attack:
    """A named sequence of steps, with the detection rate the benchmark requires (if any)."""

    name: str
    steps: tuple[Step, ...]
    required_rate: float | None = None

    def __call__(self, image: ImageArray, seed: Seed = 0) -> ImageArray:
        out = _checked(image)
        rng = np.random.default_rng(seed)
        for step in self.steps:
            out = step.fn(out, rng)
        return out

    @property
    def description(self) -> str:
        return ", then ".join(s.label for s in self.steps) or "unchanged"

    def requiring(self, rate: float | None) -> Attack:
        return replace(self, required_rate=rate)

    def named(self, name: str) -> Attack:
        return replace(self, name=name)

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "description": self.description,
            "steps": [{"kind": s.kind, **s.params} for s in self.steps],
            "required_rate": self.required_rate,
        }


# -- encoding helpers (also used by `pyosi demo` to write the files a user would see) ----------
def encode(image: ImageArray, fmt: Literal["JPEG", "WEBP", "PNG"], quality: int = 75) -> bytes:
    """The bytes Pillow writes for ``image`` in ``fmt`` at ``quality`` (ignored for PNG)."""
    buf = io.BytesIO()
    opts: dict[str, Any] = {} if fmt == "PNG" else {"quality": quality}
    Image.fromarray(_checked(image)).save(buf, format=fmt, **opts)
    return buf.getvalue()


def decode(data: bytes) -> ImageArray:
    with Image.open(io.BytesIO(data)) as im:
        return _to_array(im)


def _to_array(im: Image.Image) -> ImageArray:
    return np.array(im.convert("RGB"), dtype=np.uint8)


def _checked(image: ImageArray) -> ImageArray:
    if image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
        raise ValueError(f"attacks take HxWx3 uint8 RGB arrays, not {image.dtype} {image.shape}")
    return image


def _pil(fn: Callable[[Image.Image], Image.Image]) -> Transform:
    def run(image: ImageArray, _rng: np.random.Generator) -> ImageArray:
        return _to_array(fn(Image.fromarray(image)))

    return run


def _single(name: str, kind: str, label: str, fn: Transform, **params: float | str) -> Attack:
    return Attack(name, (Step(kind, MappingProxyType(dict(params)), label, fn),))


def _num(x: float) -> str:
    return f"{x:g}"


def _require(ok: bool, message: str) -> None:
    if not ok:
        raise ValueError(message)


# -- factories ---------------------------------------------------------------------------------
def identity() -> Attack:
    return Attack("none", ())


def jpeg(quality: int) -> Attack:
    _require(1 <= quality <= 100, f"JPEG quality must be 1..100, not {quality}")

    def run(image: ImageArray, _rng: np.random.Generator) -> ImageArray:
        return decode(encode(image, "JPEG", quality))

    return _single(f"jpeg{quality}", "jpeg", f"JPEG q={quality}", run, quality=quality)


def webp(quality: int) -> Attack:
    _require(1 <= quality <= 100, f"WebP quality must be 1..100, not {quality}")

    def run(image: ImageArray, _rng: np.random.Generator) -> ImageArray:
        return decode(encode(image, "WEBP", quality))

    return _single(f"webp{quality}", "webp", f"WebP q={quality}", run, quality=quality)


def resize(factor: float) -> Attack:
    """Scale both sides by ``factor`` (bicubic); named ``resizeF`` below 1, ``upscaleF`` above."""
    _require(0 < factor <= 16, f"resize factor must be in (0, 16], not {factor}")

    def scale(im: Image.Image) -> Image.Image:
        size = (max(1, round(im.width * factor)), max(1, round(im.height * factor)))
        return im.resize(size, resample=RESAMPLE)

    name = f"{'upscale' if factor > 1 else 'resize'}{_num(factor)}"
    return _single(name, "resize", f"resize ×{_num(factor)} (bicubic)", _pil(scale), factor=factor)


def crop(area: float, anchor: Anchor = "center") -> Attack:
    """Keep ``area`` of the pixels (each side × sqrt(area)), at the centre or a corner."""
    _require(0 < area <= 1, f"crop area must be in (0, 1], not {area}")
    _require(anchor in get_args(Anchor), f"crop anchor must be one of {get_args(Anchor)}")
    side = math.sqrt(area)

    def cut(im: Image.Image) -> Image.Image:
        w, h = max(1, round(im.width * side)), max(1, round(im.height * side))
        left = (im.width - w) // 2 if anchor == "center" else (im.width - w) * ("right" in anchor)
        top = (im.height - h) // 2 if anchor == "center" else (im.height - h) * ("bottom" in anchor)
        return im.crop((left, top, left + w, top + h))

    name = f"crop{_num(area * 100)}" + ("" if anchor == "center" else f"_{anchor}")
    where = (
        "centre"
        if anchor == "center"
        else anchor.replace("left", "-left").replace("right", "-right") + " corner"
    )
    label = f"{where} crop to {_num(area * 100)}% of the area"
    return _single(name, "crop", label, _pil(cut), area=area, anchor=anchor)


def rotate(degrees: float) -> Attack:
    """Rotate counter-clockwise on the same canvas (bicubic, black corners)."""

    def turn(im: Image.Image) -> Image.Image:
        return im.rotate(degrees, resample=RESAMPLE, expand=False)

    label = f"rotate {_num(degrees)}° (same canvas)"
    return _single(f"rotate{_num(degrees)}", "rotate", label, _pil(turn), degrees=degrees)


def blur(radius: float) -> Attack:
    _require(radius >= 0, f"blur radius must be >= 0, not {radius}")

    def smooth(im: Image.Image) -> Image.Image:
        return im.filter(ImageFilter.GaussianBlur(radius))

    label = f"Gaussian blur r={_num(radius)}"
    return _single(f"blur{_num(radius)}", "blur", label, _pil(smooth), radius=radius)


def noise(sigma: float) -> Attack:
    """Additive Gaussian noise of standard deviation ``sigma`` grey levels, rounded and clipped."""
    _require(sigma >= 0, f"noise sigma must be >= 0, not {sigma}")

    def add(image: ImageArray, rng: np.random.Generator) -> ImageArray:
        noisy = image.astype(np.float64) + rng.normal(0.0, sigma, image.shape)
        return np.clip(np.rint(noisy), 0, 255).astype(np.uint8)

    label = f"Gaussian noise σ={_num(sigma)}"
    return _single(f"noise{_num(sigma)}", "noise", label, add, sigma=sigma)


def _enhance(kind: str, enhancer: Callable[[Image.Image], Any], factor: float) -> Attack:
    _require(factor >= 0, f"{kind} factor must be >= 0, not {factor}")

    def run(im: Image.Image) -> Image.Image:
        return cast(Image.Image, enhancer(im).enhance(factor))

    return _single(
        f"{kind}{_num(factor)}", kind, f"{kind} ×{_num(factor)}", _pil(run), factor=factor
    )


def brightness(factor: float) -> Attack:
    return _enhance("brightness", ImageEnhance.Brightness, factor)


def contrast(factor: float) -> Attack:
    return _enhance("contrast", ImageEnhance.Contrast, factor)


def greyscale() -> Attack:
    return _single("greyscale", "greyscale", "greyscale", _pil(lambda im: im.convert("L")))


def hflip() -> Attack:
    return _single("hflip", "hflip", "horizontal flip", _pil(ImageOps.mirror))


def compose(name: str, *attacks: Attack, required_rate: float | None = None) -> Attack:
    """Apply ``attacks`` in order as one attack (one seed drives the whole chain)."""
    return Attack(name, tuple(s for a in attacks for s in a.steps), required_rate)


# -- the standard suite --------------------------------------------------------------------------
def _standard_suite() -> tuple[Attack, ...]:
    hard_names = {"jpeg30", "resize0.33", "crop25_topleft", "blur2", "hard"}
    suite = (
        identity(),
        *(jpeg(q) for q in (90, 75, 50, 30)),
        webp(60),
        *(resize(f) for f in (0.75, 0.5, 0.33, 1.5)),
        crop(0.75),
        crop(0.50),
        crop(0.25, "topleft"),
        rotate(2),
        rotate(10),
        blur(1),
        blur(2),
        noise(5),
        noise(15),
        brightness(1.3),
        brightness(0.7),
        contrast(1.5),
        greyscale(),
        hflip(),
        compose("social", resize(0.6), jpeg(75)),
        # "Crop to 80%" is of the area, like every other crop here.
        compose("screenshot", crop(0.80), resize(0.7), jpeg(70)),
        compose("hard", crop(0.60), rotate(3), resize(0.5), jpeg(50)),
    )
    return tuple(
        a.requiring(HARD_REQUIRED_RATE if a.name in hard_names else REQUIRED_RATE) for a in suite
    )


#: The standard suite, in report order, each with its required detection rate.
STANDARD_SUITE: tuple[Attack, ...] = _standard_suite()
#: Registry of the named attacks of the standard suite.
ATTACKS: Mapping[str, Attack] = MappingProxyType({a.name: a for a in STANDARD_SUITE})
if len(ATTACKS) != len(STANDARD_SUITE):
    raise RuntimeError("duplicate attack name in the standard suite")

_NUMBER = r"(-?\d+(?:\.\d+)?|-?\.\d+)"
_PARSERS: tuple[tuple[re.Pattern[str], Callable[[re.Match[str]], Attack]], ...] = (
    (re.compile(r"jpeg(\d+)"), lambda m: jpeg(int(m[1]))),
    (re.compile(r"webp(\d+)"), lambda m: webp(int(m[1]))),
    (re.compile(rf"(?:resize|upscale){_NUMBER}"), lambda m: resize(float(m[1]))),
    (
        re.compile(rf"crop{_NUMBER}(?:_({'|'.join(get_args(Anchor))}))?"),
        lambda m: crop(float(m[1]) / 100, cast(Anchor, m[2] or "center")),
    ),
    (re.compile(rf"rotate{_NUMBER}"), lambda m: rotate(float(m[1]))),
    (re.compile(rf"blur{_NUMBER}"), lambda m: blur(float(m[1]))),
    (re.compile(rf"noise{_NUMBER}"), lambda m: noise(float(m[1]))),
    (re.compile(rf"brightness{_NUMBER}"), lambda m: brightness(float(m[1]))),
    (re.compile(rf"contrast{_NUMBER}"), lambda m: contrast(float(m[1]))),
)


def get_attack(name: str) -> Attack:
    """A standard attack by name, or one built from a name such as ``jpeg42`` or ``crop40_topleft``.

    Names joined with ``+`` chain attacks (``resize0.6+jpeg60``). Only standard attacks carry a
    required rate. Raises ``ValueError`` for a name that is neither.
    """
    name = name.strip()
    if name in ATTACKS:
        return ATTACKS[name]
    if "+" in name:
        return compose(name, *(get_attack(part) for part in name.split("+")))
    for pattern, build in _PARSERS:
        if m := pattern.fullmatch(name):
            return build(m)
    raise ValueError(
        f"unknown attack {name!r}: use a standard name ({', '.join(ATTACKS)}) "
        "or a parametrised one such as jpeg42, resize0.6, crop40_topleft, rotate-5, noise8"
    )


def parse_attacks(spec: str | None) -> tuple[Attack, ...]:
    """Attacks from a comma-separated list of names; the standard suite for ``None`` or ``""``."""
    if not spec or not spec.strip():
        return STANDARD_SUITE
    return tuple(get_attack(part) for part in spec.split(",") if part.strip())
