"""Where each byte of x86 / x86-64 code sits in its instruction: the parse behind region kind
7's contexts (kernel_v2.ctx_x86i; the rules are docs/cm.md "x86 instructions").

A lane walks its bytes through a small state machine, one byte at a time, and learns only
from bytes already coded, so the decoder repeats it exactly. It is a length decoder, not a
disassembler: it knows which bytes are prefixes, opcodes, ModRM, SIB, displacement and
immediate, and which opcode they belong to. It need not be right to be lossless: on data
that is not code, or on the rare opcode it sizes wrongly, the contexts are only less useful,
and the next instruction boundary it finds puts it back in step.

A lane's state is X_LEN int64 fields (a slice of the lane's state row)::

    ROLE   what the next byte is: PREFIX_OR_OP, OP2 (after 0F), OP3 (after 0F 38 / 0F 3A),
           MODRM, SIB, DISP, IMM
    OP     the instruction's opcode: b (one byte), 256 + b (0F b), 512 + b (0F 38 b),
           768 + b (0F 3A b); kept after the instruction ends
    PFX    prefixes seen: 1 operand size (66), 2 REX.W (48..4F), 4 REP (F2/F3), 8 any other;
           + 16 per prefix (a fifth prefix byte in a row is taken as the opcode)
    MODRM  the instruction's ModRM byte (0 before it)
    LEFT   bytes left in the current displacement or immediate
    INDEX  the next byte's place in that field (0 = its first byte)
    IMM    the immediate's size, still to come after ModRM / SIB / displacement
    HIST   the opcodes of the two instructions before (OP of the last | OP before it << 10)
"""

from __future__ import annotations

import numpy as np
from numba import njit

PREFIX_OR_OP, OP2, OP3, MODRM, SIB, DISP, IMM = range(7)
ROLE, OP, PFX, MRM, LEFT, INDEX, IMMSZ, HIST = range(8)
X_LEN = 8
Z = 9          # "an immediate of the operand size": 4 bytes, 2 after a 66 prefix
V = 10         # B8..BF: 4 bytes, 8 after REX.W


def _one_byte_tables():
    modrm = np.zeros(256, np.int64)
    imm = np.zeros(256, np.int64)
    for b in range(0x40):                  # ALU ops: r/m forms 0..3, AL,imm8 4, eAX,immz 5
        if b & 7 < 4:
            modrm[b] = 1
        elif b & 7 == 4:
            imm[b] = 1
        elif b & 7 == 5:
            imm[b] = Z
    for b in (0x62, 0x63, 0x69, 0x6B, 0xC0, 0xC1, 0xC4, 0xC5, 0xC6, 0xC7, 0xD0, 0xD1, 0xD2, 0xD3,
              0xF6, 0xF7, 0xFE, 0xFF, *range(0x80, 0x90), *range(0xD8, 0xE0)):
        modrm[b] = 1
    for b in (0x6A, 0x6B, 0x80, 0x82, 0x83, 0xA8, 0xC0, 0xC1, 0xC6, 0xCD, 0xD4, 0xD5, 0xEB,
              *range(0x70, 0x80), *range(0xB0, 0xB8), *range(0xE0, 0xE8)):
        imm[b] = 1
    for b in (0x68, 0x69, 0x81, 0xA9, 0xC7):
        imm[b] = Z
    for b in range(0xB8, 0xC0):
        imm[b] = V
    imm[0xE8] = imm[0xE9] = 4              # rel32 (also with 66 in 64-bit code)
    imm[0xC2] = imm[0xCA] = 2
    imm[0xC8] = 3
    imm[0x9A] = imm[0xEA] = 6              # far pointers (32-bit code)
    for b in range(0xA0, 0xA4):
        imm[b] = 4                         # moffs (32-bit addresses)
    return modrm, imm


def _two_byte_tables():
    modrm = np.ones(256, np.int64)
    imm = np.zeros(256, np.int64)
    for b in (0x05, 0x06, 0x07, 0x08, 0x09, 0x0B, 0x0E, 0x77, 0xA0, 0xA1, 0xA2, 0xA8, 0xA9, 0xAA,
              *range(0x30, 0x38), *range(0x80, 0x90), *range(0xC8, 0xD0)):
        modrm[b] = 0
    for b in range(0x80, 0x90):
        imm[b] = 4                         # jcc rel32
    for b in (0x0F, 0x70, 0x71, 0x72, 0x73, 0xA4, 0xAC, 0xBA, 0xC2, 0xC4, 0xC5, 0xC6):
        imm[b] = 1
    return modrm, imm


