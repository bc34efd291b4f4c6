"""Bit histories: a nonstationary counter state machine that fits in one byte.

A context slot of the v2 predictor keeps, for every node of the bit tree, one byte: the state
of what was seen in that context at that node. A state stands for a pair of counts (n0, n1)
of zeros and ones, and, while both are small and non-zero, the last bit seen::

    on a bit b:   n_b += 1
                  if the other count n_o > 2:  n_o = n_o // 2 + 1      (old evidence fades)
                  while (n0, n1) is not allowed: n_b -= 1                (counts are bounded)
    allowed:      min(n0, n1) = 0, 1, 2, 3, 4, 5, 6  with  max(n0, n1) <= 48, 32, 20, 12, 9, 7, 6
    last bit:     kept only when n0 > 0, n1 > 0 and n0 + n1 <= 5

State 0 is (0, 0): never seen. The states are numbered in the order a breadth-first walk
from state 0 meets them (bit 0 before bit 1), which gives 229 states. ``NEXT[s, bit]`` is
the transition, ``N0``/``N1`` the counts, ``INIT_P`` the 16-bit probability of a 1 an
adaptive state map starts from: (2 n1 + 1) / (2 (n0 + n1) + 2).

The table is part of the file format (a v2 cm block's predictions depend on every entry):
it must never change. ``TABLE_SHA256`` pins it; a test rebuilds it and compares.
"""

from __future__ import annotations

import hashlib
from collections import deque

import numpy as np

CAPS = {0: 48, 1: 32, 2: 20, 3: 12, 4: 9, 5: 7, 6: 6}     # min count -> largest max count
LAST_BIT_TOTAL = 5


def _allowed(n0: int, n1: int) -> bool:
    lo, hi = min(n0, n1), max(n0, n1)
    return lo in CAPS and hi <= CAPS[lo]


def _canonical(n0: int, n1: int, last: int):
    return (n0, n1, last if n0 and n1 and n0 + n1 <= LAST_BIT_TOTAL else 0)


def _after(state, bit: int):
    n0, n1, _ = state
    if bit:
        n1 += 1
        if n0 > 2:
            n0 = n0 // 2 + 1
    else:
        n0 += 1
        if n1 > 2:
            n1 = n1 // 2 + 1
    while not _allowed(n0, n1):
        if bit:
            n1 -= 1
        else:
            n0 -= 1
    return _canonical(n0, n1, bit + 1)


def build():
    """(NEXT, N0, N1): the transition table (states x 2) and each state's counts."""
    start = (0, 0, 0)
    number, order, todo = {start: 0}, [start], deque([start])
    while todo:
        s = todo.popleft()
        for bit in (0, 1):
            t = _after(s, bit)
            if t not in number:
                number[t] = len(order)
                order.append(t)
                todo.append(t)
    nxt = np.array([[number[_after(s, b)] for b in (0, 1)] for s in order], np.int64)
    n0 = np.array([s[0] for s in order], np.int64)
    n1 = np.array([s[1] for s in order], np.int64)
    return nxt, n0, n1


NEXT, N0, N1 = build()
N_STATES = len(NEXT)
INIT_P = ((2 * N1 + 1) * 65536) // (2 * (N0 + N1) + 2)
TOTAL = N0 + N1                   # a bucket's priority when one must be replaced


def table_sha256() -> str:
    return hashlib.sha256(NEXT.astype("<i2").tobytes() + N0.astype("<i2").tobytes()
                          + N1.astype("<i2").tobytes()).hexdigest()


TABLE_SHA256 = "32b6f4859f3542476c03aafd8433d5d5a470057dd29aea643207fe2d4d1c5a25"
