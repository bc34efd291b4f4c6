"""The benchmark loop: every input through lstmzip (each model and backend) and every baseline.

For each (file, codec): compressed size and sha256, bits per byte, compress and decompress
time and tracemalloc peak, and a verified round trip. lstmzip rows also get the fraction of
the roofline reached, the block methods the codec chose, and (tf backend) whether the output
is byte-identical to the numpy CPU engine's. See ``measure`` for how each number is taken.
"""

from __future__ import annotations

import dataclasses
import hashlib
import io
import os
import sys
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Sequence

from .. import format as fmt
from ..codec import DEFAULT_LEVEL, Compressor, Decompressor
from ..errors import LstmzipError
from ..model import Model, random_model, resolve
from . import baselines as bl
from .measure import Roofline, best_time, kbps, load_average, machine_info, traced

SCHEMA = "lstmzip-bench/1"
DEFAULT_CORPORA = ("canterbury", "calgary", "enwik/enwik6")
QUICK_FILES = ("canterbury/alice29.txt", "canterbury/fields.c", "calgary/paper1", "enwik/enwik6")
QUICK_BYTES = 24 << 10           # --quick: each file cut to its first 24 KiB
STANDIN = "random:2x256"         # shape of the default model, untrained (speed numbers only)


def default_model_spec() -> Optional[str]:
    """The shipped default model (the package's models/), else models/default.npz at the repository
    root (where a freshly trained model may land before it is packaged); None if neither exists."""
    from ..model import MODELS_DIR
    for path in (MODELS_DIR / "default.npz", Path(__file__).resolve().parents[2] / "models" / "default.npz"):
        if path.is_file():
            return str(path)
    return None


@dataclasses.dataclass
class Input:
    name: str                    # shown in tables, e.g. "canterbury/alice29.txt"
    data: bytes
    path: str = ""
    full_size: Optional[int] = None   # the file's size when `data` is a truncated prefix


# ---- inputs ------------------------------------------------------------------------------

def _read(path: Path, name: str, limit: Optional[int]) -> Input:
    with open(path, "rb") as f:
        data = f.read(limit if limit else -1)
    full = path.stat().st_size
    return Input(name, data, str(path), full if len(data) < full else None)


def inputs_from_paths(paths: Sequence[str], limit: Optional[int] = None) -> List[Input]:
    """Files as given; a folder contributes its regular, non-hidden files (recursively, sorted)."""
    out = []
    for p in map(Path, paths):
        if p.is_dir():
            files = sorted(f for f in p.rglob("*") if f.is_file()
                           and not any(part.startswith(".") for part in f.relative_to(p).parts))
            out += [_read(f, str(f.relative_to(p.parent)), limit) for f in files]
        elif p.is_file():
            out.append(_read(p, p.name, limit))
        else:
            raise LstmzipError(f"{p}: no such file or folder")
    return out


def corpus_places() -> List[tuple]:
    """(folder, where) searched for the default files: $LSTMZIP_SHARED_CORPORA when set (it then
    replaces the default places), else ../shared/corpora next to the checkout and from the working
    directory; then the folder `lstmzip corpus fetch` fills ($LSTMZIP_CORPORA or the user's cache)."""
    from .. import corpus
    places = corpus.shared_candidates()
    if os.environ.get(corpus.SHARED_ENV):
        places = places[:1]
    return places + [(corpus.default_dest(), "where `lstmzip corpus fetch` puts them")]


