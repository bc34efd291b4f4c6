"""Training data: reading corpus files, the held-out split, and the stateful stream layout.

Sources are given as ``PATH[@LIMIT]``: a file, a folder (all files below it, sorted) or a glob;
``.gz``/``.dz``/``.bz2``/``.xz`` files are decompressed transparently; ``@3M`` keeps only the first
3 MB of that source (``K``/``M``/``G`` suffixes, powers of 1000). numpy only: no TensorFlow here.
"""
from __future__ import annotations

import bz2
import fnmatch
import glob
import gzip
import hashlib
import lzma
import os
from dataclasses import dataclass

import numpy as np

_OPENERS = {".gz": gzip.open, ".dz": gzip.open, ".bz2": bz2.open, ".xz": lzma.open, ".lzma": lzma.open}
_UNITS = {"": 1, "K": 1000, "M": 1000**2, "G": 1000**3}


def parse_spec(spec: str) -> tuple[str, int | None]:
    """'path@3M' -> ('path', 3000000); 'path' -> ('path', None)."""
    path, sep, limit = spec.rpartition("@")
    if not sep or not limit or not (limit[:-1] if limit[-1:].upper() in _UNITS else limit).replace(".", "").isdigit():
        return spec, None
    unit = limit[-1].upper() if limit[-1].upper() in "KMG" else ""
    number = limit[:-1] if unit else limit
    return path, int(float(number) * _UNITS[unit])


def expand(path: str, exclude: tuple[str, ...] = ()) -> list[str]:
    """Files named by a path, folder or glob, sorted, minus basenames matching `exclude` globs."""
    if os.path.isdir(path):
        found = [os.path.join(d, f) for d, _, fs in os.walk(path) for f in fs]
    elif os.path.exists(path):
        found = [path]
    else:
        found = [p for p in glob.glob(path, recursive=True) if os.path.isfile(p)]
        if not found:
            raise FileNotFoundError(f"no training files match {path!r}")
    keep = [p for p in found if not any(fnmatch.fnmatch(os.path.basename(p), e) for e in exclude)]
    return sorted(keep)


def read_file(path: str) -> bytes:
    opener = _OPENERS.get(os.path.splitext(path)[1].lower(), open)
    with opener(path, "rb") as f:
        return f.read()


@dataclass
class Corpus:
    train: np.ndarray          # uint8 [N]
    val: np.ndarray            # uint8 [M]
    sources: list[dict]        # one entry per spec: name, files, bytes, sha256 of the bytes used


def load_corpus(specs: list[str], exclude: tuple[str, ...] = (), val_fraction: float = 0.01) -> Corpus:
    """Read every source, keep its first LIMIT bytes, hold out its last `val_fraction` for validation."""
    train_parts, val_parts, sources = [], [], []
    for spec in specs:
        path, limit = parse_spec(spec)
        chunks, total = [], 0
        for p in expand(path, exclude):
            data = read_file(p)
            if limit is not None:
                data = data[: limit - total]
            chunks.append(data)
            total += len(data)
            if limit is not None and total >= limit:
                break
        blob = b"".join(chunks)
        if not blob:
            raise ValueError(f"training source {spec!r} is empty")
        n_val = int(len(blob) * val_fraction)
        train_parts.append(blob[: len(blob) - n_val])
        val_parts.append(blob[len(blob) - n_val:])
        sources.append(dict(name=spec, files=len(chunks), bytes=len(blob),
                            sha256=hashlib.sha256(blob).hexdigest()))
    train = np.frombuffer(b"".join(train_parts), dtype=np.uint8)
    val = np.frombuffer(b"".join(val_parts), dtype=np.uint8)
    return Corpus(train=train, val=val, sources=sources)


def val_slice(val: np.ndarray, max_bytes: int) -> np.ndarray:
    """Evenly spaced chunks of the validation split totalling at most `max_bytes`, so every source counts."""
    if len(val) <= max_bytes:
        return val
    n_chunks = 16
    size = max_bytes // n_chunks
    starts = np.linspace(0, len(val) - size, n_chunks).astype(np.int64)
    return np.concatenate([val[s:s + size] for s in starts])


# Stream layout ("batchify"). The corpus of N bytes (rotated by a random offset each epoch) is cut into
# B contiguous streams, one per row; a window is T columns of all rows. With B = 4 and the alphabet:
#
#   a b c d e f g h i j k l m n o p q r s t u v w x y z  ->  stream 0: a b c d e f │ ...
#                                                            stream 1: g h i j k l │
#                                                            stream 2: m n o p q r │
#                                                            stream 3: s t u v w x │ (y z dropped)
#                                                                      └ T=3 ┘└T=3┘
#                                                                      window 0 window 1
#
# Row b of window w is the continuation of row b of window w-1, so the LSTM state at the end of
# window w-1 is the right initial state for window w. The input at step t is byte t-1 and the target
# byte t; the input of a stream's first step (or the first step after a reset) is byte 0, as in the
# compressor, which starts every stream from zero state with previous byte 0.
def batchify(data: np.ndarray, batch: int) -> np.ndarray:
    """uint8 [N] -> uint8 [B, N // B]: B contiguous streams, trailing bytes dropped."""
    n = len(data) // batch
    if n < 2:
        raise ValueError(f"corpus of {len(data)} bytes is too small for {batch} streams")
    return data[: n * batch].reshape(batch, n)


def window(streams: np.ndarray, w: int, bptt: int, reset: np.ndarray | None = None):
    """Window `w` of a batchified corpus: (inputs int32 [B,T], targets int32 [B,T]).

    inputs[:, t] is the byte before targets[:, t]; streams whose state is reset at this window start
    (`reset` mask, and every stream at window 0) see byte 0 as their first input instead.
    """
    start = w * bptt
    stop = min(start + bptt, streams.shape[1])
    y = streams[:, start:stop].astype(np.int32)
    x = np.empty_like(y)
    x[:, 1:] = y[:, :-1]
    x[:, 0] = streams[:, start - 1] if start > 0 else 0
    if reset is not None:
        x[reset, 0] = 0
    return x, y


def num_windows(streams: np.ndarray, bptt: int) -> int:
    """Full windows only: a short last window would need a differently shaped graph."""
    return streams.shape[1] // bptt
