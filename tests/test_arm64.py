"""The AArch64 BL transform (arm64.py) round-trips exactly and makes calls to one target equal;
its detector separates AArch64 code from x86 code, text, tables and noise; detect() labels
AArch64 files and chunks, with the word alignment, and such blocks round-trip."""

from __future__ import annotations

import random
import struct

import numpy as np
import pytest

from lstmzip import arm64, detect
from lstmzip.codec import Compressor, Decompressor

# top bytes of common AArch64 instructions, roughly as often as in real code (ldr/str, add, mov,
# b.cond, cmp, stp/ldp, sub, ret, cbz, movz)
OPCODES = [0xF9] * 9 + [0x91] * 8 + [0x54] * 9 + [0xAA] * 6 + [0xEB] * 5 + [0xB9] * 4 + [0x8B] * 4 \
    + [0xA9] * 3 + [0xCB] * 2 + [0xD1] * 2 + [0x52] * 2 + [0xD6, 0xB4, 0x35, 0x17]


def arm64_like(n: int, seed: int = 3) -> bytes:
    """AArch64-like words: common opcode top bytes with random operands, and every ~16th word a
    BL to one of 6 functions (imm26 = target word - this word)."""
    rng = random.Random(seed)
    targets = [rng.randrange(0, 4096) for _ in range(6)]
    out = bytearray()
    while len(out) < n:
        j = len(out) // 4
        if rng.random() < 0.06:
            imm = (rng.choice(targets) - j) & 0x3FFFFFF
            out += struct.pack("<I", 0x94000000 | imm)
        else:
            out += struct.pack("<I", rng.choice(OPCODES) << 24 | rng.randrange(1 << 24))
    return bytes(out[:n])


def test_calls_to_one_target_become_equal():
    a = struct.pack("<I", 0x94000000 | 100)                    # word 0: BL +100 -> word 100
    b = struct.pack("<I", 0x94000000 | ((100 - 3) & 0x3FFFFFF))   # word 3: BL +97 -> word 100
    other = struct.pack("<I", 0xF9400000)                       # ldr: not a call
    data = a + other + other + b
    out = arm64.forward(data)
    assert out[0:4] == out[12:16] == struct.pack("<I", 0x94000000 | 100)
    assert out[4:12] == data[4:12] and arm64.inverse(out) == data
    # a call backwards wraps modulo 2**26 in both directions
    back = struct.pack("<I", 0x94000000 | ((-5) & 0x3FFFFFF))
    assert arm64.inverse(arm64.forward(other * 2 + back)) == other * 2 + back


@pytest.mark.parametrize("base, align", [(0, 0), (1, 0), (5, 3), (4098, 2), (7, 1)])
def test_forward_and_inverse_are_exact_on_any_bytes(base, align):
    rng = np.random.default_rng(base + align)
    for n in (0, 1, 3, 4, 5, 7, 8, 100, 4099):
        data = rng.integers(0, 256, n, np.uint8).tobytes()
        calls = bytes(b | 0x94 if i % 4 == 3 else b for i, b in enumerate(data))   # many BL words
        for x in (data, calls, b"\x97" * n):
            y = arm64.forward(x, base, align)
            assert len(y) == len(x)
            assert arm64.inverse(y, base, align) == x and arm64.forward(arm64.inverse(x, base, align), base, align) == x
    with pytest.raises(ValueError):
        arm64.forward(b"abcd", 0, 4)


def test_the_transform_counts_words_from_the_block_start():
    """A region that starts mid-block with its words aligned to the block gets the same
    targets as the block transformed whole."""
    code = arm64_like(4000)
    whole = arm64.forward(code, 0, 0)
    assert arm64.forward(code[1000:], 1000, 0) == whole[1000:]
    assert arm64.forward(code[1001:], 1001, 0)[3:] == whole[1004:]      # first whole word at 1004


def test_the_score_separates_arm64_code_from_everything_else():
    code = arm64_like(16384)
    best, phase, others = arm64.score(code)
    assert best >= arm64.ARM64_SCORE and best - others >= arm64.ARM64_MARGIN and phase == 0
    assert arm64.score(b"\0" + code)[1] == 1                  # the phase follows the words
    rng = np.random.default_rng(4)
    noise = rng.integers(0, 256, 16384, np.uint8).tobytes()
    text = (b"The quick brown fox jumps over the lazy dog; 12,345 more words follow. " * 300)[:16384]
    floats = np.linspace(-3, 3, 4096).astype("<f4").tobytes()
    ints = np.arange(4096, dtype="<i4").tobytes()
    x86 = bytes(rng.choice(np.frombuffer(b"\x48\x89\xc7\x8b\x45\x0f\x85\x31\xc0\xc3\xe8", np.uint8), 16384))
    for other in (noise, text, floats, ints, x86):
        best, _, others = arm64.score(other)
        assert best < arm64.ARM64_SCORE or best - others < arm64.ARM64_MARGIN
    assert arm64.score(b"short") == (0.0, 0, 0.0)


def _elf_aarch64(code: bytes) -> bytes:
    head = bytearray(b"\x7fELF\x02\x01\x01" + bytes(9))
    head += struct.pack("<HHI", 3, 183, 1) + bytes(40)          # ET_DYN, EM_AARCH64
    return bytes(head) + code


def test_detect_labels_arm64_files_and_headerless_code_with_their_alignment():
    code = arm64_like(60000)
    regions = detect.detect(_elf_aarch64(code))
    arm = [r for r in regions if r.kind == detect.KIND_ARM64]
    assert sum(r.length for r in arm) >= 55000 and all(r.width == 64 % 4 for r in arm)
    shifted = b"xyz" + code                                     # words at block offsets 3 mod 4
    arm = [r for r in detect.detect(shifted) if r.kind == detect.KIND_ARM64]
    assert sum(r.length for r in arm) >= 55000 and {r.width for r in arm} == {3}
    text = (b"An AArch64 manual, in prose, is text and not code. " * 2000)[:60000]
    assert {r.kind for r in detect.detect(text)} == {detect.KIND_TEXT}
    # float32 samples near 1e-4: every top byte is 0x38 or 0x39 (common opcode bytes), one phase
    rng = np.random.default_rng(1)
    small = (np.cumsum(rng.normal(0, 1e-6, 60000)) + 2e-4).astype("<f4").tobytes()
    assert arm64.score(small[:16384])[0] >= arm64.ARM64_SCORE and arm64.variety(small[:16384], 0) < 3
    assert detect.KIND_ARM64 not in {r.kind for r in detect.detect(small)}


@pytest.mark.parametrize("level, streams", [(2, 1), (3, 3)])
def test_arm64_blocks_round_trip(level, streams):
    data = b"README for a library\n" * 20 + _elf_aarch64(arm64_like(40000)) + bytes(range(256)) * 4
    blob = Compressor(methods=("cm",), level=level, streams=streams).compress(data)
    assert Decompressor().decompress(blob) == data
    off = Compressor(methods=("cm",), level=level, streams=streams,
                     cm_models=Compressor(level=level).cm_models & ~(1 << 14)).compress(data)
    assert len(blob) < len(off)                                 # the BL transform and contexts pay
