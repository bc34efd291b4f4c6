"""Incremental coding and seeking, after CPython's test_lzma (LZMACompressor/LZMADecompressor
chunk, byte-by-byte, max_length, eof and unused_data cases) and test_gzip (seek cases)."""

import io

import pytest

import lstmzip
from lstmzip import LstmzipCompressor, LstmzipDecompressor, LstmzipError
from lstmzip import format as fmt
from lstmzip.codec import Compressor

INPUT = b"".join(b"line %d: the quick brown fox jumps over the lazy dog\n" % i for i in range(120))
BLOCK = 1500                     # INPUT is 5 blocks: output comes block by block


@pytest.fixture(scope="module")
def comp(tiny_model):
    """Level 1 (the LSTM and rANS coder) on small blocks: fast with the tiny model."""
    return Compressor(tiny_model, level=1, block_size=BLOCK, threads=1)


@pytest.fixture(scope="module")
def blob(comp):
    c = LstmzipCompressor(compressor=comp)
    return c.compress(INPUT) + c.flush()


def _dec(tiny_model):
    return LstmzipDecompressor(tiny_model, threads=1)


# ---- the namespace ------------------------------------------------------------------------

def test_namespace_is_clean():
    names = dir(lstmzip)
    for private in ("os", "io", "hashlib", "annotations"):
        assert private not in names
    assert all(hasattr(lstmzip, n) for n in lstmzip.__all__)
    assert {"LstmzipCompressor", "LstmzipDecompressor"} <= set(lstmzip.__all__)


# ---- LstmzipCompressor (test_lzma's compressor cases) ---------------------------------------

def test_compressor_chunks_decode_to_the_input(comp, tiny_model):
    for size in (1, 100, BLOCK, 4000):
        c = LstmzipCompressor(compressor=comp)
        out = [c.compress(INPUT[i:i + size]) for i in range(0, len(INPUT), size)]
        out.append(c.flush())
        assert lstmzip.decompress(b"".join(out), model=tiny_model) == INPUT


def test_compressor_emits_the_header_first_then_each_block_when_full(comp):
    c = LstmzipCompressor(compressor=comp)
    head = c.compress(b"")
    assert head == comp.header(None).pack()                    # streamed: size unknown
    assert fmt.read_header(io.BytesIO(head)).size is None
    assert c.compress(INPUT[:BLOCK - 1]) == b""                # not yet a block
    one = c.compress(INPUT[BLOCK - 1:BLOCK + 10])              # the first block is full: coded now
    assert one == comp.compress_block(INPUT[:BLOCK])
    assert c.compress(b"") == b""
    rest = c.flush()
    assert rest.endswith(fmt.End(BLOCK + 10, __import__("hashlib").sha256(INPUT[:BLOCK + 10]).digest()).pack())


def test_compressor_blocks_match_the_one_shot_compress(comp, blob):
    one_shot = comp.compress(INPUT)
    n = len(comp.header(None).pack())
    assert len(comp.header(len(INPUT)).pack()) == n
    assert blob[n:] == one_shot[n:]                            # same blocks; only the header's size differs


def test_compressor_empty_input_and_flush_once(comp, tiny_model):
    c = LstmzipCompressor(compressor=comp)
    empty = c.flush()
    assert lstmzip.decompress(empty, model=tiny_model) == b""
    with pytest.raises(ValueError):
        c.flush()
    with pytest.raises(ValueError):
        c.compress(b"more")


def test_compressor_accepts_bytes_like_and_its_own_arguments(tiny_model):
    c = LstmzipCompressor(tiny_model, level=1, block_size=700, threads=1)
    assert c.block_size == 700
    data = bytearray(INPUT[:2000])
    out = c.compress(memoryview(data)) + c.flush()
    assert lstmzip.decompress(out, model=tiny_model) == INPUT[:2000]
    with pytest.raises(TypeError):
        LstmzipCompressor(compressor=Compressor(tiny_model, level=1)).compress("text")


# ---- LstmzipDecompressor (test_lzma's decompressor cases) -----------------------------------

def test_decompressor_chunks(blob, tiny_model):
    d = _dec(tiny_model)
    out = []
    for i in range(0, len(blob), 10):
        assert not d.eof
        out.append(d.decompress(blob[i:i + 10]))
    assert b"".join(out) == INPUT
    assert d.eof and d.unused_data == b"" and not d.needs_input


def test_decompressor_byte_by_byte(blob, tiny_model):
    d = _dec(tiny_model)
    out = b""
    for i in range(len(blob)):
        out += d.decompress(blob[i:i + 1])
        assert d.needs_input == (not d.eof)
    assert out == INPUT and d.eof


