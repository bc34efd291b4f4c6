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

import hashlib
import io
import struct
import zlib
from typing import BinaryIO, Callable, Iterator, Optional

import numpy as np
import zstandard

from . import format as fmt
from . import transform as wordtf
from .cm import ALL_MODELS, MODEL_BITS, PARAMS_LEN, TWIN, CMParams
from .coder import Decoder, Encoder
from .engine import START_BYTE, make_engine
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
ZSTD_LEVEL = 19
METHODS = ("cm", "lstm", "zstd", "stored")     # block methods a Compressor may choose from
DEFAULT_LEVEL = 6

# Levels, like xz/zstd: the model method, its table size (memory) and the block size.
#   level: (method, log2 of the cm counter table's entries (4 bytes each), block size)
LEVELS = {
    1: ("lstm", 0, 1 << 20),      # the static LSTM alone (fastest)
    2: ("cm", 22, 1 << 20),       # 16 MB of counters
    3: ("cm", 23, 1 << 20),
    4: ("cm", 24, 1 << 20),
    5: ("cm", 25, 1 << 20),
    6: ("cm", 26, 2 << 20),       # default: 256 MB of counters
    7: ("cm", 26, 4 << 20),
    8: ("cm", 27, 8 << 20),
    9: ("cm", 28, 16 << 20),      # 1 GB of counters
}
# Skip the model where zstd obviously wins or nothing can: a zstd payload under 1/64 of the
# block leaves the model at most 1.6 % of the block to gain; one above 99 % means noise.
SKIP_BELOW, SKIP_ABOVE = 1 / 64, 0.99


ADAPT_WINDOW_LOG2, ADAPT_LR_SHIFT = 2, 5   # chosen on alice29[:100K], 32 streams (docs/adapt.md)
ADAPT_DEEP_WINDOW_LOG2, ADAPT_DEEP_SHIFT = 4, 7   # every layer: windows of 16 steps, rate 2**-7 (chosen
                                                  # on reymont, paper1, alice29: docs/adapt.md)
ADAPT_MODES = ("output", "deep")           # what adapts: the output layer, or every layer
LEVEL9_ADAPT = None                        # -9 keeps the LSTM static: every layer adapting gave +0.04 % on
                                           # enwik6 at 4x the time (bench/RESULTS.md section 7)
DIGEST_EVERY = 64                          # adaptive blocks: a digest of the weights every 64 windows

