"""lstmzip: lossless compression with a stacked-LSTM byte predictor and a range coder.

The API mirrors the standard library's ``gzip``/``lzma``::

    >>> import lstmzip
    >>> blob = lstmzip.compress(b"hello, hello, hello")
    >>> lstmzip.decompress(blob)
    b'hello, hello, hello'

``compress(data)`` is ``Compressor().compress(data)``: in a loop, build one
``Compressor`` (it loads the model once) and reuse it. ``LstmzipCompressor`` and
``LstmzipDecompressor`` code a stream piece by piece, like ``lzma.LZMACompressor``
and ``lzma.LZMADecompressor``. ``open()`` returns a file object (seekable when
reading, like gzip's); every error is an ``LstmzipError`` (both an ``OSError`` and
a ``ValueError``). Files decode bit-exactly on any machine: the predictor runs in
integer arithmetic (see ``engine``).

Importing lstmzip never imports TensorFlow.
"""

import hashlib as _hashlib
import io as _io
import os as _os

from . import numba_cache as _numba_cache

_numba_cache.configure()             # before any kernel module: numba's cache must be writable

from . import format as _fmt  # noqa: E402
from .cluster import compress_files, decompress_files
from .codec import DEFAULT_LEVEL, Compressor, Decompressor
from .engine import BACKENDS as _BACKENDS
from .errors import LstmzipError
from .model import Model, available_models
from .model import resolve as _resolve

__all__ = ["compress", "decompress", "open", "Compressor", "Decompressor", "LstmzipCompressor",
           "LstmzipDecompressor", "LstmzipFile", "LstmzipError", "Model", "available_models",
           "compress_files", "decompress_files", "__version__"]
__version__ = "0.1.0"


def compress(data, model=None, streams: int = 0, backend: str = "numpy", level: int = DEFAULT_LEVEL) -> bytes:
    """Compress bytes-like `data` with `model` (a shipped name, a path, a Model; None = default)
    at `level` 1-9 (1: the static LSTM alone, fastest; 2-3: context mixing alone; 6: LSTM +
    context mixing [default]; 9: larger tables and blocks; from 4 up, text is also tried through
    the word transform).

    Equivalent to ``Compressor(model, streams, backend, level=level).compress(data)``.
    """
    return Compressor(model, streams=streams, backend=backend, level=level).compress(bytes(data))


def decompress(data, model=None, backend: str = "numpy") -> bytes:
    """Decompress an lstmzip file held in bytes; raises LstmzipError on any bad input."""
    return Decompressor(model, backend=backend).decompress(bytes(data))


# ---- incremental coding, shaped like lzma.LZMACompressor / LZMADecompressor ----------------

class LstmzipCompressor:
    """Compress a stream piece by piece, like ``lzma.LZMACompressor``::

        >>> comp = lstmzip.LstmzipCompressor(level=1)
        >>> blob = comp.compress(b"part one, ") + comp.compress(b"part two") + comp.flush()
        >>> lstmzip.decompress(blob)
        b'part one, part two'

    The first ``compress()`` returns the header (its length field says "unknown", as for any
    streamed input; at level 9, which chooses the model from the first block, it comes with
    that block); input is gathered into blocks of ``block_size`` bytes and each block is
    coded and returned as soon as it is full; ``flush()`` codes the last, partial block and
    returns it with the end record (length, SHA-256). After ``flush()`` the object is spent.
    The blocks are the ones ``compress()`` writes for the same bytes; only the header differs.

    Arguments are ``Compressor``'s; ``compressor=`` reuses a built ``Compressor`` instead (the
    model is loaded once). Blocks are coded in this process (``workers`` is not used here).
    """

    def __init__(self, model=None, level: int = DEFAULT_LEVEL, *, compressor=None, **kwargs):
        self._comp = compressor if compressor is not None else Compressor(model, level=level, **kwargs)
        self._frame = self._comp.framing(None)       # size unknown: the full header, never compact
        self._pending = bytearray()
        self._total, self._sha = 0, _hashlib.sha256()
        self._started = self._flushed = False

    @property
    def block_size(self) -> int:
        return self._comp.block_size

    def _head(self, first: "bytes | None" = None) -> list:
        """The header, once: at once, or with the first block where that chooses the model."""
        if self._started or (first is None and self._comp.choice):
            return []
        self._started = True
        if first is not None:
            self._comp.choose_model(first)
        return [self._frame.start()]

    def _block(self, block: bytes) -> bytes:
        head = self._head(block)
        self._total += len(block)
        self._sha.update(block)
        return b"".join(head) + self._frame.block(self._comp.compress_block(block))

    def compress(self, data) -> bytes:
        """Take bytes-like `data`; return the coded output that is ready (possibly b"")."""
        if self._flushed:
            raise ValueError("compressor has been flushed")
        out = self._head()
        self._pending += memoryview(data).cast("B")
        size, start = self._comp.block_size, 0
        while len(self._pending) - start >= size:
            out.append(self._block(bytes(self._pending[start:start + size])))
            start += size
        del self._pending[:start]
        return b"".join(out)

    def flush(self) -> bytes:
        """Code what is left and return it with the end record; the stream is then complete."""
        if self._flushed:
            raise ValueError("repeated call to flush()")
        out = self._head()
        if self._pending:
            out.append(self._block(bytes(self._pending)))
            self._pending = bytearray()
        out += self._head(b"")
        out.append(self._frame.end(self._total, self._sha.digest()))
        self._flushed = True
        return b"".join(out)