def test_decompressor_returns_each_block_as_soon_as_it_is_whole(blob, tiny_model):
    d = _dec(tiny_model)
    blocks = [bh for _, bh, _ in lstmzip.Decompressor(tiny_model).blocks(io.BytesIO(blob))]
    end_of_first = len(blob) - sum(19 + b.payload_len for b in blocks[:-1]) - 45 + 19 + blocks[0].payload_len
    assert d.decompress(blob[:end_of_first - 1]) == b"" and d.needs_input
    assert d.decompress(blob[end_of_first - 1:end_of_first]) == INPUT[:BLOCK]


def test_decompressor_chunks_maxsize(blob, tiny_model):
    d = _dec(tiny_model)
    max_length = 100
    half = len(blob) // 2
    out = [d.decompress(blob[:half], max_length=max_length)]      # first half of the input
    assert not d.needs_input and len(out[-1]) == max_length
    out.append(d.decompress(b"", max_length=max_length))          # more output, no more input
    assert not d.needs_input and len(out[-1]) == max_length
    out.append(d.decompress(blob[half:], max_length=max_length))  # more output while giving input
    assert len(out[-1]) <= max_length
    while not d.eof:                                              # the rest
        out.append(d.decompress(b"", max_length=max_length))
        assert len(out[-1]) <= max_length
    assert b"".join(out) == INPUT and d.unused_data == b""


def test_decompressor_inputbuf(blob, tiny_model):
    """Input kept across calls while output is held back by max_length (test_lzma's inputbuf_1..3)."""
    d = _dec(tiny_model)
    out = [d.decompress(blob[:2000], max_length=5)]
    out.append(d.decompress(blob[2000:3000], max_length=0))
    assert out[-1] == b"" and not d.needs_input
    out.append(d.decompress(blob[3000:], max_length=7))
    while not d.needs_input and not d.eof:
        out.append(d.decompress(b"", max_length=1000))
    assert b"".join(out) == INPUT and d.eof


def test_decompressor_unused_data(blob, tiny_model):
    extra = b"\x89LSTMZ and some more"
    for split in (1, len(blob) - 45, len(blob) - 3):
        d = _dec(tiny_model)
        data = blob + extra
        assert d.decompress(data[:split]) + d.decompress(data[split:]) == INPUT
        assert d.eof and d.unused_data == extra
    d = _dec(tiny_model)
    assert d.decompress(blob + extra) == INPUT and d.unused_data == extra


def test_decompressor_eof_then_refuses_more(blob, tiny_model):
    d = _dec(tiny_model)
    assert d.decompress(blob) == INPUT and d.eof
    with pytest.raises(EOFError):
        d.decompress(b"abc")


def test_decompressor_truncated_input_just_waits(blob, tiny_model):
    d = _dec(tiny_model)
    out = d.decompress(blob[:-1])
    assert out == INPUT and not d.eof and d.needs_input


def test_decompressor_bad_input_fails_at_once_and_stays_failed(blob, tiny_model):
    d = _dec(tiny_model)
    with pytest.raises(LstmzipError, match="bad magic"):
        d.decompress(b"\x89LST-")                                  # 5 bytes suffice to know
    bad = bytearray(blob)
    bad[-60] ^= 1                                                  # inside the last block's payload
    d = _dec(tiny_model)
    with pytest.raises(LstmzipError) as first:
        d.decompress(bytes(bad))
    with pytest.raises(LstmzipError) as again:
        d.decompress(b"")
    assert str(again.value) == str(first.value)


def test_decompressor_member_after_member(blob, tiny_model):
    d, out = _dec(tiny_model), []
    data = blob + blob
    while data:
        out.append(d.decompress(data))
        assert d.eof
        data, d = d.unused_data, _dec(tiny_model)
    assert b"".join(out) == INPUT * 2


def test_decompressor_small_compact_members_byte_by_byte(blob, tiny_model):
    """Small inputs are written as compact members (no model, a 1-byte end record); a stream of
    them and a full member, fed one byte at a time, each member with its own decompressor."""
    parts = [b"", b"x", INPUT[:300]]
    data = b"".join(lstmzip.compress(p, model=tiny_model) for p in parts) + blob
    out, d = [], _dec(tiny_model)
    for i in range(len(data)):
        if d.eof:
            rest, d = d.unused_data, _dec(tiny_model)
            out.append(d.decompress(rest))
        out.append(d.decompress(data[i:i + 1]))
    assert d.eof and b"".join(out) == b"".join(parts) + INPUT
    with lstmzip.open(io.BytesIO(data), "rb", model=tiny_model) as f:
        assert f.read() == b"".join(parts) + INPUT
        assert f.seek(1) == 1 and f.read(3) == INPUT[:3]


def test_decompressor_cm_blocks(tiny_model):
    c = LstmzipCompressor(tiny_model, level=2, block_size=1000, methods=("cm",), threads=1)
    data = INPUT[:3000]
    coded = b"".join(c.compress(data[i:i + 333]) for i in range(0, len(data), 333)) + c.flush()
    d = _dec(tiny_model)
    assert b"".join(d.decompress(coded[i:i + 64]) for i in range(0, len(coded), 64)) == data
    assert d.eof


