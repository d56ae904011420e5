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


def test_list_decoding_beats_plain_viterbi() -> None:
    # At a coded-bit SNR of 0.55 plain Viterbi finds about a quarter of the payloads; checking the
    # CRC on 32 candidates finds clearly more, and never a wrong one.
    rng = np.random.default_rng(5)
    plain = listed = 0
    for _ in range(60):
        payload = rng.bytes(8)
        soft = (1.0 - 2.0 * ecc.encode(payload)) * np.sqrt(0.55) + rng.normal(size=ecc.CODED_BITS)
        a, b = ecc.decode(soft), ecc.decode(soft, list_size=32)
        assert a in (None, payload) and b in (None, payload)
        plain += a == payload
        listed += b == payload
    assert listed >= plain + 6


def test_list_decoding_of_noise_never_yields_a_payload() -> None:
    # 32 candidates per decode: 1,000 decodes pass a false CRC with probability ~7e-6.
    rng = np.random.default_rng(6)
    assert all(ecc.decode(rng.normal(size=ecc.CODED_BITS), 32) is None for _ in range(1000))


def test_list_decoding_checks_the_best_paths_first() -> None:
    # Up to 1,024 candidates, best first: at a coded-bit SNR of 0.5 a long list finds clearly
    # more than a short one, and a short list never finds what the long one misses.
    rng = np.random.default_rng(8)
    short = long = 0
    for _ in range(60):
        payload = rng.bytes(8)
        soft = (1.0 - 2.0 * ecc.encode(payload)) * np.sqrt(0.5) + rng.normal(size=ecc.CODED_BITS)
        a, b = ecc.decode(soft, list_size=16), ecc.decode(soft, list_size=1024)
        assert a in (None, payload) and b in (None, payload)
        assert a is None or b == payload
        short += a == payload
        long += b == payload
    assert long >= short + 5


def test_long_list_decoding_of_noise_never_yields_a_payload() -> None:
    # 1,024 candidates per decode: 300 decodes pass a false CRC with probability ~7e-5.
    rng = np.random.default_rng(9)
    assert all(ecc.decode(rng.normal(size=ecc.CODED_BITS), 1024) is None for _ in range(300))
