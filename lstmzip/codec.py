"""Blocks, streams and method choice: compression and decompression as mirrored halves.

A block of n bytes is cut into S contiguous streams, longest first::

    block:   [ stream 0 .......... | stream 1 .......... | ... | stream S-1 ....... ]
    lengths:   q+1 (first r streams)                             q   (n = q*S + r)

    step t:  byte t of every stream, coded together: one engine step, one GEMM
             per layer with S rows. Only the last step (t = q) may have fewer
             active streams (the first r), always a prefix.

Both halves run the same loop: ask the engine for S frequency tables from the
previous bytes, then the encoder *puts* the true bytes / the decoder *gets* them.
The lstm method (level 1) codes the tables directly with the rANS coder; the cm
method (levels 2-9) hands them to the context-mixing predictor (``cm/``), which
codes byte t of stream 0, then of stream 1, ..., bit by bit, learning as it goes.
At level 9 (or with ``transform=True``) a text-like block is also coded by cm
after the English word transform (``transform.py``), the "cm+dict" method.
Each block is stored as whichever is smallest of the model method(s), zstd (level
19) and stored, with a CRC-32 of its original bytes; the file ends with the
total length and a SHA-256 of everything, all verified on decode.
"""

from __future__ import annotations

import collections
import dataclasses
import hashlib
import io
import math
import struct
import zlib
from typing import BinaryIO, Callable, Iterator, Optional

import numpy as np
import zstandard

from . import format as fmt
from . import race
from . import regions as regions_table
from . import transform as wordtf
from .cm import ALL_MODELS, EXT_MODELS, MODEL_BITS, TWIN, V2, CMParams
from .coder import Decoder, Encoder
from .engine import START_BYTE, EngineState, make_engine
from .errors import LstmzipError
from .model import Model, find_by_sha256, resolve

DEFAULT_BLOCK_SIZE = 1 << 20      # bytes per block at level 1: bounds memory, lets large inputs stream
MIN_STREAM_LEN = 4096             # auto stream count: at least this many bytes per stream...
AUTO_MAX_STREAMS = 256            # ...and at most this many streams per block
MAX_USER_STREAMS = 1024           # --streams: beyond this the engine state costs more than it gains
CM_MIN_STREAM_LEN = 8192          # cm blocks: streams of at least 8 KiB (measured, 512 KB inputs:
                                  # 8 -> 256 streams costs 2.0 % on enwik6, 0.5 % on book1)...
CM_SMALL_STEPS, CM_SMALL_MAX = 640, 16    # ...but small inputs take at most 640 steps (up to 16 streams:
                                          # 10 KB in under 2 s; 3 -> 12 streams costs 0.4-2.5 % there)
LSTM_SAMPLE = 64 << 10            # a block's first 64 KiB decide whether its LSTM runs...
LSTM_MIN_GAIN = 0.02              # ...it does if it saves more than 2 % of their second half,
LSTM_MIN_BPB = 0.5                # ...and is not even probed where the coding without it spent under
                                  # 0.5 bits/byte there (redundant data: logs, JSON, XML; it never won
                                  # there, bench/RESULTS.md § 5.0d),
LSTM_MIN_TEXT = 0.5               # and never where text regions hold less than half the block (the
                                  # model knows text; on 14 binary development files it won on none)
ZSTD_LEVEL = 19
METHODS = ("cm", "lstm", "zstd", "stored")     # block methods a Compressor may choose from
DEFAULT_LEVEL = 6

# Levels, like xz/zstd: the model method, its table size (memory) and the block size.
#   level: (method, log2 of the cm counter table's entries (4 bytes each), block size)
LEVELS = {
    1: ("lstm", 0, 1 << 20),      # the static LSTM alone (lstmzip 0.1's method)
    2: ("cm", 22, 1 << 20),       # context mixing without the LSTM (--fast): 16 MB of tables
    3: ("cm", 24, 1 << 20),       # ... 64 MB
    4: ("cm", 24, 1 << 20),       # the LSTM too, where it pays (decided per block)
    5: ("cm", 25, 1 << 20),
    6: ("cm", 26, 8 << 20),       # default: 256 MB of counters; 8 MiB blocks (the models learn
    7: ("cm", 27, 8 << 20),       # across a whole block: an 8 MB source tar -9.4 % against 2 MiB)
    8: ("cm", 27, 16 << 20),
    9: ("cm", 28, 16 << 20),      # 1 GB of counters
}
NO_LSTM_LEVELS = (2, 3)           # levels whose context mixing runs without the LSTM (>= 100 KB/s)
# ... and without the extension's extra contexts, which cost them a third of their speed for 1-2 %
# (measured: bench/RESULTS.md section 5); their rates, deterministic inputs, runs and the two
# cheap indirect contexts stay
FAST_WITHOUT = MODEL_BITS["long"] | MODEL_BITS["line"] | MODEL_BITS["markup"] | MODEL_BITS["word2"] \
    | MODEL_BITS["match2"]
# Models only codings without the LSTM get: beside the LSTM the second match model cost 0.02 % on a
# 1 MB Dickens slice and 0.14 % on seven 12-40 KB development files (where without the LSTM it
# gains 0.28 %: bench/RESULTS.md section 5.0a)
WITHOUT_LSTM_ONLY = MODEL_BITS["match2"]
# Skip the model where zstd obviously wins or nothing can: a zstd payload under 1/1024 of the
# block (zeros, one line repeated) leaves the model at most 0.1 % of the block to gain; one above
# 99 % means noise. (It was 1/64 until 2026-12-04: redundant JSON at 90-120:1 under zstd codes
# 34-49 % smaller with the context models, at 55 KB/s; bench/RESULTS.md section 5.0c.)
SKIP_BELOW, SKIP_ABOVE = 1 / 1024, 0.99
# Levels that choose the LSTM per input among shipped models when none is given (-m): the first
# block's first LSTM_SAMPLE bytes are coded with each as the LSTM probe codes them, and the one
# that spends least on their second half codes the whole input; the header names it. `broad`
# (2 x 384, code and markup) runs at half `default`'s speed, so only -9 asks it.
CHOICE_LEVELS = {9: ("default", "broad")}
CHOICE_MIN = 4096                 # a first block shorter than this takes the first model unprobed


ADAPT_WINDOW_LOG2, ADAPT_LR_SHIFT = 2, 5   # chosen on alice29[:100K], 32 streams (docs/adapt.md)
ADAPT_DEEP_WINDOW_LOG2, ADAPT_DEEP_SHIFT = 4, 7   # every layer: windows of 16 steps, rate 2**-7 (chosen
                                                  # on reymont, paper1, alice29: docs/adapt.md)
ADAPT_MODES = ("output", "deep")           # what adapts: the output layer, or every layer
LEVEL9_ADAPT = None                        # -9 keeps the LSTM static: every layer adapting gave +0.04 % on
                                           # enwik6 at 4x the time (bench/RESULTS.md section 7)
DIGEST_EVERY = 64                          # adaptive blocks: a digest of the weights every 64 windows

# cm+dict (docs/transform.md): levels that code a text-like block both raw and word-transformed
# and keep the smaller, unless told; "text-like" = the transform leaves at most 0.95 of the bytes
# (prose, markup, source: 0.62-0.93; binary data: 1.08-1.45, every reserved byte escaped). The
# transformed block is coded by the context models alone: the shipped LSTM reads raw bytes (with
# it, transformed text codes 2-7 % larger). Not at -2/-3, whose point is speed.
TRANSFORM_LEVELS = (4, 5, 6, 7, 8, 9)
TRANSFORM_MAX_RATIO = 0.95


