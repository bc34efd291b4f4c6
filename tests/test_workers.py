"""--workers: independent blocks in several processes, byte-identical to one process."""

from __future__ import annotations

import pytest

from lstmzip.codec import Compressor, Decompressor
from lstmzip.errors import LstmzipError

from conftest import REPO, block_methods, run_cli

DATA = (REPO / "README.md").read_bytes()[:6000] * 3 + bytes(range(256)) * 20 + b"\0" * 9000


@pytest.mark.parametrize("level", [1, 3])
def test_workers_give_the_same_bytes_as_one_process(tiny_model, level):
    one = Compressor(tiny_model, level=level, block_size=7000).compress(DATA)
    two = Compressor(tiny_model, level=level, block_size=7000, workers=2).compress(DATA)
    assert one == two and len(block_methods(one)) == 5
    assert Decompressor(tiny_model, workers=2).decompress(one) == DATA


def test_workers_report_a_bad_block_as_one_error(tiny_model):
    blob = bytearray(Compressor(tiny_model, level=2, block_size=7000).compress(DATA))
    blob[-200] ^= 0x40                                    # inside the last block's payload
    with pytest.raises(LstmzipError):
        Decompressor(tiny_model, workers=2).decompress(bytes(blob))


def test_cli_workers(tmp_path, tiny_model_path):
    (tmp_path / "a.bin").write_bytes(DATA)
    m = str(tiny_model_path)
    run_cli("compress", "-m", m, "-3", "--block-size", "7000", "-o", "one.lstmz", "a.bin", cwd=tmp_path, check=True)
    run_cli("compress", "-m", m, "-3", "--block-size", "7000", "--workers", "2", "-o", "two.lstmz", "a.bin",
            cwd=tmp_path, check=True)
    assert (tmp_path / "one.lstmz").read_bytes() == (tmp_path / "two.lstmz").read_bytes()
    run_cli("decompress", "-m", m, "--workers", "2", "-o", "back.bin", "two.lstmz", cwd=tmp_path, check=True)
    assert (tmp_path / "back.bin").read_bytes() == DATA
