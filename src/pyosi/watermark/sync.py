"""Geometric synchronisation: find the tile lattice in an image of unknown scale, rotation,
crop and orientation, and fold the image onto one tile.

1. A normalised high-pass residual suppresses the host image; perfectly flat fill is masked out.
2. Its spectrally whitened, band-weighted autocorrelation shows peaks on the tile lattice (the
   tile repeats; the host does not). A grid search over period and angle, in two resolution
   bands and refined coarse-to-fine, scores candidate square lattices by the autocorrelation at
   their points. This is key-independent, so it runs once per image.
3. Each candidate lattice maps pixels to tile coordinates; summing a chip-matched residual per
   tile cell ("folding") adds up every repetition of the tile. The fold is matched-filtered with
   the chip shape under its own noise spectrum; the unknown offset and dihedral orientation are
   left to the keyed correlation (:mod:`pyosi.watermark.detect`).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import cv2
import numpy as np
import scipy.fft
from numpy.typing import NDArray

from pyosi.watermark.pattern import F32, FINE, GRID, low_cut_grid

#: Detection works on at most this many pixels on the short side (the mark is scale-relative).
WORK_SIDE = 384
MIN_PERIOD = 14.0
WHITEN_SIGMA = 3.0
BAND_FREQ = 0.25
FOLD_WHITEN_SIGMA = 2.0
FOLD_WHITEN_POWER = 0.5
#: The folding residual is divided by its local level to this power (1 would equalise it).
RESIDUAL_LEVEL_POWER = 1.25
#: Lattice points (k, l) scored in the coarse search; the refinement adds more.
_COARSE_POINTS = np.array(
    [(1, 0), (0, 1), (1, 1), (1, -1), (2, 0), (0, 2), (2, 1), (1, 2), (2, -1), (1, -2)], np.float64
)


@dataclass(frozen=True)
class Lattice:
    period: float  # pixels, at work resolution
    angle: float  # degrees in [0, 90)
    score: float

    def basis(self) -> NDArray[np.float64]:
        t = np.deg2rad(self.angle)
        v1 = self.period * np.array([np.cos(t), np.sin(t)])
        v2 = self.period * np.array([-np.sin(t), np.cos(t)])
        return np.stack([v1, v2], axis=1)  # columns are basis vectors, (x, y) coordinates


def to_work(luma: F32) -> tuple[F32, float]:
    h, w = luma.shape
    scale = min(1.0, WORK_SIDE / min(h, w))
    if scale < 1.0:
        size = (max(1, round(w * scale)), max(1, round(h * scale)))
        luma = np.asarray(cv2.resize(luma, size, interpolation=cv2.INTER_AREA), np.float32)
    return luma, scale


def _local_level(r: F32, sigma: float) -> F32:
    """The residual's local RMS over about ``sigma`` pixels (never below 0.5)."""
    return np.asarray(np.sqrt(cv2.GaussianBlur(r * r, (0, 0), sigma)) + 0.5, np.float32)


def _normalise(r: F32, sigma: float) -> F32:
    """Divide by the local residual level and clip: texture and edges stop dominating."""
    r /= _local_level(r, sigma)
    np.clip(r, -3.0, 3.0, out=r)
    return r


def live_mask(luma: F32) -> F32:
    """1 where the image has content, 0 on perfectly flat areas (the fill of a rotation,
    letterboxing, clipped skies): they carry no mark, and their straight borders would put
    ridges into the autocorrelation."""
    kernel = np.ones((5, 5), np.uint8)
    spread = cv2.dilate(luma, kernel) - cv2.erode(luma, kernel)
    live = cv2.erode(
        (spread > 1.0).astype(np.uint8), np.ones((9, 9), np.uint8), borderType=cv2.BORDER_REPLICATE
    )
    return live.astype(np.float32)


def chip_residual(luma: F32, chip: float, live: F32) -> F32:
    """Residual for folding once the lattice gives the chip size: a high-pass at half a chip
    and normalisation over about a chip keep most of the mark and little of the host
    (measured: about +2 dB of payload SNR over the generic residual).

    The normalisation goes a little further than dividing by the local level: the mark's share
    of the residual falls as the host gets busier (the embedder's amplitude grows more slowly
    than texture, and JPEG keeps the host's detail rather than the mark), so busy areas are
    worth less than their level alone says. Dividing by the level to the power
    RESIDUAL_LEVEL_POWER weights them down accordingly."""
    r = luma - cv2.GaussianBlur(luma, (0, 0), max(0.6, 0.5 * chip))
    r /= _local_level(r, max(1.5, chip)) ** RESIDUAL_LEVEL_POWER
    limit = 3.0 * float(np.sqrt(np.mean(r * r)))
    np.clip(r, -limit, limit, out=r)
    r *= live
    return r


