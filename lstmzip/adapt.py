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

FRAC = 16                       # fractional bits of the master weights
B_LIMIT = 1 << 20               # |b_out| bound kept by every update


@dataclasses.dataclass(frozen=True)
class AdaptParams:
    window_log2: int = 0        # T = 2**window_log2 steps per update; 0 = adaptation off
    lr_shift: int = 3           # learning rate 2**-lr_shift (in the units above)

    @property
    def on(self) -> bool:
        return self.window_log2 > 0


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
        self.engine.set_output_layer(w, b)

    def record(self, h_top: np.ndarray, freq: np.ndarray, sym: np.ndarray) -> bool:
        """One step: the top layer's output that produced `freq`, and the bytes then coded.
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
