"""The keyed tile: a CHIPS×CHIPS grid of ±1 chips repeated over the image.

A fixed set of chips (the same for every key) carries a keyed pseudo-random sync pattern; the
rest carry the 312 coded payload bits, each spread over 2–3 chips with keyed signs and a keyed
chip-to-bit assignment. Without the key the chips are indistinguishable from coin flips.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from functools import cache, lru_cache

import numpy as np
from numpy.typing import NDArray

from pyosi.watermark import ecc
from pyosi.watermark.keys import WatermarkKey

CHIPS = 32  # chips per tile side
FINE = 4  # detection grid samples per chip
GRID = CHIPS * FINE
N_CHIPS = CHIPS * CHIPS
N_SYNC = 192
_DOMAIN = "pyosi/watermark/image/v1"
#: The chip pattern is high-passed on the tile: frequencies below about LOW_CUT cycles per chip
#: keep LOW_KEEP of their amplitude. The embedder spends nothing there (the host's steep spectrum
#: swamps it) and the detector's matched filter damps it alike.
LOW_CUT = 0.2
LOW_KEEP = 0.1

F32 = NDArray[np.float32]


def low_cut(fy: NDArray[np.floating], fx: NDArray[np.floating]) -> NDArray[np.float64]:
    """Amplitude gain of the tile's high-pass at frequencies in cycles per chip."""
    return np.asarray(1.0 - (1.0 - LOW_KEEP) * np.exp(-(fy * fy + fx * fx) / LOW_CUT**2))


def low_cut_grid(n: int, per_chip: int = 1) -> NDArray[np.float64]:
    """:func:`low_cut` over the ``rfft2`` grid of an n×n array with ``per_chip`` samples per
    chip."""
    step = 1.0 / per_chip
    return low_cut(np.fft.fftfreq(n, d=step)[:, None], np.fft.rfftfreq(n, d=step)[None, :])


def shape_chips(chips: F32) -> F32:
    """Chip values high-passed on the (periodic) tile by :func:`low_cut`, at the same RMS."""
    gain = low_cut_grid(chips.shape[0])
    out = np.fft.irfft2(np.fft.rfft2(chips) * gain, s=chips.shape)
    rms = float(np.sqrt(np.mean(out * out)))
    scale = float(np.sqrt(np.mean(np.square(chips, dtype=np.float64)))) / rms if rms > 0 else 0.0
    return np.asarray(out * scale, np.float32)


def _uniform(seed: bytes, n: int) -> NDArray[np.float64]:
    raw = hashlib.shake_256(seed).digest(8 * n)
    return (np.frombuffer(raw, dtype="<u8") >> np.uint64(11)).astype(np.float64) / float(1 << 53)


@cache
def sync_mask() -> NDArray[np.bool_]:
    """Which chips carry sync (key-independent, so detection normalisers are shared by keys)."""
    order = np.argsort(_uniform(b"pyosi/sync-positions/v1", N_CHIPS), kind="stable")
    mask = np.zeros(N_CHIPS, dtype=bool)
    mask[order[:N_SYNC]] = True
    return mask.reshape(CHIPS, CHIPS)


@dataclass(frozen=True)
class KeyedTile:
    """Everything a key determines about the tile."""

    sync_values: NDArray[np.float32]  # (N_SYNC,) ±1, in row-major order of the sync chips
    payload_signs: NDArray[np.float32]  # (n_payload_chips,) ±1 spreading signs
    payload_bit: NDArray[np.int64]  # (n_payload_chips,) which coded bit each chip carries

    @classmethod
    @lru_cache(maxsize=4096)
    def for_key(cls, key: WatermarkKey) -> KeyedTile:
        n_pay = N_CHIPS - N_SYNC
        bits = np.frombuffer(key.derive(f"{_DOMAIN}/chips", (N_SYNC + n_pay) // 8 + 1), np.uint8)
        signs = 1.0 - 2.0 * np.unpackbits(bits)[: N_SYNC + n_pay].astype(np.float32)
        # Spread each coded bit over chips as far apart as a random permutation puts them.
        perm = np.argsort(_uniform(key.derive(f"{_DOMAIN}/assign", 32), n_pay), kind="stable")
        assign = np.empty(n_pay, dtype=np.int64)
        assign[perm] = np.arange(n_pay) % ecc.CODED_BITS
        return cls(signs[:N_SYNC], signs[N_SYNC:], assign)

    def chip_grid(self, payload: bytes) -> F32:
        """The CHIPS×CHIPS ±1 chip values that carry ``payload``."""
        coded = 1.0 - 2.0 * ecc.encode(payload).astype(np.float32)
        grid = np.empty(N_CHIPS, dtype=np.float32)
        mask = sync_mask().reshape(-1)
        grid[mask] = self.sync_values
        grid[~mask] = self.payload_signs * coded[self.payload_bit]
        return grid.reshape(CHIPS, CHIPS)

    def sync_spikes(self) -> F32:
        """Sync chip values placed at chip centres of the GRID×GRID detection grid."""
        spikes = np.zeros((GRID, GRID), dtype=np.float32)
        rows, cols = np.nonzero(sync_mask())
        spikes[rows * FINE, cols * FINE] = self.sync_values
        return spikes

    def soft_bits(self, chips: F32) -> NDArray[np.float64]:
        """Per-coded-bit correlation sums from CHIPS×CHIPS matched-filter chip values."""
        vals = chips.reshape(-1)[~sync_mask().reshape(-1)] * self.payload_signs
        sums = np.bincount(self.payload_bit, weights=vals, minlength=ecc.CODED_BITS)
        return sums.astype(np.float64)


@cache
def sync_positions() -> NDArray[np.float32]:
    """Indicator of sync chip centres on the detection grid (for the z-score normaliser)."""
    ind = np.zeros((GRID, GRID), dtype=np.float32)
    rows, cols = np.nonzero(sync_mask())
    ind[rows * FINE, cols * FINE] = 1.0
    return ind
