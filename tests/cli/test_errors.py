"""User errors become one red line and a documented exit code, never a traceback."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from pathlib import Path

import pytest
from PIL import Image
from typer.testing import CliRunner, Result

import pyosi.mark
from pyosi.cli import get_app
from pyosi.cli.mark import parse_payload
from pyosi.errors import PyosiError
from pyosi.watermark import WatermarkKey

runner = CliRunner()
PAYLOAD = "0123456789abcdef"


def _invoke(*args: str | Path, env: dict[str, str] | None = None) -> Result:
    return runner.invoke(get_app(), [str(a) for a in args], env=env)


def _assert_clean_failure(result: Result, code: int, *needles: str) -> None:
    assert result.exit_code == code, result.output
    assert "Traceback" not in result.output
    assert result.stderr.startswith("error: ")
    for needle in needles:
        assert needle in result.stderr


def _mark(
    src: Path, out: Path, key_file: Path, *extra: str, env: dict[str, str] | None = None
) -> Result:
    args: tuple[str | Path, ...] = ("--key", key_file, "--payload", PAYLOAD, *extra)
    return _invoke("mark", "image", src, out, *args, env=env)


# -- bad input images ------------------------------------------------------------------------


def _empty(p: Path) -> None:
    p.write_bytes(b"")


def _truncated_jpeg(p: Path) -> None:
    Image.new("RGB", (256, 256), "teal").save(p, format="JPEG")
    p.write_bytes(p.read_bytes()[:300])


def _text(p: Path) -> None:
    p.write_text("hello, I am not a picture\n")


def _directory(p: Path) -> None:
    p.mkdir()


BAD_INPUTS: dict[str, tuple[Callable[[Path], None], str]] = {
    "zero-byte": (_empty, "is empty"),
    "truncated": (_truncated_jpeg, "truncated or damaged"),
    "text": (_text, "not an image"),
    "directory": (_directory, "is a directory"),
    "missing": (lambda p: None, "no such file"),
}


@pytest.mark.parametrize("case", BAD_INPUTS)
def test_bad_input_for_mark(tmp_path: Path, key_file: Path, case: str) -> None:
    make, message = BAD_INPUTS[case]
    src = tmp_path / "input.jpg"
    make(src)
    result = _mark(src, tmp_path / "out.png", key_file)
    _assert_clean_failure(result, 3, message, "input.jpg")
    assert not (tmp_path / "out.png").exists()


def test_huge_header(
    tmp_path: Path, key_file: Path, png_header_only: Callable[[int, int], bytes]
) -> None:
    (tmp_path / "bomb.png").write_bytes(png_header_only(100_000, 100_000))
    _assert_clean_failure(_mark(tmp_path / "bomb.png", tmp_path / "o.png", key_file), 3, "limit")
    result = _invoke("detect", tmp_path / "bomb.png", "--key", key_file)
    _assert_clean_failure(result, 3, "pixels, over the limit of 150,000,000")


@pytest.mark.parametrize("case", BAD_INPUTS)
def test_bad_input_for_detect(tmp_path: Path, key_file: Path, case: str) -> None:
    make, message = BAD_INPUTS[case]
    make(tmp_path / "input.jpg")
    result = _invoke("detect", tmp_path / "input.jpg", "--key", key_file)
    _assert_clean_failure(result, 3, message)


def test_too_small_to_mark(tmp_path: Path, key_file: Path) -> None:
    Image.new("RGB", (127, 127), "white").save(tmp_path / "tiny.png")
    result = _mark(tmp_path / "tiny.png", tmp_path / "out.png", key_file)
    _assert_clean_failure(result, 3)
    assert not (tmp_path / "out.png").exists()


# -- keys and payloads -----------------------------------------------------------------------


def _key_doc(key: WatermarkKey, **changes: object) -> str:
    doc = json.loads(key.to_json())
    doc.update(changes)
    return json.dumps(doc)


@pytest.mark.parametrize(
    ("case", "message"),
    [
        ("bad-json", "not JSON"),
        ("wrong-id", "does not match"),
        ("truncated-base64", "not valid base64"),
        ("short-secret", "32 bytes"),
    ],
)
def test_corrupt_key_file(
    tmp_path: Path, photo_png: Path, key: WatermarkKey, case: str, message: str
) -> None:
    text = {
        "bad-json": key.to_json()[:40],
        "wrong-id": _key_doc(key, id="0000000000000000"),
        "truncated-base64": _key_doc(key, secret=base64.b64encode(key.to_bytes()).decode()[:-3]),
        "short-secret": _key_doc(key, secret=base64.b64encode(key.to_bytes()[:20]).decode()),
    }[case]
    (tmp_path / "k.json").write_text(text)
    for result in (
        _mark(photo_png, tmp_path / "out.png", tmp_path / "k.json"),
        _invoke("detect", photo_png, "--key", tmp_path / "k.json"),
    ):
        _assert_clean_failure(result, 4, message, "k.json")
    assert not (tmp_path / "out.png").exists()


def test_missing_key_file(tmp_path: Path, photo_png: Path) -> None:
    result = _mark(photo_png, tmp_path / "out.png", tmp_path / "nokey.json")
    _assert_clean_failure(result, 4, "nokey.json")


@pytest.mark.parametrize(
    "bad", ["0123", "0123456789abcdeg", "0123456789abcdef00", "0x", "", "01 23 45 67 89 ab cd ef"]
)
def test_malformed_payload(tmp_path: Path, photo_png: Path, key_file: Path, bad: str) -> None:
    result = _invoke(
        "mark", "image", photo_png, tmp_path / "o.png", "--key", key_file, "--payload", bad
    )
    assert result.exit_code == 2
    assert "16 hex digits" in result.output
    assert "Traceback" not in result.output


def test_payload_parsing() -> None:
    assert parse_payload("0x0123456789ABCDEF") == bytes.fromhex(PAYLOAD)
    assert parse_payload(PAYLOAD) == bytes.fromhex(PAYLOAD)


# -- outputs ---------------------------------------------------------------------------------


def test_output_exists(tmp_path: Path, photo_png: Path, key_file: Path) -> None:
    out = tmp_path / "out.png"
    out.write_bytes(b"precious")
    _assert_clean_failure(_mark(photo_png, out, key_file), 5, "exists", "--force")
    assert out.read_bytes() == b"precious"


def test_output_is_input(photo_png: Path, key_file: Path) -> None:
    before = photo_png.read_bytes()
    result = _mark(photo_png, photo_png, key_file, "--force")
    _assert_clean_failure(result, 5, "is the input file", "--overwrite-input")
    assert photo_png.read_bytes() == before


def test_output_directory_missing(tmp_path: Path, photo_png: Path, key_file: Path) -> None:
    _assert_clean_failure(_mark(photo_png, tmp_path / "no" / "o.png", key_file), 5, "no")


# -- the translation layer itself ------------------------------------------------------------


def _raise_in_mark(monkeypatch: pytest.MonkeyPatch, exc: BaseException) -> None:
    def boom(*args: object, **kwargs: object) -> None:
        raise exc

    monkeypatch.setattr(pyosi.mark, "load_image", boom)


def test_internal_error(
    tmp_path: Path, photo_png: Path, key_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _raise_in_mark(monkeypatch, ZeroDivisionError("boom"))
    result = _mark(photo_png, tmp_path / "o.png", key_file, env={"PYOSI_DEBUG": "0"})
    _assert_clean_failure(result, 70, "internal error", "boom", "PYOSI_DEBUG=1")
    debug = _mark(photo_png, tmp_path / "o.png", key_file, env={"PYOSI_DEBUG": "1"})
    assert debug.exit_code == 70
    assert "Traceback" in debug.stderr and "ZeroDivisionError" in debug.stderr


def test_interrupt(
    tmp_path: Path, photo_png: Path, key_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _raise_in_mark(monkeypatch, KeyboardInterrupt())
    _assert_clean_failure(_mark(photo_png, tmp_path / "o.png", key_file), 130, "interrupted")


def test_other_pyosi_error(
    tmp_path: Path, photo_png: Path, key_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _raise_in_mark(monkeypatch, PyosiError("something pyosi-specific"))
    result = _mark(photo_png, tmp_path / "o.png", key_file)
    _assert_clean_failure(result, 6, "something pyosi-specific")


def test_version() -> None:
    from pyosi import __version__

    result = _invoke("--version")
    assert (result.exit_code, result.stdout.strip()) == (0, f"pyosi {__version__}")


def test_unknown_command_is_usage_error() -> None:
    assert _invoke("frobnicate").exit_code == 2
