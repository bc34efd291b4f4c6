"""Region tables in cm blocks: stored, read back, refused when forged; every region kind round-trips
(lanes crossing region boundaries, with and without the LSTM); the kinds change the coding."""

from __future__ import annotations

import io
import random
import struct
import zlib

import numpy as np
import pytest

from lstmzip import detect, regions as rt
from lstmzip import format as fmt
from lstmzip.cm import ALL_MODELS, MODEL_BITS
from lstmzip.codec import Compressor, Decompressor
from lstmzip.detect import Region
from lstmzip.errors import LstmzipError

from conftest import REPO

TEXT = (REPO / "README.md").read_bytes()[:3000]
NO_LSTM = ALL_MODELS & ~MODEL_BITS["lstm"]
(TXT, BIN, X86, IMG, TAB, CMP, ARM, X86I) = range(8)


def _cover(spec):
    """Regions from (length, kind, width, depth) tuples, in order."""
    out, at = [], 0
    for length, kind, width, depth in spec:
        out.append(Region(at, length, kind, width, depth))
        at += length
    return out


def _image(w: int, h: int, bpp: int, seed: int = 1) -> bytes:
    """A smooth image with a little noise: rows that look like the ones above."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:h, 0:w * bpp]
    img = (x * 2 + y * 3 + rng.integers(0, 4, (h, w * bpp))) & 255
    return img.astype(np.uint8).tobytes()


def _x86ish(n: int, seed: int = 2) -> bytes:
    rng = random.Random(seed)
    out = bytearray()
    targets = [rng.randrange(0, 1 << 16) for _ in range(8)]
    while len(out) < n:
        if rng.random() < 0.2:
            rel = (rng.choice(targets) - len(out) - 5) & 0xFFFFFFFF
            out += b"\xe8" + struct.pack("<I", rel)
        else:
            out += bytes([rng.choice(b"\x48\x89\xc7\x8b\x45\x0f\x85\x31\xc0\xc3")])
    return bytes(out[:n])


def _arm64ish(n: int, seed: int = 3) -> bytes:
    """AArch64-like words: common opcode top bytes, and BL calls to a few targets."""
    from test_arm64 import arm64_like
    return arm64_like(n, seed)


MIXED_SPEC = [(len(TEXT), TXT, 0, 0), (48 * 60, IMG, 48, 8), (1500, X86, 0, 0), (800, CMP, 0, 0),
              (30 * 40, TAB, 30, 0), (64 * 3 * 10, IMG, 192, 24), (500, BIN, 0, 0), (40 * 25, IMG, 5, 1),
              (1202, ARM, 0, 0), (900, X86I, 0, 0)]


def _mixed() -> bytes:
    rng = np.random.default_rng(5)
    parts = [TEXT, _image(48, 60, 1), _x86ish(1500), rng.integers(0, 256, 800, np.uint8).tobytes(),
             b"".join(struct.pack("<HHId16x", i, 7, i * 3, i / 7)[:30] for i in range(40)),
             _image(64, 10, 3), bytes(range(250)) * 2, _image(5, 200, 1), _arm64ish(1202), _x86ish(900, seed=4)]
    data = b"".join(parts)
    assert [len(p) for p in parts] == [s[0] for s in MIXED_SPEC]
    return data


@pytest.fixture
def fixed_regions(monkeypatch):
    """Make the compressor label blocks with the regions given (not detect()'s guesses)."""
    table = {}

    def fake(block, max_regions=detect.MAX_REGIONS):
        spec = table.get(len(block))
        return _cover(spec) if spec else [Region(0, len(block), TXT)] if block else []

    monkeypatch.setattr(detect, "detect", fake)
    return table


# ---- the table ------------------------------------------------------------------------------

def test_region_table_round_trips():
    regs = _cover(MIXED_SPEC)
    raw = b"junk" + rt.pack(regs) + b"after"
    back, at = rt.unpack(raw, 4, sum(r.length for r in regs))
    assert back == regs and raw[at:] == b"after"


@pytest.mark.parametrize("spec, n, why", [
    ([], 10, "0 regions"),
    ([(5, TXT, 0, 0)], 10, "cover 5 of 10"),
    ([(6, TXT, 0, 0), (6, TXT, 0, 0)], 10, "length"),
    ([(10, 8, 0, 0)], 10, "kind 8"),
    ([(10, ARM, 4, 0)], 10, "align 4"),
    ([(10, IMG, 0, 8)], 10, "width 0"),
    ([(10, IMG, 4, 12)], 10, "depth 12"),
    ([(10, TAB, 4, 8)], 10, "depth 8"),
])
def test_forged_region_tables_are_refused(spec, n, why):
    raw = rt._varint(len(spec)) + b"".join(
        rt._varint(length) + bytes([kind]) + (rt._varint(w) + bytes([d]) if kind in (IMG, TAB)
                                              else bytes([w]) if kind == ARM else b"")
        for length, kind, w, d in spec)
    with pytest.raises(LstmzipError, match="region table"):
        rt.unpack(raw, 0, n)


def test_truncated_region_tables_are_refused():
    raw = rt.pack(_cover(MIXED_SPEC))
    for cut in range(len(raw)):
        with pytest.raises(LstmzipError, match="region table"):
            rt.unpack(raw[:cut], 0, sum(s[0] for s in MIXED_SPEC))
    with pytest.raises(LstmzipError, match="longer than 4 bytes"):
        rt.unpack(b"\xff\xff\xff\xff\x01", 0, 10)
    with pytest.raises(LstmzipError, match="regions for"):        # more regions than bytes
        rt.unpack(rt._varint(11), 0, 10)


def test_x86_and_arm64_regions_are_transformed_and_restored():
    data = _mixed()
    regs = _cover(MIXED_SPEC)
    coded = rt.forward(data, regs)
    assert coded != data and len(coded) == len(data)
    assert rt.inverse(coded, regs) == data
    arm = regs[-1]
    assert coded[:arm.start] != data[:arm.start] and coded[arm.start:] != data[arm.start:]


# ---- coding ---------------------------------------------------------------------------------

@pytest.mark.parametrize("streams", [1, 3, 7])
def test_every_region_kind_round_trips_across_lanes(fixed_regions, streams):
    data = _mixed()
    fixed_regions[len(data)] = MIXED_SPEC
    blob = Compressor(methods=("cm",), level=2, streams=streams).compress(data)
    assert Decompressor().decompress(blob) == data


def test_region_kinds_round_trip_with_the_lstm(fixed_regions, tiny_model):
    data = _mixed()[:9000]
    spec, left = [], len(data)
    for length, kind, w, d in MIXED_SPEC:
        take = min(length, left)
        if take:
            spec.append((take, kind, w, d))
        left -= take
    fixed_regions[len(data)] = spec
    blob = Compressor(tiny_model, methods=("cm",), level=4, streams=5, lstm_auto=False).compress(data)
    assert Decompressor(tiny_model).decompress(blob) == data


def test_blocks_mostly_not_text_skip_the_lstm(fixed_regions, tiny_model, monkeypatch):
    """The LSTM (a text model) is neither probed nor run where text regions hold under half
    the block; a block that is mostly text still codes it (the probe said it pays)."""
    import lstmzip.codec as codec
    from lstmzip.cm import CMParams
    monkeypatch.setattr(codec, "LSTM_MIN_GAIN", -1.0)          # 'the LSTM always pays'
    monkeypatch.setattr(codec, "LSTM_SAMPLE", 1024)
    img = _image(48, 60, 1)                                     # 2,880 bytes of 8-bit pixels
    for text_len, lstm in ((1000, False), (len(TEXT), True)):
        data = TEXT[:text_len] + img
        fixed_regions[len(data)] = [(text_len, TXT, 0, 0), (len(img), IMG, 48, 8)]
        c = Compressor(tiny_model, methods=("cm",), level=4)
        blob = c.compress(data)
        assert ("lstm_sample" in c.stats) == lstm
        payloads = [p for _, bh, p in Decompressor().blocks(io.BytesIO(blob)) if not isinstance(bh, fmt.End)]
        if not lstm:                                            # (else the smaller coding is kept)
            assert not CMParams.unpack(payloads[0]).models & MODEL_BITS["lstm"]
        assert Decompressor(tiny_model).decompress(blob) == data


def test_info_lists_a_blocks_regions(fixed_regions, tmp_path):
    from conftest import run_cli
    data = _mixed()
    fixed_regions[len(data)] = MIXED_SPEC
    blob = Compressor(methods=("cm",), level=2).compress(data)
    (tmp_path / "f.lstmz").write_bytes(blob)
    out = run_cli("info", "-v", tmp_path / "f.lstmz", check=True).stdout.decode()
    assert "regions: text 3000, image 48x8 2880, x86 1500, compressed 800, table /30 1200" in out


def test_structure_contexts_pay_on_images_and_compressed_regions_cost_a_byte_a_byte(fixed_regions):
    img = _image(100, 120, 1, seed=3)
    fixed_regions[len(img)] = [(len(img), IMG, 100, 8)]
    with_2d = len(Compressor(methods=("cm",), level=2).compress(img))
    without = len(Compressor(methods=("cm",), level=2, cm_models=NO_LSTM & ~MODEL_BITS["struct"]).compress(img))
    assert with_2d < 0.97 * without
    noise = np.random.default_rng(9).integers(0, 256, 20000, np.uint8).tobytes()
    fixed_regions[len(noise)] = [(len(noise), CMP, 0, 0)]
    blob = Compressor(methods=("cm",), level=2).compress(noise)
    payload = len(blob) - len(Compressor(methods=("cm",), level=2).compress(b""))
    assert len(noise) <= payload <= len(noise) + 64                 # 8 bits a byte, the heads


def test_a_forged_region_kind_is_caught_by_the_block_checksum(fixed_regions):
    data = _mixed()
    fixed_regions[len(data)] = MIXED_SPEC
    blob = bytearray(Compressor(methods=("cm",), level=2).compress(data))
    table = rt.pack(_cover(MIXED_SPEC))
    at = bytes(blob).find(table)
    assert at > 0
    blob[at + 1 + len(rt._varint(len(TEXT)))] = CMP              # the text region: "compressed"
    with pytest.raises(LstmzipError):
        Decompressor().decompress(bytes(blob))
