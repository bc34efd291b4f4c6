"""Every shipped model loads, validates and round-trips through the codec (LSTM alone and mixed), and
decoding finds it by its sha256 alone."""

from pathlib import Path

import pytest

from lstmzip import model as M
from lstmzip.codec import Compressor, Decompressor

TEXT = (Path(__file__).resolve().parents[1] / "README.md").read_bytes()[:3000]
SHIPPED = sorted(M.MODELS_DIR.glob("*.npz"))


@pytest.mark.parametrize("path", SHIPPED, ids=[p.stem for p in SHIPPED])
def test_every_shipped_model_round_trips_and_is_found_by_sha256(path):
    model = M.Model.load(path)
    model.validate()
    assert model.name == path.stem
    for level, methods in ((1, ("lstm",)), (4, ("cm",))):
        blob = Compressor(model=path, level=level, methods=methods, lstm_auto=False).compress(TEXT)
        assert Decompressor().decompress(blob) == TEXT            # no -m: the header's sha256 finds it
