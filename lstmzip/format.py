"""The .lstmz container: byte layout, bounds checks, checksums (docs/format.md).

    stream = member+                       (concatenated files decode to the concatenated data)
    member = header block* end
    header = magic(8) version(1) flags(1) streams(2) block_size(4) size(8)
             model_sha256(32) name_len(1) name(name_len) header_crc32(4)
    block  = method(1) raw_len(4) payload_len(4) streams(2) raw_crc32(4) block_crc32(4) payload
    (cm+dict payload = transform_id(1) transformed_len(4) cm_payload)
    end    = 0xFF(1) total_size(8) sha256(32) end_crc32(4)

    compact member (version 3: at most one block, stored or zstd; no model needed to decode it)
           = magic(8) 3(1) flags(1)=0 size(4) header_crc32(4) block? 0xFF(1)
    compact model member (version 4: one lstm, cm or cm+dict block; the model named by the first
    8 bytes of its SHA-256, the data checked by the first 8 bytes of its own)
           = magic(8) 4(1) flags(1)=0 size(4) model_id(8) name_len(1) name header_crc32(4)
             block 0xFF(1) sha256_8(8)

All integers little-endian. Every header is covered by its own CRC-32, checked
before any field is trusted, and every length is bounds-checked before anything
is allocated; a block's payload is read only once its header proved sane.
"""

from __future__ import annotations

import dataclasses
import struct
import zlib
from typing import BinaryIO, Optional

from .errors import LstmzipError

MAGIC = b"\x89LSTMZ\r\n"       # non-ASCII first byte, CR LF: catches text-mode mangling
VERSION = 2                      # 2 added the cm block method; version 1 files still decode
                                 # (cm+dict joined version 2: a reader without it refuses its
                                 # blocks by their method number, see read_block_header)
COMPACT_VERSION = 3              # the compact member of a small input (see Header.pack)
COMPACT_MODEL_VERSION = 4        # ... whose one block is model-coded
COMPACT_VERSIONS = (COMPACT_VERSION, COMPACT_MODEL_VERSION)
READ_VERSIONS = (1, 2, COMPACT_VERSION, COMPACT_MODEL_VERSION)
SUFFIX = ".lstmz"

FLAG_SIZE_KNOWN = 0x01           # header's `size` is the original length (else streamed input)
UNKNOWN_SIZE = (1 << 64) - 1

STORED, ZSTD, LSTM, CM, CM_TEXT = 0, 1, 2, 3, 4
END = 0xFF
METHOD_NAMES = {STORED: "stored", ZSTD: "zstd", LSTM: "lstm", CM: "cm", CM_TEXT: "cm+dict"}
MODEL_METHODS = (LSTM, CM, CM_TEXT)       # methods that run the engine over streams
COMPACT_METHODS = (STORED, ZSTD)          # the only methods of a compact (version 3) member
CM_METHODS = (CM, CM_TEXT)                # version 2 only

# cm+dict: the cm method over the block passed through a word transform (lstmzip/transform.py);
# its payload starts with the transform's id and the transformed length, then the cm payload.
TRANSFORM_HEAD = struct.Struct("<BI")     # transform_id transformed_len

MAX_BLOCK_SIZE = 64 << 20        # hard cap: a forged header cannot make us allocate more
MAX_STREAMS = 65535              # what the field can hold...
MAX_MODEL_STREAMS = 4096         # ...and what a decoder of this version accepts for lstm/cm blocks
                                 # (memory grows with streams: ~16 KB each for a 2x256 model)
MAX_NAME = 64

_START = struct.Struct("<8sBB")             # magic version flags: how every version starts
_HEAD = struct.Struct("<8sBBHIQ32sB")       # versions 1, 2: up to name_len
_COMPACT = struct.Struct("<8sBBI")          # version 3: magic version flags size
_COMPACT_MODEL = struct.Struct("<8sBBI8sB")  # version 4: ... model_id name_len
MODEL_ID_LEN = 8                            # version 4: bytes of the model's SHA-256 named
SHORT_SHA_LEN = 8                           # version 4: bytes of the data's SHA-256 in the end
_BLOCK = struct.Struct("<BIIHI")            # method raw_len payload_len streams raw_crc32
_END = struct.Struct("<BQ32s")
_CRC = struct.Struct("<I")


