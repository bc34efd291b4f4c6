#!/usr/bin/env python3
"""The codec's performance benchmark (issue 2): speed against the roofline, memory, small files.

    python bench/codec_speed.py [--model PATH] [--quick] [--blas-threads N] [--only SECTIONS]

Writes bench/results/codec_speed.json and regenerates bench/RESULTS.md (which also shows the
corpus benchmark from bench/results/bench.json when `lstmzip bench` has written it).

Sections (each number with its target and PASS/MISS):

  speed    compress / decompress a >= 1 MB text with the 2x256 model, as KB/s and as a fraction
           of the roofline (this run's GEMM FLOP/s on the engine's shapes / flops_per_byte).
           Targets: >= 50 % of the roofline; decompression within 1.2x of compression time.
  streams  compression speed against the stream count (16, 64, 256, 1024).
  coder    the rANS coder alone, random valid frequency tables: symbols/s. Target >= 2 M/s.
  threads  the same compression in fresh processes with OPENBLAS_NUM_THREADS=1, 2 and unset (and,
           when OPENBLAS_CORETYPE is set, with OpenBLAS's own kernel detection), each with its roofline.
  memory   peak RSS of a `lstmzip compress` subprocess (getrusage(RUSAGE_CHILDREN).ru_maxrss): a tiny
           1x8 model on 10 MB and 100 MB (memory is block buffers, not the model), and the
           2x256 model on 1 and 3 MiB (1 and 3 blocks). Target <= 500 MB, and no growth with input size.
  small    a 1 KB file: `lstmzip compress` + `lstmzip decompress` subprocesses, wall time,
           model load included, 2x256 model. Target < 1.5 s.

Without --model: models/default.npz when it is installed, else an untrained stand-in of the
same shape (random_model(layers=2, hidden=256, seed=0)): speed does not depend on the weights.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
SHARED = REPO.parent / "shared" / "corpora"
SECTIONS = ("speed", "streams", "coder", "threads", "memory", "small")
MB = 1_000_000
MiB = 1 << 20


def pct(x: float) -> str:
    return f"{100 * x:.0f} %" + (" (GEMM timing disturbed)" if x > 1 else "")


def verdict(ok) -> str:
    return "n/a" if ok is None else ("PASS" if ok else "MISS")


# ---- inputs and models -------------------------------------------------------------------

def text_sample(n: int) -> tuple:
    """(bytes, description): the first n bytes of a real text, repeated if it is shorter."""
    from lstmzip import corpus
    candidates = [SHARED / "enwik" / "enwik6", corpus.default_dest() / "enwik" / "enwik6",
                  corpus.default_dest() / "silesia" / "dickens"]
    for path in candidates:
        if path.is_file() and path.stat().st_size >= min(n, MB):
            data = path.read_bytes()[:n]
            name = str(path)
            break
    else:
        dickens = SHARED / "silesia" / "dickens.bz2"
        if not dickens.is_file():
            sys.exit("codec_speed: no text found (enwik6 or dickens); run `lstmzip corpus fetch enwik6`")
        import bz2
        with bz2.open(dickens) as f:
            data = f.read(n)
        name = f"{dickens} (decompressed)"
    if len(data) < n:
        data = (data * (n // len(data) + 1))[:n]
        name += f", repeated to {n} bytes"
    return data, f"{name} [:{n}]"


def get_model(spec, workdir: Path):
    """(Model, path usable with `lstmzip -m`, description, trained)."""
    from lstmzip.model import MODELS_DIR, Model, random_model, resolve
    if spec:
        m = resolve(spec)
        return m, str(m.path or spec), f"{m.name} ({spec})", bool(m.config.meta.get("trained", True))
    for path in (MODELS_DIR / "default.npz", REPO / "models" / "default.npz"):
        if path.is_file():
            m = Model.load(path)
            return m, str(path), f"default ({path})", bool(m.config.meta.get("trained", True))
    m = random_model(layers=2, hidden=256, seed=0, name="standin-2x256")
    path = workdir / "standin-2x256.npz"
    m.save(path)
    return m, str(path), "untrained stand-in random_model(layers=2, hidden=256, seed=0)", False


def prior_standin(workdir: Path) -> str:
    """The stand-in with its output bias set to enwik6's byte frequencies (random_model(prior=...)):
    same shape and speed, but below 8 bits/byte, so files it writes can hold lstm blocks."""
    from lstmzip.model import random_model
    sample, _ = text_sample(MB)
    path = workdir / "standin-2x256-prior.npz"
    random_model(layers=2, hidden=256, seed=0, name="standin-2x256-prior", prior=sample).save(path)
    return str(path)


# ---- 1. speed, streams, coder ------------------------------------------------------------

def time_lstm(engine, data: bytes, streams: int, decode: bool = True) -> dict:
    from lstmzip.codec import lstm_decode, lstm_encode
    t0, c0 = time.perf_counter(), time.process_time()
    payload = lstm_encode(engine, data, streams)
    tc, cc = time.perf_counter() - t0, time.process_time() - c0
    out = {"streams": streams, "bytes": len(data), "payload": len(payload), "compress_s": tc, "compress_cpu_s": cc}
    if decode:
        t0, c0 = time.perf_counter(), time.process_time()
        back = lstm_decode(engine, payload, len(data), streams)
        out.update(decompress_s=time.perf_counter() - t0, decompress_cpu_s=time.process_time() - c0,
                   verified=back == data)
    return out


def section_speed(model, data: bytes, what: str, log) -> dict:
    import zstandard

    from lstmzip.bench.measure import Roofline, load_average
    from lstmzip.codec import Compressor, choose_streams
    from lstmzip.engine import NumpyEngine
    engine = NumpyEngine(model)
    s = choose_streams(len(data))
    roof = Roofline(model)
    load0 = load_average()
    log(f"speed: {len(data)} bytes, {s} streams (compress + decompress)…")
    roof.seconds_per_step(s)                                    # GEMMs timed before and after the run
    r = time_lstm(engine, data, s)
    roof.seconds_per_step(s, refresh=True)
    gemm_s = roof.seconds_for(len(data), s)
    # What the whole codec adds on top of the LSTM: the zstd-19 candidate, CRC-32 and SHA-256.
    t0 = time.perf_counter()
    Compressor(model, methods=("zstd", "stored")).compress(data)
    overhead = time.perf_counter() - t0
    r.update(input=what, roofline_gflops=roof.gflops(s), roofline_kbps=roof.bytes_per_s(s) / 1024,
             roofline_s=gemm_s, flops_per_byte=model.flops_per_byte,
             compress_kbps=len(data) / 1024 / r["compress_s"], decompress_kbps=len(data) / 1024 / r["decompress_s"],
             roofline_compress=gemm_s / r["compress_s"], roofline_decompress=gemm_s / r["decompress_s"],
             decompress_over_compress=r["decompress_s"] / r["compress_s"],
             codec_overhead_s=overhead, zstd_version=zstandard.__version__,
             bpb=8 * r["payload"] / len(data), load_average=[load0, load_average()])
    r["targets"] = {
        "roofline_compress >= 0.5": verdict(r["roofline_compress"] >= 0.5),
        "roofline_decompress >= 0.5": verdict(r["roofline_decompress"] >= 0.5),
        "decompress_s <= 1.2 x compress_s": verdict(r["decompress_over_compress"] <= 1.2),
    }
    return r


def section_streams(model, data: bytes, counts, log) -> dict:
    from lstmzip.bench.measure import Roofline, load_average
    from lstmzip.engine import NumpyEngine
    engine, roof, rows = NumpyEngine(model), Roofline(model), []
    for s in counts:
        log(f"streams: {s} streams on {len(data)} bytes…")
        load0 = load_average()
        roof.seconds_per_step(s)
        r = time_lstm(engine, data, s, decode=False)
        roof.seconds_per_step(s, refresh=True)
        gemm_s = roof.seconds_for(len(data), s)
        rows.append({**r, "compress_kbps": len(data) / 1024 / r["compress_s"], "roofline_gflops": roof.gflops(s),
                     "roofline_kbps": roof.bytes_per_s(s) / 1024, "roofline_compress": gemm_s / r["compress_s"],
                     "load_average": [load0, load_average()]})
    return {"bytes": len(data), "rows": rows}


def random_tables(rng, n: int, pool: int):
    """`pool` sets of n valid frequency tables (entries >= 1, rows summing to 2**16), and symbols
    drawn from them (so every symbol has its real probability)."""
    import numpy as np
    from lstmzip.coder import M
    tables, symbols = [], []
    for _ in range(pool):
        w = rng.gamma(0.3, size=(n, 256))                               # peaky, like a real model
        f = 1 + np.floor(w / w.sum(axis=1, keepdims=True) * (M - 256)).astype(np.int64)
        f[np.arange(n), w.argmax(axis=1)] += M - f.sum(axis=1)
        cum = np.cumsum(f, axis=1)
        u = rng.integers(0, M, n)
        tables.append(f)
        symbols.append((cum <= u[:, None]).sum(axis=1).astype(np.int64))
    return tables, symbols


def section_coder(lanes_list, steps: int, log) -> dict:
    import numpy as np

    from lstmzip.bench.measure import load_average
    from lstmzip.coder import Decoder, Encoder
    rows = []
    rng = np.random.default_rng(0)
    for lanes in lanes_list:
        log(f"coder: {lanes} lanes x {steps} steps…")
        tables, symbols = random_tables(rng, lanes, 8)
        load0 = load_average()
        best_e = best_d = float("inf")
        for _ in range(3):
            t0 = time.perf_counter()
            enc = Encoder(lanes)
            for t in range(steps):
                enc.put(symbols[t % 8], tables[t % 8])
            payload = enc.finish()
            best_e = min(best_e, time.perf_counter() - t0)
            t0 = time.perf_counter()
            dec = Decoder(payload, lanes)
            ok = True
            for t in range(steps):
                ok &= bool(np.array_equal(dec.get(tables[t % 8]), symbols[t % 8]))
            dec.finish()
            best_d = min(best_d, time.perf_counter() - t0)
        n = lanes * steps
        rows.append({"lanes": lanes, "steps": steps, "symbols": n, "encode_s": best_e, "decode_s": best_d,
                     "encode_sym_per_s": n / best_e, "decode_sym_per_s": n / best_d, "verified": ok,
                     "bits_per_symbol": 8 * len(payload) / n, "load_average": [load0, load_average()],
                     "targets": {"encode >= 2M symbols/s": verdict(n / best_e >= 2e6),
                                 "decode >= 2M symbols/s": verdict(n / best_d >= 2e6)}})
    return {"rows": rows, "tables": "random: gamma(0.3) weights -> integer tables, every entry >= 1, sum 2**16; "
                                    "symbols drawn from each table; best of 3 runs; encode = put() x steps + finish()"}


# ---- subprocess sections ---------------------------------------------------------------------

def _env(**extra) -> dict:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(REPO) + os.pathsep + env.get("PYTHONPATH", "")
    for k, v in extra.items():
        if v is None:
            env.pop(k, None)
        else:
            env[k] = v
    return env


# Runs the command given as its arguments, then prints its wall time and getrusage(RUSAGE_CHILDREN).
# Measuring through this small process matters: a child's ru_maxrss starts at the RSS of the process
# that forked it (exec keeps the pre-exec high-water mark), so a command spawned straight from this
# script, with numpy and test data loaded, would report at least this script's own RSS.
RUSAGE_PROBE = """\
import json, resource, subprocess, sys, time
t0 = time.perf_counter()
proc = subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
wall = time.perf_counter() - t0
ru = resource.getrusage(resource.RUSAGE_CHILDREN)
print(json.dumps({"rc": proc.returncode, "wall_s": wall, "maxrss_kib": ru.ru_maxrss, "user_s": ru.ru_utime,
                  "sys_s": ru.ru_stime, "stderr": proc.stderr.decode(errors="replace")[-800:]}))
