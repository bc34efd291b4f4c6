"""The integer LSTM step: previous bytes of S streams -> S integer frequency tables.

Both halves of the codec call ``Engine.step`` in the same order on the same
inputs; this module is therefore the whole of what must be bit-identical on
every machine. It is, by construction:

* Matrix products run in float32 on integer-valued operands: int8 weights times
  activations in [-128, 127]. ``Model.validate`` guarantees every column's
  ``128 * sum|W|`` is below 2**24, so every partial sum of every summation order
  (any BLAS kernel, thread split, FMA, GPU) is an exactly representable integer.
  The GEMM result is converted to int32 right away; everything after it is
  integer arithmetic (floor shifts, clips, table lookups, one integer division).
* sigmoid, tanh and exp are tables stored in the model file (``model.py``);
  no libm call happens while coding.

One step, for layer l (columns of the gate block are [i | f | g | o])::

    acc = X @ W_l (+ in_table[prev] on layer 1) + b_l        # (S, 4H) int
    u   = clip(acc >> (ws_l + 7 - P), -R, R)                 # gate pre-activation, 2**-P units
    i, f, o = sigmoid_table[u];  g = tanh_table[u]           # 256 == 1.0
    c'  = clip((f * c + i * g) >> 8, -32767, 32767)          # 256 == 1.0
    h'  = (o * tanh_table[clip(c' >> (8 - P), -R, R)]) >> 9  # [-128, 127], 128 == 1.0

and the output layer turns logits into a frequency table that sums to 2**16::

    z = h_L @ w_out + b_out;  d = min((max z - z) >> (wso + 7 - Q), D - 1)
    e = exp_table[d];  freq = 1 + e * 65280 // sum(e);  freq[argmax z] += 65536 - sum(freq)

``NumpyEngine`` is the reference; ``TFEngine`` (``--backend tf``) is the same
computation in TensorFlow ops for CPU or GPU and must give identical tables.
State is plain arrays (``EngineState``), so a later adaptive mode can keep what a
backward pass needs.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
from concurrent.futures import ThreadPoolExecutor
from typing import List

import numpy as np

from .coder import M as PROB_TOTAL   # every frequency table sums to the coder's total, 2**16
from .model import Model
START_BYTE = 0                     # the "previous byte" of a stream's first step
BACKENDS = ("numpy", "tf")


@dataclasses.dataclass
class EngineState:
    """Recurrent state of S streams, as plain numpy arrays.

    ``xs[l]`` is the float32 GEMM input of layer l+1: ``h_1`` for the first layer,
    ``[h_l | h_(l+1)]`` for the others (integer values stored as float32 so the
    product needs no conversion); ``cs[l]`` is layer l+1's int32 cell state.
    """

    xs: List[np.ndarray]   # (S, K_l) float32
    cs: List[np.ndarray]   # (S, H) int32


def one_blas_thread():
    """OpenBLAS limited to one thread (a context) for a coding loop: its own threads busy-wait,
    and on a machine whose cores are busy with other work (other processes, --workers, a
    cluster's worker threads) they slowed coding down up to 100x: measured at load 6, 86 s
    against 3.1 s for 16 KB at -1. The engine's threads, which split the streams, just sleep."""
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:                     # runs correctly anyway, only without the limit
        return contextlib.nullcontext()
    return threadpool_limits(limits=1, user_api="blas")


def available_cores() -> int:
    """CPU cores this process may run on (at most 8: more threads stop paying off)."""
    try:
        n = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        n = os.cpu_count() or 1
    return max(1, min(8, n))


def _fixed_point(model: Model):
    """Shifts, ranges and column offsets shared by both backends."""
    c = model.config
    h, r, p = c.hidden, c.gate_range, c.gate_bits
    tanh0 = 2 * r + 1                                      # tanh part starts here in gate_table
    offset = np.full(4 * h, r, np.int32)                   # sigmoid columns: index u + R
    offset[2 * h:3 * h] = tanh0 + r                        # g columns: tanh part
    gate_shifts = [ws + 7 - p for ws in c.weight_shifts]
    out_shift = c.out_shift + 7 - c.logit_bits
    return h, r, p, tanh0, offset, gate_shifts, out_shift


class NumpyEngine:
    """The reference integer engine (numpy, any BLAS, any thread count)."""

    backend = "numpy"
    MIN_ROWS_PER_THREAD = 32        # below this, splitting the streams costs more than it saves

    def __init__(self, model: Model, threads: int = 0, fused: bool = True):
        self.model = model
        self.fused = fused          # numba kernels for the elementwise work (engine_kernels.py)
        self.threads = threads if threads > 0 else available_cores()
        self._pool = ThreadPoolExecutor(self.threads) if self.threads > 1 else None
        (self.hidden, self.r, self.p, self.tanh0, self.offset,
         self.gate_shifts, self.out_shift) = _fixed_point(model)
        self.kernels = [w.astype(np.float32) for w in model.weights]       # exact: |w| <= 127
        self.w_out = model.w_out.astype(np.float32)
        self.in_table = model.in_table + model.biases[0]                   # layer-1 input + bias, int32
        self.biases = model.biases
        self.b_out = model.b_out
        self.gate_table = model.gate_table
        self.exp_table64 = model.exp_table.astype(np.int64)
        self.d_max = model.config.exp_size - 1
        self.bias_rows = [b.reshape(1, -1) for b in model.biases]            # for the fused cell
        self._zero_rows = np.zeros(1 << 16, np.int64)                       # streams never exceed 2**16
        self._twin = None

    def static_twin(self) -> "NumpyEngine":
        """An engine of the same model that never adapts (made once): the static model's input
        beside an adapting engine (docs/cm.md, TWIN blocks)."""
        if self._twin is None:
            self._twin = NumpyEngine(self.model, self.threads, self.fused)
        return self._twin

    def initial_state(self, streams: int) -> EngineState:
        h, n = self.hidden, len(self.kernels)
        xs = [np.zeros((streams, h if l == 0 else 2 * h), np.float32) for l in range(n)]
        cs = [np.zeros((streams, h), np.int32) for _ in range(n)]
        return EngineState(xs, cs)

    def set_output_layer(self, w: np.ndarray, b: np.ndarray) -> None:
        """Replace the output layer (online adaptation): integer (H, 256) weights within int8
        (so the GEMM stays exact: K = H <= 1024) and (256,) biases within +-2**20."""
        self.w_out = np.asarray(w, np.float32)
        self.b_out = np.asarray(b, np.int32)

    def set_layers(self, in_table: np.ndarray, weights, biases) -> None:
        """Replace the recurrent layers (online adaptation): layer-1 input table with its bias
        folded in (int32 (256, 4H)), int8-valued kernels, int32 biases (layer 1's unused), all
        within ``Model.validate``'s bounds."""
        self.in_table = np.asarray(in_table, np.int32)
        self.kernels = [np.asarray(w, np.float32) for w in weights]
        self.biases = [np.asarray(b, np.int32) for b in biases]
        self.bias_rows = [b.reshape(1, -1) for b in self.biases]

    def top_output(self, state: EngineState, n: int) -> np.ndarray:
        """The top layer's output h (n, H) of the last step, integer-valued float32."""
        return state.xs[-1][:n, -self.hidden:]

    def parallel(self):
        """Context for a coding loop (``one_blas_thread``): our own threads split the streams."""
        return one_blas_thread()

    def step(self, prev: np.ndarray, state: EngineState) -> np.ndarray:
        """Advance the first ``len(prev)`` streams by one byte; return their (n, 256) int64 tables.

        ``prev`` holds each stream's previous byte. Streams past ``len(prev)`` are
        left untouched (the codec only ever drops streams at a block's last step).
        With several threads the rows are cut into contiguous chunks computed in
        parallel; rows are independent, so the tables are the same bits.
        """
        n = len(prev)
        chunks = min(self.threads, n // self.MIN_ROWS_PER_THREAD)
        if chunks <= 1:
            return self._rows(prev, [x[:n] for x in state.xs], [c[:n] for c in state.cs])
        cuts = [n * k // chunks for k in range(chunks + 1)]
        parts = self._pool.map(
            lambda k: self._rows(prev[cuts[k]:cuts[k + 1]], [x[cuts[k]:cuts[k + 1]] for x in state.xs],
                                 [c[cuts[k]:cuts[k + 1]] for c in state.cs]),
            range(chunks))
        return np.concatenate(list(parts))

    def _rows(self, prev: np.ndarray, xs: List[np.ndarray], cs: List[np.ndarray]) -> np.ndarray:
        """One step for the streams whose state rows are the views xs, cs (updated in place)."""
        if not self.fused:
            return self._rows_numpy(prev, xs, cs)
        from .engine_kernels import frequencies, lstm_cell
        h, top = self.hidden, len(self.kernels) - 1
        zero_rows = self._zero_rows[:len(prev)]                             # bias row 0 for every stream
        for l, w in enumerate(self.kernels):
            x = xs[l]
            accf = x @ w                                                    # exact integers, float32
            add, rows = (self.in_table, prev) if l == 0 else (self.bias_rows[l], zero_rows)
            lstm_cell(accf, add, rows, self.gate_shifts[l], self.r, self.offset, self.gate_table, cs[l],
                      self.p, self.tanh0, x[:, -h:], xs[l + 1][:, :h] if l < top else x[:, -h:])
        zf = xs[top][:, -h:] @ self.w_out
        freq = np.empty((len(prev), 256), np.int64)
        frequencies(zf, self.b_out, self.out_shift, self.d_max, self.exp_table64, PROB_TOTAL, freq)
        return freq

    def _rows_numpy(self, prev: np.ndarray, xs: List[np.ndarray], cs: List[np.ndarray]) -> np.ndarray:
        """The reference: the same step in plain numpy passes (what the fused kernels must equal)."""
        h, top = self.hidden, len(self.kernels) - 1
        for l, w in enumerate(self.kernels):
            x = xs[l]
            acc = (x @ w).astype(np.int32)                                  # exact integers
            acc += np.take(self.in_table, prev, axis=0) if l == 0 else self.biases[l]
            np.right_shift(acc, self.gate_shifts[l], out=acc)               # floor to 2**-P
            np.clip(acc, -self.r, self.r, out=acc)
            acc += self.offset
            gates = np.take(self.gate_table, acc)                           # (n, 4H)
            i, f, g, o = gates[:, :h], gates[:, h:2 * h], gates[:, 2 * h:3 * h], gates[:, 3 * h:]
            c = cs[l]
            new_c = f * c
            new_c += i * g
            np.right_shift(new_c, 8, out=new_c)
            np.clip(new_c, -32767, 32767, out=c)                           # c updated in place
            t = np.right_shift(c, 8 - self.p)
            np.clip(t, -self.r, self.r, out=t)
            t += self.tanh0 + self.r
            hv = o * np.take(self.gate_table, t)
            np.right_shift(hv, 9, out=hv)                                   # [-128, 127]
            x[:, -h:] = hv                                                  # own recurrent input
            if l < top:
                xs[l + 1][:, :h] = hv                                       # input of the layer above
        z = (xs[top][:, -h:] @ self.w_out).astype(np.int32)
        z += self.b_out
        return self._frequencies(z)

    def _frequencies(self, z: np.ndarray) -> np.ndarray:
        """Integer logits (n, 256) -> frequency tables, each entry >= 1, rows summing to 2**16."""
        rows = np.arange(len(z))
        top = z.argmax(axis=1)
        d = z[rows, top][:, None] - z
        np.right_shift(d, self.out_shift, out=d)
        np.minimum(d, self.d_max, out=d)
        e = np.take(self.exp_table64, d)
        total = e.sum(axis=1, keepdims=True)
        e *= PROB_TOTAL - 256
        e //= total
        e += 1
        e[rows, top] += PROB_TOTAL - e.sum(axis=1)
        return e


def make_engine(model: Model, backend: str = "numpy", device: str = "auto", threads: int = 0):
    """An engine for `model` on the given backend ("numpy" or "tf"); threads 0 = all cores."""
    if backend == "numpy":
        return NumpyEngine(model, threads)
    if backend == "tf":
        from .engine_tf import TFEngine  # imports TensorFlow; only when asked for
        return TFEngine(model, device=device)
    raise ValueError(f"unknown backend {backend!r} (choose from {', '.join(BACKENDS)})")
