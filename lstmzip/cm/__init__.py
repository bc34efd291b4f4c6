"""Context mixing around the LSTM: models learned from the block while it is coded.

The engine gives, at every step, a byte frequency table per stream; the
``Predictor`` splits it into exact bit probabilities and mixes them with models
that learn online from the block being coded. Two predictors share this
interface; a block's model bits say which one coded it (``docs/cm.md``)::

    kernel_v2.py   what new blocks use: the LSTM (and a refined copy), a bit history per
                   context and bit-tree node (states.py) mapped to a probability by an
                   adaptive state map, for 23 contexts in families (orders 1-8, word,
                   sparse, column, record, class, code, indirect, field), a match model,
                   five mixers whose weights are chosen by small contexts, a second mixing
                   layer, and an SSE chain
    kernel.py      v1, kept to decode older files: one direct counter per context (14),
                   four mixers, two APMs; also the binary arithmetic coder and the
                   squash/stretch/hash/mixer/APM primitives both kernels use

A block's parameters (``CMParams``) are stored in front of its payload, so the
decoder rebuilds the same predictor. All S streams of a block share one
predictor; ``code_step`` codes lane 0's byte, then lane 1's, ..., each bit
updating every model before the next bit is predicted, and the decoder decodes
in the very same order.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from ..errors import LstmzipError

MODEL_BITS = {"lstm": 1, "orders": 2, "word": 4, "column": 8, "match": 16, "apm": 32,
              "sparse": 256, "record": 512, "class": 1024, "code": 2048, "indirect": 4096,
              "field": 8192, "struct": 16384,
              # the extension (a third byte of switches; EXT marks it)
              "run": 1 << 16, "long": 1 << 17, "line": 1 << 18, "markup": 1 << 19, "word2": 1 << 20,
              "det": 1 << 21, "rates": 1 << 22, "indirect2": 1 << 23,
              # a fourth byte (the level byte's bit 7 marks it)
              "pixel": 1 << 24, "image": 1 << 25, "match2": 1 << 26, "prec": 1 << 27,
              "winit": 1 << 28}
V1_MODELS = 63                      # the switches a v1 block (kernel.py) knows
EXT = 32768                         # v2 blocks: the switches go on in a third byte (bits 16..23)
EXT_MODELS = 0xFF0000
EXT2_MODELS = 0xFF000000            # v2 blocks: a fourth byte of switches (bits 24..31) ...
EXT2 = 0x80                         # ... follows the others when the level byte has this bit
ALL_MODELS = V1_MODELS | 0x7F00 | EXT_MODELS | MODEL_BITS["pixel"] | MODEL_BITS["image"] | MODEL_BITS["match2"] \
    | MODEL_BITS["prec"] | MODEL_BITS["winit"]
TWIN = 64                           # adaptive blocks: the static LSTM stays an input beside the adapted one
V2 = 128                            # the block is coded by the v2 predictor (kernel_v2.py)
PARAMS_LEN = 6                      # v1: level, model mask, table bits, match bits, adapt window, adapt lr
PARAMS_LEN_V2 = 7                   # v2: ... and the high byte of the model mask (+1 byte with EXT)
MIN_TABLE_BITS, MAX_TABLE_BITS = 16, 28
MIN_MATCH_BITS, MAX_MATCH_BITS = 12, 24


@dataclasses.dataclass(frozen=True)
class CMParams:
    level: int = 6                  # the level that chose these (informational)
    models: int = ALL_MODELS        # MODEL_BITS switched on
    table_bits: int = 26            # 2**bits counters shared by the context models (4 bytes each)
    match_bits: int = 20            # 2**bits entries in the match model's hash table (4 bytes)
    adapt_window_log2: int = 0      # LSTM output layer adapts every 2**this steps (0 = static)
    adapt_lr_shift: int = 0         # its learning rate 2**-shift (lstmzip/adapt.py)
    adapt_deep_shift: int = 0       # > 0: every layer adapts (BPTT), learning rate 2**-this

    def __post_init__(self):
        if self.models & V2 and self.models & EXT_MODELS:     # the extension byte is written
            object.__setattr__(self, "models", self.models | EXT)

    @property
    def v2(self) -> bool:
        return bool(self.models & V2)

    @property
    def packed_len(self) -> int:
        return (PARAMS_LEN_V2 + bool(self.models & EXT) + bool(self.models & EXT2_MODELS)) if self.v2 \
            else PARAMS_LEN

    def pack(self) -> bytes:
        # byte 4: window (low nibble) | deep learning rate (high nibble, 0 = output layer only)
        ext2 = self.v2 and bool(self.models & EXT2_MODELS)
        head = bytes([self.level | (EXT2 if ext2 else 0), self.models & 0xFF, self.table_bits, self.match_bits,
                      self.adapt_window_log2 | self.adapt_deep_shift << 4, self.adapt_lr_shift])
        if not self.v2:
            return head
        tail = bytes([self.models >> 24]) if ext2 else b""
        if self.models & EXT:
            return head + bytes([(self.models >> 8) & 0xFF, (self.models >> 16) & 0xFF]) + tail
        return head + bytes([(self.models >> 8) & 0xFF]) + tail

    @classmethod
    def unpack(cls, raw: bytes) -> "CMParams":
        if len(raw) < PARAMS_LEN or (raw[1] & V2 and len(raw) < PARAMS_LEN_V2):
            raise LstmzipError("cm parameters truncated")
        level, models, tbits, mbits, adapt, alr = raw[:PARAMS_LEN]
        ext2 = level & EXT2
        level &= ~EXT2
        if models & V2:
            models |= raw[PARAMS_LEN] << 8
            known = ALL_MODELS | TWIN | V2
            at = PARAMS_LEN_V2
            if models & EXT:
                if len(raw) < at + 1:
                    raise LstmzipError("cm parameters truncated")
                models |= raw[at] << 16
                at += 1
                if not models & EXT_MODELS:          # the compressor never writes an empty byte
                    raise LstmzipError("invalid cm parameters")
                known |= EXT
            if ext2:
                if len(raw) < at + 1:
                    raise LstmzipError("cm parameters truncated")
                models |= raw[at] << 24
                if not models & EXT2_MODELS:
                    raise LstmzipError("invalid cm parameters")
        else:
            known = V1_MODELS | TWIN
            if ext2:
                raise LstmzipError("invalid cm parameters")
        awin, deep = adapt & 15, adapt >> 4
        if models & ~known or not MIN_TABLE_BITS <= tbits <= MAX_TABLE_BITS \
                or not MIN_MATCH_BITS <= mbits <= MAX_MATCH_BITS or not 1 <= level <= 9 \
                or awin > 8 or alr > 16 or (awin and not models & MODEL_BITS["lstm"]) \
                or (deep and not awin) or (models & TWIN and not awin):
            raise LstmzipError("invalid cm parameters")
        return cls(level, models, tbits, mbits, awin, alr, deep)

    @property
    def adapt(self):
        from ..adapt import AdaptParams
        return AdaptParams(self.adapt_window_log2, self.adapt_lr_shift, self.adapt_deep_shift)

    def fits(self, block_len: int) -> bool:
        """Tables no larger than this version's compressor picks for a block of block_len bytes
        (a decoder refuses more: a forged header must not claim a gigabyte for 200 bytes)."""
        return self.table_bits <= max(MIN_TABLE_BITS, (512 * block_len).bit_length()) \
            and self.match_bits <= max(MIN_MATCH_BITS, block_len.bit_length() + 1)

    def memory(self, lanes: int = 256) -> int:
        """Bytes of tables a predictor with these parameters allocates."""
        tables = (4 << self.table_bits) + (4 << self.match_bits)
        if self.v2:
            from . import kernel_v2 as k2
            runs = (4 << max(16, self.table_bits - 3)) if self.models & MODEL_BITS["run"] else 0
            pix = k2.N_PIX * 65536 * 8 if self.models & k2.USE_PIXEL else 0
            return tables + runs + pix + 256 * 256 * 2 + 2 * 65536 * 2 + k2.N_SETS * k2.N_IN * 4 \
                + (256 + 65536 * 3) * 33 * 4 + lanes * (256 * 16 + k2.N_LANE * 8)
        from . import kernel as k           # (weights and APMs: int32)
        return tables + 256 * 256 * 2 + k.N_SETS * k.N_IN * 4 + (256 + 65536) * 33 * 4 \
            + lanes * 256 * 16

    def names(self) -> str:
        names = [name for name, bit in MODEL_BITS.items() if self.models & bit]
        names = ",".join(names + (["static+adapted"] if self.models & TWIN else [])) or "none"
        return f"v2 {names}" if self.v2 else names


def models_mask(names) -> int:
    """The mask of a list of model names (unknown names raise ValueError)."""
    mask = 0
    for name in names:
        if name not in MODEL_BITS:
            raise ValueError(f"unknown model {name!r} (choose from {', '.join(MODEL_BITS)})")
        mask |= MODEL_BITS[name]
    return mask


def _zeroed(n: int, dtype) -> np.ndarray:
    """A zeroed array whose pages become resident only where written: anonymous memory without
    transparent huge pages (with them, a few thousand scattered writes make a 1 GiB table
    nearly all resident)."""
    size = n * np.dtype(dtype).itemsize
    if size < (1 << 22):
        return np.zeros(n, dtype)
    import mmap
    buf = mmap.mmap(-1, size)
    if hasattr(mmap, "MADV_NOHUGEPAGE"):
        try:
            buf.madvise(mmap.MADV_NOHUGEPAGE)
        except OSError:
            pass
    return np.frombuffer(buf, dtype)


class Predictor:
    """All shared state of one block's context mixing: tables, mixer weights, per-lane contexts.

    ``step(t, lanes, freq, adapted)`` codes byte t of lanes 0..lanes-1 (see the kernels'
    code_step); the encoder passes the block in ``buf``, the decoder an empty buffer that fills
    as it goes. v1 blocks run ``kernel.py``, v2 blocks ``kernel_v2.py``.
    """

    def __init__(self, params: CMParams, starts: np.ndarray, buf: np.ndarray, stream: np.ndarray,
                 mode: int, regions: np.ndarray = None):
        from . import kernel as k1
        self.params = params
        self.mode = mode
        self.order1 = np.full((256, 256), 32768, np.uint16)
        self.match_table = _zeroed(1 << params.match_bits, np.int32)
        self.match_sm = np.full(128, 32768, np.int64)   # (64..127: the second match model, match2)
        apm_row = k1.SQUASH[np.clip((np.arange(33) - 16) * 128, -2047, 2047) + 2047] * 16
        if params.v2:
            from . import kernel_v2 as k
            from .states import INIT_P
            self.slots = _zeroed(4 << params.table_bits, np.uint8)   # bit-history buckets
            self.sm = np.zeros((k.N_H, 256), np.int32)
            self.sm[:, :len(INIT_P)] = INIT_P
            self.ind2 = np.zeros(65536 * 2 + 256, np.uint16)
            self.ind3 = np.zeros(65536, np.uint16)
            self.apm3 = np.tile(apm_row, 65536).astype(np.int32)
            self.apm5 = np.tile(apm_row, 65536).astype(np.int32)
            n_mix = k.N_MIX if params.models & k.USE_STRUCT else k.N_MIX - 1
            self.final_w = np.full((k.N_FINAL, k.N_MIX), 65536 // n_mix, np.int64)
            if regions is None:                                  # one text region: the whole block
                regions = np.array([[0, len(buf), k.K_TEXT, 0, 0]], np.int64)
            self.regions = regions
            self.work = np.zeros(k.WORK_LEN, np.int64)           # code_step's scratch, per block
            if params.models & k.USE_RUN:                       # the run contexts' bytes and counts
                self.runs = _zeroed(1 << max(16, params.table_bits - 3), np.uint32)
            else:
                self.runs = np.zeros(1, np.uint32)
            self.rsm = np.full((k.N_RUN, 32), 32768, np.int64)
            # the pixel models' probabilities (slow p << 32 | fast p << 16 | count), 1-bit images only
            self.pix = np.full((k.N_PIX, 65536 if params.models & k.USE_PIXEL else 1),
                               (32768 << 32) | (32768 << 16), np.int64)
        else:
            k = k1
            self.slots = _zeroed(1 << params.table_bits, np.uint32)  # untouched pages cost no RAM
            self.final_w = np.full(k.N_MIX, 65536 // k.N_MIX, np.int64)
        self.k = k
        self.weights = np.zeros((k.N_SETS, k.N_IN), np.int32)
        if params.models & MODEL_BITS["lstm"]:
            self.weights[:, 0] = 65536                       # start out as the LSTM alone
        elif params.v2:                     # (winit: each context's stretch input starts at 1/32)
            self.weights[:, k.XI] = 65536 // (32 if params.models & k.USE_WINIT else 8)
            self.weights[:, k.X_PIX:k.X_PIX + 2 * k.N_PIX] = 65536 // 16
        else:
            self.weights[:, 1:k.N_CTX + 1] = 16384
        self.apm1 = np.tile(apm_row, 256).astype(np.int32)
        self.apm2 = np.tile(apm_row, 65536).astype(np.int32)
        self.lanes = np.zeros((len(starts), k.N_LANE), np.int64)
        self.lanes[:, k.L_START] = starts
        self.lanes[:, k.L_LINE] = starts
        self.lanes[:, k.L_PLINE] = -1
        if params.v2:
            self.lanes[:, k.L_LEAD] = 1
            self.lanes[:, k.L_FS:k.L_FS + 2 * k.N_FS] = -1       # no fields seen yet ...
            self.lanes[:, k.L_FS] = starts                       # ... but the first starts here
            self.lanes[:, k.L_REG] = np.searchsorted(regions[:, k.R_END], starts, side="right")
        self.rec_last = np.full((len(starts), 256), -1, np.int64)
        self.rec_dist = np.zeros((len(starts), 256), np.int64)
        self.buf = buf
        self.known = np.zeros(len(buf), np.uint8)
        self.stream = stream
        self.cs = np.zeros(5, np.int64)
        self.cs[k.C_X2] = 0xFFFFFFFF
        if mode == k.DECODE:                                 # the first 4 bytes of the code
            for i in range(4):
                c = int(stream[i]) if i < len(stream) else 0
                self.cs[k.C_X] = (self.cs[k.C_X] << 8) | c
            self.cs[k.C_POS] = 4
            self.cs[k.C_OVER] = int(len(stream) < 4)

    def step(self, t: int, lanes: int, freq: np.ndarray, adapted: np.ndarray, lane0: int = 0) -> None:
        """freq: the LSTM's (lanes, 256) tables; adapted: the adapting engine's, read only on TWIN
        blocks (freq is then the static model's; both are mixer inputs). v2 blocks may code lanes
        lane0..lanes-1 only (freq's rows are theirs): a step in two calls codes as in one."""
        if self.params.v2:
            self.k.code_step(self.mode, t, lane0, lanes, freq, adapted, self.buf, self.known, self.lanes,
                             self.rec_last, self.rec_dist, self.slots, self.sm, self.order1,
                             self.ind2, self.ind3, self.match_table, self.match_sm,
                             self.runs, self.rsm, self.pix, self.weights, self.final_w, self.apm1, self.apm2,
                             self.apm3,
                             self.apm5, self.cs, self.stream, self.params.models, self.work,
                             self.regions)
            return
        self.k.code_step(self.mode, t, lanes, freq, adapted, self.buf, self.known, self.lanes,
                         self.rec_last, self.rec_dist,
                         self.slots, self.order1, self.match_table, self.match_sm,
                         self.weights, self.final_w, self.apm1, self.apm2, self.cs, self.stream,
                         self.params.table_bits, self.params.models)

    def steps(self, t0: int, t1: int, steps: int, s: int, last: int, freq: np.ndarray) -> int:
        """Steps t0..t1-1 of a v2 block without an LSTM in one compiled call (see code_steps)."""
        return self.k.code_steps(self.mode, t0, t1, steps, s, last, freq, freq, self.buf,
                                 self.known, self.lanes, self.rec_last, self.rec_dist, self.slots,
                                 self.sm, self.order1, self.ind2, self.ind3, self.match_table,
                                 self.match_sm, self.runs, self.rsm, self.pix, self.weights, self.final_w, self.apm1,
                                 self.apm2,
                                 self.apm3, self.apm5, self.cs, self.stream, self.params.models,
                                 self.regions)

    def release(self) -> None:
        """Drop the tables (the object may outlive the block in a traceback)."""
        self.slots = self.match_table = self.apm1 = self.apm2 = self.weights = None
        self.rec_last = self.rec_dist = self.known = None
        self.sm = self.ind2 = self.ind3 = self.apm3 = self.apm5 = self.pix = None
    def finish(self) -> bytes:
        """Encoder: flush the coder (the 4 bytes of x1) and return the code."""
        k, cs = self.k, self.cs
        x1 = int(cs[k.C_X1])
        for i in range(4):
            pos = int(cs[k.C_POS])
            if pos < len(self.stream):
                self.stream[pos] = (x1 >> (24 - 8 * i)) & 0xFF
            else:
                cs[k.C_OVER] = 1
            cs[k.C_POS] = pos + 1
        if cs[k.C_OVER]:
            return None
        return self.stream[:int(cs[k.C_POS])].tobytes()