"""


def run_measured(cmd, env=None) -> dict:
    """Run cmd (stdout discarded): wall seconds and its peak RSS (getrusage(RUSAGE_CHILDREN).ru_maxrss of a
    small intermediary process that only runs cmd; KiB on Linux)."""
    out = subprocess.run([sys.executable, "-c", RUSAGE_PROBE, *map(str, cmd)], env=env or _env(),
                         capture_output=True, check=True)
    r = json.loads(out.stdout.decode().strip().splitlines()[-1])
    if r["rc"] != 0:
        raise RuntimeError(f"{' '.join(map(str, cmd))} failed: {r['stderr']}")
    return {"wall_s": r["wall_s"], "peak_rss_bytes": r["maxrss_kib"] * 1024, "user_s": r["user_s"],
            "sys_s": r["sys_s"]}


def blas_settings() -> list:
    """(label, environment changes) for the BLAS comparison: thread counts 1, 2 and unset with the
    inherited kernel choice; and, when OPENBLAS_CORETYPE is set, the same with OpenBLAS's own detection."""
    coretype = os.environ.get("OPENBLAS_CORETYPE")
    kernel = f"OPENBLAS_CORETYPE={coretype}" if coretype else "kernels auto-detected"
    out = [(f"threads {t or 'unset (= cores)'}, {kernel}", {"OPENBLAS_NUM_THREADS": t, "OMP_NUM_THREADS": t})
           for t in ("1", "2", None)]
    if coretype:
        out += [(f"threads {t or 'unset (= cores)'}, OPENBLAS_CORETYPE unset (auto-detected)",
                 {"OPENBLAS_NUM_THREADS": t, "OMP_NUM_THREADS": t, "OPENBLAS_CORETYPE": None}) for t in ("1", None)]
    return out


