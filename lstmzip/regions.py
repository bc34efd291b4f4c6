"""A cm block's region table: what each part of the block holds, as stored in the block.

The compressor labels a block's regions (``detect.py``); a v2 cm block with the ``struct``
model bit stores the labels right after its parameters, so the decoder never guesses::

    varint count                          1..MAX_REGIONS
    per region, in block order:
        varint length                     >= 1; the lengths add up to the block's length
        u8     kind                       text 0, binary 1, x86 2, image 3, table 4, compressed 5,
                                          arm64 6
        image and table only:
            varint width                  bytes per row (image) or per record (table), 1..65535
            u8     depth                  image: bits per pixel, 1, 8, 16, 24 or 32; table: 0
        arm64 only:
            u8     align                  0..3: instruction words start at block offsets = align mod 4

(varint: 7 bits a byte, low first, the high bit set on every byte but the last; at most 4
bytes.) What the kinds change: an x86 region is coded after the E8/E9 transform (``x86.py``;
positions counted from the region's start) and restored after decoding, an arm64 region
after the BL transform (``arm64.py``; word indices counted from the block's start); image and table
regions get the 2-D contexts of ``cm/kernel_v2.py``; a compressed region is coded at 8 bits a
byte without modelling; binary regions get the contexts x86 regions get (without the
transform), arm64 regions contexts of their own (the byte's place in its word). The kind also
selects mixer weights. (A region's ``width`` holds an arm64 region's align.)
"""

from __future__ import annotations

from typing import List, Sequence, Tuple

import numpy as np

from . import arm64, x86
from .detect import (KIND_ARM64, KIND_COMPRESSED, KIND_IMAGE, KIND_NAMES, KIND_TABLE, KIND_X86, KIND_X86I, MAX_REGIONS,
                     Region)
from .errors import LstmzipError

IMAGE_DEPTHS = (1, 8, 16, 24, 32)
MAX_WIDTH = 65535


def _varint(v: int) -> bytes:
    out = bytearray()
    while v >= 0x80:
        out.append((v & 0x7F) | 0x80)
        v >>= 7
    out.append(v)
    return bytes(out)


def _read_varint(raw: bytes, at: int) -> Tuple[int, int]:
    v = shift = 0
    for i in range(4):
        if at >= len(raw):
            raise LstmzipError("cm region table truncated")
        b = raw[at]
        at += 1
        v |= (b & 0x7F) << shift
        shift += 7
        if not b & 0x80:
            return v, at
    raise LstmzipError("corrupted cm region table (a number longer than 4 bytes)")


def pack(regions: Sequence[Region]) -> bytes:
    out = [_varint(len(regions))]
    for r in regions:
        out.append(_varint(r.length) + bytes([r.kind]))
        if r.kind in (KIND_IMAGE, KIND_TABLE):
            out.append(_varint(r.width) + bytes([r.depth if r.kind == KIND_IMAGE else 0]))
        elif r.kind == KIND_ARM64:
            out.append(bytes([r.width]))
    return b"".join(out)


def unpack(raw: bytes, at: int, n: int) -> Tuple[List[Region], int]:
    """The regions of a block of n bytes stored at raw[at:], and the offset after them; one
    clear line for anything a compressor of this version never writes."""
    count, at = _read_varint(raw, at)
    if not 1 <= count <= min(MAX_REGIONS, n):
        raise LstmzipError(f"corrupted cm region table ({count} regions for {n} bytes)")
    regions, start = [], 0
    for _ in range(count):
        length, at = _read_varint(raw, at)
        if at >= len(raw):
            raise LstmzipError("cm region table truncated")
        kind = raw[at]
        at += 1
        if kind >= len(KIND_NAMES) or not 1 <= length <= n - start:
            raise LstmzipError(f"corrupted cm region table (kind {kind}, length {length} at {start})")
        width = depth = 0
        if kind in (KIND_IMAGE, KIND_TABLE):
            width, at = _read_varint(raw, at)
            if at >= len(raw):
                raise LstmzipError("cm region table truncated")
            depth = raw[at]
            at += 1
            if not 1 <= width <= MAX_WIDTH or depth != 0 and kind == KIND_TABLE \
                    or kind == KIND_IMAGE and depth not in IMAGE_DEPTHS:
                raise LstmzipError(f"corrupted cm region table (width {width}, depth {depth})")
        elif kind == KIND_ARM64:
            if at >= len(raw):
                raise LstmzipError("cm region table truncated")
            width = raw[at]
            at += 1
            if width > 3:
                raise LstmzipError(f"corrupted cm region table (arm64 align {width})")
        regions.append(Region(start, length, kind, width, depth))
        start += length
    if start != n:
        raise LstmzipError(f"corrupted cm region table (regions cover {start} of {n} bytes)")
    return regions, at


def as_array(regions: Sequence[Region]) -> np.ndarray:
    """The kernel's view: one row (start, end, kind, width, depth) per region."""
    return np.array([(r.start, r.start + r.length, r.kind, r.width, r.depth) for r in regions],
                    np.int64).reshape(-1, 5)


def _transformed(data: bytes, regions: Sequence[Region], sign: int) -> bytes:
    if not any(r.kind in (KIND_X86, KIND_X86I, KIND_ARM64) for r in regions):
        return data
    parts = []
    for r in regions:
        part = data[r.start:r.start + r.length]
        if r.kind in (KIND_X86, KIND_X86I):
            part = x86.forward(part) if sign > 0 else x86.inverse(part)
        elif r.kind == KIND_ARM64:
            part = arm64.forward(part, r.start, r.width) if sign > 0 else arm64.inverse(part, r.start, r.width)
        parts.append(part)
    return b"".join(parts)


def forward(data: bytes, regions: Sequence[Region]) -> bytes:
    """The bytes the model codes: x86 regions through the E8/E9 transform, arm64 regions
    through the BL transform."""
    return _transformed(data, regions, 1)


def inverse(data: bytes, regions: Sequence[Region]) -> bytes:
    """The block from the decoded bytes: forward undone."""
    return _transformed(data, regions, -1)


def describe(regions: Sequence[Region]) -> str:
    """'text 1200, image 512x8 300000, ...' for info -v."""
    parts = []
    for r in regions:
        shape = f" {r.width}x{r.depth}" if r.kind == KIND_IMAGE else f" /{r.width}" if r.kind == KIND_TABLE \
            else f" +{r.width}" if r.kind == KIND_ARM64 and r.width else ""
        parts.append(f"{KIND_NAMES[r.kind]}{shape} {r.length}")
    if len(parts) > 8:
        parts = parts[:6] + [f"... {len(parts) - 7} more", parts[-1]]
    return ", ".join(parts)