class _NeedMore(Exception):
    """The input ends inside the unit being parsed: wait for more."""


class _Window:
    """A read-only file over the unconsumed input that raises _NeedMore instead of returning
    short (strict=False), or returns short like a file at its end (strict=True: the format's
    own 'truncated file (ends inside ...)' message)."""

    def __init__(self, buf: bytearray, strict: bool = False):
        self.buf, self.pos, self.strict = buf, 0, strict

    def read(self, n: int) -> bytes:
        if self.pos + n > len(self.buf) and not self.strict:
            raise _NeedMore
        data = bytes(self.buf[self.pos:self.pos + n])
        self.pos += len(data)
        return data


class LstmzipDecompressor:
    """Decompress one .lstmz stream piece by piece, like ``lzma.LZMADecompressor``::

        >>> dec = lstmzip.LstmzipDecompressor()
        >>> out = b"".join(dec.decompress(blob[i:i + 100]) for i in range(0, len(blob), 100))
        >>> dec.eof, dec.unused_data
        (True, b'')

    ``decompress(data, max_length=-1)`` returns what can be decoded so far: a block is decoded
    once all of its bytes have arrived, and its CRC-32 is checked before any of it is returned;
    at most `max_length` bytes come back (the rest on the next call, ``needs_input`` is then
    False: call again, with b"" if there is no more input). After the end record, whose length
    and SHA-256 are verified, ``eof`` is True and whatever followed it is in ``unused_data``
    (the next member of a concatenation, say: give it to a new LstmzipDecompressor).
    A bad input raises LstmzipError, and every later call raises the same error.

    Arguments are ``Decompressor``'s; ``decompressor=`` reuses a built one (its engines).
    """

    def __init__(self, model=None, *, decompressor=None, **kwargs):
        self._dec = decompressor if decompressor is not None else Decompressor(model, **kwargs)
        self._in = bytearray()            # received, not yet consumed
        self._unit = None                 # the next unit, parsed but not yet acted on
        self._header = None
        self._index, self._total, self._sha = 0, 0, _hashlib.sha256()
        self._out, self._out_pos = b"", 0  # a decoded block, returned from _out_pos on
        self._error = None
        self.eof = False
        self.unused_data = b""
        self.needs_input = True

    def decompress(self, data, max_length: int = -1) -> bytes:
        if self._error is not None:
            raise self._error.with_traceback(None)
        if self.eof:
            raise EOFError("already at the end of the lstmzip stream")
        self._in += memoryview(data).cast("B")
        limit = None if max_length is None or max_length < 0 else max_length
        parts, got = [], 0
        try:
            while limit is None or got < limit:
                if self._out_pos < len(self._out):
                    end = len(self._out) if limit is None else min(len(self._out), self._out_pos + limit - got)
                    parts.append(self._out[self._out_pos:end])
                    got += end - self._out_pos
                    self._out_pos = end
                elif not self._advance():
                    break
            self.needs_input = not self.eof and self._out_pos >= len(self._out) and self._peek() is None
        except Exception as exc:
            self._error = exc
            raise
        return b"".join(parts)

    def _peek(self, strict: bool = False):
        """The next whole unit at the front of the input, or None until more bytes arrive:
        ("header", Header, n), ("block", BlockHeader, payload, n) or ("end", End, n), where n
        is the unit's length in bytes. The format's own readers parse it."""
        if self._unit is not None:
            return self._unit
        src = _Window(self._in, strict)
        try:
            if self._header is None:
                have = bytes(self._in[:len(_fmt.MAGIC)])
                if have != _fmt.MAGIC[:len(have)]:      # refuse junk at once, not after 60 bytes
                    raise LstmzipError("not an lstmzip file (bad magic)")
                self._unit = ("header", _fmt.read_header(src), src.pos)
            else:
                bh = _fmt.read_block_header(src, self._header, self._index)
                if isinstance(bh, _fmt.End):
                    self._unit = ("end", bh, src.pos)
                else:
                    if self._header.version in _fmt.COMPACT_VERSIONS and self._index:
                        raise LstmzipError(f"corrupted block {self._index} (a compact file holds one block)")
                    payload = _fmt.read_exact(src, bh.payload_len, f"block {self._index}")
                    self._unit = ("block", bh, payload, src.pos)
        except _NeedMore:
            return None
        return self._unit

    def _advance(self) -> bool:
        """Act on the next unit: False when there is none yet, or at the end of the stream.
        Checks exactly what ``Decompressor.decompress_stream`` checks, in the same order."""
        unit = self._peek()
        if unit is None:
            return False
        self._unit = None
        del self._in[:unit[-1]]
        if unit[0] == "header":
            self._header = unit[1]
            return True
        header = self._header
        if unit[0] == "end":
            end = unit[1]
            end.verify(header, self._total, self._sha.digest())    # (a compact member: no SHA-256)
            self.eof, self.unused_data, self._in = True, bytes(self._in), bytearray()
            return False
        bh, payload = unit[1], unit[2]
        if header.size is not None and self._total + bh.raw_len > header.size:
            raise LstmzipError(f"corrupted block {self._index} (more data than the header announced)")
        data = self._dec.decode_block(header, bh, payload, self._index)
        self._index += 1
        self._total += len(data)
        self._sha.update(data)
        self._out, self._out_pos = data, 0
        return True

    def _truncated(self) -> LstmzipError:
        """The error for input that ended here, in the format's words ("truncated file (ends
        inside block 3)"; "not an lstmzip file" for no input at all)."""
        self._unit = None
        try:
            self._peek(strict=True)
        except LstmzipError as exc:
            return exc
        return LstmzipError("truncated file (no end record)")


