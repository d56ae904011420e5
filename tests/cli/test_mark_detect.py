"""``pyosi mark image`` then ``pyosi detect``, end to end with the real watermark."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner, Result

from pyosi.cli import get_app
from pyosi.watermark import WatermarkKey

runner = CliRunner()
PAYLOAD = "0123456789abcdef"


def _invoke(*args: str | Path) -> Result:
    return runner.invoke(get_app(), [str(a) for a in args])


def _mark(src: Path, out: Path, key_file: Path, *extra: str) -> Result:
    result = _invoke("mark", "image", src, out, "--key", key_file, "--payload", PAYLOAD, *extra)
    assert "Traceback" not in result.output
    return result


def _detect_json(*args: str | Path) -> tuple[int, list[dict[str, Any]]]:
    result = _invoke("detect", *args, "--json")
    assert "Traceback" not in result.output
    return result.exit_code, [json.loads(line) for line in result.stdout.splitlines()]


@pytest.mark.parametrize("ext", ["png", "jpg", "webp"])
def test_mark_then_detect(
    tmp_path: Path, photo_png: Path, key_file: Path, key: WatermarkKey, ext: str
) -> None:
    out = tmp_path / f"marked.{ext}"
    result = _mark(photo_png, out, key_file, "--json")
    assert result.exit_code == 0, result.output
    info = json.loads(result.stdout)
    assert info["output"] == str(out)
    assert (info["key_id"], info["payload"], info["frames"]) == (key.id, PAYLOAD, 1)
    assert info["psnr_db"] > 30

    code, [found] = _detect_json(out, "--key", key_file)
    assert code == 0
    assert found["path"] == str(out)
    assert (found["detected"], found["payload"], found["key_id"]) == (True, PAYLOAD, key.id)
    assert found["false_alarm_probability"] <= 1e-6


def _rotated_jpeg(photo: Image.Image, path: Path) -> None:
    exif = Image.Exif()
    exif[0x0112] = 6  # shown rotated 90 degrees clockwise
    photo.crop((0, 0, 512, 300)).save(path, exif=exif, quality=95)


def _deep_png(photo: Image.Image, path: Path) -> None:
    Image.fromarray(np.asarray(photo.convert("L"), dtype=np.uint16) * 257).save(path)


INPUTS: dict[str, Callable[[Image.Image, Path], None]] = {
    "cmyk.jpg": lambda photo, path: photo.convert("CMYK").save(path, quality=95),
    "deep16.png": _deep_png,
    "palette.gif": lambda photo, path: photo.quantize(256).save(path),
    "rotated.jpg": _rotated_jpeg,
    "lossless.webp": lambda photo, path: photo.save(path, lossless=True),
    "photo.tif": lambda photo, path: photo.save(path),
    "photo.bmp": lambda photo, path: photo.save(path),
}


@pytest.mark.parametrize(
    ("name", "out_ext"),
    [(name, Path(name).suffix) for name in INPUTS] + [("deep16.png", ".jpg"), ("cmyk.jpg", ".png")],
)
def test_input_kinds(
    tmp_path: Path, astronaut: Image.Image, key_file: Path, name: str, out_ext: str
) -> None:
    src, out = tmp_path / name, tmp_path / f"marked{out_ext}"
    INPUTS[name](astronaut, src)
    result = _mark(src, out, key_file)
    assert result.exit_code == 0, result.output
    code, [found] = _detect_json(out, "--key", key_file)
    assert (code, found["payload"]) == (0, PAYLOAD)
    with Image.open(src) as before, Image.open(out) as after:
        shown = (300, 512) if name == "rotated.jpg" else before.size  # pixels as displayed
        assert after.size == shown


def test_text_output(tmp_path: Path, photo_png: Path, key_file: Path, key: WatermarkKey) -> None:
    out = tmp_path / "marked.png"
    marked = _mark(photo_png, out, key_file)
    assert marked.exit_code == 0, marked.output
    assert "PSNR" in marked.stdout and str(out) in marked.stdout
    detected = _invoke("detect", out, "--key", key_file)
    assert detected.exit_code == 0, detected.output
    assert "yes" in detected.stdout and PAYLOAD in detected.stdout and key.id in detected.stdout


def test_wrong_key_is_not_detected(tmp_path: Path, photo_png: Path, key_file: Path) -> None:
    assert _mark(photo_png, tmp_path / "m.png", key_file).exit_code == 0
    other = WatermarkKey.generate().save(tmp_path / "other.json")
    code, [found] = _detect_json(tmp_path / "m.png", "--key", other)
    assert code == 1
    assert (found["detected"], found["payload"], found["key_id"]) == (False, None, None)


def test_several_keys_report_the_right_one(
    tmp_path: Path, photo_png: Path, key_file: Path, key: WatermarkKey
) -> None:
    assert _mark(photo_png, tmp_path / "m.png", key_file).exit_code == 0
    other = WatermarkKey.generate().save(tmp_path / "other.json")
    code, [found] = _detect_json(tmp_path / "m.png", "--key", other, "--key", key_file)
    assert (code, found["key_id"]) == (0, key.id)


def test_unmarked_input_makes_exit_1(tmp_path: Path, photo_png: Path, key_file: Path) -> None:
    assert _mark(photo_png, tmp_path / "m.png", key_file).exit_code == 0
    code, found = _detect_json(tmp_path / "m.png", photo_png, "--key", key_file)
    assert code == 1
    assert [f["detected"] for f in found] == [True, False]


def test_unreadable_input_is_reported_and_the_run_goes_on(
    tmp_path: Path, photo_png: Path, key_file: Path
) -> None:
    assert _mark(photo_png, tmp_path / "m.png", key_file).exit_code == 0
    (tmp_path / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 not really")
    code, found = _detect_json(tmp_path / "broken.jpg", tmp_path / "m.png", "--key", key_file)
    assert code == 3
    assert found[0]["path"] == str(tmp_path / "broken.jpg")
    assert found[0]["detected"] is None and "broken.jpg" in found[0]["error"]
    assert found[1]["detected"] is True


def test_alpha_is_kept(tmp_path: Path, astronaut: Image.Image, key_file: Path) -> None:
    rgba = astronaut.convert("RGBA")
    alpha = np.tile(np.linspace(0, 255, rgba.width, dtype=np.uint8), (rgba.height, 1))
    rgba.putalpha(Image.fromarray(alpha))
    rgba.save(tmp_path / "in.png")
    assert _mark(tmp_path / "in.png", tmp_path / "out.png", key_file).exit_code == 0
    with Image.open(tmp_path / "out.png") as out:
        assert out.mode == "RGBA"
        assert np.array_equal(np.asarray(out.getchannel("A")), alpha)


def test_alpha_to_jpeg_is_refused(tmp_path: Path, astronaut: Image.Image, key_file: Path) -> None:
    rgba = astronaut.convert("RGBA")
    rgba.putalpha(128)
    rgba.save(tmp_path / "in.png")
    result = _mark(tmp_path / "in.png", tmp_path / "out.jpg", key_file)
    assert result.exit_code == 5
    assert ".png" in result.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.png", "key.json"]


def test_overwrite_input_when_asked(photo_png: Path, key_file: Path) -> None:
    before = photo_png.read_bytes()
    result = _mark(photo_png, photo_png, key_file, "--overwrite-input")
    assert result.exit_code == 0, result.output
    assert photo_png.read_bytes() != before
