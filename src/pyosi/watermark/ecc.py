"""Channel code for watermark payloads: CRC-32 + a K=9, rate-1/3 convolutional code.

The 64-bit payload gets a CRC-32, eight zero tail bits close the trellis, and the 104 message
bits become 312 coded bits (generators 557, 663, 711 octal, the IS-95 code; measured about
0.4 dB better than K=7 here, for about twice the decoding time: ~1.5 ms). Decoding is
soft-decision Viterbi on correlation values (positive means bit 0).

Why this is safe against false payloads: under "not marked with this key", the soft values are
sign-symmetric and independent (keyed ±1 spreading), and ML decoding of a linear code is
equivariant under adding a codeword, so the decoded message is uniform and passes the CRC with
probability exactly 2**-32. :func:`decode` therefore never returns a payload whose CRC fails.
"""

from __future__ import annotations

import zlib

import numpy as np
from numpy.typing import NDArray

PAYLOAD_BITS = 64
CRC_BITS = 32
CONSTRAINT = 9
GENERATORS = (0o557, 0o663, 0o711)
_MEMORY = CONSTRAINT - 1
_STATES = 1 << _MEMORY
MESSAGE_BITS = PAYLOAD_BITS + CRC_BITS
CODED_BITS = (MESSAGE_BITS + _MEMORY) * len(GENERATORS)
#: Probability that a decode of pure noise passes the CRC.
CRC_FALSE_PASS = 2.0**-CRC_BITS


def _parity(x: NDArray[np.int64]) -> NDArray[np.int64]:
    x = x.copy()
    for shift in (32, 16, 8, 4, 2, 1):
        x ^= x >> shift
    return x & 1


def _trellis() -> tuple[NDArray[np.int64], NDArray[np.float64]]:
    """For each next state and each of its two predecessors: the predecessor and output signs.

    A state holds the last six input bits, newest in the lowest bit; the register seen by the
    generators is (state << 1) | input, with the newest bit in the lowest position.
    """
    nxt = np.arange(_STATES, dtype=np.int64)
    bit = nxt & 1
    preds = np.stack([(nxt >> 1), (nxt >> 1) | (1 << (_MEMORY - 1))], axis=1)  # (states, 2)
    regs = (preds << 1) | bit[:, None]  # 7-bit registers
    signs = np.empty((_STATES, 2, len(GENERATORS)), dtype=np.float64)
    for g, poly in enumerate(GENERATORS):
        # Generator polynomials are written oldest-tap-first; reverse to newest-in-LSB order.
        rev = int(f"{poly:0{CONSTRAINT}b}"[::-1], 2)
        signs[:, :, g] = 1.0 - 2.0 * _parity(regs & rev)
    return preds, signs


_PREDS, _SIGNS = _trellis()
_ALL_STATES = np.arange(_STATES)
#: Successor of each state for input bit 0/1, and which predecessor slot the state is there.
_SUCC = ((_ALL_STATES[:, None] << 1) | np.arange(2)[None, :]) & (_STATES - 1)
_SLOT = _ALL_STATES >> (_MEMORY - 1)


def bytes_to_bits(data: bytes) -> NDArray[np.uint8]:
    return np.unpackbits(np.frombuffer(data, dtype=np.uint8))


def bits_to_bytes(bits: NDArray[np.uint8]) -> bytes:
    return np.packbits(bits.astype(np.uint8)).tobytes()


def _message(payload: bytes) -> NDArray[np.uint8]:
    crc = zlib.crc32(payload).to_bytes(4, "big")
    return np.concatenate([bytes_to_bits(payload + crc), np.zeros(_MEMORY, np.uint8)])


def encode(payload: bytes) -> NDArray[np.uint8]:
    """The CODED_BITS coded bits (0/1) for an 8-byte payload."""
    if len(payload) * 8 != PAYLOAD_BITS:
        raise ValueError("payload must be 8 bytes")
    state = 0
    out = np.empty((MESSAGE_BITS + _MEMORY, len(GENERATORS)), dtype=np.uint8)
    for t, b in enumerate(_message(payload)):
        nxt = ((state << 1) | int(b)) & (_STATES - 1)
        # Output of the transition state -> nxt; reuse the trellis tables.
        which = 0 if (state >> (_MEMORY - 1)) == 0 else 1
        out[t] = (_SIGNS[nxt, which] < 0).astype(np.uint8)
        state = nxt
    return out.reshape(-1)


def _branch_metrics(soft: NDArray[np.floating]) -> NDArray[np.float64]:
    """Correlation of every trellis edge's output with the soft values: (steps, states, 2)."""
    y = np.asarray(soft, dtype=np.float64).reshape(-1, len(GENERATORS))
    return np.asarray(np.einsum("njg,tg->tnj", _SIGNS, y), np.float64)