@dataclasses.dataclass
class Header:
    streams: int             # requested streams per block (0 = chosen from each block's size)
    block_size: int          # largest raw block, bytes
    size: Optional[int]      # original length, None when unknown (streamed input)
    model_sha256: Optional[bytes]   # 32 bytes: identity of the model file (version 4: its first
                                    # 8; None: a version 3 compact member, no model)
    model_name: str          # for messages: which model the file needs
    version: int = VERSION   # format version the file was written with (see READ_VERSIONS)

    def pack(self) -> bytes:
        if self.version == COMPACT_VERSION:
            # A small input whose one block is stored or zstd: no model identity (nothing needs
            # the model), the size in 4 bytes (it is at most one block), and the block's CRC-32
            # is the data's checksum: the end record shrinks to its marker (docs/format.md).
            head = _COMPACT.pack(MAGIC, COMPACT_VERSION, 0, self.size)
            return head + _CRC.pack(zlib.crc32(head))
        name = self.model_name.encode("utf-8")[:MAX_NAME]
        if self.version == COMPACT_MODEL_VERSION:
            # A small input whose one block is model-coded: the model named by 8 bytes of its
            # SHA-256, and the end record keeps 8 bytes of the data's SHA-256 (docs/format.md).
            head = _COMPACT_MODEL.pack(MAGIC, COMPACT_MODEL_VERSION, 0, self.size,
                                       self.model_sha256[:MODEL_ID_LEN], len(name)) + name
            return head + _CRC.pack(zlib.crc32(head))
        flags = FLAG_SIZE_KNOWN if self.size is not None else 0
        size = self.size if self.size is not None else UNKNOWN_SIZE
        head = _HEAD.pack(MAGIC, self.version, flags, self.streams, self.block_size, size,
                          self.model_sha256, len(name)) + name
        return head + _CRC.pack(zlib.crc32(head))


@dataclasses.dataclass
class BlockHeader:
    method: int
    raw_len: int
    payload_len: int
    streams: int
    raw_crc32: int

    def pack(self) -> bytes:
        head = _BLOCK.pack(self.method, self.raw_len, self.payload_len, self.streams, self.raw_crc32)
        return head + _CRC.pack(zlib.crc32(head))


@dataclasses.dataclass
class End:
    total_size: int
    sha256: Optional[bytes]   # None in a version 3 member: its one block's CRC-32 covers the data;
                              # version 4: the first SHORT_SHA_LEN bytes

    def pack(self) -> bytes:
        if self.sha256 is None:
            return bytes([END])
        if len(self.sha256) == SHORT_SHA_LEN:
            return bytes([END]) + self.sha256
        head = _END.pack(END, self.total_size, self.sha256)
        return head + _CRC.pack(zlib.crc32(head))

    def verify(self, header: Header, total: int, sha256: bytes) -> None:
        """Raise unless this member's decoded data (`total` bytes, SHA-256 `sha256`) is what its
        end record and header recorded."""
        if self.total_size != total or (self.sha256 is not None and self.sha256 != sha256[:len(self.sha256)]):
            raise LstmzipError("corrupted file (whole-file checksum mismatch)")
        if header.size is not None and header.size != total:
            raise LstmzipError("corrupted file (length differs from the header)")


def read_exact(src: BinaryIO, n: int, what: str) -> bytes:
    """Read exactly n bytes or raise a 'truncated' error naming what was cut."""
    data = src.read(n)
    if len(data) != n:
        raise LstmzipError(f"truncated file (ends inside {what})")
    return data


def _check_crc(data: bytes, crc: bytes, what: str) -> None:
    if zlib.crc32(data) != _CRC.unpack(crc)[0]:
        raise LstmzipError(f"corrupted {what} (checksum mismatch)")


def read_header(src: BinaryIO, start: bytes = b"") -> Header:
    """The header at the start of `src`; `start`: bytes of it already read (a member's magic)."""
    first = start + src.read(_START.size - len(start))
    if len(first) < len(MAGIC) or first[:len(MAGIC)] != MAGIC:
        raise LstmzipError("not an lstmzip file (bad magic)")
    if len(first) == _START.size and first[8] == COMPACT_VERSION:
        return _read_compact_header(src, first)
    if len(first) == _START.size and first[8] == COMPACT_MODEL_VERSION:
        return _read_compact_model_header(src, first)
    first += src.read(_HEAD.size - len(first))
    if len(first) < _HEAD.size:
        raise LstmzipError("truncated file (ends inside the header)")
    magic, version, flags, streams, block_size, size, sha, name_len = _HEAD.unpack(first)
    if version not in READ_VERSIONS:
        # A newer file announces its version; a damaged version byte also fails our CRC.
        name = src.read(min(name_len, MAX_NAME))
        intact = zlib.crc32(first + name) == _CRC.unpack(src.read(4).rjust(4, b"\0"))[0]
        raise LstmzipError(f"unsupported format version {version} (this lstmzip reads versions "
                           f"1 to {max(READ_VERSIONS)})" + ("" if intact else ", or a corrupted header"))
    if name_len > MAX_NAME:
        raise LstmzipError("corrupted header (model name too long)")
    name = read_exact(src, name_len, "the header")
    _check_crc(first + name, read_exact(src, 4, "the header"), "header")
    if flags & ~FLAG_SIZE_KNOWN:
        raise LstmzipError(f"unsupported header flags {flags:#x}")
    if not 1 <= block_size <= MAX_BLOCK_SIZE:
        raise LstmzipError(f"corrupted header (block size {block_size} out of range)")
    return Header(version=version, streams=streams, block_size=block_size,
                  size=size if flags & FLAG_SIZE_KNOWN else None,
                  model_sha256=sha, model_name=name.decode("utf-8", "replace"))


