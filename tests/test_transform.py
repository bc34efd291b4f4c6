"""The word transform (lstmzip/transform.py): exactly reversible for any input, deterministic,
strict about what it decodes, and the shipped dictionary pinned by its hash; and the cm+dict
block method that uses it (-9 codes a text-like block raw and transformed, keeps the smaller)."""

from __future__ import annotations

import hashlib
import io
import random
import struct
import tracemalloc
import zlib

import numpy as np
import pytest

from lstmzip import format as fmt
from lstmzip import transform as T
from lstmzip.cli import _block_kind
from lstmzip.cm import MODEL_BITS
from lstmzip.codec import Compressor, Decompressor, cm_encode, cm_params, transformed_block
from lstmzip.errors import LstmzipError
from lstmzip.transform import CAP, ESC, UPPER, WordTransform

from conftest import REPO, block_methods, corpus_file, first_block_at, run_cli

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


# ---- the cm+dict block method (codec.py, format.py): -9 codes a text-like block both ways ------

TEXT = (b"It was the best of times, it was the worst of times, it was the age of wisdom, it was the "
        b"age of foolishness, it was the epoch of belief, it was the epoch of incredulity. There were "
        b"a king with a large jaw and a queen with a plain face, on the throne of England; and there "
        b"were a king with a large jaw and a queen with a fair face, on the throne of France. In both "
        b"countries it was clearer than crystal to the lords of the State preserves of loaves and "
        b"fishes, that things in general were settled for ever.\n") * 5


def _cm_dict(model, data=TEXT, **kw):
    kw = {"methods": ("cm", "stored"), "level": 2, "transform": True, "streams": 3, **kw}
    return Compressor(model, **kw).compress(data)


def _header_len(blob: bytes) -> int:
    return first_block_at(blob)                       # (version 2 or a compact model member)


def _forge_block(blob: bytes, payload: bytes = None, **fields) -> bytes:
    """blob (one block) with its block header's fields and/or payload replaced, CRC recomputed."""
    at = _header_len(blob)
    method, raw_len, plen, streams, crc = struct.unpack_from("<BIIHI", blob, at)
    old = blob[at + 19: at + 19 + plen]
    payload = old if payload is None else payload
    vals = dict(method=method, raw_len=raw_len, payload_len=len(payload), streams=streams, raw_crc32=crc)
    vals.update(fields)
    return blob[:at] + fmt.BlockHeader(**vals).pack() + payload + blob[at + 19 + plen:]


def _payload(blob: bytes) -> bytes:
    at = _header_len(blob)
    plen = struct.unpack_from("<I", blob, at + 5)[0]
    return blob[at + 19: at + 19 + plen]


def test_cm_dict_round_trip_and_info(tiny_model):
    blob = _cm_dict(tiny_model)
    assert block_methods(blob) == ["cm+dict"]           # the untrained LSTM: the context models win
    payload = _payload(blob)
    tid, tlen = fmt.TRANSFORM_HEAD.unpack_from(payload)
    assert tid == T.TRANSFORM_ID and tlen == len(T.forward(TEXT)) < 0.95 * len(TEXT)
    head = fmt.read_block_header(io.BytesIO(blob[_header_len(blob):]), fmt.read_header(io.BytesIO(blob)), 0)
    assert head.raw_len == len(TEXT) and head.raw_crc32 == zlib.crc32(TEXT)     # of the original
    assert _block_kind(head, payload) == "cm -2+dict"
    assert Decompressor(tiny_model).decompress(blob) == TEXT
    raw = Compressor(tiny_model, methods=("cm", "stored"), level=2, transform=False, streams=3).compress(TEXT)
    assert block_methods(raw) == ["cm"] and len(blob) < len(raw)


def test_level9_default_and_adaptive_round_trip(tiny_model):
    assert Compressor(tiny_model, level=9).transform and Compressor(tiny_model, level=6).transform
    assert Compressor(tiny_model, level=4).transform
    assert not Compressor(tiny_model, level=2).transform and not Compressor(tiny_model, level=3).transform
    assert not Compressor(tiny_model, level=9, transform=False).transform
    assert Compressor(tiny_model, level=2, transform=True).transform
    assert not Compressor(tiny_model, level=9, methods=("zstd", "stored")).transform
    assert Compressor(tiny_model, level=9, transform=True)._worker_kwargs["transform"] is True
    with pytest.raises(ValueError):
        Compressor(tiny_model, level=1, transform=True)     # -1 has no cm method
    with pytest.raises(ValueError):
        Compressor(tiny_model, level=9, transform="yes")
    data = TEXT[:1500]
    blob = Compressor(tiny_model, level=9, methods=("cm", "stored")).compress(data)
    assert block_methods(blob) == ["cm+dict"]
    assert _block_kind(*[(bh, p) for _, bh, p in Decompressor().blocks(io.BytesIO(blob))][0]) == "cm -9+dict"
    assert Decompressor(tiny_model).decompress(blob) == data


