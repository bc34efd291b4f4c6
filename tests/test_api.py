"""The Python API, shaped like gzip/lzma: compress, decompress, open, LstmzipError."""

import io

import pytest

import lstmzip
from lstmzip import LstmzipError

DATA = b"".join(b"line %d: the quick brown fox\n" % i for i in range(400))


def test_error_type_is_oserror_and_valueerror():
    assert issubclass(LstmzipError, OSError) and issubclass(LstmzipError, ValueError)
    with pytest.raises(OSError):
        lstmzip.decompress(b"garbage")


def test_open_write_then_read_binary(tmp_path, tiny_model_path):
    p = tmp_path / "x.lstmz"
    with lstmzip.open(p, "wb", model=tiny_model_path) as f:
        for i in range(0, len(DATA), 1000):
            f.write(DATA[i:i + 1000])
    with lstmzip.open(p, "rb", model=tiny_model_path) as f:
        assert f.read(10) == DATA[:10]
        assert f.read() == DATA[10:]
    assert lstmzip.decompress(p.read_bytes(), model=tiny_model_path) == DATA


def test_open_text_mode(tmp_path, tiny_model_path):
    p = tmp_path / "t.lstmz"
    with lstmzip.open(p, "wt", model=tiny_model_path, encoding="utf-8") as f:
        f.write("héllo\nwörld\n")
    with lstmzip.open(p, "rt", model=tiny_model_path, encoding="utf-8") as f:
        assert f.readlines() == ["héllo\n", "wörld\n"]


def test_open_on_file_objects_and_xmode(tmp_path, tiny_model_path):
    buf = io.BytesIO()
    with lstmzip.LstmzipFile(buf, "wb", model=tiny_model_path) as f:
        f.write(DATA)
    assert lstmzip.decompress(buf.getvalue(), model=tiny_model_path) == DATA
    p = tmp_path / "y.lstmz"
    p.write_bytes(b"x")
    with pytest.raises(FileExistsError):
        lstmzip.open(p, "xb", model=tiny_model_path)


def test_reading_a_truncated_file_raises(tmp_path, tiny_model_path):
    blob = lstmzip.compress(DATA, model=tiny_model_path)
    with lstmzip.open(io.BytesIO(blob[:-10]), "rb", model=tiny_model_path) as f:
        with pytest.raises(LstmzipError):
            f.read()
