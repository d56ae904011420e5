"""The watermarking methods the image benchmark compares: pyosi and invisible-watermark's three.

A method embeds a random secret (key and/or payload) and later judges an attacked image against
it, returning an :class:`Outcome`. invisible-watermark (``imwatermark``) is imported lazily; when
it (or onnxruntime, for rivaGan) is missing those methods are skipped with a note.

Baselines are judged at the same false-alarm probability as pyosi (1e-6): an ``n``-bit payload
counts as detected when at least ``k`` bits match, ``k`` the smallest integer with
``P(X >= k) <= 1e-6`` for ``X ~ Binomial(n, 1/2)`` (41 of 48 bits, 30 of 32).
"""

from __future__ import annotations

import importlib
from abc import ABC, abstractmethod
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any, Generic, TypeVar

import numpy as np
import numpy.typing as npt
from scipy.stats import binom

from pyosi.bench.attacks import ImageArray
from pyosi.errors import ImageTooSmallError
from pyosi.watermark import (
    DEFAULT_FALSE_ALARM_LIMIT,
    PAYLOAD_BYTES,
    WatermarkKey,
    detect_image,
    embed_image,
)
from pyosi.watermark.keys import KEY_BYTES

SecretT = TypeVar("SecretT")
Bits = npt.NDArray[np.uint8]
BASELINES = ("dwtDct", "dwtDctSvd", "rivaGan")
ALL_METHODS = ("pyosi", *BASELINES)
INSTALL_HINT = "pip install 'pyosi[bench]'"


class RefusedError(Exception):
    """The method refuses this input (for instance: smaller than it supports)."""


@dataclass(frozen=True)
class Outcome:
    """One detection attempt. ``bit_accuracy`` is 0.5 when nothing usable was decoded."""

    detected: bool
    bit_accuracy: float
    #: pyosi only: a watermark was reported but its payload was not the one embedded.
    wrong_payload: bool = False
    false_alarm_probability: float | None = None
    error: str | None = None

    @classmethod
    def failed(cls, error: str) -> Outcome:
        return cls(False, 0.5, error=error)


class Method(ABC, Generic[SecretT]):
    """A watermarking method under test."""

    name: str
    payload_bits: int
    #: Slow methods run fewer trials per image (see ``BenchConfig.slow_trials``).
    slow: bool = False

    @property
    @abstractmethod
    def rule(self) -> str:
        """How "detected" is decided, for the report."""

    @abstractmethod
    def embed(self, image: ImageArray, rng: np.random.Generator) -> tuple[ImageArray, SecretT]:
        """Mark ``image`` with a random secret from ``rng``; :class:`RefusedError` if unfit."""

    @abstractmethod
    def detect(self, image: ImageArray, secret: SecretT) -> Outcome:
        """Judge ``image`` against the secret it was marked with."""


def _bits(x: bytes | Bits) -> Bits:
    return np.unpackbits(np.frombuffer(x, np.uint8)) if isinstance(x, bytes) else x


def bit_accuracy(decoded: bytes | Bits, truth: bytes | Bits) -> float:
    """Fraction of equal bits (payload bytes are compared bit by bit)."""
    return float(np.mean(_bits(decoded) == _bits(truth)))


class PyosiMethod(Method[tuple[WatermarkKey, bytes]]):
    """pyosi with a random key and a random 8-byte payload per trial.

    Detected means ``d.detected`` and the payload is the embedded one. Bit accuracy compares the
    returned payload's 64 bits with the truth and counts 0.5 per bit when nothing was detected.
    """

    name = "pyosi"
    payload_bits = 8 * PAYLOAD_BYTES

    @property
    def rule(self) -> str:
        return "the right payload found at false-alarm probability ≤ 1e-6"

    def embed(
        self, image: ImageArray, rng: np.random.Generator
    ) -> tuple[ImageArray, tuple[WatermarkKey, bytes]]:
        # Keys come from the seeded generator (not the OS CSPRNG) so that runs are reproducible.
        key = WatermarkKey.from_bytes(rng.bytes(KEY_BYTES))
        payload = rng.bytes(PAYLOAD_BYTES)
        try:
            return embed_image(image, payload=payload, key=key), (key, payload)
        except ImageTooSmallError as e:
            raise RefusedError(str(e)) from None

    def detect(self, image: ImageArray, secret: tuple[WatermarkKey, bytes]) -> Outcome:
        key, payload = secret
        try:
            d = detect_image(image, keys=[key])
        except ImageTooSmallError as e:
            return Outcome.failed(str(e))
        if not d.detected or d.payload is None:
            return Outcome(False, 0.5, false_alarm_probability=d.false_alarm_probability)
        right = d.payload == payload
        return Outcome(
            right, bit_accuracy(d.payload, payload), not right, d.false_alarm_probability
        )


