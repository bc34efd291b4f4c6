"""The compressor's codings of a block, raced (lstmzip/race.py): later codings stop once they are
clearly behind, the choice among the finished ones stays exact, and every result decodes."""

from __future__ import annotations

import os
import random

import numpy as np
import pytest

from lstmzip import race
from lstmzip import transform as T
from lstmzip.cm import CMParams
from lstmzip.codec import Compressor, Decompressor

from conftest import REPO, block_methods

# 100 KB of the project's own prose: longer than race.MIN_RACE (64 KiB), text-like
DOCS = b"".join(p.read_bytes() for p in sorted((REPO / "docs").glob("*.md")))[:100_000]


def test_a_profile_interpolates_what_a_coding_spent():
    prof = race.Profile(np.array([0.0, 100.0, 200.0]), np.array([0.0, 10.0, 30.0]), 35)
    assert prof.spent(np.array([0.0]), np.array([100.0])) == 10
    assert prof.spent(np.array([50.0, 100.0]), np.array([100.0, 150.0])) == pytest.approx(5 + 10)


def test_the_stopper_stops_only_a_coding_behind_by_more_than_the_margin():
    ref = race.Profile(np.array([0.0, 1000.0]), np.array([0.0, 1000.0]), 1000)
    marks, check = race.stopper(ref, 1000, race.one_stream(), ((1 / 4, 0.10),))
    assert list(marks) == [250]
    check(250, 270)                       # 8 % behind: goes on
    check(100, 10_000)                    # not a checkpoint: never stops
    with pytest.raises(race.Stopped):
        check(250, 280)                   # 12 % behind
    marks, check = race.stopper(ref, 1000, race.one_stream(), ((1 / 8, 0.30), (1 / 4, 0.10)), first=400)
    assert list(marks) == [400]           # both moved to the first allowed step, the wider margin kept
    check(400, 500)
    with pytest.raises(race.Stopped):
        check(400, 530)


def test_a_stopped_coding_keeps_its_profile_as_far_as_it_went():
    prof = race.partial({100: 7, 200: None, 50: 3})
    assert prof.raw.tolist() == [0, 50, 100] and prof.cost.tolist() == [0, 3, 7]
    assert race.partial({10: None}) is None


def test_lockstep_streams_cover_the_first_bytes_of_every_stream():
    covered = race.lockstep(np.array([0, 100, 200]), 250)
    a, b = covered(60)
    assert a.tolist() == [0, 100, 200] and b.tolist() == [60, 160, 250]


@pytest.mark.parametrize("every", [1, 7, 64, 4096])
def test_forward_map_joins_to_forward_and_places_its_pieces(every):
    rng = random.Random(every)
    words = [b"the", b"The", b"THE", b"Word", b"wORD", b"zyx", b"\x80", b"\x01", b" ", b"\n", b"I"]
    text = b"".join(rng.choice(words) for _ in range(3000)) + os.urandom(2000) + DOCS[:20_000]
    coded, raw, at = T.forward_map(text, every)
    assert coded == T.forward(text)
    assert raw[0] == at[0] == 0 and raw[-1] == len(text) and at[-1] == len(coded)
    for i in range(1, len(raw)):          # each piece alone is that part of the transformed block
        assert coded[at[i - 1]:at[i]] == T.forward(text[raw[i - 1]:raw[i]])
    assert T.forward_map(b"") == (b"", [0], [0])


def _codings(c):
    return [name for name, _ in c.stats["codings"]], [f for _, f in c.stats["codings"]]


def test_without_stops_the_race_keeps_what_coding_everything_keeps(tiny_model, monkeypatch):
    full = Compressor(tiny_model, level=4, methods=("cm",))
    monkeypatch.setattr(race, "MIN_RACE", 1 << 30)            # no race: every coding in full
    want = full.compress(DOCS)
    monkeypatch.setattr(race, "MIN_RACE", 64 << 10)
    monkeypatch.setattr(race, "ONE_STREAM_MARGINS", ((1 / 8, 1e9),))
    monkeypatch.setattr(race, "LSTM_MARGINS", ((1 / 8, 1e9),))
    c = Compressor(tiny_model, level=4, methods=("cm",))
    assert c.compress(DOCS) == want
    names, done = _codings(c)
    assert names[:2] == ["cm+dict", "cm"] and all(f == 1.0 for f in done)