def section_threads(model_path: str, cases, log) -> dict:
    """The same compression under different BLAS settings, each in a fresh process (OpenBLAS reads
    OPENBLAS_NUM_THREADS and OPENBLAS_CORETYPE when numpy is imported). `cases`: (bytes, streams) pairs.
    The roofline GEMMs are timed in the same process, so each row has its own roofline."""
    from lstmzip.bench.measure import load_average
    rows = []
    probe = ("import sys, time, json; sys.path.insert(0, %r); from bench.codec_speed import text_sample; "
             "from lstmzip.model import Model; from lstmzip.engine import NumpyEngine; "
             "from lstmzip.bench.measure import Roofline; "
             "from lstmzip.codec import lstm_encode; m = Model.load(%r); e = NumpyEngine(m); out = []\n"
             "for n, s in %r:\n"
             "    d, _ = text_sample(n); r = Roofline(m); r.seconds_per_step(s); t = time.perf_counter()\n"
             "    lstm_encode(e, d, s); dt = time.perf_counter() - t; r.seconds_per_step(s, refresh=True)\n"
             "    out.append({'bytes': n, 'streams': s, 'compress_s': dt, 'roofline_gflops': r.gflops(s), "
             "'roofline_compress': r.seconds_for(n, s) / dt})\n"
             "print(json.dumps(out))") % (str(REPO), model_path, list(cases))
    for label, changes in blas_settings():
        log(f"threads: {label}…")
        load0 = load_average()
        out = subprocess.run([sys.executable, "-c", probe], env=_env(**changes), capture_output=True, check=True)
        for r in json.loads(out.stdout.decode().strip().splitlines()[-1]):
            rows.append({"setting": label, **r, "compress_kbps": r["bytes"] / 1024 / r["compress_s"],
                         "load_average": [load0, load_average()]})
    return {"rows": rows}


