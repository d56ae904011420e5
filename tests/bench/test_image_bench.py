"""The image benchmark runner, its reports and its command, on tiny generated images."""

from __future__ import annotations

import io
import json
import os
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image
from rich.console import Console
from scipy.stats import binom
from typer.testing import CliRunner

from pyosi.bench.attacks import ImageArray, get_attack
from pyosi.bench.baselines import (
    Method,
    Outcome,
    PyosiMethod,
    RefusedError,
    bit_accuracy,
    build_methods,
    min_matches,
)
from pyosi.bench.image import (
    SCHEMA,
    THREAD_ENV,
    BenchConfig,
    ImageBenchResult,
    run_image_bench,
    run_image_bench_isolated,
)
from pyosi.bench.report import print_report, to_markdown, write_outputs
from pyosi.bench.samples import NamedImage
from pyosi.cli import get_app
from pyosi.errors import PyosiError

ATTACKS = ("none", "jpeg75", "crop50")


def _photo(h: int, w: int, seed: int) -> ImageArray:
    """Smooth colour gradients with mild texture: photo-like enough for every method."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:h, 0:w]
    base = np.stack([96 + 80 * np.sin(x / 37), 128 + 60 * np.cos(y / 23), 60 + (x + y) / 8], -1)
    return np.clip(base + rng.normal(0, 6, base.shape), 0, 255).astype(np.uint8)


@pytest.fixture(scope="module")
def images() -> list[NamedImage]:
    # One main-table image (>= 0.25 MP) and one small one.
    return [NamedImage("big", _photo(512, 512, 1)), NamedImage("small", _photo(240, 320, 2))]


@pytest.fixture(scope="module")
def pyosi_result(images: list[NamedImage]) -> ImageBenchResult:
    config = BenchConfig(methods=("pyosi",), attacks=ATTACKS, trials=2, samples=False)
    return run_image_bench(config, images=images)


def test_runner_counts_every_trial(pyosi_result: ImageBenchResult) -> None:
    assert [i.name for i in pyosi_result.images if i.small] == ["small"]
    assert [a.name for a in pyosi_result.attacks] == list(ATTACKS)
    assert len(pyosi_result.embeds) == 2 * 2  # images × trials
    assert len(pyosi_result.trials) == 2 * 2 * len(ATTACKS)
    for small in (False, True):
        cell = pyosi_result.cell("pyosi", "none", small=small)
        assert cell.trials == 2
        assert cell.rate == 1.0  # an untouched marked image is always found
        assert cell.bit_accuracy == 1.0
    quality = pyosi_result.quality("pyosi")
    assert quality["psnr_db"] is not None
    assert quality["psnr_db"] > 30
    assert quality["ssim"] is not None
    assert 0.9 < quality["ssim"] <= 1.0
    assert quality["embed_ms_per_mp"] is not None
    assert quality["detect_ms_per_mp"] is not None
    assert pyosi_result.verdict(pyosi_result.attacks[0]) is True


def test_outputs_json_chart_and_tables(pyosi_result: ImageBenchResult, tmp_path: Path) -> None:
    written = write_outputs(pyosi_result, tmp_path / "out")
    assert [p.name for p in written] == ["bench-image.json", "bench-image.png"]
    with Image.open(written[1]) as chart:
        assert chart.format == "PNG"
    doc = json.loads(written[0].read_text())
    assert doc["schema"] == SCHEMA
    for field in ("created", "command", "config", "machine", "versions", "images", "attacks"):
        assert field in doc
    assert doc["versions"]["pyosi"]
    assert doc["machine"]["cpu_count"] >= 1
    assert doc["methods"]["pyosi"]["payload_bits"] == 64
    assert set(doc["methods"]["pyosi"]) >= {
        "psnr_db",
        "ssim",
        "embed_ms_per_mp",
        "detect_ms_per_mp",
    }
    cell = doc["results"]["main"]["pyosi"]["none"]
    assert cell["trials"] == 2
    assert cell["rate"] == 1.0
    assert doc["results"]["small"]["pyosi"]["jpeg75"]["trials"] == 2
    assert doc["verdicts"]["none"] == "PASS"
    assert len(doc["trials"]) == 12
    assert set(doc["trials"][0]) >= {"method", "image", "attack", "detected", "bit_accuracy"}

    md = to_markdown(pyosi_result)
    assert "| attack | required | pyosi vs required | pyosi (64 b) |" in md
    assert "| none | 0.95 | PASS | 1.00 / 1.00 |" in md
    assert "Images under 0.25 MP: small (0.08 MP)." in md
    console = Console(file=io.StringIO(), width=200)
    print_report(pyosi_result, console)
    text = console.file.getvalue()  # type: ignore[attr-defined]
    assert "PASS" in text
    assert "PSNR (dB)" in text


class _Fussy(Method[bytes]):
    """Refuses images under 300 px a side, and "detects" only unchanged pixels."""

    name = "fussy"
    payload_bits = 8

    @property
    def rule(self) -> str:
        return "pixels unchanged"

    def embed(self, image: ImageArray, rng: np.random.Generator) -> tuple[ImageArray, bytes]:
        if min(image.shape[:2]) < 300:
            raise RefusedError("too small")
        return image.copy(), image.tobytes()

    def detect(self, image: ImageArray, secret: bytes) -> Outcome:
        if image.tobytes() == secret:
            return Outcome(True, 1.0)
        return Outcome(False, 0.5)


def test_refusals_count_as_failures_and_show_as_na(images: list[NamedImage]) -> None:
    config = BenchConfig(methods=(), attacks=("none", "hflip"), trials=1, samples=False)
    result = run_image_bench(config, images=images, methods=[_Fussy()])
    main, small = result.cell("fussy", "none"), result.cell("fussy", "none", small=True)
    assert (main.detected, main.refused, main.rate) == (1, 0, 1.0)
    assert (small.trials, small.refused, small.rate) == (1, 1, None)
    assert result.cell("fussy", "hflip").rate == 0.0
    assert result.quality("fussy")["psnr_db"] == float("inf")  # unchanged pixels
    md = to_markdown(result)
    assert "| none | 0.95 | 1.00 / 1.00 |" in md
    assert "| none | 0.95 | n/a |" in md
    json.dumps(result.to_dict(), allow_nan=False)  # infinite PSNR is written as null


class _Liar(_Fussy):
    name = "liar"

    def detect(self, image: ImageArray, secret: bytes) -> Outcome:
        return Outcome(False, 0.75, wrong_payload=True)


def test_wrong_payloads_are_failures_and_are_called_out(images: list[NamedImage]) -> None:
    config = BenchConfig(methods=(), attacks=("none",), trials=1, samples=False)
    result = run_image_bench(config, images=images[:1], methods=[_Liar()])
    cell = result.cell("liar", "none")
    assert (cell.detected, cell.wrong_payload, cell.bit_accuracy) == (0, 1, 0.75)
    assert "wrong payload reported in 1 trial(s): liar/none" in to_markdown(result)


def test_min_matches_is_the_binomial_threshold() -> None:
    assert min_matches(48) == 41
    assert min_matches(32) == 30
    for n in (16, 32, 48, 64):
        k = min_matches(n)
        assert binom.sf(k - 1, n, 0.5) <= 1e-6 < binom.sf(k - 2, n, 0.5)


def test_bit_accuracy() -> None:
    assert bit_accuracy(b"\x00\xff", b"\x00\xff") == 1.0
    assert bit_accuracy(b"\x0f", b"\x00") == 0.5
    assert bit_accuracy(np.array([1, 0, 1, 1], np.uint8), np.array([1, 1, 1, 1], np.uint8)) == 0.75


def test_pyosi_method_reports_a_non_detection_as_half_the_bits() -> None:
    method = PyosiMethod()
    photo = _photo(256, 256, 3)
    _, secret = method.embed(photo, np.random.default_rng(0))
    outcome = method.detect(photo, secret)  # the unmarked original
    assert (outcome.detected, outcome.bit_accuracy, outcome.wrong_payload) == (False, 0.5, False)
    assert method.detect(_photo(100, 100, 4), secret).error is not None  # too small to search


def test_unknown_methods_are_refused() -> None:
    with pytest.raises(ValueError, match="unknown method"):
        build_methods(("pyosi", "stegastamp"))


def test_baselines_detect_and_refuse_small_images() -> None:
    pytest.importorskip("imwatermark")
    methods, skipped = build_methods(("dwtDct", "dwtDctSvd"))
    assert not skipped
    photo = _photo(320, 320, 5)
    for method in methods:
        marked, bits = method.embed(photo, np.random.default_rng(1))
        assert marked.shape == photo.shape
        assert marked.dtype == np.uint8
        outcome = method.detect(marked, bits)
        assert outcome.detected
        assert outcome.bit_accuracy >= 41 / 48
        with pytest.raises(RefusedError):
            method.embed(_photo(200, 300, 6), np.random.default_rng(1))
        assert method.detect(get_attack("resize0.5")(marked), bits).error is not None


def test_rivagan_runs_offline_from_the_packaged_models(astronaut: Image.Image) -> None:
    pytest.importorskip("imwatermark")
    pytest.importorskip("onnxruntime")
    methods, skipped = build_methods(("rivaGan",))
    assert not skipped
    (riva,) = methods
    assert riva.slow
    photo = np.asarray(astronaut, dtype=np.uint8)  # rivaGan is weak on synthetic images
    marked, bits = riva.embed(photo, np.random.default_rng(2))
    assert riva.detect(marked, bits).detected


def test_isolated_run_uses_one_thread_and_restores_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    monkeypatch.setenv("OPENBLAS_NUM_THREADS", "7")
    config = BenchConfig(
        methods=("pyosi",), attacks=("none",), trials=1, sample_names=("astronaut",)
    )
    result = run_image_bench_isolated(config, verbose=False)
    assert result.cell("pyosi", "none").rate == 1.0
    assert "OMP_NUM_THREADS" not in os.environ
    assert os.environ["OPENBLAS_NUM_THREADS"] == "7"
    assert "OPENBLAS_NUM_THREADS" in THREAD_ENV


def test_isolated_run_reraises_errors_from_the_child(tmp_path: Path) -> None:
    config = BenchConfig(methods=("pyosi",), samples=False, images_dir=str(tmp_path / "nope"))
    with pytest.raises(PyosiError, match="not a folder of images"):
        run_image_bench_isolated(config, verbose=False)


def test_cli_runs_a_small_benchmark_on_a_folder(tmp_path: Path) -> None:
    folder = tmp_path / "photos"
    folder.mkdir()
    Image.fromarray(_photo(300, 400, 8)).save(folder / "mine.png")
    (folder / "notes.txt").write_text("not an image")
    out = tmp_path / "out"
    args = ["bench", "image", "--methods", "pyosi", "--attacks", "none,jpeg42", "--trials", "1"]
    args += ["--no-samples", "--images", str(folder), "--out", str(out), "--markdown"]
    result = CliRunner().invoke(get_app(), args)
    assert result.exit_code == 0, result.output
    assert "| jpeg42 |" in result.output
    doc: dict[str, Any] = json.loads((out / "bench-image.json").read_text())
    assert [i["name"] for i in doc["images"]] == ["mine.png"]
    assert doc["skipped_files"] == ["notes.txt"]
    assert doc["config"]["attacks"] == ["none", "jpeg42"]


@pytest.mark.parametrize(
    ("args", "hint"),
    [(["--methods", "pyosi,nope"], "--methods"), (["--attacks", "sharpen3"], "--attacks")],
)
def test_cli_refuses_unknown_names(args: list[str], hint: str) -> None:
    result = CliRunner().invoke(get_app(), ["bench", "image", *args])
    assert result.exit_code == 2
    assert hint in result.output
