"""``pyosi bench image``: pyosi and invisible-watermark side by side under platform attacks.

For every image, method and trial a fresh random secret (pyosi: key + 8-byte payload; baselines:
random bits) is embedded once; the marked image then goes through every attack and the detector
judges the result. Trials are seeded, so a run is reproducible for a given ``seed``.

- Rates are reported per attack for images of at least ``min_megapixels`` (0.25 MP; the main table,
  judged against the required rates) and separately for smaller images.
- Quality: PSNR over the RGB channels and SSIM with ``skimage.metrics.structural_similarity`` on RGB
  (``channel_axis=2``, ``data_range=255``, 7×7 uniform window), marked vs original.
- Speed: median milliseconds per megapixel of one ``embed`` (of the original's size) and one
  ``detect`` (of the attacked image's size) over all calls, on one core: run through
  :func:`run_image_bench_isolated`, which starts a fresh interpreter with BLAS/OpenMP capped at one
  thread (they read the environment only when loaded) and OpenCV, torch and ONNX Runtime set to one.
- rivaGan takes about a second per call, so "slow" methods run ``slow_trials`` trials per image
  (default 1) instead of ``trials``.
- A method that refuses an input (invisible-watermark needs at least 256×256 pixels) counts as
  not detected; the number of refused trials is reported next to the rates.
"""

from __future__ import annotations

import importlib
import os
import signal
import sys
import time
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from multiprocessing import get_context
from multiprocessing.connection import Connection
from typing import Any

import numpy as np

from pyosi.bench.attacks import Attack, ImageArray, get_attack
from pyosi.bench.baselines import ALL_METHODS, Method, Outcome, RefusedError, build_methods
from pyosi.bench.samples import NamedImage, folder_images, sample_images
from pyosi.errors import PyosiError
from pyosi.media.quality import psnr_arrays

SCHEMA = "pyosi-bench-image/1"
THREAD_ENV = (
    "OMP_NUM_THREADS",
    "OPENBLAS_NUM_THREADS",
    "MKL_NUM_THREADS",
    "VECLIB_MAXIMUM_THREADS",
    "NUMEXPR_NUM_THREADS",
)
Progress = Callable[[str], None]


@dataclass(frozen=True)
class BenchConfig:
    """What to run. Attacks are names (see :func:`pyosi.bench.attacks.get_attack`)."""

    methods: tuple[str, ...] = ALL_METHODS
    attacks: tuple[str, ...] = ()  # empty: the standard suite
    trials: int = 4
    slow_trials: int = 1
    seed: int = 0
    images_dir: str | None = None
    samples: bool = True
    sample_names: tuple[str, ...] | None = None  # None: every bundled photo
    min_megapixels: float = 0.25

    def attack_list(self) -> tuple[Attack, ...]:
        from pyosi.bench.attacks import STANDARD_SUITE

        return tuple(get_attack(n) for n in self.attacks) if self.attacks else STANDARD_SUITE


@dataclass(frozen=True)
class EmbedRecord:
    method: str
    image: str
    trial: int
    megapixels: float
    embed_ms: float
    psnr_db: float
    ssim: float


@dataclass(frozen=True)
class TrialRecord:
    method: str
    image: str
    trial: int
    attack: str
    detected: bool
    bit_accuracy: float
    wrong_payload: bool
    refused: bool
    false_alarm_probability: float | None
    error: str | None
    megapixels: float | None  # of the attacked image
    detect_ms: float | None


@dataclass(frozen=True)
class Cell:
    """One method × attack over a group of images."""

    trials: int
    detected: int
    wrong_payload: int
    refused: int
    #: Detector calls that failed outright (e.g. the attacked image is too small for the method).
    errors: int
    bit_accuracy: float | None

    @property
    def rate(self) -> float | None:
        return self.detected / self.trials if self.trials and self.refused < self.trials else None


@dataclass(frozen=True)
class ImageInfo:
    name: str
    width: int
    height: int
    megapixels: float
    small: bool


@dataclass(frozen=True)
class AttackInfo:
    name: str
    description: str
    required_rate: float | None


@dataclass(frozen=True)
class MethodInfo:
    name: str
    payload_bits: int
    trials_per_image: int
    rule: str