def section_memory(model_path: str, sizes_tiny, sizes_model, workdir: Path, log) -> dict:
    from lstmzip.bench.measure import load_average
    from lstmzip.model import random_model
    tiny = workdir / "tiny-1x8.npz"
    random_model(layers=1, hidden=8, seed=0, name="tiny-1x8").save(tiny)
    base = run_measured([sys.executable, "-c", "import lstmzip, lstmzip.cli"])
    rows = []
    for label, mpath, sizes in (("tiny 1x8", str(tiny), sizes_tiny), ("2x256", model_path, sizes_model)):
        for n in sizes:
            src = workdir / f"input-{n}.bin"
            if not src.is_file():
                chunk, _ = text_sample(min(n, 10 * MB))
                with open(src, "wb") as f:
                    for k in range(0, n, len(chunk)):
                        f.write(chunk[:n - k])
            log(f"memory: lstmzip compress, {label} model, {n / MB:.3g} MB…")
            load0 = load_average()
            r = run_measured([sys.executable, "-m", "lstmzip", "compress", "-q", "-f", "-m", mpath, "-c", str(src)])
            rows.append({"model": label, "bytes": n, **r, "kbps": n / 1024 / r["wall_s"],
                         "load_average": [load0, load_average()]})
            src.unlink()
    out = {"python_numpy_lstmzip_import_rss_bytes": base["peak_rss_bytes"], "rows": rows, "targets": {}}
    for label in ("tiny 1x8", "2x256"):
        rs = [r for r in rows if r["model"] == label]
        if len(rs) >= 2:
            big, small = rs[-1], rs[0]
            out["targets"][f"{label}: peak RSS <= 500 MB at {big['bytes'] / MB:.3g} MB"] = \
                verdict(big["peak_rss_bytes"] <= 500 * MB)
            out["targets"][f"{label}: no growth {small['bytes'] / MB:.3g} -> {big['bytes'] / MB:.3g} MB (<= +10 %)"] = \
                verdict(big["peak_rss_bytes"] <= 1.10 * small["peak_rss_bytes"])
    return out


