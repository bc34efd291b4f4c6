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
    with pytest.raises(LstmzipError, match="unsupported format version 9"):
        Decompressor(model).decompress(_reheader(blob, version=9))


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


# ---- the compact member (format version 3) and concatenated files ----------------------------

def _small(model, **kw) -> Compressor:
    """A Compressor that writes compact members (the default, as the command line's does)."""
    comp = Compressor(model, **kw)
    assert comp.compact
    return comp


def test_compact_empty_file_is_its_spec_bytes(model):
    head = fmt.MAGIC + bytes([3, 0]) + struct.pack("<I", 0)
    assert _small(model).compress(b"") == head + struct.pack("<I", zlib.crc32(head)) + b"\xff"


def test_the_library_writes_compact_members_unless_told_not_to(model):
    import lstmzip
    assert [len(lstmzip.compress(d)) for d in (b"", b"0123456789")] == [19, 48]     # issue 20: <= 40, <= 60
    comp = Compressor(model)
    comp.compact = False                        # the version 1/2 member, for readers before version 3
    blob = comp.compress(b"")
    assert blob[8] == 2 and len(blob) == 57 + len("small") + 4 + 45
    assert Decompressor(model).decompress(blob) == b""


def test_small_inputs_are_compact_and_decode_without_the_model(model):
    for data, most in ((b"", 19), (b"x", 39), (b"0123456789", 48), (bytes(range(200)), 200 + 38)):
        blob = _small(model).compress(data)
        assert blob[8] == fmt.COMPACT_VERSION and len(blob) <= most, (data, len(blob))
        assert Decompressor().decompress(blob) == data          # model 'small' is not installed


def test_a_model_coded_small_input_is_a_compact_model_member(model):
    """Version 4: the model named by 8 bytes of its SHA-256, 8 bytes of the data's SHA-256 in the
    end record; 70 bytes fewer than the version 1/2 member (for a model named 'small': 23 + 5 + 4
    header bytes instead of 57 + 5 + 4, an end of 9 instead of 45)."""
    import hashlib
    comp = _small(model, methods=("lstm", "stored"), streams=2)
    blob = comp.compress(TEXT)
    head = fmt.read_header(io.BytesIO(blob))
    assert head.version == fmt.COMPACT_MODEL_VERSION and head.model_name == "small"
    assert head.model_sha256 == bytes.fromhex(model.sha256)[:8] and head.size == len(TEXT)
    assert blob[-9] == fmt.END and blob[-8:] == hashlib.sha256(TEXT).digest()[:8]
    assert Decompressor(model).decompress(blob) == TEXT
    comp.compact = False
    full = comp.compress(TEXT)
    block = blob[23 + 5 + 4:-9]                                   # the same block in both
    assert full[8] == 1 and len(full) - len(blob) == 70 and full[-45 - len(block):-45] == block


def test_a_compact_model_member_finds_its_model_by_the_prefix(model, tmp_path, monkeypatch):
    blob = _small(model, methods=("lstm",), streams=2).compress(TEXT)
    with pytest.raises(LstmzipError, match=r"needs model 'small' \(sha256 [0-9a-f]{16}…\), which is not installed"):
        Decompressor().decompress(blob)
    other = random_model(layers=1, hidden=16, seed=10, name="small", prior=TEXT)
    with pytest.raises(LstmzipError, match="but model 'small'"):
        Decompressor(other).decompress(blob)                      # the same name, another model
    path = tmp_path / "small.npz"
    path.write_bytes(model.to_bytes())
    monkeypatch.setenv("LSTMZIP_MODEL_PATH", str(tmp_path))
    assert Decompressor().decompress(blob) == TEXT                # found by its 16 digits


def _compact_model(model, data: bytes, blocks: bytes, end: bytes = None) -> bytes:
    import hashlib
    head = fmt.Header(streams=0, block_size=len(data), size=len(data), model_sha256=bytes.fromhex(model.sha256),
                      model_name=model.name, version=fmt.COMPACT_MODEL_VERSION).pack()
    return head + blocks + (end if end is not None else b"\xff" + hashlib.sha256(data).digest()[:8])


def test_a_compact_model_member_holds_exactly_one_model_coded_block(model):
    lstm = Compressor(model, methods=("lstm",), streams=1).compress_block(TEXT[:100])
    assert Decompressor(model).decompress(_compact_model(model, TEXT[:100], lstm)) == TEXT[:100]
    stored = Compressor(model, methods=("stored",)).compress_block(TEXT[:100])
    with pytest.raises(LstmzipError, match="method stored in a compact model file"):
        Decompressor(model).decompress(_compact_model(model, TEXT[:100], stored))
    half = Compressor(model, methods=("lstm",), streams=1)
    two = half.compress_block(TEXT[:50]) + half.compress_block(TEXT[50:100])
    with pytest.raises(LstmzipError, match="length 50 differs"):
        Decompressor(model).decompress(_compact_model(model, TEXT[:100], two))
    with pytest.raises(LstmzipError, match="length differs|checksum mismatch"):
        Decompressor(model).decompress(_compact_model(model, TEXT[:100], b""))        # a block dropped
    with pytest.raises(LstmzipError, match="checksum mismatch"):
        Decompressor(model).decompress(_compact_model(model, TEXT[:100], lstm, b"\xff" + bytes(8)))
    with pytest.raises(LstmzipError, match="truncated"):
        Decompressor(model).decompress(_compact_model(model, TEXT[:100], lstm, b"\xff" + bytes(7)))
    bad = bytearray(_compact_model(model, TEXT[:100], lstm))
    bad[22] = 65                                                  # name_len past the limit
    with pytest.raises(LstmzipError, match="model name too long"):
        Decompressor(model).decompress(bytes(bad))


