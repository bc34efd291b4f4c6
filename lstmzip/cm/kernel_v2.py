"""The v2 context-mixing predictor: bit histories, state maps, more models, two mixing layers.

One call of ``code_step`` codes byte t of every active stream of a block (lane 0 first), 8
bits each, most significant first, exactly like the v1 kernel (``kernel.py``, which still
decodes older blocks and lends this module its arithmetic coder, squash/stretch, hash, mixer
and APM primitives: those are part of the format and never change). For every bit::

    inputs   x = [ LSTM bit probability (stretch),  direct order-1 counter,
                   for each of N_H hashed contexts: its bit history's state, mapped by that
                   context's adaptive state map to p, given as stretch(p) and (p - 1/2),
                   match model (2 inputs), bias, the adapted LSTM (adaptive twin blocks),
                   with the extension (USE_EXT): 14 more contexts' two inputs each, 10 run
                   contexts (the byte a context saw last, while the partial byte agrees with
                   it), and each context's stretch(p) again where its history is deterministic;
                   with USE_PIXEL: 8 pixel models' fast and slow stretch(p) ]
    p_j      = squash(w_j[set_j] . x >> 16)           N_MIX mixers, weight sets chosen by the
                                                      partial byte, match state, LSTM confidence
                                                      and expected bit, c1, character classes
    p_mix    = squash(v[k] . stretch(p_j) >> 16)      second layer, a weight set per bit position
    p        = (2 p_mix + apm(c0) + apm(c0,c1) + apm(c0,c2,c1) + ... ) / 8   (SSE chain)

then the bit is coded and every state, state map, counter, mixer and APM updates from it.

A context's table slot is a bucket of 16 bytes: a check byte and the 15 bit-history states
of one nibble's bit tree (``states.py``); a byte uses two buckets, one per nibble. A bucket is
looked up among 3 neighbours in a 64-byte line; on a miss the one whose first node has the
fewest observations is taken over. All of it is integer arithmetic on int64, the lanes of a
block share every table and update it in lane order, and the decoder, which decodes lane
0's byte before lane 1's, sees exactly the state the encoder saw.

Every index into a table is in range by construction (masks, clips, explicit checks against
the block length): numba does not check bounds, and a hostile file must not steer a write.

Blocks without the extension byte read only the first N_IN_V2 inputs and N_H_V2 contexts, so
they code exactly as before it existed. The update rules, constants and layouts are written
down in ``docs/cm.md`` ("v2", "Structure", "Extension").
"""

from __future__ import annotations

import numpy as np
from numba import njit

from .kernel import (C_OVER, C_POS, C_X, C_X1, C_X2, DECODE, ENCODE, MATCH_MAX, MATCH_MIN, REC_MAX,  # noqa: F401
                     apm_predict, apm_predict16,
                     apm_update, code_bit, code_bit16, hash2, match_after, match_bucket, match_find, mix_dot,
                     mix_update, record_update, squash, stretch)
from ..detect import (KIND_ARM64, KIND_BINARY, KIND_COMPRESSED, KIND_IMAGE, KIND_TABLE, KIND_TEXT, KIND_X86,
                      KIND_X86I)
from . import x86ops as xo
from .states import N0, N1, NEXT, TOTAL

DET = ((N0 == 0) | (N1 == 0)) & (N0 + N1 > 0)   # a seen state with one bit value only: det's input

# ---- layout ----------------------------------------------------------------------------------

N_H_TEXT = 23       # hashed bit-history contexts of every region (see ctx_hashes)
N_H_2D = 6          # ... and of image and table regions (structure, see ctx_2d)
N_H_V2 = N_H_TEXT + N_H_2D   # the contexts of blocks without USE_EXT
N_H_EXT = 14        # ... and twelve more in blocks with the extension byte (USE_EXT; see ctx_ext)
N_H_M2 = 2          # ... and two keyed by the match models' expected byte (USE_MATCH2)
N_H = N_H_V2 + N_H_EXT + N_H_M2
X_CTX = 2           # x[XI[m]], x[XI[m] + 1]: context m's two inputs (X_CTX + 2m for m < N_H_V2)
X_MATCH = X_CTX + 2 * N_H_V2
X_BIAS = X_MATCH + 2
X_TWIN = X_BIAS + 1
X_LSSE = X_TWIN + 1    # the LSTM's probability refined by an APM on the partial byte and c1
N_IN_V2 = X_LSSE + 1   # the inputs of blocks without USE_EXT (the mixers read only these)
X_EXT = N_IN_V2        # x[X_EXT + 2(m - N_H_V2)] ...: the extension contexts' two inputs
N_RUN = 10          # run contexts: contexts 0..9 also predict the byte they saw last, with its run length
X_RUN = X_EXT + 2 * N_H_EXT
X_DET = X_RUN + N_RUN  # x[X_DET + m]: context m's stretch(p) again when its history is deterministic
N_IN_EXT = X_DET + N_H_V2 + N_H_EXT  # the inputs of blocks with the extension but without USE_PIXEL
N_PIX = 8           # pixel models of 1-bit images (USE_PIXEL): direct probabilities per pixel neighbourhood
PIX_FAST, PIX_LIMIT = 5, 255   # each keeps a fast probability (its count capped at 5) and a slow one
X_PIX = N_IN_EXT    # x[X_PIX + 2i], x[X_PIX + 2i + 1]: pixel model i's fast and slow stretch(p)
N_IN_PIX = X_PIX + 2 * N_PIX   # the inputs of blocks with USE_PIXEL but without USE_MATCH2
X_M2 = N_IN_PIX     # the second match model's two inputs (USE_MATCH2)
X_M2CTX = X_M2 + 2  # the expected-byte contexts' two inputs each
X_M2DET = X_M2CTX + 2 * N_H_M2   # ... and their det inputs
N_IN = X_M2DET + N_H_M2
H_M2 = N_H_V2 + N_H_EXT   # the first expected-byte context (USE_MATCH2)
XI = np.array([X_CTX + 2 * m for m in range(N_H_V2)] + [X_EXT + 2 * m for m in range(N_H_EXT)]
              + [X_M2CTX + 2 * m for m in range(N_H_M2)], np.int64)
DI = np.array([X_DET + m for m in range(H_M2)] + [X_M2DET + m for m in range(N_H_M2)], np.int64)
N_MIX = 6           # the sixth runs only in blocks with USE_STRUCT
MIX_SETS = (2048, 64, 192, 2048, 512, 392)  # orders seen x c0; match; LSTM conf x expected bit x k;
                                            # c1 x class(c2); classes x k; region: 2-D shape or kind x k
