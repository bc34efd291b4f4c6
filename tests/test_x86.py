"""The E8/E9 transform (lstmzip/x86.py): exact reversibility on any bytes, the specified
rewrite of each operand, and a detector score that tells x86-like code from data."""

import numpy as np
import pytest

from lstmzip import x86


def _call(op: int, rel: int) -> bytes:
    return bytes([op]) + (rel & 0xFFFFFFFF).to_bytes(4, "little")


def _random(seed: int, n: int) -> bytes:
    return np.random.default_rng(seed).bytes(n)


def _x86_like(seed: int = 0, n_calls: int = 3000) -> bytes:
    """E8 + a small signed rel32 to one of a few targets, between runs of random non-E8/E9
    bytes: the shape of compiled code as far as the transform and the score can tell."""
    rng = np.random.default_rng(seed)
    targets = [4000, 25000, 90000, 150000]
    out = bytearray()
    for _ in range(n_calls):
        filler = rng.integers(0, 0xE8, int(rng.integers(5, 40)), dtype=np.uint8)
        out += filler.tobytes()
        target = targets[int(rng.integers(len(targets)))]
        out += _call(0xE8, target - (len(out) + 5))
    return bytes(out)


def _round_trips(data: bytes) -> None:
    fwd = x86.forward(data)
    assert len(fwd) == len(data)
    assert x86.inverse(fwd) == data
    inv = x86.inverse(data)
    assert len(inv) == len(data)
    assert x86.forward(inv) == data


@pytest.mark.parametrize("n", range(0, 7))
def test_tiny_inputs_round_trip_in_both_directions(n):
    for fill in (0x00, 0xE8, 0xE9, 0xFF):
        _round_trips(bytes([fill]) * n)
    _round_trips(_random(n, n))
    _round_trips(_call(0xE8, 0x10)[:n])


def test_inputs_shorter_than_a_call_are_unchanged():
    for n in range(5):
        data = b"\xe8\x00\x00\x00\x00"[:n]
        assert x86.forward(data) == data and x86.inverse(data) == data


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("n", [7, 100, 4099, 70000])
def test_random_data_round_trips_in_both_directions(seed, n):
    _round_trips(_random(seed * 1000 + n, n))


def test_data_dense_in_opcodes_and_small_operands_round_trips():
    """Random bytes from {E8, E9, 00, FF}: nearly every position is a candidate that is
    converted, and converted operands contain further E8/E9 and 00/FF bytes."""
    rng = np.random.default_rng(5)
    for n in (5, 6, 9, 10, 64, 1000, 100003):
        _round_trips(rng.choice(np.array([0xE8, 0xE9, 0x00, 0xFF], np.uint8), n).tobytes())


def test_runs_of_opcodes_round_trip():
    for n in range(5, 40):
        _round_trips(b"\xe8" * n)
        _round_trips(b"\xe9" * n)
        _round_trips(b"\xe8" * (n - 1) + b"\x00")


def test_an_opcode_in_each_of_the_last_four_positions_is_left_alone():
    # no whole operand follows it, so nothing is rewritten and both directions are identity
    for k in range(1, 5):
        data = bytearray(b"\x00" * 16)
        data[-k] = 0xE8
        assert x86.forward(bytes(data)) == bytes(data)
        assert x86.inverse(bytes(data)) == bytes(data)
    data = b"\x00" * 11 + b"\xe8\x00\x00\x00\x00"       # opcode at n-5: operand fits, converted
    assert x86.forward(data) == b"\x00" * 11 + b"\xe8\x10\x00\x00\x00"


def test_a_call_at_position_0_gets_position_plus_5_added_to_its_low_24_bits():
    assert x86.forward(_call(0xE8, 0x10)) == _call(0xE8, 0x15)
    assert x86.inverse(_call(0xE8, 0x15)) == _call(0xE8, 0x10)