def block_methods(path: Path) -> list:
    import io

    from lstmzip import format as fmt
    from lstmzip.codec import Decompressor
    with open(path, "rb") as f:
        blob = f.read()
    return [fmt.METHOD_NAMES[bh.method] for _, bh, _ in Decompressor().blocks(io.BytesIO(blob))
            if not isinstance(bh, fmt.End)]


def section_small(model_path: str, workdir: Path, log, repeats: int = 3) -> dict:
    """1 KB through the CLI, both ways. If the file `lstmzip compress` wrote has no lstm block (zstd or
    stored won), decompression would skip the LSTM: then the decompress half is timed on a file of the
    same input forced to the lstm method, so both halves run the model as a trained model's file would."""
    from lstmzip.bench.measure import load_average
    from lstmzip.codec import Compressor
    from lstmzip.model import Model
    data, what = text_sample(1024)
    src, packed, back = workdir / "small.txt", workdir / "small.txt.lstmz", workdir / "small.back"
    forced = workdir / "small-forced.lstmz"
    src.write_bytes(data)
    rows = []
    for _ in range(repeats):
        log("small: 1 KB compress + decompress subprocesses…")
        load0 = load_average()
        c = run_measured([sys.executable, "-m", "lstmzip", "compress", "-q", "-f", "-m", model_path, str(src),
                          "-o", str(packed)])
        methods = block_methods(packed)
        target = packed
        if "lstm" not in methods:
            forced.write_bytes(Compressor(Model.load(model_path), methods=("lstm",)).compress(data))
            target = forced
        d = run_measured([sys.executable, "-m", "lstmzip", "decompress", "-q", "-f", "-m", model_path, str(target),
                          "-o", str(back)])
        rows.append({"compress_s": c["wall_s"], "decompress_s": d["wall_s"], "total_s": c["wall_s"] + d["wall_s"],
                     "verified": back.read_bytes() == data, "compressed": packed.stat().st_size,
                     "compress_methods": methods, "decompressed_methods": block_methods(target),
                     "load_average": [load0, load_average()]})
    median = statistics.median(r["total_s"] for r in rows)
    return {"input": what, "model": model_path, "rows": rows, "median_total_s": median,
            "best_total_s": min(r["total_s"] for r in rows),
            "targets": {"1 KB round trip < 1.5 s (median of 3)": verdict(median < 1.5)}}


# ---- results -----------------------------------------------------------------------------

