"""lstmzip: lossless compression with a stacked-LSTM byte predictor and a range coder.

The API mirrors the standard library's ``gzip``/``lzma``::

    >>> import lstmzip
    >>> blob = lstmzip.compress(b"hello, hello, hello")
    >>> lstmzip.decompress(blob)
    b'hello, hello, hello'

``compress(data)`` is ``Compressor().compress(data)``: in a loop, build one
``Compressor`` (it loads the model once) and reuse it. ``open()`` returns a file
object; every error is an ``LstmzipError`` (both an ``OSError`` and a
``ValueError``). Files decode bit-exactly on any machine: the predictor runs in
integer arithmetic (see ``engine``).

Importing lstmzip never imports TensorFlow.
"""

from __future__ import annotations

import hashlib
import io
import os

from . import format as _fmt
from .cluster import compress_files, decompress_files
from .codec import DEFAULT_LEVEL, Compressor, Decompressor
from .engine import BACKENDS as _BACKENDS
from .errors import LstmzipError
from .model import Model, available_models
from .model import resolve as _resolve

__all__ = ["compress", "decompress", "open", "Compressor", "Decompressor", "LstmzipFile",
           "LstmzipError", "Model", "available_models", "compress_files", "decompress_files", "__version__"]
__version__ = "0.1.0"


def compress(data, model=None, streams: int = 0, backend: str = "numpy", level: int = DEFAULT_LEVEL) -> bytes:
    """Compress bytes-like `data` with `model` (a shipped name, a path, a Model; None = default)
    at `level` 1-9 (1: the static LSTM alone, fastest; 6: LSTM + context mixing [default];
    9: larger tables, larger blocks, text also tried through the word transform).

    Equivalent to ``Compressor(model, streams, backend, level=level).compress(data)``.
    """
    return Compressor(model, streams=streams, backend=backend, level=level).compress(bytes(data))


def decompress(data, model=None, backend: str = "numpy") -> bytes:
    """Decompress an lstmzip file held in bytes; raises LstmzipError on any bad input."""
    return Decompressor(model, backend=backend).decompress(bytes(data))


