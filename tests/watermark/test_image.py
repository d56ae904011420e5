"""embed_image / detect_image: round trips, types and modes, attacks, invisibility, bad input."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from numpy.typing import NDArray
from PIL import Image
from skimage import data

from pyosi.bench import attacks
from pyosi.errors import ImageTooSmallError, InvalidPayloadError, UnsupportedMediaError
from pyosi.watermark import WatermarkKey, detect_image, embed_image

PAYLOAD = bytes.fromhex("0123456789abcdef")


def _psnr(a: NDArray[np.uint8], b: NDArray[np.uint8]) -> float:
    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    return float(10 * np.log10(255.0**2 / mse))


@pytest.fixture(scope="module")
def key() -> WatermarkKey:
    return WatermarkKey.from_bytes(bytes(range(32)))


@pytest.fixture(scope="module")
def photo() -> NDArray[np.uint8]:
    return np.asarray(data.stereo_motorcycle()[0], dtype=np.uint8)  # type: ignore[no-untyped-call]


@pytest.fixture(scope="module")
def marked(photo: NDArray[np.uint8], key: WatermarkKey) -> NDArray[np.uint8]:
    return embed_image(photo, PAYLOAD, key)


def test_round_trip_array(photo: NDArray[np.uint8], marked: NDArray[np.uint8], key: WatermarkKey):
    assert marked.shape == photo.shape and marked.dtype == np.uint8
    d = detect_image(marked, [key])
    assert d.detected and d.payload == PAYLOAD and d.key_id == key.id
    assert d.false_alarm_probability <= 1e-6


def test_unmarked_and_wrong_key_are_not_detected(
    photo: NDArray[np.uint8], marked: NDArray[np.uint8], key: WatermarkKey
) -> None:
    assert not detect_image(photo, key).detected
    other = WatermarkKey.generate()
    d = detect_image(marked, [other])
    assert not d.detected and d.payload is None and d.key_id is None


def test_finds_the_right_key_among_many(marked: NDArray[np.uint8], key: WatermarkKey) -> None:
    keys = [WatermarkKey.generate() for _ in range(30)] + [key]
    d = detect_image(marked, keys)
    assert d.detected and d.key_id == key.id and d.payload == PAYLOAD


def test_invisible_by_psnr(photo: NDArray[np.uint8], marked: NDArray[np.uint8]) -> None:
    assert _psnr(photo, marked) >= 40.0


def test_flat_areas_stay_nearly_untouched(key: WatermarkKey) -> None:
    # A sky-like smooth gradient: the mask keeps changes within a grey level or two.
    sky = np.tile(np.linspace(90, 200, 640, dtype=np.float32), (400, 1))
    rgb = np.stack([sky * 0.6, sky * 0.8, sky], axis=-1).astype(np.uint8)
    out = embed_image(rgb, PAYLOAD, key)
    diff = np.abs(out.astype(int) - rgb.astype(int))
    assert diff.max() <= 2 and diff.mean() < 1.0


@pytest.mark.parametrize(
    ("name", "attack"),
    [
        ("jpeg50", attacks.jpeg(50)),
        ("webp60", attacks.webp(60)),
        ("resize0.75", attacks.resize(0.75)),
        ("upscale1.5", attacks.resize(1.5)),
        ("crop75", attacks.crop(0.75)),
        ("rotate10", attacks.rotate(10)),
        ("blur1", attacks.blur(1)),
        ("noise15", attacks.noise(15)),
        ("brightness0.7", attacks.brightness(0.7)),
        ("contrast1.5", attacks.contrast(1.5)),
        ("greyscale", attacks.greyscale()),
        ("hflip", attacks.hflip()),
    ],
)
def test_survives_attack_family(
    name: str, attack: attacks.Attack, marked: NDArray[np.uint8], key: WatermarkKey
) -> None:
    attacked = attack(marked)
    d = detect_image(attacked, [key])
    assert d.detected, f"{name}: score {d.score:.2f}"
    assert d.payload == PAYLOAD


def test_change_is_spread_along_the_luma_weights(
    photo: NDArray[np.uint8], marked: NDArray[np.uint8]
) -> None:
    # Green carries most of the change and blue least (the least RGB error for a luma change).
    d = marked.astype(np.float64) - photo.astype(np.float64)
    rms = np.sqrt(np.mean(d * d, axis=(0, 1)))
    assert rms[1] > rms[0] > rms[2]
    luma = d @ np.array([0.299, 0.587, 0.114])
    assert float(np.corrcoef(luma.ravel(), d[..., 1].ravel())[0, 1]) > 0.95


def test_grey_picture_stored_as_rgb_stays_grey(key: WatermarkKey) -> None:
    grey = np.asarray(data.camera(), dtype=np.uint8)  # type: ignore[no-untyped-call]
    out = embed_image(np.stack([grey] * 3, axis=-1), PAYLOAD, key)
    assert np.array_equal(out[..., 0], out[..., 1]) and np.array_equal(out[..., 0], out[..., 2])
    assert detect_image(out, key).payload == PAYLOAD


def test_greyscale_embedding_survives_exactly(marked: NDArray[np.uint8], key: WatermarkKey):
    grey = np.asarray(Image.fromarray(marked).convert("L"))
    assert detect_image(grey, key).payload == PAYLOAD


@pytest.mark.parametrize("mode", ["RGB", "RGBA", "L", "LA", "P", "CMYK", "I;16"])
def test_pil_modes(photo: NDArray[np.uint8], key: WatermarkKey, mode: str) -> None:
    base = Image.fromarray(photo)
    if mode == "I;16":
        img = Image.fromarray(np.asarray(base.convert("L"), np.uint16) * 257)
    elif mode in ("RGBA", "LA"):
        img = base.convert(mode)
        alpha = Image.linear_gradient("L").resize(base.size)
        img.putalpha(alpha)
    else:
        img = base.convert(mode)
    out = embed_image(img, PAYLOAD, key)
    assert isinstance(out, Image.Image) and out.size == img.size
    if mode == "P":
        assert out.mode == "RGB"  # a palette cannot hold the mark
    else:
        assert out.mode == img.mode
    if "A" in mode:
        assert np.array_equal(np.asarray(out.getchannel("A")), np.asarray(img.getchannel("A")))
    d = detect_image(out, key)
    assert d.detected and d.payload == PAYLOAD


def test_sixteen_bit_precision_is_kept(photo: NDArray[np.uint8], key: WatermarkKey) -> None:
    grey16 = np.asarray(Image.fromarray(photo).convert("L"), np.uint16) * 257 + 100
    out = embed_image(grey16, PAYLOAD, key)
    assert out.dtype == np.uint16
    assert np.abs(out.astype(int) - grey16.astype(int)).max() > 255  # scaled to 16-bit units


def test_smallest_size(key: WatermarkKey) -> None:
    rng = np.random.default_rng(0)
    tex = rng.integers(40, 220, (128, 128, 3), dtype=np.uint8)
    assert embed_image(tex, PAYLOAD, key).shape == (128, 128, 3)
    with pytest.raises(ImageTooSmallError, match="at least 128"):
        embed_image(tex[:127], PAYLOAD, key)
    with pytest.raises(ImageTooSmallError):
        detect_image(tex[:, :100], key)


@pytest.mark.parametrize("payload", [b"", b"1234567", b"123456789", "12345678"])
def test_bad_payload(photo: NDArray[np.uint8], key: WatermarkKey, payload: object) -> None:
    with pytest.raises(InvalidPayloadError):
        embed_image(photo, payload, key)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "arr",
    [np.zeros((200, 200, 5), np.uint8), np.zeros((200,), np.uint8), np.zeros((200, 200), bool)],
)
def test_bad_arrays(arr: NDArray[np.generic], key: WatermarkKey) -> None:
    with pytest.raises(UnsupportedMediaError):
        embed_image(arr, PAYLOAD, key)


def test_not_an_image(key: WatermarkKey) -> None:
    with pytest.raises(UnsupportedMediaError):
        embed_image("photo.jpg", PAYLOAD, key)  # type: ignore[type-var]
    with pytest.raises(UnsupportedMediaError):
        detect_image([[1, 2]], key)  # type: ignore[arg-type]


FIXTURES = Path(__file__).resolve().parents[3] / "shared" / "fixtures" / "c2pa-rs"


@pytest.mark.skipif(not (FIXTURES / "CA.jpg").exists(), reason="shared fixtures not present")
@pytest.mark.parametrize("attack_name", ["social", "screenshot", "crop50", "rotate10", "hflip"])
def test_generalises_to_a_photo_never_tuned_on(attack_name: str, key: WatermarkKey) -> None:
    # A camera JPEG from the c2pa-rs test suite: not one of the photos the design was tuned on.
    photo = np.asarray(Image.open(FIXTURES / "CA.jpg").convert("RGB"))
    marked = embed_image(photo, PAYLOAD, key)
    d = detect_image(attacks.get_attack(attack_name)(marked), key)
    assert d.detected and d.payload == PAYLOAD


def test_strength_trades_fidelity_for_robustness(photo: NDArray[np.uint8], key: WatermarkKey):
    soft = embed_image(photo, PAYLOAD, key, strength=0.7)
    loud = embed_image(photo, PAYLOAD, key, strength=1.3)
    assert _psnr(photo, soft) > _psnr(photo, loud) + 3.0
    assert detect_image(loud, key).payload == PAYLOAD
    with pytest.raises(ValueError, match="strength"):
        embed_image(photo, PAYLOAD, key, strength=0.0)
