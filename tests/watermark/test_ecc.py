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


@pytest.mark.parametrize(
    ("seed", "list_size", "tries"),
    [(4, 1, 3000), (6, 32, 1000), (9, 1024, 300)],
    ids=["plain", "list-32", "list-1024"],
)
def test_noise_never_yields_a_payload(seed: int, list_size: int, tries: int) -> None:
    # Under pure noise a candidate passes the CRC with probability 2^-32, so a decode of L
    # candidates with at most L * 2^-32: all these tries must fail (at most ~7e-5 that one won't).
    rng = np.random.default_rng(seed)
    assert all(ecc.decode(rng.normal(size=ecc.CODED_BITS), list_size) is None for _ in range(tries))


def test_rejects_wrong_payload_size() -> None:
    with pytest.raises(ValueError, match="8 bytes"):
        ecc.encode(b"short")


def _payloads_found(seed: int, snr: float, short: int, long: int) -> tuple[int, int]:
    """Payloads found in 60 noisy codewords with a short and a long list: never a wrong one, and
    the long list finds whatever the short one does (it checks the same best paths first)."""
    rng = np.random.default_rng(seed)
    n_short = n_long = 0
    for _ in range(60):
        payload = rng.bytes(8)
        soft = (1.0 - 2.0 * ecc.encode(payload)) * np.sqrt(snr) + rng.normal(size=ecc.CODED_BITS)
        a, b = ecc.decode(soft, list_size=short), ecc.decode(soft, list_size=long)
        assert a in (None, payload) and b in (None, payload)
        assert a is None or b == payload
        n_short += a == payload
        n_long += b == payload
    return n_short, n_long


@pytest.mark.parametrize(
    ("seed", "snr", "short", "long", "margin"),
    [(5, 0.55, 1, 32, 6), (8, 0.5, 16, 1024, 5)],
    ids=["plain-vs-32", "16-vs-1024"],
)
def test_a_longer_list_finds_more(
    seed: int, snr: float, short: int, long: int, margin: int
) -> None:
    # At a coded-bit SNR of about 0.5 plain Viterbi finds about a quarter of the payloads;
    # checking the CRC on more of the best paths finds clearly more.
    n_short, n_long = _payloads_found(seed, snr, short, long)
    assert n_long >= n_short + margin