def render(results: dict, bench: dict = None) -> str:
    """bench/RESULTS.md from codec_speed.json (and bench.json when present)."""
    m = results["machine"]
    la = results["load_average"]
    out = ["# lstmzip benchmark results", "",
           "Regenerate: `python bench/run_all.py` (see bench/README.md). Numbers from a loaded machine are "
           "depressed; every section records the load average (1/5/15 min) it ran under.", "",
           "## Machine", "",
           f"- CPU: {m['cpu']}, {m['cores']} cores; {m['platform']}; Python {m['python']}",
           f"- numpy {m['numpy']}, BLAS: {m.get('blas', '?')} ({m.get('blas_config', '')})",
           f"- BLAS environment: " + ", ".join(f"{k}={m.get(k, 'unset')}" for k in
                                                ("OPENBLAS_NUM_THREADS", "OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")),
           f"- date: {m['date']}; load average at start {la['start']}, at end {la['end']}",
           f"- model: {results['model']}" + ("" if results["trained"] else
                                             " — speed only: an untrained model of the default's shape"),
           f"- command: `{results['command']}`"]
    for name, date in results.get("earlier_sections", {}).items():
        out.append(f"- section `{name}` kept from an earlier run at {date}")
    out.append("")
    summary = []
    if "speed" in results:
        s = results["speed"]
        out += ["## 1. Compression and decompression speed (LSTM path: engine + rANS coder)", "",
                f"Input: {s['input']} ({s['bytes']:,} bytes), {s['streams']} streams, "
                f"{s['flops_per_byte']:,} FLOPs/byte. Load average {s['load_average'][0]} → {s['load_average'][1]}.",
                f"Roofline: GEMM alone on the engine's shapes, this run: {s['roofline_gflops']:.1f} GFLOP/s = "
                f"{s['roofline_kbps']:.1f} KB/s.", "",
                "| direction | seconds | KB/s | CPU s | fraction of roofline | target | result |",
                "|---|---:|---:|---:|---:|---|---|",
                f"| compress (`lstm_encode`) | {s['compress_s']:.1f} | {s['compress_kbps']:.1f} | "
                f"{s['compress_cpu_s']:.1f} | {100 * s['roofline_compress']:.0f} % | ≥ 50 % | "
                f"{s['targets']['roofline_compress >= 0.5']} |",
                f"| decompress (`lstm_decode`) | {s['decompress_s']:.1f} | {s['decompress_kbps']:.1f} | "
                f"{s['decompress_cpu_s']:.1f} | {100 * s['roofline_decompress']:.0f} % | ≥ 50 % | "
                f"{s['targets']['roofline_decompress >= 0.5']} |",
                f"| decompress / compress time | {s['decompress_over_compress']:.2f}× | | | | ≤ 1.2× | "
                f"{s['targets']['decompress_s <= 1.2 x compress_s']} |", "",
                f"Round trip verified: {s['verified']}. The whole codec adds {s['codec_overhead_s']:.2f} s "
                f"per {s['bytes']:,} bytes on top (zstd-19 candidate block, CRC-32, SHA-256)."
                + ("" if results["trained"] else " Bits per byte of an untrained model are meaningless."), ""]
        summary += [("1", k, v) for k, v in s["targets"].items()]
    if "streams" in results:
        st = results["streams"]
        out += ["### Speed against the stream count", "",
                f"Compression (`lstm_encode`) of {st['bytes']:,} bytes.", "",
                "| streams | KB/s | roofline KB/s (GFLOP/s) | fraction | load average |",
                "|---:|---:|---:|---:|---|"]
        out += [f"| {r['streams']} | {r['compress_kbps']:.1f} | {r['roofline_kbps']:.1f} ({r['roofline_gflops']:.1f}) "
                f"| {100 * r['roofline_compress']:.0f} % | {r['load_average'][0][0]} |" for r in st["rows"]]
        out.append("")
    if "coder" in results:
        c = results["coder"]
        out += ["### The rANS coder alone", "", c["tables"] + ".", "",
                "| lanes | symbols | encode symbols/s | decode symbols/s | target | result (enc / dec) |",
                "|---:|---:|---:|---:|---|---|"]
        for r in c["rows"]:
            t = list(r["targets"].values())
            out.append(f"| {r['lanes']} | {r['symbols']:,} | {r['encode_sym_per_s'] / 1e6:.2f} M | "
                       f"{r['decode_sym_per_s'] / 1e6:.2f} M | ≥ 2 M/s | {t[0]} / {t[1]} |")
            summary += [("1", f"coder, {r['lanes']} lanes: {k}", v) for k, v in r["targets"].items()]
        out.append("")
    if "threads" in results:
        th = results["threads"]
        out += ["### BLAS threads and kernels", "",
                "Compression (`lstm_encode`) in a fresh process per setting (OpenBLAS reads its variables when "
                "numpy is imported), with that process's own roofline (GEMMs timed before and after, best "
                "kept). Outputs are bit-identical under every "
                "setting (exact integer GEMMs); only the speed changes.", "",
                "| BLAS setting | bytes | streams | KB/s | roofline GFLOP/s | fraction | load average |",
                "|---|---:|---:|---:|---:|---:|---|"]
        out += [f"| {r['setting']} | {r['bytes']:,} | {r['streams']} | {r['compress_kbps']:.1f} | "
                f"{r['roofline_gflops']:.1f} | {pct(r['roofline_compress'])} | {r['load_average'][0][0]} |"
                for r in th["rows"]]
        if any(r["roofline_compress"] > 1 for r in th["rows"]):
            out += ["", "A fraction above 100 % means the GEMMs timed alone ran slower than inside the codec: "
                        "multi-threaded OpenBLAS on a loaded machine varies from run to run (a second thread "
                        "waiting for a busy core), so that roofline is not the machine's."]
        out.append("")
    if "memory" in results:
        mm = results["memory"]
        out += ["## 2. Peak memory", "",
                "Peak RSS of one `lstmzip compress -c FILE > /dev/null` process: `getrusage(RUSAGE_CHILDREN)."
                "ru_maxrss` of a small Python process that only runs it (spawned straight from the benchmark, a "
                "child would report at least the benchmark's own RSS: exec keeps the parent's high-water mark). "
                "The 100 MB run uses a tiny 1×8 model to finish in "
                "bounded time: memory is dominated by the 1 MiB block buffers, the engine state and the "
                "interpreter, not by the model; the 2×256 model is measured on smaller inputs. "
                f"Python + numpy + lstmzip imported alone: {mm['python_numpy_lstmzip_import_rss_bytes'] / MB:.0f} MB.",
                "", "| model | input | peak RSS | wall s | KB/s | load average |", "|---|---:|---:|---:|---:|---|"]
        out += [f"| {r['model']} | {r['bytes'] / MB:.3g} MB | {r['peak_rss_bytes'] / MB:.0f} MB | {r['wall_s']:.0f} | "
                f"{r['kbps']:.0f} | {r['load_average'][0][0]} |" for r in mm["rows"]]
        out += ["", "| target | result |", "|---|---|"] + [f"| {k} | {v} |" for k, v in mm["targets"].items()] + [""]
        summary += [("2", k, v) for k, v in mm["targets"].items()]
    if "small" in results:
        sm = results["small"]
        out += ["## 3. A 1 KB file, model load included", "",
                f"`lstmzip compress` then `lstmzip decompress` as subprocesses (2×256 model), wall time; input "
                f"{sm['input']}.", "", "| run | compress s | decompress s | total s | verified | load average |",
                "|---:|---:|---:|---:|---|---|"]
        out += [f"| {i} | {r['compress_s']:.2f} | {r['decompress_s']:.2f} | {r['total_s']:.2f} | {r['verified']} | "
                f"{r['load_average'][0][0]} |" for i, r in enumerate(sm["rows"], 1)]
        r0 = sm["rows"][0]
        out += ["", f"Median {sm['median_total_s']:.2f} s, best {sm['best_total_s']:.2f} s. Blocks written by "
                f"`lstmzip compress`: {', '.join(r0['compress_methods'])}; blocks decompressed: "
                f"{', '.join(r0['decompressed_methods'])}"
                + ("" if r0["compress_methods"] == r0["decompressed_methods"] else
                   " (the CLI's file had no lstm block, so the decompress half was timed on the same input "
                   "compressed with the lstm method forced: both halves run the model)") + "."
                + ("" if results["trained"] else " Model: the stand-in with its output bias set to byte "
                   "frequencies (`random_model(..., prior=enwik6)`), same shape and speed, so an lstm block "
                   "is possible."), ""]
        summary += [("3", k, v) for k, v in sm["targets"].items()]
    if summary:
        out[out.index("## Machine"):out.index("## Machine")] = \
            ["## Targets", "", "| § | target | result |", "|---|---|---|"] + \
            [f"| {a} | {b} | {c} |" for a, b, c in summary] + [""]
    if bench:
        from lstmzip.bench import report as rep
        out += ["## 4. Corpus benchmark (`lstmzip bench`)", "",
                "From bench/results/bench.json; plot: bench/results/bench.png. Sections 1–3 above measure the "
                "static LSTM path (level 1) and were recorded by an earlier session on a 2-core AMD EPYC, "
                "before the fused engine kernels; this section and section 5 were recorded on this "
                "session's 2-core Intel Xeon. The `lstmzip-6` rows here ran with 4 KiB cm streams; the "
                "shipped default is 8 KiB (section 5, 'Every benchmark file': 29 files 1,082,898 bytes "
                "against 1,095,315 here), chosen after this run.", ""]
        out += rep.header_lines(bench) + ["", "### Totals", ""] + rep.totals_table(bench) + [
            "", "### Bits per byte by file", ""] + rep.per_file_table(bench) + [
            "", "### How it was measured", ""] + [f"- {n}" for n in bench["notes"]] + [""]
    from cm_study import markdown_sections       # bench/cm_study.py: the context-mixing study
    cm = markdown_sections()
    if cm:
        out += ["## 5. Context mixing (levels 2–9): ablation, streams, levels", ""] + cm
    # Later studies write their own markdown fragments next to their JSON (bench/*.py).
    fragments = [("6. Many cores and clusters (`python bench/cluster_speed.py`)", ["cluster_speed.md"]),
                 ("7. The LSTM learning the file (`python bench/adapt_study.py ratio|whole|speed`)",
                  ["adapt_ratio.md", "adapt_whole.md", "adapt_speed.md"]),
                 ("8. Dictionary text transform (`python bench/transform_study.py`)", ["transform_study.md"])]
    results_dir = Path(__file__).resolve().parent / "results"
    for title, names in fragments:
        texts = [(results_dir / n).read_text().strip() for n in names if (results_dir / n).is_file()]
        if texts:
            lines = [line for t in texts for line in (t.splitlines() + [""])]
            out += [f"## {title}", ""] + [("#" + line) if line.startswith("#") else line for line in lines]
    return "\n".join(out)


