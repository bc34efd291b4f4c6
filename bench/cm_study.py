"""The context-mixing study: ablation, ratio against stream count, speed and memory per level.

    python bench/cm_study.py files                      # the 29 files + enwik6 at -6 vs xz -9e, bzip2 -9
    python bench/cm_study.py ablation [--limit BYTES]   # each model off in turn, on the 29 files
    python bench/cm_study.py streams                    # ratio and speed against the stream count
    python bench/cm_study.py levels                     # speed and peak RSS of every level (enwik6)
    python bench/cm_study.py all

Each part writes bench/results/cm_<part>.json and prints a markdown table; RESULTS.md quotes them.
Inputs come from ../shared/corpora (the benchmark files: never used for training).
"""

from __future__ import annotations

import argparse
import json
import lzma
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(REPO))

from lstmzip.bench.measure import cpu_model, load_average  # noqa: E402
from lstmzip.cm import ALL_MODELS, MODEL_BITS  # noqa: E402
from lstmzip.codec import LEVELS, Compressor, Decompressor, level_memory  # noqa: E402

CORPORA = REPO.parent / "shared" / "corpora"
RESULTS = HERE / "results"


def benchmark_files():
    files = sorted((CORPORA / "canterbury").iterdir()) + sorted((CORPORA / "calgary").iterdir())
    return [f for f in files if f.is_file()]


