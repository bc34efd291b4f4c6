"""BL transform: ARM64 (AArch64) call targets made absolute, exactly reversible; and a detector.

AArch64 code is a sequence of 32-bit little-endian instruction words. A call is ``BL imm26``:
the word's top 6 bits are 100101 and its low 26 bits the signed distance to the target in
words. Two calls to the same function from different places carry different distances; made
absolute (word index + imm26, modulo 2**26) they become the same bytes, which the context
models then see as a repeat (the x86 counterpart is ``x86.py``).

Specification (``data`` a byte string of length n that starts at offset ``base`` of a larger
buffer, the block; ``align`` in 0..3: instruction words start at block offsets P with
P mod 4 = align; the output has length n)::

    i = (align - base) mod 4                             # the first whole word in data
    while i + 4 <= n:
        w = data[i] | data[i+1] << 8 | data[i+2] << 16 | data[i+3] << 24
        if w >> 26 == 0b100101:                          # BL
            j = (base + i) >> 2                          # the word's index in the block
            forward: imm = (w & 0x3FFFFFF) + j  mod 2**26
            inverse: imm = (w & 0x3FFFFFF) - j  mod 2**26
            data[i..i+3] = the bytes of (w & 0xFC000000) | imm, little-endian
        i = i + 4

The scan decides on the top 6 bits alone and never changes them, and every word is visited
once with the same j in both directions, so ``inverse(forward(x)) == x`` and
``forward(inverse(x)) == x`` for every byte string, base and align. Bytes before the first word
and after the last are never touched. Because j counts from the block's start, a call seen in
two regions of one block (a file cut into chunks) gets the same target in both.

``score(data)`` says how much ``data`` looks like AArch64 code: in the best of the 4 phases,
the share of words whose top byte is one of the common AArch64 opcode bytes (loads, stores,
add/sub, moves, compares, branches, calls, ADRP; 45 of 256 values). Measured on 16 KiB chunks:
AArch64 code of two libraries 0.50-0.97 (whole .text sections 0.80, 0.88), in the same phase
while the other three phases stay near 0.06; x86 and x86-64 code 0.09-0.23, images,
tables, sampled signals and database pages at most 0.32, text at most 0.29, random 0.18.
``variety(data, phase)`` guards against arrays of 32-bit numbers whose top byte happens to be
one of those values (float32 samples near 1e-4 are all 0x38/0x39): code uses many opcodes
(11-28 of them on >= 1 % of the words of every 16 KiB chunk measured, none above 20 %).
"""

from __future__ import annotations

import numpy as np
from numba import njit

from . import numba_cache  # noqa: F401  (numba's cache directory is set before any kernel loads)

ARM64_SCORE = 0.45          # score() a chunk needs to be called AArch64 code (0.35 in an AArch64 file)
ARM64_MARGIN = 0.25         # ... above the mean of its other three phases (the word structure)
ARM64_VARIETY = 8           # ... and this many of those opcode bytes each on >= 1 % of its words

_TOP = np.zeros(256, bool)  # the top bytes of common AArch64 instructions
_TOP[[0x54, 0xF9, 0xF8, 0x91, 0xD1, 0x11, 0x51, 0xAA, 0x2A, 0xEB, 0x6B, 0xF1, 0x71, 0xB9, 0xB8,
      0x8B, 0x0B, 0xCB, 0x4B, 0x17, 0x14, 0x94, 0x97, 0xA9, 0xA8, 0x29, 0x39, 0x38, 0xD2, 0x52,
      0x12, 0x92, 0xD6, 0xB4, 0xB5, 0x34, 0x35, 0x90, 0xB0, 0xD0, 0xF0, 0x1A, 0x9A, 0x36, 0x37]] = True


@njit(cache=True)
def _scan(buf, base, align, sign):
    """The specification's scan over ``buf`` (uint8, modified in place); returns the number of
    BL words (rewritten when sign is +1 or -1, only counted when 0)."""
    n = buf.shape[0]
    calls = 0
    i = (align - base) & 3
    j = (base + i) >> 2
    while i + 4 <= n:
        top = np.int64(buf[i + 3])
        if (top >> 2) == 0x25:
            calls += 1
            if sign != 0:
                imm = (np.int64(buf[i]) | (np.int64(buf[i + 1]) << 8) | (np.int64(buf[i + 2]) << 16)
                       | ((top & 3) << 24))
                imm = (imm + sign * j) & 0x3FFFFFF            # & = mod 2**26, also when negative
                buf[i] = imm & 0xFF
                buf[i + 1] = (imm >> 8) & 0xFF
                buf[i + 2] = (imm >> 16) & 0xFF
                buf[i + 3] = (top & 0xFC) | (imm >> 24)
        i += 4
        j += 1
    return calls


def _run(data: bytes, base: int, align: int, sign: int) -> bytes:
    if not 0 <= align <= 3 or base < 0:
        raise ValueError(f"align must be 0..3 and base >= 0, not {align}, {base}")
    buf = np.frombuffer(bytes(data), np.uint8).copy()
    _scan(buf, base, align, sign)
    return buf.tobytes()


def forward(data: bytes, base: int = 0, align: int = 0) -> bytes:
    """BL targets made absolute (the encoder's side)."""
    return _run(data, base, align, 1)


def inverse(data: bytes, base: int = 0, align: int = 0) -> bytes:
    """The exact inverse of ``forward`` with the same base and align (the decoder's side)."""
    return _run(data, base, align, -1)


def variety(data, phase: int) -> int:
    """How many of the common opcode bytes are the top byte of >= 1 % of the words at phase."""
    a = np.frombuffer(data, np.uint8) if isinstance(data, (bytes, bytearray, memoryview)) else data
    tops = a[phase + 3::4]
    if not len(tops):
        return 0
    counts = np.bincount(tops[_TOP[tops]], minlength=256)
    return int((counts * 100 >= len(tops)).sum())


def score(data) -> tuple:
    """(best, phase, others): the share of 4-byte words whose top byte is a common AArch64
    opcode byte, in the phase where it is highest; that phase (0..3, the offset of the first
    whole word); the mean share in the other three phases. (0.0, 0, 0.0) below 64 bytes."""
    a = np.frombuffer(data, np.uint8) if isinstance(data, (bytes, bytearray, memoryview)) else data
    n = len(a)
    if n < 64:
        return 0.0, 0, 0.0
    shares = []
    for p in range(4):
        tops = a[p + 3::4]
        shares.append(float(_TOP[tops].mean()) if len(tops) else 0.0)
    best = int(np.argmax(shares))
    others = (sum(shares) - shares[best]) / 3
    return shares[best], best, others
