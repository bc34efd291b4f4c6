"""The TensorFlow model: embedding -> L stacked LSTMs -> dense logits, in float or simulating the engine.

One set of variables serves both passes:

* float: the ordinary LSTM (Keras gate order i, f, g, o; sigmoid gates, tanh cell).
* QAT:   the integer engine's forward exactly (fake-quantized int8 weights, accumulators floored to
         the gate resolution, sigmoid/tanh/exp from the engine's own lookup tables, floored cell and
         hidden values), with straight-through gradients: the forward value is the engine's, the
         backward pass is the derivative of the float op it replaces.

All tensors are in real units (h = h_int / 128, etc.); scaling by powers of two is exact in float32,
so the QAT forward reproduces the integer engine bit for bit while sums stay below 2^24.
"""
from __future__ import annotations

import numpy as np
import tensorflow as tf

from . import quant


def _ste(x_float, x_quant):
    """Forward x_quant, backward d/dx of x_float."""
    return x_float + tf.stop_gradient(x_quant - x_float)


class QuantSpec:
    """Fixed shifts and tables for the QAT forward (chosen once from the float weights)."""

    def __init__(self, shifts: list[int], out_shift: int, gate_bits: int, logit_bits: int):
        self.shifts, self.out_shift = list(shifts), int(out_shift)
        self.P, self.Q = gate_bits, logit_bits
        self.R = quant.gate_range(gate_bits)
        table = quant.gate_table(gate_bits).astype(np.float32) / 256.0
        self.sig = tf.constant(table[: 2 * self.R + 1])
        self.tanh = tf.constant(table[2 * self.R + 1:])
        self.exp = tf.constant(quant.exp_table(logit_bits).astype(np.int64))
        self.D = int(self.exp.shape[0])


def fake_quant(w, ws: int):
    """int8 grid at scale 2^ws, straight-through."""
    s = 2.0 ** ws
    return _ste(w, tf.clip_by_value(tf.round(w * s), -quant.W_MAX, quant.W_MAX) / s)


def round_to(x, bits: int):
    """Round to the grid 2^-bits (biases, the input table), straight-through."""
    s = 2.0 ** bits
    return _ste(x, tf.round(x * s) / s)