def default_inputs(quick: bool = False) -> List[Input]:
    """Canterbury + Calgary + enwik6 from a shared copy or the `lstmzip corpus fetch` folder."""
    from .. import corpus
    entries = corpus.select(corpus.load_manifest(), QUICK_FILES if quick else DEFAULT_CORPORA)
    places = corpus_places()
    folders = [f for f, _ in places]
    missing = [e.name for e in entries if corpus.locate(e, folders) is None]
    if missing:
        names = " ".join(QUICK_FILES if quick else DEFAULT_CORPORA)
        searched = "; ".join(f"{f} ({w})" for f, w in places)
        raise LstmzipError(f"benchmark files not found ({', '.join(missing[:3])}{'…' if len(missing) > 3 else ''}); "
                           f"searched {searched}. Fill the last with `lstmzip corpus fetch {names}` (downloads, "
                           f"sha256-verified), or set {corpus.SHARED_ENV} to a folder holding CORPUS/FILE, "
                           f"or name files: lstmzip bench FILE...")
    return [_read(corpus.locate(e, folders), e.name, QUICK_BYTES if quick else None) for e in entries]


# ---- lstmzip as a codec under test ---------------------------------------------------------

def load_model(spec: str) -> Model:
    """A model from a name or path, or ``random:LxH[:SEED]`` for a seeded untrained stand-in."""
    if spec.startswith("random:"):
        try:
            shape, _, seed = spec[len("random:"):].partition(":")
            layers, hidden = (int(v) for v in shape.lower().split("x"))
            return random_model(layers=layers, hidden=hidden, seed=int(seed or 0), name=f"standin-{layers}x{hidden}")
        except ValueError:
            raise LstmzipError(f"bad model spec {spec!r} (expected random:LAYERSxHIDDEN[:SEED])") from None
    return resolve(spec)


def is_trained(model: Model) -> bool:
    return bool(model.config.meta.get("trained", True))


MODEL_METHODS = tuple(fmt.METHOD_NAMES[m] for m in fmt.MODEL_METHODS)   # by name: lstm, cm, cm+dict


class LstmzipCodec:
    """Compressor + Decompressor for one (model, backend, device, level), built once (model load untimed)."""

    def __init__(self, model: Model, backend: str = "numpy", device: str = "auto", streams: int = 0,
                 level: int = DEFAULT_LEVEL):
        if backend == "numpy" and device == "gpu":
            raise LstmzipError("--device gpu needs --backend tf (the numpy engine runs on the CPU)")
        self.model, self.backend, self.device, self.streams = model, backend, device, streams
        self.level = level
        try:
            self.compressor = Compressor(model, streams=streams, backend=backend, device=device, level=level)
        except LstmzipError as exc:
            if backend == "tf" and device == "gpu":
                why = str(exc).replace("--device gpu: ", "")
                raise LstmzipError(f"--backend tf --device gpu: {why}; no GPU rows can be measured "
                                   f"(use --device cpu, or a machine with a GPU and a CUDA build of TensorFlow)") \
                    from None
            raise
        self.decompressor = Decompressor(model, backend=backend, device=device)
        where = "cpu" if backend == "numpy" else getattr(self.compressor.engine, "device", device)
        self.where = where.lower().replace("/", "").replace(":0", "")
        self.name = f"lstmzip-{level}[{model.name}/{backend}{'-' + self.where if backend == 'tf' else ''}]"
        self.roofline = Roofline(model, backend, device)
        if backend == "tf":                                      # trace the tf.function outside the timings
            self.decompressor.decompress(self.compressor.compress(b"warm up the engine"))

    def block_info(self, blob: bytes) -> List[tuple]:
        """(method name, raw_len, streams used by the engine) per block of a compressed file."""
        out = []
        for _, bh, _ in Decompressor().blocks(io.BytesIO(blob)):
            if isinstance(bh, fmt.End):
                break
            out.append((fmt.METHOD_NAMES[bh.method], bh.raw_len, bh.streams))
        return out

    def roofline_seconds(self, blocks: List[tuple]) -> Dict[str, float]:
        """GEMM-only time of the engine on the blocks coded by a model method (lstm or cm), both ways.
        (Compression may also have run the model on blocks that zstd then won: not counted.)"""
        enc = dec = sum(self.roofline.seconds_for(n, s) for m, n, s in blocks if m in MODEL_METHODS)
        return {"compress": enc, "decompress": dec}


# ---- the loop ----------------------------------------------------------------------------