def test_not_used_where_it_does_not_pay(tiny_model, monkeypatch):
    rng = np.random.default_rng(5)
    binary = bytes(rng.integers(0, 256, 3000, dtype=np.uint8)) + bytes(range(256)) * 8
    assert transformed_block(binary) is None             # binary data: not even tried
    assert transformed_block(b"\x80\x01 " * 400) is None
    blob = _cm_dict(tiny_model, binary)
    assert "cm+dict" not in block_methods(blob) and Decompressor(tiny_model).decompress(blob) == binary
    # tried, but the transformed code is longer: the raw cm block is kept
    import lstmzip.codec as codec
    real = codec.cm_encode

    def worse_when_transformed(engine, data, *a, **k):
        out = real(engine, data, *a, **k)
        return out + bytes(len(TEXT)) if data != TEXT else out
    monkeypatch.setattr(codec, "cm_encode", worse_when_transformed)
    blob = _cm_dict(tiny_model)
    assert block_methods(blob) == ["cm"] and Decompressor(tiny_model).decompress(blob) == TEXT


def test_forward_at_most_doubles():
    for data in [b"\x80" * 100, b"A " * 100, b"I.I.", bytes(range(256)) * 4, b"\x01\x02\x03" * 50]:
        assert len(T.forward(data)) <= 2 * len(data)


def test_progress_counts_each_input_byte_once(tiny_model):
    """Two coding passes (and a decoded stream of another length) still make one bar of the
    block's bytes (cm's own count may fall short by a part of its last step)."""
    for transform in (False, True):
        done = []
        comp = Compressor(tiny_model, methods=("cm", "stored"), level=2, transform=transform, streams=3)
        out = io.BytesIO()
        comp.compress_stream(io.BytesIO(TEXT), out, len(TEXT), progress=done.append)
        assert 0.95 * len(TEXT) <= sum(done) <= len(TEXT) and all(n > 0 for n in done)
        assert block_methods(out.getvalue()) == (["cm+dict"] if transform else ["cm"])
        done.clear()
        Decompressor(tiny_model).decompress_stream(io.BytesIO(out.getvalue()), io.BytesIO(),
                                                   progress=done.append)
        assert 0.95 * len(TEXT) <= sum(done) <= len(TEXT)


def _refused(model, blob, *needles):
    with pytest.raises(LstmzipError) as info:
        Decompressor(model).decompress(blob)
    for n in needles:
        assert n in str(info.value), str(info.value)
    assert "\n" not in str(info.value)
    return str(info.value)


def test_corrupted_transform_header_refused(tiny_model):
    blob = _cm_dict(tiny_model)
    payload = _payload(blob)
    tid, tlen = fmt.TRANSFORM_HEAD.unpack_from(payload)
    rest = payload[fmt.TRANSFORM_HEAD.size:]
    _refused(tiny_model, _forge_block(blob, bytes([7]) + payload[1:]), "block 0 uses word transform 7")
    _refused(tiny_model, _forge_block(blob, bytes([0]) + payload[1:]), "word transform 0")
    tracemalloc.start()
    try:
        for bad in (0, len(TEXT) + 1, 2 * len(TEXT), 2**32 - 1):
            _refused(tiny_model, _forge_block(blob, fmt.TRANSFORM_HEAD.pack(tid, bad) + rest),
                     "corrupted block 0", f"transformed length {bad}")
        assert tracemalloc.get_traced_memory()[1] < 64 << 20     # refused before allocating
    finally:
        tracemalloc.stop()
    _refused(tiny_model, _forge_block(blob, fmt.TRANSFORM_HEAD.pack(tid, 2) + rest), "stream count 3")
    _refused(tiny_model, _forge_block(blob, payload[:3]), "shorter than its transform header")
    for delta in (-1, 1):                              # a wrong (in-range) length: the code disagrees
        _refused(tiny_model, _forge_block(blob, fmt.TRANSFORM_HEAD.pack(tid, tlen + delta) + rest),
                 "corrupted block 0")


