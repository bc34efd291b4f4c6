"""Online adaptation of the LSTM's output layer while coding, in exact integer arithmetic.

Dynamic evaluation of the softmax: after every window of T steps, one gradient step of the
output layer on the window's bytes of all streams, and the decoder repeats it bit for bit after
decoding the same window. The state is carried across windows (nothing is cut here: only the
output layer learns, so the gradient needs no BPTT). Every block starts again from the model's
weights, so blocks stay independent.

The step, for the N = T x lanes samples of a window (h: the top layer's output, integers in
[-128, 127]; f: the frequency table the coder used, summing to 2**16; y: the coded byte)::

    g      = f - 2**16 * onehot(y)                     # dLoss/dz, 2**-16 units      (N, 256)
    G_W    = sum over steps of h_t^T @ g_t             # float64 GEMM per step, exact: |sum| < 2**35
    G_b    = sum_n g
    M_W   -= floor(G_W / N) >> lr_shift                # master weights, 2**16 per int8 step
    M_b   -= floor(G_b * 128 / N) >> lr_shift
    w_out  = clip(M_W >> 16, -127, 127);  b_out = clip(M_b >> 16, -B, B)

|h| <= 128 and |g| <= 2**16, so each product is below 2**23 and one step's (at most 4096 streams)
partial sums stay below 2**35 < 2**53 in any summation order: the float64 GEMM is exact on every
BLAS; the steps are summed in int64. Memory is one (H, 256) accumulator, whatever the window. The int8 output weights keep ``Model.validate``'s bound (K = H <= 1024: 128 * H * 127 <
2**24), and b_out stays within +-B = 2**20, so the logits and their differences fit int32.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from .engine import _fixed_point

FRAC = 16                       # fractional bits of the master weights
B_LIMIT = 1 << 20               # |b_out| bound kept by every update


@dataclasses.dataclass(frozen=True)
class AdaptParams:
    window_log2: int = 0        # T = 2**window_log2 steps per update; 0 = adaptation off
    lr_shift: int = 3           # learning rate 2**-lr_shift (in the units above)
    deep_lr_shift: int = 0      # > 0: the recurrent layers learn too (BPTT), rate 2**-deep_lr_shift

    @property
    def on(self) -> bool:
        return self.window_log2 > 0

    @property
    def deep(self) -> bool:
        return self.on and self.deep_lr_shift > 0


def make_adapter(engine, params: AdaptParams):
    """The adapter for these parameters: output layer only, or every layer (BPTT)."""
    if not params.on:
        return None
    return (DeepAdapter if params.deep else OutputAdapter)(engine, params)


class OutputAdapter:
    """Collects (h, f, y) of a window and updates the engine's output layer at its end.

    The engine must expose ``w_out`` (float32 (H, 256), integer-valued), ``b_out`` (int32 (256,))
    and the state's top-layer output; ``reset()`` restores the model's weights (block start).
    """

    def __init__(self, engine, params: AdaptParams):
        self.engine, self.params = engine, params
        self.window = 1 << params.window_log2
        model = engine.model
        self.w0 = model.w_out.astype(np.int64) << FRAC
        self.b0 = model.b_out.astype(np.int64) << FRAC
        self.reset()

    def reset(self) -> None:
        self.m_w = self.w0.copy()
        self.m_b = self.b0.copy()
        self._publish()
        self._clear()
        self.updates = 0

    def _clear(self) -> None:
        h = self.w0.shape[0]
        self._gw = np.zeros((h, 256), np.int64)           # sum of h^T g over the window so far
        self._gb = np.zeros(256, np.int64)
        self._n = 0
        self._t = 0

    def restore(self) -> None:
        """Give the engine back the model's own output layer (end of a block)."""
        model = self.engine.model
        self.engine.set_output_layer(model.w_out, model.b_out)

    def _publish(self) -> None:
        w = np.clip(self.m_w >> FRAC, -127, 127)
        b = np.clip(self.m_b >> FRAC, -B_LIMIT, B_LIMIT)
        self.w_pub = w                                     # the output layer the engine now uses
        self.engine.set_output_layer(w, b)

    def record(self, h_top: np.ndarray, freq: np.ndarray, sym: np.ndarray, state=None) -> bool:
        """One step: the top layer's output that produced `freq`, and the bytes then coded
        (``state``, the engine state after the step, is for the deep adapter).
        Returns True when this step ended a window (the layer was updated)."""
        g = freq.astype(np.int64)                          # copy: the coder's table stays as it was
        g[np.arange(len(sym)), sym] -= 1 << 16
        # exact: |h| <= 128, |g| <= 2**16, at most 4096 rows: every partial sum < 2**35 < 2**53
        self._gw += (np.asarray(h_top, np.float64).T @ g.astype(np.float64)).astype(np.int64)
        self._gb += g.sum(axis=0)
        self._n += len(g)
        self._t += 1
        if self._t == self.window:
            self.update()
            return True
        return False

    def update(self) -> None:
        grad_w, grad_b, n = self._gw, self._gb, self._n
        s = self.params.lr_shift
        self.m_w -= np.floor_divide(grad_w, n) >> s
        self.m_b -= np.floor_divide(grad_b * 128, n) >> s
        lim = 127 << FRAC                                  # masters stay near the int8 range
        np.clip(self.m_w, -lim - (1 << FRAC) + 1, lim + (1 << FRAC) - 1, out=self.m_w)
        np.clip(self.m_b, -(B_LIMIT << FRAC), B_LIMIT << FRAC, out=self.m_b)
        self._publish()
        self._clear()
        self.updates += 1

    def digest(self) -> int:
        """A CRC-32 of the current output layer (drift checks)."""
        import zlib
        return zlib.crc32(self.m_w.tobytes() + self.m_b.tobytes())