def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def measure_codec(inp: Input, compress: Callable[[bytes], bytes], decompress: Callable[[bytes], bytes],
                  extra_c: Callable[[], int] = lambda: 0, extra_d: Callable[[], int] = lambda: 0) -> tuple:
    """(blob, out, fields): memory from one traced run each way, time from separate untraced runs
    (best of several for fast codecs; slow ones run once). tracemalloc slows Python-heavy code
    (lstmzip's step loop by ~50 %), so it never runs while a time is taken."""
    blob, _, pc = traced(lambda: compress(inp.data))
    pc += extra_c()
    out, _, pd = traced(lambda: decompress(blob))
    pd += extra_d()
    blob2, tc, cpu_c, _ = best_time(lambda: compress(inp.data))
    out2, td, cpu_d, _ = best_time(lambda: decompress(blob))
    n = len(inp.data)
    fields = {"file": inp.name, "original": n, "size": len(blob), "sha256": _sha(blob),
              "bpb": 8 * len(blob) / n if n else 0.0, "compress_s": tc, "decompress_s": td,
              "compress_cpu_s": cpu_c, "decompress_cpu_s": cpu_d,
              "compress_kbps": kbps(n, tc), "decompress_kbps": kbps(n, td),
              "compress_peak_bytes": pc, "decompress_peak_bytes": pd,
              "verified": out == inp.data and out2 == inp.data, "deterministic": blob2 == blob}
    return blob, fields


def bench_lstmzip(codec: LstmzipCodec, inp: Input, reference: Optional[bytes]) -> tuple:
    """(row, blob) for one lstmzip configuration on one input."""
    blob, fields = measure_codec(inp, codec.compressor.compress, codec.decompressor.decompress)
    blocks = codec.block_info(blob)
    used = {s for m, _, s in blocks if m in MODEL_METHODS}
    for streams in used:
        codec.roofline.seconds_per_step(streams, refresh=True)  # re-timed beside every file; best kept
    methods: Dict[str, int] = {}
    for m, _, _ in blocks:
        methods[m] = methods.get(m, 0) + 1
    row = {"codec": codec.name, "kind": "lstmzip", **fields, "model": codec.model.name,
           "model_sha256": codec.model.sha256, "trained": is_trained(codec.model), "backend": codec.backend,
           "device": codec.where, "level": codec.level, "blocks": methods, "block_layout": blocks,
           "lstm_bytes": sum(n for m, n, _ in blocks if m in MODEL_METHODS)}
    add_roofline(row, codec)
    if reference is not None:
        row["identical_to_numpy_cpu"] = blob == reference
    return row, blob


def add_roofline(row: Dict[str, Any], codec: LstmzipCodec) -> None:
    """GEMM-only times and the fractions of the roofline reached, from the best GEMM timings so far."""
    roof = codec.roofline_seconds(row["block_layout"])
    tc, td = row["compress_s"], row["decompress_s"]
    row.update(roofline_compress_s=roof["compress"], roofline_decompress_s=roof["decompress"],
               roofline_compress=roof["compress"] / tc if tc > 0 else None,
               roofline_decompress=roof["decompress"] / td if td > 0 and row["lstm_bytes"] else None)


def bench_baseline(codec: bl.Codec, inp: Input) -> tuple:
    """(row, blob) for one baseline on one input."""
    blob, fields = measure_codec(inp, codec.compress, codec.decompress, codec.compress_memory,
                                 codec.decompress_memory)
    row = {"codec": codec.name, "kind": "baseline", **fields}
    if codec.dict_size is not None:
        row.update(dict_size=codec.dict_size, dict_train_s=codec.dict_train_s)
    return row, blob


