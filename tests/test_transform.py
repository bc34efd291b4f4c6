"""The word transform (lstmzip/transform.py): exactly reversible for any input, deterministic,
strict about what it decodes, and the shipped dictionary pinned by its hash."""

from __future__ import annotations

import hashlib
import random
import zlib

import pytest

from lstmzip import transform as T
from lstmzip.errors import LstmzipError
from lstmzip.transform import CAP, ESC, UPPER, WordTransform

from conftest import REPO, corpus_file

# The repository's copy: CI tests an installed package, which may not carry data files.
DICT = str(REPO / "lstmzip" / "data" / T.DICT_FILE)
ENGLISH = T.english(DICT)

SMALL = ["the", "and", "of", "to", "ing", "was", "said", "alice", "queen", "thought"]


def all_transforms():
    return {
        "english": ENGLISH,
        "english-nocaps": WordTransform(ENGLISH.words, T.DICT_N1, caps=False),
        "caps-only": WordTransform((), 0, caps=True),
        "identity-escape": WordTransform((), 0, caps=False),
        "small-n1-3": WordTransform(SMALL, 3),          # 3 one-byte codes, 7 two-byte codes
        "small-n1-0": WordTransform(SMALL, 0),
        "small-n1-10": WordTransform(SMALL, 10),
    }


TRANSFORMS = all_transforms()


def pieces(tr):
    """Fragments that hit every path: dictionary words in every case, codes, flags, escapes."""
    words = [w.decode() for w in tr.words[:50]] + [w.decode() for w in tr.words[-20:]] + SMALL
    out = [b" ", b"\n", b".", b"'", b"0", b"-", b"x", b"Q", b"zz", b"Zz", b"ZZ", b"zZ", b"McDonald",
           b"I", b"a", b"A", b"\x00", b"\x7f", bytes([ESC]), bytes([CAP]), bytes([UPPER])]
    out += [bytes([b]) for b in range(0x80, 0x100, 7)] + [b"\xff", b"\x80", b"\xc3\xa9"]
    out += tr.codes[:5] + tr.codes[-5:]
    for w in words:
        out += [w.encode(), w.capitalize().encode(), w.upper().encode(), (w[:-1] + w[-1].upper()).encode()]
    return out


def random_inputs(tr, count, seed):
    rng = random.Random(seed)
    frags = pieces(tr)
    for _ in range(count):
        kind = rng.random()
        if kind < 0.15:
            yield bytes(rng.randrange(256) for _ in range(rng.randrange(0, 200)))
        else:
            yield b"".join(rng.choice(frags) for _ in range(rng.randrange(0, 60)))


@pytest.mark.parametrize("name", sorted(TRANSFORMS))
def test_round_trip_random(name):
    tr = TRANSFORMS[name]
    for data in random_inputs(tr, 1500, seed=zlib.crc32(name.encode())):
        coded = tr.forward(data)
        assert tr.inverse(coded) == data, (name, data, coded)


@pytest.mark.parametrize("name", sorted(TRANSFORMS))
def test_round_trip_edges(name):
    tr = TRANSFORMS[name]
    every = bytes(range(256))
    for data in [b"", b"a", b"A", b"I", b"THE", b"The", b"tHe", b"the", b"The.", b"THE ", b"ThE",
                 bytes([ESC]), bytes([CAP]), bytes([UPPER]), bytes([ESC, ESC]), b"\xff", b"\x80\x81",
                 every, every[::-1], every * 3, b"A" * 1000, b"the " * 500, b"Hello, World! I AM here.",
                 b"\x02the", b"\x03\x80", b"\x01\x01\x02"]:
        assert tr.inverse(tr.forward(data)) == data, (name, data)


def test_property_hypothesis():
    hyp = pytest.importorskip("hypothesis")
    st = pytest.importorskip("hypothesis.strategies")
    tr = ENGLISH
    frags = st.sampled_from(pieces(tr))
    data_st = st.one_of(st.binary(max_size=300), st.lists(frags, max_size=40).map(b"".join))

    @hyp.settings(max_examples=400, deadline=None, derandomize=True)
    @hyp.given(data_st)
    def check(data):
        assert tr.inverse(tr.forward(data)) == data

    check()