def write_outputs(results: dict, out_dir: Path) -> None:
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "results").mkdir(exist_ok=True)
    path = out_dir / "results" / "codec_speed.json"
    path.write_text(json.dumps(results, indent=1) + "\n")
    bench_json = out_dir / "results" / "bench.json"
    bench = json.loads(bench_json.read_text()) if bench_json.is_file() else None
    (out_dir / "RESULTS.md").write_text(render(results, bench))


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0], epilog="\n".join(__doc__.splitlines()[2:]),
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", metavar="PATH", help="model file or name [Default: default, else the stand-in]")
    ap.add_argument("--quick", action="store_true", help="small inputs, no 100 MB run (a few minutes)")
    ap.add_argument("--blas-threads", metavar="N", help="set OPENBLAS_NUM_THREADS/OMP_NUM_THREADS for every run")
    ap.add_argument("--only", metavar="LIST", default=",".join(SECTIONS), help=f"sections [Default: all: "
                                                                               f"{','.join(SECTIONS)}]")
    ap.add_argument("--out-dir", default=str(HERE), help="where RESULTS.md and results/ go [Default: bench/]")
    ap.add_argument("--render-only", action="store_true", help="rebuild RESULTS.md from the existing JSON files")
    args = ap.parse_args(argv)
    if args.blas_threads:                       # before numpy is imported, and inherited by subprocesses
        os.environ["OPENBLAS_NUM_THREADS"] = os.environ["OMP_NUM_THREADS"] = args.blas_threads
    sys.path.insert(0, str(REPO))
    out_dir = Path(args.out_dir)
    if args.render_only:
        write_outputs(json.loads((out_dir / "results" / "codec_speed.json").read_text()), out_dir)
        return 0
    only = [s.strip() for s in args.only.split(",") if s.strip()]
    unknown = set(only) - set(SECTIONS)
    if unknown:
        ap.error(f"unknown section(s): {', '.join(sorted(unknown))}")

    from lstmzip.bench.measure import load_average, machine_info

    def log(msg):
        print(f"codec_speed [{time.strftime('%H:%M:%S')} load {load_average()[0]}]: {msg}", file=sys.stderr, flush=True)

    q = args.quick
    with tempfile.TemporaryDirectory(prefix="lstmzip-bench-") as tmp:
        work = Path(tmp)
        model, model_path, model_desc, trained = get_model(args.model, work)
        results = {"schema": "lstmzip-codec-speed/1", "machine": machine_info(),
                   "load_average": {"start": load_average()}, "model": model_desc, "model_sha256": model.sha256,
                   "trained": trained, "quick": q,
                   "command": "python bench/codec_speed.py " + " ".join(argv if argv is not None else sys.argv[1:])}
        previous = out_dir / "results" / "codec_speed.json"
        if set(only) != set(SECTIONS) and previous.is_file():
            # A partial run updates its sections and keeps the others (each records when it ran).
            old = json.loads(previous.read_text())
            if old.get("model_sha256") == model.sha256:
                kept = {k: old[k] for k in SECTIONS if k in old and k not in only}
                results["earlier_sections"] = {**old.get("earlier_sections", {}),
                                               **{k: old["machine"]["date"] for k in kept
                                                  if k not in old.get("earlier_sections", {})}}
                results.update(kept)
        if "speed" in only:
            data, what = text_sample(256 << 10 if q else MB)
            results["speed"] = section_speed(model, data, what, log)
        if "streams" in only:
            data, _ = text_sample(64 << 10 if q else 256 << 10)
            results["streams"] = section_streams(model, data, (16, 64, 256) if q else (16, 64, 256, 1024), log)
        if "coder" in only:
            results["coder"] = section_coder((256, 1024), 64 if q else 256, log)
        if "threads" in only:
            results["threads"] = section_threads(
                model_path, [(16 << 10, 16), (64 << 10, 256)] if q else [(32 << 10, 16), (128 << 10, 256)], log)
        if "memory" in only:
            results["memory"] = section_memory(model_path, (2 * MB, 8 * MB) if q else (10 * MB, 100 * MB),
                                               (MiB, 2 * MiB) if q else (MiB, 3 * MiB), work, log)
        if "small" in only:
            results["small"] = section_small(model_path if trained else prior_standin(work), work, log)
        results["load_average"]["end"] = load_average()
    write_outputs(results, out_dir)
    log(f"wrote {out_dir / 'RESULTS.md'} and {out_dir / 'results' / 'codec_speed.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