@pytest.mark.parametrize("version", [fmt.COMPACT_VERSION, fmt.COMPACT_MODEL_VERSION])
def test_every_byte_flip_and_truncation_of_a_compact_file_is_caught(model, version):
    """Version 3 (a zstd block: no model needed) and version 4 (an lstm block)."""
    if version == fmt.COMPACT_VERSION:
        data, blob, dec = TEXT[:40], _small(model).compress(TEXT[:40]), Decompressor()
    else:
        data = TEXT[:60]
        blob, dec = _small(model, methods=("lstm",), streams=1).compress(data), Decompressor(model)
    assert blob[8] == version
    for pos in range(len(blob)):
        for mask in (0x01, 0xFF):
            bad = bytearray(blob)
            bad[pos] ^= mask
            try:
                out = dec.decompress(bytes(bad))
            except LstmzipError:
                continue
            assert out == data, f"byte {pos} ^ {mask:#x} decoded to wrong data without an error"
    for cut in range(len(blob)):
        with pytest.raises(LstmzipError):
            dec.decompress(blob[:cut])


def _compact(data: bytes, blocks: bytes) -> bytes:
    head = fmt.Header(streams=0, block_size=max(len(data), 1), size=len(data), model_sha256=None,
                      model_name="", version=fmt.COMPACT_VERSION).pack()
    return head + blocks + b"\xff"


def test_a_compact_file_holds_one_stored_or_zstd_block(model):
    lstm = Compressor(model, methods=("lstm",), streams=1).compress_block(TEXT[:100])
    with pytest.raises(LstmzipError, match="method lstm in a compact file"):
        Decompressor(model).decompress(_compact(TEXT[:100], lstm))
    stored = Compressor(model, methods=("stored",))
    two = stored.compress_block(TEXT[:50]) + stored.compress_block(TEXT[50:100])
    with pytest.raises(LstmzipError, match="holds one block"):
        Decompressor().decompress(_compact(TEXT[:100], two))
    with pytest.raises(LstmzipError, match="length differs|checksum mismatch"):
        Decompressor().decompress(_compact(TEXT[:100], b""))          # a block dropped


def test_concatenated_files_decode_to_the_concatenated_data(model, small_file):
    data, blob = small_file
    comp = _small(model, methods=("lstm", "zstd", "stored"), block_size=200, streams=2)
    parts = [(data, blob), (b"", comp.compress(b"")), (b"tiny", comp.compress(b"tiny")),
             (TEXT, comp.compress(TEXT))]
    whole = b"".join(p for _, p in parts)
    assert Decompressor(model).decompress(whole) == b"".join(d for d, _ in parts)
    import lstmzip
    assert lstmzip.decompress(whole, model=model) == b"".join(d for d, _ in parts)
    with pytest.raises(LstmzipError, match="trailing data"):
        Decompressor(model).decompress(whole + b"junk")
    with pytest.raises(LstmzipError, match="trailing data"):
        Decompressor(model).decompress(whole + fmt.MAGIC[:5])
    with pytest.raises(LstmzipError):
        Decompressor(model).decompress(whole + fmt.MAGIC + b"\x02")          # a cut member


def test_each_member_is_verified_on_its_own(model):
    """Two members whose blocks are each valid, with their data swapped between them: the
    per-member SHA-256 catches what a whole-stream checksum would not."""
    comp = _small(model, methods=("zstd",))
    a, b = comp.compress(TEXT[:300]), comp.compress(TEXT[300:])
    assert a[8] == b[8] == fmt.COMPACT_VERSION
    big = Compressor(model, methods=("zstd",), block_size=300)
    one = big.compress(TEXT)                                   # v2, two blocks: 300 + rest
    h = len(big.header(len(TEXT)).pack())
    first_block_end = h + 19 + struct.unpack_from("<I", one, h + 5)[0]
    swapped = one[:h] + one[first_block_end:-45] + one[h:first_block_end] + one[-45:]
    with pytest.raises(LstmzipError, match="checksum mismatch"):
        Decompressor(model).decompress(swapped)
    assert Decompressor(model).decompress(one + a + b) == TEXT + TEXT[:300] + TEXT[300:]
