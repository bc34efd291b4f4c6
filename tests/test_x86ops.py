"""The x86 length decoder behind region kind 7's contexts (lstmzip/cm/x86ops.py)."""

import numpy as np

from lstmzip.cm import x86ops as xo

P, O2, O3, M, S, D, I = (xo.PREFIX_OR_OP, xo.OP2, xo.OP3, xo.MODRM, xo.SIB, xo.DISP, xo.IMM)

# (bytes, the role each byte is given when it arrives) for hand-assembled instructions
PROGRAM = [
    ("55", [P]),                                         # push ebp
    ("89 e5", [P, M]),                                   # mov ebp, esp
    ("83 ec 10", [P, M, I]),                             # sub esp, 16
    ("8b 45 08", [P, M, D]),                             # mov eax, [ebp+8]
    ("8b 05 44 33 22 11", [P, M, D, D, D, D]),           # mov eax, [disp32] / [rip+disp32]
    ("c7 44 24 04 01 00 00 00", [P, M, S, D, I, I, I, I]),   # mov dword [esp+4], 1
    ("8b 04 25 00 10 00 00", [P, M, S, D, D, D, D]),     # mov eax, [disp32] through a SIB, base 5
    ("66 b8 34 12", [P, P, I, I]),                       # mov ax, 0x1234
    ("48 b8 08 07 06 05 04 03 02 01", [P, P] + [I] * 8),  # mov rax, imm64
    ("48 89 c7", [P, P, M]),                             # mov rdi, rax
    ("0f 84 10 00 00 00", [P, O2, I, I, I, I]),          # je rel32
    ("0f b6 c0", [P, O2, M]),                            # movzx eax, al
    ("0f 38 00 c1", [P, O2, O3, M]),                     # pshufb mm0, mm1
    ("0f 3a 0f c1 08", [P, O2, O3, M, I]),               # palignr mm0, mm1, 8
    ("f7 c1 ff 00 00 00", [P, M, I, I, I, I]),           # test ecx, 0xff
    ("f6 c1 01", [P, M, I]),                             # test cl, 1
    ("f7 d8", [P, M]),                                   # neg eax
    ("f3 a5", [P, P]),                                   # rep movsd
    ("74 05", [P, I]),                                   # je rel8
    ("e8 00 00 00 00", [P, I, I, I, I]),                 # call rel32
    ("c2 08 00", [P, I, I]),                             # ret 8
    ("c3", [P]),                                         # ret
]


def _walk(data: bytes, xs=None):
    xs = np.zeros(xo.X_LEN, np.int64) if xs is None else xs
    roles = []
    for b in data:
        roles.append(int(xs[xo.ROLE]))
        xo.x86_next(xs, b)
    return roles, xs


def test_every_byte_gets_its_role_and_instructions_end_where_they_end():
    data = b"".join(bytes.fromhex(h) for h, _ in PROGRAM)
    roles, xs = _walk(data)
    assert roles == [r for _, rs in PROGRAM for r in rs]
    assert xs[xo.ROLE] == P and xs[xo.OP] == 0xC3 and xs[xo.HIST] & 1023 == 0xC3
    assert (xs[xo.HIST] >> 10) & 1023 == 0xC2


def test_the_opcode_and_modrm_are_kept_for_the_operands():
    xs = np.zeros(xo.X_LEN, np.int64)
    for b in bytes.fromhex("0f 3a 0f c1"):
        xo.x86_next(xs, b)
    assert xs[xo.ROLE] == I and xs[xo.OP] == 768 + 0x0F and xs[xo.MRM] == 0xC1 and xs[xo.LEFT] == 1


def test_any_bytes_keep_the_state_in_range():
    """On data that is not code the parse is only less useful: the state stays in its ranges
    (the contexts index nothing with it but hashes, yet a runaway field would be a bug)."""
    rng = np.random.default_rng(7)
    for data in (rng.integers(0, 256, 20000, np.uint8).tobytes(), b"\x66" * 100 + b"\x0f" * 50,
                 b"\xf7" * 300, bytes(range(256)) * 4):
        xs = np.zeros(xo.X_LEN, np.int64)
        for b in data:
            xo.x86_next(xs, b)
            assert 0 <= xs[xo.ROLE] <= I and 0 <= xs[xo.OP] < 1024 and 0 <= xs[xo.LEFT] <= 8
            assert 0 <= xs[xo.INDEX] < 8 and xs[xo.PFX] < 128 and 0 <= xs[xo.HIST] < 1 << 20


def test_a_run_of_prefixes_ends_at_the_fifth():
    roles, xs = _walk(b"\x66" * 5)
    assert roles == [P] * 5 and xs[xo.OP] == 0x66