# ---- files -----------------------------------------------------------------------------

_READ_CHUNK = 1 << 18          # compressed bytes read from the file at a time
_READ_OUT = 1 << 20            # decoded bytes taken from the decompressor at a time


class LstmzipFile(_io.BufferedIOBase):
    """A file object over an .lstmz file, like ``gzip.GzipFile``.

    Reading decodes block by block (memory stays bounded by the block size), verifies every
    checksum, and reads concatenated files as their concatenated data; it is seekable like
    gzip's: forward by decoding, backward by going back to the start and decoding again.
    Writing compresses each block as it fills (``LstmzipCompressor``) and writes the end record
    (length, SHA-256) on ``close()``.
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
        self._offset = 0               # position in the uncompressed data
        # Everything that can fail for a bad argument (an unknown model, backend, block size)
        # fails here, before the file is opened: "wb" on an existing file must not truncate
        # it for nothing.
        if mode == "r":
            if backend not in _BACKENDS:
                raise ValueError(f"unknown backend {backend!r} (choose from {', '.join(_BACKENDS)})")
            self._dec = Decompressor(_resolve(model) if model is not None else None, backend=backend)
            self._member = LstmzipDecompressor(decompressor=self._dec)
            self._buf, self._pos = b"", 0
        else:
            self._comp = LstmzipCompressor(compressor=Compressor(model, streams=streams, backend=backend,
                                                                 block_size=block_size, level=level))
        if isinstance(filename, (str, bytes, _os.PathLike)):
            self._fp = _builtin_open(filename, mode + "b")
            self._owns = True
        else:
            self._fp = filename
        try:
            self.name = getattr(self._fp, "name", "")
            if mode == "r":
                self._start = _start_of(self._fp)
            else:
                self._fp.write(self._comp.compress(b""))          # the header
        except BaseException:
            if self._owns:
                self._fp.close()
            self._fp = None
            raise

    # -- reading --
    def readable(self) -> bool:
        return self._mode == "r"

    def _fill(self) -> bool:
        """Decode more into the buffer; False at the verified end of the last member.

        A member is followed by another whole member or by nothing; anything else after it
        is an error. After an error the stream stays failed: every later read raises the
        same error again (until a seek backward starts over).
        """
        if self._error is not None:
            raise self._error.with_traceback(None)
        try:
            while True:
                member = self._member
                if member.eof:
                    head = member.unused_data
                    while len(head) < len(_fmt.MAGIC):
                        more = self._fp.read(_READ_CHUNK)
                        if not more:
                            break
                        head += more
                    if not head:
                        return False
                    if not head.startswith(_fmt.MAGIC):
                        raise LstmzipError("trailing data after the end of the file")
                    self._member = LstmzipDecompressor(decompressor=self._dec)
                    data = self._member.decompress(head, _READ_OUT)
                elif member.needs_input:
                    chunk = self._fp.read(_READ_CHUNK)
                    if not chunk:
                        raise member._truncated()
                    data = member.decompress(chunk, _READ_OUT)
                else:
                    data = member.decompress(b"", _READ_OUT)
                if data:
                    self._buf, self._pos = data, 0
                    return True
        except Exception as exc:
            self._error = exc
            raise

    def read(self, size: int = -1) -> bytes:
        self._check("r")
        parts = []
        while size is None or size < 0 or size > 0:
            if self._pos >= len(self._buf) and not self._fill():
                break
            take = len(self._buf) - self._pos if size is None or size < 0 else min(size, len(self._buf) - self._pos)
            parts.append(self._buf[self._pos:self._pos + take])
            self._pos += take
            self._offset += take
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
        self._offset += len(data)
        return data

    def peek(self, size: int = 0) -> bytes:
        """Decoded bytes ahead of the position, without moving it (at least one unless at the end)."""
        self._check("r")
        if self._pos >= len(self._buf) and not self._fill():
            return b""
        return self._buf[self._pos:]

    def readinto(self, b) -> int:
        data = self.read(len(memoryview(b).cast("B")))
        memoryview(b).cast("B")[:len(data)] = data
        return len(data)

    # -- position --
    def seekable(self) -> bool:
        """True when reading a file that can go back to its start (gzip.GzipFile says True too)."""
        return self._mode == "r" and self._fp is not None and self._start is not None

    def tell(self) -> int:
        """Position in the uncompressed data (bytes read, or bytes written)."""
        if self.closed:
            raise ValueError("I/O operation on closed file")
        return self._offset

    def seek(self, offset: int, whence: int = _io.SEEK_SET) -> int:
        """Move to `offset` in the uncompressed data: forward by decoding, backward by starting
        over from the beginning of the file. Reading mode only; returns the new position."""
        self._check("r")
        if whence == _io.SEEK_CUR:
            offset += self._offset
        elif whence == _io.SEEK_END:
            while self.read(_READ_OUT):
                pass
            offset += self._offset
        elif whence != _io.SEEK_SET:
            raise ValueError(f"invalid whence ({whence!r}, should be 0, 1 or 2)")
        if offset < 0:
            raise ValueError(f"negative seek position {offset}")
        if offset < self._offset:
            self._rewind()
        while self._offset < offset:
            if not self.read(min(_READ_OUT, offset - self._offset)):
                break
        return self._offset

    def _rewind(self) -> None:
        if self._start is None:
            raise _io.UnsupportedOperation("cannot seek backward: the underlying file is not seekable")
        self._fp.seek(self._start)
        self._member = LstmzipDecompressor(decompressor=self._dec)
        self._buf, self._pos, self._offset, self._error = b"", 0, 0, None

    # -- writing --
    def writable(self) -> bool:
        return self._mode in ("w", "x")

    def write(self, data) -> int:
        self._check("w")
        data = memoryview(data).cast("B")
        self._fp.write(self._comp.compress(data))
        self._offset += len(data)
        return len(data)

    def close(self) -> None:
        if self.closed:
            return
        try:
            if self._fp is not None and self._mode in ("w", "x"):
                self._fp.write(self._comp.flush())
        finally:
            if self._owns and self._fp is not None:
                self._fp.close()
            super().close()

    def _check(self, want: str) -> None:
        if self.closed:
            raise ValueError("I/O operation on closed file")
        if (want == "r") != (self._mode == "r"):
            raise _io.UnsupportedOperation(f"file not open for {'reading' if want == 'r' else 'writing'}")


def _start_of(fp):
    """Where a readable file object starts, to come back to; None if it cannot seek."""
    try:
        return fp.tell() if getattr(fp, "seekable", lambda: False)() else None
    except (OSError, ValueError):
        return None


_builtin_open = open


def open(filename, mode: str = "rb", model=None, streams: int = 0, backend: str = "numpy",
         encoding=None, errors=None, newline=None, level: int = DEFAULT_LEVEL):
    """Open an .lstmz file in binary ("rb", "wb", "xb") or text ("rt", "wt", "xt") mode;
    `level` (1-9) applies to writing."""
    if "t" in mode:
        binary = LstmzipFile(filename, mode.replace("t", ""), model=model, streams=streams, backend=backend,
                             level=level)
        return _io.TextIOWrapper(binary, encoding, errors, newline)
    return LstmzipFile(filename, mode, model=model, streams=streams, backend=backend, level=level)