def adapt_mode(adapt, level: int) -> Optional[str]:
    """None (static LSTM), "output" or "deep" from a Compressor's ``adapt`` argument: None = the
    level's default (LEVEL9_ADAPT at -9, else off), False = off, True = "output", or a mode by name."""
    if adapt is None:
        return LEVEL9_ADAPT if level == 9 else None
    if adapt is False or adapt is True:
        return "output" if adapt else None
    if adapt not in ADAPT_MODES:
        raise ValueError(f"adapt must be a bool or one of {', '.join(ADAPT_MODES)}, not {adapt!r}")
    return adapt


def cm_params(level: int, block_len: int, models: int = ALL_MODELS, adapt=False) -> CMParams:
    """The cm parameters of a level for a block of block_len bytes (tables no larger than useful);
    adapt: False/None, True or "output" (the output layer learns), "deep" (every layer)."""
    _, tbits, _ = LEVELS[level]
    if models & MODEL_BITS["lstm"]:
        models &= ~WITHOUT_LSTM_ONLY
    if not models & EXT_MODELS:                # match2 is read only in blocks with the extension
        models &= ~MODEL_BITS["match2"]
    need = max(16, (512 * block_len).bit_length())       # no more than a block can fill
    mbits = min(24, max(12, block_len.bit_length() + 1))
    mode = adapt_mode(adapt or False, level) if models & MODEL_BITS["lstm"] else None
    if mode == "deep":
        models |= TWIN                  # the static model stays an input (RESULTS.md section 7)
    window = (ADAPT_DEEP_WINDOW_LOG2 if mode == "deep" else ADAPT_WINDOW_LOG2) if mode else 0
    return CMParams(level, models | V2, max(16, min(tbits, need)), mbits, window,
                    ADAPT_LR_SHIFT if mode else 0, ADAPT_DEEP_SHIFT if mode == "deep" else 0)


def transform_on(transform, level: int) -> bool:
    """Whether a Compressor tries cm+dict: ``transform`` None = the level's default (on at
    TRANSFORM_LEVELS), True or False."""
    if transform is None:
        return level in TRANSFORM_LEVELS
    if transform is True or transform is False:
        return transform
    raise ValueError(f"transform must be None, True or False, not {transform!r}")


def transformed_block(data: bytes) -> Optional[bytes]:
    """The block through the word transform, or None where it is not text-like enough to try."""
    mapped = transformed_map(data)
    return mapped[0] if mapped else None


def transformed_map(data: bytes):
    """(the transformed block, (raw, coded)): transform.forward_map's, or None where the block is
    not text-like enough to try."""
    coded, raw_at, coded_at = wordtf.forward_map(data, race.PROFILE_EVERY)
    return (coded, (raw_at, coded_at)) if len(coded) <= TRANSFORM_MAX_RATIO * len(data) else None


def _share_progress(progress: Progress, out_total: int, in_total: int) -> Progress:
    """A progress callback that reports in_total units of work (calls summing to in_total) as
    out_total input bytes: two coding passes over one block, or a transformed block's bytes."""
    if progress is None:
        return None
    done = [0, 0]                                  # units seen, bytes reported

    def report(n: int) -> None:
        done[0] += n
        now = done[0] * out_total // in_total
        if now > done[1]:
            progress(now - done[1])
            done[1] = now
    return report


def _transform_head(payload: bytes, raw_len: int, streams: int, where: str) -> int:
    """A cm+dict payload's transformed length, after checking its transform header (one line
    per problem, before anything is allocated)."""
    tid, tlen = fmt.TRANSFORM_HEAD.unpack_from(payload)     # format.py checked the length
    if tid != wordtf.TRANSFORM_ID:
        raise LstmzipError(f"{where} uses word transform {tid}, which this lstmzip does not know "
                           f"(it knows {wordtf.TRANSFORM_ID} = {wordtf.TRANSFORM_NAME}; a file from "
                           f"a newer version, or corrupted)")
    # forward() can double a block (an escape per reserved byte, a flag per lone capital), but a
    # transform that does not shrink the block is never written: more is a forged length.
    if not 1 <= tlen <= raw_len:
        raise LstmzipError(f"corrupted {where} (transformed length {tlen} outside 1..{raw_len})")
    if streams > tlen:
        raise LstmzipError(f"corrupted {where} (stream count {streams} exceeds the transformed "
                           f"length {tlen})")
    wordtf.english()                  # a missing or altered dictionary: its own error, not "corrupted"
    return tlen


def level_memory(level: int) -> int:
    """Peak bytes a level's tables and buffers need for a full block (compress or decompress)."""
    method, _, block = LEVELS[level]
    if method != "cm":
        return 4 * block
    return cm_params(level, block).memory() + 4 * block

Progress = Optional[Callable[[int], None]]   # called with the number of input bytes just done


