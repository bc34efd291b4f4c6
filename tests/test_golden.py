"""Golden files committed in tests/data/golden: every later version must decode them."""

import hashlib
import io
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
    methods = {m for p in PAIRS if p.stem != "members" for m in block_methods(p.read_bytes())}
    assert methods == {"lstm", "zstd", "stored", "cm", "cm+dict"} == set(fmt.METHOD_NAMES.values())


def test_golden_set_covers_both_predictors_with_and_without_the_lstm():
    from lstmzip.cm import MODEL_BITS, CMParams
    kinds = set()
    for p in PAIRS:
        src = io.BytesIO(p.read_bytes())
        for header, bh, payload in Decompressor().blocks(src, members=True):
            if isinstance(bh, fmt.End) or bh.method not in fmt.CM_METHODS:
                continue
            params = CMParams.unpack(payload[fmt.TRANSFORM_HEAD.size:] if bh.method == fmt.CM_TEXT
                                     else payload)
            kinds.add((params.v2, bool(params.models & MODEL_BITS["lstm"]), bh.method))
    assert {(False, True, fmt.CM), (False, False, fmt.CM), (True, True, fmt.CM),
            (True, False, fmt.CM), (True, True, fmt.CM_TEXT)} <= kinds


def test_golden_model_identity_is_stable(golden_model):
    assert golden_model.sha256 == hashlib.sha256((DATA / "golden-model.npz").read_bytes()).hexdigest()
    assert golden_model.sha256.startswith("f597f1dd52a30c32")


def test_golden_set_covers_every_format_version():
    versions = {p.read_bytes()[8] for p in PAIRS}
    assert versions == {1, 2, 3, 4} == set(fmt.READ_VERSIONS)


def test_compact_golden_files_are_small_and_need_no_model():
    sizes = {p.stem: len(p.read_bytes()) for p in PAIRS if p.stem.endswith("-compact")}
    assert sizes == {"empty-compact": 19, "one-compact": 39, "binary-compact": 315}
    for p in PAIRS:
        if p.stem.endswith("-compact"):
            assert Decompressor().decompress(p.read_bytes()) == _original(p)      # no model given


def test_golden_concatenation_decodes_member_by_member(golden_model):
    blob = (GOLDEN / "members.lstmz").read_bytes()
    headers = []
    for header, _, _ in Decompressor().blocks(io.BytesIO(blob), members=True):
        if not headers or header is not headers[-1]:
            headers.append(header)
    assert [h.version for h in headers] == [1, 3, 3, 2]
    assert Decompressor(golden_model).decompress(blob) == (GOLDEN / "members.bin").read_bytes()


def _cm_blocks():
    """(block header, payload, parameters) of every cm block (method CM) of the golden files."""
    from lstmzip.cm import CMParams
    for p in PAIRS:
        src = io.BytesIO(p.read_bytes())
        for header, bh, payload in Decompressor().blocks(src, members=True):
            if not isinstance(bh, fmt.End) and bh.method == fmt.CM:
                yield bh, payload, CMParams.unpack(payload)


def test_golden_set_covers_every_region_kind():
    """The struct model's region table is pinned: cm blocks (with and without the LSTM) whose
    tables hold every kind detect() gives, decoded by every later version."""
    from lstmzip import regions as rt
    from lstmzip.cm import MODEL_BITS
    from lstmzip.detect import KIND_NAMES
    kinds, with_lstm = set(), set()
    for bh, payload, params in _cm_blocks():
        if params.models & MODEL_BITS["struct"]:
            regions, _ = rt.unpack(payload, params.packed_len, bh.raw_len)
            kinds |= {r.kind for r in regions}
            with_lstm.add(bool(params.models & MODEL_BITS["lstm"]))
    assert kinds == set(range(len(KIND_NAMES))) and with_lstm == {True, False}


def test_golden_set_covers_the_extension_with_and_without_the_lstm():
    """cm blocks with the third byte of switches (model bit 32768), every switch of it on."""
    from lstmzip.cm import EXT, EXT_MODELS, MODEL_BITS
    seen = set()
    for bh, payload, params in _cm_blocks():
        if params.models & EXT:
            assert params.models & EXT_MODELS == EXT_MODELS
            seen.add((bool(params.models & MODEL_BITS["lstm"]), bool(params.models & MODEL_BITS["struct"])))
    assert {(True, False), (False, False), (False, True)} <= seen


def test_golden_set_covers_the_second_match_model_with_and_without_the_lstm():
    """cm blocks with model bit 26 (match2, in the fourth switch byte): with the LSTM (which the
    compressor no longer writes, codec.WITHOUT_LSTM_ONLY, but decoders read), and without it in a
    block with a region table."""
    from lstmzip.cm import MODEL_BITS
    seen = set()
    for bh, payload, params in _cm_blocks():
        if params.models & MODEL_BITS["match2"]:
            seen.add((bool(params.models & MODEL_BITS["lstm"]), bool(params.models & MODEL_BITS["struct"])))
    assert {(True, False), (False, True)} <= seen