def test_corrupted_cm_dict_payload_refused(tiny_model):
    blob = _cm_dict(tiny_model)
    payload = bytearray(_payload(blob))
    for at in (fmt.TRANSFORM_HEAD.size + 12, len(payload) // 2):
        bad = bytearray(payload)
        bad[at] ^= 0x55
        _refused(tiny_model, _forge_block(blob, bytes(bad)), "corrupted block 0")
    _refused(tiny_model, _forge_block(blob, bytes(payload[:-7])), "corrupted block 0")
    # The coder's last byte flushes the low end of a range: some changes to it still decode the
    # same bytes. Then the output must be exactly the original (its CRC and SHA-256 checked).
    bad = bytearray(payload)
    bad[-1] ^= 0x55
    try:
        out = Decompressor(tiny_model).decompress(_forge_block(blob, bytes(bad)))
    except LstmzipError as exc:
        assert "corrupted block 0" in str(exc)
    else:
        assert out == TEXT


def test_malformed_transformed_stream_refused(tiny_model):
    """A valid cm code of bytes that are no english-v1 stream: inverse's error, as one line."""
    blob = _cm_dict(tiny_model)
    comp = Compressor(tiny_model, methods=("cm",), level=2, transform=True)
    for stream in (b"plain \x02 flag without a body" * 20, b"stray \xff byte " * 20):
        code = cm_encode(comp.engine, stream, 2, cm_params(2, len(stream)))
        payload = fmt.TRANSFORM_HEAD.pack(T.TRANSFORM_ID, len(stream)) + code
        forged = _forge_block(blob, payload, raw_len=len(TEXT), streams=2)
        _refused(tiny_model, forged, "corrupted block 0 (word transform:")


def test_method_numbers_checked_by_the_format(tiny_model):
    blob = _cm_dict(tiny_model)
    _refused(tiny_model, _forge_block(blob, method=5), "block 0: unknown method 5 (a file from a newer lstmzip")
    at = _header_len(blob)
    old = fmt.read_header(io.BytesIO(blob))
    old.version = 1                                    # cm+dict in a version-1 file
    _refused(tiny_model, old.pack() + blob[at:], "method cm+dict in a version 1 file")


def test_cli_unknown_transform_is_one_line(tiny_model_path, tmp_path):
    from lstmzip.model import Model
    blob = _cm_dict(Model.load(tiny_model_path))
    (tmp_path / "x.txt.lstmz").write_bytes(_forge_block(blob, bytes([9]) + _payload(blob)[1:]))
    proc = run_cli("decompress", "-m", tiny_model_path, "x.txt.lstmz", cwd=tmp_path)
    err = proc.stderr.decode()
    assert proc.returncode == 1 and "Traceback" not in err and len(err.strip().splitlines()) == 1, err
    assert "word transform 9" in err and not (tmp_path / "x.txt").exists()


def test_cm_dict_numpy_and_tf_agree(tiny_model):
    pytest.importorskip("tensorflow")
    data = TEXT[:1200]
    blob = _cm_dict(tiny_model, data, level=3, adapt=True, streams=2)
    assert block_methods(blob) == ["cm+dict"]
    assert _cm_dict(tiny_model, data, level=3, adapt=True, streams=2, backend="tf") == blob
    assert Decompressor(tiny_model, backend="tf").decompress(blob) == data


def test_inverse_refuses_to_grow_past_its_limit():
    """A stream of the longest words' codes decodes to far more than its length: with a limit,
    the inverse says so before building it."""
    from lstmzip import transform
    from lstmzip.errors import LstmzipError
    word = b"representatives"
    coded = transform.forward(word)
    assert len(coded) == 2
    stream = coded * 1000
    assert transform.inverse(stream, limit=15000) == word * 1000
    with pytest.raises(LstmzipError, match="more than 14999"):
        transform.inverse(stream, limit=14999)


def test_transformed_codings_never_carry_the_lstm(tiny_model, monkeypatch):
    """At -6 a text-like block is coded raw (the LSTM where its probe says) and word-transformed by
    the context models alone; the smaller is kept and decodes."""
    import lstmzip.codec as codec
    from lstmzip.cm import CMParams
    seen = []
    real = codec.cm_encode

    def spy(engine, data, streams, params, *a, **k):
        seen.append((data == TEXT, bool(params.models & MODEL_BITS["lstm"])))
        return real(engine, data, streams, params, *a, **k)
    monkeypatch.setattr(codec, "cm_encode", spy)
    blob = Compressor(tiny_model, level=6, methods=("cm", "stored")).compress(TEXT)
    assert (True, True) in seen and (True, False) in seen         # raw: with and without the LSTM
    assert (False, False) in seen and (False, True) not in seen   # transformed: never with it
    assert Decompressor(tiny_model).decompress(blob) == TEXT
    for _, bh, payload in Decompressor().blocks(io.BytesIO(blob)):
        if getattr(bh, "method", None) == fmt.CM_TEXT:
            raw = payload[fmt.TRANSFORM_HEAD.size:]
            assert not CMParams.unpack(raw).models & MODEL_BITS["lstm"]
    seen.clear()                              # only the LSTM: nothing to code the transformed block with
    Compressor(tiny_model, level=6, methods=("cm", "stored"), cm_models=MODEL_BITS["lstm"]).compress(TEXT)
    assert seen and all(raw for raw, _ in seen)
