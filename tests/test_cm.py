"""The context-mixing method: each unit against a plain reference, round trips, levels, exactness."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys

import numpy as np
import pytest

from lstmzip import format as fmt
from lstmzip.cm import ALL_MODELS, MODEL_BITS, V1_MODELS, CMParams, kernel as k
from lstmzip.codec import LEVELS, Compressor, Decompressor, choose_cm_streams, cm_params
from lstmzip.errors import LstmzipError

from conftest import REPO, block_methods

TEXT = (REPO / "README.md").read_bytes()[:6000]


# ---- units against plain per-value references ------------------------------------------------

def test_squash_is_monotonic_and_stretch_inverts_it():
    sq = k.SQUASH
    assert sq[0] >= 1 and sq[-1] <= 4095 and np.all(np.diff(sq) >= 0)
    assert sq[2047] == 2047 + 1 or abs(int(sq[2047]) - 2048) <= 1        # squash(0) = 1/2
    for p in range(1, 4096):
        assert abs(int(sq[k.STRETCH[p] + 2047]) - p) <= 40                 # a right inverse, up to the table step
    assert np.all(np.diff(k.STRETCH) >= 0)


def _counter_ref(p, n, bit):
    """The counter rule written plainly: p moves 2/(2n+3) of the way to 0 or 65535."""
    target = 65535 if bit else 0
    p = p + (((target - p) * ((2 << 16) // (2 * n + 3))) >> 16)
    return min(max(p, 32), 65503), min(n + 1, 255)


def test_counters_and_buckets_match_the_plain_rule():
    """Buckets of 16: a check, then 15 counters p | n << 16; a foreign check resets the bucket."""
    rng = np.random.default_rng(1)
    slots = np.zeros(16 * 4, np.uint32)
    ref = {}                                   # bucket -> (check, {node: (p, n)})
    for _ in range(4000):
        b, check, node, bit = 16 * int(rng.integers(4)), int(rng.integers(1, 4)) * 2 + 1, \
            int(rng.integers(1, 16)), int(rng.integers(2))
        assert k.bucket_find(slots, b, check) == b
        if ref.get(b, (None,))[0] != check:
            ref[b] = (check, {})
        p, n = ref[b][1].get(node, (32768, 0))
        v = int(slots[b + node])
        assert (v & 0xFFFF, v >> 16) == (p, n)
        k.counter_update(slots, b + node, bit, 255)
        ref[b][1][node] = _counter_ref(p, n, bit)
        assert int(slots[b]) == check


def test_mixer_update_matches_the_plain_rule():
    rng = np.random.default_rng(2)
    w = rng.integers(-70000, 70000, (3, 14)).astype(np.int64)
    x = rng.integers(-2047, 2048, 14).astype(np.int64)          # any input count: 14 here
    want_dot = sum(int(a) * int(b) for a, b in zip(w[1], x)) >> 16
    assert k.mix_dot(w, 1, x, 14) == want_dot
    err = -1234
    want = [min(max(int(a) + ((int(b) * err) >> 11), -4194304), 4194304) for a, b in zip(w[1], x)]
    k.mix_update(w, 1, x, 14, err, 11)
    assert w[1].tolist() == want


def test_apm_interpolates_and_moves_toward_the_bit():
    row = k.SQUASH[np.clip((np.arange(33) - 16) * 128, -2047, 2047) + 2047] * 16
    apm = np.tile(row, 2).astype(np.int64)
    for pr in (1, 100, 2048, 3000, 4095):
        p, _ = k.apm_predict(apm, 1, pr)
        assert abs(int(p) - pr) <= 64                      # starts as (nearly) the identity
    p0, i = k.apm_predict(apm, 0, 3000)
    before = int(apm[i])
    k.apm_update(apm, i, 1, 7)
    assert int(apm[i]) - before == ((65536 + 128 - 2) - before) >> 7


def test_binary_coder_round_trips_bits_at_extreme_probabilities():
    rng = np.random.default_rng(3)
    probs = rng.choice([1, 2, 100, 2048, 3999, 4094, 4095], 20000).astype(np.int64)
    bits = (rng.integers(0, 4096, 20000) < probs).astype(np.int64)
    out = np.zeros(40000, np.uint8)
    cs = np.array([0, 0xFFFFFFFF, 0, 0, 0], np.int64)
    for b, p in zip(bits, probs):
        k.code_bit(k.ENCODE, cs, out, int(b), int(p))
    x1 = int(cs[0])
    n = int(cs[3])
    out[n:n + 4] = [(x1 >> s) & 255 for s in (24, 16, 8, 0)]
    code = out[:n + 4].copy()
    ds = np.array([0, 0xFFFFFFFF, int.from_bytes(code[:4].tobytes(), "big"), 4, 0], np.int64)
    got = [k.code_bit(k.DECODE, ds, code, 0, int(p)) for p in probs]
    assert got == bits.tolist()
    assert ds[3] == len(code)


# ---- the whole method ------------------------------------------------------------------------

INPUTS = {
    "empty": b"",
    "one": b"x",
    "repeated": b"\0" * 5000,
    "random": np.random.default_rng(4).integers(0, 256, 3000, np.uint8).tobytes(),
    "text": TEXT,
}


@pytest.mark.parametrize("name", sorted(INPUTS))
def test_cm_round_trips(tiny_model, name):
    data = INPUTS[name]
    blob = Compressor(tiny_model, methods=("cm",), level=2).compress(data)
    assert Decompressor(tiny_model).decompress(blob) == data


@pytest.mark.parametrize("streams", [1, 2, 3, 255, 256])
def test_cm_round_trips_any_stream_count(tiny_model, streams):
    data = TEXT[:2000]
    blob = Compressor(tiny_model, methods=("cm",), streams=streams, level=2).compress(data)
    assert block_methods(blob) in (["cm"], ["stored"])
    assert Decompressor(tiny_model).decompress(blob) == data


def test_cm_tiny_blocks_and_every_level(tiny_model):
    data = TEXT[:3000]
    for level in LEVELS:
        blob = Compressor(tiny_model, level=level, block_size=700).compress(data)
        assert Decompressor(tiny_model).decompress(blob) == data, level


def test_cm_learns_the_file_where_the_static_lstm_cannot(tiny_model):
    """A random (untrained) LSTM knows nothing; the context models learn the text as it goes."""
    data = TEXT
    lstm = Compressor(tiny_model, methods=("lstm",)).compress(data)
    cm = Compressor(tiny_model, methods=("cm",), transform=False).compress(data)
    assert block_methods(cm) == ["cm"]
    assert len(cm) < 0.6 * len(lstm)


@pytest.mark.parametrize("off", sorted(MODEL_BITS))
def test_every_model_can_be_switched_off(tiny_model, off):
    data = TEXT[:3000]
    c = Compressor(tiny_model, methods=("cm",), level=2, cm_models=ALL_MODELS & ~MODEL_BITS[off])
    blob = c.compress(data)
    assert Decompressor(tiny_model).decompress(blob) == data


def test_params_are_recorded_and_checked():
    p = CMParams(level=7, models=V1_MODELS & ~MODEL_BITS["word"], table_bits=20, match_bits=16)
    assert CMParams.unpack(p.pack()) == p and len(p.pack()) == 6        # a v1 block's parameters
    for bad in (bytes([7, 64, 20, 16]), bytes([7, 63, 29, 16]), bytes([7, 63, 20, 40]), bytes([0, 63, 20, 16]), b"\7"):
        with pytest.raises(LstmzipError):
            CMParams.unpack(bad)


def test_table_size_follows_the_level_and_the_block():
    assert cm_params(9, 16 << 20).table_bits == 28
    assert cm_params(6, 2 << 20).table_bits == 26
    assert cm_params(6, 1000).table_bits == 19          # no 256 MB of tables for a 1 KB block
    assert choose_cm_streams(10_000) == 16 and choose_cm_streams(1 << 20) == 128
    assert choose_cm_streams(600) == 1 and choose_cm_streams(16 << 20) == 256


def test_zstd_obvious_blocks_skip_the_model(tiny_model):
    c = Compressor(tiny_model)                           # default level: cm, zstd, stored
    blob = c.compress(b"\0" * 200_000)                   # zstd: a few bytes; no model run
    assert block_methods(blob) == ["zstd"]


def test_corrupted_cm_blocks_are_refused(tiny_model):
    data = TEXT[:2500]
    blob = bytearray(Compressor(tiny_model, methods=("cm",), level=2).compress(data))
    assert block_methods(bytes(blob)) == ["cm"]
    rng = np.random.default_rng(5)
    for pos in rng.integers(100, len(blob) - 50, 60):
        bad = bytearray(blob)
        bad[pos] ^= 1 << int(rng.integers(8))
        try:
            out = Decompressor(tiny_model).decompress(bytes(bad))
        except LstmzipError:
            continue
        assert out == data, pos


def test_cm_in_a_version_1_file_is_refused(tiny_model):
    blob = bytearray(Compressor(tiny_model, methods=("cm",), level=2).compress(TEXT[:500]))
    blob[8] = 1                                           # claim version 1: the header CRC fails
    with pytest.raises(LstmzipError):
        Decompressor(tiny_model).decompress(bytes(blob))


def test_level_1_files_stay_version_1(tiny_model):
    """Readable by lstmzip 0.1, except that a small input (one block) is a compact member
    (version 3, or 4 when its block is lstm) unless the Compressor is told otherwise."""
    comp = Compressor(tiny_model, level=1)
    for data in (TEXT[:500], TEXT):
        blob = comp.compress(data)
        assert blob[8] == (fmt.COMPACT_VERSION if block_methods(blob) in (["zstd"], ["stored"])
                           else fmt.COMPACT_MODEL_VERSION if len(block_methods(blob)) == 1 else 1)
        assert set(block_methods(blob)) <= {"lstm", "zstd", "stored"}
    comp.compact = False
    blob = comp.compress(TEXT[:500])
    assert blob[8] == 1 and set(block_methods(blob)) <= {"lstm", "zstd", "stored"}


# ---- exactness: the compiled kernel and the plain Python interpreter give the same bits ------

def test_compiled_and_interpreted_kernel_give_identical_files(tmp_path, tiny_model_path):
    """NUMBA_DISABLE_JIT runs kernel.py as ordinary Python (unbounded ints, no LLVM): any
    int64 overflow or type promotion in the compiled code would change the bytes."""
    # text, then records of 16 bytes (record model), then a repeat (match model)
    records = b"".join(bytes([i & 255, 7, 0, 0]) * 4 for i in range(40))
    data = TEXT[:900] + records + TEXT[:300]
    (tmp_path / "in.bin").write_bytes(data)
    script = ("import sys, hashlib; from lstmzip.codec import Compressor;"
              "d=open(sys.argv[1],'rb').read();"
              "print(hashlib.sha256(Compressor(sys.argv[2], methods=('cm',), level=2, streams=3)"
              ".compress(d)).hexdigest())")
    digests = set()
    for jit in ("0", "1"):
        env = dict(os.environ, PYTHONPATH=str(REPO), NUMBA_DISABLE_JIT=jit)
        out = subprocess.run([sys.executable, "-c", script, str(tmp_path / "in.bin"), str(tiny_model_path)],
                             env=env, capture_output=True, text=True, timeout=600)
        assert out.returncode == 0, out.stderr
        digests.add(out.stdout.strip())
    assert len(digests) == 1