def test_stopped_codings_are_not_candidates_and_the_rest_decode(tiny_model, monkeypatch):
    monkeypatch.setattr(race, "ONE_STREAM_MARGINS", ((1 / 8, -0.99),))    # every later coding stops
    monkeypatch.setattr(race, "LSTM_MARGINS", ((1 / 4, -0.99),))
    import lstmzip.codec as codec
    monkeypatch.setattr(codec, "LSTM_MIN_GAIN", -1.0)                    # the probe always says yes
    c = Compressor(tiny_model, level=4, methods=("cm",))
    blob = c.compress(DOCS)
    names, done = _codings(c)
    assert names == ["cm+dict", "cm", "cm+lstm"]
    # a one-stream coding is not stopped before LSTM_SAMPLE bytes (the probe reads its cost there)
    assert done == [1.0, pytest.approx(codec.LSTM_SAMPLE / len(DOCS), abs=1e-3), pytest.approx(1 / 4, abs=0.01)]
    assert block_methods(blob) == ["cm+dict"]                          # the only one finished
    assert Decompressor(tiny_model).decompress(blob) == DOCS


def test_a_short_block_is_not_raced(tiny_model):
    c = Compressor(tiny_model, level=4, methods=("cm",))
    data = DOCS[:race.MIN_RACE]
    blob = c.compress(data)
    assert all(f == 1.0 for _, f in c.stats["codings"])
    assert Decompressor(tiny_model).decompress(blob) == data


def test_user_streams_are_not_raced(tiny_model):
    c = Compressor(tiny_model, level=4, methods=("cm",), streams=3)
    blob = c.compress(DOCS[:80_000])
    assert all(f == 1.0 for _, f in c.stats["codings"])
    assert Decompressor(tiny_model).decompress(blob) == DOCS[:80_000]


def test_the_lstm_overlapped_with_the_context_models_codes_the_same_bits(tiny_model, monkeypatch):
    """The encoder computes the LSTM a step ahead in a thread, the decoder splits each step's
    lanes in halves (codec._TablesAhead, _cm_decode_halves): both against the plain loops."""
    import lstmzip.codec as codec
    data = DOCS[:40_000]                                   # 16 lanes with the LSTM
    used = []
    halves = codec._cm_decode_halves
    monkeypatch.setattr(codec, "_cm_decode_halves", lambda *a: used.append(1) or halves(*a))
    c = Compressor(tiny_model, level=4, methods=("cm",), lstm_auto=False, transform=False)
    blob = c.compress(data)
    assert Decompressor(tiny_model).decompress(blob) == data and used
    monkeypatch.setattr(codec, "PIPE_MIN_LANES", 1 << 20)              # the plain decoder loop
    assert Decompressor(tiny_model).decompress(blob) == data

    class Now:                                             # the encoder's tables, not ahead
        def __init__(self, engine, buf, starts, steps, last, state):
            self.engine, self.buf, self.starts, self.steps, self.last, self.state = \
                engine, buf, starts, steps, last, state
            self.prev = np.full(len(starts), codec.START_BYTE, np.int64)

        def get(self, t):
            lanes = len(self.starts) if t < self.steps - 1 else self.last
            freq = self.engine.step(self.prev[:lanes], self.state)
            self.prev = self.buf[self.starts[:lanes] + t].astype(np.int64)
            return freq

        def close(self):
            pass
    monkeypatch.setattr(codec, "_TablesAhead", Now)
    assert Compressor(tiny_model, level=4, methods=("cm",), lstm_auto=False, transform=False).compress(data) == blob


def test_a_v1_block_of_many_streams_decodes_with_the_plain_loop(tiny_model):
    """v1 blocks (written before the v2 predictor; still decoded) code lanes 0..n-1 in one call:
    the decoder's halves are only for v2 blocks. A v1 block of 16+ streams, as older versions
    wrote, decodes (it once read past the LSTM tables of its first half: a fuzz finding)."""
    from lstmzip.cm import V1_MODELS
    from lstmzip.codec import PIPE_MIN_LANES, cm_decode, cm_encode
    data = DOCS[:20_000]
    s = 2 * PIPE_MIN_LANES
    c = Compressor(tiny_model)
    params = CMParams(level=6, models=V1_MODELS, table_bits=18, match_bits=16)
    payload = cm_encode(c.engine, data, s, params)
    assert payload is not None and not CMParams.unpack(payload).v2
    assert cm_decode(c.engine, payload, len(data), s) == data
