"""Image file I/O: format round trips, colour modes, metadata, limits and damaged input."""

from __future__ import annotations

import io
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageCms, ImageFile

from pyosi.errors import (
    CorruptMediaError,
    MediaError,
    MediaTooLargeError,
    PyosiError,
    UnsupportedMediaError,
)
from pyosi.media import load_image, save_image, supported_extensions


def _psnr(a: Image.Image, b: Image.Image) -> float:
    x = np.asarray(a.convert("RGB"), dtype=np.float64)
    y = np.asarray(b.convert("RGB"), dtype=np.float64)
    mse = float(np.mean((x - y) ** 2))
    return float("inf") if mse == 0 else 10 * np.log10(255**2 / mse)


# -- round trips -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("ext", "fmt", "min_psnr"),
    [
        ("png", "PNG", float("inf")),
        ("tif", "TIFF", float("inf")),
        ("bmp", "BMP", float("inf")),
        ("jpg", "JPEG", 35.0),
        ("webp", "WEBP", 30.0),
        ("gif", "GIF", 20.0),
    ],
)
def test_round_trip(
    tmp_path: Path, small_photo: Image.Image, ext: str, fmt: str, min_psnr: float
) -> None:
    written = save_image(small_photo, tmp_path / f"out.{ext}")
    loaded = load_image(written)
    assert (loaded.format, loaded.image.size, loaded.path) == (fmt, small_photo.size, written)
    assert loaded.size_bytes == written.stat().st_size
    assert _psnr(small_photo, loaded.image) >= min_psnr


@pytest.mark.parametrize("fmt", ["PPM", "TGA", "PCX", "SGI", "QOI", "JPEG2000", "DDS"])
def test_loads_other_pillow_formats(tmp_path: Path, small_photo: Image.Image, fmt: str) -> None:
    path = tmp_path / "image.bin"  # no telling extension: identified by content
    small_photo.save(path, format=fmt)
    loaded = load_image(path)
    assert loaded.format == fmt
    assert loaded.image.size == small_photo.size


def test_content_wins_over_extension(tmp_path: Path, small_photo: Image.Image) -> None:
    path = tmp_path / "really-a-png.jpg"
    small_photo.save(path, format="PNG")
    assert load_image(path).format == "PNG"


def test_load_from_bytes(small_photo: Image.Image) -> None:
    buf = io.BytesIO()
    small_photo.save(buf, format="PNG")
    loaded = load_image(buf.getvalue())
    assert (loaded.path, loaded.name, loaded.size_bytes) == (None, "<bytes>", len(buf.getvalue()))
    assert np.array_equal(np.asarray(loaded.image), np.asarray(small_photo))


def test_supported_extensions() -> None:
    exts = supported_extensions()
    assert {".jpg", ".jpeg", ".png", ".webp", ".tif", ".tiff", ".gif", ".bmp"} <= exts
    assert ".eps" not in exts  # decoding EPS would run Ghostscript on untrusted input


# -- colour modes ----------------------------------------------------------------------------


def _rgba(small_photo: Image.Image) -> Image.Image:
    rgba = small_photo.convert("RGBA")
    ramp = np.tile(np.linspace(0, 255, rgba.width, dtype=np.uint8), (rgba.height, 1))
    rgba.putalpha(Image.fromarray(ramp))
    return rgba


@pytest.mark.parametrize("ext", ["png", "webp", "tif"])
def test_rgba_alpha_kept(tmp_path: Path, small_photo: Image.Image, ext: str) -> None:
    rgba = _rgba(small_photo)
    loaded = load_image(save_image(rgba, tmp_path / f"a.{ext}"))
    assert loaded.image.mode == "RGBA"
    alpha = np.asarray(loaded.image.getchannel("A"), dtype=int)
    assert np.abs(alpha - np.asarray(rgba.getchannel("A"), dtype=int)).max() <= 1


def test_alpha_to_jpeg_is_refused(tmp_path: Path, small_photo: Image.Image) -> None:
    with pytest.raises(PyosiError, match=r"transparency.*\.png"):
        save_image(_rgba(small_photo), tmp_path / "a.jpg")
    assert list(tmp_path.iterdir()) == []


def test_opaque_alpha_to_jpeg_is_dropped(tmp_path: Path, small_photo: Image.Image) -> None:
    loaded = load_image(save_image(small_photo.convert("RGBA"), tmp_path / "a.jpg"))
    assert loaded.image.mode == "RGB"


def test_palette_image(tmp_path: Path, small_photo: Image.Image) -> None:
    pal = small_photo.quantize(64)
    pal.save(tmp_path / "p.gif")
    loaded = load_image(tmp_path / "p.gif")
    assert loaded.image.mode == "P"
    out = load_image(save_image(loaded.image, tmp_path / "p.png"))
    assert out.image.mode == "RGB"  # palettes are written as true colour
    assert np.array_equal(np.asarray(out.image), np.asarray(pal.convert("RGB")))