@cache
def min_matches(n_bits: int, false_alarm: float = DEFAULT_FALSE_ALARM_LIMIT) -> int:
    """Smallest ``k`` with ``P(X >= k) <= false_alarm`` for ``X ~ Binomial(n_bits, 1/2)``."""
    for k in range(n_bits + 1):
        if float(binom.sf(k - 1, n_bits, 0.5)) <= false_alarm:
            return k
    return n_bits + 1  # unreachable for any sensible n_bits: nothing can be detected


class ImwatermarkMethod(Method[Bits]):
    """One of invisible-watermark 0.2.0's algorithms, on BGR arrays (OpenCV order) as it expects."""

    def __init__(self, algorithm: str, payload_bits: int, module: Any) -> None:
        self.name = algorithm
        self.payload_bits = payload_bits
        self.slow = algorithm == "rivaGan"
        self._module = module
        self._k = min_matches(payload_bits)

    @property
    def rule(self) -> str:
        return f"≥ {self._k} of {self.payload_bits} bits match (false-alarm probability ≤ 1e-6)"

    def embed(self, image: ImageArray, rng: np.random.Generator) -> tuple[ImageArray, Bits]:
        bits = rng.integers(0, 2, self.payload_bits, dtype=np.uint8)
        encoder = self._module.WatermarkEncoder()
        encoder.set_watermark("bits", bits.tolist())
        try:
            bgr = encoder.encode(np.ascontiguousarray(image[..., ::-1]), self.name)
        except RuntimeError as e:  # "image too small, should be larger than 256x256"
            raise RefusedError(str(e)) from None
        return np.ascontiguousarray(np.asarray(bgr, dtype=np.uint8)[..., ::-1]), bits

    def detect(self, image: ImageArray, secret: Bits) -> Outcome:
        decoder = self._module.WatermarkDecoder("bits", self.payload_bits)
        try:
            decoded = decoder.decode(np.ascontiguousarray(image[..., ::-1]), self.name)
        except RuntimeError as e:
            return Outcome.failed(str(e))
        matches = int(np.sum(np.asarray(decoded, dtype=np.uint8) == secret))
        fap = float(binom.sf(matches - 1, self.payload_bits, 0.5))
        return Outcome(matches >= self._k, matches / self.payload_bits, false_alarm_probability=fap)


def _load_rivagan_single_threaded(module: Any) -> None:
    """Load rivaGan's ONNX models, which ship inside the package, with one thread each.

    ``WatermarkEncoder.loadModel()`` would use every core; the benchmark times one.
    """
    ort = importlib.import_module("onnxruntime")  # untyped; imported by name to keep mypy quiet

    riva = module.rivaGan.RivaWatermark
    if riva.encoder is not None and riva.decoder is not None:
        return
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    opts.inter_op_num_threads = 1
    model_dir = Path(module.rivaGan.__file__).parent
    for part in ("encoder", "decoder"):
        session = ort.InferenceSession(
            str(model_dir / f"rivagan_{part}.onnx"), opts, providers=["CPUExecutionProvider"]
        )
        setattr(riva, part, session)


def build_methods(names: tuple[str, ...]) -> tuple[list[Method[Any]], dict[str, str]]:
    """The requested methods that can run here, and a reason for each one skipped."""
    unknown = [n for n in names if n not in ALL_METHODS]
    if unknown:
        raise ValueError(f"unknown method(s) {unknown}; choose from {list(ALL_METHODS)}")
    methods: list[Method[Any]] = []
    skipped: dict[str, str] = {}
    module: Any = None
    if any(n in BASELINES for n in names):
        try:
            import imwatermark
            import imwatermark.rivaGan  # the submodule holding the ONNX sessions

            module = imwatermark
        except (ImportError, OSError) as e:
            reason = f"invisible-watermark is not usable ({e}): {INSTALL_HINT}"
            skipped.update({n: reason for n in names if n in BASELINES})
    for name in names:
        if name == "pyosi":
            methods.append(PyosiMethod())
        elif module is not None and name == "rivaGan":
            try:
                _load_rivagan_single_threaded(module)
            except ImportError:
                skipped[name] = f"rivaGan needs onnxruntime: {INSTALL_HINT}"
                continue
            methods.append(ImwatermarkMethod(name, 32, module))
        elif module is not None:
            methods.append(ImwatermarkMethod(name, 48, module))
    return methods, skipped
