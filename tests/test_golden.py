"""Golden files committed in tests/data/golden: every later version must decode them."""

import hashlib
from pathlib import Path

import pytest

from lstmzip import format as fmt
from lstmzip.codec import Decompressor

from conftest import DATA, block_methods

GOLDEN = DATA / "golden"
PAIRS = sorted(p for p in GOLDEN.glob("*.lstmz"))


def _original(path: Path) -> bytes:
    stem = path.stem.split("-")[0]                 # prose-auto.lstmz, prose-cm.lstmz -> prose.bin
    return (GOLDEN / f"{stem}.bin").read_bytes()


@pytest.mark.parametrize("path", PAIRS, ids=lambda p: p.name)
def test_golden_file_decodes(golden_model, path):
    assert Decompressor(golden_model).decompress(path.read_bytes()) == _original(path)


def test_golden_set_covers_every_method():
    methods = {m for p in PAIRS for m in block_methods(p.read_bytes())}
    assert methods == {"lstm", "zstd", "stored", "cm", "cm+dict"} == set(fmt.METHOD_NAMES.values())


def test_golden_model_identity_is_stable(golden_model):
    assert golden_model.sha256 == hashlib.sha256((DATA / "golden-model.npz").read_bytes()).hexdigest()
    assert golden_model.sha256.startswith("f597f1dd52a30c32")
