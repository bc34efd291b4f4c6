"""Round trips through the codec, method fallback, and the size guarantees."""

import numpy as np
import pytest
import zstandard

import lstmzip
from lstmzip.codec import Compressor, Decompressor, choose_streams, stream_layout
from lstmzip.model import random_model

from conftest import CORPORA, DEFAULT_MODEL, block_methods, needs_corpora

TEXT = (b"It was the best of times, it was the worst of times, it was the age of wisdom, "
        b"it was the age of foolishness, it was the epoch of belief.\n") * 40


@pytest.fixture(scope="module")
def text_model():
    """A seeded random model whose output prior knows English letter frequencies."""
    return random_model(layers=2, hidden=32, seed=4, name="text", prior=TEXT)


@pytest.fixture(scope="module")
def pair(text_model):
    return Compressor(text_model), Decompressor(text_model)


@pytest.fixture(scope="module")
def lstm_only(text_model):
    return Compressor(text_model, methods=("lstm", "stored"), block_size=4096), Decompressor(text_model)


CASES = {
    "empty": b"",
    "one byte": b"A",
    "every byte value": bytes(range(256)),
    "text": TEXT,
    "random": np.random.default_rng(0).integers(0, 256, 20000, dtype=np.uint8).tobytes(),
}


@pytest.mark.parametrize("name", CASES)
def test_round_trip(pair, name):
    comp, dec = pair
    assert dec.decompress(comp.compress(CASES[name])) == CASES[name]


@pytest.mark.parametrize("name", ["one byte", "every byte value", "text"])
def test_round_trip_lstm_path(lstm_only, name):
    comp, dec = lstm_only
    blob = comp.compress(CASES[name])
    assert dec.decompress(blob) == CASES[name]
    if name == "text":
        assert set(block_methods(blob)) == {"lstm"}


def test_each_single_byte_value(pair):
    comp, dec = pair
    for b in range(256):
        assert dec.decompress(comp.compress(bytes([b]))) == bytes([b])


def test_million_zero_bytes_goes_to_zstd(text_model):
    data = bytes(10 ** 6)
    blob = Compressor(text_model, block_size=1 << 20, streams=256).compress(data)
    assert block_methods(blob) == ["zstd"]
    assert len(blob) < 500
    assert Decompressor(text_model).decompress(blob) == data


def test_random_bytes_are_stored_not_expanded(pair):
    comp, _ = pair
    data = CASES["random"]
    blob = comp.compress(data)
    assert block_methods(blob) == ["stored"]
    assert len(blob) <= len(data) + 200


@pytest.mark.parametrize("streams", [1, 2, 3, 7, 50])
def test_any_stream_count_and_small_blocks(text_model, streams):
    data = TEXT[:3600]
    comp = Compressor(text_model, streams=streams, block_size=1000, methods=("lstm",))
    blob = comp.compress(data)
    assert block_methods(blob) == ["lstm"] * 4
    assert Decompressor(text_model).decompress(blob) == data


def test_stream_layout_covers_the_block_exactly():
    for n, s in [(1, 1), (10, 3), (4096, 7), (1000, 1000), (999, 4)]:
        starts, steps, last = stream_layout(n, s)
        covered = sorted(int(st) + t for k, st in enumerate(starts) for t in range(steps)
                         if t < steps - 1 or k < last)
        assert covered == list(range(n))


def test_auto_stream_count():
    assert choose_streams(1000) == 1
    assert choose_streams(1 << 20) == 256
    assert choose_streams(100, streams=8) == 8
    assert choose_streams(5, streams=8) == 5


def test_never_larger_than_zstd19_plus_a_few_bytes(pair):
    comp, _ = pair
    for data in CASES.values():
        blob = comp.compress(data)
        z = zstandard.ZstdCompressor(level=19).compress(data)
        overhead = 150 + 19 * max(1, -(-len(data) // comp.block_size))   # header + block headers + end
        assert len(blob) <= len(z) + overhead
        assert len(blob) <= len(data) + overhead


def test_compressor_is_reusable_and_api_matches(text_model, tmp_path):
    comp = Compressor(text_model)
    a, b = comp.compress(TEXT), comp.compress(TEXT)
    assert a == b                                   # deterministic output
    assert lstmzip.decompress(a, model=text_model) == TEXT
    assert lstmzip.compress(TEXT, model=text_model) == a


# ---- the corpora ------------------------------------------------------------------------

def _corpus_files():
    if not CORPORA.is_dir():
        return []
    return sorted(p for d in ("canterbury", "calgary") for p in (CORPORA / d).iterdir() if p.is_file())


@pytest.fixture(scope="module")
def corpus_codec(tiny_model_path):
    """The shipped default model when present (real lstm blocks), else the seeded tiny one."""
    model = DEFAULT_MODEL if DEFAULT_MODEL.is_file() else tiny_model_path
    return Compressor(model), Decompressor(model)


@needs_corpora
@pytest.mark.slow
@pytest.mark.parametrize("path", _corpus_files(), ids=lambda p: f"{p.parent.name}/{p.name}")
def test_corpus_round_trip(corpus_codec, path):
    """Every benchmark file at the default level: its first 48 KiB (the whole of the 14 smaller
    files; the full files' round trips take 10 of CI's minutes and `lstmzip bench` verifies them)."""
    comp, dec = corpus_codec
    data = path.read_bytes()[: 48 << 10]
    blob = comp.compress(data)
    assert dec.decompress(blob) == data
    assert len(blob) <= len(zstandard.ZstdCompressor(level=19).compress(data)) + 200


@needs_corpora
@pytest.mark.slow
@pytest.mark.parametrize("level,name", [(1, "calgary/paper2"), (2, "calgary/obj2"), (3, "canterbury/kennedy.xls"),
                                        (4, "calgary/progc"), (5, "calgary/geo"), (7, "calgary/bib"),
                                        (8, "canterbury/cp.html"), (9, "calgary/news"),
                                        ("9-deep", "canterbury/alice29.txt")])
def test_every_level_round_trips_a_corpus_file(corpus_codec, level, name):
    """The default level runs over every corpus file above; each other level on 96 KB of one
    (-9 with every layer adapting on 32 KB)."""
    size, adapt = (96 << 10, None) if level != "9-deep" else (32 << 10, "deep")
    level = 9 if level == "9-deep" else level
    data = CORPORA.joinpath(*name.split("/")).read_bytes()[:size]
    comp = Compressor(corpus_codec[0].model, level=level, adapt=adapt)
    blob = comp.compress(data)
    assert corpus_codec[1].decompress(blob) == data
    assert len(blob) <= len(zstandard.ZstdCompressor(level=19).compress(data)) + 200