def test_palette_with_transparency_becomes_rgba(tmp_path: Path, small_photo: Image.Image) -> None:
    pal = small_photo.quantize(16)
    pal.info["transparency"] = 0
    out = load_image(save_image(pal, tmp_path / "p.png"))
    assert out.image.mode == "RGBA"
    assert out.image.getchannel("A").getextrema() == (0, 255)


def test_cmyk_jpeg(tmp_path: Path, small_photo: Image.Image) -> None:
    small_photo.convert("CMYK").save(tmp_path / "c.jpg", quality=95)
    loaded = load_image(tmp_path / "c.jpg")
    assert (loaded.format, loaded.image.mode) == ("JPEG", "CMYK")
    assert load_image(save_image(loaded.image, tmp_path / "c2.jpg")).image.mode == "CMYK"
    as_png = load_image(save_image(loaded.image, tmp_path / "c.png", like=loaded))
    assert as_png.image.mode == "RGB"
    assert _psnr(small_photo, as_png.image) > 30


def test_16_bit_png(tmp_path: Path) -> None:
    ramp = np.linspace(0, 65535, 128 * 96).astype(np.uint16).reshape(96, 128)
    Image.fromarray(ramp).save(tmp_path / "deep.png")
    loaded = load_image(tmp_path / "deep.png")
    assert loaded.image.mode == "I;16"
    again = load_image(save_image(loaded.image, tmp_path / "again.png", like=loaded))
    assert np.array_equal(np.asarray(again.image), ramp)  # lossless, all 16 bits
    as_jpeg = load_image(save_image(loaded.image, tmp_path / "deep.jpg", like=loaded))
    assert as_jpeg.image.mode == "L"
    expected = ramp.astype(np.float64) / 257  # scaled, not clipped at 255
    assert np.abs(np.asarray(as_jpeg.image, dtype=np.float64) - expected).mean() < 2


# -- metadata --------------------------------------------------------------------------------


def test_exif_rotated_jpeg_loads_as_displayed(tmp_path: Path) -> None:
    stored = Image.new("RGB", (60, 30), "red")
    stored.paste((0, 0, 255), (30, 0, 60, 30))  # left red, right blue as stored
    exif = Image.Exif()
    exif[0x0112] = 6  # display rotated 90 degrees clockwise
    exif[0x010F] = "pyosi-test-camera"
    stored.save(tmp_path / "rot.jpg", exif=exif, quality=95)

    loaded = load_image(tmp_path / "rot.jpg")
    assert loaded.image.size == (30, 60)
    top, bottom = loaded.image.getpixel((15, 5)), loaded.image.getpixel((15, 55))
    assert isinstance(top, tuple) and isinstance(bottom, tuple)
    assert top[0] > 200 > top[2]  # the stored left (red) edge is now at the top
    assert bottom[2] > 200 > bottom[0]
    assert loaded.exif is not None
    reread = Image.Exif()
    reread.load(loaded.exif)
    assert (reread[0x0112], reread[0x010F]) == (1, "pyosi-test-camera")

    # Saving keeps the pixels upright and the EXIF says so: no second rotation by viewers.
    again = load_image(save_image(loaded.image, tmp_path / "again.jpg", like=loaded))
    assert again.image.size == (30, 60)
    assert again.image.getexif()[0x0112] == 1


@pytest.mark.parametrize("ext", ["jpg", "png", "webp", "tif"])
def test_icc_and_exif_preserved(tmp_path: Path, small_photo: Image.Image, ext: str) -> None:
    icc = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    exif = Image.Exif()
    exif[0x010F] = "pyosi-test-camera"
    small_photo.save(tmp_path / "src.jpg", icc_profile=icc, exif=exif)
    loaded = load_image(tmp_path / "src.jpg")
    assert loaded.icc_profile == icc

    out = save_image(loaded.image, tmp_path / f"out.{ext}", like=loaded)
    assert load_image(out).icc_profile == icc
    with Image.open(out) as im:
        assert im.getexif().get(0x010F) == "pyosi-test-camera"


def test_cmyk_profile_dropped_for_rgb_output(tmp_path: Path, small_photo: Image.Image) -> None:
    fake_cmyk_profile = bytes(16) + b"CMYK" + bytes(108)
    small_photo.convert("CMYK").save(tmp_path / "c.jpg", icc_profile=fake_cmyk_profile)
    loaded = load_image(tmp_path / "c.jpg")
    out = load_image(save_image(loaded.image.convert("RGB"), tmp_path / "c.png", like=loaded))
    assert out.icc_profile is None  # a CMYK profile would misdescribe RGB pixels


