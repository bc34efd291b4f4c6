#!/usr/bin/env python3
"""Fuzz the lstmzip decoder with structure-aware mutations of valid files.

    python tests/fuzz/fuzz_decode.py seeds                 # rewrite seeds/ (and model.npz)
    python tests/fuzz/fuzz_decode.py regressions           # rewrite the constructed regressions/
    python tests/fuzz/fuzz_decode.py run --seconds 3600    # mutation loop, stats as JSON
    python tests/fuzz/fuzz_decode.py atheris [-max_total_time=3600 ...]   # coverage-guided
    python tests/fuzz/fuzz_decode.py replay FILE...        # decode files, print each outcome
    python tests/fuzz/fuzz_decode.py roundtrip --cases 200 # cm round trips of odd inputs/layouts

cm files only: ``run --method cm``. The cm kernel (numba) does not check indices; run with
``NUMBA_BOUNDSCHECK=1 NUMBA_CACHE_DIR=$(mktemp -d)`` (``--boundscheck`` refuses to start unless
the checks are really on: with the default cache dir numba loads the unchecked machine code)
and an out-of-range index is an IndexError, i.e. a finding, instead of silent corruption.

Every input is decoded twice, by ``Decompressor.decompress`` and through
``lstmzip.LstmzipFile``; the only acceptable outcomes are ``LstmzipError`` from both,
or the same bytes from both whose SHA-256 is the one in the file's end record.
Anything else is a finding: another exception type (a traceback for a user), a
timeout (``--timeout``, default 10 s per input plus 0.1 s per KiB: decoding time is linear
in the payload, and a forged 1-stream lstm payload decodes no faster than an honest one), a MemoryError (the address space is
capped by ``--rss-limit``), or the two paths disagreeing. Findings are written to
``--out`` (default /tmp/lstmzip-fuzz/) as ``crash-<outcome>-<sha1>.lstmz``; a finding
becomes a file in ``regressions/`` that the test suite decodes (tests/test_hardening.py).

Random byte flips alone rarely get past the CRC-32 of each header, so most mutations
edit one field (a length, a stream count, a method, a flag, ...) or a payload and then
recompute the header CRCs: the decoder's own bounds checks and the payload decoders
(rANS, zstd) are then what is tested. Every ``--cli-every`` inputs the same file also
goes through ``python -m lstmzip test`` and ``info`` in a subprocess: exit status 0 or
1, no traceback, at most one line on stderr.

The mutation loop needs nothing beyond lstmzip; ``atheris`` (pip install atheris) adds
coverage guidance and uses the same mutator and checks.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import os
import random
import re
import resource
import signal
import struct
import subprocess
import sys
import time
import zlib
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
sys.path.insert(0, str(REPO))

import lstmzip  # noqa: E402
from lstmzip import format as fmt  # noqa: E402
from lstmzip.codec import Compressor, Decompressor  # noqa: E402
from lstmzip.errors import LstmzipError  # noqa: E402
from lstmzip.model import Model, random_model  # noqa: E402

MODEL_PATH = HERE / "model.npz"
SEEDS = HERE / "seeds"
REGRESSIONS = HERE / "regressions"

HEADER_FIELDS = {"version": (8, "B"), "flags": (9, "B"), "streams": (10, "H"), "block_size": (12, "I"),
                 "size": (16, "Q"), "name_len": (56, "B")}
COMPACT_FIELDS = {"version": (8, "B"), "flags": (9, "B"), "size": (10, "I")}     # format version 3
COMPACT_HEADER = 18                     # magic version flags size(4) crc(4)
COMPACT_MODEL_FIELDS = {**COMPACT_FIELDS, "name_len": (22, "B")}                   # format version 4
COMPACT_MODEL_HEADER = 23               # magic version flags size(4) model_id(8) name_len, + name + crc(4)
BLOCK_FIELDS = {"method": (0, "B"), "raw_len": (1, "I"), "payload_len": (5, "I"), "streams": (9, "H"),
                "raw_crc32": (11, "I")}
END_FIELDS = {"total_size": (1, "Q")}
CM = getattr(fmt, "CM", 3)
# The cm payload's parameter bytes, with values on and just past each edge of the valid range
# (lstmzip/cm/__init__.py: CMParams.unpack) and a few inside it.
CM_PARAM_VALUES = {
    0: (0, 1, 2, 6, 9, 10, 255),                                 # level 1..9
    1: (0, 1, 2, 4, 8, 16, 32, 62, 63, 64, 127, 255),            # models mask 0..63
    2: (15, 16, 17, 20, 22, 23, 27, 28, 29, 32, 255),            # table_bits 16..28
    3: (11, 12, 13, 16, 20, 24, 25, 31, 255),                    # match_bits 12..24
    4: (0, 1, 2, 3, 8, 9, 255),                                  # adapt window log2 0..8
    5: (0, 1, 5, 16, 17, 255),                                   # adapt lr shift 0..16
}


class Timeout(BaseException):
    """Raised by SIGALRM: an input ran past --timeout (BaseException: no `except Exception` eats it)."""


# ---- seeds --------------------------------------------------------------------------------

def _text(n: int, seed: int) -> bytes:
    words = (b"the quick brown fox jumps over a lazy dog while lstmzip codes every byte "
             b"of it with a tiny model and a range coder; ").split()
    rng = random.Random(seed)
    out = bytearray()
    while len(out) < n:
        out += rng.choice(words) + (b"\n" if rng.random() < 0.1 else b" ")
    return bytes(out[:n])


def _records(n: int, seed: int) -> bytes:
    """Fixed-length records of 13 bytes (the cm record model's case): `ab01234,567|\n`."""
    rng = random.Random(seed)
    out = bytearray()
    i = 0
    while len(out) < n:
        rec = rng.choice((b"ab", b"cd", b"ef")) + b"%05d,%03d|\n" % (i, rng.randrange(1000))
        assert len(rec) == 13
        out += rec
        i += 1
    return bytes(out[:n])


def _binary(n: int, seed: int) -> bytes:
    """A small table of little-endian integers with some noise (compressible, not text)."""
    rng = random.Random(seed)
    out = bytearray()
    i = 0
    while len(out) < n:
        out += struct.pack("<IHhB", i * 37, i & 0xFFFF, rng.randrange(-50, 50), rng.randrange(4))
        if rng.random() < 0.05:
            out += bytes(rng.randrange(256) for _ in range(rng.randrange(1, 6)))
        i += 1
    return bytes(out[:n])


def make_model() -> Model:
    return random_model(layers=1, hidden=16, seed=7, name="fuzz", prior=_text(20000, 1))


def make_seeds(only=()) -> None:
    """Small valid files covering every method, stream layout and header variant; with `only`
    (globs), just the seeds whose names match are rewritten and the others left as they are."""
    model = make_model()
    model.save(MODEL_PATH)
    model = Model.load(MODEL_PATH)
    SEEDS.mkdir(exist_ok=True)
    rng = random.Random(5)
    noise = bytes(rng.randrange(256) for _ in range(3000))
    text = _text(6000, 2)

    def comp(compact=False, **kw):
        kw.setdefault("methods", ("lstm", "zstd", "stored"))   # the methods of format version 1
        c = Compressor(model, threads=1, **kw)
        c.compact = compact                # these seeds keep the version 1 member (compact_seeds: 3)
        return c

    def streamed(c, data):
        out = io.BytesIO()
        c.compress_stream(io.BytesIO(data), out, size=None)
        return out.getvalue()

    def mixed():
        """One file, three blocks: lstm, zstd, stored (each method forced for its block)."""
        parts = [(("lstm",), text[:1024]), (("zstd",), text[1024:2048]), (("stored",), noise[:700])]
        out = comp(block_size=1024, streams=2).header(sum(len(p) for _, p in parts)).pack()
        for methods, part in parts:
            out += comp(block_size=1024, streams=2, methods=methods).compress_block(part)
        data = b"".join(p for _, p in parts)
        return out + fmt.End(len(data), hashlib.sha256(data).digest()).pack()

    seeds = {
        "empty": comp().compress(b""),
        "stored": comp(methods=("stored",)).compress(noise),
        "zstd": comp(methods=("zstd", "stored")).compress(text),
        "lstm-4-streams": comp(methods=("lstm",), streams=4).compress(text[:3000]),
        "lstm-1-stream": comp(methods=("lstm",), streams=1).compress(text[:600]),
        "lstm-64-streams": comp(methods=("lstm",), streams=64).compress(text[:2000]),
        "lstm-uneven-streams": comp(methods=("lstm",), streams=7).compress(text[:1001]),
        "multi-block-mixed": mixed(),
        "streamed-unknown-size": streamed(comp(block_size=2048, streams=3), text[:5000]),
        "one-byte": comp().compress(b"x"),
    }
    seeds.update(cm_seeds(model, text, noise))
    if only:                      # the seeds that stay as they are make up the concatenated ones
        seeds = {k: (SEEDS / f"{k}.lstmz").read_bytes() if (SEEDS / f"{k}.lstmz").exists() else v
                 for k, v in seeds.items()}
    seeds.update(compact_seeds(model, text, noise, seeds))
    seeds.update(cm2_seeds(model, text))
    seeds.update(struct_seeds(model, text))
    if only:
        import fnmatch
        seeds = {k: v for k, v in seeds.items() if any(fnmatch.fnmatch(k, g) for g in only)}
    else:
        for old in SEEDS.glob("*.lstmz"):
            old.unlink()
    for name, blob in seeds.items():
        assert lstmzip.decompress(blob, model=model) is not None
        want = getattr(fmt, "CM_TEXT", 4) if name.startswith("cm-dict") else CM
        assert not name.startswith("cm-") or want in block_methods(blob), name
        (SEEDS / f"{name}.lstmz").write_bytes(blob)
    print(f"wrote {len(seeds)} seeds to {SEEDS} and the model {MODEL_PATH}")


def cm_seeds(model: Model, text: bytes, noise: bytes) -> dict:
    """Files with cm blocks (format version 2): levels 2 and 9 (9 adapts the LSTM's output
    layer and stores weight digests), several model masks, text / 13-byte records / binary.
    Every input is at most 8 KB, so each seed decodes in well under a second."""
    from lstmzip.cm import ALL_MODELS, MODEL_BITS
    if "cm" not in lstmzip.codec.METHODS:
        return {}
    records, binary = _records(6000, 3), _binary(4000, 4)
    no_lstm = ALL_MODELS & ~MODEL_BITS["lstm"]

    def cm(data, level=2, models=ALL_MODELS, methods=("cm",), **kw):
        if level == 9:      # the level-9 seeds were written when -9 adapted and had no cm+dict
            kw = dict(dict(adapt=True, transform=False), **kw)
        return Compressor(model, threads=1, level=level, cm_models=models, methods=methods, **kw).compress(data)

    def streamed(data, **kw):
        out = io.BytesIO()
        Compressor(model, threads=1, methods=("cm", "zstd", "stored"), **kw).compress_stream(
            io.BytesIO(data), out, size=None)
        return out.getvalue()

    def mixed():
        """cm at level 9 (digests), stored, cm with another mask: three blocks of one file."""
        parts = [(dict(level=9), text[:2048]), (dict(methods=("stored",)), noise[:300]),
                 (dict(models=MODEL_BITS["match"] | MODEL_BITS["orders"]), records[:2048])]
        head = Compressor(model, threads=1, block_size=2048, methods=("cm",)).header(sum(len(p) for _, p in parts))
        out = head.pack()
        for kw, part in parts:
            kw = dict(dict(level=2, models=ALL_MODELS, methods=("cm",)), **kw)
            out += Compressor(model, threads=1, block_size=2048, level=kw["level"], cm_models=kw["models"],
                              methods=kw["methods"], adapt=kw["level"] == 9, transform=False).compress_block(part)
        data = b"".join(p for _, p in parts)
        return out + fmt.End(len(data), hashlib.sha256(data).digest()).pack()

    return {
        "cm-l2-text-all": cm(text),
        "cm-l9-text-all-adapt": cm(_text(8000, 5), level=9),                 # 13 streams, 2 digests
        "cm-l9-lstm-only-adapt": cm(text[:3000], level=9, models=MODEL_BITS["lstm"]),
        "cm-l9-text-1-stream-adapt": cm(text[:1100], level=9, streams=1),    # 1100 steps, 4 digests
        "cm-l2-records-no-lstm": cm(records, models=no_lstm),
        "cm-l9-records-all-adapt": cm(records[:4000], level=9),
        "cm-l2-binary-match-only": cm(binary, models=MODEL_BITS["match"]),
        "cm-l2-binary-orders-apm": cm(binary, models=MODEL_BITS["orders"] | MODEL_BITS["apm"]),
        "cm-l9-binary-word-column": cm(binary[:3000], level=9, models=MODEL_BITS["word"] | MODEL_BITS["column"]),
        "cm-l2-text-no-models": cm(text[:2000], models=0),
        "cm-l2-text-7-streams": cm(text[:5000], streams=7),
        "cm-multi-block-mixed": mixed(),
        "cm-streamed-unknown-size": streamed(records[:5000], block_size=2000),
        "cm-l3-text-deep": cm(text[:3000], level=3, adapt="deep"),          # every layer adapting
        "cm-dict-l9-text": cm(_text(6000, 7), level=9, adapt=False, transform=True),
    }


def cm2_seeds(model: Model, text: bytes) -> dict:
    """Blocks of the v2 predictor (cm model bit 128): with the LSTM (several streams), without
    it (one stream, compiled steps), the probe's choice, under the word transform, adapting, and
    a file of several such blocks. Every input is at most 8 KB."""
    from lstmzip.cm import ALL_MODELS, MODEL_BITS
    records, binary = _records(6000, 5), _binary(4000, 6)

    def cm2(data, level=4, **kw):
        return Compressor(model, threads=1, level=level, methods=("cm",), **kw).compress(data)

    return {
        "cm2-l4-text-lstm-3-streams": cm2(text[:5000], streams=3, lstm_auto=False),
        "cm2-l2-text-no-lstm": cm2(text[:5000], level=2),
        "cm2-l2-records-no-lstm": cm2(records, level=2),
        "cm2-l6-binary-probe": cm2(binary, level=6),
        "cm2-l4-text-some-models": cm2(text[:3000], lstm_auto=False, cm_models=MODEL_BITS["lstm"]
                                       | MODEL_BITS["code"] | MODEL_BITS["indirect"] | MODEL_BITS["match"]),
        "cm2-dict-l9-text": cm2(_text(6000, 9), level=9, transform=True, lstm_auto=False, streams=2),
        "cm2-l4-text-deep": cm2(text[:3000], adapt="deep", streams=2),
        "cm2-multi-block": cm2(text[:4000] + records[:4000], block_size=2000, lstm_auto=False),
        "cm2-multi-block-no-lstm": cm2(records[:6000], level=3, block_size=1500,
                                       cm_models=ALL_MODELS & ~MODEL_BITS["lstm"]),
    }


def struct_seeds(model: Model, text: bytes) -> dict:
    """cm blocks with a region table (model bit 16384): a small tar holding a PGM image, records,
    x86-like code in an ELF file and a gzip member, as detect() labels it (image, table, x86,
    compressed, text), with the LSTM in 3 streams and without it; and blocks with the extension
    (a third byte of switches), on text, the tar, and with some of its switches; x86 code as kind
    7 and 1-bit images with the pixel models. Each at most 8 KB."""
    import gzip
    import tarfile
    from lstmzip.cm import ALL_MODELS, MODEL_BITS
    rng = random.Random(19)
    pgm = b"P5\n40 30\n255\n" + bytes((x * 5 + y * 3 + rng.randrange(4)) & 255
                                       for y in range(30) for x in range(40))
    records = _records(1200, 8)
    code = bytearray(b"\x7fELF\x02\x01\x01" + bytes(11) + b"\x3e\x00" + bytes(44))
    while len(code) < 2000:
        code += b"\xe8" + struct.pack("<i", rng.randrange(-3000, 3000)) if rng.random() < 0.2 \
            else bytes([rng.choice(b"\x48\x89\xc7\x8b\x45\x31\xc0\xc3")])
    packed = gzip.compress(bytes(rng.randrange(256) for _ in range(900)), mtime=0)
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w", format=tarfile.USTAR_FORMAT) as tar:
        for name, data in (("a.pgm", pgm), ("r.dat", records), ("a.out", bytes(code)),
                           ("n.gz", packed), ("README", text[:600])):
            info = tarfile.TarInfo(name)
            info.size, info.mtime = len(data), 0
            tar.addfile(info, io.BytesIO(data))
    tar_bytes = out.getvalue().rstrip(b"\0")          # (the end-of-archive zeros say nothing)

    words = text.split()
    log = b"".join(b"2026-01-%02d %02d:%02d:%02d %s %s:amd64 1.%d-%d\n" % (
        1 + i // 500, i // 60 % 24, i % 60, (i * 7) % 60, (b"unpacked", b"installed", b"configure")[i % 3],
        words[(i // 3) % len(words)][:12], i // 3 % 17, i // 3 % 5) for i in range(300))

    def cm2(data, level, **kw):
        return Compressor(model, threads=1, level=level, methods=("cm",), **kw).compress(data)

    ext = ALL_MODELS & ~MODEL_BITS["lstm"]
    some = MODEL_BITS["orders"] | MODEL_BITS["run"] | MODEL_BITS["det"] | MODEL_BITS["indirect2"] \
        | MODEL_BITS["line"]
    return {
        "struct-l2-tar": cm2(tar_bytes, 2),
        "struct-l4-tar-lstm-3-streams": cm2(tar_bytes, 4, streams=3, lstm_auto=False),
        # the extension (model bit 32768 and a third byte of switches)
        "ext-l2-text-no-lstm": cm2(text[:5000], 2, cm_models=ext),
        "ext-l4-text-lstm-3-streams": cm2(text[:4000], 4, streams=3, lstm_auto=False),
        "ext-l3-tar": cm2(tar_bytes, 3, cm_models=ext),
        "ext-l2-some-switches": cm2(records[:3000] + text[:3000], 2, cm_models=some),
        "ext-l2-arm64": cm2(text[:500] + _arm64_elf(rng, 6000), 2),
        "ext-l4-arm64-lstm-2-streams": cm2(_arm64_elf(rng, 3000) + text[:400], 4, streams=2, lstm_auto=False),
        # x86 code as region kind 7 (the instruction parse), 1-bit images with the pixel models
        # (the fourth switch byte)
        "x86i-l2-elf": cm2(bytes(code) + text[:500], 2),
        "x86i-l4-elf-lstm-3-streams": cm2(text[:300] + bytes(code), 4, streams=3, lstm_auto=False),
        "pixel-l2-pbm": cm2(_pbm(rng, 160, 90) + text[:400], 2),
        "pixel-l6-pbm-x86i-2-streams": cm2(_pbm(rng, 96, 60) + bytes(code[:1500]), 6, streams=2,
                                            cm_models=ext),
        # the second match model and the expected byte's contexts (match2, the fourth switch byte):
        # log lines whose fields recur in other places, with and without the LSTM (the second was
        # written before codings with the LSTM left match2 out; rewritten now it would lack it)
        "match2-l4-log-no-lstm": cm2(log[:6000], 4, cm_models=ext),
        "match2-l6-log-lstm-2-streams": cm2(log[:3000] + text[:1000], 6, streams=2, lstm_auto=False),
        # 8-bit and colour images with the image switch's contexts (the fourth switch byte)
        "image-l2-pgm": cm2(pgm + text[:300], 2),
        "image-l4-ppm-lstm-2-streams": cm2(b"P6\n20 16\n255\n" + bytes((x * 7 + y * 3 + c * 40) & 255
                                                                        for y in range(16) for x in range(20)
                                                                        for c in range(3)), 4, streams=2,
                                           lstm_auto=False),
    }


def _pbm(rng, w: int, h: int) -> bytes:
    """A 1-bit image with a PBM header: a disc and stripes, a few pixels flipped."""
    rows = []
    for y in range(h):
        bits = [int((x - w // 2) ** 2 + (y - h // 2) ** 2 < (h // 3) ** 2 or x % 13 == 0) ^ (rng.random() < 0.01)
                for x in range(w)]
        rows.append(bytes(int("".join(map(str, bits[i:i + 8])).ljust(8, "0"), 2) for i in range(0, w, 8)))
    return b"P4\n%d %d\n" % (w, h) + b"".join(rows)


def _arm64_elf(rng, n: int) -> bytes:
    """An AArch64 ELF header and n bytes of instruction-like words with BL calls (an arm64 region)."""
    head = b"\x7fELF\x02\x01\x01" + bytes(9) + struct.pack("<HHI", 3, 183, 1) + bytes(42)
    words = []
    for j in range(n // 4):
        if rng.random() < 0.07:
            words.append(0x94000000 | ((rng.choice([40, 300, 700]) - j) & 0x3FFFFFF))
        else:
            words.append(rng.choice([0xF9, 0x91, 0x54, 0xAA, 0xEB, 0xB9]) << 24 | rng.randrange(1 << 24))
    return head + struct.pack(f"<{len(words)}I", *words)


def compact_seeds(model: Model, text: bytes, noise: bytes, seeds: dict) -> dict:
    """Compact members (format version 3: a small input whose one block is stored or zstd;
    version 4: one model-coded block) and concatenated files (`cat a.lstmz b.lstmz`) mixing
    them with version 1 and 2 members."""
    comp = Compressor(model, threads=1, methods=("zstd", "stored"))
    compact = {
        "compact-empty": comp.compress(b""),
        "compact-one-byte": comp.compress(b"x"),
        "compact-stored": comp.compress(noise[:500]),
        "compact-zstd": comp.compress(text[:2000]),
    }
    assert all(blob[8] == fmt.COMPACT_VERSION for blob in compact.values())
    compact["members-compact-v1-v2"] = (compact["compact-zstd"] + seeds["lstm-1-stream"]
                                        + compact["compact-empty"] + seeds["cm-l2-text-7-streams"])
    compact["members-compact-only"] = compact["compact-stored"] + compact["compact-one-byte"] + compact["compact-zstd"]
    # format version 4: a small input whose one block is lstm, cm or cm+dict
    model_coded = {
        "compact-model-lstm": Compressor(model, threads=1, methods=("lstm",), streams=3).compress(text[:900]),
        "compact-model-cm": Compressor(model, threads=1, methods=("cm",), level=4, lstm_auto=False,
                                       streams=2).compress(text[:1500]),
        "compact-model-dict": Compressor(model, threads=1, methods=("cm",), level=9).compress(text[:2500]),
    }
    assert all(blob[8] == fmt.COMPACT_MODEL_VERSION for blob in model_coded.values())
    compact.update(model_coded)
    compact["members-compact-model"] = (model_coded["compact-model-cm"] + compact["compact-zstd"]
                                        + seeds["lstm-1-stream"] + model_coded["compact-model-lstm"])
    return compact


def block_methods(blob) -> list:
    """The method byte of every block that parse() finds."""
    return [blob[start] for kind, start, _, _ in parse(blob) if kind == "block"]


def make_regressions() -> None:
    """The constructed regression files (issue 9's forged inputs); found ones are copied in by hand."""
    model = Model.load(MODEL_PATH)
    sha = bytes.fromhex(model.sha256)
    REGRESSIONS.mkdir(exist_ok=True)

    def file(block_size, blocks, size=None, total=0, digest=hashlib.sha256(b"").digest()):
        head = fmt.Header(streams=0, block_size=block_size, size=size, model_sha256=sha, model_name=model.name)
        return head.pack() + b"".join(blocks) + fmt.End(total, digest).pack()

    def block(method, raw_len, payload, streams=0, crc=0):
        return fmt.BlockHeader(method, raw_len, len(payload), streams, crc).pack() + payload

    import zstandard
    data = _text(100, 3)
    frame = zstandard.ZstdCompressor(level=19, write_content_size=True).compress(data)
    bomb = _zstd_content_size_bomb(frame, random.Random(0), 1 << 62)
    rng = random.Random(9)
    lanes = 65535
    words = bytearray()
    for _ in range(lanes):                       # every lane's initial state >= 2**16: accepted
        words += struct.pack("<HH", rng.randrange(1 << 16), rng.randrange(1, 1 << 16))
    files = {
        # issue 9 item 2: a zstd frame declaring 2**62 bytes of content in a 100-byte block
        "zstd-frame-declares-2e62-bytes": file(4096, [block(fmt.ZSTD, 100, bomb, crc=zlib.crc32(data))],
                                               size=100, total=100, digest=hashlib.sha256(data).digest()),
        # issue 9 item 3: a 262 KB file, one lstm block claiming 65,535 streams
        "lstm-65535-streams-262KB": file(1 << 18, [block(fmt.LSTM, 1 << 18, bytes(words) + b"\0" * 4, lanes)],
                                         size=1 << 18),
        # issue 9 item 8: a header size field that disagrees with the data (both paths must refuse)
        "header-size-disagrees": file(4096, [block(fmt.STORED, 100, data, crc=zlib.crc32(data))],
                                      size=99, total=100, digest=hashlib.sha256(data).digest()),
    }
    from lstmzip import codec
    if "cm" in codec.METHODS:
        # A valid 1000-byte cm block whose raw length is then forged to 1 MiB (size unknown):
        # the cm decoder must stop when its code runs out, not run 1 MiB of steps.
        blob = bytearray(Compressor(model, methods=("cm",), threads=1).compress(_text(1000, 4)))
        block_at = [r for r in parse(blob) if r[0] == "block"][0][1]
        blob[9] = 0
        struct.pack_into("<I", blob, 12, 1 << 20)
        struct.pack_into("<I", blob, block_at + 1, 1 << 20)
        files["cm-block-raw-len-forged-to-1MiB"] = bytes(fix_crcs(blob))
        # A valid cm block with its table_bits byte set to 255 (2**255 counters if it were
        # trusted), and one with every parameter byte past its range: "invalid cm parameters".
        blob = bytearray(Compressor(model, methods=("cm",), level=2, threads=1).compress(_text(2000, 5)))
        payload_at = [r for r in parse(blob) if r[0] == "block"][0][2]
        blob[payload_at + 2] = 255
        files["cm-params-table-bits-255"] = bytes(fix_crcs(blob))
        blob[payload_at:payload_at + 6] = bytes([10, 64, 29, 25, 9, 17])
        files["cm-params-all-out-of-range"] = bytes(fix_crcs(blob))
        # A level-9 cm block (adaptive: digests follow the parameters) whose digest count is
        # forged to 2**32 - 1: "cm digests truncated", before anything is allocated for them.
        blob = bytearray(Compressor(model, methods=("cm",), level=9, threads=1, adapt=True,
                                    transform=False).compress(_text(3000, 6)))
        payload_at = [r for r in parse(blob) if r[0] == "block"][0][2]
        assert blob[payload_at + 4] > 0                      # adapt window: the digests are there
        struct.pack_into("<I", blob, payload_at + 6, 0xFFFFFFFF)
        files["cm-adapt-digest-count-4G"] = bytes(fix_crcs(blob))
        # Valid parameters, forged layout, a code of zero bytes (the decoder grows confident and
        # decodes ~1,000 bytes per code byte). (a) adaptation window 2**8 steps x 4096 streams:
        # the adapter holds a whole window of (lanes, 256) int64 tables, ~6.6 GB, before the
        # first digest check; (b) table_bits 28 in a 199-byte file: ~1.1 GB of counters touched.
        files["cm-adapt-window-256-steps-4096-streams"] = file(
            1 << 20, [block(CM, 1 << 20, bytes([9, 63, 16, 12, 8, 5]) + struct.pack("<I", 0) + b"\0" * 16000, 4096)])
        files["cm-table-bits-28-in-199-bytes"] = file(
            1 << 18, [block(CM, 1 << 18, bytes([2, 63, 28, 24, 0, 0]) + b"\0" * 64, 1)])
        # (c) the same with table_bits 25: ~450 MB peak, but the 128 MB of counters stay held
        # after the refusal (LstmzipFile's stored error -> traceback -> cm_decode's frame -> the
        # Predictor, in a reference cycle) until the cyclic GC runs.
        files["cm-tables-held-after-refusal"] = file(
            1 << 18, [block(CM, 1 << 18, bytes([2, 63, 25, 20, 0, 0]) + b"\0" * 64, 1)])
    files.update(issue21_regressions(model))
    for name, blob in files.items():
        (REGRESSIONS / f"{name}.lstmz").write_bytes(blob)
    print(f"wrote {len(files)} constructed regression files to {REGRESSIONS}")


def issue21_regressions(model: Model) -> dict:
    """Issue 21's forged cm files: valid parameters over a code of zero bytes (the decoder grows
    confident and decodes thousands of bytes per code byte). Before codec._check_cm_block each
    decoded for 20-105 s and peaked at up to 860 MB (default model); now each is refused before
    anything is allocated for it."""
    sha = bytes.fromhex(model.sha256)

    def file(block_size, method, raw_len, payload, streams):
        head = fmt.Header(streams=0, block_size=block_size, size=None, model_sha256=sha, model_name=model.name)
        return head.pack() + fmt.BlockHeader(method, raw_len, len(payload), streams, 0).pack() + payload \
            + fmt.End(0, hashlib.sha256(b"").digest()).pack()

    no_digests = struct.pack("<I", 0)
    deep = 8 | 7 << 4                   # adapt window 2**8, every layer learning at 2**-7
    return {
        # 8 MiB from 64 bytes of code, table_bits 28, match_bits 24 (~2.9 KB of code needed)
        "cm-8MiB-claimed-by-202-bytes": file(8 << 20, CM, 8 << 20, bytes([9, 63, 28, 24, 0, 0]) + b"\0" * 64, 1),
        # cm+dict: a transformed length of 64 MiB from 64 bytes of code
        "cm-dict-64MiB-claimed-by-207-bytes": file(
            64 << 20, fmt.CM_TEXT, 64 << 20,
            fmt.TRANSFORM_HEAD.pack(1, 64 << 20) + bytes([9, 63, 28, 24, 0, 0]) + b"\0" * 64, 1),
        # 4096 streams (a compressor writes at most 1024), the output layer adapting
        "cm-adapt-4096-streams-16KB": file(1 << 20, CM, 1 << 20, bytes([9, 63, 16, 12, 2, 5]) + no_digests
                                           + b"\0" * 16000, 4096),
        # every layer adapting over windows of 256 steps x 1024 streams (a compressor: 16 x 1024)
        "cm-deep-window-256-x-1024-streams-16KB": file(1 << 20, CM, 1 << 20, bytes([9, 127, 16, 12, deep, 5])
                                                       + no_digests + b"\0" * 16000, 1024),
        # 1024 updates of the output layer need 16 digests; none are stored
        "cm-adapt-missing-digests-1MiB-16KB": file(1 << 20, CM, 1 << 20, bytes([9, 63, 16, 12, 2, 5])
                                                   + no_digests + b"\0" * 16000, 256),
    }


# ---- structure-aware mutation -----------------------------------------------------------

def _is_compact(blob, start: int) -> bool:
    """Whether the member header at `start` is a compact one (format version 3 or 4)."""
    return blob[start + 8] in (3, 4)


def _is_compact_model(blob, start: int) -> bool:
    """Whether the member header at `start` is a compact model member (format version 4)."""
    return blob[start + 8] == 4


def parse(blob) -> list:
    """[(kind, start, header_end, record_end)] as far as the layout can be followed, member after
    member (concatenated files): each member's "header", its "block"s and its "end" (45 bytes;
    in a compact member of version 3, an 18-byte header and a 1-byte end; of version 4, a
    23 + name + 4-byte header and a 9-byte end)."""
    recs, pos = [], 0
    while pos + 9 <= len(blob) and bytes(blob[pos:pos + 8]) == fmt.MAGIC:
        if _is_compact_model(blob, pos):
            if pos + COMPACT_MODEL_HEADER > len(blob):
                break
            hend, end_len = pos + COMPACT_MODEL_HEADER + blob[pos + 22] + 4, 9
        elif _is_compact(blob, pos):
            hend, end_len = pos + COMPACT_HEADER, 1
        elif pos + 57 <= len(blob):
            hend, end_len = pos + 57 + blob[pos + 56] + 4, 45
        else:
            break
        if hend > len(blob):
            break
        recs.append(("header", pos, hend, hend))
        pos, ended = hend, False
        while pos < len(blob):
            if blob[pos] == fmt.END:
                if pos + end_len <= len(blob):
                    recs.append(("end", pos, pos + end_len, pos + end_len))
                    pos, ended = pos + end_len, True
                break
            if pos + 19 > len(blob):
                break
            payload_len = struct.unpack_from("<I", blob, pos + 5)[0]
            end = min(len(blob), pos + 19 + payload_len)
            recs.append(("block", pos, pos + 19, end))
            pos = end
        if not ended:
            break
    return recs


def member_header(recs: list, at: int):
    """The header record of the member that position `at` falls in (None before any)."""
    heads = [r for r in recs if r[0] == "header" and r[1] < at] or [r for r in recs if r[0] == "header"]
    return heads[-1] if heads else None


def recorded_mismatch(blob: bytes, out: bytes):
    """Why `out` is not what `blob` records for its data, or None when it is: member by member,
    the end record's length and SHA-256 (versions 1/2), or the header's size and the one block's
    CRC-32 (a compact member). A file that decoded must parse to the end, member after member."""
    recs = parse(blob)
    if not recs or recs[-1][0] != "end" or recs[-1][3] != len(blob):
        return "decoded, but its layout cannot be followed to its end"
    pos, member = 0, None
    for kind, start, hend, end in recs:
        if kind == "header":
            member, crc = start, 0
        elif kind == "block":
            crc = struct.unpack_from("<I", blob, start + 11)[0]
        elif _is_compact_model(blob, member):
            size = struct.unpack_from("<I", blob, member + 10)[0]
            if hashlib.sha256(out[pos:pos + size]).digest()[:8] != blob[start + 1:start + 9] or pos + size > len(out):
                return f"the member at byte {member}: SHA-256 differs from its end record's 8 bytes"
            pos += size
        elif _is_compact(blob, member):
            size = struct.unpack_from("<I", blob, member + 10)[0]
            if zlib.crc32(out[pos:pos + size]) != crc or pos + size > len(out):
                return f"the member at byte {member}: CRC-32 differs from its block's"
            pos += size
        else:
            size = struct.unpack_from("<Q", blob, start + 1)[0]
            if hashlib.sha256(out[pos:pos + size]).digest() != blob[start + 9:start + 41] or pos + size > len(out):
                return f"the member at byte {member}: SHA-256 differs from its end record"
            pos += size
    return None if pos == len(out) else f"{len(out) - pos} bytes more than the end records account for"


def fix_crcs(blob: bytearray) -> bytearray:
    """Recompute the CRC-32 of every header, block header and end record that can be found
    (a compact member's 1-byte end record has none)."""
    for kind, start, hend, _ in parse(blob):
        if kind == "header":
            struct.pack_into("<I", blob, hend - 4, zlib.crc32(blob[start:hend - 4]))
        elif kind == "block":
            struct.pack_into("<I", blob, start + 15, zlib.crc32(blob[start:start + 15]))
        elif hend - start == 45:
            struct.pack_into("<I", blob, start + 41, zlib.crc32(blob[start:start + 41]))
    return blob


def _interesting(rng: random.Random, width: int, old: int) -> int:
    top = (1 << (8 * width)) - 1
    choices = [0, 1, 2, top, top - 1, 1 << (8 * width - 1), (1 << (8 * width - 1)) - 1,
               old + 1, old - 1, old * 2, old // 2, old * 256, rng.randrange(top + 1),
               fmt.MAX_BLOCK_SIZE, fmt.MAX_BLOCK_SIZE + 1, 1 << 20, 65535, 256, 4096, 255, 64, 65]
    return rng.choice(choices) & top


def _set_field(blob: bytearray, at: int, code: str, rng: random.Random) -> None:
    width = struct.calcsize("<" + code)
    if at + width > len(blob):
        return
    old = struct.unpack_from("<" + code, blob, at)[0]
    struct.pack_into("<" + code, blob, at, _interesting(rng, width, old))


def _zstd_content_size_bomb(payload: bytes, rng: random.Random, size: int = 0) -> bytes:
    """Rewrite a zstd frame header to declare a huge content size (single segment)."""
    if len(payload) < 6 or payload[:4] != b"\x28\xb5\x2f\xfd":
        return payload
    fhd = payload[4]
    single, dict_flag, fcs_flag = (fhd >> 5) & 1, fhd & 3, fhd >> 6
    pos = 5 + (0 if single else 1) + (0, 1, 2, 4)[dict_flag]
    fcs_len = (1 if single else 0, 2, 4, 8)[fcs_flag]
    head = payload[5:pos]
    if not single:
        head = payload[5 + 1:pos]     # drop the window descriptor: single segment uses the FCS
    size = size or rng.choice([1 << 62, (1 << 64) - 1, 1 << 40, 1 << 32, 1 << 31])
    new_fhd = (3 << 6) | (1 << 5) | (fhd & 0x1F & ~(1 << 5))
    return payload[:4] + bytes([new_fhd]) + head + struct.pack("<Q", size) + payload[pos + fcs_len:]


def _cm_params(rng: random.Random, valid: bool = True) -> bytes:
    """Six cm parameter bytes: valid ones (lstm bit set when adapting), or any edge values."""
    if not valid:
        return bytes(rng.choice(CM_PARAM_VALUES[i]) for i in range(6))
    awin = rng.choice((0, 0, 1, 2, 8))
    models = rng.randrange(64) | (1 if awin else 0)
    return bytes([rng.randrange(1, 10), models, rng.choice((16, 16, 17, 20, 22, 28)),
                  rng.choice((12, 12, 13, 16, 24)), awin, rng.choice((0, 1, 5, 16)) if awin else 0])


def _cm_code(rng: random.Random, n: int, old: bytes = b"") -> bytes:
    """n bytes of arithmetic code: constant runs drive the decoder to confident predictions
    (long decodes from little code), random bytes to arbitrary decoded bytes."""
    kind = rng.randrange(5)
    if kind == 0:
        return bytes([rng.choice((0, 0xFF, 0x80, 0x7F))]) * n
    if kind == 1:
        return bytes(rng.randrange(256) for _ in range(n))
    if kind == 2 and old:
        return (old * (n // len(old) + 1))[:n]
    if kind == 3:
        pat = bytes(rng.randrange(256) for _ in range(rng.choice((1, 2, 3, 13))))
        return (pat * (n // len(pat) + 1))[:n]
    return bytes(old[:n]) + b"\0" * max(0, n - len(old))


def _cm_digest_section(out: bytearray, hend: int):
    """(start, end) of a cm payload's digest section (count and digests), or None without one."""
    if hend + 6 > len(out) or out[hend + 4] == 0:
        return None
    if hend + 10 > len(out):
        return hend + 6, len(out)
    count = struct.unpack_from("<I", out, hend + 6)[0]
    return hend + 6, min(len(out), hend + 10 + 4 * count)


def _set_payload(out: bytearray, start: int, hend: int, end: int, payload: bytes) -> None:
    out[hend:end] = payload
    struct.pack_into("<I", out, start + 5, len(payload))


def _widen(out: bytearray, head: int, block_size: int, unknown: bool = True) -> None:
    """The member header at `head` lets a block of block_size bytes through: block size at least
    that and (with `unknown`) size unknown; a compact header (no such fields): its size at least that."""
    if _is_compact(out, head):
        at = head + 10
    else:
        at = head + 12
        if unknown:
            out[head + 9] = 0
    old = struct.unpack_from("<I", out, at)[0]
    struct.pack_into("<I", out, at, min(fmt.MAX_BLOCK_SIZE, max(old, block_size)))


def mutate_cm(out: bytearray, rng: random.Random, blocks: list, forge_limit: int) -> None:
    """One cm-specific mutation of one cm block: a parameter byte, the adaptation digests, the
    stream layout (streams, raw length) or the arithmetic code. Most keep the parameters valid,
    so the kernel runs (on other models, tables, layouts) over the code instead of refusing."""
    cms = [b for b in blocks if out[b[1]] == CM and b[3] - b[2] >= 6]
    if not cms:
        return
    _, start, hend, end = rng.choice(cms)
    member = member_header(parse(out), start)[1]              # where this block's member starts
    raw_len = struct.unpack_from("<I", out, start + 1)[0]
    what = rng.randrange(8)
    if what == 0:                                               # one parameter byte, any value
        i = rng.randrange(6)
        out[hend + i] = rng.choice(CM_PARAM_VALUES[i])
    elif what == 1:                                             # other valid parameters, same code
        section = _cm_digest_section(out, hend)
        new = bytearray(_cm_params(rng))
        if rng.random() < 0.5:                                  # keep the adaptation as it was
            new[4:6] = out[hend + 4:hend + 6]
            new[1] |= out[hend + 1] & 1
        if new[4] and not section:                              # adapting now: give it digests
            count = rng.choice((0, 1, 2, 5))
            new += struct.pack(f"<I{count}I", count, *(rng.getrandbits(32) for _ in range(count)))
            head_end = hend + 6
        elif not new[4] and section:                            # not any more: drop them
            head_end = section[1]
        else:
            head_end = hend + 6
        payload = bytes(new) + bytes(out[head_end:end])
        _set_payload(out, start, hend, end, payload[:max(6, raw_len)])
    elif what == 2:                                             # the digest count or a digest
        section = _cm_digest_section(out, hend)
        if section and section[0] + 4 <= len(out):
            count = struct.unpack_from("<I", out, section[0])[0]
            if count and rng.random() < 0.4:
                at = section[0] + 4 + 4 * rng.randrange(count)
                if at < len(out):
                    out[at] ^= 1 << rng.randrange(8)
            else:
                new = rng.choice((0, 1, count + 1, max(0, count - 1), 0xFFFFFFFF, 0x40000000, 0x3FFFFFFF,
                                  (end - section[0]) // 4, rng.getrandbits(32)))
                struct.pack_into("<I", out, section[0], new & 0xFFFFFFFF)
    elif what == 3:                                             # the streams field
        top = max(1, min(raw_len, fmt.MAX_MODEL_STREAMS if hasattr(fmt, "MAX_MODEL_STREAMS") else 4096))
        old = struct.unpack_from("<H", out, start + 9)[0]
        new = rng.choice((1, 2, 3, 13, old + 1, max(1, old - 1), old * 2, top, top + 1, rng.randrange(1, top + 1)))
        struct.pack_into("<H", out, start + 9, min(new, 65535))
    elif what == 4:                                             # the raw length (the code stays)
        cap = max(raw_len, 16 * forge_limit)                    # cm decodes at ~100 KB/s: stay small
        new = rng.choice((1, 6, raw_len - 1, raw_len + 1, raw_len * 2, raw_len * 16, cap, rng.randrange(1, cap + 1)))
        new = max(1, min(new, cap))
        struct.pack_into("<I", out, start + 1, new)
        if end - hend > new:                                    # the payload may not exceed it
            _set_payload(out, start, hend, end, bytes(out[hend:hend + new]))
        _widen(out, member, new)
    elif what == 5:                                             # the code: replaced or resized
        section = _cm_digest_section(out, hend)
        code_at = section[1] if section else hend + 6
        code_at = min(code_at, end)
        old = bytes(out[code_at:end])
        n = rng.choice((0, 1, 3, 4, 5, len(old) - 1, len(old) + 1, len(old) // 2, len(old), 64))
        room = raw_len - (code_at - hend)
        n = max(0, min(n, room))
        _set_payload(out, start, hend, end, bytes(out[hend:code_at]) + _cm_code(rng, n, old))
    elif what == 6:                                             # the last bytes of the code
        if end - hend > 6:
            for _ in range(rng.choice((1, 2, 4))):
                i = rng.randrange(max(hend + 6, end - 8), end)
                out[i] = rng.randrange(256)
    else:                                                       # a whole block: long and compressible
        n = rng.choice((4096, 1 << 16, 16 * forge_limit, rng.randrange(64, 16 * forge_limit + 1)))
        n = min(n, 16 * forge_limit)
        code = _cm_code(rng, min(n - 6, rng.choice((4, 16, 64, 1024, forge_limit))))
        payload = _cm_params(rng) + code
        if payload[4]:
            count = rng.choice((0, 0, 1, n >> 8))
            payload = payload[:6] + struct.pack(f"<I{count}I", count, *([0] * count)) + payload[6:]
        payload = payload[:n]
        streams = min(n, 65535, rng.choice((1, 2, 16, 256, 4096, n)))
        head = struct.pack("<BIIHI", CM, n, len(payload), streams, rng.getrandbits(32)) + b"\0\0\0\0"
        out[start:end] = head + payload
        _widen(out, member, n)
        if out[member + 8] < 2:
            out[member + 8] = 2                                   # cm needs format version 2


def mutate(blob: bytes, rng: random.Random, corpus: list, forge_limit: int = 16 << 10) -> bytes:
    """1-4 mutations of `blob`, then (mostly) every header CRC recomputed. `forge_limit` caps
    the payload of a forged block (a long forged lstm payload is slow to refuse, not wrong)."""
    out = bytearray(blob)
    for _ in range(rng.choice((1, 1, 1, 2, 2, 3, 4))):
        recs = parse(out)
        blocks = [r for r in recs if r[0] == "block"]
        op = rng.randrange(20)
        if op == 0 and out:                                     # flip bits anywhere
            for _ in range(rng.choice((1, 1, 2, 8))):
                i = rng.randrange(len(out))
                out[i] ^= 1 << rng.randrange(8)
        elif op == 1 and out:                                   # random bytes anywhere
            i = rng.randrange(len(out))
            out[i:i + rng.randrange(1, 9)] = bytes(rng.randrange(256) for _ in range(rng.randrange(1, 9)))
        elif op == 2 and recs:                                  # a header field
            head = rng.choice([r for r in recs if r[0] == "header"])[1]
            fields = (COMPACT_MODEL_FIELDS if _is_compact_model(out, head) else COMPACT_FIELDS
                      if _is_compact(out, head) else HEADER_FIELDS)
            at, code = fields[rng.choice(list(fields))]
            _set_field(out, head + at, code, rng)
        elif op in (3, 4) and blocks:                           # a block field
            _, start, _, _ = rng.choice(blocks)
            at, code = BLOCK_FIELDS[rng.choice(list(BLOCK_FIELDS))]
            _set_field(out, start + at, code, rng)
        elif op == 5 and [r for r in recs if r[0] == "end" and r[2] - r[1] == 45]:   # end record fields
            _, start, _, _ = rng.choice([r for r in recs if r[0] == "end" and r[2] - r[1] == 45])
            if rng.random() < 0.5:
                _set_field(out, start + 1, "Q", rng)
            else:
                out[start + 9 + rng.randrange(32)] ^= 1 << rng.randrange(8)
        elif op in (6, 7) and blocks:                           # payload bytes (block CRC left as is)
            _, _, hend, end = rng.choice(blocks)
            if end > hend:
                for _ in range(rng.choice((1, 1, 4, 16))):
                    i = rng.randrange(hend, end)
                    out[i] = rng.randrange(256) if rng.random() < 0.5 else out[i] ^ (1 << rng.randrange(8))
        elif op == 8 and out:                                   # truncate
            del out[rng.randrange(len(out)):]
        elif op == 9:                                           # append junk
            out += bytes(rng.randrange(256) for _ in range(rng.choice((1, 4, 19, 45, 100))))
        elif op == 10 and blocks:                               # duplicate / drop / swap blocks
            _, start, _, end = rng.choice(blocks)
            piece = out[start:end]
            what = rng.randrange(3)
            if what == 0:
                out[end:end] = piece
            elif what == 1:
                del out[start:end]
            elif len(blocks) > 1:
                _, s2, _, e2 = rng.choice(blocks)
                if e2 <= start or s2 >= end:
                    a, b = sorted([(start, end), (s2, e2)])
                    out[:] = out[:a[0]] + out[b[0]:b[1]] + out[a[1]:b[0]] + out[a[0]:a[1]] + out[b[1]:]
        elif op == 11 and corpus:                               # splice a record from another file
            other = bytearray(rng.choice(corpus))
            orecs = [r for r in parse(other) if r[0] != "header"]
            if orecs and recs:
                _, s, _, e = rng.choice(orecs)
                at = rng.choice([r[1] for r in recs[1:]] + [recs[0][3]])
                out[at:at] = other[s:e]
        elif op == 12 and recs:                                 # a forged block: big lengths, many streams
            method = rng.choice((fmt.STORED, fmt.ZSTD, fmt.LSTM, fmt.LSTM, CM))
            raw_len = rng.choice((1, 2, 4096, 1 << 16, 1 << 20, fmt.MAX_BLOCK_SIZE, rng.randrange(1, 1 << 20)))
            if method == CM and rng.random() < 0.8:
                raw_len = min(raw_len, 16 * forge_limit)         # cm time is linear in raw_len
            payload_len = raw_len if method == fmt.STORED else rng.choice((0, 2, 4, 64, 4 * 64, 4096, raw_len))
            payload_len = min(payload_len, raw_len, forge_limit)
            streams = rng.choice((0, 1, 2, 256, 4096, 65535, raw_len & 0xFFFF))
            payload = bytes(rng.randrange(256) for _ in range(min(payload_len, 64))) * (payload_len // 64 + 1)
            if method == CM:
                payload = _cm_params(rng, valid=rng.random() < 0.8) + payload
            block = bytearray(struct.pack("<BIIHI", method, raw_len, payload_len, streams, rng.getrandbits(32)))
            block += b"\0\0\0\0" + payload[:payload_len]
            at = rng.choice([r[1] for r in recs[1:]] + [recs[0][3]])
            _widen(out, member_header(recs, at)[1], raw_len, rng.random() < 0.7)   # fewer early refusals
            out[at:at] = block
        elif op == 13 and blocks:                               # zstd frame claiming a huge content size
            _, start, hend, end = rng.choice(blocks)
            if out[start] == fmt.ZSTD:
                payload = _zstd_content_size_bomb(bytes(out[hend:end]), rng)
                out[hend:end] = payload
                struct.pack_into("<I", out, start + 5, len(payload))
        elif op == 14 and blocks:                               # lstm block: more streams, same payload
            _, start, _, _ = rng.choice(blocks)
            if out[start] in (fmt.LSTM, CM):
                raw_len = struct.unpack_from("<I", out, start + 1)[0]
                struct.pack_into("<H", out, start + 9, min(65535, max(1, rng.choice((raw_len, raw_len // 2, 65535)))))
        elif op == 19 and recs:                                 # members: add, repeat, drop or swap
            heads = [r[1] for r in recs if r[0] == "header"] + [len(out)]
            members = [bytes(out[a:b]) for a, b in zip(heads, heads[1:])]
            what = rng.randrange(4)
            if what == 0 and corpus:                            # another file after (or before) this one
                other = rng.choice(corpus)
                members.insert(rng.choice((0, len(members))), other)
            elif what == 1:
                members.append(rng.choice(members))
            elif what == 2 and len(members) > 1:
                del members[rng.randrange(len(members))]
            else:
                rng.shuffle(members)
            out[:] = b"".join(members)
        elif op >= 15 and blocks:                               # cm: parameters, digests, layout, code
            mutate_cm(out, rng, blocks, forge_limit)
    if rng.random() < 0.8:
        fix_crcs(out)
    return bytes(out)


# ---- the check --------------------------------------------------------------------------

_MODEL = None


def _model():
    global _MODEL
    if _MODEL is None:
        _MODEL = Model.load(MODEL_PATH)
    return _MODEL


def _norm(msg: str) -> str:
    msg = re.sub(r"'[^']*'", "'…'", msg)
    msg = re.sub(r"\b(0x[0-9a-f]+|[0-9a-f]*\d[0-9a-f]*)\b", "N", msg)
    return msg[:120]


def _read_via_file(blob: bytes) -> bytes:
    with lstmzip.LstmzipFile(io.BytesIO(blob), "rb", model=_model()) as f:
        parts = []
        while True:
            chunk = f.read(1 << 16)
            if not chunk:
                return b"".join(parts)
            parts.append(chunk)


def check(blob: bytes) -> str:
    """Outcome class of one input: 'ok', 'refused: <message shape>', or a finding ('CRASH ...')."""
    # The errors are kept as text: an exception kept in a local of the frame that caught it is
    # a reference cycle (its traceback holds that frame), which would keep the block's tables.
    dec = Decompressor(_model(), threads=1)
    try:
        out = dec.decompress(blob)
        first = None
    except LstmzipError as exc:
        out, first = None, str(exc)
    del dec
    try:
        via_file = _read_via_file(blob)
        second = None
    except LstmzipError as exc:
        via_file, second = None, str(exc)
    if (first is None) != (second is None):
        return f"CRASH parity: decompress {'ok' if first is None else 'refused'}, " \
               f"LstmzipFile {'ok' if second is None else 'refused'} ({_norm(first or second)})"
    if first is not None:
        return "refused: " + _norm(first)
    if out != via_file:
        return "CRASH parity: the two paths decoded different bytes"
    why = recorded_mismatch(blob, out)
    if why:
        return "CRASH wrong output: " + why
    return "ok"


def check_cli(path: Path, timeout: float = 120) -> str:
    env = dict(os.environ, PYTHONPATH=str(REPO), OPENBLAS_NUM_THREADS="1")
    for cmd in (["test", "-q", "-T", "1", "-m", str(MODEL_PATH), str(path)], ["info", "-v", str(path)]):
        try:
            proc = subprocess.run([sys.executable, "-m", "lstmzip", *cmd], capture_output=True,
                                  timeout=timeout, env=env, stdin=subprocess.DEVNULL)
        except subprocess.TimeoutExpired:
            return f"CRASH cli {cmd[0]}: timeout"
        err = proc.stderr.decode(errors="replace")
        lines = [line for line in err.splitlines() if line.strip()]
        if proc.returncode not in (0, 1) or "Traceback" in err or len(lines) > 1:
            return f"CRASH cli {cmd[0]}: exit {proc.returncode}, {len(lines)} stderr lines"
    return "ok"


def _alarm(signum, frame):
    raise Timeout()


def _cpu_s() -> float:
    ru = resource.getrusage(resource.RUSAGE_SELF)
    return ru.ru_utime + ru.ru_stime


RETAINED_MB = 64      # memory still held once both decodes are over (and their errors dropped)
_CLEAN_RSS = [None]   # resident MB right after the last gc.collect()


def _rss_now_mb() -> float:
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def run_one(blob: bytes, timeout: float) -> str:
    """check() under a timeout; also a finding: more than RETAINED_MB still resident after it
    returned that only gc.collect() gives back (a reference cycle holding a block's tables: in a
    long-lived process such leaks add up to a MemoryError on unrelated inputs)."""
    if _CLEAN_RSS[0] is None:                  # load the compiled kernels once, first
        for methods in (("lstm",), ("cm",)):
            check(Compressor(_model(), methods=methods, threads=1, level=2).compress(_text(300, 9)))
    before = _rss_now_mb()
    if _CLEAN_RSS[0] is None or before > _CLEAN_RSS[0] + RETAINED_MB / 2:
        import gc
        gc.collect()                          # start from a clean heap: a leak is this input's
        before = _CLEAN_RSS[0] = _rss_now_mb()
    cpu0 = _cpu_s()
    signal.setitimer(signal.ITIMER_REAL, timeout)
    try:
        outcome = check(blob)
        signal.setitimer(signal.ITIMER_REAL, 0)
        held = _rss_now_mb()
        if held - before > RETAINED_MB:
            import gc
            gc.collect()
            if held - _rss_now_mb() > RETAINED_MB and not outcome.startswith("CRASH"):
                return "CRASH leak: memory held after the decode until gc.collect()"
        return outcome
    except Timeout:
        if _cpu_s() - cpu0 < timeout / 2:     # a busy shared machine, not (only) a slow input
            return "CRASH timeout (starved: under half of it on the CPU; replay it)"
        return "CRASH timeout"
    except MemoryError:
        return "CRASH MemoryError"
    except Exception as exc:      # noqa: BLE001 - every other exception is a finding
        return f"CRASH {type(exc).__name__}: {_norm(str(exc))}"
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)


def cm_work_kib(blob: bytes) -> float:
    """KiB a cm decoder may have to produce for this input: per cm block, its raw length, but
    no more than ~4096 bytes per payload byte (12-bit probabilities: a confident bit costs at
    least log2(4096/4095) bits of code, so one code byte decodes at most ~2,900 bytes)."""
    work = 0
    for kind, start, hend, end in parse(blob):
        if kind == "block" and blob[start] == CM and start + 9 <= len(blob):
            raw_len, payload_len = struct.unpack_from("<II", blob, start + 1)
            work += min(raw_len, 4096 * payload_len)
    return work / 1024


def boundscheck_active(params=None) -> bool:
    """Whether the cm kernel in this process checks its indices (NUMBA_BOUNDSCHECK=1 and a
    fresh compile, not machine code from a cache built without it). The probe is safe either
    way: it codes one byte of a lane that starts past the end of a 16-byte view of a 64-byte
    array, so an unchecked build reads and writes inside the parent array. It goes through
    ``cm.Predictor`` (not the kernel's argument list, which grows with the kernel), so it
    probes the kernel that `params` (default: a small v1 block) selects."""
    import numpy as np
    from lstmzip.cm import ALL_MODELS, CMParams, Predictor
    params = params or CMParams(2, ALL_MODELS, 16, 12)
    parent_buf, parent_known = np.zeros(64, np.uint8), np.zeros(64, np.uint8)
    from lstmzip.cm.kernel import ENCODE
    pred = Predictor(params, np.array([40], np.int64), parent_buf[:16], np.zeros(64, np.uint8), ENCODE)
    pred.known = parent_known[:16]           # the view, not the predictor's own 16-byte array
    freq = np.full((1, 256), 256, np.int64)
    try:
        pred.step(0, 1, freq, freq)
    except IndexError:
        return True
    return False


def _rss_mb() -> float:
    """Peak RSS of this process (VmHWM: unlike ru_maxrss, not inherited from the parent)."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def load_corpus(dirs, known: bool = False, only=()) -> list:
    """The .lstmz files of dirs; without `known`, not those with a NAME.known beside them (open
    bugs: mutating them mostly finds the same bug again); with `only`, those whose name matches
    one of these globs."""
    import fnmatch
    blobs = []
    for d in dirs:
        blobs += [p.read_bytes() for p in sorted(Path(d).glob("*.lstmz"))
                  if (known or not p.with_suffix(".known").exists())
                  and (not only or any(fnmatch.fnmatch(p.name, g) for g in only))]
    return blobs


def cmd_run(args) -> int:
    signal.signal(signal.SIGALRM, _alarm)
    if args.rss_limit:
        limit = args.rss_limit << 20
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    rng = random.Random(args.seed)
    corpus = load_corpus([SEEDS, REGRESSIONS], known=args.with_known, only=args.only or ())
    if args.method:
        want = {name: code for code, name in fmt.METHOD_NAMES.items()}[args.method]
        corpus = [blob for blob in corpus if want in block_methods(blob)]
    if not corpus:
        print("no seeds: run `fuzz_decode.py seeds` first", file=sys.stderr)
        return 1
    seeds = len(corpus)
    outcomes: dict = {}
    stats = {"inputs": 0, "cli_inputs": 0, "seconds": 0.0, "findings": 0, "slowest_s": 0.0,
             "slowest_input": None, "peak_rss_mb": 0.0, "peak_rss_input": None, "max_input_bytes": 0,
             "method": args.method, "seed": args.seed, "only": args.only, "forge_limit": args.forge_limit}
    if os.environ.get("NUMBA_BOUNDSCHECK") == "1" or args.boundscheck:
        stats["boundscheck"] = boundscheck_active()
        print(f"cm kernel bounds checks: {'on' if stats['boundscheck'] else 'OFF (cached build?)'}", flush=True)
        if not stats["boundscheck"]:
            print("set NUMBA_CACHE_DIR to an empty directory so the kernel is recompiled", file=sys.stderr)
            return 2
    started = time.monotonic()
    base_rss = _rss_mb()

    def save(blob: bytes, tag: str) -> str:
        name = f"{tag}-{hashlib.sha1(blob).hexdigest()[:12]}.lstmz"
        (out / name).write_bytes(blob)
        return name

    def write_stats():
        stats["seconds"] = round(time.monotonic() - started, 1)
        stats["distinct_outcomes"] = len(outcomes)
        stats["baseline_rss_mb"] = round(base_rss, 1)
        stats["corpus"] = len(corpus)
        doc = dict(stats, outcomes=dict(sorted(outcomes.items(), key=lambda kv: -kv[1])))
        Path(args.stats).parent.mkdir(parents=True, exist_ok=True)
        Path(args.stats).write_text(json.dumps(doc, indent=1))

    last_write = 0.0
    while True:
        elapsed = time.monotonic() - started
        if elapsed >= args.seconds or (args.max_inputs and stats["inputs"] >= args.max_inputs):
            break
        parent = rng.choice(corpus)
        blob = parent if stats["inputs"] < seeds else mutate(parent, rng, corpus, args.forge_limit)
        t0 = time.perf_counter()
        outcome = run_one(blob, args.timeout + args.timeout_per_kib * len(blob) / 1024
                          + args.timeout_per_cm_kib * cm_work_kib(blob))
        dt = time.perf_counter() - t0
        stats["inputs"] += 1
        stats["max_input_bytes"] = max(stats["max_input_bytes"], len(blob))
        rss = _rss_mb()
        if dt > stats["slowest_s"]:
            stats["slowest_s"], stats["slowest_input"] = round(dt, 3), save(blob, "slowest")
        if rss > stats["peak_rss_mb"] + 1:
            stats["peak_rss_mb"], stats["peak_rss_input"] = round(rss, 1), save(blob, "peak-rss")
        if args.cli_every and stats["inputs"] % args.cli_every == 0:
            path = out / "cli-input.lstmz"
            path.write_bytes(blob)
            cli = check_cli(path)
            stats["cli_inputs"] += 1
            if cli != "ok":
                outcome = outcome if outcome.startswith("CRASH") else cli
        new = outcome not in outcomes
        outcomes[outcome] = outcomes.get(outcome, 0) + 1
        if outcome.startswith("CRASH"):
            stats["findings"] += 1
            tag = "crash-" + re.sub(r"[^a-z0-9]+", "-", outcome[6:].lower())[:40].strip("-")
            name = save(blob, tag)
            if new:
                print(f"[{stats['inputs']}] {outcome} -> {out / name}", flush=True)
        elif new and len(corpus) < 500:
            corpus.append(blob)                   # a new refusal reached: mutate from it too
        if time.monotonic() - last_write > 10:
            write_stats()
            last_write = time.monotonic()
    write_stats()
    print(json.dumps({k: v for k, v in stats.items() if k != "outcomes"}))
    return 1 if stats["findings"] else 0


def _odd_data(rng: random.Random, n: int) -> bytes:
    """Inputs that steer the cm models' indices: long lines, no lines, records of 2..4096+ bytes,
    runs, repeats across stream boundaries, bytes >= 128, noise; 1-bit images of odd widths
    (the pixel models) and x86-like code (kind 7's instruction parse)."""
    kind = rng.randrange(10)
    if kind == 8:                                           # a PBM header, then rows of any width
        w = rng.choice((1, 7, 8, 9, 64, 1728, rng.randrange(1, 3000)))
        head = b"P4\n%d %d\n" % (w, max(1, n // ((w + 7) // 8)))
        return (head + bytes(rng.choice((0, 0, 255, rng.randrange(256))) for _ in range(n)))[:max(n, len(head) + 1)]
    if kind == 9:                                           # calls, prefixes, 0F opcodes, ModRM/SIB bytes
        out = bytearray()
        while len(out) < n:
            out += rng.choice((b"\xe8" + bytes(rng.randrange(256) for _ in range(3)) + b"\x00",
                               b"\x66\x66\x66\x66\x66\x0f", b"\x0f\x3a\x0f\xc1\x08", b"\xc7\x44\x24",
                               b"\x48\xb8", bytes([rng.randrange(256)])))
        return bytes(out[:n])
    if kind == 0:
        return bytes([rng.randrange(256)]) * n
    if kind == 1:
        return bytes(rng.randrange(256) for _ in range(n))
    if kind == 2:                                           # records of a random period
        period = rng.choice((2, 3, 13, 255, 256, 4095, 4096, 4097, rng.randrange(2, 5000)))
        rec = bytes(rng.randrange(256) for _ in range(period))
        return (rec * (n // period + 1))[:n]
    if kind == 3:                                           # lines of every length, \n only
        out = bytearray()
        while len(out) < n:
            out += b"x" * rng.choice((0, 1, 254, 255, 256, 300, rng.randrange(2000))) + b"\n"
        return bytes(out[:n])
    if kind == 4:                                           # a chunk repeated: long matches
        chunk = bytes(rng.randrange(256) for _ in range(rng.randrange(1, 64)))
        return (chunk * (n // len(chunk) + 1))[:n]
    if kind == 5:
        return _text(n, rng.randrange(1000))
    if kind == 6:
        return bytes(rng.randrange(128, 256) for _ in range(n))  # all "word" bytes
    return _records(n, rng.randrange(1000))


def cmd_roundtrip(args) -> int:
    """cm round trips of odd inputs, layouts and model masks through both decode paths: with
    NUMBA_BOUNDSCHECK=1 (and an empty NUMBA_CACHE_DIR) every index the kernel computes from
    valid but unusual data is checked, in the encoder and in the decoder."""
    from lstmzip.cm import ALL_MODELS
    signal.signal(signal.SIGALRM, _alarm)
    checked = boundscheck_active()
    print(f"cm kernel bounds checks: {'on' if checked else 'off'}", flush=True)
    if args.boundscheck and not checked:
        return 2
    rng = random.Random(args.seed)
    failures = 0
    started = time.monotonic()
    for i in range(args.cases):
        n = rng.choice((1, 2, 5, 6, 7, 13, 100, 640, 641, 1000, 4096, 4097, rng.randrange(1, args.max_bytes + 1)))
        n = min(n, args.max_bytes)
        data = _odd_data(rng, n)
        level = rng.choice((2, 2, 9))
        models = rng.choice((ALL_MODELS, ALL_MODELS, rng.randrange(64)))
        streams = rng.choice((0, 0, 1, 2, 7, 64, n, 1024))
        streams = min(streams, 1024)
        what = f"case {i}: n={n} level={level} models={models} streams={streams}"
        try:
            signal.setitimer(signal.ITIMER_REAL, 60)
            blob = Compressor(_model(), threads=1, level=level, cm_models=models, streams=streams,
                              methods=("cm",)).compress(data)
            outcome = check(blob)
            if outcome == "ok" and Decompressor(_model(), threads=1).decompress(blob) != data:
                outcome = "CRASH wrong output"
        except Timeout:
            outcome = "CRASH timeout"
        except Exception as exc:  # noqa: BLE001
            outcome = f"CRASH {type(exc).__name__}: {exc}"
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)
        if outcome != "ok":
            failures += 1
            print(f"{what}: {outcome}", flush=True)
    print(json.dumps({"cases": args.cases, "failures": failures, "boundscheck": checked,
                      "seconds": round(time.monotonic() - started, 1)}))
    return 1 if failures else 0


def cmd_replay(args) -> int:
    signal.signal(signal.SIGALRM, _alarm)
    if args.rss_limit:
        limit = args.rss_limit << 20
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    results = {}
    for name in args.files:
        t0 = time.perf_counter()
        outcome = run_one(Path(name).read_bytes(), args.timeout)
        results[name] = {"outcome": outcome, "seconds": round(time.perf_counter() - t0, 3),
                         "peak_rss_mb": round(_rss_mb(), 1)}
        if not args.json:
            print(f"{name}: {outcome} ({results[name]['seconds']} s, peak RSS {results[name]['peak_rss_mb']} MB)")
    if args.json:
        print(json.dumps(results))
    return 1 if any(r["outcome"].startswith("CRASH") for r in results.values()) else 0


def cmd_atheris(argv) -> int:
    """libFuzzer through atheris: coverage of lstmzip's Python code guides the same mutator.
    New corpus entries go to $LSTMZIP_FUZZ_CORPUS (default /tmp/lstmzip-atheris-corpus), never
    into seeds/; crashes to -artifact_prefix (default: the current directory)."""
    import atheris
    atheris.instrument_all()                 # every Python function loaded so far: lstmzip included
    corpus = load_corpus([SEEDS, REGRESSIONS])
    work = Path(os.environ.get("LSTMZIP_FUZZ_CORPUS", "/tmp/lstmzip-atheris-corpus"))
    work.mkdir(parents=True, exist_ok=True)

    def one_input(data: bytes) -> None:
        outcome = check(data)
        if outcome.startswith("CRASH"):
            raise RuntimeError(outcome)

    def custom_mutator(data: bytes, max_size: int, seed: int) -> bytes:
        rng = random.Random(seed)
        if not data or rng.random() < 0.1:
            data = rng.choice(corpus)
        if rng.random() < 0.2:
            return atheris.Mutate(data, max_size)
        return mutate(data, rng, corpus)[:max_size]

    flags = [a for a in argv if a.startswith("-")]
    if not any(a.startswith("-max_len=") for a in flags):
        flags.append("-max_len=65536")
    atheris.Setup([sys.argv[0], *flags, str(work), str(SEEDS)], one_input, custom_mutator=custom_mutator)
    atheris.Fuzz()
    return 0


def main(argv=None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] == "atheris":
        return cmd_atheris(argv[1:])
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = p.add_subparsers(dest="cmd", required=True)
    sd = sub.add_parser("seeds", help="rewrite seeds/ and model.npz")
    sd.add_argument("--only", action="append", metavar="GLOB",
                    help="rewrite only the seeds whose name matches (repeatable); the others stay")
    sub.add_parser("regressions", help="rewrite the constructed files in regressions/")
    r = sub.add_parser("run", help="mutation loop")
    r.add_argument("--seconds", type=float, default=60)
    r.add_argument("--max-inputs", type=int, default=0)
    r.add_argument("--timeout", type=float, default=10, help="seconds per input before it counts as a hang...")
    r.add_argument("--timeout-per-kib", type=float, default=0.1,
                   help="...plus this per KiB of input (an lstm payload of 1 stream decodes at a few KB/s)")
    r.add_argument("--timeout-per-cm-kib", type=float, default=0.05,
                   help="...plus this per KiB a cm block may decode (cm_work_kib: ~40 KB/s per decode path at 1 stream)")
    r.add_argument("--rss-limit", type=int, default=4096, help="address-space cap in MiB (0: none)")
    r.add_argument("--method", choices=("stored", "zstd", "lstm", "cm"),
                   help="mutate only the seeds and regressions that have a block of this method")
    r.add_argument("--with-known", action="store_true", help="also mutate the regressions marked .known")
    r.add_argument("--only", action="append", metavar="GLOB",
                   help="mutate only the seeds and regressions whose file name matches (repeatable), "
                        "e.g. 'cm-dict-*' or '*adapt*'")
    r.add_argument("--forge-limit", type=int, default=16 << 10, metavar="BYTES",
                   help="largest forged payload (a forged cm block: up to 16x this) [Default: 16384]")
    r.add_argument("--boundscheck", action="store_true",
                   help="require the cm kernel's bounds checks (NUMBA_BOUNDSCHECK=1 NUMBA_CACHE_DIR=empty dir)")
    r.add_argument("--cli-every", type=int, default=500, help="also run the CLI on every Nth input (0: never)")
    r.add_argument("--seed", type=int, default=1)
    r.add_argument("--out", default="/tmp/lstmzip-fuzz")
    r.add_argument("--stats", default="/tmp/lstmzip-fuzz/stats.json")
    rp = sub.add_parser("replay", help="decode files and print each outcome")
    rp.add_argument("files", nargs="+")
    rp.add_argument("--timeout", type=float, default=20)
    rp.add_argument("--rss-limit", type=int, default=0)
    rp.add_argument("--json", action="store_true")
    rt = sub.add_parser("roundtrip", help="cm round trips of odd inputs and layouts (use with NUMBA_BOUNDSCHECK=1)")
    rt.add_argument("--cases", type=int, default=200)
    rt.add_argument("--max-bytes", type=int, default=6000)
    rt.add_argument("--seed", type=int, default=1)
    rt.add_argument("--boundscheck", action="store_true", help="fail unless the kernel's bounds checks are on")
    sub.add_parser("atheris", help="coverage-guided with atheris (libFuzzer flags follow)")
    args = p.parse_args(argv)
    if args.cmd == "seeds":
        make_seeds(args.only or ())
        return 0
    if args.cmd == "regressions":
        make_regressions()
        return 0
    if args.cmd == "run":
        return cmd_run(args)
    if args.cmd == "roundtrip":
        return cmd_roundtrip(args)
    return cmd_replay(args)


if __name__ == "__main__":
    sys.exit(main())