def totals(rows: List[Dict[str, Any]], codecs: List[str]) -> List[Dict[str, Any]]:
    out = []
    for name in codecs:
        rs = [r for r in rows if r["codec"] == name]
        if not rs:
            continue
        orig, size = sum(r["original"] for r in rs), sum(r["size"] for r in rs)
        tc, td = sum(r["compress_s"] for r in rs), sum(r["decompress_s"] for r in rs)
        t = {"codec": name, "kind": rs[0]["kind"], "files": len(rs), "original": orig, "size": size,
             "bpb": 8 * size / orig if orig else 0.0, "compress_s": tc, "decompress_s": td,
             "compress_kbps": kbps(orig, tc), "decompress_kbps": kbps(orig, td),
             "compress_peak_bytes": max(r["compress_peak_bytes"] for r in rs),
             "decompress_peak_bytes": max(r["decompress_peak_bytes"] for r in rs),
             "verified": all(r["verified"] for r in rs),
             "deterministic": all(r["deterministic"] for r in rs)}
        if rs[0]["kind"] == "lstmzip":
            t["trained"] = rs[0]["trained"]
            t["roofline_compress"] = sum(r["roofline_compress_s"] for r in rs) / tc if tc else None
            dec = [r for r in rs if r["lstm_bytes"]]
            dt = sum(r["decompress_s"] for r in dec)
            t["roofline_decompress"] = sum(r["roofline_decompress_s"] for r in dec) / dt if dec and dt else None
            t["blocks"] = {m: sum(r["blocks"].get(m, 0) for r in rs)        # every method, cm included
                           for m in fmt.METHOD_NAMES.values() if any(m in r["blocks"] for r in rs)}
            if any("identical_to_numpy_cpu" in r for r in rs):
                t["identical_to_numpy_cpu"] = all(r.get("identical_to_numpy_cpu", True) for r in rs)
        if "dict_size" in rs[0]:
            t["dict_size_max"] = max(r["dict_size"] for r in rs)
        out.append(t)
    return out


