"""`pyosi bench null`: the detector's behaviour on images that carry no mark of the tried keys.

Runs the real detector on unmarked photos × attacks with many random keys per call, counts false
detections (there must be none), and compares the sync z-scores at every offset with the
standard normal the false-alarm computation assumes (mean, variance, tail rates, and the largest
gap between the empirical and normal CDFs).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from math import erfc, sqrt
from typing import Any

import numpy as np
from numpy.typing import NDArray

from pyosi.bench.attacks import Attack
from pyosi.watermark import DEFAULT_FALSE_ALARM_LIMIT, WatermarkKey
from pyosi.watermark.detect import detect_luma, prepare, sync_surfaces
from pyosi.watermark.image import to_luma

TAIL_THRESHOLDS = (2.0, 3.0, 4.0, 4.5, 5.0)
_EDGES = np.linspace(-6.0, 6.0, 241)


def _normal_cdf(x: NDArray[np.float64]) -> NDArray[np.float64]:
    return np.array([1.0 - 0.5 * erfc(v / sqrt(2.0)) for v in x])


@dataclass
class NullStats:
    calls: int = 0
    key_trials: int = 0
    false_detections: int = 0
    min_fap: float = 1.0
    n: int = 0
    total: float = 0.0
    total_sq: float = 0.0
    tails: dict[float, int] = field(default_factory=lambda: dict.fromkeys(TAIL_THRESHOLDS, 0))
    hist: NDArray[np.int64] = field(default_factory=lambda: np.zeros(len(_EDGES) + 1, np.int64))
    seconds: float = 0.0

    def add_z(self, z: NDArray[np.float64]) -> None:
        flat = z.reshape(-1)
        self.n += flat.size
        self.total += float(flat.sum())
        self.total_sq += float(np.square(flat).sum())
        for t in TAIL_THRESHOLDS:
            self.tails[t] += int(np.count_nonzero(flat > t))
        self.hist += np.bincount(np.searchsorted(_EDGES, flat), minlength=len(_EDGES) + 1)

    def ks_distance(self) -> float:
        """Largest |empirical CDF - normal CDF| on a 0.05-wide grid over [-6, 6]."""
        emp = np.cumsum(self.hist[:-1]) / max(self.n, 1)
        return float(np.max(np.abs(emp - _normal_cdf(_EDGES))))

    def to_dict(self) -> dict[str, Any]:
        mean = self.total / max(self.n, 1)
        var = self.total_sq / max(self.n, 1) - mean * mean
        return {
            "calls": self.calls,
            "key_trials": self.key_trials,
            "false_detections": self.false_detections,
            "smallest_false_alarm_probability": self.min_fap,
            "z_values": self.n,
            "z_mean": mean,
            "z_variance": var,
            "ks_distance": self.ks_distance(),
            "tails": {
                f"P(z>{t:g})": {
                    "observed": self.tails[t] / max(self.n, 1),
                    "normal": 0.5 * erfc(t / sqrt(2.0)),
                }
                for t in TAIL_THRESHOLDS
            },
            "seconds": round(self.seconds, 1),
        }


def run_null(
    images: Sequence[NDArray[np.uint8]],
    attacks: Sequence[Attack],
    keys_per_call: int = 200,
    seed: int = 0,
) -> NullStats:
    """Detect with ``keys_per_call`` fresh random keys on every attacked unmarked image."""
    rng = np.random.default_rng(seed)
    stats = NullStats()
    start = time.perf_counter()
    for i, image in enumerate(images):
        for j, attack in enumerate(attacks):
            attacked = attack(image, seed=seed + 1000 * i + j)
            if min(attacked.shape[:2]) < 128:
                continue
            keys = [WatermarkKey.from_bytes(rng.bytes(32)) for _ in range(keys_per_call)]
            # The same key-independent preparation feeds the detector and the score census.
            luma = to_luma(attacked)
            prep = prepare(luma)
            d = detect_luma(luma, keys, DEFAULT_FALSE_ALARM_LIMIT, prep)
            stats.calls += 1
            stats.key_trials += len(keys)
            stats.false_detections += int(d.detected)
            stats.min_fap = min(stats.min_fap, d.false_alarm_probability)
            for surface in sync_surfaces(prep, keys):
                stats.add_z(surface.z)
    stats.seconds = time.perf_counter() - start
    return stats