class LstmzipFile(io.BufferedIOBase):
    """A file object over an .lstmz file, like ``gzip.GzipFile``.

    Reading decodes block by block (memory stays bounded by the block size) and
    verifies every checksum; writing compresses each block as it fills and
    writes the end record (length, SHA-256) on ``close()``.
    """

    def __init__(self, filename, mode: str = "rb", model=None, streams: int = 0,
                 backend: str = "numpy", block_size: int = 0, level: int = DEFAULT_LEVEL):
        super().__init__()
        self._fp, self._owns, self._error = None, False, None
        mode = mode.replace("b", "")
        if mode not in ("r", "w", "x", "a"):
            raise ValueError(f"invalid mode {mode!r}")
        if mode == "a":
            raise ValueError("append mode is not supported")
        self._mode = mode
        # Everything that can fail for a bad argument (an unknown model, backend, block size)
        # fails here, before the file is opened: "wb" on an existing file must not truncate
        # it for nothing.
        if mode == "r":
            if backend not in _BACKENDS:
                raise ValueError(f"unknown backend {backend!r} (choose from {', '.join(_BACKENDS)})")
            self._dec = Decompressor(_resolve(model) if model is not None else None, backend=backend)
            self._buf, self._pos, self._eof = b"", 0, False
            self._total, self._sha, self._index = 0, hashlib.sha256(), 0
        else:
            self._comp = Compressor(model, streams=streams, backend=backend, block_size=block_size,
                                    level=level)
            self._pending = bytearray()
            self._total, self._sha = 0, hashlib.sha256()
        if isinstance(filename, (str, bytes, os.PathLike)):
            self._fp = _builtin_open(filename, mode + "b")
            self._owns = True
        else:
            self._fp = filename
        try:
            self.name = getattr(self._fp, "name", "")
            if mode == "r":
                self._blocks = self._dec.blocks(self._fp)
            else:
                self._fp.write(self._comp.header(None).pack())
        except BaseException:
            if self._owns:
                self._fp.close()
            self._fp = None
            raise

    # -- reading --
    def readable(self) -> bool:
        return self._mode == "r"

    def _fill(self) -> bool:
        """Decode the next block into the buffer; False at the verified end of the file.

        Verifies exactly what ``Decompressor.decompress_stream`` verifies. After an error
        the stream stays failed: every later read raises the same error again.
        """
        if self._error is not None:
            raise self._error.with_traceback(None)
        if self._eof:
            return False
        try:
            header, bh, payload = next(self._blocks)
            if isinstance(bh, _fmt.End):
                if bh.total_size != self._total or bh.sha256 != self._sha.digest():
                    raise LstmzipError("corrupted file (whole-file checksum mismatch)")
                if header.size is not None and header.size != self._total:
                    raise LstmzipError("corrupted file (length differs from the header)")
                self._eof = True
                return False
            if header.size is not None and self._total + bh.raw_len > header.size:
                raise LstmzipError(f"corrupted block {self._index} (more data than the header announced)")
            data = self._dec.decode_block(header, bh, payload, self._index)
        except StopIteration:
            self._error = LstmzipError("truncated file (no end record)")
            raise self._error from None
        except Exception as exc:
            self._error = exc
            raise
        self._index += 1
        self._total += len(data)
        self._sha.update(data)
        self._buf, self._pos = data, 0
        return True

    def read(self, size: int = -1) -> bytes:
        self._check("r")
        parts = []
        while size is None or size < 0 or size > 0:
            if self._pos >= len(self._buf) and not self._fill():
                break
            take = len(self._buf) - self._pos if size is None or size < 0 else min(size, len(self._buf) - self._pos)
            parts.append(self._buf[self._pos:self._pos + take])
            self._pos += take
            if size is not None and size >= 0:
                size -= take
        return b"".join(parts)

    def read1(self, size: int = -1) -> bytes:
        self._check("r")
        if self._pos >= len(self._buf) and not self._fill():
            return b""
        end = len(self._buf) if size is None or size < 0 else self._pos + size
        data = self._buf[self._pos:end]
        self._pos += len(data)
        return data

    def readinto(self, b) -> int:
        data = self.read(len(b))
        b[:len(data)] = data
        return len(data)

    # -- writing --
    def writable(self) -> bool:
        return self._mode in ("w", "x")

    def write(self, data) -> int:
        self._check("w")
        data = memoryview(data).cast("B")
        self._pending += data
        size = self._comp.block_size
        while len(self._pending) >= size:
            self._emit(bytes(self._pending[:size]))
            del self._pending[:size]
        return len(data)

    def _emit(self, block: bytes) -> None:
        self._total += len(block)
        self._sha.update(block)
        self._fp.write(self._comp.compress_block(block))

    def close(self) -> None:
        if self.closed:
            return
        try:
            if self._fp is not None and self._mode in ("w", "x"):
                if self._pending:
                    self._emit(bytes(self._pending))
                    self._pending.clear()
                self._fp.write(_fmt.End(self._total, self._sha.digest()).pack())
        finally:
            if self._owns and self._fp is not None:
                self._fp.close()
            super().close()

    def _check(self, want: str) -> None:
        if self.closed:
            raise ValueError("I/O operation on closed file")
        if (want == "r") != (self._mode == "r"):
            raise io.UnsupportedOperation(f"file not open for {'reading' if want == 'r' else 'writing'}")


_builtin_open = open


def open(filename, mode: str = "rb", model=None, streams: int = 0, backend: str = "numpy",
         encoding=None, errors=None, newline=None, level: int = DEFAULT_LEVEL):
    """Open an .lstmz file in binary ("rb", "wb", "xb") or text ("rt", "wt", "xt") mode;
    `level` (1-9) applies to writing."""
    if "t" in mode:
        binary = LstmzipFile(filename, mode.replace("t", ""), model=model, streams=streams, backend=backend,
                             level=level)
        return io.TextIOWrapper(binary, encoding, errors, newline)
    return LstmzipFile(filename, mode, model=model, streams=streams, backend=backend, level=level)
