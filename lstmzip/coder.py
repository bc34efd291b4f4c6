"""Interleaved rANS range coder over integer frequency tables, vectorized over S lanes.

The model hands the coder, at every step, one frequency table per lane (stream):
``freq`` of shape (n, 256), every entry >= 1, every row summing to ``M = 2**16``.
Each lane has its own rANS state; all lanes advance in lockstep with numpy
operations, so coding costs a few array operations per step, not per symbol.

State invariants (32-bit rANS, 16-bit renormalization, ``L = 2**16``):

* Between symbols every lane's state ``x`` lies in ``[L, 2**32)``.
* Encoding symbol s (start ``c``, frequency ``f``) first emits the low 16 bits of
  ``x`` while ``x >= f * 2**16`` (at most once, since x < 2**32), then sets
  ``x = (x // f) * M + x % f + c``.
* Decoding reads ``slot = x % M``, finds s with ``c_s <= slot < c_s + f_s``, sets
  ``x = f_s * (x >> 16) + slot - c_s`` and, if ``x < L``, reads one 16-bit word.
  The decoder therefore retraces the encoder's states exactly in reverse.

rANS is last-in first-out, so ``Encoder.put`` only records (start, freq) and
``Encoder.finish`` codes the steps backwards. Words are laid out so the decoder
reads forwards: first every lane's final state (low word, high word, lane 0
first), then for each step the words of the lanes that renormalized, in lane
order. The decoder ends with every lane back at ``L`` and every word consumed;
anything else means corrupted data.

Only a prefix of lanes may be active at a step (``n <= S``, non-increasing over
steps): a block's streams differ in length by at most one byte, longest first.
"""

from __future__ import annotations

from typing import List

import numpy as np

from .errors import LstmzipError

PROB_BITS = 16
M = 1 << PROB_BITS              # frequency-table total
L = 1 << 16                     # lower bound of the normalized state interval
WORD_MASK = 0xFFFF


def _start_of(freq: np.ndarray, symbols: np.ndarray) -> np.ndarray:
    """Cumulative frequency below each lane's symbol: sum(freq[k, :symbols[k]])."""
    below = np.arange(freq.shape[1]) < symbols[:, None]
    return (freq * below).sum(axis=1)


class Encoder:
    """Records one symbol per active lane per step; ``finish()`` returns the words."""

    def __init__(self, lanes: int):
        self.lanes = lanes
        self._starts: List[np.ndarray] = []
        self._freqs: List[np.ndarray] = []

    def put(self, symbols: np.ndarray, freq: np.ndarray) -> None:
        """Code ``symbols[k]`` of lane k under table ``freq[k]`` for the first len(symbols) lanes."""
        self._starts.append(_start_of(freq, symbols).astype(np.uint32))
        self._freqs.append(freq[np.arange(len(symbols)), symbols].astype(np.uint32))

    def finish(self) -> bytes:
        x = np.full(self.lanes, L, np.uint64)
        chunks = []
        for start, f in zip(reversed(self._starts), reversed(self._freqs)):
            n = len(f)
            xs = x[:n]
            f = f.astype(np.uint64)
            spill = xs >= (f << np.uint64(16))
            if spill.any():
                chunks.append((xs[spill] & WORD_MASK).astype(np.uint16)[::-1])
                xs[spill] >>= np.uint64(16)
            x[:n] = (xs // f << np.uint64(PROB_BITS)) + xs % f + start
        final = np.stack([x & WORD_MASK, x >> np.uint64(16)], axis=1).astype(np.uint16).ravel()
        chunks.append(final[::-1])
        words = np.concatenate(chunks)[::-1] if chunks else np.zeros(0, np.uint16)
        return words.astype("<u2").tobytes()


class Decoder:
    """Mirror of ``Encoder``: ``get(freq)`` returns the symbols of the first len(freq) lanes."""

    def __init__(self, payload: bytes, lanes: int):
        if len(payload) % 2 or len(payload) < 4 * lanes:
            raise LstmzipError("corrupted rANS payload (too short)")
        self.words = np.frombuffer(payload, "<u2").astype(np.uint64)
        self.lanes = lanes
        self.pos = 2 * lanes
        head = self.words[:self.pos].reshape(lanes, 2)
        self.x = head[:, 0] | (head[:, 1] << np.uint64(16))
        if (self.x < L).any():
            raise LstmzipError("corrupted rANS payload (bad initial state)")

    def get(self, freq: np.ndarray) -> np.ndarray:
        n = len(freq)
        xs = self.x[:n]
        cum = np.cumsum(freq, axis=1)                              # (n, 256) upper bounds
        slot = (xs & WORD_MASK).astype(np.int64)
        symbols = (cum <= slot[:, None]).sum(axis=1)               # first s with slot < cum[s]
        f = freq[np.arange(n), symbols]
        start = cum[np.arange(n), symbols] - f
        xs = f.astype(np.uint64) * (xs >> np.uint64(16)) + (slot - start).astype(np.uint64)
        low = xs < L
        k = int(np.count_nonzero(low))
        if k:
            if self.pos + k > len(self.words):
                raise LstmzipError("truncated or corrupted rANS payload")
            xs[low] = (xs[low] << np.uint64(16)) | self.words[self.pos:self.pos + k]
            self.pos += k
        self.x[:n] = xs
        return symbols

    def finish(self) -> None:
        """Verify the decoder ended exactly where the encoder started."""
        if self.pos != len(self.words) or (self.x != L).any():
            raise LstmzipError("corrupted rANS payload (final state mismatch)")
