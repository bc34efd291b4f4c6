"""Level 9 chooses the model per input (codec.CHOICE_LEVELS): the first block's LSTM probe
with each shipped model decides, the header names the winner, and every way of compressing (one
shot, the incremental writer, worker processes) makes the same bytes."""

import io
from pathlib import Path

import pytest

import lstmzip
from lstmzip import format as fmt
from lstmzip.codec import CHOICE_LEVELS, CHOICE_MIN, LSTM_SAMPLE, Compressor, Decompressor
from lstmzip.errors import LstmzipError

ROOT = Path(__file__).resolve().parents[1]
CODE = (ROOT / "lstmzip" / "codec.py").read_bytes()[:12000]
PROSE = (ROOT / "README.md").read_bytes()[:12000]


def header_model(blob: bytes) -> str:
    return fmt.read_header(io.BytesIO(blob)).model_name


def test_only_level_9_without_a_model_chooses():
    assert set(CHOICE_LEVELS) == {9}
    assert Compressor(level=8).choice == ()
    assert [m.name for m in Compressor(level=9).choice] == ["default", "broad"]
    assert Compressor(level=6).choice == ()
    assert Compressor(level=9, model="default").choice == ()         # a model given is kept
    assert Compressor(level=9, methods=("zstd",)).choice == ()        # no LSTM, nothing to choose
    assert Compressor(level=9, lstm_auto=False).choice == ()


@pytest.mark.parametrize("data", [CODE, PROSE], ids=["code", "prose"])
def test_the_probe_decides_and_the_header_names_the_choice(data):
    comp = Compressor(level=9)
    blob = comp.compress(data)
    costs = comp.stats["model_probe"]
    assert set(costs) == {"default", "broad"}
    chosen = min(("default", "broad"), key=lambda name: (costs[name], name != "default"))
    assert header_model(blob) == chosen
    for name in ("default", "broad"):              # each cost is that model's own probe
        alone = Compressor(level=9, model=name)
        assert alone._probe(alone.engine, data[:LSTM_SAMPLE]) == costs[name]
    # the file is the one the chosen model makes when it is given, and decodes without -m
    assert Compressor(level=9, model=chosen).compress(data) == blob
    assert Decompressor().decompress(blob) == data


def test_short_and_incompressible_inputs_take_the_first_model_unprobed():
    import random
    noise = random.Random(5).randbytes(20000)
    for data in (CODE[:CHOICE_MIN - 1], noise, b""):
        comp = Compressor(level=9)
        blob = comp.compress(data)
        assert "model_probe" not in comp.stats
        assert Decompressor().decompress(blob) == data
        assert header_model(blob) in ("", "default")   # ("": a compact member, no model needed)


def test_the_writer_and_worker_processes_choose_alike(tmp_path):
    data = CODE + PROSE                          # three blocks of 9000: the first one chooses
    one_shot = Compressor(level=9, block_size=9000).compress(data)
    w = lstmzip.LstmzipCompressor(level=9, block_size=9000)
    assert w.compress(b"") == b""                # the header waits for the block that chooses
    streamed = w.compress(data[:5000]) + w.compress(data[5000:]) + w.flush()
    n = len(Compressor(level=9).header(None).pack())
    assert header_model(streamed) == header_model(one_shot)
    assert streamed[n:] == one_shot[n:]          # same blocks; only the header's size differs
    assert lstmzip.decompress(streamed) == data
    paths = []
    for i, chunk in enumerate((data, PROSE)):
        paths.append(tmp_path / f"in{i}")
        paths[-1].write_bytes(chunk)
    outs = lstmzip.compress_files([str(p) for p in paths], level=9, block_size=9000, workers=2)
    assert Path(outs[0]).read_bytes() == one_shot
    assert Path(outs[1]).read_bytes() == Compressor(level=9, block_size=9000).compress(PROSE)


def test_a_block_naming_a_model_outside_the_choice_is_refused():
    comp = Compressor(level=9)
    with pytest.raises(LstmzipError, match="not among the models"):
        comp.compress_block_with_stats(CODE, "0" * 64)
