"""Blocks, streams and method choice: compression and decompression as mirrored halves.

A block of n bytes is cut into S contiguous streams, longest first::

    block:   [ stream 0 .......... | stream 1 .......... | ... | stream S-1 ....... ]
    lengths:   q+1 (first r streams)                             q   (n = q*S + r)

    step t:  byte t of every stream, coded together: one engine step, one GEMM
             per layer with S rows. Only the last step (t = q) may have fewer
             active streams (the first r), always a prefix.

Both halves run the same loop: ask the engine for S frequency tables from the
previous bytes, then the encoder *puts* the true bytes / the decoder *gets* them.
Each block is stored as whichever is smallest of lstm, zstd (level 19) and
stored, with a CRC-32 of its original bytes; the file ends with the total
length and a SHA-256 of everything, all verified on decode.
"""

from __future__ import annotations

import hashlib
import io
import zlib
from typing import BinaryIO, Callable, Iterator, Optional

import numpy as np
import zstandard

from . import format as fmt
from .coder import Decoder, Encoder
from .engine import START_BYTE, make_engine
from .errors import LstmzipError
from .model import Model, find_by_sha256, resolve

DEFAULT_BLOCK_SIZE = 1 << 20      # bytes per block: bounds memory, lets large inputs stream
MIN_STREAM_LEN = 4096             # auto stream count: at least this many bytes per stream...
AUTO_MAX_STREAMS = 256            # ...and at most this many streams per block
ZSTD_LEVEL = 19
METHODS = ("lstm", "zstd", "stored")     # block methods a Compressor may choose from

Progress = Optional[Callable[[int], None]]   # called with the number of input bytes just done


