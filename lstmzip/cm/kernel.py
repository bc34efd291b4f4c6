"""The context-mixing predictor and its binary arithmetic coder, compiled with numba.

One call of ``code_step`` codes byte t of every active stream of a block (lane 0
first), 8 bits each, most significant bit first. For every bit::

    inputs  = [ LSTM bit probability,            (the engine's byte table, split exactly)
                direct order 1, 13 hashed contexts (orders 2-6, sparse, word, column, record),
                match model (2 inputs), bias,
                the adapted LSTM (adaptive blocks: the first input is then the static model) ]
                                                                 all in the stretch domain
    p_k     = squash(sum_i w_k[set_k, i] * x_i >> 16)            4 mixers, weight sets chosen by
                                                                 partial byte / match length /
                                                                 LSTM confidence x bit / previous byte
    p_mix   = squash(sum_k v_k * stretch(p_k) >> 16)             final mixer, one weight set
    p       = (2 p_mix + apm1(p_mix | c0) + apm2(p_mix | c0,c1)) / 4
    code the bit with p; then every counter, the mixers and the APMs update from it.

Everything is integer arithmetic on int64 (no float anywhere, no value ever
exceeds 2**62), so the compiled code gives the same bits on every CPU and the
pure-Python run of the same functions (``NUMBA_DISABLE_JIT=1``) gives them too:
the tests check exactly that. All tables and per-lane states are shared by the
lanes of a block and updated in lane order, bit by bit: the decoder, which
decodes lane 0's byte before lane 1's, sees exactly the state the encoder saw.

Every index into a table is in range by construction (masks, clips, explicit
checks against the block length): numba does not check bounds, and a hostile
file must not be able to steer a write.

All numba code lives in this one module on purpose: numba's on-disk cache is
keyed by the source file of the compiled function, so a function calling into
another module could be served stale machine code after an upgrade.

The update rules, constants and layouts are written down in ``docs/cm.md``.
"""

from __future__ import annotations

import numpy as np
from numba import njit

# ---- squash / stretch: the logistic function and its inverse as integer tables -------------
#
# squash(d) = 4096 / (1 + e^(-d/256)) for d in [-2047, 2047], by linear interpolation between
# 33 points spaced 128 apart (the values of the logistic at d = -2048, -1920, ..., 2048,
# rounded); stretch(p) is its exact integer inverse on 12-bit probabilities.
_SQUASH_POINTS = np.array([1, 2, 3, 6, 10, 16, 27, 45, 73, 120, 194, 310, 488, 747, 1101, 1546,
                           2047, 2549, 2994, 3348, 3607, 3785, 3901, 3975, 4022, 4050, 4068, 4079,
                           4085, 4089, 4092, 4093, 4094], np.int64)


def _build_squash() -> np.ndarray:
    d = np.arange(-2047, 2048, dtype=np.int64)
    w = d & 127
    i = (d >> 7) + 16
    return (_SQUASH_POINTS[i] * (128 - w) + _SQUASH_POINTS[np.minimum(i + 1, 32)] * w + 64) >> 7


SQUASH = _build_squash()                      # index d + 2047 -> 12-bit probability


def _build_stretch() -> np.ndarray:
    table = np.zeros(4096, np.int64)
    pi = 0
    for x in range(-2047, 2048):
        v = int(SQUASH[x + 2047])
        for j in range(pi, v + 1):
            table[j] = x
        pi = v + 1
    table[pi:] = 2047
    return table


STRETCH = _build_stretch()                    # 12-bit probability -> [-2047, 2047]

