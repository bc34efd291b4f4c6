"""detect(): what a block holds. Exact where a header says (tar, PNM, BMP), by statistics
elsewhere; always a contiguous, ordered, merged cover; never raises; deterministic."""

from __future__ import annotations

import io
import random
import struct
import tarfile

import numpy as np
import pytest

from lstmzip.detect import (KIND_BINARY, KIND_COMPRESSED, KIND_IMAGE, KIND_TABLE, KIND_TEXT, KIND_X86I,
                            MAX_REGIONS, Region, detect)

from conftest import REPO

TEXT = (REPO / "README.md").read_bytes()[:20000]


def _valid_cover(regions, n):
    at = 0
    for i, r in enumerate(regions):
        assert r.start == at and r.length >= 1, regions
        if i:
            prev = regions[i - 1]
            assert (prev.kind, prev.width, prev.depth) != (r.kind, r.width, r.depth), "unmerged"
        at += r.length
    assert at == n


def _photo(w: int, h: int, channels: int, seed: int = 3) -> np.ndarray:
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:h, 0:w]
    base = (np.sin(x / 9.0) * 60 + np.cos(y / 7.0) * 50 + 128)[..., None] + rng.normal(0, 3, (h, w, channels))
    return np.clip(base + np.arange(channels) * 20, 0, 255).astype(np.uint8)


def _code(n: int, seed: int = 2) -> bytes:
    """x86-64-like bytes: short instructions and CALLs to a few hundred functions."""
    rng = random.Random(seed)
    out = bytearray()
    funcs = [rng.randrange(0, 1 << 20) for _ in range(300)]
    ops = [b"\x48\x89\xc7", b"\x8b\x45\xf8", b"\x0f\x85\x10\x00\x00\x00", b"\x31\xc0", b"\xc3", b"\x55",
           b"\x48\x83\xec\x20", b"\x41\x5c", b"\x74\x0c", b"\x48\x8d\x3d\x00\x10\x00\x00"]
    while len(out) < n:
        if rng.random() < 0.15:
            out += b"\xe8" + struct.pack("<i", rng.choice(funcs) - len(out) - 5)
        else:
            out += rng.choice(ops)
    return bytes(out[:n])


def _records(n_rec: int) -> bytes:
    return b"".join(struct.pack("<IH10sd", i, i % 7, b"item%06d" % i, i * 0.25) for i in range(n_rec))


def test_text_is_one_text_region():
    assert detect(TEXT) == [Region(0, len(TEXT), KIND_TEXT)]
    utf8 = ("Grüße, 你好, привет. " * 2000).encode()
    assert detect(utf8) == [Region(0, len(utf8), KIND_TEXT)]


def test_pgm_ppm_pbm_images_are_exact():
    grey = _photo(300, 80, 1)[..., 0]
    pgm = b"P5\n# a comment\n300 80\n255\n" + grey.tobytes()
    r = detect(pgm)
    head = len(pgm) - grey.size
    assert r == [Region(0, head, KIND_TEXT), Region(head, grey.size, KIND_IMAGE, 300, 8)]
    rgb = _photo(200, 60, 3)
    ppm = b"P6 200 60 255\n" + rgb.tobytes()
    assert detect(ppm)[1] == Region(14, rgb.size, KIND_IMAGE, 600, 24)
    pbm = b"P4\n100 50\n" + bytes(13 * 50)
    assert detect(pbm)[1] == Region(10, 13 * 50, KIND_IMAGE, 13, 1)


@pytest.mark.parametrize("bpp", [8, 24, 32])
def test_bmp_rows_are_padded_to_four_bytes(bpp):
    w, h = 101, 40
    row = (w * bpp + 31) // 32 * 4
    palette = bytes(1024) if bpp == 8 else b""
    off = 54 + len(palette)
    pixels = bytes((i * 7) & 255 for i in range(row * h))
    bmp = (b"BM" + struct.pack("<IHHI", off + len(pixels), 0, 0, off)
           + struct.pack("<IiiHHIIiiII", 40, w, -h, 1, bpp, 0, len(pixels), 2835, 2835, 0, 0)
           + palette + pixels)
    r = detect(bmp)
    assert r[-1] == Region(off, row * h, KIND_IMAGE, row, bpp)
    _valid_cover(r, len(bmp))


