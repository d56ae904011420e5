"""save_image: choosing the format, refusing overwrites, and never leaving a partial file."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from pyosi.errors import OutputError
from pyosi.media import load_image, same_file, save_image


def test_format_from_extension_then_like_then_argument(
    tmp_path: Path, small_photo: Image.Image
) -> None:
    like = load_image(save_image(small_photo, tmp_path / "src.webp"))
    assert load_image(save_image(small_photo, tmp_path / "a.jpeg", like=like)).format == "JPEG"
    assert load_image(save_image(small_photo, tmp_path / "noext", like=like)).format == "WEBP"
    assert load_image(save_image(small_photo, tmp_path / "b.png", format="jpg")).format == "JPEG"


def test_unknown_or_unwritable_format(tmp_path: Path, small_photo: Image.Image) -> None:
    with pytest.raises(OutputError, match="cannot tell the output format"):
        save_image(small_photo, tmp_path / "out.unknown")
    with pytest.raises(OutputError, match="cannot write PSD"):
        save_image(small_photo, tmp_path / "out.psd")
    assert list(tmp_path.iterdir()) == []


def test_quality(tmp_path: Path, small_photo: Image.Image) -> None:
    low = save_image(small_photo, tmp_path / "low.jpg", quality=30)
    high = save_image(small_photo, tmp_path / "high.jpg")
    assert low.stat().st_size < high.stat().st_size
    with pytest.raises(OutputError, match="quality"):
        save_image(small_photo, tmp_path / "bad.jpg", quality=0)


def test_existing_file_is_kept(tmp_path: Path, small_photo: Image.Image) -> None:
    target = tmp_path / "out.png"
    target.write_bytes(b"precious")
    with pytest.raises(OutputError, match=r"exists; refusing to overwrite it \(use --force\)"):
        save_image(small_photo, target)
    assert target.read_bytes() == b"precious"
    save_image(small_photo, target, overwrite=True)
    assert load_image(target).image.size == small_photo.size


def test_input_file_is_kept_unless_asked(tmp_path: Path, small_photo: Image.Image) -> None:
    src = save_image(small_photo, tmp_path / "in.png")
    before = src.read_bytes()
    loaded = load_image(src)
    (tmp_path / "link.png").symlink_to(src)
    for target in (src, tmp_path / "." / "in.png", tmp_path / "link.png"):
        with pytest.raises(OutputError, match="is the input file"):
            save_image(small_photo.rotate(90), target, like=loaded, overwrite=True)
    assert src.read_bytes() == before
    save_image(small_photo.rotate(90), src, like=loaded, overwrite_input=True)
    assert src.read_bytes() != before


def test_same_file(tmp_path: Path) -> None:
    (tmp_path / "a").write_bytes(b"x")
    (tmp_path / "b").hardlink_to(tmp_path / "a")
    (tmp_path / "sub").mkdir()
    assert same_file(tmp_path / "a", tmp_path / "sub" / ".." / "b")
    assert not same_file(tmp_path / "a", tmp_path / "missing")


def test_bad_destination(tmp_path: Path, small_photo: Image.Image) -> None:
    with pytest.raises(OutputError, match="does not exist"):
        save_image(small_photo, tmp_path / "no" / "such" / "dir.png")
    (tmp_path / "d.png").mkdir()
    with pytest.raises(OutputError, match="is a directory"):
        save_image(small_photo, tmp_path / "d.png")


def _failing_save(monkeypatch: pytest.MonkeyPatch, exc: BaseException) -> None:
    """Make every encode write some bytes and then fail, like a full disk mid-write."""

    def save(self: Image.Image, fp: Any, *args: Any, **kwargs: Any) -> None:
        fp.write(b"\x89PNG partial data")
        raise exc

    monkeypatch.setattr(Image.Image, "save", save)


def test_failure_leaves_no_partial_file(
    tmp_path: Path, small_photo: Image.Image, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = tmp_path / "out.png"
    target.write_bytes(b"precious")
    _failing_save(monkeypatch, OSError(28, "No space left on device"))
    with pytest.raises(OutputError, match="No space left on device"):
        save_image(small_photo, target, overwrite=True)
    with pytest.raises(OutputError):
        save_image(small_photo, tmp_path / "new.png")
    assert [p.name for p in tmp_path.iterdir()] == ["out.png"]  # no temporary or half-written file
    assert target.read_bytes() == b"precious"


def test_interrupt_leaves_no_partial_file(
    tmp_path: Path, small_photo: Image.Image, monkeypatch: pytest.MonkeyPatch
) -> None:
    _failing_save(monkeypatch, KeyboardInterrupt())
    with pytest.raises(KeyboardInterrupt):
        save_image(small_photo, tmp_path / "out.png")
    assert list(tmp_path.iterdir()) == []


def test_written_file_has_normal_permissions(tmp_path: Path, small_photo: Image.Image) -> None:
    umask = os.umask(0o022)
    try:
        path = save_image(small_photo, tmp_path / "out.png")
    finally:
        os.umask(umask)
    assert path.stat().st_mode & 0o777 == 0o644