def run_bench(inputs: List[Input], models: Sequence = (STANDIN,), backends: Sequence[str] = ("numpy",),
              device: str = "auto", streams: int = 0, baselines: Sequence[str] = bl.NAMES,
              outputs: Optional[Dict[tuple, bytes]] = None, levels: Sequence[int] = (DEFAULT_LEVEL,),
              log: Callable[[str], None] = lambda msg: None, progress: bool = False) -> Dict[str, Any]:
    """Benchmark every input; returns the JSON-ready report. Blobs go into `outputs` if given,
    keyed (file, codec), so callers can check every reported size against the real output.
    `progress`: a tqdm bar on stderr over every (input, codec) pair's bytes, where stderr is a
    terminal; the log's lines are printed above it."""
    unknown = set(baselines) - set(bl.NAMES)
    if unknown:
        raise LstmzipError(f"unknown baseline(s) {', '.join(sorted(unknown))} (choose from {', '.join(bl.NAMES)})")
    load_start = load_average()
    machine = machine_info()
    loaded = [m if isinstance(m, Model) else load_model(m) for m in models]
    targets = [LstmzipCodec(m, b, device if b == "tf" else "auto", streams, lv)
               for m in loaded for lv in levels for b in backends]
    references = {(m.sha256, lv): None for m in loaded for lv in levels}
    need_reference = "tf" in backends
    numpy_cpu = {(m.sha256, lv): LstmzipCodec(m, "numpy", "auto", streams, lv) for m in loaded for lv in levels} \
        if need_reference and "numpy" not in backends else {}
    fixed = bl.fixed_codecs([n for n in baselines if n != "zstd-19+dict"])
    all_data = [i.data for i in inputs]
    rows: List[Dict[str, Any]] = []
    codec_names: List[str] = []
    from tqdm import tqdm
    per_input = len(targets) + len(fixed) + ("zstd-19+dict" in baselines)
    bar = tqdm(total=per_input * sum(len(i.data) for i in inputs), desc="bench", unit="B", unit_scale=True,
               unit_divisor=1024, file=sys.stderr, leave=False, dynamic_ncols=True,
               disable=None if progress else True)              # None: only on a terminal
    plain_log = log

    def log(msg: str) -> None:                                # (lines above the bar, not through it)
        with tqdm.external_write_mode(file=sys.stderr):
            plain_log(msg)

    def add(row, blob):
        rows.append(row)
        if row["codec"] not in codec_names:
            codec_names.append(row["codec"])
        if outputs is not None:
            outputs[(row["file"], row["codec"])] = blob
        bar.update(row["original"])
        log(f"  {row['codec']:28s} {row['size']:>10d} B  {row['bpb']:6.3f} bpb  "
            f"c {row['compress_kbps']:9.1f} KB/s  d {row['decompress_kbps']:9.1f} KB/s"
            + ("" if row["verified"] else "  ROUND TRIP FAILED"))

    for k, inp in enumerate(inputs, 1):
        log(f"[{k}/{len(inputs)}] {inp.name} ({len(inp.data)} bytes)")
        for key in references:                                # numpy CPU output first: tf is checked against it
            references[key] = None
        for t in sorted(targets, key=lambda t: t.backend != "numpy"):
            ref = None
            key = (t.model.sha256, t.level)
            if t.backend == "tf":
                ref = references[key]
                if ref is None:
                    ref = numpy_cpu[key].compressor.compress(inp.data)
            row, blob = bench_lstmzip(t, inp, ref)
            if t.backend == "numpy":
                references[key] = blob
            add(row, blob)
        for c in fixed:
            add(*bench_baseline(c, inp))
        if "zstd-19+dict" in baselines:
            add(*bench_baseline(bl.dictionary_codec(inp.data, all_data), inp))
    bar.close()

    by_name = {t.name: t for t in targets}
    for row in rows:                                          # final fractions: the best GEMM timings of the run
        if row["kind"] == "lstmzip":
            add_roofline(row, by_name[row["codec"]])
    rooflines = []
    for t in targets:
        for r in t.roofline.describe():
            rooflines.append({"codec": t.name, "flops_per_byte": t.model.flops_per_byte, **r})
    notes = [
        "speed = original bytes / 1024 / wall seconds (KB/s), compression and decompression alike.",
        "time: untraced runs, best of up to 5 within 0.3 s (slow codecs run once); memory: one separate "
        "tracemalloc-traced run each way (tracemalloc slows lstmzip's Python step loop by ~50 %). "
        "lstmzip: model loaded and engine built beforehand, not timed.",
        "peak memory = tracemalloc peak (Python-side allocations, numpy arrays, lzma/bz2 buffers); zstd's "
        "malloc'd context is added from ZstdCompressor/ZstdDecompressor.memory_size(). Allocated, not touched: "
        "xz -9e reports its full ~674 MB.",
        "zstd-19+dict: dictionary trained leave-one-out on the other files of this set (identical copies "
        "excluded); its size is the dict column, NOT added to the compressed size; training time not in speed.",
        "roofline = float32 GEMM FLOP/s measured in this run on the engine's GEMM shapes (per stream count) "
        "/ model.flops_per_byte; fraction = GEMM-only time / actual time (decompression: lstm blocks only).",
    ]
    if any(not is_trained(m) for m in loaded):
        notes.insert(0, "UNTRAINED STAND-IN model rows: speed and memory only; their sizes/ratios are meaningless.")
    return {
        "schema": SCHEMA, "machine": machine,
        "load_average": {"start": load_start, "end": load_average()},
        "settings": {"models": [{"name": m.name, "sha256": m.sha256, "trained": is_trained(m),
                                 "layers": m.config.layers, "hidden": m.config.hidden,
                                 "flops_per_byte": m.flops_per_byte} for m in loaded],
                     "backends": list(backends), "device": device, "streams": streams, "levels": list(levels),
                     "baselines": list(baselines)},
        "files": [{"name": i.name, "path": i.path, "size": len(i.data), "sha256": _sha(i.data),
                   "truncated_from": i.full_size} for i in inputs],
        "results": rows, "totals": totals(rows, codec_names), "rooflines": rooflines, "notes": notes,
    }


def stderr_log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)
