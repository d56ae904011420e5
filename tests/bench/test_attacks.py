"""The attack suite: shapes, determinism, and that each attack does what its name says."""

from __future__ import annotations

import math

import numpy as np
import pytest

from pyosi.bench import attacks as atk
from pyosi.bench.attacks import ATTACKS, STANDARD_SUITE, ImageArray, get_attack, parse_attacks

STANDARD_NAMES = [
    "none", "jpeg90", "jpeg75", "jpeg50", "jpeg30", "webp60", "resize0.75", "resize0.5",
    "resize0.33", "upscale1.5", "crop75", "crop50", "crop25_topleft", "rotate2", "rotate10",
    "blur1", "blur2", "noise5", "noise15", "brightness1.3", "brightness0.7", "contrast1.5",
    "greyscale", "hflip", "social", "screenshot", "hard",
]  # fmt: skip
HARD = {"jpeg30", "resize0.33", "crop25_topleft", "blur2", "hard"}


@pytest.fixture(scope="module")
def image() -> ImageArray:
    """120x160 RGB: smooth gradients plus texture, so blurs and codecs have something to change."""
    rng = np.random.default_rng(7)
    y, x = np.mgrid[0:120, 0:160]
    base = np.stack([x * 1.5, y * 2.0, (x + y) * 0.9], axis=-1)
    return np.clip(base + rng.normal(0, 12, base.shape), 0, 255).astype(np.uint8)


def test_registry_has_exactly_the_standard_names_in_order() -> None:
    assert [a.name for a in STANDARD_SUITE] == STANDARD_NAMES
    assert list(ATTACKS) == STANDARD_NAMES


@pytest.mark.parametrize("name", STANDARD_NAMES)
def test_required_rates(name: str) -> None:
    assert ATTACKS[name].required_rate == (0.80 if name in HARD else 0.95)


@pytest.mark.parametrize("attack", STANDARD_SUITE, ids=lambda a: a.name)
def test_every_attack_returns_rgb_uint8_and_leaves_input_alone(
    attack: atk.Attack, image: ImageArray
) -> None:
    before = image.copy()
    out = attack(image, seed=3)
    assert out.dtype == np.uint8
    assert out.ndim == 3
    assert out.shape[2] == 3
    np.testing.assert_array_equal(image, before)
    np.testing.assert_array_equal(out, attack(image, seed=3))  # deterministic for a seed


@pytest.mark.parametrize(
    ("name", "shape"),
    [
        ("resize0.75", (90, 120)),
        ("resize0.5", (60, 80)),
        ("resize0.33", (40, 53)),
        ("upscale1.5", (180, 240)),
        ("social", (72, 96)),
    ],
)
def test_resizes_scale_both_sides(name: str, shape: tuple[int, int], image: ImageArray) -> None:
    assert ATTACKS[name](image).shape[:2] == shape


@pytest.mark.parametrize(
    ("name", "area"), [("crop75", 0.75), ("crop50", 0.5), ("crop25_topleft", 0.25)]
)
def test_crops_keep_the_stated_fraction_of_the_area(
    name: str, area: float, image: ImageArray
) -> None:
    h, w = ATTACKS[name](image).shape[:2]
    assert h * w / image[..., 0].size == pytest.approx(area, abs=0.02)
    assert h / w == pytest.approx(120 / 160, abs=0.02)


def test_crop_anchors_cut_the_right_region(image: ImageArray) -> None:
    top_left = ATTACKS["crop25_topleft"](image)
    np.testing.assert_array_equal(top_left, image[:60, :80])
    centre = ATTACKS["crop50"](image)
    h, w = centre.shape[:2]
    top, left = (120 - h) // 2, (160 - w) // 2
    np.testing.assert_array_equal(centre, image[top : top + h, left : left + w])
    corner = atk.crop(0.25, "bottomright")(image)
    np.testing.assert_array_equal(corner, image[60:, 80:])


@pytest.mark.parametrize("name", ["rotate2", "rotate10"])
def test_rotation_keeps_the_canvas_and_fills_black(name: str, image: ImageArray) -> None:
    out = ATTACKS[name](image)
    assert out.shape == image.shape
    assert not np.array_equal(out, image)
    if name == "rotate10":  # corners swing out of the frame
        assert out[0, 0].tolist() == [0, 0, 0]
        assert out[-1, -1].tolist() == [0, 0, 0]


@pytest.mark.parametrize("name", ["jpeg90", "jpeg30", "webp60"])
def test_codecs_are_lossy(name: str, image: ImageArray) -> None:
    out = ATTACKS[name](image)
    assert out.shape == image.shape
    assert np.abs(out.astype(int) - image.astype(int)).mean() > 0.5


def test_lower_jpeg_quality_loses_more(image: ImageArray) -> None:
    def error(q: int) -> float:
        return float(np.abs(atk.jpeg(q)(image).astype(int) - image.astype(int)).mean())

    assert error(95) < error(75) < error(30)


def test_encode_writes_real_files(image: ImageArray) -> None:
    assert atk.encode(image, "JPEG", 80)[:2] == b"\xff\xd8"
    assert atk.encode(image, "WEBP", 80)[8:12] == b"WEBP"
    png = atk.encode(image, "PNG")
    np.testing.assert_array_equal(atk.decode(png), image)