class CharLSTM(tf.Module):
    def __init__(self, embed: int, layers: int, hidden: int, seed: int = 0):
        super().__init__(name="char_lstm")
        self.embed, self.layers, self.hidden = embed, layers, hidden
        rng = np.random.default_rng(seed)
        H = hidden

        def glorot(k, n):
            lim = np.sqrt(6.0 / (k + n))
            return rng.uniform(-lim, lim, (k, n)).astype(np.float32)

        def orthogonal(n, m):
            q, r = np.linalg.qr(rng.standard_normal((m, n)))
            return (q * np.sign(np.diag(r))).T[:n, :m].astype(np.float32)

        def bias():
            b = np.zeros(4 * H, np.float32)
            b[H:2 * H] = 1.0  # forget-gate bias 1 (Keras unit_forget_bias)
            return b

        self.emb = tf.Variable(rng.standard_normal((256, embed)).astype(np.float32) * 0.5, name="emb")
        self.wx, self.wh, self.b = [], [], []
        for l in range(layers):
            k_in = embed if l == 0 else H
            self.wx.append(tf.Variable(glorot(k_in, 4 * H), name=f"wx{l + 1}"))
            self.wh.append(tf.Variable(np.concatenate([orthogonal(H, H) for _ in range(4)], 1), name=f"wh{l + 1}"))
            self.b.append(tf.Variable(bias(), name=f"b{l + 1}"))
        self.w_out = tf.Variable(glorot(H, 256), name="w_out")
        self.b_out = tf.Variable(np.zeros(256, np.float32), name="b_out")

    @property
    def weights(self) -> list[tf.Variable]:
        """All trainable variables in a fixed order (checkpoint and optimizer order)."""
        out = [self.emb]
        for l in range(self.layers):
            out += [self.wx[l], self.wh[l], self.b[l]]
        return out + [self.w_out, self.b_out]

    def layer_of(self, var_name: str) -> str:
        """Grouping for per-layer gradient norms: 'emb', 'lstm1'.., 'out'."""
        base = var_name.split(":")[0]
        if base == "emb":
            return "emb"
        if base.endswith("_out"):
            return "out"
        return "lstm" + base.lstrip("wxhb")

    def zero_state(self, batch: int):
        z = tf.zeros((self.layers, batch, self.hidden), tf.float32)
        return z, z

    def __call__(self, x, h0, c0, q: QuantSpec | None = None):
        """x int32 [B, T]; h0, c0 [L, B, H] -> logits [B, T, 256], hT, cT [L, B, H].

        With `q`, the forward is the integer engine's (see module docstring).
        """
        T = x.shape[1]
        H = self.hidden
        hs, cs = [], []
        inp = None
        for l in range(self.layers):
            if q is None:
                wx, wh, b = self.wx[l], self.wh[l], self.b[l]
                if l == 0:
                    xp = tf.gather(self.emb @ wx, x) + b                              # (B, T, 4H)
                else:
                    xp = tf.einsum("btk,kg->btg", inp, wx) + b
            else:
                ws = q.shifts[l]
                acc_bits = ws + 7
                wh = fake_quant(self.wh[l], ws)
                b = round_to(self.b[l], acc_bits)
                if l == 0:
                    table = round_to(self.emb @ self.wx[l], acc_bits)                 # the engine's in_table
                    xp = tf.gather(table, x) + b
                else:
                    xp = tf.einsum("btk,kg->btg", inp, fake_quant(self.wx[l], ws)) + b
            h, c = h0[l], c0[l]
            outs = []
            for t in range(T):
                z = xp[:, t] + h @ wh                                                 # (B, 4H)
                if q is None:
                    i, f, g, o = tf.split(z, 4, axis=1)
                    c = tf.sigmoid(f) * c + tf.sigmoid(i) * tf.tanh(g)
                    h = tf.sigmoid(o) * tf.tanh(c)
                else:
                    h, c = self._qstep(z, c, q)
                outs.append(h)
            inp = tf.stack(outs, axis=1)                                              # (B, T, H)
            hs.append(h)
            cs.append(c)
        if q is None:
            logits = tf.einsum("bth,hv->btv", inp, self.w_out) + self.b_out
        else:
            logits = (tf.einsum("bth,hv->btv", inp, fake_quant(self.w_out, q.out_shift))
                      + round_to(self.b_out, q.out_shift + 7))
        return logits, tf.stack(hs), tf.stack(cs)

    @staticmethod
    def _qstep(z, c, q: QuantSpec):
        """One engine step in real units: z = acc (real), c = c_int / 256 -> (h, c)."""
        R, P = q.R, q.P
        idx = tf.cast(tf.clip_by_value(tf.floor(z * 2.0**P), -R, R) + R, tf.int32)  # acc >> gs, clipped
        zi, zf, zg, zo = tf.split(z, 4, axis=1)
        ii, fi, gi, oi = tf.split(idx, 4, axis=1)
        i = _ste(tf.sigmoid(zi), tf.gather(q.sig, ii))
        f = _ste(tf.sigmoid(zf), tf.gather(q.sig, fi))
        g = _ste(tf.tanh(zg), tf.gather(q.tanh, gi))
        o = _ste(tf.sigmoid(zo), tf.gather(q.sig, oi))
        c_new = f * c + i * g                                       # (f c + i g) / 65536 exactly
        c_new = _ste(c_new, tf.clip_by_value(tf.floor(c_new * 256.0), -32767, 32767) / 256.0)
        ci = tf.cast(tf.clip_by_value(tf.floor(c_new * 2.0**P), -R, R) + R, tf.int32)
        tc = _ste(tf.tanh(c_new), tf.gather(q.tanh, ci))
        h = o * tc
        h = _ste(h, tf.floor(h * 128.0) / 128.0)                    # (o * tc) >> 9
        return h, c_new


def quantized_bits(logits, y, q: QuantSpec):
    """Exact code length in bits of target y under the engine's integer frequency table.

    logits are real QAT logits (multiples of 2^-(wso+7)); the result is -log2(freq[y] / 65536).
    """
    scale = 2.0 ** (q.out_shift + 7)
    zint = tf.cast(tf.round(logits * scale), tf.int64)                    # (B, T, 256)
    m = tf.reduce_max(zint, axis=-1, keepdims=True)
    os_ = q.out_shift + 7 - q.Q
    d = tf.minimum(tf.bitwise.right_shift(m - zint, os_), q.D - 1)
    e = tf.gather(q.exp, d)
    total = tf.reduce_sum(e, axis=-1, keepdims=True)
    freq = 1 + (e * 65280) // total
    adj = 65536 - tf.reduce_sum(freq, axis=-1)                           # (B, T)
    vocab = tf.range(256, dtype=tf.int64)
    first_max = tf.reduce_min(tf.where(zint == m, vocab, 256), axis=-1)
    y64 = tf.cast(y, tf.int64)
    fy = tf.gather(freq, y64, batch_dims=2) + tf.where(y64 == first_max, adj, 0)
    return 16.0 - tf.math.log(tf.cast(fy, tf.float32)) / np.log(2.0)


def float_bits(logits, y):
    """Cross-entropy in bits per position, (B, T)."""
    return tf.nn.sparse_softmax_cross_entropy_with_logits(labels=y, logits=logits) / np.log(2.0)
