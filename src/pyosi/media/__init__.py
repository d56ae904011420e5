"""Reading and writing media files.

from pyosi.media import load_image, save_image
loaded = load_image("photo.jpg")            # content-sniffed, size-limited, EXIF-upright
save_image(loaded.image, "out.png", like=loaded)   # atomic; ICC and EXIF carried over
"""

from pyosi.media._write import check_output, same_file
from pyosi.media.image import (
    DEFAULT_MAX_PIXELS,
    DEFAULT_QUALITY,
    MAX_PIXELS_ENV,
    LoadedImage,
    encode_image,
    load_image,
    output_format,
    readable_formats,
    save_image,
    supported_extensions,
)

__all__ = [
    "DEFAULT_MAX_PIXELS",
    "DEFAULT_QUALITY",
    "MAX_PIXELS_ENV",
    "LoadedImage",
    "check_output",
    "encode_image",
    "load_image",
    "output_format",
    "readable_formats",
    "same_file",
    "save_image",
    "supported_extensions",
]
