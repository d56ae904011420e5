"""pyosi (표시, "label"): mark, detect and label AI-generated media.

The public API is re-exported here; everything else is an implementation detail.
"""

from pyosi.errors import (
    ImageTooSmallError,
    InvalidKeyError,
    InvalidPayloadError,
    MediaError,
    PyosiError,
    UnsupportedMediaError,
)
from pyosi.watermark import Detection, WatermarkKey, detect_image, embed_image

__version__ = "0.1.0"

__all__ = [
    "Detection",
    "ImageTooSmallError",
    "InvalidKeyError",
    "InvalidPayloadError",
    "MediaError",
    "PyosiError",
    "UnsupportedMediaError",
    "WatermarkKey",
    "__version__",
    "detect_image",
    "embed_image",
]