def choose_streams(n: int, streams: int = 0) -> int:
    """Streams for a block of n bytes: `streams` if given (capped at n), else from n."""
    if streams:
        return max(1, min(streams, n))
    return max(1, min(AUTO_MAX_STREAMS, n // MIN_STREAM_LEN))


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


# ---- whole files ------------------------------------------------------------------------

class Compressor:
    """Reusable compressor: loads the model and builds the engine once.

    ``lstmzip.compress(data)`` is ``Compressor().compress(data)``; in a loop,
    build one Compressor and reuse it (loading a model is the expensive step).
    """

    def __init__(self, model=None, streams: int = 0, backend: str = "numpy", device: str = "auto",
                 block_size: int = DEFAULT_BLOCK_SIZE, zstd_level: int = ZSTD_LEVEL,
                 methods=("lstm", "zstd", "stored"), threads: int = 0):
        if not 1 <= block_size <= fmt.MAX_BLOCK_SIZE:
            raise ValueError(f"block_size must be in 1..{fmt.MAX_BLOCK_SIZE}")
        if not 0 <= streams <= fmt.MAX_STREAMS:
            raise ValueError(f"streams must be in 0..{fmt.MAX_STREAMS}")
        self.model: Model = resolve(model)
        self.engine = make_engine(self.model, backend, device, threads)
        self.streams = streams
        self.block_size = block_size
        unknown = set(methods) - set(METHODS)
        if unknown or not methods:
            raise ValueError(f"methods must be a non-empty subset of {', '.join(METHODS)}")
        self.methods = tuple(methods)
        # Of the last compress_stream: what zstd -19 alone would have taken, input bytes per method.
        self.stats = {"zstd_size": 0, "input_by_method": {}}
        self._zstd = zstandard.ZstdCompressor(level=zstd_level)

    def header(self, size: Optional[int]) -> fmt.Header:
        return fmt.Header(streams=self.streams, block_size=self.block_size, size=size,
                          model_sha256=bytes.fromhex(self.model.sha256), model_name=self.model.name)

    def compress_block(self, data: bytes, progress: Progress = None) -> bytes:
        """One block: the smallest of lstm, zstd and stored, with its header."""
        candidates = []
        if "stored" in self.methods:
            candidates.append((fmt.STORED, data, 0))
        if "zstd" in self.methods:
            candidates.append((fmt.ZSTD, self._zstd.compress(data), 0))
            self.stats["zstd_size"] += len(candidates[-1][1])
        if "lstm" in self.methods:
            s = choose_streams(len(data), self.streams)
            candidates.append((fmt.LSTM, lstm_encode(self.engine, data, s, progress), s))
        elif progress:
            progress(len(data))
        # The smallest wins; on a tie the first listed (the simpler method). A method whose
        # payload would exceed the block itself is not allowed by the format: fall back to stored.
        candidates = [c for c in candidates if c[0] == fmt.STORED or len(c[1]) <= len(data)] \
            or [(fmt.STORED, data, 0)]
        method, payload, streams = min(candidates, key=lambda c: len(c[1]))
        by_method = self.stats["input_by_method"]
        by_method[fmt.METHOD_NAMES[method]] = by_method.get(fmt.METHOD_NAMES[method], 0) + len(data)
        head = fmt.BlockHeader(method, len(data), len(payload), streams, zlib.crc32(data))
        return head.pack() + payload

    def compress_stream(self, src: BinaryIO, dst: BinaryIO, size: Optional[int] = None,
                        progress: Progress = None) -> int:
        """Compress src to dst block by block; returns the number of input bytes."""
        self.stats = {"zstd_size": 0, "input_by_method": {}}
        dst.write(self.header(size).pack())
        total, sha = 0, hashlib.sha256()
        while True:
            block = src.read(self.block_size)
            if not block:
                break
            total += len(block)
            sha.update(block)
            dst.write(self.compress_block(block, progress))
        if size is not None and total != size:
            raise LstmzipError(f"input changed while reading ({size} bytes expected, {total} read)")
        dst.write(fmt.End(total, sha.digest()).pack())
        return total

    def compress(self, data: bytes) -> bytes:
        out = io.BytesIO()
        self.compress_stream(io.BytesIO(data), out, size=len(data))
        return out.getvalue()


class Decompressor:
    """Mirror of Compressor. The model comes from the file's header (a shipped model with that
    identity) unless one is given; it is needed only if the file has lstm blocks."""

    def __init__(self, model=None, backend: str = "numpy", device: str = "auto", threads: int = 0):
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
            try:
                data = zstandard.ZstdDecompressor().decompress(payload, max_output_size=bh.raw_len)
            except zstandard.ZstdError as exc:
                raise LstmzipError(f"corrupted {where} (zstd: {exc})") from None
        else:
            engine = self._engine_for(header)
            try:
                data = lstm_decode(engine, payload, bh.raw_len, bh.streams, progress)
            except LstmzipError as exc:
                raise LstmzipError(f"corrupted {where} ({exc})") from None
        if len(data) != bh.raw_len or zlib.crc32(data) != bh.raw_crc32:
            raise LstmzipError(f"corrupted {where} (checksum mismatch)")
        return data

    def decompress_stream(self, src: BinaryIO, dst: BinaryIO, progress: Progress = None) -> int:
        """Decode src to dst, verifying every checksum; returns the number of bytes written."""
        total, sha = 0, hashlib.sha256()
        for index, (header, bh, payload) in enumerate(self.blocks(src)):
            if isinstance(bh, fmt.End):
                if bh.total_size != total or bh.sha256 != sha.digest():
                    raise LstmzipError("corrupted file (whole-file checksum mismatch)")
                if header.size is not None and header.size != total:
                    raise LstmzipError("corrupted file (length differs from the header)")
                return total
            if header.size is not None and total + bh.raw_len > header.size:
                raise LstmzipError(f"corrupted block {index} (more data than the header announced)")
            data = self.decode_block(header, bh, payload, index, progress)
            if bh.method != fmt.LSTM and progress:
                progress(len(data))
            total += len(data)
            sha.update(data)
            dst.write(data)
        raise AssertionError("unreachable")

    def decompress(self, data: bytes) -> bytes:
        out = io.BytesIO()
        self.decompress_stream(io.BytesIO(data), out)
        return out.getvalue()