def test_tar_members_are_detected_each_on_its_own():
    rgb = _photo(128, 64, 3)
    members = [("notes.txt", TEXT[:5000]), ("pic.ppm", b"P6\n128 64\n255\n" + rgb.tobytes()),
               ("noise.bin", np.random.default_rng(1).integers(0, 256, 40000, np.uint8).tobytes())]
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.USTAR_FORMAT) as tar:
        for name, data in members:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    block = buf.getvalue()
    r = detect(block)
    _valid_cover(r, len(block))
    kinds = [x.kind for x in r]
    assert KIND_IMAGE in kinds and KIND_COMPRESSED in kinds
    image = next(x for x in r if x.kind == KIND_IMAGE)
    ppm_at = block.index(b"P6\n128 64")
    assert (image.start, image.length, image.width, image.depth) == (ppm_at + 14, rgb.size, 384, 24)
    # a block that starts inside a member still finds the next header
    cut = block[ppm_at + 20:]
    r2 = detect(cut)
    _valid_cover(r2, len(cut))
    assert KIND_COMPRESSED in [x.kind for x in r2]


def test_code_random_records_and_binary_by_statistics():
    code = _code(200_000)
    assert {x.kind for x in detect(code)} == {KIND_X86I}
    noise = np.random.default_rng(7).integers(0, 256, 100_000, np.uint8).tobytes()
    assert detect(noise) == [Region(0, len(noise), KIND_COMPRESSED)]
    recs = _records(4000)                    # 24-byte records
    r = detect(recs)
    assert [x.kind for x in r] == [KIND_TABLE] and r[0].width % 24 == 0
    zeros_and_ints = np.arange(50_000, dtype="<u4").tobytes()
    assert all(x.kind != KIND_X86I for x in detect(zeros_and_ints))


def test_a_table_of_the_number_1000_is_not_code():
    """E8 03 00 00 is 1000 as an int32: a column of it once looked like dense CALLs."""
    rows = b"".join(struct.pack("<HiHi", i, 1000, i % 5, 1000 + (i % 3)) for i in range(8000))
    assert all(x.kind != KIND_X86I for x in detect(rows))


def test_mixed_block_covers_in_order_and_is_deterministic():
    rng = np.random.default_rng(9)
    parts = [TEXT[:30000], _code(100_000), rng.integers(0, 256, 50_000, np.uint8).tobytes(), _records(3000)]
    block = b"".join(parts)
    r = detect(block)
    _valid_cover(r, len(block))
    assert r == detect(block) == detect(bytearray(block))
    kinds = [x.kind for x in r]
    for k in (KIND_TEXT, KIND_X86I, KIND_COMPRESSED, KIND_TABLE):
        assert k in kinds


def test_region_count_is_limited():
    # many tiny tar members: one header + one member region each
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.USTAR_FORMAT) as tar:
        for i in range(300):
            data = bytes([i & 255]) * 700
            info = tarfile.TarInfo(f"f{i}")
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    block = buf.getvalue()
    assert len(detect(block)) > 64
    for limit in (64, 5, 1):
        r = detect(block, max_regions=limit)
        assert len(r) <= limit
        _valid_cover(r, len(block))


def test_never_raises_on_damaged_headers():
    rng = random.Random(11)
    seeds = [b"P5\n300 80\n255\n", b"P6 99999 99999 65535\n", b"BM" + bytes(60), b"\x7fELF" + bytes(30),
             b"MZ" + bytes(70), b"\x89PNG\r\n\x1a\n", b"P4\n0 0\n", b"P5 12 # x\n"]
    for seed in seeds:
        for _ in range(40):
            data = bytearray(seed + bytes(rng.randrange(0, 256) for _ in range(rng.randrange(0, 3000))))
            for _ in range(rng.randrange(0, 6)):
                if data:
                    data[rng.randrange(len(data))] = rng.randrange(256)
            r = detect(bytes(data))
            if data:
                _valid_cover(r, len(data))
                assert len(r) <= MAX_REGIONS
            else:
                assert r == []


