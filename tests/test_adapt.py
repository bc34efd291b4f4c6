"""Online adaptation of the LSTM's output layer: exact, mirrored, bounded, checked."""

from __future__ import annotations

import numpy as np
import pytest

from lstmzip.adapt import B_LIMIT, AdaptParams, OutputAdapter
from lstmzip.cm import CMParams
from lstmzip.codec import Compressor, Decompressor, cm_params
from lstmzip.engine import NumpyEngine
from lstmzip.errors import LstmzipError
from lstmzip.model import random_model

from conftest import REPO, block_methods, first_block_at

TEXT = (REPO / "README.md").read_bytes()[:5000]


def _run(engine, data: np.ndarray, streams: int, params: AdaptParams):
    """Steps an engine over `data` with an adapter; returns every table and the final layer."""
    ad = OutputAdapter(engine, params)
    rows = data.reshape(streams, -1)
    st, prev, tables = engine.initial_state(streams), np.zeros(streams, np.int64), []
    for t in range(rows.shape[1]):
        f = engine.step(prev, st)
        tables.append(f.copy())
        prev = rows[:, t].astype(np.int64)
        ad.record(engine.top_output(st, streams), f, prev)
    w = engine.w_out.copy()
    ad.restore()
    return tables, w


def test_gradient_is_the_exact_integer_product():
    """The float64 GEMM of the update equals the same sum done in Python integers."""
    rng = np.random.default_rng(0)
    h = rng.integers(-128, 128, (64, 16)).astype(np.float64)
    g = rng.integers(-65536, 65537, (64, 256))
    got = (h.T @ g.astype(np.float64)).astype(np.int64)
    want = [[sum(int(h[n, i]) * int(g[n, j]) for n in range(64)) for j in range(256)] for i in range(16)]
    assert got.tolist() == want


def test_adaptation_changes_the_tables_and_restores_the_model():
    m = random_model(layers=1, hidden=16, seed=2, name="t")
    e = NumpyEngine(m, threads=1)
    data = np.frombuffer(TEXT[:4000], np.uint8)
    tables, w = _run(e, data, 8, AdaptParams(2, 3))
    assert not np.array_equal(w, m.w_out.astype(np.float32))        # it learned something
    assert np.array_equal(e.w_out, m.w_out.astype(np.float32))      # and gave the model back
    again, w2 = _run(e, data, 8, AdaptParams(2, 3))
    assert all(np.array_equal(a, b) for a, b in zip(tables, again)) and np.array_equal(w, w2)


@pytest.mark.parametrize("byte", [None, 0])
def test_bounds_hold_after_many_updates_on_adversarial_data(byte):
    """All one byte, or random bytes, with a large step: weights stay int8, b_out within its bound,
    so the engine's exactness bound (Model.validate) still holds."""
    m = random_model(layers=1, hidden=32, seed=4, name="t")
    e = NumpyEngine(m, threads=1)
    rng = np.random.default_rng(1)
    data = np.full(64 * 200, byte, np.uint8) if byte is not None else rng.integers(0, 256, 64 * 200, np.uint8)
    ad = OutputAdapter(e, AdaptParams(1, 0))
    st, prev = e.initial_state(64), np.zeros(64, np.int64)
    rows = data.reshape(64, -1)
    for t in range(rows.shape[1]):
        f = e.step(prev, st)
        assert f.min() >= 1 and np.all(f.sum(axis=1) == 1 << 16)
        prev = rows[:, t].astype(np.int64)
        ad.record(e.top_output(st, 64), f, prev)
        assert np.abs(e.w_out).max() <= 127 and np.abs(e.b_out).max() <= B_LIMIT
    h = m.config.hidden
    assert 128 * h * 127 < 1 << 24                                 # the output GEMM stays exact
    ad.restore()


def test_round_trip_with_adaptation_and_the_tf_backend_agrees(tiny_model):
    c = Compressor(tiny_model, methods=("cm",), level=3, adapt=True)
    blob = c.compress(TEXT)
    assert block_methods(blob) == ["cm"]
    assert cm_params(3, len(TEXT), adapt=True).adapt.on
    assert Decompressor(tiny_model).decompress(blob) == TEXT
    pytest.importorskip("tensorflow")
    assert Compressor(tiny_model, methods=("cm",), level=3, adapt=True, backend="tf").compress(TEXT) == blob
    assert Decompressor(tiny_model, backend="tf").decompress(blob) == TEXT


def test_adaptation_is_asked_for_not_a_level_default(tiny_model):
    """Measured: adapting the LSTM does not pay inside the mix, so no level turns it on."""
    assert not Compressor(tiny_model, level=9).adapt and not Compressor(tiny_model).adapt
    assert Compressor(tiny_model, level=9, adapt=True).adapt == "output"
    blob = Compressor(tiny_model, level=1, adapt=True).compress(TEXT)   # -1 --adapt: LSTM alone, adapting
    assert block_methods(blob) in (["cm"], ["zstd"])
    assert Decompressor(tiny_model).decompress(blob) == TEXT


def test_a_wrong_digest_is_reported_at_its_window(tiny_model):
    data = TEXT * 3
    blob = bytearray(Compressor(tiny_model, methods=("cm",), level=4, adapt=True, streams=2,
                                  transform=False).compress(data))
    assert block_methods(bytes(blob)) == ["cm"]
    # the block header is 19 bytes long; the digests follow the parameter bytes
    head = first_block_at(bytes(blob))                                  # method byte of the cm block
    count_at = head + 19 + CMParams.unpack(bytes(blob[head + 19:])).packed_len
    count = int.from_bytes(blob[count_at:count_at + 4], "little")
    assert count >= 1
    blob[count_at + 4] ^= 0xFF                                          # damage the first digest
    # (the block's own CRC-32 covers only its header; the digest check fires first)
    with pytest.raises(LstmzipError, match="adapted weights differ"):
        Decompressor(tiny_model).decompress(bytes(blob))
