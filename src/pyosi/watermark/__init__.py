"""Invisible, keyed, self-synchronising watermarks.

    from pyosi.watermark import WatermarkKey, embed_image, detect_image
    key = WatermarkKey.generate()
    marked = embed_image(image, payload=b"8 bytes!", key=key)
    d = detect_image(marked, keys=[key])
    d.detected, d.payload, d.key_id, d.false_alarm_probability

See ``docs/watermark.md`` for the design and how the false-alarm probability is computed.
"""

from pyosi.watermark.detection import Detection
from pyosi.watermark.image import (
    DEFAULT_FALSE_ALARM_LIMIT,
    MIN_IMAGE_SIDE,
    PAYLOAD_BYTES,
    detect_image,
    embed_image,
)
from pyosi.watermark.keys import WatermarkKey

__all__ = [
    "DEFAULT_FALSE_ALARM_LIMIT",
    "MIN_IMAGE_SIDE",
    "PAYLOAD_BYTES",
    "Detection",
    "WatermarkKey",
    "detect_image",
    "embed_image",
]