def test_english_text_round_trip_and_shrinks():
    for path in [corpus_file("canterbury", "alice29.txt"), corpus_file("calgary", "paper1")]:
        data = path.read_bytes()
        coded = ENGLISH.forward(data)
        assert ENGLISH.inverse(coded) == data
        assert len(coded) < 0.75 * len(data)            # words become 1-2 byte codes
    binary = corpus_file("canterbury", "kennedy.xls").read_bytes()[:100_000]
    assert ENGLISH.inverse(ENGLISH.forward(binary)) == binary


def test_coding_examples():
    tr = ENGLISH
    the = tr.codes[0]
    assert tr.words[0] == b"the" and the == b"\x80"
    assert tr.forward(b"the") == the
    assert tr.forward(b"The") == bytes([CAP]) + the
    assert tr.forward(b"THE") == bytes([UPPER]) + the
    assert tr.forward(b"tHe") == b"tHe"                  # mixed case: as it is
    assert tr.forward(b"I") == bytes([CAP]) + b"i"       # one letter: not in the dictionary
    assert tr.forward(b"Zyzzyva") == bytes([CAP]) + b"zyzzyva"
    assert tr.forward(b"\x80\x01\x02") == b"\x01\x80\x01\x01\x01\x02"
    assert len(tr.codes[T.DICT_N1]) == 2 and tr.codes[-1][0] <= 0xFF
    caps = WordTransform((), 0, caps=True)
    assert caps.forward(b"\xe9t\xe9") == b"\xe9t\xe9"      # no dictionary: high bytes need no escape


def test_deterministic_and_fresh_instances_agree():
    data = corpus_file("canterbury", "alice29.txt").read_bytes()[:20_000]
    fresh = WordTransform(T.parse_words(T.read_dictionary(DICT)), T.DICT_N1)
    assert fresh.forward(data) == ENGLISH.forward(data) == ENGLISH.forward(data)


@pytest.mark.parametrize("bad", [b"\x01", b"ab\x01", b"\x02", b"\x02 the", b"\x03\x01\x80", b"\x02\x02a",
                                 b"\xff", b"x\xff\x20", b"\xc0"])
def test_inverse_refuses_malformed(bad):
    with pytest.raises(LstmzipError):
        ENGLISH.inverse(bad)


def test_inverse_refuses_code_beyond_dictionary():
    tr = WordTransform(SMALL, 3)                       # 7 two-byte codes: lead 0x83, second 0x80-0x86
    assert tr.inverse(b"\x83\x86") == b"thought"
    for bad in [b"\x83\x87", b"\x84\x80", b"\x02\x83\x87", b"\x83"]:
        with pytest.raises(LstmzipError):
            tr.inverse(bad)


def test_bad_dictionaries_refused():
    with pytest.raises(ValueError):
        WordTransform(["the", "the"], 1)
    with pytest.raises(ValueError):
        WordTransform(["The"], 1)
    with pytest.raises(ValueError):
        WordTransform(["w1"], 1)                          # not a-z only
    with pytest.raises(ValueError):                    # 128 one-byte codes hold 128 words, no more
        WordTransform(["a" * (i + 1) for i in range(129)], 128)
    with pytest.raises(ValueError):
        WordTransform(["the"], 129)
    assert len(WordTransform(["a" * (i + 1) for i in range(128 * 128)], 0).codes[-1]) == 2   # full


def test_shipped_dictionary_pinned(tmp_path):
    raw = (REPO / "lstmzip" / "data" / T.DICT_FILE).read_bytes()
    assert hashlib.sha256(raw).hexdigest() == T.DICT_SHA256
    assert len(ENGLISH.words) == T.DICT_WORDS and ENGLISH.n1 == T.DICT_N1 and T.TRANSFORM_ID == 1
    changed = tmp_path / "changed.dic"
    changed.write_bytes(raw.replace(b"\nthe\n", b"\nteh\n", 1))
    with pytest.raises(LstmzipError, match="not the english-v1 dictionary"):
        T.english(str(changed))
    with pytest.raises(LstmzipError, match="not found"):
        T.english(str(tmp_path / "missing.dic"))


def test_module_functions_use_the_installed_dictionary():
    try:
        T.read_dictionary()
    except LstmzipError:
        pytest.skip("the installed package carries no lstmzip/data/english.dic (package-data)")
    data = b"The Queen said: THE END.\x80\x01"
    assert T.forward(data) == ENGLISH.forward(data) and T.inverse(T.forward(data)) == data
