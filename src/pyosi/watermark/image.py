"""Public image watermark API (placeholder while the core is written)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TypeVar

import numpy as np
from PIL import Image

from pyosi.watermark.detection import Detection
from pyosi.watermark.keys import WatermarkKey

PAYLOAD_BYTES = 8
MIN_IMAGE_SIDE = 128
DEFAULT_FALSE_ALARM_LIMIT = 1e-6

ImageT = TypeVar("ImageT", np.ndarray, Image.Image)


def embed_image(image: ImageT, payload: bytes, key: WatermarkKey) -> ImageT:
    raise NotImplementedError


def detect_image(
    image: np.ndarray | Image.Image,
    keys: Sequence[WatermarkKey] | WatermarkKey,
    *,
    false_alarm_limit: float = DEFAULT_FALSE_ALARM_LIMIT,
) -> Detection:
    raise NotImplementedError