def test_exact_bytes_of_a_crafted_stream():
    data = (b"\x90\x90"                      # 0-1: no opcode
            + _call(0xE8, 0x10)              # 2: forward call, converted: 0x10 + 7
            + _call(0xE9, -0x20)             # 7: backward jump (top FF), converted: -0x20 + 12
            + _call(0xE8, 0x12345678)        # 12: top byte 0x12, not converted, but skipped
            + b"\xe8\xff\xff\xff\x00"        # 17: low 24 bits wrap: 0xFFFFFF + 22 -> 0x000015
            + b"\xe8")                       # 22: no operand follows
    want = (b"\x90\x90"
            + _call(0xE8, 0x17)
            + _call(0xE9, -0x20 + 12)
            + _call(0xE8, 0x12345678)
            + b"\xe8\x15\x00\x00\x00"
            + b"\xe8")
    assert x86.forward(data) == want
    assert x86.inverse(want) == data


def test_the_scan_skips_the_operand_of_an_unconverted_candidate():
    # E8 at 0 has top byte 0x12 (not converted); the E8 inside its operand (position 1) must
    # not be treated as an opcode, while the E8 at 5 (right after the operand) is one.
    data = b"\xe8\xe8\x00\x00\x12" + _call(0xE8, 0x100)
    assert x86.forward(data) == b"\xe8\xe8\x00\x00\x12" + _call(0xE8, 0x10A)


def _reference_forward(data: bytes) -> bytes:
    """The module docstring's specification, transcribed literally (slow, plain Python)."""
    out = bytearray(data)
    i = 0
    while i + 4 < len(out):
        if out[i] in (0xE8, 0xE9):
            a = int.from_bytes(out[i + 1:i + 5], "little")
            t = a >> 24
            if t in (0x00, 0xFF):
                low = ((a & 0xFFFFFF) + i + 5) % 2**24
                out[i + 1:i + 5] = (low | t << 24).to_bytes(4, "little")
            i += 5
        else:
            i += 1
    return bytes(out)


@pytest.mark.parametrize("seed", range(3))
def test_forward_matches_a_literal_transcription_of_the_spec(seed):
    rng = np.random.default_rng(seed)
    dense = rng.choice(np.array([0xE8, 0xE9, 0x00, 0xFF, 0x12], np.uint8), 3000).tobytes()
    for data in (dense, _random(seed, 3000), _x86_like(seed, 100)):
        assert x86.forward(data) == _reference_forward(data)


def test_repeated_calls_to_one_target_become_identical_bytes():
    target = 5000
    data = bytearray()
    sites = []
    for filler in (b"\x90" * 13, b"\x55\x48\x89\xe5", b"\x31\xc0" * 50, b"\xc3"):
        data += filler
        sites.append(len(data))
        data += _call(0xE8, target - (len(data) + 5))
    raw_operands = {bytes(data[s + 1:s + 5]) for s in sites}
    fwd = x86.forward(bytes(data))
    operands = {fwd[s + 1:s + 5] for s in sites}
    assert len(raw_operands) == len(sites)
    assert operands == {target.to_bytes(4, "little")}


def test_forward_does_not_modify_its_input_and_accepts_bytearray():
    data = bytearray(_call(0xE8, 0x10) * 3)
    before = bytes(data)
    out = x86.forward(data)
    assert data == before and isinstance(out, bytes)
    assert x86.inverse(out) == before


def test_call_score_is_in_0_1_and_zero_for_tiny_or_opcode_free_inputs():
    for data in (b"", b"\xe8", b"\xe8\x00\x00\x00", b"hello world" * 100):
        assert x86.call_score(data) == 0.0
    for data in (_random(1, 10000), _x86_like(), b"\xe8\x00\x00\x00\x00" * 100):
        assert 0.0 <= x86.call_score(data) <= 1.0


def test_call_score_separates_x86_like_code_from_random_bytes_and_text():
    code = x86.call_score(_x86_like())
    noise = x86.call_score(_random(2, 65536))
    text = x86.call_score(b"The quick brown fox jumps over the lazy dog. " * 1500)
    utf8 = x86.call_score("\u8bed\u8a00\u6a21\u578b\u538b\u7f29".encode() * 5000)  # E8/E9 leads
    assert code > 0.9
    assert max(noise, text, utf8) < 0.05
    assert code > x86.X86_MIN_SCORE > max(noise, text, utf8)


def test_call_score_discounts_sparse_candidates():
    # a lone convertible call in 64 KB of zeros: high fraction, but far too few to be code
    data = bytearray(65536)
    data[1000:1005] = _call(0xE8, 0x40)
    assert x86.call_score(bytes(data)) < x86.X86_MIN_SCORE