MIX_OFFSET = (0, 2048, 2112, 2304, 4352, 4864)
N_SETS_OLD = 5256
assert MIX_OFFSET == tuple(int(sum(MIX_SETS[:j])) for j in range(N_MIX)) and N_SETS_OLD == sum(MIX_SETS)
M2_OFFSET = N_SETS_OLD  # mixer 1's sets while only the second match model predicts (USE_MATCH2)
N_SETS = M2_OFFSET + 64
N_FINAL = 8         # second-layer weight sets: one per bit position
SM_LIMIT = 255      # a state map entry's count saturates here (rate 2/(2n+3) >= 1/256)
SM_RATE = np.array([(2 << 16) // (2 * n + 3) for n in range(SM_LIMIT + 1)], np.int64)

# Model switches: the low byte as v1 (lstm, orders, word, column, match, apm, twin), bit 128 marks
# a v2 block, the next byte switches the v2 families.
USE_LSTM, USE_ORDERS, USE_WORD, USE_COLUMN, USE_MATCH, USE_APM, USE_TWIN = 1, 2, 4, 8, 16, 32, 64
USE_SPARSE, USE_RECORD, USE_CLASS, USE_CODE, USE_INDIRECT, USE_FIELD = 256, 512, 1024, 2048, 4096, 8192
USE_STRUCT = 16384  # the block has a region table (kinds: detect.py); 2-D contexts in images and tables
USE_EXT = 32768     # a third byte of switches follows (the extension: every switch from 1 << 16 on)
USE_RUN, USE_LONG, USE_LINE, USE_MARKUP, USE_WORD2, USE_DET, USE_RATES, USE_INDIRECT2 = (1 << i for i in range(16, 24))
USE_PIXEL = 1 << 24   # a fourth byte of switches (bits 24..31; the level byte's bit 7 marks it)
USE_IMAGE = 1 << 25   # 8..32-bit images of extension blocks: 2-D contexts in the extension's slots
USE_MATCH2 = 1 << 26  # a second match model (words, recovery after a miss); contexts of the expected byte
USE_PREC = 1 << 27    # the SSE stage's output and the coder at 16-bit probabilities
USE_WINIT = 1 << 28   # without the LSTM: each context's first mixer weight starts at 1/32, not 1/8

# Region kinds (lstmzip/detect.py's) and the columns of the regions array the kernels read.
K_TEXT, K_BINARY, K_X86, K_IMAGE, K_TABLE, K_COMPRESSED, K_ARM64, K_X86I = (
    KIND_TEXT, KIND_BINARY, KIND_X86, KIND_IMAGE, KIND_TABLE, KIND_COMPRESSED, KIND_ARM64, KIND_X86I)
R_START, R_END, R_KIND, R_WIDTH, R_DEPTH = range(5)

# Which switch each hashed context belongs to.
CTX_FAMILY = np.array([USE_ORDERS] * 7 + [USE_WORD] * 3 + [USE_SPARSE] * 3 + [USE_COLUMN] * 2
                      + [USE_RECORD] * 2 + [USE_CLASS, USE_CODE] + [USE_INDIRECT] * 2 + [USE_FIELD, USE_WORD]
                      + [USE_STRUCT] * N_H_2D + [USE_LONG] * 2 + [USE_LINE] * 2 + [USE_MARKUP] * 2
                      + [USE_WORD2] * 2 + [USE_LINE] * 2 + [USE_INDIRECT2] * 2 + [USE_LINE] * 2
                      + [USE_MATCH2] * N_H_M2, np.int64)
assert len(CTX_FAMILY) == N_H

# Per-lane state columns.
(L_C4, L_C8, L_W0, L_W1, L_W2, L_COL, L_LINE, L_PLINE, L_MPTR, L_MLEN, L_START, L_RLEN, L_RCAND,
 L_RCNT, L_CLS, L_INDENT, L_LEAD, L_DEPTH, L_FIELD, L_REG, L_C12, L_LFW, L_LFN, L_TAG, L_INTAG,
 L_WLEN, L_WBEG, L_PLFW, L_BRK) = range(29)
N_FS = 32           # fields per line whose starts a lane keeps (this line's, the line before's)
L_FS = 29           # st[L_FS + f]: where field f of this line starts; st[L_FS + N_FS + f]: of the line before (-1: none)
L_X86 = L_FS + 2 * N_FS   # st[L_X86:L_X86 + X_LEN]: where the byte sits in its x86 instruction (kind 7, x86ops.py)
L_M2PTR = L_X86 + xo.X_LEN   # the second match model: where it points (0: none), its length, recent misses
L_M2LEN, L_M2MISS = L_M2PTR + 1, L_M2PTR + 2
N_LANE = L_M2PTR + 3
assert L_RCAND == L_RLEN + 1 and L_RCNT == L_RLEN + 2     # record_update's layout



# Scratch of code_step (one array, sliced): offsets of its parts.
W_X, W_HX, W_PK, W_ROWS = 0, N_IN, N_IN + N_MIX, N_IN + 2 * N_MIX
W_BH = N_IN + 3 * N_MIX
W_BUCKET, W_SLOT, W_STATE, W_USE = W_BH + N_H, W_BH + 2 * N_H, W_BH + 3 * N_H, W_BH + 4 * N_H
W_CUM = W_BH + 5 * N_H
W_CUM2 = W_CUM + 257
W_RIDX = W_CUM2 + 257
W_RCHK, W_RBYTE, W_RCNT, W_RSEL = (W_RIDX + i * N_RUN for i in range(1, 5))
W_PQ = W_RIDX + 5 * N_RUN
W_TOUCH = W_PQ + N_PIX + 1    # a sum of bytes read only to start their loads early (code_step)
WORK_LEN = W_TOUCH + 1


@njit(cache=True, inline="always")
def mixer_rate(seen, models):
    """The first layer's learning rate in 1/8ths of v2's base rate, after `seen` bytes of a block:
    v2 3, 2, 1 (x8) until 8 K, 32 K bytes, then; USE_RATES starts lower and keeps falling."""
    if models & USE_RATES:
        return 15 if seen < 8192 else 10 if seen < 32768 else 5 if seen < 262144 else 4 if seen < 1048576 else 3
    return 24 if seen < 8192 else 16 if seen < 32768 else 8


@njit(cache=True, inline="always")
def run_bucket(n):
    """A run length (1..255) as one of 12 buckets: 1..7 each, 8-11, 12-15, 16-31, 32-63, 64+."""
    if n < 8:
        return n - 1
    if n < 12:
        return 7
    if n < 16:
        return 8
    if n < 32:
        return 9
    if n < 64:
        return 10
    return 11


def char_class_table() -> np.ndarray:
    """Byte -> class 0..7: other control, space/tab, newline, digit, lower (and bytes >= 128),
    upper, sentence punctuation .,;:!?, other symbols."""
    cls = np.full(256, 7, np.int64)
    cls[:32] = 0
    cls[[9, 32]] = 1
    cls[[10, 13]] = 2
    cls[48:58] = 3
    cls[97:123] = 4
    cls[128:] = 4
    cls[65:91] = 5
    for ch in b".,;:!?":
        cls[ch] = 6
    return cls


CLASS = char_class_table()


@njit(cache=True, inline="always")
def bucket_v2(ht, h, hmask):
    """The bucket (index of its check byte) of the context with hash h: one of the three
    16-byte buckets at h, h^16, h^32 whose check byte matches, else the one of them whose first
    node has seen the fewest bits, taken over (check written, its 15 states reset to 0)."""
    base = h & hmask
    chk = (h >> 32) & 0xFF
    best = base
    best_n = 1 << 30
    for j in range(3):
        b = base ^ (j << 4) if j < 2 else base ^ 32
        if ht[b] == chk:
            return b
        n = TOTAL[ht[b + 1]]
        if n < best_n:
            best_n = n
            best = b
    ht[best] = chk
    for i in range(1, 16):
        ht[best + i] = 0
    return best


@njit(cache=True, inline="always")
def sm_update(sm, row, s, bit):
    """State map entry (p | n << 16) moves 2/(2n+3) of the way to the bit; n saturates at SM_LIMIT."""
    v = sm[row, s]
    p = v & 0xFFFF
    n = v >> 16
    target = 65535 if bit else 0
    p += ((target - p) * SM_RATE[n]) >> 16
    if p < 16:
        p = 16
    if p > 65519:
        p = 65519
    if n < SM_LIMIT:
        n += 1
    sm[row, s] = p | (n << 16)


POP8 = np.array([bin(i).count("1") for i in range(256)], np.int64)
M2_MISSES = 4       # the second match model lets go when this many of its last 8 bytes missed
M2_VERIFY = 32      # ... and checks at most this many bytes of a word's earlier occurrence


@njit(cache=True, inline="always")
def match2_find(m2ptr, m2len, m2miss, mlen, mptr, buf, known):
    """At a byte boundary: the second match model lets go of a pointer whose byte is not known,
    and takes the first model's match when it has none or a shorter one (its length counts bytes
    since its last miss). Returns (m2ptr, m2len, m2miss); m2ptr 0 = none."""
    if m2ptr > 0 and (m2ptr >= len(buf) or known[m2ptr] == 0):
        m2ptr = 0
    if mlen > 0 and (m2ptr == 0 or (m2ptr != mptr and m2len < mlen)):
        m2ptr = mptr
        m2len = mlen
        m2miss = 0
    return m2ptr, m2len, m2miss


@njit(cache=True, inline="always")
def match2_after(m2ptr, m2len, m2miss, e2, byte, buf):
    """After the byte: the second match model moves on whether or not it guessed right (a miss
    restarts its length and is remembered in its last-8-bytes mask), until M2_MISSES misses."""
    if m2ptr > 0:
        if e2 == byte:
            m2len = min(m2len + 1, MATCH_MAX)
            m2miss = (m2miss << 1) & 0xFF
        else:
            m2len = 0
            m2miss = ((m2miss << 1) | 1) & 0xFF
        m2ptr += 1
        if POP8[m2miss] >= M2_MISSES or m2ptr >= len(buf):
            m2ptr = 0
            m2len = 0
            m2miss = 0
    return m2ptr, m2len, m2miss


@njit(cache=True, inline="always")
def match2_word(m2ptr, m2len, m2miss, w0, wlen, pos, buf, known, match_table, mmask):
    """After the byte and the word state: inside a word (w0 != 0, wlen letters so far, ending at
    pos) the second match model looks up where the same word prefix last ended, and takes the byte
    after it if it has nothing longer and the last min(wlen, M2_VERIFY) bytes agree; then that
    entry points here. The entries share the first model's table (another hash)."""
    if w0 == 0:
        return m2ptr, m2len, m2miss
    hw = hash2(w0, 0x4D3200 + min(wlen, 15)) & mmask
    if m2ptr == 0 or m2len < wlen:
        cand = np.int64(match_table[hw]) - 1
        wl = min(wlen, M2_VERIFY)
        if wl < cand < len(buf) and known[cand - 1] == 1:
            n = 0
            while n < wl and known[cand - 1 - n] == 1 and buf[cand - 1 - n] == buf[pos - n]:
                n += 1
            if n == wl:
                m2ptr = cand
                m2len = wlen
                m2miss = 0
    if pos + 1 < len(buf):
        match_table[hw] = pos + 2      # (+1: 0 is empty) the byte after the word so far
    return m2ptr, m2len, m2miss


@njit(cache=True)
def ctx_hashes(st, c1, above, r1, r2, rlen, ind2, ind3, bh):
    """The N_H context hashes of a lane at a byte boundary (40-bit values)."""
    c4 = st[L_C4]
    c8 = st[L_C8]
    w0 = st[L_W0]
    bh[0] = hash2(c1, 100)
    bh[1] = hash2(c4 & 0xFFFF, 101)
    bh[2] = hash2(c4 & 0xFFFFFF, 102)
    bh[3] = hash2(c4, 103)
    bh[4] = hash2(c4, (c8 & 0xFF) + 104 * 65536)
    bh[5] = hash2(c4, (c8 & 0xFFFF) + 105 * 65536)
    h8 = hash2(c4, c8) & 0xFFFFFFFF              # (returned: ctx_ext's orders 10 and 12 build on it)
    bh[6] = hash2(h8, 106)
    bh[7] = hash2(w0, c1 + 107 * 256 if w0 == 0 else 107)
    bh[8] = hash2(w0, st[L_W1] ^ 0x1080000)
    bh[9] = hash2(w0, st[L_W2] ^ 0x1090000)
    bh[10] = hash2((c4 >> 8) & 0xFFFF, 110)
    bh[11] = hash2(c1 | (((c4 >> 16) & 0xFF) << 8), 111)
    bh[12] = hash2((c4 >> 16) & 0xFFFF, 112)
    col = st[L_COL]
    bh[13] = hash2(above | (min(col, 255) << 8), 113)
    bh[14] = hash2(above | (c1 << 8), 114)
    bh[15] = hash2(r1 | (r2 << 8) | (rlen << 16), 115)
    bh[16] = hash2(r1 | (c1 << 8) | (rlen << 16), 116)
    bh[17] = hash2(st[L_CLS] & 0xFFFFFF, 117)
    bh[18] = hash2(min(st[L_INDENT], 63) | (st[L_DEPTH] << 6) | (c1 << 10) | (st[L_LEAD] << 18), 118)
    bh[19] = hash2(np.int64(ind2[c4 & 0xFFFF]) | (c1 << 16), 119)
    i3 = hash2(c4 & 0xFFFFFF, 7) & 0xFFFF
    bh[20] = hash2(np.int64(ind3[i3]) | ((c4 & 0xFFFF) << 16), 120)
    bh[21] = hash2(min(st[L_FIELD], 255) | (c1 << 8) | (CLASS[(c4 >> 8) & 0xFF] << 16), 121)
    bh[22] = hash2(hash2(w0, st[L_W1]) & 0xFFFFFFFF, st[L_W2] ^ 0x1160000)
    return h8


@njit(cache=True)
def ctx_ext(st, c1, h8, bh, ind2, buf, pos):
    """The extension's N_H_EXT context hashes (into bh[N_H_V2:]): orders 10 and 12; the line's
    first bytes (this line's and the one before: the kind of line, a code statement, a log
    record's prefix) with the word, order 2, the column; the enclosing markup tag; the word's
    shape (the previous word and how far into this one, the byte before this word); bracket
    nesting with order 2."""
    c4 = st[L_C4]
    w0 = st[L_W0]
    col = st[L_COL]
    x = N_H_V2
    bh[x] = hash2(h8, (st[L_C12] & 0xFFFF) + 0x3000000)
    bh[x + 1] = hash2(hash2(h8, st[L_C12]) & 0xFFFFFFFF, 131)
    bh[x + 2] = hash2(st[L_LFW] | (c1 << 24), w0 ^ 0x1210000)
    bh[x + 3] = hash2((c4 & 0xFFFF) | ((st[L_LFW] & 0xFFFF) << 16), 0x1220000 + min(col, 255))
    bh[x + 4] = hash2((st[L_TAG] & 0xFFFFFF) | (c1 << 24), w0 ^ 0x1230000)
    bh[x + 5] = hash2((st[L_TAG] & 0xFFFF) | ((c4 & 0xFFFF) << 16), 0x1240000 + st[L_INTAG])
    bh[x + 6] = hash2(st[L_W1], min(st[L_WLEN], 15) | (CLASS[c1] << 4) | 0x1250000)
    bh[x + 7] = hash2(w0, st[L_WBEG] | 0x1260000)
    bh[x + 8] = hash2(st[L_PLFW] | (min(col, 255) << 24), st[L_LFW] | 0x1000000)
    bh[x + 9] = hash2((c4 & 0xFFFF) | (st[L_DEPTH] << 16) | (st[L_BRK] << 20), 0x1270000)
    bh[x + 10] = hash2(np.int64(ind2[65536 + (w0 & 0xFFFF)]) | (c1 << 16), 0x1280000)
    bh[x + 11] = hash2(np.int64(ind2[131072 + c1]) | (((c4 >> 8) & 0xFF) << 16), 0x1290000)
    f = min(st[L_FIELD], N_FS - 1)                # the same field of the line before, as far in
    off = pos - st[L_FS + f]
    pf = st[L_FS + N_FS + f]
    a1 = 0
    a2 = 0
    if pf >= 0 and off >= 0 and pf + off < st[L_LINE]:
        a1 = np.int64(buf[pf + off])
        if pf + off + 1 < st[L_LINE]:
            a2 = np.int64(buf[pf + off + 1])
    bh[x + 12] = hash2(a1 | (c1 << 8) | (f << 16), 0x12A0000)
    bh[x + 13] = hash2(a1 | (a2 << 8) | (min(off, 15) << 16) | (f << 20), 0x12B0000)


@njit(cache=True, inline="always")
def near(buf, pos, d, lo):
    """buf[pos - d], or 0 where that is before lo (the later of the region's and the lane's
    first byte: a byte of another lane may not be decoded yet)."""
    if d > 0 and pos - d >= lo:
        return np.int64(buf[pos - d])
    return np.int64(0)


@njit(cache=True, inline="always")
def neighbours(width, depth, col, pos, lo, buf):
    """(bpp, chan, w, n, nw, ne, nn, ww) of a byte in a 2-D region: bytes per pixel (depth / 8, at
    least 1), the byte's place in its pixel, and the same byte of the pixel left, above,
    above-left, above-right (0 unless width > bpp), two above, two left (near(): 0 before lo)."""
    bpp = max(1, depth >> 3)
    w = near(buf, pos, bpp, lo)
    n = near(buf, pos, width, lo)
    nw = near(buf, pos, width + bpp, lo)
    ne = near(buf, pos, width - bpp, lo) if width > bpp else np.int64(0)
    nn = near(buf, pos, 2 * width, lo)
    ww = near(buf, pos, 2 * bpp, lo)
    return bpp, col % bpp, w, n, nw, ne, nn, ww


NB_NONE = (np.int64(1),) + (np.int64(0),) * 7   # neighbours() outside 2-D regions (never read)


@njit(cache=True)
def ctx_2d(kind, width, depth, col, pos, lo, nb, c1, c2, buf, bh):
    """The N_H_2D context hashes of a byte in an image or table region (into bh[N_H_TEXT:]; a
    1-bit image also rewrites bh[3..9], so this runs after ctx_hashes); returns the sixth mixer's
    selector (0..31).

    bpp = bytes per pixel (depth / 8, at least 1: 1-bit images and tables are rows of bytes),
    chan = the byte's place in its pixel; w, n, nw, ne, nn, ww: the same byte of the pixel left,
    above, above-left, above-right, two above, two left (nb: neighbours()'s tuple); colc: a
    table's column, an image's chan."""
    bpp, chan, w, n, nw, ne, nn, ww = nb
    colc = min(col, 65535) if kind == K_TABLE else chan
    b = N_H_TEXT
    if kind == K_IMAGE and depth == 1:       # bilevel: a byte is 8 pixels, the bit coded is one;
        nnn = near(buf, pos, 3 * width, lo)  # the slot within the context's bucket adds the
        edge = (nw & 1) | ((ne >> 7) << 1) | ((w & 1) << 2)   # pixels already coded in this byte
        bh[b] = hash2(w | (n << 8), 150)
        bh[b + 1] = hash2(n | (edge << 8), 151)
        bh[b + 2] = hash2(n | (nn << 8) | ((w & 1) << 16), 152)
        bh[b + 3] = hash2(n | (nn << 8) | (nnn << 16), 153)
        bh[b + 4] = hash2((w & 0x3F) | (n << 6) | ((nw & 3) << 14) | ((ne >> 6) << 16), 154)
        bh[b + 5] = hash2(n | (ne << 8) | ((w & 1) << 16), 155)
        # text contexts 3..9 (orders 4+, words: noise for pixels) become seven more neighbourhoods
        # (with the lane's c1, c2, which ctx_hashes wrote them from; code_step turns 10..22 off)
        edge1 = (nw & 1) | ((ne >> 7) << 1) | ((c1 & 1) << 2)
        bh[3] = hash2(nw | (n << 8) | (ne << 16), 156)
        bh[4] = hash2(n | (nn << 8) | (edge1 << 16) | ((c1 & 3) << 19), 157)
        bh[5] = hash2((c1 & 0xF) | (n << 4) | ((nn & 0x3C) << 10), 158)
        bh[6] = hash2(c2 | (n << 8), 159)
        bh[7] = hash2(n | (nn << 8) | (nnn << 16) | (near(buf, pos, 4 * width, lo) << 24), 160)
        bh[8] = hash2(nw | (n << 8) | ((c1 & 7) << 16), 161)
        bh[9] = hash2(ne | (n << 8) | (near(buf, pos, 2 * width - 1, lo) << 16), 162)
        return (0 if n == 0 else 1 if n == 255 else 2) * 8 + (w & 7)
    bh[b] = hash2(w | (n << 8) | (colc << 16), 130)
    bh[b + 1] = hash2(n | (nw << 8) | (ne << 16) | (min(chan, 3) << 24), 131)
    bh[b + 2] = hash2(min(max(w + n - nw, 0), 255) | (colc << 8), 132)
    bh[b + 3] = hash2(n | (nn << 8) | (colc << 16), 133)
    if kind == K_TABLE:
        bh[b + 4] = hash2(c1 | (c2 << 8) | (colc << 16), 134)
    else:
        bh[b + 4] = hash2((w >> 3) | ((n >> 3) << 5) | ((nw >> 3) << 10) | ((ne >> 3) << 15)
                          | (min(chan, 3) << 20), 134)
    if bpp >= 2 and chan > 0:             # this pixel's previous byte moved as much as its left one's
        pw = near(buf, pos, bpp + 1, lo)
        bh[b + 5] = hash2(min(max(w + c1 - pw, 0), 255) | (chan << 8), 135)
    else:                                 # the vertical and horizontal trends
        bh[b + 5] = hash2(min(max(2 * n - nn, 0), 255) | (min(max(2 * w - ww, 0), 255) << 8)
                          | (chan << 16), 136)
    d = abs(w - n)
    q = 0
    while d > 0 and q < 7:
        d >>= 1
        q += 1
    return min(chan, 3) * 8 + q


@njit(cache=True)
def ctx_binary(pos, lo, c4, buf, bh):
    """The N_H_2D context hashes of a byte in an x86 or binary region (x86: after the E8/E9
    transform; into bh[N_H_TEXT:]). op = how far back the last E8/E9 opcode is (1..4: this byte is its operand,
    whose transformed bytes name the call's target), 0 if none is that close."""
    op = 0
    for d in range(1, 5):
        if pos - d >= lo and (buf[pos - d] == 0xE8 or buf[pos - d] == 0xE9):
            op = d
            break
    b = N_H_TEXT
    c1 = c4 & 0xFF
    bh[b] = hash2((c4 & 0xFFFF) | (op << 16), 140)            # order 2 and place in an operand
    bh[b + 1] = hash2((c4 & 0xFFFFFF) | (op << 24), 141)      # order 3 and place in an operand
    bh[b + 2] = hash2(c1 | ((pos & 15) << 8), 142)            # alignment: padding, function starts
    bh[b + 3] = hash2(((c4 >> 8) & 0xFF) | (op << 8), 143)    # the byte before, skipping one
    bh[b + 4] = hash2((c4 >> 16) & 0xFFFF | (op << 16), 144)  # two bytes, skipping one
    bh[b + 5] = hash2(c4 & 0xF0F0F0FF, 145)                   # order 4, high nibbles of 2..4 back


@njit(cache=True)
def ctx_arm64(j, pos, lo, c4, buf, bh):
    """The N_H_2D context hashes of a byte in an arm64 region (after the BL transform; into
    bh[N_H_TEXT:]); j = the byte's place in its little-endian instruction word (3: the top byte,
    which holds most of the opcode). Returns j."""
    b = N_H_TEXT
    c1 = c4 & 0xFF
    t1 = near(buf, pos, j + 1, lo)            # the previous word's top byte (its opcode)
    t2 = near(buf, pos, j + 5, lo)            # ... and the word's before it
    low = c4 & ((1 << (8 * j)) - 1)           # this word's bytes so far
    bh[b] = hash2((c4 & 0xFFFF) | (j << 16), 170)
    bh[b + 1] = hash2(near(buf, pos, 4, lo) | (near(buf, pos, 8, lo) << 8) | (j << 16), 171)
    bh[b + 2] = hash2(c4, j | (172 << 8))
    bh[b + 3] = hash2(low | (t1 << 24) | (j << 32), 173)
    bh[b + 4] = hash2(near(buf, pos, 4, lo) | (c1 << 8) | (j << 16), 174)
    bh[b + 5] = hash2(t1 | (t2 << 8) | (j << 16) | ((low & 0xFF) << 18), 175)
    return j


@njit(cache=True)
def ctx_x86i(xs, c4, c8, pos, ext, bh):
    """The N_H_2D context hashes of a byte in an x86 region of kind 7 (after the E8/E9
    transform; into bh[N_H_TEXT:]) from its place in its instruction (x86ops.py: xs is the
    lane's parse state); with the extension also its N_H_EXT slots (bh[N_H_V2:]), which hold
    more x86 contexts there instead of ctx_ext's text contexts, whatever its switches. Returns
    the byte's role (0..6)."""
    b = N_H_TEXT
    role = xs[xo.ROLE]
    ri = role * 8 + min(xs[xo.INDEX], 7)      # the role and the place in a displacement / immediate
    op = xs[xo.OP]                            # this instruction's opcode (at a start: the last one's)
    head = ri | (op << 6)
    c1 = c4 & 0xFF
    bh[b] = hash2(head | ((xs[xo.PFX] & 15) << 16), 180)
    bh[b + 1] = hash2(head, (xs[xo.HIST] << 8) | 181)
    bh[b + 2] = hash2(head | (xs[xo.MRM] << 16) | (c1 << 24), 182)
    bh[b + 3] = hash2(ri | ((c4 & 0xFFFF) << 6), 183)
    bh[b + 4] = hash2(head | (xs[xo.MRM] << 16) | ((c4 >> 8) & 0xFF) << 24, (c1 << 8) | 184)
    bh[b + 5] = hash2(head | ((c4 & 0xFFFF) << 16), 185)
    if not ext:
        return role
    b = N_H_V2
    bh[b] = hash2(head | (xs[xo.MRM] << 16), 190)                       # opcode, ModRM
    bh[b + 1] = hash2(ri | (c1 << 6) | ((pos & 15) << 14), 191)         # alignment (padding)
    bh[b + 2] = hash2(head | (xs[xo.MRM] << 16), (xs[xo.HIST] << 8) | 192)
    bh[b + 3] = hash2(ri | (((c4 >> 8) & 0xFFFF) << 6), 193)           # two bytes, skipping one
    bh[b + 4] = hash2(head | (c4 & 0xFF00) << 8, 194)                   # opcode and the byte before last
    bh[b + 5] = hash2(c4, (ri << 8) | 195)                              # order 4 and role
    bh[b + 6] = hash2(c4, ((c8 & 0xFFFF) << 8) | 196)                   # order 6
    bh[b + 7] = hash2(head | ((xs[xo.HIST] & 1023) << 16) | ((xs[xo.PFX] & 15) << 26), (xs[xo.MRM] << 8) | 197)
    bh[b + 8] = hash2(c4, (head << 8) | 198)                            # opcode, order 4
    bh[b + 9] = hash2(head | (xs[xo.MRM] << 16) | (c1 << 24), (xs[xo.HIST] << 8) | 199)
    bh[b + 10] = hash2(((c4 >> 16) & 0xFFFF) | (ri << 16), 200)          # bytes 3 and 4 back
    bh[b + 11] = hash2(head | (c1 << 16) | ((c8 & 0xFF) << 24), 201)   # opcode, c1, five back
    bh[b + 12] = hash2(ri | (c1 << 6), (xs[xo.HIST] << 8) | 202)
    bh[b + 13] = hash2((c8 & 0xFFFFFF) | (ri << 24), 203)
    return role


@njit(cache=True, inline="always")
def clip8(v):
    return min(max(v, 0), 255)


@njit(cache=True)
def ctx_image_ext(width, pos, lo, nb, c1, buf, bh):
    """In 8..32-bit image regions of blocks with USE_IMAGE (and the extension), the
    extension's N_H_EXT slots hold more 2-D contexts (into bh[N_H_V2:]): predictions from the
    neighbours (averages, gradients, trends), quantized neighbourhoods and the channel before
    (nb: neighbours()'s tuple, as ctx_2d reads it)."""
    b = N_H_V2
    bpp, chan, w, n, nw, ne, nn, ww = nb
    nne = near(buf, pos, 2 * width - bpp, lo) if width > bpp else np.int64(0)
    nnw = near(buf, pos, 2 * width + bpp, lo)
    ch = min(chan, 3) << 16
    bh[b] = hash2(((w + n + 1) >> 1) | ch, 220)
    bh[b + 1] = hash2(clip8(n + ne - nne) | ch, 221)
    bh[b + 2] = hash2(clip8(w + ne - n) | ch, 222)
    bh[b + 3] = hash2(clip8(2 * n - nn) | ((w >> 2) << 8) | ch, 223)
    bh[b + 4] = hash2(clip8(2 * w - ww) | ((n >> 2) << 8) | ch, 224)
    bh[b + 5] = hash2(w | (nw << 8) | ch, 225)
    bh[b + 6] = hash2(n | (ne << 8) | ch, 226)
    bh[b + 7] = hash2(((w + n + ne + nw + 2) >> 2) | ch, 227)
    bh[b + 8] = hash2((w >> 2) | ((n >> 2) << 6) | ((ne >> 2) << 12) | (min(chan, 3) << 18), 228)
    bh[b + 9] = hash2((clip8(w + n - nw) >> 1) | (min(abs(w - n), 255) >> 3 << 8) | ch, 229)
    bh[b + 10] = hash2(c1 | (n << 8) | ch, 230)
    bh[b + 11] = hash2(nn | (nnw << 8) | (n >> 3 << 16) | (min(chan, 3) << 21), 231)
    bh[b + 12] = hash2(clip8(n + w - ((nw + ne) >> 1)) | ch, 232)
    bh[b + 13] = hash2(((w - nw + 255) >> 3) | (((n - nw + 255) >> 3) << 6) | (min(chan, 3) << 12), 233)


@njit(cache=True, nogil=True)
def code_step(mode, t, lane0, lanes, freq, freq2, buf, known, lane_state, rec_last, rec_dist,
              ht, sm, order1, ind2, ind3, match_table, match_sm, runs, rsm, pix,
              weights, final_w, apm1, apm2, apm3, apm5, cs, stream, models, work, regs):
    """Code (ENCODE) or decode (DECODE, bytes written into buf) byte t of lanes lane0..lanes-1
    (in that order: lanes 0..k-1 then k..n-1 code exactly as 0..n-1 in one call).

    freq: (lanes - lane0, 256) LSTM frequency tables (rows sum to 2**16); freq2: the adapted LSTM's
    (read only with USE_TWIN); buf: the block, known[pos] = 1 once buf[pos] is coded; ht: the
    bit-history buckets of every hashed context (uint8, a power of two bytes); sm: (N_H, 256)
    state maps; ind2: 2·65536 + 256 uint16, the two bytes that last followed each order-2
    context, each word (w0 & 0xFFFF) and each c1; runs: the run contexts' table (uint32, a power
    of two entries; one entry without USE_RUN), rsm: (N_RUN, 32) their probabilities; pix:
    (N_PIX, 65536) the pixel models' entries (one column without USE_PIXEL); work:
    WORK_LEN int64 of scratch, kept by the caller for the block; regs: the
    block's regions (R_START, R_END, R_KIND, R_WIDTH, R_DEPTH per row; one text region when the
    block has no region table). Returns nothing; every table is updated.
    """
    hmask = (len(ht) - 1) ^ 15
    mmask = len(match_table) - 1
    x = work[W_X:W_X + N_IN]                 # views of the block's scratch array: nothing is
    hx = work[W_HX:W_HX + N_MIX]             # allocated per step (every entry read is written
    pk = work[W_PK:W_PK + N_MIX]             # first, except cum2[0], which stays 0)
    rows = work[W_ROWS:W_ROWS + N_MIX]
    bh = work[W_BH:W_BH + N_H]
    bucket = work[W_BUCKET:W_BUCKET + N_H]
    slot = work[W_SLOT:W_SLOT + N_H]
    state = work[W_STATE:W_STATE + N_H]
    cum = work[W_CUM:W_CUM + 257]
    cum2 = work[W_CUM2:W_CUM2 + 257]
    use = work[W_USE:W_USE + N_H]
    ridx = work[W_RIDX:W_RIDX + N_RUN]
    rchk = work[W_RCHK:W_RCHK + N_RUN]
    rbyte = work[W_RBYTE:W_RBYTE + N_RUN]
    rcnt = work[W_RCNT:W_RCNT + N_RUN]
    rsel = work[W_RSEL:W_RSEL + N_RUN]       # this bit's RSM entry of each run context, -1: none
    pq = work[W_PQ:W_PQ + N_PIX + 1]         # this bit's entry of each pixel model (+ APM 1's context)
    rmask = len(runs) - 1
    seen = t * len(lane_state)              # about how many bytes the block has coded so far
    rate = mixer_rate(seen, models)
    final_shift = 14 if models & USE_RATES else 13
    n_mix = N_MIX if models & USE_STRUCT else N_MIX - 1
    ext = (models & USE_EXT) != 0
    n_h = N_H if ext else N_H_V2
    n_in = (N_IN if models & USE_MATCH2 else N_IN_PIX if models & USE_PIXEL else N_IN_EXT) if ext else N_IN_V2
    m2on = ext and (models & USE_MATCH2) != 0
    prec = (models & USE_PREC) != 0
    for lane in range(lane0, lanes):
        st = lane_state[lane]
        pos = st[L_START] + t
        c4 = st[L_C4]
        c1 = c4 & 0xFF
        c2 = (c4 >> 8) & 0xFF
        # -- the region holding pos (lanes move forward through the block's regions)
        r = st[L_REG]
        while r + 1 < len(regs) and pos >= regs[r, R_END]:
            r += 1
        st[L_REG] = r
        kind = regs[r, R_KIND]
        if kind == K_COMPRESSED:              # nothing to model: 8 bits at p = 1/2, no learning
            code_compressed(mode, pos, buf, known, st, cs, stream, c4, lane, ext, rec_last, rec_dist,
                            ind2, ind3)
            continue
        width = regs[r, R_WIDTH]
        is2d = (kind == K_IMAGE or kind == K_TABLE) and width > 0
        bilevel = is2d and kind == K_IMAGE and regs[r, R_DEPTH] == 1
        img = ext and is2d and kind == K_IMAGE and regs[r, R_DEPTH] >= 8 and (models & USE_IMAGE) != 0
        for m in range(n_h):
            use[m] = models & CTX_FAMILY[m]
            if N_H_TEXT <= m < N_H_V2 and not is2d and kind != K_X86 and kind != K_BINARY and kind != K_ARM64 \
                    and kind != K_X86I:
                use[m] = 0
            if (kind == K_X86I or img) and N_H_V2 <= m < H_M2:   # the extension's slots: x86 / image contexts
                use[m] = 1
            if bilevel and (10 <= m < N_H_TEXT or m >= N_H_V2):
                use[m] = 0                    # (3..9 become pixel contexts: ctx_2d)
        col = st[L_COL]
        above = 0
        if st[L_PLINE] >= 0 and st[L_PLINE] + col < st[L_LINE]:
            above = np.int64(buf[st[L_PLINE] + col])
        rlen = st[L_RLEN]
        if is2d and width <= REC_MAX:
            rlen = width                      # the record contexts at the region's row length
        r1 = 0
        r2 = 0
        if rlen > 0 and pos - rlen >= st[L_START]:
            r1 = np.int64(buf[pos - rlen])
            if pos - 2 * rlen >= st[L_START]:
                r2 = np.int64(buf[pos - 2 * rlen])
        h8 = ctx_hashes(st, c1, above, r1, r2, rlen, ind2, ind3, bh)
        lo = max(st[L_START], regs[r, R_START])  # no context looks before the lane or the region
        col2d = (pos - regs[r, R_START]) % width if is2d else 0
        nb = neighbours(width, regs[r, R_DEPTH], col2d, pos, lo, buf) if is2d else NB_NONE
        if img:                           # (x86 regions: ctx_x86i fills the extension's slots)
            ctx_image_ext(width, pos, lo, nb, c1, buf, bh)
        elif ext and kind != K_X86I:
            ctx_ext(st, c1, h8, bh, ind2, buf, pos)
        sel = 32 + kind
        if is2d:
            sel = ctx_2d(kind, width, regs[r, R_DEPTH], col2d, pos, lo, nb, c1, c2, buf, bh)
        elif kind == K_X86 or kind == K_BINARY:
            ctx_binary(pos, lo, c4, buf, bh)
        elif kind == K_ARM64:             # (32 + kind .. + 3: the byte's place in its word)
            sel = 32 + kind + ctx_arm64((pos - regs[r, R_WIDTH]) & 3, pos, lo, c4, buf, bh)
        elif kind == K_X86I:              # (42 .. 48: the byte's role in its instruction)
            sel = 42 + ctx_x86i(st[L_X86:L_X86 + xo.X_LEN], c4, st[L_C8], pos, ext, bh)
        pixel = bilevel and (models & USE_PIXEL) != 0
        ra1 = ra2 = ra3 = left = np.int64(0)
        if pixel:                         # 24 pixels of each of the three rows above, this byte's in the middle
            wd = regs[r, R_WIDTH]
            ra1 = (near(buf, pos, wd + 1, lo) << 16) | (near(buf, pos, wd, lo) << 8) | near(buf, pos, wd - 1, lo)
            ra2 = (near(buf, pos, 2 * wd + 1, lo) << 16) | (near(buf, pos, 2 * wd, lo) << 8) \
                | near(buf, pos, 2 * wd - 1, lo)
            ra3 = (near(buf, pos, 3 * wd + 1, lo) << 16) | (near(buf, pos, 3 * wd, lo) << 8) \
                | near(buf, pos, 3 * wd - 1, lo)
            left = near(buf, pos, 2, lo) * 256 + near(buf, pos, 1, lo)
        # -- match model: follow the current match or find one (kernel.py's rules)
        mlen, mptr = match_find(st[L_MLEN], st[L_MPTR], c4, st[L_C8], pos, st[L_START],
                                (models & USE_MATCH) != 0 and t >= MATCH_MIN, buf, known,
                                match_table, mmask)
        expect = np.int64(buf[mptr]) if mlen > 0 else np.int64(0)
        mbucket = match_bucket(mlen)
        # -- the second match model (USE_MATCH2) and the contexts of the expected byte
        m2ptr = st[L_M2PTR]
        m2len = st[L_M2LEN]
        m2miss = st[L_M2MISS]
        e2 = np.int64(-1)
        m2idx = 0
        if m2on:
            m2ptr, m2len, m2miss = match2_find(m2ptr, m2len, m2miss, mlen, mptr, buf, known)
            if m2ptr > 0:
                e2 = np.int64(buf[m2ptr])
                m2idx = (min(m2len, 7) * 4 + min(POP8[m2miss], 3)) * 2
            eb8 = expect if mlen > 0 else e2      # the first model's byte, else the second's
            if eb8 >= 0:
                lb = min(mlen, 15) if mlen > 0 else 16 + min(m2len, 15)
                bh[H_M2] = hash2(eb8 | (lb << 8), 0x12C0000)
                bh[H_M2 + 1] = hash2(eb8 | (c1 << 8) | ((1 + (mlen == 0)) << 16), 0x12D0000)
            else:
                use[H_M2] = 0
                use[H_M2 + 1] = 0
        m2x = m2on and m2ptr > 0 and (mlen == 0 or m2ptr != mptr)   # it predicts beside the first
        # -- the first nibble's buckets and the run entries: read once here, so that their cache
        # misses overlap one another and the work below (the values are not used; W_TOUCH keeps the
        # reads from being optimised away)
        touch = 0
        for m in range(n_h):
            if use[m]:
                touch += ht[bh[m] & hmask]
        # -- run contexts: the byte each of contexts 0..N_RUN-1 saw last, and how many times in a row
        if models & USE_RUN:
            for m in range(N_RUN):
                h = bh[m]
                ridx[m] = (h ^ (h >> 28)) & rmask
                touch += runs[ridx[m]]
        work[W_TOUCH] += touch
        if models & USE_RUN:
            for m in range(N_RUN):
                rcnt[m] = 0
                if use[m]:
                    h = bh[m]
                    rchk[m] = (h >> 16) & 0xFFFF
                    e = np.int64(runs[ridx[m]])
                    if (e >> 16) == rchk[m]:
                        rbyte[m] = (e >> 8) & 0xFF
                        rcnt[m] = e & 0xFF
        # -- LSTM: cumulative frequencies and its most likely byte
        cum[0] = 0
        top = 0
        if models & USE_LSTM:                     # (without it the tables are never read)
            for s in range(256):
                f = freq[lane - lane0, s]
                cum[s + 1] = cum[s] + f
                if f > freq[lane - lane0, top]:
                    top = s
        if models & USE_TWIN:
            for s in range(256):
                cum2[s + 1] = cum2[s] + freq2[lane - lane0, s]
        cls12 = CLASS[c1] * 8 + CLASS[c2]
        byte = np.int64(buf[pos]) if mode == ENCODE else np.int64(0)
        c0 = 1
        for k in range(8):
            # -- inputs
            lo = (c0 - (1 << k)) << (8 - k)
            mid = lo + (1 << (7 - k))
            hi = lo + (1 << (8 - k))
            if models & USE_LSTM:
                p_lstm = ((cum[hi] - cum[mid]) << 12) // (cum[hi] - cum[lo])
                p_lstm = min(max(p_lstm, 1), 4095)
                x[0] = stretch(p_lstm)
                a5, i5 = apm_predict(apm5, c0 | (c1 << 8), p_lstm)
                x[X_LSSE] = stretch(a5)
            else:
                i5 = -1
                x[0] = 0
                x[X_LSSE] = 0
            o0 = np.int64(order1[c1, c0])
            x[1] = stretch(o0 >> 4) if (models & USE_ORDERS) else 0
            node = c0 if k < 4 else (c0 & ((1 << (k - 4)) - 1)) | (1 << (k - 4))
            if k == 4:                                   # the second nibble's buckets: touched first
                touch = 0
                for m in range(n_h):
                    if use[m]:
                        bucket[m] = hash2(bh[m] & 0xFFFFFFFF, c0 + (m << 8) + 0x7000)
                        touch += ht[bucket[m] & hmask]
                work[W_TOUCH] += touch
            for m in range(n_h):
                xi = XI[m]
                if use[m]:
                    if k == 0 or k == 4:                 # a new nibble: find its bucket
                        bucket[m] = bucket_v2(ht, bh[m] if k == 0 else bucket[m], hmask)
                    slot[m] = bucket[m] + node
                    s = np.int64(ht[slot[m]])
                    state[m] = s
                    if s == 0:
                        x[xi] = 0
                        x[xi + 1] = 0
                    else:
                        p12 = (sm[m, s] & 0xFFFF) >> 4
                        x[xi] = stretch(p12)
                        x[xi + 1] = (p12 - 2048) >> 1
                    if ext:                              # deterministic: one bit value only so far
                        x[DI[m]] = x[xi] if (models & USE_DET) != 0 and DET[s] else 0
                else:
                    x[xi] = 0
                    x[xi + 1] = 0
                    if ext:
                        x[DI[m]] = 0
            order = 0
            for m in range(1, 7):
                if state[m] != 0 and use[m]:
                    order += 1
            if order > 7:
                order = 7
            ebit = 0
            if mlen > 0 and ((expect | 256) >> (8 - k)) == c0:
                ebit = (expect >> (7 - k)) & 1
                msi = mbucket * 2 + ebit
                x[X_MATCH] = stretch(match_sm[msi] >> 4)
                x[X_MATCH + 1] = (min(mlen, 32) << 6) * (2 * ebit - 1)
                mset = msi
            else:
                msi = -1
                x[X_MATCH] = 0
                x[X_MATCH + 1] = 0
                mset = 0
            m2si = -1
            if m2on:
                x[X_M2] = 0
                x[X_M2 + 1] = 0
                if m2x and ((e2 | 256) >> (8 - k)) == c0:
                    eb2 = (e2 >> (7 - k)) & 1
                    m2si = 64 + m2idx + eb2
                    x[X_M2] = stretch(match_sm[m2si] >> 4)
                    x[X_M2 + 1] = (min(m2len, 32) << 6) * (2 * eb2 - 1)
            x[X_BIAS] = 256
            if pixel:                     # the pixel models: exact neighbourhoods of this pixel
                lw = ((left << k) | (c0 - (1 << k))) & 0xFFFF   # bit 0: the pixel just left
                sh = 15 - k                                      # ra >> (sh - d): pixel d to the right above
                pq[0] = (lw & 0x3F) | (((ra1 >> (sh - 3)) & 0x7F) << 6) | (((ra2 >> (sh - 1)) & 7) << 13)
                pq[1] = (lw & 7) | (((ra1 >> (sh - 2)) & 0x1F) << 3) | (((ra2 >> (sh - 2)) & 0x1F) << 8) \
                    | (((ra3 >> (sh - 1)) & 7) << 13)
                pq[2] = (lw & 0xFFF) | (((ra1 >> (sh - 2)) & 0xF) << 12)
                pq[3] = ((ra1 >> (sh - 5)) & 0x7FF) | ((lw & 0x1F) << 11)
                pq[4] = (lw & 3) | (((ra1 >> (sh - 4)) & 0x1FF) << 2) | (((ra2 >> (sh - 2)) & 0x1F) << 11)
                pq[5] = (lw & 0xFF) | (((ra1 >> (sh - 1)) & 7) << 8) | (((ra2 >> sh) & 1) << 11) \
                    | (((ra3 >> sh) & 1) << 12) | (((ra1 >> (sh + 2)) & 7) << 13)
                pq[6] = ((ra1 >> (sh - 7)) & 0x7FFF) | ((lw & 1) << 15)
                pq[7] = (lw & 0xF) | (((ra2 >> (sh - 3)) & 0x7F) << 4) | (((ra1 >> (sh - 1)) & 7) << 11) \
                    | (((ra3 >> sh) & 1) << 14)
                pq[8] = (lw & 7) | (((ra1 >> (sh - 1)) & 7) << 3) | (((ra2 >> sh) & 1) << 6) \
                    | (((ra3 >> sh) & 1) << 7)             # (APM 1's context)
                for i in range(N_PIX):
                    e = pix[i, pq[i]]
                    x[X_PIX + 2 * i] = stretch((e >> 20) & 0xFFF)
                    x[X_PIX + 2 * i + 1] = stretch(e >> 36)
            elif models & USE_PIXEL:
                for i in range(2 * N_PIX):
                    x[X_PIX + i] = 0
            if models & USE_RUN:                  # the run's byte, while c0 agrees with it
                for m in range(N_RUN):
                    if rcnt[m] > 0 and ((rbyte[m] | 256) >> (8 - k)) == c0:
                        rsel[m] = run_bucket(rcnt[m]) * 2 + ((rbyte[m] >> (7 - k)) & 1)
                        x[X_RUN + m] = stretch(rsm[m, rsel[m]] >> 4)
                    else:
                        rsel[m] = -1
                        x[X_RUN + m] = 0
            if models & USE_TWIN:
                p_twin = ((cum2[hi] - cum2[mid]) << 12) // (cum2[hi] - cum2[lo])
                x[X_TWIN] = stretch(min(max(p_twin, 1), 4095))
            else:
                x[X_TWIN] = 0
            # -- first layer: N_MIX mixers, each with a weight set chosen by a small context
            conf = min(abs(x[0]) >> 8, 7)
            lexp = 0
            if (models & USE_LSTM) and ((top | 256) >> (8 - k)) == c0:
                lexp = 1 + ((top >> (7 - k)) & 1)
            rows[0] = MIX_OFFSET[0] + (pq[1] & 0x7FF if pixel else order * 256 + c0)
            rows[1] = MIX_OFFSET[1] + mset if msi >= 0 or m2si < 0 else M2_OFFSET + m2si - 64
            rows[2] = MIX_OFFSET[2] + (conf * 3 + lexp) * 8 + k
            rows[3] = MIX_OFFSET[3] + (c1 + (CLASS[c2] << 8) if kind != K_X86I
                                       else (st[L_X86 + xo.OP] & 0xFF) + ((sel - 42) << 8))
            if pixel:                     # the pixels left, above and two above
                rows[4] = MIX_OFFSET[4] + ((pq[0] & 3) | (((pq[0] >> 8) & 7) << 2) | (((pq[0] >> 14) & 1) << 5)) * 8 + k
            else:
                rows[4] = MIX_OFFSET[4] + (cls12 if kind != K_X86I else
                                           (sel - 42) * 8 + min(st[L_X86 + xo.INDEX], 7)) * 8 + k
            rows[5] = MIX_OFFSET[5] + sel * 8 + k
            s_final = 0
            for j in range(n_mix):
                d = mix_dot(weights, rows[j], x, n_in)
                if d > 2047:
                    d = 2047
                if d < -2047:
                    d = -2047
                hx[j] = d
                pk[j] = squash(d)
                s_final += final_w[k, j] * d
            s_final >>= 16
            p_mix = squash(s_final)
            # -- SSE chain: three APMs read at 16 bits; without USE_PREC their 12-bit values (a >> 4,
            # exactly what apm_predict gives) and a 12-bit probability, with it 16 bits throughout
            if models & USE_APM:
                a1, i1 = apm_predict16(apm1, pq[8] if pixel else c0, p_mix)
                a2, i2 = apm_predict16(apm2, c0 | (c1 << 8), p_mix)
                a3, i3 = apm_predict16(apm3, pq[0] if pixel else (hash2(c4 & 0xFFFF, c0) & 0xFFFF), p_mix)
                if prec:
                    p = ((p_mix << 4) + a1 + a2 + a3 + 2) >> 2
                else:
                    p = (p_mix + (a1 >> 4) + (a2 >> 4) + (a3 >> 4) + 2) >> 2
            else:
                i1 = i2 = i3 = 0
                p = p_mix << 4 if prec else p_mix
            if prec:
                p = min(max(p, 16), 65520)   # (as sure as 12 bits allow: the code floor holds)
            else:
                p = min(max(p, 1), 4095)
            # -- code
            bit = (byte >> (7 - k)) & 1
            bit = code_bit16(mode, cs, stream, bit, p) if prec else code_bit(mode, cs, stream, bit, p)
            # -- update
            target = bit << 12
            for j in range(n_mix):
                mix_update(weights, rows[j], x, n_in, (target - pk[j]) * rate, 15)
            err = target - p_mix
            for j in range(n_mix):
                w = final_w[k, j] + ((hx[j] * err) >> final_shift)
                final_w[k, j] = min(max(w, -4194304), 4194304)
            if i5 >= 0:
                apm_update(apm5, i5, bit, 6)
            if models & USE_APM:
                apm_update(apm1, i1, bit, 6)
                apm_update(apm2, i2, bit, 6)
                apm_update(apm3, i3, bit, 6)
            o0 += (((bit << 16) - bit) - o0) >> 5
            order1[c1, c0] = o0
            for m in range(n_h):
                if use[m]:
                    s = state[m]
                    if s != 0:
                        sm_update(sm, m, s, bit)
                    ht[slot[m]] = NEXT[s, bit]
            if models & USE_RUN:
                for m in range(N_RUN):
                    ri = rsel[m]
                    if ri >= 0:
                        rsm[m, ri] += (((bit << 16) - bit) - rsm[m, ri]) >> 6
            if pixel:
                for i in range(N_PIX):
                    e = pix[i, pq[i]]
                    n = e & 0xFFFF
                    pf = (e >> 16) & 0xFFFF
                    ps = e >> 32
                    pf += ((((bit << 16) - bit) - pf) * SM_RATE[min(n, PIX_FAST)]) >> 16
                    ps += ((((bit << 16) - bit) - ps) * SM_RATE[n]) >> 16
                    pix[i, pq[i]] = (ps << 32) | (pf << 16) | min(n + 1, PIX_LIMIT)
            if msi >= 0:
                v = match_sm[msi]
                match_sm[msi] = v + ((((bit << 16) - bit) - v) >> 6)
            if m2si >= 0:
                v = match_sm[m2si]
                match_sm[m2si] = v + ((((bit << 16) - bit) - v) >> 6)
            c0 = (c0 << 1) | bit
        byte = c0 & 0xFF
        # -- after the byte: the block, the run contexts, the match model, the lane's contexts
        buf[pos] = byte
        known[pos] = 1
        if models & USE_RUN:
            for m in range(N_RUN):
                if use[m]:
                    n = min(rcnt[m] + 1, 255) if rcnt[m] > 0 and rbyte[m] == byte else 1
                    runs[ridx[m]] = (rchk[m] << 16) | (byte << 8) | n
        c8 = st[L_C8]
        mlen, mptr = match_after(mlen, mptr, expect, byte, c4, c8, pos,
                                 (models & USE_MATCH) != 0 and t >= MATCH_MIN, buf, match_table,
                                 mmask)
        st[L_MLEN] = mlen
        st[L_MPTR] = mptr
        if m2on:
            m2ptr, m2len, m2miss = match2_after(m2ptr, m2len, m2miss, e2, byte, buf)
        after_byte(st, byte, c4, c8, pos, lane, ext, rec_last, rec_dist, ind2, ind3)
        if m2on:                          # (after the word state has taken this byte)
            m2ptr, m2len, m2miss = match2_word(m2ptr, m2len, m2miss, st[L_W0], st[L_WLEN], pos, buf,
                                               known, match_table, mmask)
            st[L_M2PTR] = m2ptr
            st[L_M2LEN] = m2len
            st[L_M2MISS] = m2miss
        if kind == K_X86I:
            xo.x86_next(st[L_X86:L_X86 + xo.X_LEN], byte)


@njit(cache=True)
def code_compressed(mode, pos, buf, known, st, cs, stream, c4, lane, ext, rec_last, rec_dist, ind2, ind3):
    """A byte of a compressed region: its 8 bits coded at p = 1/2, no model learns from it (the
    lane's history moves on, so the contexts after the region are as usual); the match ends."""
    byte = np.int64(buf[pos]) if mode == ENCODE else np.int64(0)
    c0 = 1
    for k in range(8):
        c0 = (c0 << 1) | code_bit(mode, cs, stream, (byte >> (7 - k)) & 1, 2048)
    byte = c0 & 0xFF
    buf[pos] = byte
    known[pos] = 1
    st[L_MLEN] = 0
    st[L_M2PTR] = 0
    after_byte(st, byte, c4, st[L_C8], pos, lane, ext, rec_last, rec_dist, ind2, ind3)


@njit(cache=True)
def after_byte(st, byte, c4, c8, pos, lane, ext, rec_last, rec_dist, ind2, ind3):
    """A lane's contexts after byte at pos: history, words, classes, code shape, records, lines
    (ext: also the state only the extension's contexts read)."""
    ind2[c4 & 0xFFFF] = ((np.int64(ind2[c4 & 0xFFFF]) << 8) | byte) & 0xFFFF
    if ext:
        wi = 65536 + (st[L_W0] & 0xFFFF)
        ind2[wi] = ((np.int64(ind2[wi]) << 8) | byte) & 0xFFFF
        ci = 131072 + (c4 & 0xFF)
        ind2[ci] = ((np.int64(ind2[ci]) << 8) | byte) & 0xFFFF
        st[L_C12] = ((st[L_C12] << 8) | (c8 >> 24)) & 0xFFFFFFFF
    i3 = hash2(c4 & 0xFFFFFF, 7) & 0xFFFF
    ind3[i3] = ((np.int64(ind3[i3]) << 8) | byte) & 0xFFFF
    st[L_C8] = ((c8 << 8) | (c4 >> 24)) & 0xFFFFFFFF
    st[L_C4] = ((c4 << 8) | byte) & 0xFFFFFFFF
    cls = CLASS[byte]
    st[L_CLS] = ((st[L_CLS] << 3) | cls) & 0xFFFFFF
    if cls == 4 or cls == 5 or cls == 3 or byte == 95:          # letters, digits, _: a word
        if st[L_W0] == 0:
            st[L_WBEG] = c4 & 0xFF
            st[L_WLEN] = 0
        st[L_WLEN] += 1
        st[L_W0] = ((st[L_W0] * 0x2F0B5) + (byte | 32) + 1) & 0xFFFFFFFF
    elif st[L_W0] != 0:
        st[L_W2] = st[L_W1]
        st[L_W1] = st[L_W0]
        st[L_W0] = 0
    if byte == 40 or byte == 91 or byte == 123:                  # ( [ {
        st[L_BRK] = 1 if byte == 40 else 2 if byte == 91 else 3
        st[L_DEPTH] = min(st[L_DEPTH] + 1, 15)
    elif (byte == 41 or byte == 93 or byte == 125) and st[L_DEPTH] > 0:
        st[L_DEPTH] -= 1
    if ext:
        if byte == 60:                                           # <
            st[L_INTAG] = 1
            st[L_TAG] = 0
        elif st[L_INTAG] == 1:
            if byte == 32 or byte == 62 or byte == 10 or byte == 9:
                st[L_INTAG] = 2 if byte != 62 else 0
            else:
                st[L_TAG] = (st[L_TAG] * 0x2F0B5 + byte + 1) & 0xFFFFFF
        elif byte == 62:
            st[L_INTAG] = 0
        if st[L_LFN] < 3 and not (st[L_LEAD] and (byte == 32 or byte == 9)) and byte != 10:
            st[L_LFW] = (st[L_LFW] << 8) | byte
            st[L_LFN] += 1
    if st[L_LEAD]:
        if byte == 32:
            st[L_INDENT] += 1
        elif byte == 9:
            st[L_INDENT] += 4
        else:
            st[L_LEAD] = 0
    if byte == 32 or byte == 9 or byte == 44 or byte == 59 or byte == 124:
        st[L_FIELD] += 1
        if ext and st[L_FIELD] < N_FS:
            st[L_FS + st[L_FIELD]] = pos + 1
    record_update(st, L_RLEN, byte, pos, lane, rec_last, rec_dist)
    if byte == 10:
        st[L_PLINE] = st[L_LINE]
        st[L_LINE] = pos + 1
        st[L_COL] = 0
        st[L_INDENT] = 0
        st[L_LEAD] = 1
        st[L_FIELD] = 0
        if ext:                                    # this line's fields become the line before's
            st[L_FS + N_FS:L_FS + 2 * N_FS] = st[L_FS:L_FS + N_FS]
            st[L_FS:L_FS + N_FS] = -1
            st[L_FS] = pos + 1
            st[L_PLFW] = st[L_LFW]
            st[L_LFW] = 0
            st[L_LFN] = 0
    else:
        st[L_COL] += 1


@njit(cache=True)
def code_steps(mode, t0, t1, steps, s, last, freq, freq2, buf, known, lane_state, rec_last,
               rec_dist, ht, sm, order1, ind2, ind3, match_table, match_sm, runs, rsm, pix,
               weights, final_w, apm1, apm2, apm3, apm5, cs, stream, models, regs):
    """Steps t0..t1-1 of a block without an LSTM in one call (freq: uniform tables): all s
    lanes, the last step `last` of them. Returns the step after the last one coded; the
    decoder stops at the first step whose code ran out (cs[C_OVER])."""
    work = np.zeros(WORK_LEN, np.int64)
    for t in range(t0, t1):
        lanes = s if t < steps - 1 else last
        code_step(mode, t, 0, lanes, freq, freq2, buf, known, lane_state, rec_last, rec_dist,
                  ht, sm, order1, ind2, ind3, match_table, match_sm, runs, rsm, pix,
                  weights, final_w, apm1, apm2, apm3, apm5, cs, stream, models, work, regs)
        if mode == DECODE and cs[C_OVER]:
            return t + 1
    return t1