def autocorrelation(r: F32, max_lag: int) -> F32:
    """Linear autocorrelation (biased: peaks weigh by how much image supports them) for lags in
    [-max_lag, max_lag]^2, normalised to 1 at lag 0, with slow host structure removed."""
    h, w = r.shape
    ph = scipy.fft.next_fast_len(h + max_lag, real=True)
    pw = scipy.fft.next_fast_len(w + max_lag, real=True)
    spec = scipy.fft.rfft2(r, s=(ph, pw), workers=1)
    power = (spec.real * spec.real + spec.imag * spec.imag).astype(np.float32)
    # Spectral whitening: the host's power spectrum is smooth, the tile's is a lattice of lines.
    # Dividing by the local average flattens the host (its autocorrelation becomes a spike at 0)
    # and leaves the lattice standing.
    smooth = cv2.GaussianBlur(power, (0, 0), WHITEN_SIGMA, borderType=cv2.BORDER_REFLECT)
    white = power / (smooth + 1e-6 * float(smooth.mean()) + 1e-20) - 1.0
    # The chips put their energy at low-to-mid frequencies; whitened high frequencies are
    # mostly host noise and JPEG loss, so weight the spectrum towards where the mark lives.
    white *= _band_weight(ph, pw)
    acf = scipy.fft.irfft2(white, s=(ph, pw), workers=1)
    lags_y = np.r_[0 : max_lag + 1, -max_lag:0]
    lags_x = np.r_[0 : max_lag + 1, -max_lag:0]
    acf = acf[np.ix_(lags_y % ph, lags_x % pw)]
    acf = acf / float(ph * pw)
    acf = np.fft.fftshift(acf).astype(np.float32)  # centre at (max_lag, max_lag)
    # Keep only what stands out of the local neighbourhood: lattice peaks, not host structure.
    acf -= cv2.GaussianBlur(acf, (0, 0), 4.0)
    return acf


@lru_cache(maxsize=16)
def _band_weight(ph: int, pw: int) -> F32:
    fy = np.fft.fftfreq(ph)[:, None]
    fx = np.fft.rfftfreq(pw)[None, :]
    return np.exp(-(fy * fy + fx * fx) / BAND_FREQ**2).astype(np.float32)


#: cv2.remap wants maps under 32767 rows and columns: sample points go in rows of this many.
_REMAP_COLS = 4096