@dataclass
class ImageBenchResult:
    """Everything a run measured; plain data, so it crosses process boundaries and JSON."""

    config: BenchConfig
    images: list[ImageInfo]
    attacks: list[AttackInfo]
    methods: list[MethodInfo]
    skipped_methods: dict[str, str]
    skipped_files: list[str]
    embeds: list[EmbedRecord] = field(default_factory=list)
    trials: list[TrialRecord] = field(default_factory=list)
    seconds: float = 0.0

    def _images(self, small: bool) -> set[str]:
        return {i.name for i in self.images if i.small == small}

    def cell(self, method: str, attack: str, *, small: bool = False) -> Cell:
        names = self._images(small)
        rows = [
            t for t in self.trials if t.method == method and t.attack == attack and t.image in names
        ]
        acc = float(np.mean([t.bit_accuracy for t in rows])) if rows else None
        return Cell(
            len(rows),
            sum(t.detected for t in rows),
            sum(t.wrong_payload for t in rows),
            sum(t.refused for t in rows),
            sum(t.error is not None and not t.refused for t in rows),
            acc,
        )

    def quality(self, method: str) -> dict[str, float | None]:
        """Mean PSNR / SSIM and median ms per megapixel (embed, detect) over every image."""
        embeds = [e for e in self.embeds if e.method == method]
        detects = [t for t in self.trials if t.method == method and t.detect_ms is not None]

        def mean(xs: list[float]) -> float | None:
            return float(np.mean(xs)) if xs else None

        def median(xs: list[float]) -> float | None:
            return float(np.median(xs)) if xs else None

        return {
            "psnr_db": mean([e.psnr_db for e in embeds]),
            "ssim": mean([e.ssim for e in embeds]),
            "embed_ms_per_mp": median([e.embed_ms / e.megapixels for e in embeds]),
            "detect_ms_per_mp": median(
                [t.detect_ms / t.megapixels for t in detects if t.detect_ms and t.megapixels]
            ),
        }

    def verdict(self, attack: AttackInfo, method: str = "pyosi") -> bool | None:
        """PASS (True) / FAIL (False) against the required rate on the main images, else None."""
        rate = self.cell(method, attack.name).rate
        if attack.required_rate is None or rate is None:
            return None
        return rate >= attack.required_rate

    def to_dict(self) -> dict[str, Any]:
        from pyosi.bench.report import result_to_dict

        return result_to_dict(self)


# -- measuring -----------------------------------------------------------------------------------
def psnr(a: ImageArray, b: ImageArray) -> float:
    return psnr_arrays(a, b)


def ssim(a: ImageArray, b: ImageArray) -> float:
    try:  # imported by name: scikit-image's annotations are partial
        metrics: Any = importlib.import_module("skimage.metrics")
    except ImportError:
        raise PyosiError("the benchmark needs scikit-image: pip install 'pyosi[bench]'") from None
    return float(metrics.structural_similarity(a, b, data_range=255, channel_axis=2))


def limit_threads() -> None:
    """Pin the libraries that can change their pool at run time to one thread."""
    import cv2

    cv2.setNumThreads(1)
    if "torch" in sys.modules:  # imported by invisible-watermark
        torch: Any = sys.modules["torch"]
        torch.set_num_threads(1)


def load_images(config: BenchConfig) -> tuple[list[NamedImage], list[str]]:
    images: list[NamedImage] = []
    skipped: list[str] = []
    if config.samples:
        images += sample_images(config.sample_names, extra="bench")
    if config.images_dir is not None:
        found, skipped = folder_images(config.images_dir)
        images += found
    if not images:
        raise PyosiError("no images to benchmark: drop --no-samples or give --images DIR")
    return images, skipped


def run_image_bench(
    config: BenchConfig,
    *,
    progress: Progress | None = None,
    methods: Sequence[Method[Any]] | None = None,
    attacks: Sequence[Attack] | None = None,
    images: Sequence[NamedImage] | None = None,
) -> ImageBenchResult:
    """Run the benchmark in this process (timings then depend on this process's thread pools).

    ``methods``, ``attacks`` and ``images`` override what ``config`` names, for custom runs.
    """
    started = time.perf_counter()
    attack_list = tuple(attacks) if attacks is not None else config.attack_list()
    skipped_files: list[str] = []
    if images is None:
        images, skipped_files = load_images(config)
    skipped_methods: dict[str, str] = {}
    if methods is None:
        methods, skipped_methods = build_methods(config.methods)
    limit_threads()
    n_trials = {m.name: config.slow_trials if m.slow else config.trials for m in methods}
    result = ImageBenchResult(
        config=config,
        images=[
            ImageInfo(
                im.name,
                im.pixels.shape[1],
                im.pixels.shape[0],
                round(im.megapixels, 4),
                im.megapixels < config.min_megapixels,
            )
            for im in images
        ],
        attacks=[AttackInfo(a.name, a.description, a.required_rate) for a in attack_list],
        methods=[MethodInfo(m.name, m.payload_bits, n_trials[m.name], m.rule) for m in methods],
        skipped_methods=skipped_methods,
        skipped_files=skipped_files,
    )
    for i, image in enumerate(images):
        for j, method in enumerate(methods):
            t0 = time.perf_counter()
            for trial in range(n_trials[method.name]):
                _run_trial(result, (config.seed, i, j, trial), image, method, attack_list)
            if progress is not None:
                progress(
                    f"{image.name} ({image.megapixels:.2f} MP) · {method.name} · "
                    f"{n_trials[method.name]} trial(s) × {len(attack_list)} attacks · "
                    f"{time.perf_counter() - t0:.1f} s"
                )
    result.seconds = time.perf_counter() - started
    return result


