"""Word transforms applied to a block before modelling (the peers' "dictionary preprocessing").

lstm-compress and cmix replace frequent English words by short codes made of bytes 128-255 and
mark capitalised words by a flag byte, so that context models see more words per byte of context.
This module implements that family of transforms, exactly reversible for *any* input:

    tokens of the transformed stream            decode to
    ----------------------------------------    -------------------------------------------
    ESC b          (b any byte)                  the byte b (escapes every reserved byte)
    CAP body       body = code | [a-z]+          the body's word, first letter upper case
    UPPER body                                   the body's word, every letter upper case
    code           one byte 0x80 + i (i < n1),   dictionary word i (lower case)
                   or two bytes lead, 0x80 + r:  word n1 + 128·(lead − 0x80 − n1) + r
    any other byte                               itself

``forward`` reads each maximal run of ASCII letters: a lower-case run, a capitalised run
(``Word``, and a single upper-case letter) and an all-upper run of two or more letters are coded
as [flag] (code if the lower-case word is in the dictionary, else the lower-case letters); a run
of mixed case (``McDonald``) is copied as it is. Every reserved byte of the input (ESC, CAP,
UPPER and, when there is a dictionary, 0x80-0xFF) is written as ESC + the byte. A literal body
is a whole letter run, so the byte after it is never in [a-z] and ``inverse`` reads it back
with a greedy ``[a-z]+``. ``inverse(forward(x)) == x`` for every x; ``inverse`` also accepts an
escaped ordinary byte, which ``forward`` never writes, but nothing that could decode two ways.

``docs/transform.md`` has the study that decided where (and whether) this pays.
"""

from __future__ import annotations

import hashlib
import re
from importlib import resources
from typing import Dict, Optional, Sequence

from .errors import LstmzipError

ESC, CAP, UPPER = 0x01, 0x02, 0x03
HIGH = 0x80                       # codes and escaped literals: bytes 0x80-0xFF
SECOND = 128                      # second bytes of a two-byte code: 0x80-0xFF