def machine() -> dict:
    return {"cpu": cpu_model(), "cores": os.cpu_count(), "python": platform.python_version(),
            "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "load_start": load_average()}


def _save(part: str, report: dict) -> None:
    RESULTS.mkdir(exist_ok=True)
    report["machine"]["load_end"] = load_average()
    (RESULTS / f"cm_{part}.json").write_text(json.dumps(report, indent=1))


# ---- ablation ------------------------------------------------------------------------------

def ablation(limit: int) -> dict:
    started = machine()
    configs = [("all models (default -6)", dict())]
    for name, bit in MODEL_BITS.items():
        configs.append((f"without {name}", dict(cm_models=ALL_MODELS & ~bit)))
    configs.append(("no mixing: static LSTM alone (-1)", dict(level=1)))
    datas = [(f.name, f.read_bytes()[:limit] if limit else f.read_bytes()) for f in benchmark_files()]
    xz = sum(len(lzma.compress(d, preset=9 | lzma.PRESET_EXTREME)) for _, d in datas)
    rows = []
    for label, kw in configs:
        methods = ("lstm",) if kw.get("level") == 1 else ("cm",)
        c = Compressor(methods=methods, **kw)
        t0 = time.time()
        sizes = {name: len(c.compress(d)) for name, d in datas}
        rows.append({"config": label, "total": sum(sizes.values()), "seconds": time.time() - t0, "files": sizes})
        print(f"{label:38s} {rows[-1]['total']:9d}  {rows[-1]['seconds']:.0f} s", flush=True)
    total_in = sum(len(d) for _, d in datas)
    report = {"machine": started, "limit": limit, "input_bytes": total_in, "xz_9e": xz, "rows": rows}
    _save("ablation", report)
    print("\n".join(ablation_lines(report)))
    return report


def ablation_lines(report: dict) -> list:
    rows, total_in, xz, limit = report["rows"], report["input_bytes"], report["xz_9e"], report["limit"]
    base = rows[0]["total"]
    out = [f"29 Canterbury + Calgary files{f', the first {limit // 1024} KiB of each' if limit else ''}: "
           f"{total_in:,} bytes; only the model method allowed (no zstd/stored fallback); xz -9e on the "
           f"same bytes: {xz:,}.", "",
           "| configuration | bytes | bits/byte | vs all models | vs xz -9e | seconds |", "|---|---:|---:|---:|---:|---:|"]
    for r in rows:
        out.append(f"| {r['config']} | {r['total']:,} | {8 * r['total'] / total_in:.3f} | "
                   f"{100 * (r['total'] / base - 1):+.1f} % | {100 * (r['total'] / xz - 1):+.1f} % | {r['seconds']:.0f} |")
    return out


# ---- every benchmark file at the default level, against xz -9e and bzip2 -9 -----------------

def files() -> dict:
    import bz2
    started = machine()
    inputs = benchmark_files() + [CORPORA / "enwik" / "enwik6"]
    comp, dec = Compressor(), Decompressor()
    rows = []
    for f in inputs:
        data = f.read_bytes()
        t0 = time.time()
        blob = comp.compress(data)
        tc = time.time() - t0
        t0 = time.time()
        ok = dec.decompress(blob) == data
        td = time.time() - t0
        rows.append({"file": f"{f.parent.name}/{f.name}", "bytes": len(data), "size": len(blob), "verified": ok,
                     "xz_9e": len(lzma.compress(data, preset=9 | lzma.PRESET_EXTREME)),
                     "bzip2_9": len(bz2.compress(data, 9)), "compress_s": tc, "decompress_s": td,
                     "methods": dict(comp.stats["input_by_method"])})
        r = rows[-1]
        print(f"{r['file']:26s} {8 * r['size'] / len(data):.3f} xz {8 * r['xz_9e'] / len(data):.3f} "
              f"bz2 {8 * r['bzip2_9'] / len(data):.3f}  {len(data) / tc / 1e3:.1f} KB/s  {ok}", flush=True)
    report = {"machine": started, "rows": rows}
    _save("files", report)
    print("\n".join(files_lines(report)))
    return report


def files_lines(report: dict) -> list:
    rows = report["rows"]
    out = ["| file | bytes | lstmzip -6 | xz -9e | bzip2 -9 | smaller than both | compress KB/s | decompress/compress |",
           "|---|---:|---:|---:|---:|---|---:|---:|"]
    for r in rows:
        n = r["bytes"]
        out.append(f"| {r['file']} | {n:,} | {8 * r['size'] / n:.3f} | {8 * r['xz_9e'] / n:.3f} | "
                   f"{8 * r['bzip2_9'] / n:.3f} | {'yes' if r['size'] < min(r['xz_9e'], r['bzip2_9']) else '**no**'} | "
                   f"{n / r['compress_s'] / 1e3:.1f} | {r['decompress_s'] / r['compress_s']:.2f} |")
    bench29 = [r for r in rows if not r["file"].startswith("enwik")]
    tot, xz, bz = (sum(r[k] for r in bench29) for k in ("size", "xz_9e", "bzip2_9"))
    wins = sum(r["size"] < min(r["xz_9e"], r["bzip2_9"]) for r in bench29)
    out += ["", f"The 29 Canterbury + Calgary files: {tot:,} bytes against xz -9e {xz:,} "
                f"({100 * (tot / xz - 1):+.1f} %) and bzip2 -9 {bz:,} ({100 * (tot / bz - 1):+.1f} %); smaller than "
                f"both on {wins} of 29. Every round trip verified: {all(r['verified'] for r in rows)}."]
    return out


# ---- stream count --------------------------------------------------------------------------

def streams() -> dict:
    inputs = [("enwik6[:512K]", (CORPORA / "enwik" / "enwik6").read_bytes()[:512 << 10]),
              ("book1[:512K]", (CORPORA / "calgary" / "book1").read_bytes()[:512 << 10])]
    rows, started = [], machine()
    for s in (8, 16, 32, 64, 128, 256):
        c = Compressor(methods=("cm",), streams=s)
        for name, data in inputs:
            t0 = time.time()
            n = len(c.compress(data))
            dt = time.time() - t0
            rows.append({"input": name, "streams": s, "size": n, "bpb": 8 * n / len(data),
                         "kbps": len(data) / dt / 1e3})
            print(f"{name:14s} S={s:3d}  {8 * n / len(data):.3f} bpb  {len(data) / dt / 1e3:5.1f} KB/s", flush=True)
    report = {"machine": started, "rows": rows}
    _save("streams", report)
    print("\n".join(streams_lines(report)))
    return report


def streams_lines(report: dict) -> list:
    out = ["| input | streams | bits/byte | compress KB/s |", "|---|---:|---:|---:|"]
    for r in report["rows"]:
        out.append(f"| {r['input']} | {r['streams']} | {r['bpb']:.3f} | {r['kbps']:.1f} |")
    return out


# ---- levels: speed and peak memory in a fresh process each --------------------------------

_CHILD = """
import resource, sys, time
from lstmzip.codec import Compressor, Decompressor
data = open(sys.argv[1], 'rb').read()
c = Compressor(level=int(sys.argv[2]))
t0 = time.time(); blob = c.compress(data); tc = time.time() - t0
rss_c = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
d = Decompressor()
t0 = time.time(); out = d.decompress(blob); td = time.time() - t0
assert out == data
print(len(blob), tc, td, rss_c, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
"""

_CHILD_D = """
import resource, sys, time
from lstmzip.codec import Decompressor
blob = open(sys.argv[1], 'rb').read()
t0 = time.time(); Decompressor().decompress(blob); td = time.time() - t0
print(td, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
"""


def levels() -> dict:
    path = CORPORA / "enwik" / "enwik6"
    n = path.stat().st_size
    rows, started = [], machine()
    env = dict(os.environ, PYTHONPATH=str(REPO))
    for level in LEVELS:
        out = subprocess.run([sys.executable, "-c", _CHILD, str(path), str(level)], env=env,
                             capture_output=True, text=True, check=True).stdout.split()
        size, tc, td, rss_c, rss_both = int(out[0]), float(out[1]), float(out[2]), int(out[3]), int(out[4])
        rows.append({"level": level, "size": size, "bpb": 8 * size / n, "compress_kbps": n / tc / 1e3,
                     "decompress_kbps": n / td / 1e3, "dec_over_comp": td / tc,
                     "compress_peak_rss_mb": rss_c / 1024, "table_budget_mb": level_memory(level) / 2**20})
        print(f"-{level}: {8 * size / n:.3f} bpb  c {n / tc / 1e3:5.1f} KB/s  d {n / td / 1e3:5.1f} KB/s  "
              f"RSS {rss_c / 1024:.0f} MB", flush=True)
    # decompression alone, in its own process (its peak is not hidden by the compressor's)
    blob = Compressor().compress(path.read_bytes())
    tmp = RESULTS / "_enwik6.lstmz"
    RESULTS.mkdir(exist_ok=True)
    tmp.write_bytes(blob)
    out = subprocess.run([sys.executable, "-c", _CHILD_D, str(tmp)], env=env, capture_output=True,
                         text=True, check=True).stdout.split()
    tmp.unlink()
    report = {"machine": started, "input": "enwik6", "bytes": n, "rows": rows,
              "default_decompress_only": {"seconds": float(out[0]), "peak_rss_mb": int(out[1]) / 1024}}
    _save("levels", report)
    print("\n".join(levels_lines(report)))
    return report


def levels_lines(report: dict) -> list:
    out = [f"Input: {report['input']} ({report['bytes']:,} bytes), each level in a fresh process "
           "(compress, then decompress in the same process; peak RSS of the compressing process).", "",
           "| level | bits/byte | compress KB/s | decompress KB/s | decompress/compress time | "
           "peak RSS (compress) | table budget |", "|---|---:|---:|---:|---:|---:|---:|"]
    for r in report["rows"]:
        out.append(f"| -{r['level']} | {r['bpb']:.3f} | {r['compress_kbps']:.1f} | {r['decompress_kbps']:.1f} | "
                   f"{r['dec_over_comp']:.2f}x | {r['compress_peak_rss_mb']:.0f} MB | {r['table_budget_mb']:.0f} MB |")
    d = report["default_decompress_only"]
    out += ["", f"Default level, decompression alone in its own process: {d['seconds']:.1f} s, "
                f"peak RSS {d['peak_rss_mb']:.0f} MB."]
    return out


def markdown_sections() -> list:
    """The study's sections for bench/RESULTS.md, from whatever cm_*.json exist."""
    out = []
    parts = (("files", "Every benchmark file at the default level (-6, 8 KiB streams)", files_lines),
             ("ablation", "Ablation: each model removed in turn", ablation_lines),
             ("streams", "Ratio against the stream count", streams_lines),
             ("levels", "Speed and memory per level", levels_lines))
    for part, title, fn in parts:
        path = RESULTS / f"cm_{part}.json"
        if path.is_file():
            rep = json.loads(path.read_text())
            m = rep["machine"]
            out += [f"### {title}", "", f"`python bench/cm_study.py {part}` — {m['cpu']}, {m['cores']} cores, "
                    f"{m['date']}, load average {m['load_start']} → {m.get('load_end')}.", ""] + fn(rep) + [""]
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("part", choices=("files", "ablation", "streams", "levels", "all"))
    ap.add_argument("--limit", type=int, default=0, help="ablation: first BYTES of each file (0 = whole files)")
    args = ap.parse_args()
    if not CORPORA.is_dir():
        sys.exit(f"cm_study: {CORPORA} not found")
    for part in (("files", "ablation", "streams", "levels") if args.part == "all" else (args.part,)):
        print(f"\n## {part}\n", flush=True)
        if part == "files":
            files()
        elif part == "ablation":
            ablation(args.limit)
        elif part == "streams":
            streams()
        else:
            levels()


if __name__ == "__main__":
    main()