# ---- every layer: truncated BPTT in exact integer arithmetic -----------------------------

DEEP_LANES = 32                 # the deep gradient: streams 0..K-1, K = the largest power of two <= min(32, S)
GRAD_LIMIT = 1 << 24            # |dh|, |dc|, |du| are clipped here (2**-16 units): GEMMs stay exact
TABLE_LIMIT = 1 << 29           # |in_table|, |b_l| bound kept by every update (int32 accumulators)


def _floor_shift(a: np.ndarray, k: int) -> np.ndarray:
    """floor(a / 2**k) of an integer-valued float64 array, as int64 (exact: a < 2**53)."""
    return np.floor(a * (1.0 / (1 << k))).astype(np.int64)


class DeepAdapter(OutputAdapter):
    """Every layer learns: after each window of T steps, the window is run again from the state
    it started in, over the first K streams (the largest power of two <= min(DEEP_LANES, S)),
    keeping every activation; the
    gradient of the LSTM's own log loss goes back through the T steps (cut at the window's start,
    as in training) and one SGD step moves integer master weights of every layer. The output
    layer takes the all-streams step of ``OutputAdapter`` as well. docs/adapt.md has the rule.
    """

    def __init__(self, engine, params: AdaptParams):
        model = engine.model
        cfg = model.config
        self.ws = list(cfg.weight_shifts)
        self.wso = cfg.out_shift
        (self.h, self.r, self.p, self.tanh0, self.offset,
         self.gate_shifts, _) = _fixed_point(model)
        self.gate_table = model.gate_table.astype(np.int64)
        self.w0s = [w.astype(np.int64) << FRAC for w in model.weights]
        self.b0s = [b.astype(np.int64) << FRAC for b in model.biases]
        self.b0s[0] = np.zeros_like(self.b0s[0])                 # layer 1's bias lives in in_table
        self.in0 = (model.in_table.astype(np.int64) + model.biases[0]) << FRAC
        super().__init__(engine, params)

    # -- state -----------------------------------------------------------------------------
    def reset(self) -> None:
        self.m_ws = [w.copy() for w in self.w0s]
        self.m_bs = [b.copy() for b in self.b0s]
        self.m_in = self.in0.copy()
        self.k = None                   # lanes, fixed by the first step of the block
        self._start = None              # (xs, cs) of the K lanes when the window began
        self._last = None               # their previous byte at that point
        self._prevs, self._freqs, self._syms = [], [], []
        self.deep_updates = 0
        self._publish_layers()
        super().reset()

    def restore(self) -> None:
        model = self.engine.model
        self.engine.set_layers(model.in_table + model.biases[0], model.weights, model.biases)
        super().restore()

    def _publish_layers(self) -> None:
        """The rounded layers from the masters (at the block's start; _apply does the same in
        its one pass per array): int8-valued kernels as float32 (the forward, exact as the
        engine's) and float64 (the exact backward GEMMs), the tables and biases as int64."""
        self.w32 = [np.clip(m >> FRAC, -127, 127).astype(np.float32) for m in self.m_ws]
        self.wf = [w.astype(np.float64) for w in self.w32]
        self.bq = [np.clip(m >> FRAC, -TABLE_LIMIT, TABLE_LIMIT) for m in self.m_bs]
        self.inq = np.clip(self.m_in >> FRAC, -TABLE_LIMIT, TABLE_LIMIT)
        self._hand_over()

    def _hand_over(self) -> None:
        self.bq2 = [b.reshape(1, -1) for b in self.bq]
        self.engine.set_layers(self.inq, self.w32, self.bq)

    @property
    def wq(self):
        """The rounded kernels (int8 values, held as float32)."""
        return self.w32

    def _snapshot(self, state, k: int):
        return ([np.asarray(x)[:k].copy() for x in state.xs], [np.asarray(c)[:k].astype(np.int64) for c in state.cs])

    def record(self, h_top, freq, sym, state=None) -> bool:
        if self.k is None:                                   # the block's first step
            self.k = 1 << (min(DEEP_LANES, len(sym)).bit_length() - 1)     # a power of two
            h = self.h
            self._start = ([np.zeros((self.k, h if l == 0 else 2 * h), np.float32) for l in range(len(self.ws))],
                           [np.zeros((self.k, h), np.int64) for _ in self.ws])
            self._last = np.zeros(self.k, np.int64)          # engine.START_BYTE
        k = self.k
        full = len(sym) >= k
        if full:
            self._prevs.append(self._last)                   # replaced below, never written
            self._freqs.append(np.array(freq[:k], np.int64))     # copies: the caller's arrays move on
            self._last = np.array(sym[:k], np.int64)
            self._syms.append(self._last)
        ends = self._t + 1 == self.window
        if ends and full and len(self._prevs) == self.window:
            self._deep_update()                              # before the output layer moves
        done = super().record(h_top, freq, sym)
        if done:
            self._prevs, self._freqs, self._syms = [], [], []
            if state is not None and full:
                self._start = self._snapshot(state, k)
        return done

    # -- the window again, keeping what the backward pass needs ----------------------------
    def _forward(self, with_cells: bool = False):
        """Re-run the window from its starting state with the same weights: the same integers
        as the engine (tests check it), plus every layer's input, gates, c before, tanh(c)."""
        from .engine_kernels import lstm_cell_saving
        k, h, top = self.k, self.h, len(self.ws) - 1
        xs = [x.copy() for x in self._start[0]]                             # float32, as the engine's
        cs = [c.copy() for c in self._start[1]]
        zero_rows = np.zeros(k, np.int64)
        saved = []
        for prev in self._prevs:
            step = []
            for l in range(len(self.ws)):
                x = xs[l]
                acc = (x @ self.w32[l]).astype(np.int64)                 # exact: < 2**24 (Model.validate)
                gates = np.empty((k, 4 * h), np.int64)
                c_prev = np.empty((k, h), np.int64)
                tc = np.empty((k, h), np.int64)
                hv = np.empty((k, h), np.int64)
                add, rows = (self.inq, prev) if l == 0 else (self.bq2[l], zero_rows)
                lstm_cell_saving(acc, add, rows, self.gate_shifts[l], self.r, self.offset, self.gate_table,
                                 cs[l], self.p, self.tanh0, gates, c_prev, tc, hv)
                step.append((x, gates, c_prev, tc))
                nx = x.copy()
                nx[:, -h:] = hv
                xs[l] = nx
                if l < top:
                    xs[l + 1] = xs[l + 1].copy()
                    xs[l + 1][:, :h] = hv
            saved.append(step)
        return (saved, xs, cs) if with_cells else (saved, xs)

    def _deep_update(self) -> None:
        self._apply(*self.gradients())

    def gradients(self):
        """The window's summed gradients of the LSTM's log loss (nats) in integer units:
        per layer ``x^T du`` (2**-16 per (real x) x (real u)), per layer l > 1 the bias sums
        ``sum du``, and the layer-1 input table's ``sum du`` per previous byte."""
        from .engine_kernels import lstm_cell_backward
        saved, _ = self._forward()
        h, n_layers, T, k = self.h, len(self.ws), len(saved), self.k
        gw = [None] * n_layers
        gb = [np.zeros(b.shape, np.int64) for b in self.bq]
        gin = np.zeros(self.inq.shape, np.int64)
        w_out_t = self.w_pub.astype(np.float64).T                     # the layer the window used
        dh_rec = [np.zeros((k, h), np.int64) for _ in range(n_layers)]  # from step t+1, recurrent
        dc = [np.zeros((k, h), np.int64) for _ in range(n_layers)]
        rows = np.arange(k)
        dus = [np.empty((T * k, 4 * h), np.float64) for _ in range(n_layers)]   # du of every step
        for t in range(T - 1, -1, -1):
            g = self._freqs[t].copy()
            g[rows, self._syms[t]] -= 1 << 16                            # dLoss/dz, 2**-16 units
            dh = _floor_shift(g.astype(np.float64) @ w_out_t, self.wso)   # exact: < 2**24
            for l in range(n_layers - 1, -1, -1):
                x, gates, c_prev, tc = saved[t][l]
                du = dus[l][t * k:(t + 1) * k]
                lstm_cell_backward(dh, dh_rec[l], dc[l], gates, c_prev, tc, GRAD_LIMIT, du)
                dx = _floor_shift(du @ self.wf[l].T, self.ws[l])          # exact: 2**24 * 127 * 2H < 2**53
                if l == 0:
                    dh_rec[0] = dx
                else:
                    dh_rec[l] = dx[:, h:]
                    dh = dx[:, :h]                                       # the layer below, this step
        # the weight gradients, one GEMM per layer over the whole window: every partial sum
        # is an integer below 128 * 2**24 * T * K <= 2**49 (T <= 2**8, K <= 32), exact in float64
        for l in range(n_layers):
            xw = np.concatenate([saved[t][l][0] for t in range(T)]).astype(np.float64)
            gw[l] = (xw.T @ dus[l]).astype(np.int64)
            if l == 0:
                np.add.at(gin, np.concatenate(self._prevs), dus[0].astype(np.int64))
            else:
                gb[l] = dus[l].sum(axis=0).astype(np.int64)             # exact: 2**24 * T * K < 2**53
        return gw, gb, gin

    def _apply(self, gw, gb, gin) -> None:
        """One SGD step of the master weights, then the engine gets the rounded layers."""
        # N = T * K is a power of two: dividing by it and by 2**D is one floor shift
        # each array, in one compiled pass: m -= floor(g * 2**(up - shift)) (|g| < 2**48, up <= 14:
        # no overflow), clipped; then rounded for the engine
        from .engine_kernels import sgd_table, sgd_weights
        shift = self.params.window_log2 + self.k.bit_length() - 1 + self.params.deep_lr_shift
        lim_w, lim_t = (128 << FRAC) - 1, TABLE_LIMIT << FRAC
        flat = lambda a: a.reshape(-1)                                        # noqa: E731 (views)
        for l in range(len(self.ws)):
            w32, wf = np.empty(self.m_ws[l].shape, np.float32), np.empty(self.m_ws[l].shape, np.float64)
            sgd_weights(flat(self.m_ws[l]), flat(gw[l]), self.ws[l] - 7 - shift, lim_w, FRAC, 127,
                        flat(w32), flat(wf))
            self.w32[l], self.wf[l] = w32, wf
            if l > 0:
                bq = np.empty_like(self.m_bs[l])
                sgd_table(self.m_bs[l], gb[l], self.ws[l] + 7 - shift, lim_t, FRAC, TABLE_LIMIT, bq)
                self.bq[l] = bq
        inq = np.empty_like(self.m_in)
        sgd_table(flat(self.m_in), flat(gin), self.ws[0] + 7 - shift, lim_t, FRAC, TABLE_LIMIT, flat(inq))
        self.inq = inq
        self._hand_over()
        self.deep_updates += 1

    def digest(self) -> int:
        import zlib
        crc = super().digest()
        for m in self.m_ws + self.m_bs[1:] + [self.m_in]:
            crc = zlib.crc32(m.tobytes(), crc)
        return crc