# cm+dict (docs/transform.md): levels that code a text-like block both raw and word-transformed
# and keep the smaller, unless told; "text-like" = the transform leaves at most 0.95 of the bytes
# (prose, markup, source: 0.62-0.93; binary data: 1.08-1.45, every reserved byte escaped).
TRANSFORM_LEVELS = (9,)
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
    need = max(16, (512 * block_len).bit_length())       # no more than a block can fill
    mbits = min(24, max(12, block_len.bit_length() + 1))
    mode = adapt_mode(adapt or False, level) if models & MODEL_BITS["lstm"] else None
    if mode == "deep":
        models |= TWIN                  # the static model stays an input (RESULTS.md section 7)
    window = (ADAPT_DEEP_WINDOW_LOG2 if mode == "deep" else ADAPT_WINDOW_LOG2) if mode else 0
    return CMParams(level, models, max(16, min(tbits, need)), mbits, window,
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
    coded = wordtf.forward(data)
    return coded if len(coded) <= TRANSFORM_MAX_RATIO * len(data) else None


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


def choose_cm_streams(n: int, streams: int = 0) -> int:
    """Streams for a cm block: few and long (the models learn across them), but a small input
    is cut into up to CM_SMALL_MAX streams so it takes no more than CM_SMALL_STEPS steps."""
    if streams:
        return max(1, min(streams, n))
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


def _predictor(params: CMParams, starts, buf, code, mode):
    """The block's predictor, or one clear line when its tables cannot be had."""
    from .cm import Predictor
    try:
        return Predictor(params, starts, buf, code, mode)
    except MemoryError:
        raise LstmzipError(f"not enough memory for a level-{params.level} block: its tables need "
                           f"{params.memory(len(starts)) / 2**20:.0f} MB") from None


def cm_encode(engine, data: bytes, s: int, params: CMParams, progress: Progress = None):
    """The cm payload of a block (parameters, weight digests, code), or None if it would
    exceed the block."""
    from .cm.kernel import ENCODE
    starts, steps, last = stream_layout(len(data), s)
    buf = np.frombuffer(data, np.uint8).copy()
    pred = _predictor(params, starts, buf, np.empty(len(data) + 64, np.uint8), ENCODE)
    state = engine.initial_state(s)
    prev = np.full(s, START_BYTE, np.int64)
    uniform = np.full((s, 256), 256, np.int64)
    adapter, digests, twin = _adapter(engine, params), [], _twin(engine, params, s)
    try:
        with engine.parallel():
            for t in range(steps):
                lanes = s if t < steps - 1 else last
                freq, own = _cm_freq(engine, params, prev, state, lanes, uniform, twin)
                pred.step(t, lanes, freq, own)
                prev = buf[starts[:lanes] + t].astype(np.int64)
                if adapter and adapter.record(engine.top_output(state, lanes), own, prev, state) \
                        and adapter.updates % DIGEST_EVERY == 0:
                    digests.append(adapter.digest())
                if progress and (t % 64 == 63 or t == steps - 1):
                    progress(lanes * (t % 64 + 1))
    finally:
        if adapter:
            adapter.restore()
        pred.release()
    code = pred.finish()
    if code is None:
        return None
    head = params.pack()
    if adapter:
        head += struct.pack(f"<I{len(digests)}I", len(digests), *digests)
    return head + code


def cm_decode(engine, payload: bytes, n: int, s: int, progress: Progress = None) -> bytes:
    from .cm.kernel import DECODE
    params = CMParams.unpack(payload)
    if not params.fits(n):
        raise LstmzipError(f"cm tables too large for a block of {n} bytes")
    at = PARAMS_LEN
    digests = []
    if params.adapt.on:
        if len(payload) < at + 4:
            raise LstmzipError("cm digests truncated")
        count = struct.unpack_from("<I", payload, at)[0]
        if len(payload) < at + 4 + 4 * count:
            raise LstmzipError("cm digests truncated")
        digests = list(struct.unpack_from(f"<{count}I", payload, at + 4))
        at += 4 + 4 * count
    starts, steps, last = stream_layout(n, s)
    buf = np.zeros(n, np.uint8)
    code = np.frombuffer(payload, np.uint8, offset=at).copy()
    pred = _predictor(params, starts, buf, code, DECODE)
    state = engine.initial_state(s)
    prev = np.full(s, START_BYTE, np.int64)
    uniform = np.full((s, 256), 256, np.int64)
    adapter, checked, twin = _adapter(engine, params), 0, _twin(engine, params, s)
    try:
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
    return buf.tobytes()


# ---- whole files ------------------------------------------------------------------------

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
                 cm_models: int = ALL_MODELS, adapt=None, workers: int = 1,
                 runner=None, transform=None):
        if level not in LEVELS:
            raise ValueError(f"level must be in 1..9, not {level!r}")
        method, _, level_block = LEVELS[level]
        block_size = block_size or level_block
        if not 1 <= block_size <= fmt.MAX_BLOCK_SIZE:
            raise ValueError(f"block_size must be in 1..{fmt.MAX_BLOCK_SIZE}")
        if not 0 <= streams <= MAX_USER_STREAMS:
            raise ValueError(f"streams must be in 0..{MAX_USER_STREAMS}")
        self.adapt = adapt_mode(adapt, level)          # None, "output" or "deep"
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
        self.transform = want_transform and "cm" in methods   # try cm+dict on text-like blocks
        self.level = level
        self.cm_models = cm_models
        self.workers = workers
        self.runner = runner if runner is not None else _process_runner(workers)
        self.model: Model = resolve(model)
        # what a worker process needs to build an identical compressor (parallel.py)
        self._worker_kwargs = dict(model=self.model, streams=streams, backend=backend, device=device,
                                   block_size=block_size, zstd_level=zstd_level, methods=methods,
                                   threads=1, level=level, cm_models=cm_models, adapt=adapt,
                                   transform=transform)
        self.engine = make_engine(self.model, backend, device, threads)
        self.streams = streams
        self.block_size = block_size
        self.methods = tuple(methods)
        # Of the last compress_stream: what zstd -19 alone would have taken, input bytes per method.
        self.stats = {"zstd_size": 0, "input_by_method": {}}
        self._zstd = zstandard.ZstdCompressor(level=zstd_level)

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
        tdata = transformed_block(data) if self.transform and "cm" in model_methods else None
        if tdata is not None:                                 # two passes: one progress bar
            progress = _share_progress(progress, len(data), len(data) + len(tdata))
        for name in model_methods:
            if name == "cm":
                candidates += self._cm_candidates(data, tdata, progress)
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

    def _cm_candidates(self, data: bytes, tdata: Optional[bytes], progress: Progress):
        """(method, payload, streams) of cm over the block and, if tdata, of cm+dict over tdata."""
        out = []
        for method, block in ((fmt.CM, data), (fmt.CM_TEXT, tdata)):
            if block is None:
                continue
            s = choose_cm_streams(len(block), self.streams)
            params = cm_params(self.level, len(block), self.cm_models, self.adapt)
            payload = cm_encode(self.engine, block, s, params, progress)
            if payload is None:                               # would exceed the block
                continue
            if method == fmt.CM_TEXT:
                payload = fmt.TRANSFORM_HEAD.pack(wordtf.TRANSFORM_ID, len(block)) + payload
            out.append((method, payload, s))
        return out

    def compress_stream(self, src: BinaryIO, dst: BinaryIO, size: Optional[int] = None,
                        progress: Progress = None) -> int:
        """Compress src to dst block by block; returns the number of input bytes."""
        self.stats = {"zstd_size": 0, "input_by_method": {}}
        dst.write(self.header(size).pack())
        total, sha = 0, hashlib.sha256()

        def blocks():
            nonlocal total
            while True:
                block = src.read(self.block_size)
                if not block:
                    return
                total += len(block)
                sha.update(block)
                yield block

        if self.runner is None:
            for block in blocks():
                dst.write(self.compress_block(block, progress))
        else:
            jobs = ((block,) for block in blocks())
            for coded, n, stats in self.runner.ordered(Compressor, self._worker_kwargs,
                                                       "compress_block_with_stats", jobs):
                dst.write(coded)
                self._add_stats(stats)
                if progress:
                    progress(n)
        if size is not None and total != size:
            raise LstmzipError(f"input changed while reading ({size} bytes expected, {total} read)")
        dst.write(fmt.End(total, sha.digest()).pack())
        return total

    def compress_block_with_stats(self, data: bytes):
        """compress_block for a worker process: (coded block, input length, this block's stats)."""
        self.stats = {"zstd_size": 0, "input_by_method": {}}
        return self.compress_block(data), len(data), self.stats

    def _add_stats(self, stats) -> None:
        self.stats["zstd_size"] += stats["zstd_size"]
        for name, n in stats["input_by_method"].items():
            self.stats["input_by_method"][name] = self.stats["input_by_method"].get(name, 0) + n

    def compress(self, data: bytes) -> bytes:
        out = io.BytesIO()
        self.compress_stream(io.BytesIO(data), out, size=len(data))
        return out.getvalue()


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
        sha = header.model_sha256.hex()
        need = f"model {header.model_name!r} (sha256 {sha[:16]}…)"
        if self._model_arg is not None:
            model = resolve(self._model_arg)
            if model.sha256 != sha:
                raise LstmzipError(f"file needs {need}, but model {model.name!r} "
                                   f"(sha256 {model.sha256[:16]}…) was given")
            return model
        model = find_by_sha256(sha, header.model_name)
        if model is None:
            raise LstmzipError(f"file needs {need}, which is not installed; pass it with -m PATH")
        return model

    def blocks(self, src: BinaryIO) -> Iterator:
        """(header, block_header_or_end, payload) for each block, checked but not decoded."""
        header = fmt.read_header(src)
        index = 0
        while True:
            bh = fmt.read_block_header(src, header, index)
            if isinstance(bh, fmt.End):
                if src.read(1):
                    raise LstmzipError("trailing data after the end of the file")
                yield header, bh, b""
                return
            payload = fmt.read_exact(src, bh.payload_len, f"block {index}")
            yield header, bh, payload
            index += 1

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

    def decompress_stream(self, src: BinaryIO, dst: BinaryIO, progress: Progress = None) -> int:
        """Decode src to dst, verifying every checksum; returns the number of bytes written."""
        total, sha, end, methods = 0, hashlib.sha256(), [], []
        announced = 0

        def jobs():
            nonlocal announced
            have_model = False
            for index, (header, bh, payload) in enumerate(self.blocks(src)):
                if isinstance(bh, fmt.End):
                    end.append((header, bh))
                    return
                if header.size is not None and announced + bh.raw_len > header.size:
                    raise LstmzipError(f"corrupted block {index} (more data than the header announced)")
                announced += bh.raw_len
                methods.append(bh.method)
                if self.runner is not None and bh.method in fmt.MODEL_METHODS and not have_model:
                    self._find_model(header)          # a missing model: one clear error, here
                    have_model = True
                yield header, bh, payload, index

        if self.runner is None:
            decoded = (self.decode_block(*job, progress) for job in jobs())
        else:
            decoded = self.runner.ordered(Decompressor, self._worker_kwargs, "decode_block", jobs())
        for k, data in enumerate(decoded):
            if progress and (self.runner is not None or methods[k] not in fmt.MODEL_METHODS):
                progress(len(data))      # (model blocks report their own progress in one process)
            total += len(data)
            sha.update(data)
            dst.write(data)
        header, bh = end[0]
        if bh.total_size != total or bh.sha256 != sha.digest():
            raise LstmzipError("corrupted file (whole-file checksum mismatch)")
        if header.size is not None and header.size != total:
            raise LstmzipError("corrupted file (length differs from the header)")
        return total

    def decompress(self, data: bytes) -> bytes:
        out = io.BytesIO()
        self.decompress_stream(io.BytesIO(data), out)
        return out.getvalue()
