"""Fixed-point formats of the integer engine: lookup tables, weight shifts, exactness bounds.

numpy only. This is the one place where training's floats meet the engine's integers:

  weights    int8  W_int in [-127, 127], real W = W_int * 2^-ws       (one shift ws per layer matrix)
  activation int   h_int in [-128, 127], real h = h_int / 128
  accumulator int  acc,                  real     = acc * 2^-(ws + 7)
  cell       int   c_int in [-32767, 32767], real c = c_int / 256
  gates      int   table values in [0, 256] (sigmoid) / [-255, 255] (tanh), real = value / 256
  gate index u = clip(acc >> (ws + 7 - P), -R, R), R = 8 * 2^P: pre-activation u * 2^-P
  logits     d = min((max z - z) >> (wso + 7 - Q), D - 1), D = 24 * 2^Q, e = exp_table[d]

Exactness bound: every column j of every integer matrix satisfies 128 * sum_k |W[k, j]| < 2^24, so a
float32 GEMM of integer operands is exact in any summation order (see DESIGN.md).
"""
from __future__ import annotations

import numpy as np

from ..model import EXACT_LIMIT, exactness_margin, exp_table, gate_table, quantize  # noqa: F401

W_MAX = 127


def gate_range(gate_bits: int) -> int:
    """R: gate indices run over [-R, R], i.e. pre-activations in [-8, 8]."""
    return 8 << gate_bits


def choose_shift(w: np.ndarray, min_shift: int) -> int:
    """Power-of-two weight shift with the least quantization error.

    Candidates: the largest shift that fits max|w| in 127 without clipping, and up to two more that
    clip the few outliers but resolve the bulk of the weights more finely.
    """
    w = np.asarray(w, np.float64)
    top = float(np.max(np.abs(w))) or 1.0
    base = int(np.floor(np.log2(W_MAX / top)))
    best, best_err = None, np.inf
    for ws in range(base, base + 3):
        if ws < min_shift:
            continue
        err = float(np.sum((quantize(w, ws) * 2.0**-ws - w) ** 2))
        if err < best_err:
            best, best_err = ws, err
    return best if best is not None else min_shift


def check_exact(name: str, w_int: np.ndarray) -> None:
    bound = exactness_margin(w_int)
    if bound >= EXACT_LIMIT:
        raise ValueError(f"{name}: 128 * max column |sum| = {bound} >= 2^24; partial sums could be inexact "
                         f"in float32, refusing to export (fewer units or a larger shift needed)")