def _forward(br: NDArray[np.float64]) -> tuple[NDArray[np.float64], NDArray[np.int64]]:
    """Viterbi forward pass from state 0: best metric into every state at every time, and which
    predecessor it came from."""
    steps = br.shape[0]
    metric = np.full((steps + 1, _STATES), -np.inf)
    metric[0, 0] = 0.0
    choice = np.empty((steps, _STATES), dtype=np.int64)
    for t in range(steps):
        cand = metric[t][_PREDS] + br[t]  # (states, 2)
        pick = np.argmax(cand, axis=1)
        choice[t] = pick
        metric[t + 1] = cand[_ALL_STATES, pick]
    return metric, choice


def _check(msg: NDArray[np.uint8]) -> bytes | None:
    payload = bits_to_bytes(msg[:PAYLOAD_BITS])
    crc = bits_to_bytes(msg[PAYLOAD_BITS:MESSAGE_BITS])
    return payload if zlib.crc32(payload).to_bytes(4, "big") == crc else None


def decode(soft: NDArray[np.floating], list_size: int = 1) -> bytes | None:
    """Soft-decision Viterbi. ``soft[i] > 0`` favours coded bit i = 0. Returns the payload or
    None when no candidate passes its CRC.

    With ``list_size`` L > 1, the CRC is checked on up to L candidate messages, best first: the
    maximum-likelihood path, then the best paths through the other trellis edges. Under noise
    every candidate is uniform (the list is equivariant under adding a codeword, like the
    maximum-likelihood decision), so the CRC lets a false one through with probability at most
    L * 2**-32; callers must count L in their false-alarm bound.
    """
    br = _branch_metrics(soft)
    steps = br.shape[0]
    metric, choice = _forward(br)
    # Trace back from state 0 (the tail bits force it).
    state = 0
    bits = np.empty(steps, dtype=np.uint8)
    for t in range(steps - 1, -1, -1):
        bits[t] = state & 1
        state = int(_PREDS[state, choice[t, state]])
    found = _check(bits)
    if found is not None or list_size <= 1:
        return found
    return _decode_list(br, metric, choice, list_size)


def _decode_list(
    br: NDArray[np.float64],
    metric: NDArray[np.float64],
    choice: NDArray[np.int64],
    list_size: int,
) -> bytes | None:
    """The best path through each trellis edge, ranked by its metric: the maximum-likelihood
    path first, then its closest rivals (every single divergence from it, and more)."""
    steps = br.shape[0]
    # Backward pass: best metric from every state at every time to state 0 at the end.
    back = np.full((steps + 1, _STATES), -np.inf)
    back[steps, 0] = 0.0
    bchoice = np.empty((steps, _STATES), dtype=np.int64)
    for t in range(steps - 1, -1, -1):
        vals = br[t][_SUCC, _SLOT[:, None]] + back[t + 1][_SUCC]  # (state, input bit)
        pick = np.argmax(vals, axis=1)
        bchoice[t] = pick
        back[t] = vals[_ALL_STATES, pick]
    through = metric[:-1][:, _PREDS] + br + back[1:][:, :, None]  # (steps, next state, slot)
    flat = through.reshape(-1)
    # A path owns one edge per step; the maximum-likelihood path alone fills the first `steps`.
    k = min(flat.size, steps + 32 * list_size)
    top = np.argpartition(-flat, k - 1)[:k]
    top = top[np.argsort(-flat[top], kind="stable")]
    top = top[np.isfinite(flat[top])]
    t_e, rest = np.divmod(top, _STATES * 2)
    n_e, j_e = np.divmod(rest, 2)
    rows = np.arange(top.size)
    bits = np.zeros((top.size, steps), dtype=np.uint8)
    bits[rows, t_e] = n_e & 1
    state = _PREDS[n_e, j_e]  # before the edge: trace back along the forward survivors
    for t in range(steps - 1, -1, -1):
        act = t < t_e
        bits[act, t] = state[act] & 1
        state = np.where(act, _PREDS[state, choice[t, state]], state)
    state = n_e.copy()  # after the edge: follow the backward survivors
    for t in range(steps):
        act = t > t_e
        b = bchoice[t, state]
        bits[act, t] = b[act]
        state = np.where(act, _SUCC[state, b], state)
    _, first = np.unique(np.packbits(bits[:, :MESSAGE_BITS], axis=1), axis=0, return_index=True)
    for i in np.sort(first)[:list_size]:
        found = _check(bits[i])
        if found is not None:
            return found
    return None
