"""Training data: reading corpus files, the held-out split, and the stateful stream layout.

Sources are given as ``PATH[@LIMIT]``: a file, a folder (all files below it, sorted) or a glob;
``.gz``/``.dz``/``.bz2``/``.xz`` files are decompressed transparently; ``@3M`` keeps only the first
3 MB of that source (``K``/``M``/``G`` suffixes, powers of 1000). numpy only: no TensorFlow here.

A folder written by the corpus builder (``corpus_build.py``: ``corpus.json``, ``train/KIND.txt``,
``val/KIND.txt``) is read as a whole: its training files in a fixed shuffled order (so that every part of the
corpus mixes the kinds), its per-kind validation shards as the validation split (one validation part per
kind, see ``Corpus.val_parts``); ``@LIMIT`` then caps its training bytes.
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
    val_parts: list | None = None  # [(name, start, stop)] of the validation split (builder corpora: per kind)


BUILT_FORMAT = "lstmzip-train-corpus"


def is_built_corpus(path: str) -> bool:
    """A folder written by ``corpus_build.py``."""
    meta = os.path.join(path, "corpus.json")
    if not (os.path.isdir(path) and os.path.isfile(meta)):
        return False
    import json
    with open(meta) as f:
        return json.load(f).get("format") == BUILT_FORMAT


def load_built(path: str, limit: int | None = None) -> tuple[bytes, list[tuple[str, bytes]], dict]:
    """A builder corpus: (training bytes, [(kind, validation bytes)], source entry).

    Training files are cut from their shards by the offsets in sources.json and concatenated in the order
    of sha256("order" + file sha256): a fixed pseudo-random order, so the B streams of `batchify` each see
    a mix of kinds rather than one kind each.
    """
    import json
    with open(os.path.join(path, "sources.json")) as f:
        files = json.load(f)["files"]
    with open(os.path.join(path, "corpus.json")) as f:
        meta = json.load(f)
    shards = {}
    train_files = [r for r in files if r["split"] == "train"]
    order = sorted(train_files, key=lambda r: hashlib.sha256(b"order" + r["sha256"].encode()).hexdigest())
    chunks, total = [], 0
    for r in order:
        if r["shard"] not in shards:
            shards[r["shard"]] = read_file(os.path.join(path, r["shard"]))
        blob = shards[r["shard"]]
        piece = blob[r["offset"]:r["offset"] + r["bytes"]]
        if not piece.endswith(b"\n"):
            piece += b"\n"  # the shard adds a newline after a file without one
        if limit is not None and total + len(piece) > limit:
            break
        chunks.append(piece)
        total += len(piece)
    shards.clear()
    val = []
    for name in sorted(os.listdir(os.path.join(path, "val"))):
        if name.endswith(".txt"):
            val.append((name[:-4], read_file(os.path.join(path, "val", name))))
    train = b"".join(chunks)
    entry = dict(name=path + (f"@{limit}" if limit is not None else ""), files=len(chunks), bytes=len(train),
                 sha256=hashlib.sha256(train).hexdigest(), corpus_sha256=meta.get("corpus_sha256"),
                 val_kinds={k: len(v) for k, v in val})
    return train, val, entry


def load_corpus(specs: list[str], exclude: tuple[str, ...] = (), val_fraction: float = 0.01) -> Corpus:
    """Read every source, keep its first LIMIT bytes, hold out its last `val_fraction` for validation
    (a builder corpus brings its own validation split)."""
    train_parts, val_parts, sources = [], [], []
    parts: list[tuple[str, int, int]] = []
    for spec in specs:
        path, limit = parse_spec(spec)
        if is_built_corpus(path):
            train, val, entry = load_built(path, limit)
            train_parts.append(train)
            base = sum(len(v) for v in val_parts)
            for kind, blob in val:
                parts.append((kind, base, base + len(blob)))
                val_parts.append(blob)
                base += len(blob)
            sources.append(entry)
            continue
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
        base = sum(len(v) for v in val_parts)
        parts.append((spec, base, base + n_val))
        train_parts.append(blob[: len(blob) - n_val])
        val_parts.append(blob[len(blob) - n_val:])
        sources.append(dict(name=spec, files=len(chunks), bytes=len(blob),
                            sha256=hashlib.sha256(blob).hexdigest()))
    train = np.frombuffer(b"".join(train_parts), dtype=np.uint8)
    val = np.frombuffer(b"".join(val_parts), dtype=np.uint8)
    return Corpus(train=train, val=val, sources=sources, val_parts=parts)


def val_slice(val: np.ndarray, max_bytes: int, parts: list | None = None) -> np.ndarray:
    """Evenly spaced chunks of the validation split totalling at most `max_bytes`, so every source counts.

    With `parts` (``Corpus.val_parts``) and more than 16 of them, every part gives the same share instead
    (its first bytes), so every kind of a builder corpus counts equally; see `val_slice_parts`.
    """
    if parts and len(parts) > 16:
        return val_slice_parts(val, max_bytes, parts)[0]
    if len(val) <= max_bytes:
        return val
    n_chunks = 16
    size = max_bytes // n_chunks
    starts = np.linspace(0, len(val) - size, n_chunks).astype(np.int64)
    return np.concatenate([val[s:s + size] for s in starts])


def val_slice_parts(val: np.ndarray, max_bytes: int, parts: list) -> tuple[np.ndarray, list]:
    """The first max_bytes / len(parts) bytes of every part: (slice, [(name, start, stop)] within it)."""
    share = max(1, max_bytes // len(parts))
    pieces, where, pos = [], [], 0
    for name, start, stop in parts:
        piece = val[start:min(stop, start + share)]
        pieces.append(piece)
        where.append((name, pos, pos + len(piece)))
        pos += len(piece)
    return np.concatenate(pieces), where


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
