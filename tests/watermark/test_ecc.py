"""The payload channel code: exact round trips, error correction, and CRC-guarded output."""

from __future__ import annotations

import numpy as np
import pytest

from pyosi.watermark import ecc


def test_round_trip_and_length() -> None:
    rng = np.random.default_rng(1)
    for _ in range(20):
        payload = rng.bytes(8)
        coded = ecc.encode(payload)
        assert coded.shape == (ecc.CODED_BITS,)
        assert ecc.decode(1.0 - 2.0 * coded) == payload


def test_corrects_many_hard_errors() -> None:
    rng = np.random.default_rng(2)
    payload = rng.bytes(8)
    soft = 1.0 - 2.0 * ecc.encode(payload)
    # Flip 20 well-separated coded bits: far fewer than the free distance allows per span.
    soft[np.arange(0, ecc.CODED_BITS, 15)[:20]] *= -1
    assert ecc.decode(soft) == payload


def test_soft_decoding_at_moderate_noise() -> None:
    rng = np.random.default_rng(3)
    ok = 0
    for _ in range(100):
        payload = rng.bytes(8)
        soft = (1.0 - 2.0 * ecc.encode(payload)) + rng.normal(0.0, 0.8, ecc.CODED_BITS)
        ok += ecc.decode(soft) == payload
    assert ok >= 97


def test_noise_never_yields_a_payload() -> None:
    # Under pure noise the CRC passes with probability 2^-32: 3,000 tries must all fail.
    rng = np.random.default_rng(4)
    assert all(ecc.decode(rng.normal(size=ecc.CODED_BITS)) is None for _ in range(3000))


def test_rejects_wrong_payload_size() -> None:
    with pytest.raises(ValueError, match="8 bytes"):
        ecc.encode(b"short")