def test_forged_tar_header_is_ignored():
    ppm = b"P6\n40 30\n255\n" + _photo(40, 30, 3).tobytes()
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.USTAR_FORMAT) as tar:
        info = tarfile.TarInfo("a.ppm")
        info.size = len(ppm)
        tar.addfile(info, io.BytesIO(ppm))
    good = buf.getvalue()
    assert Region(512 + 13, 3600, KIND_IMAGE, 120, 24) in detect(good)
    bad = bytearray(good)
    bad[0] ^= 1                               # the checksum no longer matches: not a header
    assert Region(512 + 13, 3600, KIND_IMAGE, 120, 24) not in detect(bytes(bad))   # (statistics may
    # still see rows, but not the header's exact region)
    _valid_cover(detect(bytes(bad)), len(bad))
    huge = bytearray(good)                    # a size beyond the block: clamped to it
    huge[124:136] = b"77777777777\0"
    huge[148:156] = b" " * 8
    huge[148:156] = b"%06o\0 " % sum(huge[:512])
    r = detect(bytes(huge))
    _valid_cover(r, len(huge))
    assert Region(512 + 13, 3600, KIND_IMAGE, 120, 24) in r


def test_binary_is_the_default():
    rng = np.random.default_rng(4)
    data = (rng.integers(0, 16, 60_000).astype(np.uint8) * np.uint8(9)).tobytes()   # low entropy, no rows
    assert {x.kind for x in detect(data)} <= {KIND_BINARY, KIND_TABLE}


def _tiff(w, h, spp, order="<"):
    """A minimal uncompressed chunky TIFF: header, pixels (one strip), then the IFD."""
    pixels = bytes((i * 13) & 255 for i in range(w * h * spp))
    tags = [(256, 3, 1, w), (257, 3, 1, h), (258, 3, 1, 8), (259, 3, 1, 1), (273, 4, 1, 8),
            (277, 3, 1, spp), (278, 3, 1, h), (279, 4, 1, len(pixels)), (284, 3, 1, 1)]
    ifd = struct.pack(order + "H", len(tags))
    for tag, typ, n, v in tags:
        value = struct.pack(order + "H", v) + bytes(2) if typ == 3 else struct.pack(order + "I", v)
        ifd += struct.pack(order + "HHI", tag, typ, n) + value
    magic = b"II*\0" if order == "<" else b"MM\0*"
    return magic + struct.pack(order + "I", 8 + len(pixels)) + pixels + ifd + bytes(4), len(pixels)


@pytest.mark.parametrize("order", ["<", ">"])
def test_uncompressed_tiff_is_exact(order):
    tif, n = _tiff(90, 40, 3, order)
    r = detect(tif)
    assert Region(8, n, KIND_IMAGE, 270, 24) in r
    _valid_cover(r, len(tif))


def test_adversarial_headers():
    """A text that starts with "BM", a truncated ELF header, an image header that promises more
    rows than there are: labelled by what the bytes are, never past the end."""
    bm = b"BMW drivers' notes: " + TEXT[:4000]
    assert detect(bm) == [Region(0, len(bm), KIND_TEXT)]
    for elf in (b"\x7fELF", b"\x7fELF\x02\x01\x01" + bytes(9)):
        _valid_cover(detect(elf), len(elf))
    short = b"P5\n100 1000\n255\n" + bytes(range(256)) * 4
    r = detect(short)
    assert r[-1] == Region(16, 1024, KIND_IMAGE, 100, 8)


def test_headerless_16_bit_grid_and_float_records():
    """A 16-bit elevation-like grid (rows of 300 samples) is an image 600 bytes wide, 16 bits deep;
    records of a date, five float64 and an int64 (56 bytes) are a table at 56, not code."""
    y, x = np.mgrid[0:200, 0:300]
    grid = (2000 + 300 * np.sin(x / 40.0) * np.cos(y / 30.0) + x + y).astype("<i2").tobytes()
    assert detect(grid) == [Region(0, len(grid), KIND_IMAGE, 600, 16)]
    rng = np.random.default_rng(8)
    price = 300 + np.cumsum(rng.normal(0, 2, 1500))
    recs = np.zeros(1500, [("date", "<i8"), ("o", "<f8"), ("h", "<f8"), ("l", "<f8"), ("c", "<f8"),
                           ("v", "<i8"), ("a", "<f8")])
    recs["date"] = 13000 + np.arange(1500)
    recs["o"], recs["h"], recs["l"], recs["c"], recs["a"] = price, price + 1.5, price - 1.5, price + 0.2, price
    recs["v"] = rng.integers(10**6, 10**7, 1500)
    r = detect(recs.tobytes())
    assert all(x.kind == KIND_TABLE and x.width % 56 == 0 for x in r), r
