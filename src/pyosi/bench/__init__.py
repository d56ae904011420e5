"""Benchmarks: how well watermarks survive what platforms, editors and screenshots do to media.

    from pyosi.bench import STANDARD_SUITE, get_attack, jpeg, resize, compose
    attacked = get_attack("social")(rgb_uint8_array, seed=0)
    mine = compose("mine", resize(0.8), jpeg(60))

``pyosi bench image`` (:mod:`pyosi.bench.image`) runs pyosi and invisible-watermark's methods side
by side over the standard suite. Heavy dependencies are imported only when a benchmark runs.
"""

from pyosi.bench.attacks import (
    ATTACKS,
    STANDARD_SUITE,
    Attack,
    Step,
    blur,
    brightness,
    compose,
    contrast,
    crop,
    get_attack,
    greyscale,
    hflip,
    identity,
    jpeg,
    noise,
    parse_attacks,
    resize,
    rotate,
    webp,
)

__all__ = [
    "ATTACKS",
    "STANDARD_SUITE",
    "Attack",
    "Step",
    "blur",
    "brightness",
    "compose",
    "contrast",
    "crop",
    "get_attack",
    "greyscale",
    "hflip",
    "identity",
    "jpeg",
    "noise",
    "parse_attacks",
    "resize",
    "rotate",
    "webp",
]
