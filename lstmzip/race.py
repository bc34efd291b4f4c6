"""A block's codings, one after another, each stopped as soon as it clearly loses.

The compressor codes a text-like block up to three ways and keeps the smallest: the context models
on the raw bytes, the same on the word-transformed bytes (cm+dict), and the context models with the
LSTM. Coded in full that is three passes over the block, and on most blocks two of them lose by a
margin that shows early. So the first coding runs in full and records a ``Profile``: its code
length against the raw bytes it has coded, every PROFILE_EVERY steps. Each later coding is checked
at a few of its steps (1/8, 1/4 and 1/2 of them) against what the best finished coding spent on the
same raw bytes, and stopped (``Stopped``) when it is behind by more than that check's margin. A
stopped coding costs only the time it ran. The choice among the finished codings stays exact, so a
wrong stop can only cost what the stopped coding would have gained, never more; the decoder sees
none of this.

The margins (measured on development files of 100 KB-1 MB made here or taken from Silesia;
bench/RESULTS.md section 5.0):

* A one-stream coding against another (raw against transformed): the loser's deficit shrinks as
  the models learn the block, to about 1/3-1/2 of what it was at 1/8 of the block, so it is stopped
  when behind by 4 % at 1/8, 2 % at 1/4 or 1 % at 1/2 (it would have lost by about 1 % or more);
  never before 64 KiB (the LSTM probe reads the raw coding's cost up to there).
* The LSTM coding runs the block as many lockstep streams (one per 8 KiB); every stream starts
  without a history of its own, so its code is dear early and cheap late. On ten development
  files: where it won by 3.1-15.5 % it had spent at most 1.54x the reference's bytes
  at 1/8 of its steps, 1.30x at 1/4, 1.11x at 1/2 (licence texts, a changelog, Python); where it
  lost by 6.7-18.5 %, at least 1.62x, 1.41x, 1.25x. It is stopped above 1.75x at 1/8, 1.40x at 1/4,
  1.18x at 1/2.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Dict, Optional, Sequence, Tuple

import numpy as np

PROFILE_EVERY = 4096          # a finished one-stream coding's code length is known every 4 KiB
ONE_STREAM_MARGINS = ((1 / 8, 0.04), (1 / 4, 0.02), (1 / 2, 0.01))
LSTM_MARGINS = ((1 / 8, 0.75), (1 / 4, 0.40), (1 / 2, 0.12))
MIN_RACE = 64 << 10           # blocks up to 64 KiB are coded every way in full (cheap, and the
                              # margins were measured on longer ones)


class Stopped(Exception):
    """A coding stopped early: it was behind the best finished one by more than the margin."""


@dataclass
class Profile:
    """A finished one-stream coding: ``cost[i]`` code bytes written when raw[i] raw bytes of the
    block were coded (both increasing, from 0 to the block's length and the code's)."""
    raw: np.ndarray
    cost: np.ndarray
    total: int                     # the whole payload's length (what the candidates compare)

    def spent(self, a: np.ndarray, b: np.ndarray) -> float:
        """What this coding spent on raw bytes [a_k, b_k), summed over k (linear within 4 KiB)."""
        return float(np.sum(np.interp(b, self.raw, self.cost) - np.interp(a, self.raw, self.cost)))


def profile_marks(steps: int, raw_at: Optional[Tuple[Sequence[int], Sequence[int]]] = None) -> Dict[int, None]:
    """The steps a one-stream coding records its code length at: every PROFILE_EVERY steps, or
    for a transformed block the starts of forward_map's pieces (``raw_at = (raw, coded)``)."""
    if raw_at is not None:
        return {int(t): None for t in raw_at[1][1:-1]}
    return {t: None for t in range(PROFILE_EVERY, steps, PROFILE_EVERY)}


def profile(marks: Dict[int, Optional[int]], steps: int, total: int,
            raw_at: Optional[Tuple[Sequence[int], Sequence[int]]] = None) -> Profile:
    """The Profile of a finished one-stream coding from its marks (profile_marks's, filled by
    cm_encode) and its payload's length ``total`` (the code after the last mark ends there)."""
    if raw_at is not None:
        at = [int(t) for t in raw_at[1][1:-1]]
        raw = np.asarray(raw_at[0], np.float64)
    else:
        at = sorted(marks)
        raw = np.array([0] + at + [steps], np.float64)
    cost = np.array([0] + [marks[t] for t in at] + [total], np.float64)
    return Profile(raw, cost, total)


def stopper(ref: Profile, steps: int, covered: Callable[[int], Tuple[np.ndarray, np.ndarray]],
            margins, first: int = 1) -> Tuple[Dict[int, None], Callable[[int, int], None]]:
    """(marks, check) for a later coding of ``steps`` steps: cm_encode fills the marks and calls
    check(step, code length so far), which raises Stopped when the coding has spent more than
    (1 + margin) times what ``ref`` spent on the raw bytes it has covered (``covered(step)``:
    arrays of starts and ends). No check before step ``first`` (checks that fall before it move
    there, with the widest of their margins)."""
    at: Dict[int, float] = {}
    for f, m in margins:
        t = min(max(1, int(steps * f), first), steps - 1)
        if t >= 1:                                 # (a one-step coding has nothing to check)
            at[t] = max(m, at.get(t, m))

    def check(t: int, code_len: int) -> None:
        margin = at.get(t)
        if margin is None:
            return
        a, b = covered(t)
        if code_len > (1 + margin) * ref.spent(a, b):
            raise Stopped(t)
    return {t: None for t in at}, check


def partial(marks: Dict[int, Optional[int]], raw_at=None) -> Optional[Profile]:
    """The Profile of a stopped one-stream coding as far as it went (its filled marks; None if
    none was filled): only for reading what it spent, never a reference (total: infinite)."""
    done = sorted(t for t, v in marks.items() if v is not None)
    if not done:
        return None
    raw = [float(t) for t in done] if raw_at is None else list(np.interp(done, raw_at[1], raw_at[0]))
    return Profile(np.array([0.0] + raw), np.array([0.0] + [float(marks[t]) for t in done]), 1 << 62)


def one_stream(raw_at=None) -> Callable[[int], Tuple[np.ndarray, np.ndarray]]:
    """covered() of a one-stream coding: raw bytes [0, t), or through forward_map's pieces."""
    if raw_at is None:
        return lambda t: (np.zeros(1), np.array([float(t)]))
    raw, coded = (np.asarray(v, np.float64) for v in raw_at)
    return lambda t: (np.zeros(1), np.array([np.interp(t, coded, raw)]))


def lockstep(starts: np.ndarray, n: int) -> Callable[[int], Tuple[np.ndarray, np.ndarray]]:
    """covered() of a coding in lockstep streams: the first t bytes of every stream."""
    starts = np.asarray(starts, np.float64)
    ends = np.append(starts[1:], n)
    return lambda t: (starts, np.minimum(starts + t, ends))
