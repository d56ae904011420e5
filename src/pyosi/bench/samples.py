"""Test images: the colour photos bundled with scikit-image (nothing is downloaded), or a folder."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, UnidentifiedImageError

from pyosi.bench.attacks import ImageArray
from pyosi.errors import PyosiError

#: The colour photos scikit-image ships inside its wheel, in report order.
SAMPLE_NAMES: tuple[str, ...] = (
    "astronaut",
    "chelsea",
    "coffee",
    "hubble_deep_field",
    "rocket",
    "retina",
    "immunohistochemistry",
    "motorcycle_left",
    "motorcycle_right",
)


@dataclass(frozen=True)
class NamedImage:
    name: str
    pixels: ImageArray

    @property
    def megapixels(self) -> float:
        return float(self.pixels.shape[0] * self.pixels.shape[1]) / 1e6


def _skimage_data(extra: str) -> Any:
    try:
        import skimage.data
    except ImportError:
        raise PyosiError(
            f"the sample photos come with scikit-image: pip install 'pyosi[{extra}]'"
        ) from None
    return skimage.data


def sample_images(names: Sequence[str] | None = None, *, extra: str = "demo") -> list[NamedImage]:
    """The named sample photos (all of :data:`SAMPLE_NAMES` by default) as RGB uint8 arrays.

    ``extra`` is the pyosi extra named in the error when scikit-image is missing.
    """
    wanted = tuple(SAMPLE_NAMES if names is None else names)
    unknown = [n for n in wanted if n not in SAMPLE_NAMES]
    if unknown:
        raise PyosiError(f"unknown sample image(s) {unknown}; choose from {list(SAMPLE_NAMES)}")
    data = _skimage_data(extra)
    loaders: dict[str, Callable[[], Any]] = {
        "motorcycle_left": lambda: data.stereo_motorcycle()[0],
        "motorcycle_right": lambda: data.stereo_motorcycle()[1],
    }
    out = []
    for name in wanted:
        pixels = loaders[name]() if name in loaders else getattr(data, name)()
        out.append(NamedImage(name, np.ascontiguousarray(pixels[..., :3], dtype=np.uint8)))
    return out


def folder_images(folder: str | Path) -> tuple[list[NamedImage], list[str]]:
    """Every image Pillow can read in ``folder`` (not recursive), as RGB; plus the files skipped."""
    root = Path(folder)
    if not root.is_dir():
        raise PyosiError(f"{root} is not a folder of images")
    images, skipped = [], []
    for path in sorted(p for p in root.iterdir() if p.is_file()):
        try:
            with Image.open(path) as im:
                pixels = np.array(im.convert("RGB"), dtype=np.uint8)
        except (UnidentifiedImageError, OSError, ValueError):
            skipped.append(path.name)
            continue
        images.append(NamedImage(path.name, pixels))
    return images, skipped