def test_lossless_webp_stays_lossless(tmp_path: Path, small_photo: Image.Image) -> None:
    small_photo.save(tmp_path / "ll.webp", lossless=True)
    loaded = load_image(tmp_path / "ll.webp")
    assert loaded.lossless
    out = load_image(save_image(loaded.image, tmp_path / "out.webp", like=loaded))
    assert out.lossless
    assert np.array_equal(np.asarray(out.image), np.asarray(small_photo))
    small_photo.save(tmp_path / "lossy.webp", quality=80)
    assert not load_image(tmp_path / "lossy.webp").lossless


def test_animated_gif_loads_first_frame(tmp_path: Path, small_photo: Image.Image) -> None:
    frames = [small_photo, small_photo.rotate(90), small_photo.rotate(180)]
    frames[0].save(tmp_path / "anim.gif", save_all=True, append_images=frames[1:])
    loaded = load_image(tmp_path / "anim.gif")
    assert loaded.n_frames == 3
    assert _psnr(loaded.image, frames[0]) > _psnr(loaded.image, frames[2]) + 5


# -- bad input -------------------------------------------------------------------------------


def test_empty_file(tmp_path: Path) -> None:
    (tmp_path / "empty.png").write_bytes(b"")
    with pytest.raises(CorruptMediaError, match="is empty"):
        load_image(tmp_path / "empty.png")


@pytest.mark.parametrize("fmt", ["JPEG", "PNG"])
def test_truncated_file(tmp_path: Path, small_photo: Image.Image, fmt: str) -> None:
    buf = io.BytesIO()
    small_photo.save(buf, format=fmt)
    path = tmp_path / "cut.img"
    path.write_bytes(buf.getvalue()[: len(buf.getvalue()) // 2])
    assert ImageFile.LOAD_TRUNCATED_IMAGES is False
    with pytest.raises(CorruptMediaError, match=r"cut\.img is truncated or damaged"):
        load_image(path)


def test_damaged_header_is_corrupt_not_unsupported(tmp_path: Path) -> None:
    (tmp_path / "bad.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"\x00" * 40)
    with pytest.raises(CorruptMediaError, match="looks like PNG"):
        load_image(tmp_path / "bad.png")


def test_huge_header_refused_before_decoding(
    tmp_path: Path, png_header_only: Callable[[int, int], bytes]
) -> None:
    (tmp_path / "bomb.png").write_bytes(png_header_only(100_000, 100_000))
    with pytest.raises(MediaTooLargeError, match=r"bomb\.png"):
        load_image(tmp_path / "bomb.png")
    # Under Pillow's own hard limit: our check must still stop it before the (missing) pixels
    # are read, which would otherwise report a truncated file.
    (tmp_path / "big.png").write_bytes(png_header_only(10_000, 10_000))
    with pytest.raises(MediaTooLargeError, match="10000x10000 pixels is over the limit"):
        load_image(tmp_path / "big.png", max_pixels=50_000_000)


def test_pixel_limit_argument_and_env(
    tmp_path: Path, small_photo: Image.Image, monkeypatch: pytest.MonkeyPatch
) -> None:
    small_photo.save(tmp_path / "p.png")  # 96x64 = 6144 pixels
    with pytest.raises(MediaTooLargeError, match="96x64 pixels is over the limit of 6,000"):
        load_image(tmp_path / "p.png", max_pixels=6000)
    monkeypatch.setenv("PYOSI_MAX_PIXELS", "6000")
    with pytest.raises(MediaTooLargeError, match="PYOSI_MAX_PIXELS"):
        load_image(tmp_path / "p.png")
    assert load_image(tmp_path / "p.png", max_pixels=6144).image.size == (96, 64)
    monkeypatch.setenv("PYOSI_MAX_PIXELS", "lots")
    with pytest.raises(PyosiError, match="PYOSI_MAX_PIXELS must be a positive whole number"):
        load_image(tmp_path / "p.png")


def test_our_limit_replaces_pillows_bomb_warning(
    tmp_path: Path, small_photo: Image.Image, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Over Pillow's warning threshold (which pytest turns into an error) but within ours.
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 4000)
    small_photo.save(tmp_path / "p.png")
    assert load_image(tmp_path / "p.png").image.size == (96, 64)


def test_text_file_named_jpg(tmp_path: Path) -> None:
    (tmp_path / "notes.jpg").write_text("just some notes, not a picture\n" * 20)
    with pytest.raises(UnsupportedMediaError, match=r"notes\.jpg is not an image"):
        load_image(tmp_path / "notes.jpg")


def test_directory(tmp_path: Path) -> None:
    with pytest.raises(MediaError, match="is a directory"):
        load_image(tmp_path)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(MediaError, match=r"nope\.png: no such file"):
        load_image(tmp_path / "nope.png")