# Rate table of the adaptive counters: a counter seen n times moves 2/(2n+3) of the way.
COUNT_LIMIT = 255
RATE = np.array([(2 << 16) // (2 * n + 3) for n in range(COUNT_LIMIT + 1)], np.int64)

# ---- layout constants ------------------------------------------------------------------------

N_CTX = 14          # counters: direct order 1, sparse, orders 2,3,4,6, word, word pair, column x2, record x2, sparse x2
N_IN = N_CTX + 5    # mixer inputs: LSTM, the counters, match x2, bias, adapted LSTM beside the static one
N_MIX = 4           # first-layer mixers
MIX_SETS = (256, 32, 64, 256)    # weight sets: partial byte; match; LSTM confidence x bit; c1
MIX_OFFSET = (0, 256, 288, 352)  # first set of each mixer in the shared weight array
N_SETS = 608
assert MIX_OFFSET == tuple(int(sum(MIX_SETS[:j])) for j in range(N_MIX)) and N_SETS == sum(MIX_SETS)
LIMIT = 255
MATCH_MIN = 6       # bytes of context a match must share
MATCH_MAX = 65535

# Model switches (the mask is recorded in every cm block).
USE_LSTM, USE_ORDERS, USE_WORD, USE_COLUMN, USE_MATCH, USE_APM = 1, 2, 4, 8, 16, 32
ALL_MODELS = 63
USE_TWIN = 64       # adaptive blocks: freq is the static LSTM's, freq2 the adapted one's, both inputs

# Per-lane state columns (int64).
L_C4, L_C8, L_WORD, L_WORD1, L_COL, L_LINE, L_PLINE, L_MPTR, L_MLEN, L_START, L_RLEN, L_RCAND, L_RCNT = range(13)
N_LANE = 13
assert L_RCAND == L_RLEN + 1 and L_RCNT == L_RLEN + 2     # record_update's layout
REC_MAX = 4096      # longest record length the record model detects

# Coder state: x1, x2, x (decoder), write/read position, overflow flag.
C_X1, C_X2, C_X, C_POS, C_OVER = range(5)

ENCODE, DECODE = 0, 1


@njit(cache=True, inline="always")
def squash(d):
    if d > 2047:
        d = 2047
    if d < -2047:
        d = -2047
    return SQUASH[d + 2047]


@njit(cache=True, inline="always")
def stretch(p):
    return STRETCH[p]


# ---- counters: hashed context -> adaptive bit probability -------------------------------------
#
# A context model's table is an array of uint32 in buckets of 16 (one 64-byte cache line): entry
# 0 holds a 32-bit check of the context, entries 1..15 the counters of one nibble's bit tree
# (node 1, then 2-3, then 4-7, then 8-15). Each byte uses two buckets: one for the first nibble
# (found from the byte context's hash), one for the second (from the hash and the first nibble).
# A counter is p | n << 16: p the 16-bit probability of a 1, n how often it was updated.

@njit(cache=True, inline="always")
def bucket_find(slots, base, check):
    """The bucket at `base` for the context with `check`; a bucket holding another context is
    taken over (check written, counters reset to p = 1/2, n = 0) right away."""
    if slots[base] != check:
        slots[base] = check
        for i in range(1, 16):
            slots[base + i] = 32768
    return base


@njit(cache=True, inline="always")
def counter_update(slots, idx, bit, limit):
    """p += (bit*65535 - p) * 2/(2n+3), clipped to [32, 65503]; n += 1 up to limit."""
    v = np.int64(slots[idx])
    p = v & 0xFFFF
    n = v >> 16
    target = 65535 if bit else 0
    p += ((target - p) * RATE[n]) >> 16
    if p < 32:
        p = 32
    if p > 65503:
        p = 65503
    if n < limit:
        n += 1
    slots[idx] = p | (n << 16)


@njit(cache=True, inline="always")
def hash2(a, b):
    """Mix two non-negative values below 2**32 into 40 bits (no int64 overflow)."""
    h = (a * 0x2F0F3D5) ^ (b * 0x6A3B1C9 + 0x9E3779B)      # each product < 2**59
    h ^= h >> 29
    h = (h & 0xFFFFFFFFFF) * 0x3C6EF
    h ^= h >> 31
    return h & 0xFFFFFFFFFF


# ---- mixer ---------------------------------------------------------------------------------

@njit(cache=True, inline="always")
def mix_dot(weights, row, x, n):
    s = 0
    for i in range(n):
        s += weights[row, i] * x[i]
    return s >> 16


@njit(cache=True, inline="always")
def mix_update(weights, row, x, n, err, shift):
    """w_i += x_i * err >> shift, weights clipped to +-2**22 (err = (bit<<12) - p, times a rate)."""
    for i in range(n):
        w = weights[row, i] + ((x[i] * err) >> shift)
        if w > 4194304:
            w = 4194304
        if w < -4194304:
            w = -4194304
        weights[row, i] = w


# ---- APM: secondary estimation --------------------------------------------------------------

@njit(cache=True, inline="always")
def apm_predict(apm, ctx, pr):
    """Interpolate between the two of ctx's 33 buckets around stretch(pr); returns (p, index)."""
    s = stretch(pr) + 2048                 # 1 .. 4095
    lo = s >> 7
    w = s & 127
    base = ctx * 33 + lo
    p = (apm[base] * (128 - w) + apm[base + 1] * w) >> 11
    return p, base + (w >> 6)


@njit(cache=True, inline="always")
def apm_predict16(apm, ctx, pr):
    """apm_predict with the interpolated probability kept at 16 bits (0 .. about 65600)."""
    s = stretch(pr) + 2048
    lo = s >> 7
    w = s & 127
    base = ctx * 33 + lo
    p = (apm[base] * (128 - w) + apm[base + 1] * w) >> 7
    return p, base + (w >> 6)


@njit(cache=True, inline="always")
def apm_update(apm, index, bit, rate):
    target = (bit << 16) + (bit << rate) - bit - bit
    apm[index] += (target - apm[index]) >> rate


# ---- the binary arithmetic coder (32-bit, carry-less, 12-bit probabilities) ---------------

@njit(cache=True, inline="always")
def code_bit(mode, cs, stream, bit, p1):
    """Encode `bit` (mode ENCODE) or decode and return one (mode DECODE) with P(1) = p1/4096.

    Invariant: x1 <= x <= x2 (decoder), both ends 32-bit; once their top bytes agree the
    byte is final and shifted out. An honest code is read exactly to its end, so reading past
    it sets the overflow flag (the caller stops: corrupted block); writing past the buffer
    sets it too and writes nothing.
    """
    r = cs[C_X2] - cs[C_X1]
    return _code_at(mode, cs, stream, bit, cs[C_X1] + (r >> 12) * p1 + (((r & 4095) * p1) >> 12))


@njit(cache=True, inline="always")
def code_bit16(mode, cs, stream, bit, p1):
    """code_bit with P(1) = p1/65536 (v2 blocks with the `prec` switch: the SSE stage's
    probabilities keep 16 bits, p1 in 16 .. 65520). The same coder, a finer split."""
    r = cs[C_X2] - cs[C_X1]
    return _code_at(mode, cs, stream, bit, cs[C_X1] + (r >> 16) * p1 + (((r & 65535) * p1) >> 16))


@njit(cache=True, inline="always")
def _code_at(mode, cs, stream, bit, xmid):
    """The coder's step once the interval [x1, x2] is split at xmid (1: x1..xmid, 0: the rest)."""
    x1 = cs[C_X1]
    x2 = cs[C_X2]
    if mode == DECODE:
        bit = 1 if cs[C_X] <= xmid else 0
    if bit:
        x2 = xmid
    else:
        x1 = xmid + 1
    while ((x1 ^ x2) & 0xFF000000) == 0:
        pos = cs[C_POS]
        if mode == ENCODE:
            if pos < len(stream):
                stream[pos] = x2 >> 24
            else:
                cs[C_OVER] = 1
        else:
            c = np.int64(0)
            if pos < len(stream):
                c = np.int64(stream[pos])
            else:
                cs[C_OVER] = 1                   # reading past the code: a corrupted block
            cs[C_X] = ((cs[C_X] << 8) & 0xFFFFFFFF) | c
        cs[C_POS] = pos + 1
        x1 = (x1 << 8) & 0xFFFFFFFF
        x2 = ((x2 << 8) & 0xFFFFFFFF) | 255
    cs[C_X1] = x1
    cs[C_X2] = x2
    return bit


# ---- match model: the longest recent context that repeats predicts the byte that followed it ---

@njit(cache=True, inline="always")
def match_find(mlen, mptr, c4, c8, pos, start, on, buf, known, match_table, mmask):
    """At a byte boundary: keep following the match while its next byte is known, else (if on)
    look up the last 6 bytes' hash and verify up to 32 bytes backwards; returns (mlen, mptr)."""
    if mlen > 0 and (mptr >= len(buf) or known[mptr] == 0):
        mlen = 0
    if mlen == 0 and on:
        hm = hash2(c4, (c8 & 0xFFFF) + 77 * 65536) & mmask
        cand = np.int64(match_table[hm]) - 1
        if cand >= MATCH_MIN and known[cand] == 1:
            n = 0
            while n < 32 and pos - 1 - n >= start and cand - 1 - n >= 0 \
                    and known[cand - 1 - n] == 1 and buf[cand - 1 - n] == buf[pos - 1 - n]:
                n += 1
            if n >= MATCH_MIN:
                mlen = n
                mptr = cand
    return mlen, mptr


@njit(cache=True, inline="always")
def match_bucket(mlen):
    """Length bucket 0..31 (0: no match)."""
    if mlen <= 0:
        return 0
    return min(mlen, 15) if mlen < 16 else min(16 + (mlen >> 4), 31)


@njit(cache=True, inline="always")
def match_after(mlen, mptr, expect, byte, c4, c8, pos, on, buf, match_table, mmask):
    """After the byte: the match grows or ends; (if on) the context that ended just before pos
    is followed by buf[pos], now known. Returns (mlen, mptr)."""
    if mlen > 0:
        if expect == byte and mptr + 1 < len(buf):
            mlen = min(mlen + 1, MATCH_MAX)
            mptr += 1
        else:
            mlen = 0
    if on:
        match_table[hash2(c4, (c8 & 0xFFFF) + 77 * 65536) & mmask] = pos + 1
    return mlen, mptr


@njit(cache=True, inline="always")
def record_update(st, rlen_col, byte, pos, lane, rec_last, rec_dist):
    """The record model after byte at pos: a byte value seen three times d apart confirms d
    (2 <= d <= REC_MAX); the same d confirmed twice in a row becomes the record length. The
    lane's record length, candidate and count are st[rlen_col], st[rlen_col + 1], st[rlen_col + 2]."""
    d = pos - rec_last[lane, byte]
    if rec_last[lane, byte] >= 0 and 2 <= d <= REC_MAX and d == rec_dist[lane, byte]:
        if d == st[rlen_col + 1]:
            st[rlen_col + 2] += 1
        else:
            st[rlen_col + 1] = d
            st[rlen_col + 2] = 1
        if st[rlen_col + 2] >= 2:
            st[rlen_col] = d
    rec_dist[lane, byte] = d if rec_last[lane, byte] >= 0 else 0
    rec_last[lane, byte] = pos


# ---- one step: byte t of every active lane --------------------------------------------------

@njit(cache=True)
def code_step(mode, t, lanes, freq, freq2, buf, known, lane_state, rec_last, rec_dist,
              slots, order1, match_table, match_sm,
              weights, final_w, apm1, apm2, cs, stream, mask_bits, models):
    """Code (ENCODE) or decode (DECODE, bytes written into buf) byte t of lanes 0..lanes-1.

    freq: (lanes, 256) LSTM frequency tables (rows sum to 2**16); freq2: the same from the
    adapted LSTM (read only with USE_TWIN, when freq is the static model's); buf: the block, known[pos]
    = 1 once buf[pos] is coded; slots: the counters of all context models, one hash table of
    2**mask_bits entries; order1: 256 x 256 direct counters (previous byte, partial byte). Returns nothing; every table is updated.
    """
    tmask = (1 << mask_bits) - 1
    bmask = tmask ^ 15                                   # bucket-aligned index within a region
    mmask = len(match_table) - 1
    x = np.zeros(N_IN, np.int64)
    hx = np.zeros(N_MIX, np.int64)
    pk = np.zeros(N_MIX, np.int64)
    rows = np.zeros(N_MIX, np.int64)
    bh = np.zeros(N_CTX, np.int64)
    idx = np.zeros(N_CTX, np.int64)
    bucket = np.zeros(N_CTX, np.int64)
    cum = np.zeros(257, np.int64)
    cum2 = np.zeros(257, np.int64)
    use = np.zeros(N_CTX, np.int64)
    for m in range(1, N_CTX):
        if m <= 5 or m >= 12:
            use[m] = models & USE_ORDERS
        elif m <= 7:
            use[m] = models & USE_WORD
        else:
            use[m] = models & USE_COLUMN               # line columns and detected records
    for lane in range(lanes):
        st = lane_state[lane]
        pos = st[L_START] + t
        c4 = st[L_C4]
        c8 = st[L_C8]
        c1 = c4 & 0xFF
        # -- byte contexts: one hash per counter model
        col = st[L_COL]
        above = 0
        if st[L_PLINE] >= 0 and st[L_PLINE] + col < st[L_LINE]:
            above = np.int64(buf[st[L_PLINE] + col])
        bh[0] = 0
        bh[1] = hash2((c4 >> 8) & 0xFFFF, 1)                  # sparse: bytes 2 and 3 back
        bh[2] = hash2(c4 & 0xFFFF, 2)
        bh[3] = hash2(c4 & 0xFFFFFF, 3)
        bh[4] = hash2(c4, 4)
        bh[5] = hash2(c4, (c8 & 0xFFFF) + 5 * 65536)
        bh[6] = hash2(st[L_WORD], 6)
        bh[7] = hash2(st[L_WORD], st[L_WORD1] ^ 0x55555555)
        bh[8] = hash2(above + (min(col, 255) << 8), 8)
        bh[9] = hash2(above + (c1 << 8), 9)
        rlen = st[L_RLEN]
        r1 = 0
        r2 = 0
        if rlen > 0 and pos - rlen >= st[L_START]:
            r1 = np.int64(buf[pos - rlen])
            if pos - 2 * rlen >= st[L_START]:
                r2 = np.int64(buf[pos - 2 * rlen])
        bh[10] = hash2(r1 + (r2 << 8) + (rlen << 16), 10)
        bh[11] = hash2(r1 + (c1 << 8) + (rlen << 16), 11)
        bh[12] = hash2(c1 + (((c4 >> 16) & 0xFF) << 8), 12)      # sparse: bytes 1 and 3 back
        bh[13] = hash2((c4 >> 16) & 0xFFFF, 13)                   # sparse: bytes 3 and 4 back
        # -- match model: follow the current match or find one
        mlen, mptr = match_find(st[L_MLEN], st[L_MPTR], c4, c8, pos, st[L_START],
                                (models & USE_MATCH) != 0 and t >= MATCH_MIN, buf, known, match_table, mmask)
        expect = np.int64(buf[mptr]) if mlen > 0 else np.int64(0)
        mbucket = match_bucket(mlen)
        # -- LSTM: cumulative frequencies of this lane's byte table
        cum[0] = 0
        for s in range(256):
            cum[s + 1] = cum[s] + freq[lane, s]
        if models & USE_TWIN:
            for s in range(256):
                cum2[s + 1] = cum2[s] + freq2[lane, s]
        byte = np.int64(buf[pos]) if mode == ENCODE else np.int64(0)
        c0 = 1
        for k in range(8):
            # inputs
            lo = (c0 - (1 << k)) << (8 - k)
            mid = lo + (1 << (7 - k))
            hi = lo + (1 << (8 - k))
            p_lstm = ((cum[hi] - cum[mid]) << 12) // (cum[hi] - cum[lo])
            p_lstm = min(max(p_lstm, 1), 4095)
            x[0] = stretch(p_lstm) if (models & USE_LSTM) else 0
            o0 = np.int64(order1[c1, c0])
            x[1] = stretch(o0 >> 4)
            node = c0 if k < 4 else (c0 & ((1 << (k - 4)) - 1)) | (1 << (k - 4))
            for m in range(1, N_CTX):
                if use[m]:
                    if k == 0 or k == 4:                 # a new nibble: find its bucket
                        hb = bh[m] if k == 0 else hash2(bh[m] >> 8, c0 + (m << 8))
                        bucket[m] = bucket_find(slots, hb & bmask,
                                                (hash2(hb >> 8, 0x51ED) & 0xFFFFFFFF) | 1)
                    idx[m] = bucket[m] + node
                    v = np.int64(slots[idx[m]])
                    x[1 + m] = stretch((v & 0xFFFF) >> 4) if v >= 65536 else 0
                else:
                    x[1 + m] = 0
            ebit = 0
            if mlen > 0 and ((expect | 256) >> (8 - k)) == c0:
                ebit = (expect >> (7 - k)) & 1
                msi = mbucket * 2 + ebit
                x[N_CTX + 1] = stretch(match_sm[msi] >> 4)
                x[N_CTX + 2] = (min(mlen, 32) << 6) * (2 * ebit - 1)
                mset = mbucket
            else:
                msi = -1
                x[N_CTX + 1] = 0
                x[N_CTX + 2] = 0
                mset = 0
            x[N_CTX + 3] = 256
            if models & USE_TWIN:
                p_twin = ((cum2[hi] - cum2[mid]) << 12) // (cum2[hi] - cum2[lo])
                x[N_CTX + 4] = stretch(min(max(p_twin, 1), 4095))
            else:
                x[N_CTX + 4] = 0                         # its weights stay 0: older blocks code as before
            # mixers
            conf = min(abs(x[0]) >> 8, 7)
            rows[0] = MIX_OFFSET[0] + c0
            rows[1] = MIX_OFFSET[1] + mset
            rows[2] = MIX_OFFSET[2] + conf * 8 + k
            rows[3] = MIX_OFFSET[3] + c1
            s_final = 0
            for j in range(N_MIX):
                d = mix_dot(weights, rows[j], x, N_IN)
                if d > 2047:
                    d = 2047
                if d < -2047:
                    d = -2047
                hx[j] = d
                pk[j] = squash(d)
                s_final += final_w[j] * d
            s_final >>= 16
            p_mix = squash(s_final)
            if models & USE_APM:
                a1, i1 = apm_predict(apm1, c0, p_mix)
                a2, i2 = apm_predict(apm2, (c0 | (c1 << 8)), p_mix)
                p = (2 * p_mix + a1 + a2 + 2) >> 2
            else:
                i1 = 0
                i2 = 0
                p = p_mix
            p = min(max(p, 1), 4095)
            # code
            bit = (byte >> (7 - k)) & 1
            bit = code_bit(mode, cs, stream, bit, p)
            # update
            target = bit << 12
            for j in range(N_MIX):
                mix_update(weights, rows[j], x, N_IN, (target - pk[j]) * 1, 11)
            err = (target - p_mix) * 1
            for j in range(N_MIX):
                w = final_w[j] + ((hx[j] * err) >> 14)
                final_w[j] = min(max(w, -4194304), 4194304)
            if models & USE_APM:
                apm_update(apm1, i1, bit, 7)
                apm_update(apm2, i2, bit, 7)
            o0 += (((bit << 16) - bit) - o0) >> 5
            order1[c1, c0] = o0
            for m in range(1, N_CTX):
                if use[m]:
                    counter_update(slots, idx[m], bit, LIMIT)
            if msi >= 0:
                v = match_sm[msi]
                match_sm[msi] = v + ((((bit << 16) - bit) - v) >> 6)
            c0 = (c0 << 1) | bit
        byte = c0 & 0xFF
        # -- after the byte: the block, the match model, the lane's contexts
        buf[pos] = byte
        known[pos] = 1
        mlen, mptr = match_after(mlen, mptr, expect, byte, c4, c8, pos,
                                 (models & USE_MATCH) != 0 and t >= MATCH_MIN, buf, match_table, mmask)
        st[L_MLEN] = mlen
        st[L_MPTR] = mptr
        st[L_C8] = ((c8 << 8) | (c4 >> 24)) & 0xFFFFFFFF
        st[L_C4] = ((c4 << 8) | byte) & 0xFFFFFFFF
        is_word = (97 <= (byte | 32) <= 122) or (48 <= byte <= 57) or byte == 95 or byte >= 128
        if is_word:
            st[L_WORD] = ((st[L_WORD] * 0x2F0B5) + (byte | 32) + 1) & 0xFFFFFFFF
        elif st[L_WORD] != 0:
            st[L_WORD1] = st[L_WORD]
            st[L_WORD] = 0
        record_update(st, L_RLEN, byte, pos, lane, rec_last, rec_dist)
        if byte == 10:
            st[L_PLINE] = st[L_LINE]
            st[L_LINE] = pos + 1
            st[L_COL] = 0
        else:
            st[L_COL] = col + 1
