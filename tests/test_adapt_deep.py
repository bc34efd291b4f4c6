"""Every layer of the LSTM adapting (truncated BPTT in exact integers): the window replay equals
the engine, the backward pass equals TensorFlow autodiff of the same fixed-point forward up to
its documented rounding, the bounds hold, and files round-trip on both backends."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from lstmzip.adapt import FRAC, TABLE_LIMIT, AdaptParams, DeepAdapter
from lstmzip.engine import NumpyEngine
from lstmzip.model import random_model

from conftest import REPO

TEXT = (REPO / "README.md").read_bytes()[:6000]


class Spy(DeepAdapter):
    """Keeps, at every window's end, the replayed final state and the engine's own."""

    def __init__(self, engine, params):
        self.checks, self.grads = [], []
        super().__init__(engine, params)

    def _deep_update(self):
        saved, xs, cs = self._forward(with_cells=True)
        self.checks.append((xs, cs, [np.asarray(x)[:self.k].copy() for x in self.state.xs],
                            [np.asarray(c)[:self.k].astype(np.int64) for c in self.state.cs]))
        super()._deep_update()


def _drive(engine, adapter, data: np.ndarray, streams: int):
    rows = data[: len(data) // streams * streams].reshape(streams, -1)
    st, prev = engine.initial_state(streams), np.zeros(streams, np.int64)
    for t in range(rows.shape[1]):
        f = engine.step(prev, st)
        prev = rows[:, t].astype(np.int64)
        adapter.state = st
        adapter.record(engine.top_output(st, streams), f, prev, st)
    return st


@pytest.mark.parametrize("layers", [1, 2])
def test_window_replay_equals_the_engine(layers):
    m = random_model(layers=layers, hidden=24, seed=5, name="t")
    e = NumpyEngine(m, threads=1)
    ad = Spy(e, AdaptParams(2, 4, 3))
    _drive(e, ad, np.frombuffer(TEXT, np.uint8), 12)
    assert len(ad.checks) > 20
    for xs, cs, want_xs, want_cs in ad.checks:
        assert all(np.array_equal(a, b) for a, b in zip(xs, want_xs))
        assert all(np.array_equal(a, b) for a, b in zip(cs, want_cs))
    assert ad.deep_updates == len(ad.checks)
    assert any(not np.array_equal(w, w0) for w, w0 in zip(e.kernels, m.weights))    # it learned
    ad.restore()
    assert all(np.array_equal(w, w0) for w, w0 in zip(e.kernels, m.weights))        # and gave it back


def _tf_gradients(ad: DeepAdapter):
    """dLoss/dW (real units) by TensorFlow autodiff of the same window: every value the integer
    forward rounded is taken as it is (straight-through), every derivative is the real one."""
    tf = pytest.importorskip("tensorflow")
    saved, xs_end, cs_end = ad._forward(with_cells=True)
    T, L, h, k = len(saved), len(ad.ws), ad.h, ad.k
    w = [tf.Variable(wq.astype(np.float64) / 2.0 ** s) for wq, s in zip(ad.wq, ad.ws)]
    tab = tf.Variable(ad.inq.astype(np.float64) / 2.0 ** (ad.ws[0] + 7))
    b = [tf.Variable(bq.astype(np.float64) / 2.0 ** (s + 7)) for bq, s in zip(ad.bq, ad.ws)]
    w_out = tf.constant(ad.w_pub.astype(np.float64) / 2.0 ** ad.wso)

    def held(value, real):                  # the rounded value forward, the real derivative back
        return tf.stop_gradient(tf.constant(value, tf.float64) - real) + real

    def c_after(t, l):
        return saved[t + 1][l][2] if t + 1 < T else cs_end[l]

    def h_after(t, l):
        return (saved[t + 1][l][0] if t + 1 < T else xs_end[l].astype(np.float64))[:, -h:]

    with tf.GradientTape() as tape:
        loss = tf.constant(0.0, tf.float64)
        hs = [tf.constant(ad._start[0][l][:, -h:].astype(np.float64) / 128) for l in range(L)]
        cs = [tf.constant(ad._start[1][l].astype(np.float64) / 256) for l in range(L)]
        for t in range(T):
            below = None
            for l in range(L):
                x = hs[0] if l == 0 else tf.concat([below, hs[l]], axis=1)
                a = x @ w[l] + (tf.gather(tab, ad._prevs[t]) if l == 0 else b[l])
                gates = saved[t][l][1] / 256.0
                i = held(gates[:, :h], tf.sigmoid(a[:, :h]))
                f = held(gates[:, h:2 * h], tf.sigmoid(a[:, h:2 * h]))
                g = held(gates[:, 2 * h:3 * h], tf.tanh(a[:, 2 * h:3 * h]))
                o = held(gates[:, 3 * h:], tf.sigmoid(a[:, 3 * h:]))
                c = held(c_after(t, l) / 256.0, f * cs[l] + i * g)
                tc = held(saved[t][l][3] / 256.0, tf.tanh(c))
                hv = held(h_after(t, l) / 128.0, o * tc)
                cs[l], hs[l], below = c, hv, hv
            z = hs[-1] @ w_out
            g_z = (ad._freqs[t] - 65536 * np.eye(256, dtype=np.int64)[ad._syms[t]]) / 65536.0
            loss += tf.reduce_sum(tf.constant(g_z) * z)     # its gradient in z is exactly g_z
    return [tf.convert_to_tensor(v).numpy() for v in tape.gradient(loss, w + [tab])]


@pytest.mark.parametrize("layers", [1, 2])
def test_integer_backward_equals_tensorflow_autodiff(layers):
    m = random_model(layers=layers, hidden=16, seed=7, name="t")
    e = NumpyEngine(m, threads=1)
    grads = []

    class Capture(DeepAdapter):
        def _deep_update(self):
            if len(grads) < 3:
                grads.append((self.gradients(), _tf_gradients(self)))
            super()._deep_update()

    _drive(e, Capture(e, AdaptParams(3, 4, 4)), np.frombuffer(TEXT[:2400], np.uint8), 8)
    assert len(grads) == 3
    for (gw, gb, gin), tf_grads in grads:
        ints = [gw_l / (128.0 * 65536) for gw_l in gw]                       # x^T du -> real units
        ints.append(gin / 65536.0 / 1.0)                                      # table rows: sum du
        tf_w = tf_grads[:layers] + [tf_grads[layers]]
        for got, want in zip(ints, tf_w):
            want = np.asarray(want)
            scale = np.abs(want).max()
            assert scale > 0
            # documented rounding: floor shifts in 2**-16 units and 8-bit gate tables
            assert np.abs(got - want).max() <= 0.03 * scale + 1e-3, (np.abs(got - want).max(), scale)
            cos = (got * want).sum() / (np.linalg.norm(got) * np.linalg.norm(want))
            assert cos > 0.995


@pytest.mark.parametrize("byte", [None, 0])
def test_bounds_hold_after_many_updates_on_adversarial_data(byte):
    """A huge learning rate on all-one-byte or random data: weights stay int8, tables and biases
    within TABLE_LIMIT, so every bound of Model.validate still holds for the adapted model."""
    m = random_model(layers=2, hidden=32, seed=4, name="t")
    e = NumpyEngine(m, threads=1)
    rng = np.random.default_rng(1)
    data = np.full(32 * 160, byte, np.uint8) if byte is not None else rng.integers(0, 256, 32 * 160, np.uint8)
    ad = DeepAdapter(e, AdaptParams(1, 0, 1))
    _drive(e, ad, data, 32)
    assert ad.deep_updates >= 60
    assert all(np.abs(w).max() <= 127 for w in ad.wq)
    assert np.abs(ad.inq).max() <= TABLE_LIMIT and all(np.abs(b).max() <= TABLE_LIMIT for b in ad.bq)
    moved = sum(int(np.abs((mw >> FRAC) - (w0 >> FRAC)).sum()) for mw, w0 in zip(ad.m_ws, ad.w0s))
    assert moved > 0
    adapted = dataclasses.replace(
        m, in_table=ad.inq.astype(np.int32), weights=[w.astype(np.int8) for w in ad.wq],
        biases=[np.zeros_like(m.biases[0])] + [b.astype(np.int32) for b in ad.bq[1:]],
        w_out=ad.w_pub.astype(np.int8), b_out=np.clip(ad.m_b >> FRAC, -2**20, 2**20).astype(np.int32))
    adapted.validate()
    ad.restore()


def test_deep_round_trip_numpy_and_tf_agree(tiny_model):
    from lstmzip.codec import Compressor, Decompressor
    from conftest import block_methods
    data = TEXT[:4000]
    blob = Compressor(tiny_model, methods=("cm",), level=3, adapt="deep").compress(data)
    assert block_methods(blob) == ["cm"]
    assert blob != Compressor(tiny_model, methods=("cm",), level=3, adapt="output").compress(data)
    assert Decompressor(tiny_model).decompress(blob) == data
    pytest.importorskip("tensorflow")
    assert Compressor(tiny_model, methods=("cm",), level=3, adapt="deep", backend="tf").compress(data) == blob
    assert Decompressor(tiny_model, backend="tf").decompress(blob) == data


def test_a_damaged_deep_digest_is_refused(tiny_model):
    from lstmzip.codec import ADAPT_DEEP_SHIFT, Compressor, Decompressor
    from lstmzip.errors import LstmzipError
    from conftest import block_methods, first_block_at
    data = TEXT * 2
    blob = bytearray(Compressor(tiny_model, methods=("cm",), level=2, adapt="deep", streams=2).compress(data))
    assert block_methods(bytes(blob)) == ["cm"]
    head = first_block_at(bytes(blob))                                  # method byte of the cm block
    assert blob[head + 19 + 4] >> 4 == ADAPT_DEEP_SHIFT                # the deep rate is recorded
    from lstmzip.cm import CMParams
    count_at = head + 19 + CMParams.unpack(bytes(blob[head + 19:])).packed_len   # after the parameters
    assert int.from_bytes(blob[count_at:count_at + 4], "little") >= 1
    blob[count_at + 4] ^= 0x01
    with pytest.raises(LstmzipError, match="adapted weights differ"):
        Decompressor(tiny_model).decompress(bytes(blob))


def test_adapt_argument():
    from lstmzip.codec import adapt_mode, cm_params
    assert adapt_mode(None, 9) is None and adapt_mode(None, 6) is None and adapt_mode(False, 9) is None
    assert adapt_mode(True, 6) == "output" and adapt_mode("deep", 2) == "deep"
    with pytest.raises(ValueError):
        adapt_mode("all", 6)
    p = cm_params(6, 1 << 20, adapt="deep")
    assert p.adapt.deep and cm_params(6, 1 << 20, adapt=True).adapt.on and not cm_params(6, 1 << 20, adapt=True).adapt.deep
    assert type(p).unpack(p.pack()) == p


def test_deep_blocks_mix_the_static_and_the_adapted_model(tiny_model, monkeypatch):
    import lstmzip.codec as codec
    from lstmzip.cm import TWIN, CMParams, kernel
    from lstmzip.errors import LstmzipError
    assert TWIN == kernel.USE_TWIN
    p = codec.cm_params(6, 1 << 20, adapt="deep")
    assert p.models & TWIN and not codec.cm_params(6, 1 << 20, adapt=True).models & TWIN
    assert not codec.cm_params(6, 1 << 20).models & TWIN
    static = dataclasses.replace(p, adapt_window_log2=0, adapt_lr_shift=0, adapt_deep_shift=0)
    with pytest.raises(LstmzipError, match="invalid cm parameters"):   # no adapted model to read
        CMParams.unpack(static.pack())
    data = TEXT[:4000]
    twin = codec.Compressor(tiny_model, methods=("cm",), level=3, adapt="deep").compress(data)
    monkeypatch.setattr(codec, "TWIN", 0)                # deep blocks as written before the twin
    alone = codec.Compressor(tiny_model, methods=("cm",), level=3, adapt="deep").compress(data)
    monkeypatch.undo()
    assert twin != alone                                 # the static model's input is read
    for blob in (twin, alone):
        assert codec.Decompressor(tiny_model).decompress(blob) == data


@pytest.mark.parametrize("shift", [-13, -1, 0, 3])
def test_compiled_sgd_step_equals_numpy(shift):
    from lstmzip.engine_kernels import sgd_table, sgd_weights
    rng = np.random.default_rng(shift + 20)
    lim = (128 << FRAC) - 1
    m = rng.integers(-lim, lim, 4096, dtype=np.int64)
    g = rng.integers(-(1 << 40), 1 << 40, 4096, dtype=np.int64)
    g[:8] = [0, 1, -1, 1 << 47, -(1 << 47), 12345, -12345, 7]       # extremes drive the clip
    d = g << shift if shift >= 0 else g >> -shift
    want = np.clip(m - d, -lim, lim)
    got, w32, w64 = m.copy(), np.empty(4096, np.float32), np.empty(4096, np.float64)
    sgd_weights(got, g, shift, lim, FRAC, 127, w32, w64)
    assert np.array_equal(got, want)
    assert np.array_equal(w32, np.clip(want >> FRAC, -127, 127)) and np.array_equal(w64, w32)
    got, q = m.copy(), np.empty(4096, np.int64)
    sgd_table(got, g, shift, lim, FRAC, 100, q)
    assert np.array_equal(got, want) and np.array_equal(q, np.clip(want >> FRAC, -100, 100))
