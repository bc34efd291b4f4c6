"""The integer LSTM's elementwise work, fused and compiled (numba): the same bits as numpy.

``engine.NumpyEngine`` does every GEMM with BLAS and then, per layer, about twenty numpy
passes over (S, 4H) int32 arrays (shift, clip, offset, table lookup, cell update, ...); each
pass costs a call overhead that dominates at small S and a trip through memory at large S.
These two kernels do the same integer arithmetic, written out in ``engine.py``'s docstring, in
one pass each. Every value is an exact integer (the GEMM results are integer-valued float32
by ``Model.validate``'s bound, and every accumulator fits int32 — also proved there), so the
results are identical bit for bit to the numpy expressions; ``tests/test_engine.py`` checks it
against the numpy reference (``NumpyEngine(fused=False)``) and the TensorFlow backend.

``nogil=True``: the engine's threads, which split the streams, run these in parallel.
"""

from __future__ import annotations

import numpy as np
from numba import njit


@njit(cache=True, nogil=True)
def lstm_cell(accf, add, add_rows, shift, r, offset, gate_table, c, p, tanh0, h_self, h_next):
    """One layer after its GEMM, for every row (stream):

        u      = clip((int(accf) + add[add_rows[row]]) >> shift, -r, r) + offset
        i,f,g,o = gate_table[u]   (column blocks of H)
        c      = clip((f*c + i*g) >> 8, -32767, 32767)
        h      = (o * gate_table[clip(c >> (8-p), -r, r) + tanh0 + r]) >> 9

    h goes to h_self (this layer's recurrent input) and h_next (the layer above; may be h_self).
    """
    n = accf.shape[0]
    hidden = c.shape[1]
    four = 4 * hidden
    gates = np.empty(four, np.int32)
    for row in range(n):
        a = add_rows[row]
        for col in range(four):                      # one pass over the gate block (vectorizes)
            u = (np.int32(accf[row, col]) + add[a, col]) >> shift
            u = min(max(u, -r), r)
            gates[col] = gate_table[u + offset[col]]
        for j in range(hidden):
            cell = (gates[hidden + j] * c[row, j] + gates[j] * gates[2 * hidden + j]) >> 8
            cell = min(max(cell, -32767), 32767)
            c[row, j] = cell
            t = min(max(cell >> (8 - p), -r), r)
            hv = (gates[3 * hidden + j] * gate_table[t + tanh0 + r]) >> 9
            h_self[row, j] = hv
            h_next[row, j] = hv


@njit(cache=True, nogil=True)
def frequencies(zf, b_out, out_shift, d_max, exp_table, total_m, freq):
    """Logits -> frequency tables: z = int(zf) + b_out; d = min((max z - z) >> out_shift, d_max);
    e = exp_table[d]; freq = 1 + e*(M-256) // sum(e); the first maximum gets what is left of M."""
    n, k = zf.shape
    for row in range(n):
        top = 0
        ztop = int(zf[row, 0]) + b_out[0]
        for s in range(1, k):
            z = int(zf[row, s]) + b_out[s]
            if z > ztop:
                ztop = z
                top = s
        total = 0
        for s in range(k):
            d = (ztop - (int(zf[row, s]) + b_out[s])) >> out_shift
            if d > d_max:
                d = d_max
            e = exp_table[d]
            freq[row, s] = e
            total += e
        acc = 0
        inv = 1.0 / total
        for s in range(k):
            # floor(e * (M-256) / total), exactly: a float guess within 1 of it, then integer
            # corrections (numerator < 2**33, total < 2**25: the guess is off by far less than 1)
            num = freq[row, s] * (total_m - 256)
            q = np.int64(num * inv)
            if q * total > num:
                q -= 1
            elif (q + 1) * total <= num:
                q += 1
            f = 1 + q
            freq[row, s] = f
            acc += f
        freq[row, top] += total_m - acc


# ---- online adaptation (adapt.DeepAdapter): the window again, and back through it ----------