def _scores(
    acf: F32,
    periods: NDArray[np.floating[Any]],
    angles: NDArray[np.floating[Any]],
    points: NDArray[np.float64],
) -> NDArray[np.float64]:
    """Mean autocorrelation over a lattice's ``points`` for every (period, angle) of the grid
    ``periods`` x ``angles``; shape (len(periods), len(angles))."""
    t = np.deg2rad(np.asarray(angles, np.float64))
    kl = points  # (n, 2): lattice coordinates (k, l)
    # Point (k, l) = k*v1 + l*v2 with v1 = P(cos, sin), v2 = P(-sin, cos): the direction part
    # depends on the angle only, so it is computed once and scaled by every period.
    cos, sin = np.cos(t)[:, None], np.sin(t)[:, None]
    ux = (kl[:, 0] * cos - kl[:, 1] * sin).astype(np.float32)  # (angles, n)
    uy = (kl[:, 0] * sin + kl[:, 1] * cos).astype(np.float32)
    per = np.asarray(periods, np.float32)[:, None, None]
    shape = (per.shape[0], ux.shape[0], ux.shape[1])
    n = shape[0] * shape[1] * shape[2]
    rows = -(-n // _REMAP_COLS)
    centre = (acf.shape[0] - 1) / 2
    maps = []
    for u in (ux, uy):
        flat = np.empty(rows * _REMAP_COLS, np.float32)
        flat[n:] = -1e4  # outside the autocorrelation: sampled as 0
        grid = flat[:n].reshape(shape)
        np.multiply(per, u[None], out=grid)
        grid += centre
        maps.append(flat.reshape(rows, _REMAP_COLS))
    vals = cv2.remap(
        acf, maps[0], maps[1], cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT, borderValue=0
    )
    return np.asarray(vals.reshape(-1)[:n].reshape(shape).mean(axis=-1), np.float64)


def find_lattices(work: F32, live: F32, n_best: int = 4) -> list[Lattice]:
    """Candidate tile lattices, best first.

    Searched in two bands on a sharp residual: small periods (downscaled copies, chips of a pixel
    or two) at work resolution, larger ones at half resolution, where their chips look the same
    size again and the autocorrelation costs a quarter. Scores are in units of each
    autocorrelation's own noise, so the bands compare fairly.
    """
    found: list[Lattice] = []
    for factor, high_pass, norm, lo, hi in _BANDS:
        img, mask = work, live
        if factor != 1:
            size = (max(1, round(work.shape[1] / factor)), max(1, round(work.shape[0] / factor)))
            img = np.asarray(cv2.resize(work, size, interpolation=cv2.INTER_AREA), np.float32)
            mask = (cv2.resize(live, size, interpolation=cv2.INTER_AREA) > 0.99).astype(np.float32)
        h, w = img.shape
        max_period = min(h, w) / 1.6
        lo_b, hi_b = lo / factor, min(hi / factor, max_period)
        if hi_b < lo_b * 1.1:
            continue
        max_lag = int(min(min(h, w) - 2, 2.3 * hi_b))
        r = _normalise(img - cv2.GaussianBlur(img, (0, 0), high_pass), norm)
        r *= mask
        acf = autocorrelation(r, max_lag)
        acf /= _noise_level(acf)
        for lat in _candidates(
            acf, lo_b, hi_b, max_period=max_period, max_lag=max_lag, n_best=n_best
        ):
            found.append(Lattice(lat.period * factor, lat.angle, lat.score))
    found.sort(key=lambda lat: -lat.score)
    unique: list[Lattice] = []
    for lat in found:
        if not any(_near(lat.period, lat.angle, u) for u in unique):
            unique.append(lat)
    return unique[:n_best]


#: Search bands: downscale factor, residual high-pass and normalisation sigmas (at that scale),
#: smallest and largest period (at work resolution).
_BANDS: tuple[tuple[int, float, float, float, float], ...] = (
    (1, 0.8, 1.5, MIN_PERIOD, 160.0),
    (2, 1.5, 3.0, 80.0, float("inf")),
)


def _noise_level(acf: F32) -> float:
    # A robust spread from a strided sample, away from the central peak.
    c = acf.shape[0] // 2
    ring = acf[::3, ::3].copy()
    k = c // 3
    ring[k - 3 : k + 4, k - 3 : k + 4] = np.nan
    mad = float(np.nanmedian(np.abs(ring)))
    return max(mad / 0.6745, 1e-30)


def _candidates(
    acf: F32, lo: float, hi: float, *, max_period: float, max_lag: int, n_best: int
) -> list[Lattice]:
    periods = np.exp(np.arange(np.log(lo), np.log(hi), 0.012))
    angles = np.arange(0.0, 90.0, 0.5)
    sc = _scores(acf, periods, angles, _COARSE_POINTS)
    # Local maxima of the coarse score (angles wrap at 90°), best first: refining only these
    # avoids refining many neighbours of the same peak.
    wrapped = np.concatenate([sc[:, -1:], sc, sc[:, :1]], axis=1).astype(np.float32)
    peaks = (wrapped == cv2.dilate(wrapped, np.ones((3, 3), np.uint8)))[:, 1:-1] & (sc > 0)
    order = np.argsort(-np.where(peaks, sc, -np.inf), axis=None)[: int(peaks.sum())]
    found: list[Lattice] = []
    for idx in order[: 4 * n_best]:
        i, j = np.unravel_index(idx, sc.shape)
        p, a = float(periods[i]), float(angles[j])
        if any(_near(p, a, f) for f in found):
            continue
        lat = _refine(acf, p, a, max_lag)
        if any(_near(lat.period, lat.angle, f) for f in found):
            continue
        found.append(lat)
        # The true lattice and its coarser sublattices (twice the period, or 45° and sqrt 2)
        # share their points, so the autocorrelation cannot always tell which is the tile; a
        # finer false lattice can even outscore the truth. Keep a close-scoring coarser
        # alternative as its own hypothesis and let the keyed search decide.
        for mult, turn in ((2.0, 0.0), (np.sqrt(2.0), 45.0)):
            if lat.period * mult <= max_period:
                alt = _refine(acf, lat.period * mult, lat.angle + turn, max_lag, stages=1)
                if alt.score >= 0.6 * lat.score and not any(
                    _near(alt.period, alt.angle, f) for f in found
                ):
                    found.append(_refine(acf, alt.period, alt.angle, max_lag))
        if len(found) >= n_best:
            break
    return found


def _near(p: float, a: float, lat: Lattice) -> bool:
    da = abs((a - lat.angle + 45.0) % 90.0 - 45.0)
    return abs(np.log(p / lat.period)) < 0.04 and da < 2.0


def _lattice_points(period: float, reach_px: float) -> NDArray[np.float64]:
    """Half-plane lattice points (k, l) within ``reach_px`` of the origin, as rows (k, l)."""
    r = reach_px / period
    points, norms = _point_table(max(1, int(r)))
    return points[: int(np.searchsorted(norms, r, side="right"))]


@lru_cache(maxsize=64)
def _point_table(reach: int) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    # Every half-plane point with |k|, l <= reach, nearest first: the points within r periods
    # (r < reach + 1) are then a prefix, found by one binary search.
    i, j = np.meshgrid(np.arange(-reach, reach + 1), np.arange(reach + 1), indexing="ij")
    keep = (j > 0) | (i > 0)
    points = np.stack([i[keep], j[keep]], axis=1).astype(np.float64)
    norms = np.hypot(points[:, 0], points[:, 1])
    order = np.argsort(norms, kind="stable")
    table = (points[order], norms[order])
    for a in table:
        a.flags.writeable = False  # cached and shared: no caller may change it
    return table


#: Refinement stages: period step (log), angle step (degrees), steps either side, and how far
#: out (in periods, capped by the autocorrelation) the scored lattice points reach. Far points
#: pin the lattice down precisely; near ones are cheap and enough while steps are coarse.
_STAGES = ((0.012, 0.5, 3, 3.0), (0.003, 0.12, 2, 6.0), (0.0008, 0.03, 2, float("inf")))


def _refine(acf: F32, period: float, angle: float, max_lag: int, stages: int = 3) -> Lattice:
    """Coarse-to-fine local search of period and angle."""
    p, a = period, angle
    for dp, da, n, reach in _STAGES[:stages]:
        pts = _lattice_points(p, min(float(max_lag), reach * p))
        ps = p * np.exp(np.arange(-n, n + 1) * dp)
        as_ = a + np.arange(-n, n + 1) * da
        sc = _scores(acf, ps, as_, pts)
        i, j = np.unravel_index(int(np.argmax(sc)), sc.shape)
        p, a = float(ps[i]), float(as_[j])
    best = float(_scores(acf, np.array([p]), np.array([a]), _COARSE_POINTS)[0, 0])
    return Lattice(p, a % 90.0, best)


def fold(r: F32, lattice: Lattice) -> F32:
    """Average the residual onto one tile (GRID×GRID cells), then matched-filter by chip shape."""
    h, w = r.shape
    # Tile coordinates of every pixel, in grid cells, shifted positive so truncation floors.
    inv = np.linalg.inv(lattice.basis()) * GRID
    xs = np.arange(w, dtype=np.float32)
    ys = np.arange(h, dtype=np.float32)[:, None]
    shift = GRID * (np.ceil(np.abs(inv).sum() * max(h, w) / GRID) + 1)
    iu = ((xs * np.float32(inv[0, 0]) + ys * np.float32(inv[0, 1]) + shift).astype(np.int32)) % GRID
    iv = ((xs * np.float32(inv[1, 0]) + ys * np.float32(inv[1, 1]) + shift).astype(np.int32)) % GRID
    cells = (iv * GRID + iu).reshape(-1)
    sums = np.bincount(cells, weights=r.reshape(-1), minlength=GRID * GRID)
    counts = np.bincount(cells, minlength=GRID * GRID)
    # Sums, not means: a cell seen by more tiles is proportionally more reliable, and summing
    # is the maximum-ratio combination of its samples (scaled to keep magnitudes familiar).
    folded = (sums / max(float(counts.mean()), 1.0)).astype(np.float32)
    folded = folded.reshape(GRID, GRID)
    return matched_filter(folded)


def matched_filter(folded: F32) -> F32:
    """Correlate the fold with the chip shape (tents: bilinear between chip centres), weighting
    each frequency by the inverse of the fold's own noise spectrum (the mark is far below the
    noise in any one frequency, so the fold's smoothed power spectrum is the noise's)."""
    spec = np.fft.rfft2(folded)
    power = (spec.real * spec.real + spec.imag * spec.imag).astype(np.float32)
    noise = np.asarray(
        cv2.GaussianBlur(power, (0, 0), FOLD_WHITEN_SIGMA, borderType=cv2.BORDER_REFLECT),
        np.float64,
    )
    noise += 1e-6 * float(noise.mean()) + 1e-30
    out = np.fft.irfft2(spec * (_tent_spectrum() / noise**FOLD_WHITEN_POWER), s=folded.shape)
    return np.ascontiguousarray(out, dtype=np.float32)


@lru_cache(maxsize=1)
def _tent_spectrum() -> NDArray[np.float64]:
    """Spectrum of one chip as embedded: the tent (FINE samples either side), centred on cell 0,
    times the tile's high-pass."""
    line = np.zeros(GRID)
    for i in range(-FINE + 1, FINE):
        line[i % GRID] = FINE - abs(i)
    line /= line.sum()
    tent = np.abs(np.fft.rfft2(np.outer(line, line)))
    # The tile's high-pass (cycles per chip): the embedded chips are shaped by it, and for marks
    # made before they were, the damping still helps (the host's steep spectrum outruns the
    # smoothed noise estimate at the lowest frequencies).
    gain = low_cut_grid(GRID, per_chip=FINE)
    return np.asarray(tent * gain, np.float64)
