"""Calibration, checked statistically: on unmarked images the sync scores follow the standard
normal the false-alarm probability assumes, and nothing is ever detected.

The full ≥10,000-trial version is the benchmark `pyosi bench null`."""

from __future__ import annotations

import numpy as np
import pytest
from skimage import data

from pyosi.bench import attacks
from pyosi.bench.calibration import NullStats, run_null
from pyosi.watermark.detect import false_alarm_probability


def _photo(name: str) -> np.ndarray:
    return np.asarray(getattr(data, name)(), np.uint8)


@pytest.fixture(scope="module")
def stats() -> NullStats:
    photos = [_photo("astronaut"), _photo("coffee"), _photo("rocket")]
    suite = [attacks.identity(), attacks.compose("social", attacks.resize(0.6), attacks.jpeg(75))]
    return run_null(photos, suite, keys_per_call=40, seed=7)


def test_no_false_detections(stats: NullStats) -> None:
    assert stats.key_trials == 3 * 2 * 40
    assert stats.false_detections == 0
    assert stats.min_fap > 1e-6


def test_null_scores_are_standard_normal(stats: NullStats) -> None:
    d = stats.to_dict()
    assert d["z_values"] > 10_000_000
    assert abs(d["z_mean"]) < 0.01
    assert abs(d["z_variance"] - 1.0) < 0.02
    assert d["ks_distance"] < 0.01
    # The body matches the normal; the far tail is lighter (a Rademacher sum is sub-Gaussian),
    # so the normal tail used for the false-alarm probability errs on the safe side.
    for t in ("P(z>2)", "P(z>3)"):
        obs, theory = d["tails"][t]["observed"], d["tails"][t]["normal"]
        assert 0.7 * theory < obs < 1.3 * theory, (t, obs, theory)
    for t in ("P(z>4)", "P(z>4.5)"):
        obs, theory = d["tails"][t]["observed"], d["tails"][t]["normal"]
        assert obs < 1.5 * theory, (t, obs, theory)


def test_false_alarm_probability_accounts_for_every_key() -> None:
    one = false_alarm_probability(5.0, 32)
    many = false_alarm_probability(5.0, 32 * 1000)
    assert many == pytest.approx(one * 1000)
    assert false_alarm_probability(0.0, 10**12) == 1.0