MODRM1, IMM1 = _one_byte_tables()
MODRM2, IMM2 = _two_byte_tables()
PREFIX = np.zeros(256, np.int64)           # the PFX bit a prefix byte sets
for _b in (0x26, 0x2E, 0x36, 0x3E, 0x64, 0x65, 0x67, 0xF0):
    PREFIX[_b] = 8
PREFIX[0x66] = 1
PREFIX[0xF2] = PREFIX[0xF3] = 4
for _b in range(0x40, 0x50):
    PREFIX[_b] = 2 if _b >= 0x48 else 8


@njit(cache=True, inline="always")
def _size(code, pfx):
    if code == Z:
        return 2 if pfx & 1 else 4
    if code == V:
        return 8 if pfx & 2 else (2 if pfx & 1 else 4)
    return code


@njit(cache=True, inline="always")
def _end(xs):
    xs[HIST] = ((xs[HIST] << 10) | xs[OP]) & 0xFFFFF
    xs[ROLE] = PREFIX_OR_OP
    xs[PFX] = 0
    xs[LEFT] = 0
    xs[INDEX] = 0


@njit(cache=True, inline="always")
def _operands(xs, disp):
    """After the opcode, ModRM or SIB: a displacement of `disp` bytes, then the immediate."""
    xs[INDEX] = 0
    if disp > 0:
        xs[ROLE] = DISP
        xs[LEFT] = disp
    elif xs[IMMSZ] > 0:
        xs[ROLE] = IMM
        xs[LEFT] = xs[IMMSZ]
    else:
        _end(xs)


@njit(cache=True)
def x86_next(xs, b):
    """Move a lane's parse state xs (X_LEN fields) past byte b."""
    role = xs[ROLE]
    if role == PREFIX_OR_OP:
        if PREFIX[b] and xs[PFX] < 64:          # (at most 4 in a row; bits 4..6 count them)
            xs[PFX] = (xs[PFX] | PREFIX[b]) + 16
            return
        if b == 0x0F:
            xs[ROLE] = OP2
            return
        xs[OP] = b
        xs[MRM] = 0
        code = IMM1[b]
        xs[IMMSZ] = _size(code, xs[PFX])
        if MODRM1[b]:
            xs[ROLE] = MODRM
        else:
            _operands(xs, 0)
    elif role == OP2:
        if b == 0x38 or b == 0x3A:
            xs[ROLE] = OP3
            xs[OP] = 512 if b == 0x38 else 768
            return
        xs[OP] = 256 + b
        xs[MRM] = 0
        xs[IMMSZ] = IMM2[b]
        if MODRM2[b]:
            xs[ROLE] = MODRM
        else:
            _operands(xs, 0)
    elif role == OP3:
        xs[OP] += b
        xs[MRM] = 0
        xs[IMMSZ] = 1 if xs[OP] >= 768 else 0
        xs[ROLE] = MODRM
    elif role == MODRM:
        xs[MRM] = b
        mod = b >> 6
        reg = (b >> 3) & 7
        if (xs[OP] == 0xF6 or xs[OP] == 0xF7) and reg < 2:      # TEST r/m, imm
            xs[IMMSZ] = 1 if xs[OP] == 0xF6 else _size(Z, xs[PFX])
        if mod != 3 and (b & 7) == 4:
            xs[ROLE] = SIB
            return
        disp = 1 if mod == 1 else 4 if mod == 2 or (mod == 0 and (b & 7) == 5) else 0
        _operands(xs, disp)
    elif role == SIB:
        mod = xs[MRM] >> 6
        disp = 1 if mod == 1 else 4 if mod == 2 or (mod == 0 and (b & 7) == 5) else 0
        _operands(xs, disp)
    else:                                   # DISP or IMM
        xs[LEFT] -= 1
        xs[INDEX] += 1
        if xs[LEFT] <= 0:
            if role == DISP and xs[IMMSZ] > 0:
                xs[ROLE] = IMM
                xs[LEFT] = xs[IMMSZ]
                xs[INDEX] = 0
            else:
                _end(xs)
