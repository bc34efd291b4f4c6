"""The v2 predictor: bit histories, state maps and buckets against plain references; the
per-block LSTM decision; v2 parameters; compiled against interpreted bits."""

from __future__ import annotations

import dataclasses
import os
import subprocess
import sys

import numpy as np
import pytest

from lstmzip.cm import (ALL_MODELS, EXT, EXT2, EXT2_MODELS, EXT_MODELS, MODEL_BITS, V2, CMParams, kernel_v2 as k2,
                        states)
from lstmzip.codec import FAST_WITHOUT, Compressor, Decompressor, choose_cm_streams, cm_params
from lstmzip.errors import LstmzipError

from conftest import DATA, REPO, block_methods

TEXT = (REPO / "README.md").read_bytes()[:6000]


# ---- bit histories ------------------------------------------------------------------------------

def test_state_table_is_pinned_and_closed():
    """The table is part of the format: rebuilt from its rule it must hash to the pinned value."""
    assert states.table_sha256() == states.TABLE_SHA256
    assert states.N_STATES == 229 <= 256
    assert (states.N0[0], states.N1[0]) == (0, 0)
    assert states.NEXT.min() >= 1 and states.NEXT.max() < states.N_STATES   # never back to "unseen"


def _plain_after(n0, n1, bit):
    """The rule of states.py written out once more, on plain counts (last bit ignored)."""
    caps = {0: 48, 1: 32, 2: 20, 3: 12, 4: 9, 5: 7, 6: 6}
    if bit:
        n1, n0 = n1 + 1, (n0 // 2 + 1 if n0 > 2 else n0)
    else:
        n0, n1 = n0 + 1, (n1 // 2 + 1 if n1 > 2 else n1)
    while not (min(n0, n1) in caps and max(n0, n1) <= caps[min(n0, n1)]):
        if bit:
            n1 -= 1
        else:
            n0 -= 1
    return n0, n1


def test_state_transitions_follow_the_counting_rule():
    rng = np.random.default_rng(11)
    for _ in range(200):
        s, n0, n1 = 0, 0, 0
        for bit in rng.integers(0, 2, 60):
            s = int(states.NEXT[s, bit])
            n0, n1 = _plain_after(n0, n1, int(bit))
            assert (int(states.N0[s]), int(states.N1[s])) == (n0, n1)
    # a long run of ones saturates, and one zero afterwards discounts it
    s = 0
    for _ in range(100):
        s = int(states.NEXT[s, 1])
    assert (states.N0[s], states.N1[s]) == (0, 48)
    s = int(states.NEXT[s, 0])
    assert (states.N0[s], states.N1[s]) == (1, 25)


def test_state_map_update_matches_the_plain_rule():
    sm = np.zeros((2, 256), np.int64)
    sm[1, 5] = 40000
    p, n = 40000, 0
    for bit in [1, 1, 0, 1] * 100:
        k2.sm_update(sm, 1, 5, bit)
        target = 65535 if bit else 0
        p = min(max(p + (((target - p) * ((2 << 16) // (2 * n + 3))) >> 16), 16), 65519)
        n = min(n + 1, k2.SM_LIMIT)
        assert int(sm[1, 5]) == p | (n << 16)


def test_buckets_match_a_plain_three_way_table():
    """Three neighbours per lookup; a miss takes over the least observed one (first node's
    counts), resetting its 15 states."""
    rng = np.random.default_rng(12)
    ht = np.zeros(1 << 10, np.uint8)
    hmask = (len(ht) - 1) ^ 15
    for _ in range(3000):
        h = int(rng.integers(0, 1 << 40)) & ~(0x3C0) | (int(rng.integers(0, 2)) << 6)  # few lines
        base, chk = h & hmask, (h >> 32) & 0xFF
        group = [base, base ^ 16, base ^ 32]
        want = next((b for b in group if ht[b] == chk), None)
        snapshot = ht.copy()
        got = k2.bucket_v2(ht, h, hmask)
        if want is not None:
            assert got == want and np.array_equal(ht, snapshot)
        else:
            least = min(group, key=lambda b: (int(states.TOTAL[snapshot[b + 1]]), group.index(b)))
            assert got == least and ht[got] == chk and not ht[got + 1:got + 16].any()
        node = int(rng.integers(1, 16))
        ht[got + node] = states.NEXT[ht[got + node], int(rng.integers(0, 2))]


# ---- parameters --------------------------------------------------------------------------------

def test_v2_params_round_trip_and_unknown_switches_are_refused():
    p = CMParams(level=6, models=(ALL_MODELS & ~MODEL_BITS["code"] & ~EXT_MODELS & ~EXT2_MODELS) | V2,
                 table_bits=20, match_bits=16)
    raw = p.pack()
    assert len(raw) == 7 and CMParams.unpack(raw) == p and p.v2
    with pytest.raises(LstmzipError):
        CMParams.unpack(raw[:6])                              # v2 needs its seventh byte
    with pytest.raises(LstmzipError):
        CMParams.unpack(raw[:6] + bytes([0x80]))              # EXT without its eighth byte
    with pytest.raises(LstmzipError):
        CMParams.unpack(raw[:1] + bytes([0x7F]) + raw[2:])    # twin without adapting (v1)
    assert cm_params(6, 1 << 20).v2


def test_extension_params_round_trip_and_forged_bytes_are_refused():
    """The extension's switches travel in an eighth byte, flagged by model bit 32768."""
    p = CMParams(level=6, models=(ALL_MODELS & ~MODEL_BITS["run"] & ~EXT2_MODELS) | V2, table_bits=20,
                 match_bits=16)
    assert p.models & EXT                                     # set whenever an extension bit is
    raw = p.pack()
    assert len(raw) == 8 == p.packed_len and CMParams.unpack(raw) == p
    assert raw[7] == (ALL_MODELS & ~MODEL_BITS["run"] & EXT_MODELS) >> 16
    with pytest.raises(LstmzipError, match="truncated"):
        CMParams.unpack(raw[:7])                              # EXT promises an eighth byte
    with pytest.raises(LstmzipError, match="invalid"):
        CMParams.unpack(raw[:7] + bytes([0]))                 # EXT with no extension switch
    assert cm_params(6, 1 << 20).models & EXT_MODELS == EXT_MODELS      # the default: all of it
    names = CMParams.unpack(raw).names()
    assert "det" in names and "indirect2" in names and ",run," not in names


def test_a_fourth_switch_byte_round_trips_and_forged_ones_are_refused():
    """Switches 24..31 (pixel, image, match2, prec, winit) travel in a byte after the others,
    flagged by the level byte's bit 7; with and without the extension byte."""
    for models in (ALL_MODELS | V2, (ALL_MODELS & ~EXT_MODELS) | V2):
        p = CMParams(level=6, models=models, table_bits=20, match_bits=16)
        raw = p.pack()
        assert raw[0] == 6 | EXT2 and raw[-1] == (MODEL_BITS["pixel"] | MODEL_BITS["image"] | MODEL_BITS["match2"]
                                                  | MODEL_BITS["prec"] | MODEL_BITS["winit"]) >> 24
        assert len(raw) == p.packed_len == 7 + bool(models & EXT_MODELS) + 1 and CMParams.unpack(raw) == p
        assert CMParams.unpack(raw).level == 6 and "pixel" in p.names()
        with pytest.raises(LstmzipError, match="truncated"):
            CMParams.unpack(raw[:-1])
        with pytest.raises(LstmzipError, match="invalid"):
            CMParams.unpack(raw[:-1] + bytes([0]))             # the byte flagged but empty
        with pytest.raises(LstmzipError, match="invalid"):
            CMParams.unpack(raw[:-1] + bytes([32]))            # a switch this version lacks
    v1 = CMParams(level=6, models=62, table_bits=20, match_bits=16).pack()
    with pytest.raises(LstmzipError, match="invalid"):
        CMParams.unpack(bytes([v1[0] | EXT2]) + v1[1:])        # v1 blocks have no fourth byte


def test_only_blocks_with_a_1_bit_image_get_the_pixel_switch():
    """A block with no 1-bit image region is written without the pixel switch, one with no 8+-bit
    image region without the image switch (without match2, prec and winit too, a block with neither has
    no fourth byte: its bytes as before the switches existed); one with a 1-bit image round-trips."""
    from lstmzip.codec import struct_plan
    from lstmzip.detect import KIND_IMAGE, KIND_TEXT, Region
    params = cm_params(6, 4000, ALL_MODELS & ~MODEL_BITS["lstm"])
    assert params.models & MODEL_BITS["pixel"]
    for regions, pixel, image in (
            ([], False, False),
            ([Region(0, 2000, KIND_TEXT), Region(2000, 2000, KIND_IMAGE, 20, 8)], False, True),
            ([Region(0, 2000, KIND_TEXT), Region(2000, 2000, KIND_IMAGE, 20, 1)], True, False),
            ([Region(0, 2000, KIND_IMAGE, 40, 24), Region(2000, 2000, KIND_IMAGE, 20, 1)], True, True)):
        planned, _ = struct_plan(params, bytes(4000), regions)
        assert bool(planned.models & MODEL_BITS["pixel"]) == pixel
        assert bool(planned.models & MODEL_BITS["image"]) == image
        assert bool(planned.pack()[0] & EXT2)                          # (match2 and prec are on)
        without = params.models & ~MODEL_BITS["match2"] & ~MODEL_BITS["prec"] & ~MODEL_BITS["winit"]
        planned, _ = struct_plan(dataclasses.replace(params, models=without), bytes(4000), regions)
        assert bool(planned.pack()[0] & EXT2) == (pixel or image)
    rng = np.random.default_rng(4)
    rows = np.cumsum(rng.random((120, 40 * 8)) < 0.05, axis=1) % 2          # 1-bit stripes
    data = b"P4\n320 120\n" + np.packbits(rows.astype(np.uint8), axis=1).tobytes()
    blob = Compressor(methods=("cm",), level=2).compress(data)
    assert Decompressor().decompress(blob) == data
    assert any(p.models & MODEL_BITS["pixel"] for p in _cm_models_of(blob))


def test_blocks_without_the_extension_code_as_before(golden_model):
    """Pinned by a golden file written before the extension existed: the same call with the
    extension (and the later fourth switch byte's prec and winit) switched off, in the container of then
    (version 2, not the compact model member), writes exactly its bytes (its block is v2 without EXT)."""
    golden = DATA / "golden"
    old = (golden / "prose-cmv2-nolstm.lstmz").read_bytes()
    comp = Compressor(golden_model, methods=("cm", "stored"), level=2,
                      cm_models=ALL_MODELS & ~MODEL_BITS["lstm"] & ~EXT_MODELS & ~MODEL_BITS["prec"]
                      & ~MODEL_BITS["winit"])
    comp.compact = False
    again = comp.compress((golden / "prose.bin").read_bytes())
    assert again == old


# ---- the LSTM only where it pays -------------------------------------------------------------

def _cm_models_of(blob: bytes):
    """The cm parameters of every cm block of a one-member file."""
    from lstmzip import format as fmt
    import io
    src = io.BytesIO(blob)
    header = fmt.read_header(src)
    out = []
    for index in range(1000):
        bh = fmt.read_block_header(src, header, index)
        if isinstance(bh, fmt.End):
            return out
        payload = fmt.read_exact(src, bh.payload_len, "block")
        if bh.method == fmt.CM:
            out.append(CMParams.unpack(payload))


def test_the_lstm_probe_decides_and_both_choices_round_trip(tiny_model, monkeypatch):
    """A block longer than the probe: 'never pays' codes it without the LSTM only; 'always
    pays' codes it both ways and keeps the smaller. Both decode."""
    import lstmzip.codec as codec
    monkeypatch.setattr(codec, "LSTM_SAMPLE", 1024)
    data = TEXT[:4000]
    no_lstm = Compressor(tiny_model, methods=("cm",), level=4, transform=False,
                         cm_models=ALL_MODELS & ~MODEL_BITS["lstm"]).compress(data)
    forced = Compressor(tiny_model, methods=("cm",), level=4, lstm_auto=False, transform=False).compress(data)
    (params,) = _cm_models_of(forced)
    assert params.models & MODEL_BITS["lstm"]
    for gain, want in ((0.99, no_lstm), (-1.0, min(no_lstm, forced, key=len))):
        monkeypatch.setattr(codec, "LSTM_MIN_GAIN", gain)
        c = Compressor(tiny_model, methods=("cm",), level=4, transform=False)
        blob = c.compress(data)
        assert blob == want and len(c.stats["lstm_sample"]) == 1
        assert Decompressor(tiny_model).decompress(blob) == data


def test_redundant_blocks_skip_the_lstm_probe(tiny_model, monkeypatch):
    """Where the coding without the LSTM spent under LSTM_MIN_BPB bits/byte on the probe's bytes
    (a log of near-identical lines), the LSTM is neither probed nor run; the same block with the
    floor at 0 is probed (and the probe told to say yes: coded with the LSTM too). Both decode."""
    import lstmzip.codec as codec
    monkeypatch.setattr(codec, "LSTM_SAMPLE", 2048)
    monkeypatch.setattr(codec, "LSTM_MIN_GAIN", -1.0)                    # a probe would say yes
    data = b"".join(b"2026-12-05 01:%02d:%02d status installed libfoo%d:amd64 1.2-3\n"
                    % (i // 60 % 60, i % 60, i % 3) for i in range(120))
    runs, floor0 = {}, codec.LSTM_MIN_BPB
    for floor in (floor0, 0.0):
        monkeypatch.setattr(codec, "LSTM_MIN_BPB", floor)
        c = Compressor(tiny_model, methods=("cm",), level=4, transform=False)
        blob = c.compress(data)
        runs[floor] = c.stats
        assert Decompressor(tiny_model).decompress(blob) == data
    skipped, probed = runs[floor0], runs[0.0]
    assert "lstm_sample" not in skipped and len(skipped["lstm_unprobed"]) == 1
    assert 8 * skipped["lstm_unprobed"][0] < floor0 * 1024             # (bytes 1024..2048)
    assert "lstm_unprobed" not in probed and len(probed["lstm_sample"]) == 1
    assert [n for n, _ in skipped["codings"]] == ["cm"]
    assert [n for n, _ in probed["codings"]] == ["cm", "cm+lstm"]


def test_a_small_block_is_coded_with_and_without_the_lstm_and_the_smaller_kept(tiny_model):
    data = TEXT[:3000]
    auto = Compressor(tiny_model, methods=("cm",), level=4, transform=False).compress(data)
    forced = Compressor(tiny_model, methods=("cm",), level=4, lstm_auto=False, transform=False).compress(data)
    without = Compressor(tiny_model, methods=("cm",), level=4, transform=False,
                         cm_models=ALL_MODELS & ~MODEL_BITS["lstm"]).compress(data)
    assert len(auto) == min(len(forced), len(without))


def test_the_fast_levels_run_no_lstm(tiny_model):
    data = TEXT[:3000]
    for level in (2, 3):
        blob = Compressor(tiny_model, methods=("cm",), level=level).compress(data)
        (params,) = _cm_models_of(blob)
        assert not params.models & MODEL_BITS["lstm"] and params.v2
        # the extension without its extra contexts (rates, deterministic inputs, runs, indirect2)
        assert params.models & EXT_MODELS == EXT_MODELS & ~FAST_WITHOUT and params.models & EXT


def test_blocks_without_the_lstm_are_one_stream():
    assert choose_cm_streams(1 << 20, lstm=False) == 1
    assert choose_cm_streams(1 << 20, streams=8, lstm=False) == 8        # unless asked


@pytest.mark.parametrize("streams", [0, 1, 3])
def test_blocks_without_the_lstm_round_trip_and_refuse_a_truncated_code(tiny_model, streams):
    data = TEXT * 3
    c = Compressor(tiny_model, methods=("cm",), level=2, streams=streams,
                   cm_models=ALL_MODELS & ~MODEL_BITS["lstm"])
    blob = c.compress(data)
    assert block_methods(blob) == ["cm"]
    assert Decompressor(tiny_model).decompress(blob) == data
    from lstmzip import format as fmt
    # cut the code short inside the block, fixing the lengths and CRCs so the cm decoder sees it
    import io
    import struct
    import zlib
    src = io.BytesIO(blob)
    header = fmt.read_header(src)
    at = src.tell()
    bh = fmt.read_block_header(src, header, 0)
    payload = blob[src.tell():src.tell() + bh.payload_len]
    short = payload[:len(payload) // 2]
    head = struct.pack("<BIIHI", bh.method, bh.raw_len, len(short), bh.streams, bh.raw_crc32)
    forged = blob[:at] + head + struct.pack("<I", zlib.crc32(head + short)) + short
    with pytest.raises(LstmzipError):
        Decompressor(tiny_model).decompress(forged + blob[src.tell() + bh.payload_len:])


# ---- exactness ---------------------------------------------------------------------------------

def test_v2_compiled_and_interpreted_give_identical_files(tmp_path, tiny_model_path):
    """NUMBA_DISABLE_JIT runs kernel_v2.py as plain Python (unbounded ints): an overflow or type
    promotion in the compiled code would change the bytes. With and without the LSTM, and with
    a region of every kind (the struct model's 2-D contexts and sixth mixer), labelled by hand;
    with the extension (the default) and without it."""
    records = b"".join(bytes([i & 255, 7, 0, 0]) * 4 for i in range(40))
    code = b"def f(x):\n    if x:\n        return [x, (x + 1)]\n" * 6
    data = TEXT[:700] + records + code + TEXT[:300]
    (tmp_path / "in.bin").write_bytes(data)
    a, b = 700 + len(records), 700 + len(records) + len(code)
    kinds = [(0, 700, 0, 0, 0), (700, len(records), 4, 16, 0), (a, 100, 2, 0, 0), (a + 100, len(code) - 100, 7, 0, 0),
             (b, 150, 3, 30, 24), (b + 150, 100, 5, 0, 0), (b + 250, 30, 3, 6, 1), (b + 280, 10, 1, 0, 0),
             (b + 290, 10, 6, 1, 0)]
    script = ("import sys, hashlib; from lstmzip.codec import Compressor; from lstmzip.cm import *;"
              "import lstmzip.detect as D; K=" + repr(kinds) + ";"
              "D.detect=lambda blk, max_regions=0: [D.Region(*k) for k in K] if len(blk)==" + str(len(data))
              + " else [D.Region(0, len(blk), 0)];"
              "d=open(sys.argv[1],'rb').read();"
              "a=Compressor(sys.argv[2], methods=('cm',), level=4, streams=3, lstm_auto=False).compress(d);"
              "b=Compressor(sys.argv[2], methods=('cm',), level=2,"
              " cm_models=ALL_MODELS & ~MODEL_BITS['lstm']).compress(d);"
              "c=Compressor(sys.argv[2], methods=('cm',), level=2,"
              " cm_models=ALL_MODELS & ~MODEL_BITS['lstm'] & ~EXT_MODELS).compress(d[:1500]);"
              "print(hashlib.sha256(a + b + c).hexdigest())")
    digests = set()
    for jit in ("0", "1"):
        env = dict(os.environ, PYTHONPATH=str(REPO), NUMBA_DISABLE_JIT=jit)
        out = subprocess.run([sys.executable, "-c", script, str(tmp_path / "in.bin"),
                              str(tiny_model_path)], env=env, capture_output=True, text=True,
                             timeout=900)
        assert out.returncode == 0, out.stderr
        digests.add(out.stdout.strip())
    assert len(digests) == 1


def test_codings_with_the_lstm_leave_out_the_second_match_model():
    """match2 (model bit 26) goes only into codings without the LSTM (codec.WITHOUT_LSTM_ONLY);
    the coding without the LSTM of the same block keeps it, and -2/-3 never write it."""
    from lstmzip.codec import WITHOUT_LSTM_ONLY
    m2 = MODEL_BITS["match2"]
    assert WITHOUT_LSTM_ONLY == m2 and FAST_WITHOUT & m2
    assert not cm_params(6, 1 << 20).models & m2
    assert cm_params(6, 1 << 20, ALL_MODELS & ~MODEL_BITS["lstm"]).models & m2
    data = TEXT[:3000]
    blob = Compressor(methods=("cm",), level=4, lstm_auto=False).compress(data)
    assert Decompressor().decompress(blob) == data
    assert all(p.models & MODEL_BITS["lstm"] and not p.models & m2 for p in _cm_models_of(blob))
    blob = Compressor(methods=("cm",), level=4, cm_models=ALL_MODELS & ~MODEL_BITS["lstm"]).compress(data)
    assert Decompressor().decompress(blob) == data and all(p.models & m2 for p in _cm_models_of(blob))


# ---- prec: the SSE stage and the coder at 16-bit probabilities (model bit 27) ----------------

def _code16(code_bit16, k1, bits, p):
    """Encode bits at probabilities p (16-bit), flush as CMPredictor.finish does, decode back."""
    cs = np.zeros(5, np.int64)
    cs[k1.C_X2] = 0xFFFFFFFF
    stream = np.zeros(len(bits) // 4 + 64, np.uint8)
    for b, q in zip(bits, p):
        code_bit16(k1.ENCODE, cs, stream, int(b), int(q))
    x1 = int(cs[k1.C_X1])
    for i in range(4):
        stream[cs[k1.C_POS]] = (x1 >> (24 - 8 * i)) & 0xFF
        cs[k1.C_POS] += 1
    code = stream[:cs[k1.C_POS]].copy()
    ds = np.zeros(5, np.int64)
    ds[k1.C_X2] = 0xFFFFFFFF
    for i in range(4):
        ds[k1.C_X] = (ds[k1.C_X] << 8) | int(code[i])
    ds[k1.C_POS] = 4
    out = [code_bit16(k1.DECODE, ds, code, 0, int(q)) for q in p]
    assert ds[k1.C_OVER] == 0 and ds[k1.C_POS] == len(code)       # read exactly to its end
    return code, np.array(out)


def test_the_16_bit_coder_decodes_what_it_encodes_compiled_and_plain():
    from lstmzip.cm import kernel as k1
    rng = np.random.default_rng(8)
    n = 6000
    p = rng.integers(1, 65536, n)
    p[:2000] = 65535                                  # the extremes, beyond 12 bits' 4095/4096
    p[2000:2500] = 1
    bits = (rng.random(n) < p / 65536).astype(np.int64)
    codes = []
    for code_bit16 in (k1.code_bit16, k1.code_bit16.py_func):
        code, out = _code16(code_bit16, k1, bits, p)
        assert np.array_equal(out, bits)
        codes.append(code.tobytes())
    assert codes[0] == codes[1]
    # 2000 bits at 65535/65536 cost about 2000 * 2.2e-5 bits; at 4095/4096 they would cost 0.7 bits
    ideal = -np.sum(np.log2(np.where(bits == 1, p, 65536 - p) / 65536)) / 8
    assert len(codes[0]) <= ideal + 8


def test_prec_codes_predictable_data_smaller_and_both_decode():
    text = b"".join(b"2026-12-04 22:%02d:%02d status installed pkg%d:amd64 1.%d\n" % (i // 60 % 60, i % 60, i % 7, i % 3)
                    for i in range(1500))
    sizes = {}
    for prec in (True, False):
        models = ALL_MODELS & ~MODEL_BITS["lstm"] if prec else ALL_MODELS & ~MODEL_BITS["lstm"] & ~MODEL_BITS["prec"]
        blob = Compressor(methods=("cm",), level=2, cm_models=models).compress(text)
        assert Decompressor().decompress(blob) == text
        assert all(bool(p.models & MODEL_BITS["prec"]) == prec for p in _cm_models_of(blob))
        sizes[prec] = len(blob)
    assert sizes[True] < 0.98 * sizes[False], sizes               # (measured: 235 against 244 bytes)


def test_winit_starts_each_context_at_a_32nd_and_both_decode():
    """Model bit 28: without the LSTM, each context's stretch input starts at weight 1/32 (else
    1/8); with the LSTM the mixers start as the LSTM alone either way."""
    from lstmzip.cm import Predictor as CMPredictor
    text = (DATA / "golden" / "prose.bin").read_bytes()
    for winit in (True, False):
        models = ALL_MODELS & ~MODEL_BITS["lstm"] if winit else ALL_MODELS & ~MODEL_BITS["lstm"] & ~MODEL_BITS["winit"]
        params = cm_params(4, len(text), models)
        pred = CMPredictor(params, np.array([0]), np.zeros(len(text), np.uint8), np.zeros(64, np.uint8), k2.ENCODE)
        assert (pred.weights[:, k2.XI] == (65536 // 32 if winit else 65536 // 8)).all()
        blob = Compressor(methods=("cm",), level=4, cm_models=models).compress(text)
        assert Decompressor().decompress(blob) == text
        assert all(bool(p.models & MODEL_BITS["winit"]) == winit for p in _cm_models_of(blob))
    lstm = CMPredictor(cm_params(4, len(text)), np.array([0]), np.zeros(len(text), np.uint8),
                       np.zeros(64, np.uint8), k2.ENCODE)
    assert (lstm.weights[:, 0] == 65536).all() and not lstm.weights[:, k2.XI].any()