def _run_trial(
    result: ImageBenchResult,
    where: tuple[int, int, int, int],
    image: NamedImage,
    method: Method[Any],
    attacks: Sequence[Attack],
) -> None:
    seed, i_image, i_method, trial = where
    rng = np.random.default_rng([seed, i_image, i_method, trial])

    def record(attack: Attack, outcome: Outcome, **extra: Any) -> None:
        result.trials.append(
            TrialRecord(
                method=method.name,
                image=image.name,
                trial=trial,
                attack=attack.name,
                detected=outcome.detected,
                bit_accuracy=outcome.bit_accuracy,
                wrong_payload=outcome.wrong_payload,
                false_alarm_probability=outcome.false_alarm_probability,
                error=outcome.error,
                **({"refused": False, "megapixels": None, "detect_ms": None} | extra),
            )
        )

    try:
        t0 = time.perf_counter()
        marked, secret = method.embed(image.pixels, rng)
        embed_ms = (time.perf_counter() - t0) * 1e3
    except RefusedError as e:
        for attack in attacks:
            record(attack, Outcome.failed(str(e)), refused=True)
        return
    quality = (psnr(image.pixels, marked), ssim(image.pixels, marked))
    result.embeds.append(
        EmbedRecord(method.name, image.name, trial, image.megapixels, embed_ms, *quality)
    )
    for i_attack, attack in enumerate(attacks):
        # The attack's randomness depends on image, trial and attack, not on the method.
        attacked = attack(marked, seed=[seed, i_image, trial, i_attack])
        t0 = time.perf_counter()
        outcome = method.detect(attacked, secret)
        ms = (time.perf_counter() - t0) * 1e3
        record(
            attack,
            outcome,
            megapixels=attacked.shape[0] * attacked.shape[1] / 1e6,
            detect_ms=ms if outcome.error is None else None,
        )


# -- running on one core ---------------------------------------------------------------------
def _stderr_progress(message: str) -> None:
    print(f"  {message}", file=sys.stderr, flush=True)


def _child(config: BenchConfig, verbose: bool, conn: Connection) -> None:
    # Ctrl-C reaches the whole process group; the parent alone handles it, by terminating us.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        result = run_image_bench(config, progress=_stderr_progress if verbose else None)
        conn.send((True, result))
    except Exception as e:  # handed to the parent, which re-raises it
        e.add_note(f"raised in the benchmark process:\n{traceback.format_exc()}")
        try:
            conn.send((False, e))
        except Exception:  # not picklable
            conn.send((False, RuntimeError(f"{type(e).__name__}: {e}")))
    finally:
        conn.close()


def run_image_bench_isolated(config: BenchConfig, *, verbose: bool = True) -> ImageBenchResult:
    """Run the benchmark in a fresh interpreter whose thread pools are capped at one thread.

    OpenBLAS, MKL and OpenMP size their pools from the environment when first loaded, which in this
    process has already happened; a spawned child inherits the variables set here before it starts.
    Errors raised in the child are re-raised here; Ctrl-C stops the child.
    """
    ctx = get_context("spawn")
    receiver, sender = ctx.Pipe(duplex=False)
    saved = {k: os.environ.get(k) for k in THREAD_ENV}
    os.environ.update(dict.fromkeys(THREAD_ENV, "1"))
    try:
        child = ctx.Process(target=_child, args=(config, verbose, sender), name="pyosi-bench")
        child.start()
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
    sender.close()  # so that recv() sees EOF if the child dies without answering
    try:
        ok, payload = receiver.recv()
    except EOFError:
        child.join()
        raise RuntimeError(f"the benchmark process died (exit code {child.exitcode})") from None
    except BaseException:
        child.terminate()
        child.join()
        raise
    child.join()
    if not ok:
        raise payload
    result: ImageBenchResult = payload
    return result