class WordTransform:
    """A reversible word transform: ``words`` (lower-case ASCII, in code order), ``n1`` of them
    with one-byte codes, the rest two-byte codes; ``caps``: code case by flag bytes."""

    def __init__(self, words: Sequence[str] = (), n1: int = 0, caps: bool = True):
        words = [w.encode("ascii") if isinstance(w, str) else bytes(w) for w in words]
        if len(set(words)) != len(words) or not all(re.fullmatch(rb"[a-z]+", w) for w in words):
            raise ValueError("dictionary words must be distinct, non-empty and lower-case a-z")
        if not 0 <= n1 <= 128:
            raise ValueError("n1 (one-byte codes) must be in 0..128")
        n1 = min(n1, len(words))
        if len(words) > n1 + (128 - n1) * SECOND:
            raise ValueError(f"{len(words)} words do not fit {n1} one-byte codes")
        self.words, self.n1, self.caps = words, n1, caps
        self.codes = [self._code(i) for i in range(len(words))]

        reserved = {ESC} | ({CAP, UPPER} if caps else set()) | (set(range(HIGH, 256)) if words else set())
        self.reserved = bytes(sorted(reserved))
        cls = b"[" + b"".join(re.escape(bytes([b])) for b in self.reserved) + b"]"
        self._fwd_re = re.compile(rb"[A-Za-z]+|" + cls)

        # forward: every reserved byte, and every dictionary word in its three codable cases
        fwd: Dict[bytes, bytes] = {bytes([b]): bytes([ESC, b]) for b in self.reserved}
        for w, c in zip(words, self.codes):
            fwd[w] = c
            if caps:
                fwd[w[:1].upper() + w[1:]] = bytes([CAP]) + c
                if len(w) > 1:
                    fwd[w.upper()] = bytes([UPPER]) + c
        self._fwd = fwd

        # inverse: a code, an escape, a flag with its body; anything else reserved is an error
        code = []
        if n1:
            code.append(b"[\\x80-" + re.escape(bytes([HIGH + n1 - 1])) + b"]")
        if len(words) > n1:
            last_lead = HIGH + n1 + (len(words) - n1 - 1) // SECOND
            code.append(b"[" + re.escape(bytes([HIGH + n1])) + b"-" + re.escape(bytes([last_lead]))
                        + b"][\\x80-\\xff]")
        code_re = b"|".join(code)
        alts = [b"\\x01[\\x00-\\xff]"]
        if caps:
            alts.append(b"[\\x02\\x03](?:" + (code_re + b"|" if code_re else b"") + b"[a-z]+)")
        if code_re:
            alts.append(code_re)
        alts.append(cls)                                      # a stray reserved byte
        self._inv_re = re.compile(b"|".join(alts))
        inv: Dict[bytes, bytes] = {bytes([ESC, b]): bytes([b]) for b in range(256)}
        for w, c in zip(words, self.codes):
            inv[c] = w
            if caps:
                inv[bytes([CAP]) + c] = w[:1].upper() + w[1:]
                inv[bytes([UPPER]) + c] = w.upper()
        self._inv = inv

    def _code(self, i: int) -> bytes:
        if i < self.n1:
            return bytes([HIGH + i])
        j = i - self.n1
        return bytes([HIGH + self.n1 + j // SECOND, HIGH + j % SECOND])

    # ---- forward ------------------------------------------------------------------------
    def _fwd_word(self, m) -> bytes:
        s = m.group()
        r = self._fwd.get(s)
        if r is not None:
            return r
        if s.islower() or not self.caps:               # a word not in the dictionary / case kept
            return s
        if s[1:].islower() or len(s) == 1:              # "Word", "W"
            if s[:1].isupper():
                return bytes([CAP]) + s.lower()
            return s                                    # "wORD": mixed
        if s.isupper():                                 # "WORD"
            return bytes([UPPER]) + s.lower()
        return s                                        # mixed case: as it is

    def forward(self, data: bytes) -> bytes:
        return self._fwd_re.sub(self._fwd_word, bytes(data))

    # ---- inverse ------------------------------------------------------------------------
    def _inv_token(self, m) -> bytes:
        s = m.group()
        r = self._inv.get(s)
        if r is not None:
            return r
        head = s[0]
        if head in (CAP, UPPER) and len(s) > 1 and self.caps:
            body = s[1:]
            if body[0] >= HIGH:
                word = self._inv.get(body)
                if word is None:
                    raise LstmzipError("word transform: code beyond the dictionary")
            else:
                word = body
            return word[:1].upper() + word[1:] if head == CAP else word.upper()
        if head >= HIGH and len(s) == 2:
            raise LstmzipError("word transform: code beyond the dictionary")
        raise LstmzipError(f"word transform: stray reserved byte {head:#04x}")

    def inverse(self, data: bytes, limit: Optional[int] = None) -> bytes:
        """The original bytes; with `limit`, LstmzipError before building more than that many
        (a forged stream of long words' codes would otherwise grow up to 7.5 times)."""
        data = bytes(data)
        if limit is not None:
            size = len(data) + sum(len(self._inv_token(m)) - (m.end() - m.start())
                                   for m in self._inv_re.finditer(data))
            if size > limit:
                raise LstmzipError(f"word transform: the stream decodes to more than {limit} bytes")
        return self._inv_re.sub(self._inv_token, data)


# ---- the shipped transform -----------------------------------------------------------------

# The transform a block header would name (the only one so far): the shipped English dictionary
# (lstmzip/data/english.dic, built by bench/transform_study.py from training-allowed text only),
# 64 one-byte codes, the rest two-byte codes, case flags. Changing the dictionary changes the
# decoded bytes of every file written with it, so its hash is pinned here.
TRANSFORM_ID = 1
TRANSFORM_NAME = "english-v1"
DICT_FILE = "english.dic"
DICT_WORDS = 8256
DICT_N1 = 64
DICT_SHA256 = "2ade93d2305879de0a82b92d6291d814770efbc9cbd876161dc22d33c9c0bd18"

_cached: Dict[str, WordTransform] = {}


def read_dictionary(path: Optional[str] = None) -> bytes:
    """The dictionary file's bytes: `path`, or the copy installed with the package."""
    try:
        if path is None:
            return resources.files("lstmzip").joinpath("data", DICT_FILE).read_bytes()
        with open(path, "rb") as f:
            return f.read()
    except OSError as exc:
        raise LstmzipError(f"word dictionary {path or 'lstmzip/data/' + DICT_FILE} not found "
                           f"({exc.strerror or exc})") from None


def parse_words(raw: bytes) -> list:
    """The words of a dictionary file: one per line; lines starting with '#' are comments."""
    return [w.decode("ascii") for w in raw.split(b"\n") if w and not w.startswith(b"#")]


def english(path: Optional[str] = None) -> WordTransform:
    """The transform TRANSFORM_ID (built once; the dictionary is checked against its hash)."""
    key = path or ""
    if key not in _cached:
        raw = read_dictionary(path)
        digest = hashlib.sha256(raw).hexdigest()
        if digest != DICT_SHA256:
            raise LstmzipError(f"{path or 'lstmzip/data/' + DICT_FILE} is not the {TRANSFORM_NAME} "
                               f"dictionary (sha256 {digest[:16]}…, expected {DICT_SHA256[:16]}…)")
        words = parse_words(raw)
        assert len(words) == DICT_WORDS
        _cached[key] = WordTransform(words, DICT_N1, caps=True)
    return _cached[key]


def forward(data: bytes) -> bytes:
    """TRANSFORM_ID applied to data (any bytes)."""
    return english().forward(data)


def forward_map(data: bytes, every: int = 4096):
    """(forward(data), raw, coded): the same transformed bytes, and where pieces of it start:
    raw[i] in data, coded[i] in the transformed bytes (raw[0] = coded[0] = 0, the last entries the
    two lengths). The block is cut about every `every` bytes, at the first place from there that
    is not inside a run of letters, and each piece transformed alone: forward works on letter
    runs and single reserved bytes, so the pieces join to exactly forward(data)."""
    data = bytes(data)
    letter = bytes(1 if 65 <= b <= 90 or 97 <= b <= 122 else 0 for b in range(256))
    raw, coded, pieces = [0], [0], []
    while raw[-1] < len(data):
        j = min(raw[-1] + every, len(data))
        while 0 < j < len(data) and letter[data[j - 1]] and letter[data[j]]:
            j += 1
        pieces.append(forward(data[raw[-1]:j]))
        raw.append(j)
        coded.append(coded[-1] + len(pieces[-1]))
    return b"".join(pieces), raw, coded


def inverse(data: bytes, limit: Optional[int] = None) -> bytes:
    """The bytes forward() was given; LstmzipError if data is not a transformed stream (or, with
    `limit`, would decode to more than limit bytes)."""
    return english().inverse(data, limit)
