"""The rANS coder: exact round trips, lane prefixes, exact words, and loud failure on bad data."""

import hashlib

import numpy as np
import pytest

from lstmzip.coder import M, Decoder, Encoder
from lstmzip.errors import LstmzipError


def random_tables(rng, steps, lanes, last=None, peaked=True):
    tables, symbols = [], []
    for t in range(steps):
        n = lanes if (last is None or t < steps - 1) else last
        e = rng.integers(0, 3000, (n, 256))
        if peaked:
            e[np.arange(n), rng.integers(0, 256, n)] += rng.integers(0, 200000, n)
        f = 1 + e * (M - 256) // e.sum(1, keepdims=True)
        f[:, 0] += M - f.sum(1)
        cdf = np.cumsum(f, axis=1)
        u = rng.integers(0, M, n)
        symbols.append((cdf <= u[:, None]).sum(1))
        tables.append(f)
    return tables, symbols


def encode(tables, symbols, lanes):
    enc = Encoder(lanes)
    for f, s in zip(tables, symbols):
        enc.put(s, f)
    return enc.finish()


def decode(payload, tables, lanes):
    dec = Decoder(payload, lanes)
    out = [dec.get(f) for f in tables]
    dec.finish()
    return out


@pytest.mark.parametrize("lanes,steps,last", [(1, 500, None), (7, 300, 3), (64, 100, 64), (256, 40, 1)])
def test_round_trip_and_size_near_entropy(lanes, steps, last):
    rng = np.random.default_rng(lanes)
    tables, symbols = random_tables(rng, steps, lanes, last)
    payload = encode(tables, symbols, lanes)
    assert all((a == b).all() for a, b in zip(decode(payload, tables, lanes), symbols))
    ideal = sum(-np.log2(f[np.arange(len(s)), s] / M).sum() for f, s in zip(tables, symbols)) / 8
    assert len(payload) <= ideal + 4 * lanes + 2 * steps * 0.01 + 16    # 4 bytes of final state per lane


def test_extreme_tables_min_and_max_frequency():
    lanes, f = 4, np.ones((4, 256), np.int64)
    f[:, 7] = M - 255                       # one symbol takes everything else
    tables = [f] * 50
    symbols = [np.array([7, 0, 255, 7])] * 50   # the least likely symbols included
    payload = encode(tables, symbols, lanes)
    assert all((a == b).all() for a, b in zip(decode(payload, tables, lanes), symbols))


def test_exact_words_are_pinned():
    """The coder's output for fixed inputs never changes (the format depends on it)."""
    rng = np.random.default_rng(1234)
    tables, symbols = random_tables(rng, 200, 5, 2)
    payload = encode(tables, symbols, 5)
    assert hashlib.sha256(payload).hexdigest() == GOLDEN_CODER_SHA256
    assert len(payload) == GOLDEN_CODER_LEN


def test_truncated_payload_raises():
    rng = np.random.default_rng(5)
    tables, symbols = random_tables(rng, 300, 3, peaked=False)
    payload = encode(tables, symbols, 3)
    for cut in (0, 2, 10, len(payload) // 2, len(payload) - 2):
        with pytest.raises(LstmzipError):
            decode(payload[:cut], tables, 3)


def test_corrupted_payload_is_mostly_caught_by_the_final_state_check():
    """The coder alone catches most damage (states must return to L); the block CRC
    in the container catches the rest (see test_format)."""
    rng = np.random.default_rng(6)
    tables, symbols = random_tables(rng, 300, 3, peaked=False)
    payload = encode(tables, symbols, 3)
    positions = range(0, len(payload), 7)
    raised = 0
    for pos in positions:
        bad = bytearray(payload)
        bad[pos] ^= 0x5A
        try:
            decode(bytes(bad), tables, 3)
        except LstmzipError:
            raised += 1
    assert raised >= 0.9 * len(positions)


GOLDEN_CODER_SHA256 = "36012dd1c18bac2bc4d263197a3a06df0b927a34fcb81436ec20913e8fa40a19"
GOLDEN_CODER_LEN = 870
