"""Bad input never loses data and never passes silently: corruption, truncation,
forged headers, unknown versions, the wrong model."""

import io
import struct
import tracemalloc
import zlib

import pytest

from lstmzip import format as fmt
from lstmzip.codec import Compressor, Decompressor
from lstmzip.errors import LstmzipError
from lstmzip.model import random_model

TEXT = b"Corruption must never pass silently; a checksum names the block that broke.\n" * 6


@pytest.fixture(scope="module")
def model():
    return random_model(layers=1, hidden=16, seed=9, name="small", prior=TEXT)


@pytest.fixture(scope="module")
def small_file(model):
    """~300 bytes in three blocks: lstm, zstd and stored, so every method is damaged somewhere."""
    comp_l = Compressor(model, methods=("lstm",), block_size=200, streams=2)
    comp_z = Compressor(model, methods=("zstd",), block_size=200)
    data = TEXT[:200] + TEXT[200:400] + bytes(range(200, 256))
    blob = io.BytesIO()
    blob.write(comp_l.header(len(data)).pack())
    blob.write(comp_l.compress_block(data[:200]))
    blob.write(comp_z.compress_block(data[200:400]))
    blob.write(Compressor(model, methods=("stored",)).compress_block(data[400:]))
    import hashlib
    blob.write(fmt.End(len(data), hashlib.sha256(data).digest()).pack())
    return data, blob.getvalue()


def test_small_file_decodes(model, small_file):
    data, blob = small_file
    assert Decompressor(model).decompress(blob) == data


def test_every_single_byte_flip_is_caught(model, small_file):
    data, blob = small_file
    dec = Decompressor(model)
    for pos in range(len(blob)):
        for mask in (0x01, 0xFF):
            bad = bytearray(blob)
            bad[pos] ^= mask
            try:
                out = dec.decompress(bytes(bad))
            except LstmzipError:
                continue
            assert out == data, f"byte {pos} ^ {mask:#x} decoded to wrong data without an error"


def test_every_truncation_is_caught(model, small_file):
    _, blob = small_file
    dec = Decompressor(model)
    for cut in range(len(blob)):
        with pytest.raises(LstmzipError):
            dec.decompress(blob[:cut])


def test_trailing_garbage_is_an_error(model, small_file):
    _, blob = small_file
    with pytest.raises(LstmzipError, match="trailing"):
        Decompressor(model).decompress(blob + b"\x00")


def test_not_an_lstmzip_file():
    for junk in (b"", b"hello", b"\x28\xb5\x2f\xfd" + bytes(60)):
        with pytest.raises(LstmzipError, match="not an lstmzip file"):
            Decompressor().decompress(junk)


def _reheader(blob: bytes, **changes) -> bytes:
    """Rewrite header fields and fix the header CRC (a forged but well-formed header)."""
    h = fmt.read_header(io.BytesIO(blob))
    rest = blob[len(h.pack()):]
    raw = bytearray(h.pack()[:-4])
    for field, value in changes.items():
        offset, form = {"version": (8, "<B"), "size": (16, "<Q"), "block_size": (12, "<I"),
                        "flags": (9, "<B")}[field]
        struct.pack_into(form, raw, offset, value)
    return bytes(raw) + struct.pack("<I", zlib.crc32(bytes(raw))) + rest


def test_unknown_format_version(model, small_file):
    _, blob = small_file
    with pytest.raises(LstmzipError, match="unsupported format version 3"):
        Decompressor(model).decompress(_reheader(blob, version=3))


def test_forged_huge_size_allocates_nothing(model, small_file):
    _, blob = small_file
    forged = _reheader(blob, size=1 << 40)                 # claims 1 TB
    tracemalloc.start()
    with pytest.raises(LstmzipError, match="length differs"):
        Decompressor(model).decompress(forged)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert peak < 50 << 20


def test_forged_block_length_beyond_block_size(model):
    comp = Compressor(model, block_size=100)
    blob = bytearray(comp.compress(TEXT[:150]))
    head_len = len(comp.header(150).pack())
    body = bytearray(blob[head_len:head_len + 15])
    struct.pack_into("<I", body, 1, 1 << 31)                # block raw_len = 2 GB
    blob[head_len:head_len + 19] = body + struct.pack("<I", zlib.crc32(bytes(body)))
    with pytest.raises(LstmzipError, match="exceeds block size"):
        Decompressor(model).decompress(bytes(blob))
    with pytest.raises(LstmzipError, match="block size"):
        Decompressor(model).decompress(_reheader(bytes(blob), block_size=1 << 30))


def test_missing_model_names_the_model_needed(model):
    blob = Compressor(model, methods=("lstm",)).compress(TEXT)
    with pytest.raises(LstmzipError, match=r"needs model 'small' \(sha256 [0-9a-f]{16}…\).*-m PATH"):
        Decompressor().decompress(blob)


def test_different_model_is_refused(model):
    blob = Compressor(model, methods=("lstm",)).compress(TEXT)
    other = random_model(layers=1, hidden=16, seed=10, name="other")
    with pytest.raises(LstmzipError, match="needs model 'small'.*but model 'other'"):
        Decompressor(other).decompress(blob)


def test_files_without_lstm_blocks_need_no_model(model):
    blob = Compressor(model, methods=("zstd", "stored")).compress(TEXT)
    assert Decompressor().decompress(blob) == TEXT         # model 'small' is not installed


def test_header_round_trip():
    h = fmt.Header(streams=7, block_size=12345, size=None, model_sha256=bytes(range(32)), model_name="naïve")
    back = fmt.read_header(io.BytesIO(h.pack()))
    assert back == h