def test_noise_depends_on_the_seed_and_has_the_stated_sigma(image: ImageArray) -> None:
    grey = np.full((200, 200, 3), 128, dtype=np.uint8)
    out = ATTACKS["noise15"](grey, seed=1)
    assert float(out.astype(float).std()) == pytest.approx(15, rel=0.05)
    assert not np.array_equal(ATTACKS["noise5"](image, seed=1), ATTACKS["noise5"](image, seed=2))
    same = ATTACKS["noise5"](image, seed=[0, 1, 2])
    np.testing.assert_array_equal(same, ATTACKS["noise5"](image, seed=[0, 1, 2]))


def test_blur_removes_fine_detail(image: ImageArray) -> None:
    def roughness(a: ImageArray) -> float:
        return float(np.abs(np.diff(a.astype(float), axis=1)).mean())

    assert (
        roughness(ATTACKS["blur2"](image)) < roughness(ATTACKS["blur1"](image)) < roughness(image)
    )


def test_brightness_and_contrast_move_mean_and_spread(image: ImageArray) -> None:
    mean = float(image.mean())
    assert float(ATTACKS["brightness1.3"](image).mean()) > mean * 1.2
    assert float(ATTACKS["brightness0.7"](image).mean()) < mean * 0.75
    assert float(ATTACKS["contrast1.5"](image).std()) > float(image.std()) * 1.3


def test_greyscale_has_equal_channels_and_flip_mirrors(image: ImageArray) -> None:
    grey = ATTACKS["greyscale"](image)
    np.testing.assert_array_equal(grey[..., 0], grey[..., 1])
    np.testing.assert_array_equal(grey[..., 1], grey[..., 2])
    np.testing.assert_array_equal(ATTACKS["hflip"](image), image[:, ::-1])


def test_none_is_identity(image: ImageArray) -> None:
    np.testing.assert_array_equal(ATTACKS["none"](image), image)


def test_composites_chain_their_steps(image: ImageArray) -> None:
    assert [s.kind for s in ATTACKS["hard"].steps] == ["crop", "rotate", "resize", "jpeg"]
    assert [s.kind for s in ATTACKS["screenshot"].steps] == ["crop", "resize", "jpeg"]
    side = math.sqrt(0.8)
    assert ATTACKS["screenshot"](image).shape[:2] == (
        round(round(120 * side) * 0.7),
        round(round(160 * side) * 0.7),
    )
    mine = atk.compose("mine", atk.resize(0.5), atk.hflip())
    np.testing.assert_array_equal(mine(image), atk.hflip()(atk.resize(0.5)(image)))


@pytest.mark.parametrize(
    ("name", "kind", "param", "value"),
    [
        ("jpeg42", "jpeg", "quality", 42),
        ("webp80", "webp", "quality", 80),
        ("resize0.6", "resize", "factor", 0.6),
        ("upscale2", "resize", "factor", 2.0),
        ("crop40_bottomleft", "crop", "anchor", "bottomleft"),
        ("crop40", "crop", "area", 0.4),
        ("rotate-5", "rotate", "degrees", -5.0),
        ("rotate7.5", "rotate", "degrees", 7.5),
        ("blur0.5", "blur", "radius", 0.5),
        ("noise8", "noise", "sigma", 8.0),
        ("brightness1.1", "brightness", "factor", 1.1),
        ("contrast0.8", "contrast", "factor", 0.8),
    ],
)
def test_parametrised_names_build_attacks(name: str, kind: str, param: str, value: object) -> None:
    attack = get_attack(name)
    assert attack.name == name
    assert attack.steps[0].kind == kind
    got = attack.steps[0].params[param]
    assert got == (pytest.approx(value) if isinstance(value, float) else value)
    assert attack.required_rate is None


def test_chained_names_and_lists() -> None:
    chain = get_attack("resize0.6+jpeg60")
    assert [s.kind for s in chain.steps] == ["resize", "jpeg"]
    assert [a.name for a in parse_attacks("jpeg50, crop25_topleft,rotate3")] == [
        "jpeg50",
        "crop25_topleft",
        "rotate3",
    ]
    assert parse_attacks(None) == STANDARD_SUITE
    assert ATTACKS["social"].to_dict()["steps"] == [
        {"kind": "resize", "factor": 0.6},
        {"kind": "jpeg", "quality": 75},
    ]


@pytest.mark.parametrize("name", ["jpeg0", "jpeg101", "crop150", "resize0", "sharpen2", ""])
def test_bad_names_and_parameters_are_refused(name: str) -> None:
    with pytest.raises(ValueError):
        get_attack(name)


def test_non_rgb_input_is_refused() -> None:
    with pytest.raises(ValueError, match="HxWx3 uint8"):
        ATTACKS["jpeg75"](np.zeros((16, 16), dtype=np.uint8))
    with pytest.raises(ValueError, match="HxWx3 uint8"):
        ATTACKS["none"](np.zeros((16, 16, 3), dtype=np.float32))
