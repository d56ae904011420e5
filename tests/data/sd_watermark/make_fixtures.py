"""Regenerate the Stable Diffusion invisible-watermark fixtures in this folder.

The marks are made by the real encoder, ``imwatermark.WatermarkEncoder`` from PyPI
``invisible-watermark==0.2.0``, called the way each pipeline calls it (see README.md). It needs
PyWavelets, OpenCV, numpy, Pillow and scikit-image; torch is not needed (only imwatermark's
rivaGan imports it, so a stub module stands in when torch is missing)::

    python -m venv /tmp/iwm && /tmp/iwm/bin/pip install invisible-watermark==0.2.0 --no-deps
    /tmp/iwm/bin/pip install PyWavelets opencv-python-headless numpy pillow scikit-image
    /tmp/iwm/bin/python tests/data/sd_watermark/make_fixtures.py

Sources, as read for this script:

* ``sd_v1.png``: CompVis/stable-diffusion ``scripts/txt2img.py`` (also Stability-AI/stablediffusion
  for v2): ``wm_encoder.set_watermark("bytes", "StableDiffusionV1".encode("utf-8"))`` and
  ``put_watermark``: ``cv2.cvtColor(np.array(img), cv2.COLOR_RGB2BGR)``, ``encode(img, "dwtDct")``,
  ``Image.fromarray(img[:, :, ::-1])``, then ``img.save(...png)``.
* ``sdxl.png``: diffusers 0.19-0.27 ``pipelines/stable_diffusion_xl/watermark.py``
  ``StableDiffusionXLWatermarker.apply_watermark`` (RGB float32 passed as if BGR), then
  ``VaeImageProcessor.postprocess(output_type="pil")``: denormalize, ``pt_to_numpy``,
  ``numpy_to_pil`` (``(images * 255).round().astype("uint8")``).
* ``sdxl_bgr.png``: the same from diffusers 0.28.0 on (PR #7013 flips RGB to BGR before
  ``encode`` and back after).

The torch steps are float32 element-wise operations, mirrored here in numpy float32 (IEEE
results are the same). A skimage photo stands in for the VAE output: ``x / 255 * 2 - 1``.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
import types
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray
from PIL import Image

HERE = Path(__file__).resolve().parent
SD_V1_TEXT = "StableDiffusionV1"
# diffusers/pipelines/stable_diffusion_xl/watermark.py
SDXL_WATERMARK_MESSAGE = 0b101100111110110010010000011110111011000110011110
SDXL_WATERMARK_BITS = [int(bit) for bit in bin(SDXL_WATERMARK_MESSAGE)[2:]]


def _imwatermark() -> Any:
    if "torch" not in sys.modules and importlib.util.find_spec("torch") is None:
        sys.modules["torch"] = types.ModuleType("torch")  # only rivaGan uses it
    import imwatermark

    return imwatermark


def _skimage_data() -> Any:
    return importlib.import_module("skimage.data")  # untyped, like imwatermark


def _encoder(kind: str, content: Any) -> Any:
    encoder = _imwatermark().WatermarkEncoder()
    encoder.set_watermark(kind, content)
    return encoder


def mark_sd_v1(rgb: NDArray[np.uint8]) -> Image.Image:
    """scripts/txt2img.py put_watermark() on a PIL image."""
    import cv2

    wm_encoder = _encoder("bytes", SD_V1_TEXT.encode("utf-8"))
    img = Image.fromarray(rgb)
    bgr = cv2.cvtColor(np.array(img), cv2.COLOR_RGB2BGR)
    bgr = wm_encoder.encode(bgr, "dwtDct")
    return Image.fromarray(np.asarray(bgr[:, :, ::-1], dtype=np.uint8))


def mark_sdxl(rgb: NDArray[np.uint8], *, flip_to_bgr: bool) -> Image.Image:
    """diffusers StableDiffusionXLWatermarker.apply_watermark + VaeImageProcessor.postprocess."""
    encoder = _encoder("bits", SDXL_WATERMARK_BITS)
    # The decoded latents: NCHW float32 in [-1, 1].
    images = (rgb.astype(np.float32) / np.float32(255) * 2 - 1).transpose(2, 0, 1)[None]
    # apply_watermark
    hwc = (255 * (images / 2 + 0.5)).transpose(0, 2, 3, 1)  # .permute(0, 2, 3, 1).float().numpy()
    if flip_to_bgr:
        hwc = hwc[:, :, :, ::-1]
        marked = [encoder.encode(image, "dwtDct")[:, :, ::-1] for image in hwc]
    else:
        marked = [encoder.encode(image, "dwtDct") for image in hwc]
    out = np.array(marked).transpose(0, 3, 1, 2)
    assert out.dtype == np.float32
    out = np.clip(2 * (out / 255 - 0.5), -1.0, 1.0)
    # postprocess: denormalize, pt_to_numpy, numpy_to_pil
    out = np.clip(out / 2 + 0.5, 0, 1).transpose(0, 2, 3, 1)
    return Image.fromarray((out * 255).round().astype("uint8")[0])


def coffee_512() -> NDArray[np.uint8]:
    """skimage's coffee (400x600) scaled to 512 rows and cropped to the middle 512 columns."""
    photo = Image.fromarray(np.asarray(_skimage_data().coffee(), dtype=np.uint8))
    scaled = photo.resize((768, 512), Image.Resampling.LANCZOS)
    return np.asarray(scaled, dtype=np.uint8)[:, 128:640].copy()


def decoded_agreement(path: Path, message: list[int], rgb_as_bgr: bool) -> int:
    """Bits of ``message`` that imwatermark's own decoder reads back from ``path``."""
    rgb = np.asarray(Image.open(path).convert("RGB"))
    bgr = np.ascontiguousarray(rgb if rgb_as_bgr else rgb[:, :, ::-1])
    bits = _imwatermark().WatermarkDecoder("bits", len(message)).decode(bgr, "dwtDct")
    return int(np.count_nonzero(np.asarray(bits, dtype=bool) == np.asarray(message, dtype=bool)))


def main() -> None:
    astronaut = np.asarray(_skimage_data().astronaut(), dtype=np.uint8)  # already 512x512
    coffee = coffee_512()
    v1_bits = [int(b) for b in np.unpackbits(np.frombuffer(SD_V1_TEXT.encode(), np.uint8))]
    jobs = [
        ("sd_v1.png", mark_sd_v1(astronaut), v1_bits, False),
        ("sdxl.png", mark_sdxl(coffee, flip_to_bgr=False), SDXL_WATERMARK_BITS, True),
        ("sdxl_bgr.png", mark_sdxl(coffee, flip_to_bgr=True), SDXL_WATERMARK_BITS, False),
    ]
    for name, image, message, rgb_as_bgr in jobs:
        path = HERE / name
        image.save(path)  # Pillow defaults, as the pipelines save
        agree = decoded_agreement(path, message, rgb_as_bgr)
        size = path.stat().st_size
        print(f"{name}: {size} bytes; imwatermark decodes {agree}/{len(message)} bits")


if __name__ == "__main__":
    main()
