"""The compressors lstmzip is compared with, as (compress, decompress) pairs on bytes.

    zstd-3, zstd-19     zstandard at that level                 (`zstd -3`, `zstd -19`)
    zstd-22             level 22, the ultra range               (`zstd --ultra -22`)
    zstd-19+dict        level 19 with a dictionary trained on the *other* files of the set
                        (leave-one-out; byte-identical copies of the file are left out too).
                        The dictionary is not counted in the compressed size: it is reported
                        in its own column, as a decoder would have to ship it separately.
    xz-9e               lzma, preset 9 | PRESET_EXTREME           (`xz -9e`)
    bzip2-9             bz2, level 9                              (`bzip2 -9`)

zstd gets its working memory from plain malloc, which tracemalloc cannot see, so its
``extra_memory`` reports the context size the library itself gives (``memory_size()``).
"""

from __future__ import annotations

import bz2
import dataclasses
import hashlib
import lzma
from typing import Callable, Dict, List, Optional

import zstandard

DICT_SIZE = 112640               # zstd's default dictionary size (110 KiB)
DICT_CHUNK = 4 << 10             # training samples: the other files cut into 4 KiB pieces
DICT_MAX_SAMPLES_BYTES = 8 << 20  # at most this much training data per dictionary (evenly spread)
NAMES = ("zstd-3", "zstd-19", "zstd-22", "zstd-19+dict", "xz-9e", "bzip2-9")


@dataclasses.dataclass
class Codec:
    """One compressor under test. `extra_memory` is read right after a call (bytes unseen by tracemalloc)."""

    name: str
    compress: Callable[[bytes], bytes]
    decompress: Callable[[bytes], bytes]
    compress_memory: Callable[[], int] = lambda: 0
    decompress_memory: Callable[[], int] = lambda: 0
    dict_size: Optional[int] = None
    dict_train_s: Optional[float] = None


def zstd_codec(level: int, name: str, dict_data: Optional[zstandard.ZstdCompressionDict] = None) -> Codec:
    last: Dict[str, object] = {}

    def compress(data: bytes) -> bytes:
        c = zstandard.ZstdCompressor(level=level, dict_data=dict_data)   # fresh: memory_size() is this call's
        last["c"] = c
        return c.compress(data)

    def decompress(blob: bytes) -> bytes:
        d = zstandard.ZstdDecompressor(dict_data=dict_data)
        last["d"] = d
        return d.decompress(blob)

    return Codec(name, compress, decompress,
                 compress_memory=lambda: last["c"].memory_size() if "c" in last else 0,
                 decompress_memory=lambda: last["d"].memory_size() if "d" in last else 0,
                 dict_size=len(dict_data.as_bytes()) if dict_data is not None else None)


def xz_codec() -> Codec:
    return Codec("xz-9e", lambda d: lzma.compress(d, format=lzma.FORMAT_XZ, preset=9 | lzma.PRESET_EXTREME),
                 lzma.decompress)


def bzip2_codec() -> Codec:
    return Codec("bzip2-9", lambda d: bz2.compress(d, 9), bz2.decompress)


def train_dictionary(others: List[bytes]) -> Optional[zstandard.ZstdCompressionDict]:
    """A zstd dictionary from `others` (4 KiB samples, at most 8 MiB spread evenly over all of them);
    110 KiB, or a tenth of the training data when that is less (zstd wants ~10-100x the dictionary
    size to train on); None if there is too little data to train on."""
    samples = [d[i:i + DICT_CHUNK] for d in others for i in range(0, len(d), DICT_CHUNK)]
    samples = [s for s in samples if len(s) >= 64]
    budget = DICT_MAX_SAMPLES_BYTES // DICT_CHUNK
    if len(samples) > budget:                                   # keep every k-th sample: all files represented
        step = len(samples) / budget
        samples = [samples[int(i * step)] for i in range(budget)]
    size = min(DICT_SIZE, sum(map(len, samples)) // 10)
    if len(samples) < 8 or size < 1024:
        return None
    try:
        return zstandard.train_dictionary(size, samples, level=19)
    except zstandard.ZstdError:
        return None


def fixed_codecs(names=NAMES) -> List[Codec]:
    """The baselines that need nothing but the file (all but zstd-19+dict)."""
    make = {"zstd-3": lambda: zstd_codec(3, "zstd-3"), "zstd-19": lambda: zstd_codec(19, "zstd-19"),
            "zstd-22": lambda: zstd_codec(22, "zstd-22"), "xz-9e": xz_codec, "bzip2-9": bzip2_codec}
    return [make[n]() for n in names if n in make]


def dictionary_codec(data: bytes, files: List[bytes]) -> Codec:
    """zstd-19 with a dictionary trained leave-one-out: on `files` minus `data` and its identical copies."""
    import time
    own = hashlib.sha256(data).digest()
    others = [f for f in files if hashlib.sha256(f).digest() != own]
    t0 = time.perf_counter()
    d = train_dictionary(others)
    seconds = time.perf_counter() - t0
    codec = zstd_codec(19, "zstd-19+dict", d) if d is not None else zstd_codec(19, "zstd-19+dict")
    codec.dict_size = len(d.as_bytes()) if d is not None else 0
    codec.dict_train_s = seconds
    return codec