def _read_compact_header(src: BinaryIO, first: bytes) -> Header:
    head = first + read_exact(src, _COMPACT.size - len(first), "the header")
    _check_crc(head, read_exact(src, 4, "the header"), "header")
    _, version, flags, size = _COMPACT.unpack(head)
    if flags:
        raise LstmzipError(f"unsupported header flags {flags:#x}")
    if size > MAX_BLOCK_SIZE:
        raise LstmzipError(f"corrupted header (size {size} of a compact file out of range)")
    # The one block may hold the whole input: the size is the memory bound.
    return Header(version=version, streams=0, block_size=max(size, 1), size=size,
                  model_sha256=None, model_name="")


def _read_compact_model_header(src: BinaryIO, first: bytes) -> Header:
    head = first + read_exact(src, _COMPACT_MODEL.size - len(first), "the header")
    _, version, flags, size, model_id, name_len = _COMPACT_MODEL.unpack(head)
    if name_len > MAX_NAME:
        raise LstmzipError("corrupted header (model name too long)")
    name = read_exact(src, name_len, "the header")
    _check_crc(head + name, read_exact(src, 4, "the header"), "header")
    if flags:
        raise LstmzipError(f"unsupported header flags {flags:#x}")
    if not 1 <= size <= MAX_BLOCK_SIZE:
        raise LstmzipError(f"corrupted header (size {size} of a compact file out of range)")
    return Header(version=version, streams=0, block_size=size, size=size,
                  model_sha256=model_id, model_name=name.decode("utf-8", "replace"))


def read_block_header(src: BinaryIO, header: Header, index: int):
    """The next BlockHeader, or an End record after the last block."""
    kind = read_exact(src, 1, f"block {index}")
    if kind[0] == END and header.version == COMPACT_VERSION:
        return End(header.size, None)
    if kind[0] == END and header.version == COMPACT_MODEL_VERSION:
        return End(header.size, read_exact(src, SHORT_SHA_LEN, "the end record"))
    if kind[0] == END:
        rest = read_exact(src, _END.size - 1 + 4, "the end record")
        body, crc = kind + rest[:-4], rest[-4:]
        _check_crc(body, crc, "end record")
        _, total, sha = _END.unpack(body)
        return End(total, sha)
    rest = read_exact(src, _BLOCK.size - 1 + 4, f"block {index} header")
    body, crc = kind + rest[:-4], rest[-4:]
    _check_crc(body, crc, f"block {index} header")
    method, raw_len, payload_len, streams, raw_crc = _BLOCK.unpack(body)
    where = f"block {index}"
    if method not in METHOD_NAMES:       # its header's CRC held: most likely a newer writer's method
        raise LstmzipError(f"{where}: unknown method {method} (a file from a newer lstmzip, "
                           f"or corrupted)")
    if not 1 <= raw_len <= header.block_size:
        raise LstmzipError(f"corrupted {where} (length {raw_len} exceeds block size {header.block_size})")
    if method == STORED and payload_len != raw_len:
        raise LstmzipError(f"corrupted {where} (stored length mismatch)")
    if method != STORED and payload_len > raw_len:    # we never write a payload larger than stored
        raise LstmzipError(f"corrupted {where} (payload larger than its data)")
    if header.version == COMPACT_VERSION and method not in COMPACT_METHODS:
        raise LstmzipError(f"corrupted {where} (method {METHOD_NAMES[method]} in a compact file)")
    if header.version == COMPACT_MODEL_VERSION and method not in MODEL_METHODS:
        raise LstmzipError(f"corrupted {where} (method {METHOD_NAMES[method]} in a compact model file)")
    if header.version == COMPACT_MODEL_VERSION and raw_len != header.size:
        raise LstmzipError(f"corrupted {where} (length {raw_len} differs from the compact file's {header.size})")
    if method in CM_METHODS and header.version < 2:
        raise LstmzipError(f"corrupted {where} (method {METHOD_NAMES[method]} in a version "
                           f"{header.version} file)")
    if method == CM_TEXT and payload_len < TRANSFORM_HEAD.size:
        raise LstmzipError(f"corrupted {where} (cm+dict payload shorter than its transform header)")
    if method in MODEL_METHODS and not 1 <= streams <= raw_len:
        raise LstmzipError(f"corrupted {where} (stream count {streams})")
    if method in MODEL_METHODS and streams > MAX_MODEL_STREAMS:
        raise LstmzipError(f"{where} claims {streams} streams; this lstmzip decodes at most {MAX_MODEL_STREAMS}")
    return BlockHeader(method, raw_len, payload_len, streams, raw_crc)