def choose_streams(n: int, streams: int = 0) -> int:
    """Streams for a block of n bytes: `streams` if given (capped at n), else from n."""
    if streams:
        return max(1, min(streams, n))
    return max(1, min(AUTO_MAX_STREAMS, n // MIN_STREAM_LEN))


def choose_cm_streams(n: int, streams: int = 0, lstm: bool = True) -> int:
    """Streams for a cm block: few and long (the models learn across them), but a small input
    is cut into up to CM_SMALL_MAX streams so it takes no more than CM_SMALL_STEPS steps. A
    block without the LSTM is one stream (nothing to batch; the models see the data in order)."""
    if streams:
        return max(1, min(streams, n))
    if not lstm:
        return 1
    fast = min(-(-n // CM_SMALL_STEPS), CM_SMALL_MAX)
    return max(1, min(AUTO_MAX_STREAMS, max(n // CM_MIN_STREAM_LEN, fast)))


def stream_layout(n: int, s: int):
    """(starts, steps, last_lanes): stream k starts at starts[k]; the last step has last_lanes active."""
    q, r = divmod(n, s)
    k = np.arange(s)
    starts = k * q + np.minimum(k, r)
    steps = q + (1 if r else 0)
    return starts, steps, (r if r else s)


# ---- the LSTM method: the two mirrored halves -------------------------------------------

def lstm_encode(engine, data: bytes, s: int, progress: Progress = None) -> bytes:
    starts, steps, last = stream_layout(len(data), s)
    buf = np.frombuffer(data, np.uint8)
    state = engine.initial_state(s)
    prev = np.full(s, START_BYTE, np.int64)
    enc = Encoder(s)
    with engine.parallel():
        for t in range(steps):
            lanes = s if t < steps - 1 else last
            freq = engine.step(prev[:lanes], state)
            sym = buf[starts[:lanes] + t].astype(np.int64)
            enc.put(sym, freq)
            prev = sym
            if progress and (t % 64 == 63 or t == steps - 1):
                progress(lanes * (t % 64 + 1))
    return enc.finish()


def lstm_decode(engine, payload: bytes, n: int, s: int, progress: Progress = None) -> bytes:
    starts, steps, last = stream_layout(n, s)
    out = np.empty(n, np.uint8)
    state = engine.initial_state(s)
    prev = np.full(s, START_BYTE, np.int64)
    dec = Decoder(payload, s)
    with engine.parallel():
        for t in range(steps):
            lanes = s if t < steps - 1 else last
            freq = engine.step(prev[:lanes], state)
            sym = dec.get(freq)
            out[starts[:lanes] + t] = sym
            prev = sym
            if progress and (t % 64 == 63 or t == steps - 1):
                progress(lanes * (t % 64 + 1))
    dec.finish()
    return out.tobytes()


# ---- the CM method: the LSTM's tables mixed with models learned from the block ----------

def _cm_freq(engine, params: CMParams, prev, state, lanes: int, uniform, twin):
    """The step's LSTM tables (freq, own): own is the engine's (adapting or not); freq the static
    twin's on TWIN blocks, else own again (uniform tables when the block has no LSTM)."""
    if not params.models & MODEL_BITS["lstm"]:
        return uniform[:lanes], uniform[:lanes]
    own = engine.step(prev[:lanes], state)
    if twin is None:
        return own, own
    static, static_state = twin
    return static.step(prev[:lanes], static_state), own


def _twin(engine, params: CMParams, s: int):
    """(engine, state) of the static model beside an adapting one (TWIN blocks), else None."""
    if not params.models & TWIN:
        return None
    static = engine.static_twin()
    return static, static.initial_state(s)


def _adapter(engine, params: CMParams):
    from .adapt import make_adapter
    return make_adapter(engine, params.adapt)


def _predictor(params: CMParams, starts, buf, code, mode, regions=None):
    """The block's predictor, or one clear line when its tables cannot be had."""
    from .cm import Predictor
    try:
        return Predictor(params, starts, buf, code, mode, regions)
    except MemoryError:
        raise LstmzipError(f"not enough memory for a level-{params.level} block: its tables need "
                           f"{params.memory(len(starts)) / 2**20:.0f} MB") from None


def _without_lstm(params: CMParams) -> bool:
    """v2 blocks that do not run the LSTM are coded by the kernel alone, many steps per call."""
    return params.v2 and not params.models & MODEL_BITS["lstm"]


def _cm_steps_compiled(pred, steps: int, s: int, last: int, progress: Progress,
                       marks: Optional[dict] = None, check=None) -> None:
    """Both halves of a block without an LSTM: every step in compiled code, 64 K bytes a call
    (progress between calls); the decoder stops where the code runs out. ``marks``: {step: None}
    whose values become the code length before that step, each then passed to ``check`` (the
    encoder's choice among its codings, race.py)."""
    uniform = np.full((s, 256), 256, np.int64)
    chunk = max(1, 65536 // s)
    marks = {} if marks is None else marks
    bounds = sorted(set(list(range(0, steps, chunk)) + [t for t in marks if t < steps] + [steps]))
    for t0, t1 in zip(bounds, bounds[1:]):
        if t0 in marks:
            marks[t0] = int(pred.cs[pred.k.C_POS])
            if check:
                check(t0, marks[t0])
        done = pred.steps(t0, t1, steps, s, last, uniform)
        if pred.cs[pred.k.C_OVER] and pred.mode == pred.k.DECODE:
            raise LstmzipError(f"cm code ends before the block (step {done - 1} of {steps})")
        if progress:
            progress((t1 - t0) * s - (s - last if t1 == steps else 0))


def block_regions(params: CMParams, data: bytes):
    """The regions a cm block with these parameters stores (detect.py): None without the
    ``struct`` bit, [] when the block holds nothing but text (then the block is written without
    the bit: no region table, no sixth mixer, the bytes of the plain model)."""
    if not params.models & MODEL_BITS["struct"]:
        return None
    from .detect import KIND_TEXT, detect
    regions = detect(data)
    return regions if any(r.kind != KIND_TEXT for r in regions) else []


def text_share(regions, n: int) -> float:
    """The share of a block's n bytes that its regions label text."""
    from .detect import KIND_TEXT
    return sum(r.length for r in regions if r.kind == KIND_TEXT) / max(1, n)


def struct_plan(params: CMParams, data: bytes, regions=None):
    """(params, regions) a block is coded with: regions detected unless given, the ``struct``
    bit dropped when block_regions found no structure, the ``pixel`` bit when no region is a
    1-bit image, the ``image`` bit when none is an image of 8 or more bits per pixel (so that
    every other block is written as before those bits existed)."""
    from .detect import KIND_IMAGE
    if regions is None:
        regions = block_regions(params, data)
    if regions is not None and not regions:
        params, regions = dataclasses.replace(params, models=params.models & ~MODEL_BITS["struct"]), None
    if params.models & MODEL_BITS["pixel"] and not any(r.kind == KIND_IMAGE and r.depth == 1 for r in regions or ()):
        params = dataclasses.replace(params, models=params.models & ~MODEL_BITS["pixel"])
    if params.models & MODEL_BITS["image"] and not any(r.kind == KIND_IMAGE and r.depth >= 8 for r in regions or ()):
        params = dataclasses.replace(params, models=params.models & ~MODEL_BITS["image"])
    return params, regions


def cm_head(params: CMParams, regions) -> bytes:
    """What a cm payload starts with: the parameters, then the region table (``struct`` blocks)."""
    return params.pack() + (regions_table.pack(regions) if regions is not None else b"")


def cm_encode(engine, data: bytes, s: int, params: CMParams, progress: Progress = None,
              marks: Optional[dict] = None, regions=None, check=None):
    """The cm payload of a block (parameters, region table, weight digests, code), or None if
    it would exceed the block. ``marks``: {step: None}, filled with the code length before each
    step, and ``check(step, that length)`` called there (it may raise race.Stopped to end the
    coding); regions: the block's (``struct`` blocks; detected here if None; see struct_plan)."""
    from .cm.kernel import ENCODE
    params, regions = struct_plan(params, data, regions)
    starts, steps, last = stream_layout(len(data), s)
    coded = regions_table.forward(data, regions) if regions is not None else data
    buf = np.frombuffer(coded, np.uint8).copy()
    pred = _predictor(params, starts, buf, np.empty(len(data) + 64, np.uint8), ENCODE,
                      regions_table.as_array(regions) if regions is not None else None)
    state = engine.initial_state(s)
    prev = np.full(s, START_BYTE, np.int64)
    uniform = np.full((s, 256), 256, np.int64)
    adapter, digests, twin = _adapter(engine, params), [], _twin(engine, params, s)
    ahead = None
    try:
        if _without_lstm(params):
            _cm_steps_compiled(pred, steps, s, last, progress, marks, check)
        else:
            with engine.parallel():
                if adapter is None and twin is None:
                    ahead = _TablesAhead(engine, buf, starts, steps, last, state)
                for t in range(steps):
                    if marks and t in marks:
                        marks[t] = int(pred.cs[pred.k.C_POS])
                        if check:
                            check(t, marks[t])
                    lanes = s if t < steps - 1 else last
                    if ahead:
                        freq = own = ahead.get(t)
                    else:
                        freq, own = _cm_freq(engine, params, prev, state, lanes, uniform, twin)
                    pred.step(t, lanes, freq, own)
                    if not ahead:                       # (ahead reads the step's bytes itself)
                        prev = buf[starts[:lanes] + t].astype(np.int64)
                    if adapter and adapter.record(engine.top_output(state, lanes), own, prev, state) \
                            and adapter.updates % DIGEST_EVERY == 0:
                        digests.append(adapter.digest())
                    if progress and (t % 64 == 63 or t == steps - 1):
                        progress(lanes * (t % 64 + 1))
    finally:
        if ahead:
            ahead.close()
        if adapter:
            adapter.restore()
        pred.release()
    code = pred.finish()
    if code is None:
        return None
    head = cm_head(params, regions)
    if adapter:
        head += struct.pack(f"<I{len(digests)}I", len(digests), *digests)
    return head + code


class _TablesAhead:
    """The encoder's LSTM tables one step ahead, in a thread: the encoder knows every byte, so
    the LSTM (which reads only the bytes) can compute step t + 1 while the context models code
    step t (numpy's matrix products and the compiled kernels release the GIL; on two cores a
    block with the LSTM codes in about the time of the slower of the two). The engine steps in
    the same order from the same bytes: the same tables, the same bits. Not with an adapting
    LSTM, whose weights follow the coding."""

    def __init__(self, engine, buf, starts, steps: int, last: int, state):
        from concurrent.futures import ThreadPoolExecutor
        self.engine, self.buf, self.starts, self.steps, self.last, self.state = \
            engine, buf, starts, steps, last, state
        self.pool = ThreadPoolExecutor(1)
        self.next = self.pool.submit(self._step, np.full(len(starts), START_BYTE, np.int64), 0)

    def _lanes(self, t: int) -> int:
        return len(self.starts) if t < self.steps - 1 else self.last

    def _step(self, prev, t: int):
        return self.engine.step(prev[:self._lanes(t)], self.state)

    def get(self, t: int):
        """Step t's tables (lanes, 256); starts step t + 1."""
        freq = self.next.result()
        if t + 1 < self.steps:
            prev = self.buf[self.starts[:self._lanes(t)] + t].astype(np.int64)
            self.next = self.pool.submit(self._step, prev, t + 1)
        return freq

    def close(self) -> None:
        self.pool.shutdown(wait=True)


# The cm coder's finest probability is 4095/4096 (kernel.code_bit; p is clamped to 1..4095), so
# one coded bit narrows the coder's interval R (x2 - x1 + 1) to at most R*4095/4096 + 1/4096,
# i.e. by a factor of at most (4095*4096 + 1) / 4096**2 once R > 4096 and at most (R-1)/R below;
# each code byte widens it by exactly 256; R starts at 2**32 and ends >= 2. An honest code of
# n bytes (8n bits) is therefore longer than n * CM_MIN_CODE_PER_BYTE bytes (~0.00035: 8 MiB
# needs 2.9 KB), and a payload shorter than that is forged: refused before any work.
CM_PROB_BITS = 12
CM_MIN_CODE_PER_BYTE = math.log2(4 ** CM_PROB_BITS / ((2 ** CM_PROB_BITS - 1) * 2 ** CM_PROB_BITS + 1))
CM_MAX_DEEP_SAMPLES = (1 << ADAPT_DEEP_WINDOW_LOG2) * MAX_USER_STREAMS   # window x streams, deep


def _check_cm_block(params: CMParams, n: int, streams: int, code_len: int, digests: int = 0) -> None:
    """Refuse a cm block (n bytes in `streams` streams, `code_len` bytes of arithmetic code after
    the parameters and digests) whose layout no compressor of this version writes, before
    anything is allocated for it: what a block may allocate is bounded by what its payload could
    plausibly need. Every bound holds for every block a Compressor writes (docs/limits.md)."""
    if code_len < n * CM_MIN_CODE_PER_BYTE:
        raise LstmzipError(f"cm code of {code_len} bytes is too short for {n} bytes (at least "
                           f"{math.ceil(n * CM_MIN_CODE_PER_BYTE)} needed)")
    if streams > MAX_USER_STREAMS:           # Compressor: at most 1024 (auto: at most 256)
        raise LstmzipError(f"cm block claims {streams} streams; a compressor writes at most {MAX_USER_STREAMS}")
    if not params.fits(n):                   # tables no larger than the compressor picks for n bytes
        raise LstmzipError(f"cm tables too large for a block of {n} bytes")
    if params.adapt.on:
        window = 1 << params.adapt_window_log2
        if params.adapt.deep and window * streams > CM_MAX_DEEP_SAMPLES:   # BPTT holds a window
            raise LstmzipError(f"cm adaptation window of {window} steps x {streams} streams exceeds "
                               f"what a compressor writes ({CM_MAX_DEEP_SAMPLES} samples)")
        steps = -(-n // streams)                 # one update per full window, a digest per 64
        if digests != steps // window // DIGEST_EVERY:
            raise LstmzipError(f"cm digest count {digests} does not match the block's {steps} steps "
                               f"({steps // window // DIGEST_EVERY} expected)")


def cm_decode(engine, payload: bytes, n: int, s: int, progress: Progress = None) -> bytes:
    params = CMParams.unpack(payload)
    at = params.packed_len
    regions = None
    if params.models & MODEL_BITS["struct"]:
        regions, at = regions_table.unpack(payload, at, n)
    digests = []
    if params.adapt.on:
        if len(payload) < at + 4:
            raise LstmzipError("cm digests truncated")
        count = struct.unpack_from("<I", payload, at)[0]
        if len(payload) < at + 4 + 4 * count:
            raise LstmzipError("cm digests truncated")
        digests = list(struct.unpack_from(f"<{count}I", payload, at + 4))
        at += 4 + 4 * count
    _check_cm_block(params, n, s, len(payload) - at, len(digests))      # before any allocation
    from .cm.kernel import DECODE
    starts, steps, last = stream_layout(n, s)
    buf = np.zeros(n, np.uint8)
    code = np.frombuffer(payload, np.uint8, offset=at).copy()
    pred = _predictor(params, starts, buf, code, DECODE,
                      regions_table.as_array(regions) if regions is not None else None)
    state = engine.initial_state(s)
    prev = np.full(s, START_BYTE, np.int64)
    uniform = np.full((s, 256), 256, np.int64)
    adapter, checked, twin = _adapter(engine, params), 0, _twin(engine, params, s)
    try:
        if _without_lstm(params):
            _cm_steps_compiled(pred, steps, s, last, progress)
        elif params.v2 and adapter is None and twin is None and s >= 2 * PIPE_MIN_LANES \
                and engine.backend == "numpy":        # (v1's kernel codes lanes 0..n-1 only)
            with engine.parallel():
                _cm_decode_halves(engine, pred, buf, starts, steps, last, state, progress)
        else:
            with engine.parallel():
                for t in range(steps):
                    lanes = s if t < steps - 1 else last
                    freq, own = _cm_freq(engine, params, prev, state, lanes, uniform, twin)
                    pred.step(t, lanes, freq, own)
                    if pred.cs[pred.k.C_OVER]:          # the code ran out: never decode on past it
                        raise LstmzipError(f"cm code ends before the block (step {t} of {steps})")
                    prev = buf[starts[:lanes] + t].astype(np.int64)
                    if adapter and adapter.record(engine.top_output(state, lanes), own, prev, state) \
                            and adapter.updates % DIGEST_EVERY == 0:
                        if checked >= len(digests) or adapter.digest() != digests[checked]:
                            raise LstmzipError(f"adapted weights differ from the encoder's after update "
                                               f"{adapter.updates} (step {t})")
                        checked += 1
                    if progress and (t % 64 == 63 or t == steps - 1):
                        progress(lanes * (t % 64 + 1))
    finally:
        if adapter:
            adapter.restore()
        pred.release()          # an error's traceback keeps this frame: let the tables go now
    if checked != len(digests):
        raise LstmzipError("cm digest count mismatch")
    if pred.cs[pred.k.C_POS] != len(code):          # the decoder must end exactly where the code does
        raise LstmzipError("cm code length mismatch")
    return regions_table.inverse(buf.tobytes(), regions) if regions is not None else buf.tobytes()


PIPE_MIN_LANES = 8      # the decoder splits a step's lanes in two halves from 16 lanes on


def _cm_decode_halves(engine, pred, buf, starts, steps: int, last: int, state, progress: Progress) -> None:
    """The decoder's steps with the LSTM, its work overlapped with the context models'.

    The lanes are cut in halves A and B. While the context models decode step t of half A, a
    thread runs the LSTM's step t for half B; while they decode half B, the thread runs step
    t + 1 for half A, whose bytes of step t are known by then. Rows of the LSTM are independent
    and a step's lanes coded in two calls (A, then B) code as in one: the same bits as the plain
    loop, in about the time of the slower of the two parts on two cores."""
    from concurrent.futures import ThreadPoolExecutor
    s = len(starts)
    half = s // 2
    parts = ((0, half), (half, s))
    sub = [EngineState([x[a:b] for x in state.xs], [c[a:b] for c in state.cs]) for a, b in parts]

    def rows(k: int, t: int) -> tuple:
        """Lanes (first, end) of half k at step t (the last step may have fewer lanes)."""
        a, b = parts[k]
        lanes = s if t < steps - 1 else last
        return a, min(b, lanes)

    def lstm(k: int, t: int, prev):
        a, b = rows(k, t)
        return engine.step(prev[:b - a], sub[k]) if b > a else None

    start = np.full(s, START_BYTE, np.int64)
    with ThreadPoolExecutor(1) as pool:
        pending = [pool.submit(lstm, 0, 0, start[:half]), pool.submit(lstm, 1, 0, start[half:])]
        for t in range(steps):
            for k in (0, 1):
                freq = pending[k].result()
                a, b = rows(k, t)
                if b > a:
                    pred.step(t, b, freq, freq, a)
                    if pred.cs[pred.k.C_OVER]:          # the code ran out: never decode on past it
                        raise LstmzipError(f"cm code ends before the block (step {t} of {steps})")
                if t + 1 < steps:
                    prev = buf[starts[a:b] + t].astype(np.int64)
                    pending[k] = pool.submit(lstm, k, t + 1, prev)
            if progress and (t % 64 == 63 or t == steps - 1):
                progress((s if t < steps - 1 else last) * (t % 64 + 1))


# ---- whole files ------------------------------------------------------------------------

def _choice_models(names) -> tuple:
    """The models of a choice (names, paths or Models) that resolve, in order; () if fewer than two."""
    found = []
    for name in names:
        try:
            m = resolve(name)
        except LstmzipError:                     # (a model taken out of the installation)
            continue
        if all(m.sha256 != f.sha256 for f in found):
            found.append(m)
    return tuple(found) if len(found) > 1 else ()


def _choice_ref(model: Model) -> str:
    """How a worker finds a model of a choice: its name where that names it, else its path."""
    try:
        if resolve(model.name).sha256 == model.sha256:
            return model.name
    except LstmzipError:
        pass
    return str(model.path) if model.path else model.name


def _process_runner(workers: int):
    """Blocks in `workers` local processes (parallel.py), or None: this process codes them."""
    if workers == 1:
        return None
    from .parallel import ProcessRunner
    return ProcessRunner(workers)


class Compressor:
    """Reusable compressor: loads the model and builds the engine once.

    ``lstmzip.compress(data)`` is ``Compressor().compress(data)``; in a loop,
    build one Compressor and reuse it (loading a model is the expensive step).
    """

    def __init__(self, model=None, streams: int = 0, backend: str = "numpy", device: str = "auto",
                 block_size: int = 0, zstd_level: int = ZSTD_LEVEL,
                 methods=None, threads: int = 0, level: int = DEFAULT_LEVEL,
                 cm_models: Optional[int] = None, adapt=None, workers: int = 1,
                 runner=None, transform=None, lstm_auto: bool = True, choice=None):
        if level not in LEVELS:
            raise ValueError(f"level must be in 1..9, not {level!r}")
        method, _, level_block = LEVELS[level]
        block_size = block_size or level_block
        if not 1 <= block_size <= fmt.MAX_BLOCK_SIZE:
            raise ValueError(f"block_size must be in 1..{fmt.MAX_BLOCK_SIZE}")
        if not 0 <= streams <= MAX_USER_STREAMS:
            raise ValueError(f"streams must be in 0..{MAX_USER_STREAMS}")
        self.adapt = adapt_mode(adapt, level)          # None, "output" or "deep"
        if cm_models is None:                               # the level's models (adapting needs the LSTM)
            fast = level in NO_LSTM_LEVELS and not self.adapt
            cm_models = ALL_MODELS & ~MODEL_BITS["lstm"] & ~FAST_WITHOUT if fast else ALL_MODELS
        if method == "lstm" and self.adapt:                 # -1 --adapt: the LSTM alone, adapting
            method, cm_models = "cm", MODEL_BITS["lstm"]
        if methods is None:
            methods = (method, "zstd", "stored")
        unknown = set(methods) - set(METHODS)
        if unknown or not methods:
            raise ValueError(f"methods must be a non-empty subset of {', '.join(METHODS)}")
        if cm_models & ~ALL_MODELS:
            raise ValueError("cm_models must be a mask of cm.MODEL_BITS")
        if workers < 1:
            raise ValueError("workers must be >= 1")
        want_transform = transform_on(transform, level)
        if transform and "cm" not in methods:
            raise ValueError("transform needs the cm method (levels 2-9, or --adapt)")
        # try cm+dict on text-like blocks (coded by the context models: some must be switched on)
        self.transform = want_transform and "cm" in methods and bool(cm_models & ~MODEL_BITS["lstm"])
        self.level = level
        self.cm_models = cm_models
        self.lstm_auto = lstm_auto          # decide per block whether the LSTM runs (_lstm_plan, _lstm_pays)
        self.workers = workers
        self.runner = runner if runner is not None else _process_runner(workers)
        self.model: Model = resolve(model)
        # the models this compressor chooses among per input (choose_model); () = always self.model
        if choice is None:
            choice = CHOICE_LEVELS.get(level, ()) if model is None else ()
        lstm_chosen = "cm" in methods and cm_models & MODEL_BITS["lstm"] and lstm_auto and not self.adapt
        self.choice = _choice_models(choice) if lstm_chosen else ()
        if self.choice:
            self.model = self.choice[0]
        # what a worker process needs to build an identical compressor (parallel.py)
        self._worker_kwargs = dict(model=self.model, streams=streams, backend=backend, device=device,
                                   block_size=block_size, zstd_level=zstd_level, methods=methods,
                                   threads=1, level=level, cm_models=cm_models, adapt=adapt,
                                   transform=transform, lstm_auto=lstm_auto,
                                   choice=tuple(_choice_ref(m) for m in self.choice))
        self._engine_args = (backend, device, threads)
        self.engine = make_engine(self.model, backend, device, threads)
        self._engines = {self.model.sha256: self.engine}
        self._probed = {}                     # (engine, sample) -> _probe's cost, the last few
        self.streams = streams
        self.block_size = block_size
        self.methods = tuple(methods)
        # Of the last compress_stream: what zstd -19 alone would have taken, input bytes per method.
        self.stats = {"zstd_size": 0, "input_by_method": {}}
        self._zstd = zstandard.ZstdCompressor(level=zstd_level)

    # Write an input that fits one stored or zstd block as a compact member (format version 3,
    # see Framing); False: always the version 1/2 member (files for readers older than version 3).
    compact = True

    def framing(self, size: Optional[int]) -> "Framing":
        """The container around one input of `size` bytes (None: unknown) coded by this compressor."""
        return Framing(self, size)

    def header(self, size: Optional[int]) -> fmt.Header:
        # Files with only lstm/zstd/stored blocks stay readable by version-1 readers.
        return fmt.Header(streams=self.streams, block_size=self.block_size, size=size,
                          model_sha256=bytes.fromhex(self.model.sha256), model_name=self.model.name,
                          version=fmt.VERSION if "cm" in self.methods else 1)

    def compress_block(self, data: bytes, progress: Progress = None) -> bytes:
        """One block: the smallest of the model method (cm or lstm), zstd and stored, with its header;
        with ``self.transform`` a text-like block is coded by cm twice, raw and word-transformed
        (cm+dict), and the smaller kept.

        The model is not run where zstd's result shows it cannot matter (see SKIP_BELOW/ABOVE).
        """
        candidates = [(fmt.STORED, data, 0)]
        zstd = self._zstd.compress(data)
        self.stats["zstd_size"] += len(zstd)
        if "zstd" in self.methods:
            candidates.append((fmt.ZSTD, zstd, 0))
        model_methods = [m for m in ("cm", "lstm") if m in self.methods]
        if model_methods and self.methods != tuple(model_methods) \
                and not SKIP_BELOW * len(data) <= len(zstd) <= SKIP_ABOVE * len(data):
            model_methods = []                                # zstd obviously wins, or nothing can
        for name in model_methods:
            if name == "cm":
                candidates += self._cm_candidates(data, progress)
            else:
                s = choose_streams(len(data), self.streams)
                candidates.append((fmt.LSTM, lstm_encode(self.engine, data, s, progress), s))
            progress = None                                   # count each input byte once
        if progress:
            progress(len(data))
        # The smallest wins; on a tie the first listed (the simpler method). A method whose
        # payload would exceed the block itself is not allowed by the format: fall back to stored.
        candidates = [c for c in candidates if c[0] == fmt.STORED or len(c[1]) <= len(data)]
        method, payload, streams = min(candidates, key=lambda c: len(c[1]))
        by_method = self.stats["input_by_method"]
        by_method[fmt.METHOD_NAMES[method]] = by_method.get(fmt.METHOD_NAMES[method], 0) + len(data)
        head = fmt.BlockHeader(method, len(data), len(payload), streams, zlib.crc32(data))
        return head.pack() + payload

    def _cm_candidates(self, data: bytes, progress: Progress):
        """(method, payload, streams) of the block's cm codings, the later ones raced (race.py).

        The codings, in this order: cm+dict (the context models alone on the word-transformed
        block; with ``self.transform``, where the block is text-like), cm without the LSTM (one
        stream, fast), cm with the LSTM where it may pay (_lstm_plan). In a block of more than
        race.MIN_RACE bytes with the automatic stream count, the first runs in full and each
        later one is stopped once it is clearly behind the best finished one (race.stopper);
        otherwise every one runs in full. A stopped coding is not a candidate.
        """
        lstm = MODEL_BITS["lstm"]
        regions = block_regions(cm_params(self.level, len(data), self.cm_models), data)
        raw_models, lstm_after = self._lstm_plan(data, regions)
        mapped = transformed_map(data) if self.transform else None
        plan = []                                      # (method, block, models, raw_at)
        if mapped is not None:
            plan.append((fmt.CM_TEXT, mapped[0], self.cm_models & ~lstm, mapped[1]))
        plan.append((fmt.CM, data, raw_models, None))
        racing = len(data) > race.MIN_RACE and self.streams == 0
        report = _share_progress(progress, len(data), len(data) * (len(plan) + lstm_after))
        out, ref, raw_prof = [], None, None        # ref: the best finished one-stream Profile
        for method, block, models, raw_at in plan:
            s = choose_cm_streams(len(block), self.streams, models & lstm)
            payload, prof, stopped = self._race_one(block, s, models, regions if method == fmt.CM else None,
                                                    ref if racing else None, raw_at, report)
            if method == fmt.CM:
                raw_prof = prof                        # (the probe's yardstick, even if stopped)
            if stopped:
                continue
            if payload is not None:
                if method == fmt.CM_TEXT:
                    payload = fmt.TRANSFORM_HEAD.pack(wordtf.TRANSFORM_ID, len(block)) + payload
                out.append((method, payload, s))
            if prof is not None and (ref is None or prof.total < ref.total):
                ref = prof
        if lstm_after:
            if self._lstm_pays(data, raw_prof if self.streams == 0 else None):
                s = choose_cm_streams(len(data), self.streams, True)
                payload, _, stopped = self._race_one(data, s, self.cm_models, regions,
                                                     ref if racing else None, None, report)
                if not stopped and payload is not None:
                    out.append((fmt.CM, payload, s))
            elif report:
                report(len(data))
        return out

    def _race_one(self, block: bytes, s: int, models: int, regions, ref, raw_at, report):
        """One coding of a block (raw, or word-transformed with raw_at its forward_map) in s
        streams: (payload, or None if larger than the block; its Profile if one stream, as far as
        it went if stopped; whether it was stopped against ``ref``). Without a ref it runs in
        full; a one-stream coding is not stopped before LSTM_SAMPLE steps (the LSTM probe reads
        the raw coding's cost of bytes up to there). ``report`` counts the raw bytes of the
        block once per coding, stopped or not."""
        raw_len = len(block) if raw_at is None else raw_at[0][-1]
        done = [0]

        def count(n: int) -> None:
            done[0] += n
            report(n)
        progress = _share_progress(count, raw_len, len(block)) if report else None
        params = cm_params(self.level, len(block), models, self.adapt)
        starts, steps, _ = stream_layout(len(block), s)
        marks, check = (race.profile_marks(steps, raw_at) if s == 1 else {}), None
        if ref is not None:
            covered = race.one_stream(raw_at) if s == 1 else race.lockstep(starts, len(block))
            margins = race.ONE_STREAM_MARGINS if s == 1 else race.LSTM_MARGINS
            check_marks, check = race.stopper(ref, steps, covered, margins, LSTM_SAMPLE if s == 1 else 1)
            marks.update(check_marks)
        name = ("cm+dict" if raw_at is not None else "cm") + ("+lstm" if models & MODEL_BITS["lstm"] else "")
        try:
            payload = cm_encode(self.engine, block, s, params, progress, marks or None, regions, check)
        except race.Stopped as stop:
            self.stats.setdefault("codings", []).append((name, stop.args[0] / steps))
            if report and done[0] < raw_len:
                report(raw_len - done[0])
            return None, race.partial(marks, raw_at) if s == 1 else None, True
        self.stats.setdefault("codings", []).append((name, 1.0))
        if s != 1 or payload is None:
            return payload, None, False
        return payload, race.profile(marks, steps, len(payload), raw_at), False

    def _lstm_plan(self, data: bytes, regions):
        """(the models of the raw coding, whether a coding with the LSTM may follow it).

        The raw block is coded without the LSTM (one stream, fast) unless the LSTM is not
        decided per block (switched off or alone in the models, ``lstm_auto`` off, adapting
        blocks: then the models as given). A block whose regions are mostly not text
        (executables, images, tables, numbers) never gets the LSTM: it is trained on text and
        costs such blocks 2-8x the time."""
        lstm = MODEL_BITS["lstm"]
        if not self.cm_models & lstm or self.cm_models == lstm or not self.lstm_auto or self.adapt:
            return self.cm_models, False
        if regions and text_share(regions, len(data)) < LSTM_MIN_TEXT:
            return self.cm_models & ~lstm, False
        return self.cm_models & ~lstm, True

    def _lstm_pays(self, block: bytes, ref) -> bool:
        """Whether to code the block with the LSTM too. Yes for a block of at most LSTM_SAMPLE
        bytes, or when the streams are the user's (nothing to measure against); else if the
        LSTM saves more than LSTM_MIN_GAIN on the second half of the block's first LSTM_SAMPLE
        bytes (coded with it as a probe; the first half warms the models up) against what the
        raw coding without it (``ref``, its profile) spent on the same bytes. (Not against the
        transformed coding: like the LSTM it gains most early, so against it the probe said no
        where the LSTM coding would have won; a wrong yes costs only the race's first checks.)
        No probe, and no, where the raw coding spent under LSTM_MIN_BPB bits/byte on those bytes:
        where the context models are that sure, the LSTM has nothing to add."""
        if len(block) <= LSTM_SAMPLE or ref is None or ref.raw[-1] < LSTM_SAMPLE:
            return True
        half = LSTM_SAMPLE // 2
        without = ref.spent(np.array([half]), np.array([LSTM_SAMPLE]))
        if 8 * without < LSTM_MIN_BPB * half:
            self.stats.setdefault("lstm_unprobed", []).append(without)
            return False
        with_lstm = self._probe(self.engine, block[:LSTM_SAMPLE])
        self.stats.setdefault("lstm_sample", []).append((with_lstm, without))
        return with_lstm < (1 - LSTM_MIN_GAIN) * without

    def _probe(self, engine, sample: bytes) -> int:
        """What coding `sample` (at most LSTM_SAMPLE bytes) with the LSTM of `engine` spends on
        the second half of its lockstep steps, in bytes: the LSTM probe."""
        key = (id(engine), len(sample), zlib.crc32(sample))
        if key in self._probed:              # (choose_model probed the first block's sample)
            return self._probed[key]
        s = choose_cm_streams(len(sample))
        mid = stream_layout(len(sample), s)[1] // 2
        probe_marks = {mid: None}
        params = cm_params(self.level, len(sample), self.cm_models)
        params, sample_regions = struct_plan(params, sample)
        probe = cm_encode(engine, sample, s, params, marks=probe_marks, regions=sample_regions)
        head = len(cm_head(params, sample_regions))
        cost = len(probe) - head - probe_marks[mid] if probe else len(sample)
        self._probed = {key: cost} if len(self._probed) > 3 else {**self._probed, key: cost}
        return cost

    def choose_model(self, block: bytes) -> Model:
        """Choose the model that codes an input from its first block (with ``self.choice``: level
        9 without a model given; else keep ``self.model``) and use it from now on. The first
        model unless another one's LSTM probe (_probe, on the block's first LSTM_SAMPLE bytes)
        spends less; not probed where the block is short, mostly not text, or left to zstd."""
        if not self.choice:
            return self.model
        self._use(self.choice[0].sha256)
        sample = block[:LSTM_SAMPLE]
        if len(sample) < CHOICE_MIN or not SKIP_BELOW * len(sample) <= len(self._zstd.compress(sample)) <= SKIP_ABOVE * len(sample):
            return self.model
        regions = block_regions(cm_params(self.level, len(sample), self.cm_models), sample)
        if regions and text_share(regions, len(sample)) < LSTM_MIN_TEXT:
            return self.model
        costs = [self._probe(self._engine_for(m), sample) for m in self.choice]
        best = min(range(len(costs)), key=costs.__getitem__)        # (a tie: the first)
        self.stats["model_probe"] = {m.name: c for m, c in zip(self.choice, costs)}
        self._use(self.choice[best].sha256)
        return self.model

    def _engine_for(self, model: Model):
        if model.sha256 not in self._engines:
            self._engines[model.sha256] = make_engine(model, *self._engine_args)
        return self._engines[model.sha256]

    def _use(self, sha256: Optional[str]) -> None:
        """Code with the chosen model of sha256 (one of ``self.choice``; None: no change)."""
        if sha256 is None or sha256 == self.model.sha256:
            return
        for m in self.choice:
            if m.sha256 == sha256:
                self.model, self.engine = m, self._engine_for(m)
                return
        raise LstmzipError(f"model with sha256 {sha256[:16]}… is not among the models this compressor "
                           f"chooses from ({', '.join(m.name for m in self.choice) or 'none'})")

    def compress_stream(self, src: BinaryIO, dst: BinaryIO, size: Optional[int] = None,
                        progress: Progress = None) -> int:
        """Compress src to dst block by block; returns the number of input bytes."""
        self.stats = {"zstd_size": 0, "input_by_method": {}}
        first = src.read(self.block_size)
        chosen = self.choose_model(first).sha256 if self.choice else None
        frame = self.framing(size)
        dst.write(frame.start())
        total, sha = 0, hashlib.sha256()

        def blocks():
            nonlocal total
            block = first
            while block:
                total += len(block)
                sha.update(block)
                yield block
                block = src.read(self.block_size)

        if self.runner is None:
            for block in blocks():
                dst.write(frame.block(self.compress_block(block, progress)))
        else:
            jobs = ((block, chosen) for block in blocks())
            for coded, n, stats in self.runner.ordered(Compressor, self._worker_kwargs,
                                                       "compress_block_with_stats", jobs):
                dst.write(frame.block(coded))
                self._add_stats(stats)
                if progress:
                    progress(n)
        if size is not None and total != size:
            raise LstmzipError(f"input changed while reading ({size} bytes expected, {total} read)")
        dst.write(frame.end(total, sha.digest()))
        return total

    def compress_block_with_stats(self, data: bytes, model_sha256: Optional[str] = None):
        """compress_block for a worker process: (coded block, input length, this block's stats);
        model_sha256: the model its input was given by choose_model (None: this one's)."""
        self.stats = {"zstd_size": 0, "input_by_method": {}}
        self._use(model_sha256)
        return self.compress_block(data), len(data), self.stats

    def _add_stats(self, stats) -> None:
        self.stats["zstd_size"] += stats["zstd_size"]
        for name, n in stats["input_by_method"].items():
            self.stats["input_by_method"][name] = self.stats["input_by_method"].get(name, 0) + n

    def compress(self, data: bytes) -> bytes:
        out = io.BytesIO()
        self.compress_stream(io.BytesIO(data), out, size=len(data))
        return out.getvalue()


class Framing:
    """The bytes around one input's coded blocks, written in order: start(), block(coded) for
    each block, end(total, sha256). An input known to fit one block whose block comes out stored
    or zstd (every small input: the model is skipped below ~100 bytes) becomes a compact member,
    format version 3: 18 bytes of header and a 1-byte end record instead of 57 + name + 4 and 45,
    because no model is needed to decode it and the block's CRC-32 covers all of its data. Any
    other input gets the version 1/2 header (with the model's identity) and end record (with the
    length and SHA-256). docs/format.md says why; cluster.run_files frames its files with this
    too, so its outputs stay byte-identical to one process."""

    def __init__(self, comp: Compressor, size: Optional[int]):
        self.comp, self.size = comp, size
        small = comp.compact and size is not None and size <= comp.block_size
        self.compact = None if small else False          # None: decided by the first block

    def start(self) -> bytes:
        self.full = self.comp.header(self.size)       # (the model chosen for this input: kept,
        return b"" if self.compact is None else self.full.pack()   # the compressor may move on)

    def block(self, coded: bytes) -> bytes:
        if self.compact is None:
            self.compact = fmt.COMPACT_VERSION if coded[0] in fmt.COMPACT_METHODS else fmt.COMPACT_MODEL_VERSION
            return self._header() + coded
        return coded          # (a second block means the input grew: compress_stream refuses it)

    def end(self, total: int, sha256: bytes) -> bytes:
        head = b""
        if self.compact is None:                         # no block: the empty input
            self.compact = fmt.COMPACT_VERSION
            head = self._header()
        short = {False: sha256, fmt.COMPACT_VERSION: None, fmt.COMPACT_MODEL_VERSION: sha256[:fmt.SHORT_SHA_LEN]}
        return head + fmt.End(total, short[self.compact]).pack()

    def _header(self) -> bytes:
        if not self.compact:
            return self.full.pack()
        if self.compact == fmt.COMPACT_MODEL_VERSION:
            return dataclasses.replace(self.full, version=fmt.COMPACT_MODEL_VERSION).pack()
        return fmt.Header(streams=0, block_size=max(self.size, 1), size=self.size, model_sha256=None,
                          model_name="", version=fmt.COMPACT_VERSION).pack()


def _zstd_decode(payload: bytes, raw_len: int, where: str) -> bytes:
    """A zstd frame, never asking for more than raw_len bytes whatever its header declares."""
    try:
        reader = zstandard.ZstdDecompressor().stream_reader(io.BytesIO(payload))
        data = reader.read(raw_len + 1)
        while len(data) <= raw_len:
            more = reader.read(raw_len + 1 - len(data))
            if not more:
                break
            data += more
    except zstandard.ZstdError as exc:
        raise LstmzipError(f"corrupted {where} (zstd: {exc})") from None
    if len(data) != raw_len:
        raise LstmzipError(f"corrupted {where} (zstd frame length differs from the block's)")
    return data


class Decompressor:
    """Mirror of Compressor. The model comes from the file's header (a shipped model with that
    identity) unless one is given; it is needed only if the file has lstm blocks."""

    def __init__(self, model=None, backend: str = "numpy", device: str = "auto", threads: int = 0,
                 workers: int = 1, runner=None):
        if workers < 1:
            raise ValueError("workers must be >= 1")
        self.workers = workers
        self.runner = runner if runner is not None else _process_runner(workers)
        self._worker_kwargs = dict(model=model, backend=backend, device=device, threads=1)
        self._model_arg = model
        self.backend, self.device, self.threads = backend, device, threads
        self._engines = {}

    def _engine_for(self, header: fmt.Header):
        sha = header.model_sha256.hex()
        if sha not in self._engines:
            model = self._find_model(header)
            self._engines[sha] = make_engine(model, self.backend, self.device, self.threads)
        return self._engines[sha]

    def _find_model(self, header: fmt.Header) -> Model:
        sha = header.model_sha256.hex()        # (a compact model file: its first 16 digits)
        need = f"model {header.model_name!r} (sha256 {sha[:16]}…)"
        if self._model_arg is not None:
            model = resolve(self._model_arg)
            if not model.sha256.startswith(sha):
                raise LstmzipError(f"file needs {need}, but model {model.name!r} "
                                   f"(sha256 {model.sha256[:16]}…) was given")
            return model
        model = find_by_sha256(sha, header.model_name)
        if model is None:
            raise LstmzipError(f"file needs {need}, which is not installed; pass it with -m PATH")
        return model

    def blocks(self, src: BinaryIO, members: bool = False) -> Iterator:
        """(header, block_header_or_end, payload) for each block, checked but not decoded; each
        member's End record follows its blocks. With `members`, lstmzip files one after another
        (`cat a.lstmz b.lstmz`) are read as one stream of members, each with its own header (a
        new object) and End, which the caller verifies (End.verify); blocks are numbered across
        members. Anything after an end record but nothing or another member's magic is an error."""
        header = fmt.read_header(src)
        index = in_member = 0
        while True:
            bh = fmt.read_block_header(src, header, index)
            if not isinstance(bh, fmt.End):
                if header.version in fmt.COMPACT_VERSIONS and in_member:
                    raise LstmzipError(f"corrupted block {index} (a compact file holds one block)")
                payload = fmt.read_exact(src, bh.payload_len, f"block {index}")
                yield header, bh, payload
                index, in_member = index + 1, in_member + 1
                continue
            more = src.read(len(fmt.MAGIC))
            if more and (not members or more != fmt.MAGIC):
                raise LstmzipError("trailing data after the end of the file")
            yield header, bh, b""
            if not more:
                return
            header, in_member = fmt.read_header(src, start=more), 0

    def decode_block(self, header: fmt.Header, bh: fmt.BlockHeader, payload: bytes, index: int,
                     progress: Progress = None) -> bytes:
        where = f"block {index}"
        if bh.method == fmt.STORED:
            data = payload
        elif bh.method == fmt.ZSTD:
            data = _zstd_decode(payload, bh.raw_len, where)
        else:
            if bh.method == fmt.CM_TEXT:
                tlen = _transform_head(payload, bh.raw_len, bh.streams, where)
            engine = self._engine_for(header)
            failure = None
            try:
                if bh.method == fmt.CM:
                    data = cm_decode(engine, payload, bh.raw_len, bh.streams, progress)
                elif bh.method == fmt.CM_TEXT:
                    coded = cm_decode(engine, payload[fmt.TRANSFORM_HEAD.size:], tlen, bh.streams,
                                      _share_progress(progress, bh.raw_len, tlen))
                    data = wordtf.inverse(coded, bh.raw_len)          # never more than the block
                    del coded
                else:
                    data = lstm_decode(engine, payload, bh.raw_len, bh.streams, progress)
            except LstmzipError as exc:
                failure = str(exc)
            if failure is not None:     # raised here, not in the except: no __context__ keeps the
                raise LstmzipError(f"corrupted {where} ({failure})")   # decoder's frames (and tables)
        if len(data) != bh.raw_len or zlib.crc32(data) != bh.raw_crc32:
            raise LstmzipError(f"corrupted {where} (checksum mismatch)")
        return data

    def decompress_stream(self, src: BinaryIO, dst: BinaryIO, progress: Progress = None,
                          on_member: Optional[Callable[[fmt.Header], None]] = None) -> int:
        """Decode src to dst, verifying every checksum; returns the number of bytes written.
        Concatenated files decode to the concatenated data, each member verified on its own;
        `on_member` is called with each member's header as it is read (a progress bar's total)."""
        total = 0
        # In stream order, read ahead of the decoding (workers): a block's method for each block,
        # (header, end) for each member's end; the decoded data is checked against them in order.
        order = collections.deque()

        def jobs():
            member, announced, found, index = None, 0, set(), 0
            for header, bh, payload in self.blocks(src, members=True):
                if header is not member:
                    member, announced = header, 0
                    if on_member:
                        on_member(header)
                if isinstance(bh, fmt.End):
                    order.append((header, bh))
                    continue
                if header.size is not None and announced + bh.raw_len > header.size:
                    raise LstmzipError(f"corrupted block {index} (more data than the header announced)")
                announced += bh.raw_len
                order.append(bh.method)
                if self.runner is not None and bh.method in fmt.MODEL_METHODS \
                        and header.model_sha256 not in found:
                    self._find_model(header)          # a missing model: one clear error, here
                    found.add(header.model_sha256)
                yield header, bh, payload, index
                index += 1

        if self.runner is None:
            decoded = (self.decode_block(*job, progress) for job in jobs())
        else:
            decoded = self.runner.ordered(Decompressor, self._worker_kwargs, "decode_block", jobs())
        member_total, sha = 0, hashlib.sha256()

        def settle() -> None:        # verify the members that ended before the next block
            nonlocal member_total, sha
            while order and isinstance(order[0], tuple):
                header, end = order.popleft()
                end.verify(header, member_total, sha.digest())
                member_total, sha = 0, hashlib.sha256()

        for data in decoded:
            settle()
            method = order.popleft()
            if progress and (self.runner is not None or method not in fmt.MODEL_METHODS):
                progress(len(data))      # (model blocks report their own progress in one process)
            member_total += len(data)
            total += len(data)
            sha.update(data)
            dst.write(data)
        settle()
        return total

    def decompress(self, data: bytes) -> bytes:
        out = io.BytesIO()
        self.decompress_stream(io.BytesIO(data), out)
        return out.getvalue()