@njit(cache=True, nogil=True)
def lstm_cell_saving(acc, add, add_rows, shift, r, offset, gate_table, c, p, tanh0, gates, c_prev, tc, h):
    """``lstm_cell`` on an int64 accumulator (the float64 GEMM's exact result), keeping what the
    backward pass needs: the gates (k, 4H), the cell state before the step and tanh(c) after it.
    c is updated in place; h (k, H) receives the output."""
    n, four = acc.shape
    hidden = four // 4
    for row in range(n):
        a = add_rows[row]
        for col in range(four):
            u = (acc[row, col] + add[a, col]) >> shift
            u = min(max(u, -r), r)
            gates[row, col] = gate_table[u + offset[col]]
        for j in range(hidden):
            cp = c[row, j]
            c_prev[row, j] = cp
            cell = (gates[row, hidden + j] * cp + gates[row, j] * gates[row, 2 * hidden + j]) >> 8
            cell = min(max(cell, -32767), 32767)
            c[row, j] = cell
            t = min(max(cell >> (8 - p), -r), r)
            tv = gate_table[t + tanh0 + r]
            tc[row, j] = tv
            h[row, j] = (gates[row, 3 * hidden + j] * tv) >> 9


@njit(cache=True, nogil=True)
def lstm_cell_backward(dh, dh_rec, dc, gates, c_prev, tc, limit, du):
    """One layer, one step, backwards (docs/adapt.md), all integers in 2**-16 units:

        dh = clip(dh + dh_rec);  do = dh*tc >> 8;  dtc = dh*o >> 8
        dc = clip(dc + (dtc * (65536 - tc*tc) >> 16))
        di, df, dg = dc*g >> 8, dc*c_prev >> 8, dc*i >> 8;  dc <- dc*f >> 8   (to the step before)
        du = clip([di*i(256-i) >> 16 | df*f(256-f) >> 16 | dg*(65536-g*g) >> 16 | do*o(256-o) >> 16])

    dc is updated in place; du (k, 4H) float64 receives the gate gradients."""
    n, hidden = dh.shape
    for row in range(n):
        for j in range(hidden):
            i = gates[row, j]
            f = gates[row, hidden + j]
            g = gates[row, 2 * hidden + j]
            o = gates[row, 3 * hidden + j]
            t = tc[row, j]
            d = min(max(dh[row, j] + dh_rec[row, j], -limit), limit)
            do = (d * t) >> 8
            dtc = (d * o) >> 8
            dcv = min(max(dc[row, j] + ((dtc * (65536 - t * t)) >> 16), -limit), limit)
            di = (dcv * g) >> 8
            df = (dcv * c_prev[row, j]) >> 8
            dg = (dcv * i) >> 8
            dc[row, j] = (dcv * f) >> 8
            du[row, j] = min(max((di * (i * (256 - i))) >> 16, -limit), limit)
            du[row, hidden + j] = min(max((df * (f * (256 - f))) >> 16, -limit), limit)
            du[row, 2 * hidden + j] = min(max((dg * (65536 - g * g)) >> 16, -limit), limit)
            du[row, 3 * hidden + j] = min(max((do * (o * (256 - o))) >> 16, -limit), limit)


@njit(cache=True, nogil=True)
def _sgd_master(m, g, shift, lim):
    """m -= floor(g * 2**shift) (shift may be negative: a floor shift), clipped to +-lim."""
    gi = np.int64(g)
    d = gi << shift if shift >= 0 else gi >> -shift
    return min(max(m - d, -lim), lim)


@njit(cache=True, nogil=True)
def sgd_weights(m, g, shift, lim, frac, q_lim, out32, out64):
    """One SGD step of int64 master weights m by the int64 gradient g (flat arrays), in place,
    and the rounded weights clip(m >> frac, +-q_lim) into out32 (float32, the forward's GEMM
    operand) and out64 (float64, the backward's): one pass where numpy takes seven."""
    for i in range(m.size):
        v = _sgd_master(m[i], g[i], shift, lim)
        m[i] = v
        q = min(max(v >> frac, -q_lim), q_lim)
        out32[i] = q
        out64[i] = q


@njit(cache=True, nogil=True)
def sgd_table(m, g, shift, lim, frac, q_lim, out):
    """The same step with the rounded values into out (int64, flat)."""
    for i in range(m.size):
        v = _sgd_master(m[i], g[i], shift, lim)
        m[i] = v
        out[i] = min(max(v >> frac, -q_lim), q_lim)
