"""What a block holds: its regions (text, binary, x86 code, image, table, compressed, AArch64 code).

The compressor calls ``detect(block)`` once per cm block with the ``struct`` model bit and
stores the answer in the block (``regions.py``), so the decoder never runs this code and any
change here changes ratios, never the format. The answer is a list of ``Region``s that cover
the block exactly, in order, with equal neighbours merged.

How, in order of trust:

1. **Containers and headers, exactly.** A ustar/GNU tar header (its checksum verified) is a
   text region; each member's data is detected on its own (recursively, as if it were a
   file), so a tar of images and executables gets its images and executables. Headers found
   anywhere in the block, so a block that starts inside a tar (blocks cut files at any offset)
   still finds the next member.
2. **Magic numbers** at the start of a file: PGM/PPM/PBM (P5/P6/P4), uncompressed BMP
   (1/8/24/32 bits, rows padded to 4 bytes, data at bfOffBits) and uncompressed TIFF (chunky,
   strips end to end) give an exact image region with its row length and depth; ELF (i386, x86-64) and PE (i386, AMD64) mark the file as
   executable, and so do Mach-O i386 / x86-64, which lowers the bar for x86 below (ELF AArch64
   and Mach-O arm64 lower the bar for AArch64); JPEG, PNG, GIF, zip, gzip, bzip2, xz, zstd
   and 7z mark it as compressed, which lowers the bar for "compressed".
3. **Statistics**, per chunk of ``CHUNK`` bytes (the rest of a file): text (few control bytes
   or 90 % printable ASCII, and valid UTF-8 where there are high bytes); compressed (order-0 entropy >= 7.97 bits a byte;
   7.5 inside a file whose magic says compressed); AArch64 (``arm64.score``: in one of the 4
   phases most words end in a common opcode byte, far more than in the other phases, and many
   different ones); x86 (``x86.call_score`` on a window of
   ``X86_WINDOW`` bytes around the chunk >= ``x86.X86_MIN_SCORE``, half of that in an
   executable); table (a row length w whose byte-by-byte distance to the row above is clearly
   smaller than to its neighbours w-1 and w+1: records, headerless images; a 1-bit image, i.e.
   fax, when most bytes are 00/FF and most others a single edge); else binary.

Deterministic (no clocks, no randomness, no dependence on the machine), never raises on any
input, and fast: numpy and two small compiled scans, ~50-100 MB/s.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import List, Optional

import numpy as np
from numba import njit

from . import numba_cache  # noqa: F401  (numba's cache directory is set before any kernel loads)
from . import arm64, x86

KIND_TEXT, KIND_BINARY, KIND_X86, KIND_IMAGE, KIND_TABLE, KIND_COMPRESSED, KIND_ARM64, KIND_X86I = range(8)
KIND_NAMES = ("text", "binary", "x86", "image", "table", "compressed", "arm64", "x86i")
X86_KIND = KIND_X86I        # x86 code is written as kind 7 (instruction contexts); kind 2 still decodes
MAX_REGIONS = 4096          # a block's region table never holds more

CHUNK = 16384               # statistics are taken per chunk of this many bytes
X86_WINDOW = 65536          # call_score is unreliable below ~32 KB: scored on a window this large
ENTROPY_COMPRESSED = 7.97   # bits per byte (order 0) above which a chunk is called compressed
ENTROPY_IN_ARCHIVE = 7.5    # the same inside a file whose magic says compressed
MAX_ROW = 8192              # the longest row / record a chunk's statistics look for
MIN_ROWS = 4                # ... seen at least this many times in the chunk
ROW_GAIN = 0.70             # distance to the row above <= this x distance to its neighbours
ROW_SURE = 0.35             # ... this much smaller: a table even if it scores as code
X86_SCORE = 0.20            # call_score a window needs to be called code (0.10 in an executable)
X86_OVER_ROWS = 0.50        # ... and this where the chunk also has rows (records of numbers)
X86_DISTINCT = 0.30         # ... and the share of distinct CALL/JMP operands among its candidates
ARM64_IN_FILE = 0.35        # arm64.score() a chunk of an AArch64 ELF / Mach-O file needs (else ARM64_SCORE)


@dataclass(frozen=True)
class Region:
    start: int
    length: int
    kind: int
    width: int = 0          # image: bytes per row; table: bytes per record; arm64: word alignment 0..3
    depth: int = 0          # image: bits per pixel (1, 8, 16, 24, 32); otherwise 0


def detect(block: bytes, max_regions: int = MAX_REGIONS) -> List[Region]:
    """The regions of ``block``: a contiguous, ordered cover with equal neighbours merged."""
    block = bytes(block)
    n = len(block)
    if n == 0:
        return []
    try:
        out: List[Region] = []
        _detect_stream(block, 0, n, out)
        regions = _merge(out)
    except Exception:                       # a detector must never stop a compression
        regions = [Region(0, n, KIND_BINARY)]
    return _limit(regions, max(1, max_regions))


# --- containers: tar ----------------------------------------------------------------------

def _tar_header(block: bytes, at: int) -> Optional[int]:
    """The size of the member whose ustar/GNU header starts at ``at``, or None if there is no
    valid header there (checksum verified)."""
    h = block[at:at + 512]
    if len(h) < 512 or h[257:262] != b"ustar":
        return None
    try:
        stored = int(h[148:156].split(b"\0", 1)[0].strip() or b"-1", 8)
    except ValueError:
        return None
    if stored != sum(h[:148]) + 256 + sum(h[156:512]):
        return None
    field = h[124:136]
    if field[0] & 0x80:                     # GNU base-256 size
        size = int.from_bytes(field[1:], "big")
    else:
        try:
            size = int(field.split(b"\0", 1)[0].strip() or b"0", 8)
        except ValueError:
            return None
    if h[156:157] in (b"1", b"2", b"3", b"4", b"5", b"6"):   # links, devices, directories, FIFOs
        size = 0
    return size


def _detect_stream(block: bytes, start: int, end: int, out: List[Region]) -> None:
    """Regions of block[start:end], which may hold tar headers anywhere."""
    pos = start
    while pos < end:
        h = _next_tar_header(block, pos, end)
        if h is None:
            _detect_file(block, pos, end, out)
            return
        if h > pos:
            _detect_file(block, pos, h, out)
        size = _tar_header(block, h)
        data = h + 512
        data_end = min(end, data + size)
        out.append(Region(h, min(512, end - h), KIND_TEXT))
        if data_end > data:
            _detect_file(block, data, data_end, out)
        pad_end = min(end, data + (size + 511) // 512 * 512)
        if pad_end > data_end:
            out.append(Region(data_end, pad_end - data_end, KIND_TEXT))
        pos = max(pad_end, h + 512)


def _next_tar_header(block: bytes, pos: int, end: int) -> Optional[int]:
    at = pos + 257
    while True:
        at = block.find(b"ustar", at, end)
        if at < 0:
            return None
        h = at - 257
        if h >= pos and h + 512 <= end and _tar_header(block, h) is not None:
            return h
        at += 1


# --- one file (or the rest of one): magic, then statistics -------------------------------

_COMPRESSED_MAGIC = (b"\xff\xd8\xff", b"\x89PNG\r\n\x1a\n", b"GIF87a", b"GIF89a", b"PK\x03\x04",
                     b"\x1f\x8b\x08", b"\xfd7zXZ\x00", b"\x28\xb5\x2f\xfd", b"7z\xbc\xaf\x27\x1c")


def _detect_file(block: bytes, start: int, end: int, out: List[Region]) -> None:
    head = block[start:start + 64]
    image = _pnm(block, start, end) or _bmp(block, start, end) or _tiff(block, start, end)
    if image is not None:
        data, length, width, depth, header_kind = image
        out.append(Region(start, data - start, header_kind))
        out.append(Region(data, length, KIND_IMAGE, width, depth))
        if data + length < end:
            _chunks(block, data + length, end, out, hint=None)
        return
    hint = None
    if head.startswith(b"\x7fELF") and _u16(block, start + 18) in (3, 62) or _is_pe(block, start, end) \
            or head[:4] in (b"\xce\xfa\xed\xfe", b"\xcf\xfa\xed\xfe") and _u32(block, start + 4) in (7, 0x01000007):
        hint = "exe"
    elif head.startswith(b"\x7fELF") and _u16(block, start + 18) == 183 \
            or head[:4] == b"\xcf\xfa\xed\xfe" and _u32(block, start + 4) == 0x0100000C:
        hint = "arm64"                       # ELF AArch64, Mach-O arm64
    elif head.startswith(_COMPRESSED_MAGIC) or head.startswith(b"BZh") and head[3:4].isdigit():
        hint = "compressed"
    _chunks(block, start, end, out, hint)


def _u16(b: bytes, at: int) -> int:
    return int.from_bytes(b[at:at + 2], "little") if at + 2 <= len(b) else -1


def _u32(b: bytes, at: int) -> int:
    return int.from_bytes(b[at:at + 4], "little") if at + 4 <= len(b) else -1


def _is_pe(block: bytes, start: int, end: int) -> bool:
    if block[start:start + 2] != b"MZ":
        return False
    pe = _u32(block, start + 0x3C)
    if pe < 0 or start + pe + 6 > end:
        return False
    return block[start + pe:start + pe + 4] == b"PE\0\0" and _u16(block, start + pe + 4) in (0x14C, 0x8664)


def _pnm(block: bytes, start: int, end: int):
    """(data start, data length, bytes per row, bits per pixel, header kind) of a binary
    PBM/PGM/PPM at ``start``, or None."""
    magic = block[start:start + 2]
    if magic not in (b"P4", b"P5", b"P6"):
        return None
    fields, at = [], start + 2
    need = 2 if magic == b"P4" else 3
    while len(fields) < need and at < min(end, start + 1024):
        c = block[at:at + 1]
        if c == b"#":
            nl = block.find(b"\n", at, min(end, start + 1024))
            if nl < 0:
                return None
            at = nl + 1
        elif c.isspace():
            at += 1
        elif c.isdigit():
            j = at
            while j < end and block[j:j + 1].isdigit():
                j += 1
            fields.append(int(block[at:j]))
            at = j
        else:
            return None
    if len(fields) < need or at >= end or not block[at:at + 1].isspace():
        return None
    data = at + 1
    w, h = fields[0], fields[1]
    if magic == b"P4":
        row, depth = (w + 7) // 8, 1
    else:
        maxval = fields[2]
        if not 0 < maxval < 65536:
            return None
        bytes_per = (1 if maxval < 256 else 2) * (3 if magic == b"P6" else 1)
        row, depth = w * bytes_per, 8 * bytes_per
    if w <= 0 or h <= 0 or depth > 32 or not 1 <= row <= 65535:
        return None
    length = min(row * h, end - data)
    return (data, length, row, depth, KIND_TEXT) if length > 0 else None


def _bmp(block: bytes, start: int, end: int):
    """The same for an uncompressed Windows bitmap (BI_RGB or BI_BITFIELDS; 1, 8, 24, 32 bits)."""
    if block[start:start + 2] != b"BM" or start + 54 > end:
        return None
    off, dib = _u32(block, start + 10), _u32(block, start + 14)
    w = int.from_bytes(block[start + 18:start + 22], "little", signed=True)
    h = int.from_bytes(block[start + 22:start + 26], "little", signed=True)
    bpp, comp = _u16(block, start + 28), _u32(block, start + 30)
    if dib < 40 or bpp not in (1, 8, 24, 32) or comp not in (0, 3) or w <= 0 or h == 0:
        return None
    row = (w * bpp + 31) // 32 * 4
    data = start + off
    if not 54 <= off < end - start or not 1 <= row <= 65535:
        return None
    length = min(row * abs(h), end - data)
    return (data, length, row, bpp, KIND_BINARY) if length > 0 else None


def _tiff(block: bytes, start: int, end: int):
    """The same for an uncompressed, chunky TIFF whose strips lie end to end (the common case:
    one strip, or strips written in order); anything else is left to the statistics."""
    order = {b"II*\0": "little", b"MM\0*": "big"}.get(block[start:start + 4])
    if order is None:
        return None

    def num(at, size):
        return int.from_bytes(block[start + at:start + at + size], order) if start + at + size <= end else -1

    ifd = num(4, 4)
    count = num(ifd, 2)
    if ifd < 8 or not 1 <= count <= 512:
        return None
    tags = {}
    for i in range(count):
        e = ifd + 2 + 12 * i
        tag, typ, n = num(e, 2), num(e + 2, 2), num(e + 4, 4)
        size = {3: 2, 4: 4}.get(typ)
        if size is None or n < 1:
            continue
        at = e + 8 if n * size <= 4 else num(e + 8, 4)
        tags[tag] = [num(at + size * k, size) for k in range(min(n, 4096))]
    one = lambda tag, default=-1: tags.get(tag, [default])[0]      # noqa: E731
    w, h, bps, spp = one(256), one(257), one(258, 1), one(277, 1)
    offsets, counts = tags.get(273, []), tags.get(279, [])
    if one(259, 1) != 1 or one(284, 1) != 1 or w <= 0 or h <= 0 or not offsets \
            or len(counts) != len(offsets) or min(offsets + counts) < 0:
        return None
    depth = bps * spp
    if depth not in (1, 8, 16, 24, 32):
        return None
    for k in range(1, len(offsets)):
        if offsets[k] != offsets[k - 1] + counts[k - 1]:
            return None
    row = (w * depth + 7) // 8
    data = start + offsets[0]
    if not 8 <= offsets[0] < end - start or not 1 <= row <= 65535:
        return None
    length = min(row * h, sum(counts), end - data)
    return (data, length, row, depth, KIND_BINARY) if length > 0 else None


# --- statistics per chunk ------------------------------------------------------------------

_CONTROL = np.zeros(256, bool)
_CONTROL[[*range(0, 9), 11, 12, *range(14, 27), *range(28, 32), 127]] = True


def _chunks(block: bytes, start: int, end: int, out: List[Region], hint: Optional[str]) -> None:
    arr = np.frombuffer(block, np.uint8)
    n = end - start
    count = max(1, round(n / CHUNK))
    bounds = [start + n * i // count for i in range(count + 1)]
    found = [_classify(block, arr, a, b, start, end, hint) for a, b in zip(bounds, bounds[1:])]
    # one row length per run of table / image chunks: the one that labelled most of its bytes
    # (chunks of one table often disagree between the row and a multiple or a pixel's size)
    i = 0
    while i < len(found):
        j = i
        while j < len(found) and found[j].kind in (KIND_TABLE, KIND_IMAGE):
            j += 1
        if j > i + 1:
            votes = {}
            for r in found[i:j]:
                votes[(r.kind, r.width, r.depth)] = votes.get((r.kind, r.width, r.depth), 0) + r.length
            kind, width, depth = max(sorted(votes), key=lambda k: votes[k])
            found[i:j] = [Region(r.start, r.length, kind, width, depth) for r in found[i:j]]
        i = max(j, i + 1)
    out.extend(found)


def _classify(block: bytes, arr: np.ndarray, a: int, b: int, lo: int, hi: int,
              hint: Optional[str]) -> Region:
    chunk = arr[a:b]
    n = b - a
    counts = np.bincount(chunk, minlength=256)
    control = int(counts[_CONTROL].sum())
    high = int(counts[128:].sum())
    printable = int(counts[32:127].sum() + counts[9] + counts[10] + counts[13])
    if control <= n // 100 or printable >= 0.9 * n:      # (terminal sessions: NUL, BS, ESC)
        bad = 0
        if high:
            bad = block[a:b].decode("utf-8", "replace").count("\ufffd")
        if bad <= max(2, n // 200):
            return Region(a, n, KIND_TEXT)
    p = counts[counts > 0] / n
    entropy = float(-(p * np.log2(p)).sum())
    if entropy >= (ENTROPY_IN_ARCHIVE if hint == "compressed" else ENTROPY_COMPRESSED):
        return Region(a, n, KIND_COMPRESSED)
    # AArch64: most 4-byte words (in one phase) end in a common opcode byte
    share, phase, others = arm64.score(chunk)
    if share >= (ARM64_IN_FILE if hint == "arm64" else arm64.ARM64_SCORE) and share - others >= arm64.ARM64_MARGIN \
            and arm64.variety(chunk, phase) >= arm64.ARM64_VARIETY:
        return Region(a, n, KIND_ARM64, (a + phase) & 3)      # (words at block offsets = this mod 4)
    # x86: scored on a window around the chunk, inside the same file
    wa = max(lo, min(a - (X86_WINDOW - n) // 2, hi - X86_WINDOW))
    wb = min(hi, wa + X86_WINDOW)
    width, depth, ratio = _row_length(chunk)
    if width and not depth and _bilevel(chunk, counts):
        depth = 1
    structured = Region(a, n, KIND_IMAGE if depth else KIND_TABLE, width, depth)
    if width and ratio < ROW_SURE:          # rows this regular are a table, whatever else is in it
        return structured
    score = x86.call_score(block[wa:wb])
    if score >= X86_SCORE * (0.5 if hint == "exe" else 1.0) and (not width or score >= X86_OVER_ROWS) \
            and _distinct_operands(arr[wa:wb]) >= X86_DISTINCT:
        return Region(a, n, X86_KIND)
    if width:
        return structured
    return Region(a, n, KIND_BINARY)


_FEW_EDGES = np.array([bin(v ^ (v >> 1) & 0x7F).count("1") <= 2 for v in range(256)])


def _bilevel(chunk: np.ndarray, counts: np.ndarray) -> bool:
    """Rows of 1-bit pixels: mostly all-white or all-black bytes (00, FF), the others mostly
    edges (at most two changes between neighbouring bits, like 00011111 or 00111100, which 23 %
    of arbitrary byte values are), and no byte position mod 4 more often 00/FF than another
    (arrays of small 16/32-bit numbers, whose high bytes are 00, fail that)."""
    n = len(chunk)
    uniform = int(counts[0] + counts[255])
    other = n - uniform
    if n < 64 or uniform < 0.6 * n or other and int(counts[_FEW_EDGES].sum()) - uniform < 0.45 * other:
        return False
    flat = (chunk[:n - n % 4] == 0) | (chunk[:n - n % 4] == 255)
    share = flat.reshape(-1, 4).mean(axis=0)
    return float(share.max() - share.min()) < 0.1


def _distinct_operands(a: np.ndarray) -> float:
    """Distinct / all 4-byte operands after E8/E9 whose top byte is 00 or FF. Code calls many
    places; a table with the number 1000 in it (E8 03 00 00) repeats one operand."""
    at = np.flatnonzero(((a[:-4] == 0xE8) | (a[:-4] == 0xE9)) & ((a[4:] == 0) | (a[4:] == 0xFF)))
    if len(at) == 0:
        return 0.0
    ops = a[at + 1].astype(np.int64) | a[at + 2].astype(np.int64) << 8 | a[at + 3].astype(np.int64) << 16
    return len(np.unique(ops)) / len(at)


def _row_length(chunk: np.ndarray):
    """(w, depth, ratio): a row / record length w (2..MAX_ROW) at which bytes are clearly closer to
    the byte w back than to the bytes w-1 and w+1 back, or (0, 0). Candidates: the distances
    at which byte values recur most, and the peaks of the chunk's autocorrelation. When the
    best is a pixel's size (2, 3 or 4 bytes) and a multiple of it is as good, that multiple
    is the row of a headerless image with that depth; so is a best row length that is a
    multiple of a passing pixel size (depth 0 otherwise: a table). ratio: the
    distance to the row above over the smaller distance to its neighbours."""
    n = len(chunk)
    maxw = min(MAX_ROW, n // MIN_ROWS - 1)
    if maxw < 3:
        return 0, 0, 1.0
    hist = _distance_histogram(chunk, maxw + 1)
    hist[:2] = 0
    cands = {int(c) for c in np.argsort(-hist, kind="stable")[:12] if hist[c] >= MIN_ROWS * 4}
    x = chunk.astype(np.float64) - chunk.mean()
    size = 1 << (2 * n - 1).bit_length()          # a power of two: pocketfft's fast case
    spec = np.fft.rfft(x, size)
    ac = np.fft.irfft(spec.real ** 2 + spec.imag ** 2, size)[:maxw + 2] / (n - np.arange(maxw + 2))
    peaks = np.flatnonzero((ac[2:-1] > ac[1:-2]) & (ac[2:-1] >= ac[3:])) + 2
    if len(peaks):            # (and their neighbours: 16-bit rows peak a byte or two off)
        cands |= {int(c) + d for c in peaks[np.argsort(-ac[peaks], kind="stable")[:8]] for d in range(-2, 3)}
    scored = {}

    def ratio(w):
        d = [scored.setdefault(v, _distance(chunk, v)) for v in (w - 1, w, w + 1)]
        return d[1] / max(1e-9, min(d[0], d[2]))

    passing = sorted((ratio(w), w) for w in sorted(cands) if 2 <= w < maxw and ratio(w) < ROW_GAIN)
    if not passing:
        return 0, 0, 1.0
    best_ratio, best = passing[0]
    if best <= 4:
        rows = [w for _, w in passing if w > 4 * best and w % best == 0]
        if rows:
            return min(rows, key=lambda w: scored[w]), 8 * best, best_ratio
    else:                     # a row whose pixels (2, 3 or 4 bytes) also show: an image
        pixels = [(r, w) for r, w in passing if w <= 4 and best % w == 0]
        if pixels:
            return best, 8 * min(pixels)[1], best_ratio
    return best, 0, best_ratio


@njit(cache=True)
def _distance_histogram(a, size):
    """How often a byte value recurs at each distance (runs of one value skipped)."""
    last = np.full(256, -1, np.int64)
    hist = np.zeros(size, np.int64)
    prev = -1
    for i in range(a.shape[0]):
        c = a[i]
        if c != prev:
            j = last[c]
            if j >= 0 and i - j < size:
                hist[i - j] += 1
        last[c] = i
        prev = c
    return hist


@njit(cache=True)
def _distance(a, w):
    """Mean of min(|a[i] - a[i-w]|, 32) over the chunk: small when rows / records repeat."""
    total = 0
    for i in range(w, a.shape[0]):
        d = np.int64(a[i]) - np.int64(a[i - w])
        if d < 0:
            d = -d
        total += d if d < 32 else 32
    return total / max(1, a.shape[0] - w)


# --- tidying ------------------------------------------------------------------------------

def _merge(regions: List[Region]) -> List[Region]:
    out: List[Region] = []
    for r in regions:
        if r.length <= 0:
            continue
        if out and (out[-1].kind, out[-1].width, out[-1].depth) == (r.kind, r.width, r.depth) \
                and out[-1].start + out[-1].length == r.start:
            p = out[-1]
            out[-1] = Region(p.start, p.length + r.length, p.kind, p.width, p.depth)
        else:
            out.append(r)
    return out


def _limit(regions: List[Region], max_regions: int) -> List[Region]:
    """At most max_regions: short regions join the region before them (then the one after),
    with the bar doubling until the table fits."""
    bar = 64
    while len(regions) > max_regions:
        out: List[Region] = []
        for r in regions:
            if out and r.length < bar:
                p = out[-1]
                out[-1] = Region(p.start, p.length + r.length, p.kind, p.width, p.depth)
            else:
                out.append(r)
        if len(out) > 1 and out[0].length < bar:
            first, second = out[0], out[1]
            out[:2] = [Region(first.start, first.length + second.length, second.kind, second.width,
                              second.depth)]
        regions = _merge(out)
        bar *= 2                  # (once bar exceeds the block, one region is left)
    return regions