# ---- lstmzip.open: concatenation and seeking (test_gzip's seek cases) -------------------------

def test_open_reads_concatenated_files(blob, tiny_model):
    with lstmzip.open(io.BytesIO(blob + blob), "rb", model=tiny_model) as f:
        assert f.read() == INPUT * 2
    with lstmzip.open(io.BytesIO(blob + b"\0\0"), "rb", model=tiny_model) as f:
        with pytest.raises(LstmzipError, match="trailing data"):
            f.read()


def test_open_writes_what_the_incremental_compressor_writes(comp, blob, tiny_model):
    buf = io.BytesIO()
    with lstmzip.LstmzipFile(buf, "wb", model=tiny_model, block_size=BLOCK, level=1) as f:
        assert not f.seekable()
        for i in range(0, len(INPUT), 999):
            f.write(INPUT[i:i + 999])
        assert f.tell() == len(INPUT)
    assert buf.getvalue() == blob


@pytest.fixture(scope="module")
def zstd_blob(tiny_model):
    """Small zstd blocks: the seek tests decode from the start many times."""
    c = LstmzipCompressor(tiny_model, block_size=700, methods=("zstd", "stored"), threads=1)
    return c.compress(INPUT) + c.flush()


def test_seek_read(zstd_blob, tiny_model):
    with lstmzip.open(io.BytesIO(zstd_blob), "rb", model=tiny_model) as f:
        assert f.seekable()
        while True:
            oldpos = f.tell()
            line1 = f.readline()
            if not line1:
                break
            newpos = f.tell()
            f.seek(oldpos)                                      # backward
            amount = min(10, len(line1))
            assert f.read(amount) == line1[:amount]
            f.seek(newpos)                                      # forward
        assert f.tell() == len(INPUT)


def test_seek_whence(blob, tiny_model):
    with lstmzip.open(io.BytesIO(blob), "rb", model=tiny_model) as f:
        f.read(10)
        assert f.seek(10, io.SEEK_CUR) == 20
        assert f.read(10) == INPUT[20:30]
        assert f.seek(-15, io.SEEK_END) == len(INPUT) - 15
        assert f.read() == INPUT[-15:]
        assert f.seek(3000) == 3000 and f.tell() == 3000         # backward, across blocks
        assert f.read(5) == INPUT[3000:3005]
        assert f.seek(len(INPUT) + 100) == len(INPUT)             # past the end: stops at the end
        assert f.read() == b""
        with pytest.raises(ValueError):
            f.seek(-1)
        with pytest.raises(ValueError):
            f.seek(0, 3)


def test_seek_in_concatenated_files(zstd_blob, tiny_model):
    with lstmzip.open(io.BytesIO(zstd_blob * 2), "rb", model=tiny_model) as f:
        assert f.seek(len(INPUT) + 7) == len(INPUT) + 7
        assert f.read(5) == INPUT[7:12]
        f.seek(5)
        assert f.read(5) == INPUT[5:10]


def test_seek_on_a_real_file_and_text_mode(tmp_path, zstd_blob, tiny_model):
    p = tmp_path / "s.lstmz"
    p.write_bytes(b"ignored prefix" + zstd_blob)
    with open(p, "rb") as raw:
        raw.seek(len(b"ignored prefix"))                        # the file starts where it was opened
        with lstmzip.open(raw, "rb", model=tiny_model) as f:
            f.seek(100)
            f.seek(50)
            assert f.read(4) == INPUT[50:54]
    p.write_bytes(zstd_blob)
    with lstmzip.open(p, "rt", model=tiny_model, encoding="ascii") as t:
        first = t.readline()
        t.seek(0)
        assert t.readline() == first == INPUT.split(b"\n")[0].decode() + "\n"


class _Pipe(io.RawIOBase):
    def __init__(self, data):
        self._src = io.BytesIO(data)

    def readable(self):
        return True

    def readinto(self, b):
        return self._src.readinto(b)


def test_unseekable_source_seeks_forward_only(zstd_blob, tiny_model):
    with lstmzip.open(_Pipe(zstd_blob), "rb", model=tiny_model) as f:
        assert not f.seekable()
        assert f.seek(100) == 100 and f.read(3) == INPUT[100:103]
        with pytest.raises(io.UnsupportedOperation):
            f.seek(0)


def test_seek_backward_clears_an_error_until_it_recurs(zstd_blob, tiny_model):
    bad = zstd_blob[:-10]
    with lstmzip.open(io.BytesIO(bad), "rb", model=tiny_model) as f:
        with pytest.raises(LstmzipError, match="truncated"):
            f.read()
        f.seek(0)
        assert f.read(20) == INPUT[:20]
