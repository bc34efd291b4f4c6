"""The context-mixing study: ablation, ratio against stream count, speed and memory per level.

    python bench/cm_study.py files                      # the 29 files + enwik6 at -6 vs xz -9e, bzip2 -9
    python bench/cm_study.py ablation [--limit BYTES]   # each model off in turn, on the 29 files (default -6)
    python bench/cm_study.py ablation --no-lstm [--limit BYTES]   # ... the context models alone, one stream
    python bench/cm_study.py streams                    # ratio and speed against the stream count
    python bench/cm_study.py levels                     # speed and peak RSS of every level (enwik6)
    python bench/cm_study.py all

Each part writes bench/results/cm_<part>.json and prints a markdown table; RESULTS.md § 5 is
markdown_sections() (called by codec_speed.py): these, then the superseded v1 predictor's cm_<part>_v1.json.
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
from lstmzip import format as fmt  # noqa: E402
from lstmzip.cm import ALL_MODELS, MODEL_BITS, CMParams  # noqa: E402
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


def block_summary(blob: bytes) -> list:
    """[method, raw bytes, streams, LSTM in the mix] of each block of a compressed file: a cm block
    is coded with the LSTM when its parameters' model mask has the lstm bit (codec._cm_candidates keeps
    the smaller of the codings with and without it)."""
    import io
    out = []
    for _, bh, payload in Decompressor().blocks(io.BytesIO(blob)):
        if isinstance(bh, fmt.End):
            continue
        lstm = bh.method == fmt.LSTM
        if bh.method in fmt.CM_METHODS:
            raw = payload[fmt.TRANSFORM_HEAD.size:] if bh.method == fmt.CM_TEXT else payload
            lstm = bool(CMParams.unpack(raw).models & MODEL_BITS["lstm"])
        out.append([fmt.METHOD_NAMES[bh.method], bh.raw_len, bh.streams, lstm])
    return out


def lstm_share(blocks: list) -> float:
    """The fraction of a file's bytes in blocks that the LSTM coded."""
    n = sum(b[1] for b in blocks)
    return sum(b[1] for b in blocks if b[3]) / n if n else 0.0


# ---- ablation ------------------------------------------------------------------------------

def ablation(limit: int, lstm: bool = True) -> dict:
    """Each model switched off in turn, the model method only (no zstd/stored fallback).

    lstm: the configurations are the default -6 (every context model, and the LSTM where the
    probe says it pays: codec._cm_candidates; a block of at most LSTM_SAMPLE bytes is coded both
    ways and the smaller kept). Without: the context models alone (one stream, as -2/-3 and the
    blocks where the LSTM does not pay) at -6's table sizes -- cheaper, so on longer prefixes.
    """
    started = machine()
    lstm_bit = MODEL_BITS["lstm"]
    base = ALL_MODELS if lstm else ALL_MODELS & ~lstm_bit
    configs = [("all models (default -6: the LSTM where it pays)" if lstm else
                "all context models, no LSTM (one stream)", dict(cm_models=base))]
    for name, bit in MODEL_BITS.items():
        if lstm or name != "lstm":
            configs.append((f"without {name}", dict(cm_models=base & ~bit)))
    if lstm:
        configs.append(("no mixing: static LSTM alone (-1)", dict(level=1)))
    datas = [(f.name, f.read_bytes()[:limit] if limit else f.read_bytes()) for f in benchmark_files()]
    xz = sum(len(lzma.compress(d, preset=9 | lzma.PRESET_EXTREME)) for _, d in datas)
    rows = []
    for label, kw in configs:
        methods = ("lstm",) if kw.get("level") == 1 else ("cm",)
        c = Compressor(methods=methods, **kw)
        t0 = time.time()
        blobs = {name: c.compress(d) for name, d in datas}
        seconds = time.time() - t0
        sizes = {name: len(b) for name, b in blobs.items()}
        shares = {name: lstm_share(block_summary(b)) for name, b in blobs.items()}
        rows.append({"config": label, "total": sum(sizes.values()), "seconds": seconds, "files": sizes,
                     "lstm_share": shares})
        print(f"{label:48s} {rows[-1]['total']:9d}  {seconds:.0f} s  LSTM on "
              f"{sum(v > 0 for v in shares.values())} files", flush=True)
    total_in = sum(len(d) for _, d in datas)
    report = {"machine": started, "limit": limit, "lstm": lstm, "input_bytes": total_in, "xz_9e": xz,
              "rows": rows}
    _save("ablation" if lstm else "ablation_cm", report)
    print("\n".join(ablation_lines(report)))
    return report


def ablation_lines(report: dict) -> list:
    rows, total_in, xz, limit = report["rows"], report["input_bytes"], report["xz_9e"], report["limit"]
    base = rows[0]["total"]
    if "lstm" not in report:                             # the 2026-11-26 run: v1, LSTM in every cm block
        what = "v1 context mixing at -6, the LSTM in every cm block"
    elif report["lstm"]:
        what = ("the default -6 (the LSTM where the probe says it pays; files of at most 64 KiB are coded "
                "with and without it and the smaller kept)")
    else:
        what = "the context models alone, one stream, -6 table sizes (no LSTM anywhere)"
    out = [f"29 Canterbury + Calgary files{f', the first {limit:,} bytes of each' if limit else ''}: "
           f"{total_in:,} bytes; {what}; only the model method allowed (no zstd/stored fallback); "
           f"xz -9e on the same bytes: {xz:,}.", "",
           "| configuration | bytes | bits/byte | vs all models | vs xz -9e | seconds | files coded with the LSTM |",
           "|---|---:|---:|---:|---:|---:|---:|"]
    for r in rows:
        shares = r.get("lstm_share")
        used = f"{sum(v > 0 for v in shares.values())}" if shares is not None else ""
        out.append(f"| {r['config']} | {r['total']:,} | {8 * r['total'] / total_in:.3f} | "
                   f"{100 * (r['total'] / base - 1):+.2f} % | {100 * (r['total'] / xz - 1):+.1f} % | "
                   f"{r['seconds']:.0f} | {used} |")
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
                     "methods": dict(comp.stats["input_by_method"]), "blocks": block_summary(blob),
                     "lstm_probe": comp.stats.get("lstm_sample", [])})
        r = rows[-1]
        print(f"{r['file']:26s} {8 * r['size'] / len(data):.3f} xz {8 * r['xz_9e'] / len(data):.3f} "
              f"bz2 {8 * r['bzip2_9'] / len(data):.3f}  {len(data) / tc / 1e3:.1f} KB/s  {ok}  "
              f"lstm {lstm_share(r['blocks']):.0%}", flush=True)
    report = {"machine": started, "rows": rows}
    _save("files", report)
    print("\n".join(files_lines(report)))
    return report


# Issue #17's groups and yardsticks. paq8px v216 -8 (hxim/paq8px at 29237fb, built from source):
# measured on this project's machine by the session that filed issue #17 -- figures quoted from it.
GROUPS = {
    "text": ("14 text files", "alice29.txt asyoulik.txt lcet10.txt plrabn12.txt book1 book2 bib news "
                              "paper1 paper2 paper3 paper4 paper5 paper6".split()),
    "code": ("8 code and markup files", "fields.c grammar.lsp progc progl progp cp.html xargs.1 trans".split()),
    "binary": ("7 binary files", "kennedy.xls pic ptt5 geo sum obj1 obj2".split()),
}
PAQ8PX = {"text": 721_965, "code": 45_332, "binary": 143_602, "enwik6": 1.560, "book1": 1.908, "alice29.txt": 1.740}
# main before the v2 predictor (v1 mixing; README "Results" and issue #17)
PREVIOUS = {"all": 1_082_898, "text": 781_053, "code": 55_263, "binary": 246_594, "enwik6": 1.916,
            "book1": 2.013, "alice29.txt": 1.750}
# main before the extension (v2 mixing with regions: the 29 files' -6 run of 2026-12-03, its 7
# binary files re-measured with regions on 2026-12-04; README "Results" of 2026-12-04)
BEFORE_EXT = {"all": 980_955, "text": 756_060, "code": 50_962, "binary": 173_933, "enwik6": 1.742,
              "book1": 1.971, "alice29.txt": 1.710}
# issue #17's targets on these files: (what, our figure's key, limit; bytes or bits/byte, PASS if <=)
FILE_TARGETS = [("14 text files' total below paq8px -8's 721,965 bytes", "text", 721_964),
                ("8 code and markup files' total <= 46,700 bytes", "code", 46_700),
                ("enwik6 <= 1.62 bits/byte", "enwik6", 1.62),
                ("book1 <= 1.88 bits/byte", "book1", 1.88),
                ("alice29 <= 1.68 bits/byte", "alice29.txt", 1.68)]


def file_figures(report: dict) -> dict:
    """Group totals (bytes) and single files' bits/byte, keyed as GROUPS / PAQ8PX."""
    by = {r["file"].split("/")[-1]: r for r in report["rows"]}
    fig = {g: sum(by[f]["size"] for f in names) for g, (_, names) in GROUPS.items()}
    fig["all"] = sum(r["size"] for r in report["rows"] if not r["file"].startswith("enwik"))
    for f in ("enwik6", "book1", "alice29.txt"):
        fig[f] = 8 * by[f]["size"] / by[f]["bytes"]
    fig.update({f"{g}_xz": sum(by[f]["xz_9e"] for f in names) for g, (_, names) in GROUPS.items()})
    fig.update({f"{g}_bytes": sum(by[f]["bytes"] for f in names) for g, (_, names) in GROUPS.items()})
    return fig


def files_lines(report: dict) -> list:
    rows = report["rows"]
    new = "blocks" in rows[0]                           # else the 2026-11-26 layout
    out = ["| file | bytes | lstmzip -6 | xz -9e | bzip2 -9 | smaller than both | "
           + ("coded with the LSTM | " if new else "") + "compress KB/s | decompress/compress |",
           "|---|---:|---:|---:|---:|---|" + ("---:|" if new else "") + "---:|---:|"]
    for r in rows:
        n = r["bytes"]
        share = f"{100 * lstm_share(r['blocks']):.0f} % | " if new else ""
        out.append(f"| {r['file']} | {n:,} | {8 * r['size'] / n:.3f} | {8 * r['xz_9e'] / n:.3f} | "
                   f"{8 * r['bzip2_9'] / n:.3f} | {'yes' if r['size'] < min(r['xz_9e'], r['bzip2_9']) else '**no**'} | "
                   f"{share}{n / r['compress_s'] / 1e3:.1f} | {r['decompress_s'] / r['compress_s']:.2f} |")
    bench29 = [r for r in rows if not r["file"].startswith("enwik")]
    tot, xz, bz = (sum(r[k] for r in bench29) for k in ("size", "xz_9e", "bzip2_9"))
    wins = sum(r["size"] < min(r["xz_9e"], r["bzip2_9"]) for r in bench29)
    out += ["", f"The 29 Canterbury + Calgary files: {tot:,} bytes against xz -9e {xz:,} "
                f"({100 * (tot / xz - 1):+.1f} %) and bzip2 -9 {bz:,} ({100 * (tot / bz - 1):+.1f} %); smaller than "
                f"both on {wins} of 29. Every round trip verified: {all(r['verified'] for r in rows)}."]
    if not new:                                         # the 2026-11-26 layout: no groups
        return out
    fig = file_figures(report)

    def cell(key, v):
        return f"{v:.3f} bits/byte" if key in ("enwik6", "book1", "alice29.txt") else f"{v:,}"

    def vs(key, theirs):
        return f"{100 * (fig[key] / theirs - 1):+.1f} %"
    out += ["", "Issue #17's groups beside paq8px v216 -8 (measured on this project's machine, figures from "
                "issue #17), main before the extension (v2 mixing with regions) and main before the v2 "
                "predictor (v1 mixing, README 'Results'):", "",
            "| files | input bytes | lstmzip -6 | paq8px v216 -8 | vs paq8px | before the extension | vs | "
            "before (v1) | vs | xz -9e |",
            "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for g, (title, _) in GROUPS.items():
        out.append(f"| {title} | {fig[g + '_bytes']:,} | {fig[g]:,} | {PAQ8PX[g]:,} | {vs(g, PAQ8PX[g])} | "
                   f"{BEFORE_EXT[g]:,} | {vs(g, BEFORE_EXT[g])} | "
                   f"{PREVIOUS[g]:,} | {vs(g, PREVIOUS[g])} | {fig[g + '_xz']:,} |")
    out.append(f"| all 29 files | {sum(fig[g + '_bytes'] for g in GROUPS):,} | {fig['all']:,} | | | "
               f"{BEFORE_EXT['all']:,} | {vs('all', BEFORE_EXT['all'])} | "
               f"{PREVIOUS['all']:,} | {vs('all', PREVIOUS['all'])} | {xz:,} |")
    for key in ("enwik6", "book1", "alice29.txt"):
        out.append(f"| {key} | | {cell(key, fig[key])} | {PAQ8PX[key]:.3f} | {vs(key, PAQ8PX[key])} | "
                   f"{BEFORE_EXT[key]:.3f} | {vs(key, BEFORE_EXT[key])} | "
                   f"{PREVIOUS[key]:.3f} | {vs(key, PREVIOUS[key])} | |")
    out += ["", "| issue #17 target | lstmzip -6 | result |", "|---|---:|---|"]
    for what, key, limit in FILE_TARGETS:
        out.append(f"| {what} | {cell(key, fig[key])} | {'PASS' if fig[key] <= limit else 'MISS'} |")
    return out


# ---- stream count --------------------------------------------------------------------------

def streams() -> dict:
    inputs = [("enwik6[:512K]", (CORPORA / "enwik" / "enwik6").read_bytes()[:512 << 10]),
              ("book1[:512K]", (CORPORA / "calgary" / "book1").read_bytes()[:512 << 10])]
    rows, started = [], machine()
    for s in (8, 16, 32, 64, 128, 256):
        c = Compressor(methods=("cm",), streams=s, lstm_auto=False)     # the coding with the LSTM
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
sys.path.insert(0, sys.argv[4])
from cm_study import block_summary
from lstmzip.codec import Compressor
data = open(sys.argv[1], 'rb').read()
c = Compressor(level=int(sys.argv[2]), lstm_auto=sys.argv[5] == 'auto')
t0 = time.time(); blob = c.compress(data); tc = time.time() - t0
open(sys.argv[3], 'wb').write(blob)
import json
print(json.dumps({"size": len(blob), "seconds": tc, "peak_rss_kb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
                  "blocks": block_summary(blob)}))
"""

_CHILD_D = """
import resource, sys, time
from lstmzip.codec import Decompressor
blob = open(sys.argv[1], 'rb').read()
t0 = time.time(); out = Decompressor().decompress(blob); td = time.time() - t0
assert out == open(sys.argv[2], 'rb').read()
print(td, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
"""

# (label, level, LSTM decision): "auto" = the level as shipped; "forced" = every cm block coded with
# the LSTM (lstm_auto=False: what -6 costs where the LSTM pays, e.g. prose)
LEVEL_RUNS = [(f"-{lv}", lv, "auto") for lv in LEVELS] + [("-6, LSTM forced on", 6, "forced")]


def levels() -> dict:
    """Each level compresses enwik6 in a fresh process, and decompresses it in another (peak RSS
    of each process: ru_maxrss)."""
    path = CORPORA / "enwik" / "enwik6"
    n = path.stat().st_size
    rows, started = [], machine()
    env = dict(os.environ, PYTHONPATH=str(REPO))
    RESULTS.mkdir(exist_ok=True)
    tmp = RESULTS / "_enwik6.lstmz"
    for label, level, mode in LEVEL_RUNS:
        load = load_average()
        c = json.loads(subprocess.run([sys.executable, "-c", _CHILD, str(path), str(level), str(tmp), str(HERE), mode],
                                      env=env, capture_output=True, text=True, check=True).stdout.splitlines()[-1])
        out = subprocess.run([sys.executable, "-c", _CHILD_D, str(tmp), str(path)], env=env,
                             capture_output=True, text=True, check=True).stdout.split()
        tmp.unlink()
        td, rss_d = float(out[0]), int(out[1])
        size, tc = c["size"], c["seconds"]
        rows.append({"label": label, "level": level, "lstm": mode, "size": size, "bpb": 8 * size / n,
                     "compress_kbps": n / tc / 1e3, "decompress_kbps": n / td / 1e3, "dec_over_comp": td / tc,
                     "compress_peak_rss_mb": c["peak_rss_kb"] / 1024, "decompress_peak_rss_mb": rss_d / 1024,
                     "table_budget_mb": level_memory(level) / 2**20, "blocks": c["blocks"],
                     "lstm_share": lstm_share(c["blocks"]), "load": load})
        print(f"{label}: {8 * size / n:.3f} bpb  c {n / tc / 1e3:5.1f} KB/s  d {n / td / 1e3:5.1f} KB/s  "
              f"RSS {c['peak_rss_kb'] / 1024:.0f} / {rss_d / 1024:.0f} MB  LSTM {lstm_share(c['blocks']):.0%}  "
              f"{c['blocks']}  load {load}", flush=True)
    report = {"machine": started, "input": "enwik6", "bytes": n, "rows": rows}
    _save("levels", report)
    print("\n".join(levels_lines(report)))
    return report


def levels_lines(report: dict) -> list:
    if "default_decompress_only" in report:             # the 2026-11-26 layout
        out = [f"Input: {report['input']} ({report['bytes']:,} bytes), each level in a fresh process "
               "(compress, then decompress in the same process; peak RSS of the compressing process).", "",
               "| level | bits/byte | compress KB/s | decompress KB/s | decompress/compress time | "
               "peak RSS (compress) | table budget |", "|---|---:|---:|---:|---:|---:|---:|"]
        for r in report["rows"]:
            out.append(f"| -{r['level']} | {r['bpb']:.3f} | {r['compress_kbps']:.1f} | {r['decompress_kbps']:.1f} | "
                       f"{r['dec_over_comp']:.2f}x | {r['compress_peak_rss_mb']:.0f} MB | {r['table_budget_mb']:.0f} MB |")
        d = report["default_decompress_only"]
        return out + ["", f"Default level, decompression alone in its own process: {d['seconds']:.1f} s, "
                          f"peak RSS {d['peak_rss_mb']:.0f} MB."]
    out = [f"Input: {report['input']} ({report['bytes']:,} bytes). Each level compresses in a fresh process "
           "and decompresses (checked equal) in another; peak RSS = ru_maxrss of each process. "
           "'coded with the LSTM': share of the bytes in blocks whose coding kept the LSTM.", "",
           "| level | bits/byte | compress KB/s | decompress KB/s | decompress/compress time | "
           "peak RSS compress | peak RSS decompress | table budget | coded with the LSTM | blocks | load (1 min) |",
           "|---|---:|---:|---:|---:|---:|---:|---:|---:|---|---:|"]
    for r in report["rows"]:
        kinds = sorted({f"{b[0]}{'+lstm' if b[3] else ''} ({b[2]} streams)" for b in r["blocks"]})
        out.append(f"| {r['label']} | {r['bpb']:.3f} | {r['compress_kbps']:.1f} | {r['decompress_kbps']:.1f} | "
                   f"{r['dec_over_comp']:.2f}x | {r['compress_peak_rss_mb']:.0f} MB | "
                   f"{r['decompress_peak_rss_mb']:.0f} MB | {r['table_budget_mb']:.0f} MB | "
                   f"{100 * r['lstm_share']:.0f} % | {', '.join(kinds)} | {r['load'][0]:.2f} |")
    return out


def level_targets(report: dict) -> list:
    """(target, figure, PASS/MISS) of issue #17's speed and memory targets, from cm_levels.json."""
    by = {r["label"]: r for r in report["rows"]}
    out = []
    forced, default = by.get("-6, LSTM forced on"), by["-6"]
    if forced:
        out.append(("-6 >= 15 KB/s with the LSTM on, 1 MB input (enwik6, LSTM forced on)",
                    f"{forced['compress_kbps']:.1f} KB/s", forced["compress_kbps"] >= 15))
    worst = max(report["rows"], key=lambda r: r["dec_over_comp"])
    out.append(("decompression within 1.2x of compression time (every level)",
                f"worst {worst['dec_over_comp']:.2f}x ({worst['label']})", worst["dec_over_comp"] <= 1.2))
    for label, limit in (("-6", 1024), ("-9", 2048)):
        r = by[label]
        peak = max(r["compress_peak_rss_mb"], r["decompress_peak_rss_mb"])
        out.append((f"{label} peak RSS <= {limit // 1024} GB", f"{peak:,.0f} MB", peak <= limit))
    if forced:
        peak = max(forced["compress_peak_rss_mb"], forced["decompress_peak_rss_mb"])
        out.append(("-6 peak RSS <= 1 GB, LSTM forced on", f"{peak:,.0f} MB", peak <= 1024))
    r = by["-2"]
    out.append(("fast level -2 >= 100 KB/s (compress; decompress)",
                f"{r['compress_kbps']:.0f}; {r['decompress_kbps']:.0f} KB/s",
                min(r["compress_kbps"], r["decompress_kbps"]) >= 100))
    return [(a, b, "PASS" if ok else "MISS") for a, b, ok in out]


def _part_lines(part: str, title: str, fn, name: str) -> list:
    path = RESULTS / name
    if not path.is_file():
        return []
    rep = json.loads(path.read_text())
    m = rep["machine"]
    return [title, "", f"`python bench/cm_study.py {part}` — {m['cpu']}, {m['cores']} cores, "
            f"{m['date']}, load average {m['load_start']} → {m.get('load_end')}.", ""] + fn(rep) + [""]


# What the 2026-12-03 run (sections below) ran beside, and how to read it.
RUN_NOTES = [
    "- Beside these runs: another engineer's model training (nice 19, all of it), a paq8px -8 run on a "
    "4 MB tar (nice 19, during `files` and after) and a fuzz campaign (nice 10, during `files`): load "
    "average 2.5 to 3.6 on 2 cores. `levels`, `files` and `ablation --no-lstm` ran one after another "
    "(`bench/struct_study.py files` between the last two); each row or table gives its load.",
    "- KB/s here is 1,000 bytes per second (bytes / seconds / 1e3).",
    "- paq8px v216 -8: measured on this project's machine, figures from issue #17 (hxim/paq8px at "
    "29237fb built from source; 3–5 KB/s in 2.0–2.4 GB). 'Before the extension': main on 2026-12-04 "
    "before model bit 32768 (the 2026-12-03 -6 run, its 7 binary files re-measured with regions); "
    "'before (v1)': main before the v2 predictor, as quoted in README 'Results' and issue #17.",
    "- The -6 speed target ('with the LSTM on, 1 MB inputs') is read on the row with the LSTM forced on "
    "(lstm_auto=False: only the coding with the LSTM, 122 streams). At the shipped -6, enwik6's probe says "
    "the LSTM saves 10.0 % (7,342 against 8,159 bytes), so the block is coded three times: without the "
    "LSTM (one stream), the 64 KiB probe (8 streams) and with the LSTM (122 streams: 1.760 bits/byte, "
    "discarded for the 1.702 without).",
    "- 'coded with the LSTM' is the share of bytes whose kept coding has the LSTM in it, not whether it ran: "
    "of the 17 inputs over 64 KiB (16 files and enwik6), the probe sent 14 to a full LSTM coding and 6 of "
    "those codings lost and were discarded (ptt5, pic, book2, obj2, progl, enwik6; the probe's 'second "
    "half' is the second half of each of its 8 streams, not the same bytes as the plain coding's bytes "
    "32-64 KiB it is compared with).",
    "- -1 (the static LSTM alone): on enwik6 its coding lost to zstd -19, so the file is one zstd block "
    "(its decompression speed is zstd's).",
    "- `levels` ran before levels 2 and 3 dropped the extension's extra contexts: its -2 and -3 rows have "
    "every switch on. The shipped -2 and -3, measured after (enwik6, warm, one process, load 2.8-2.9): "
    "-2 1.750 bits/byte, 106.6 KB/s compress, 108.9 KB/s decompress (the target's row below reads the "
    "earlier run: 92; 96 KB/s, MISS; the shipped -2 passes); -3 1.721, 96.0 / 97.8 KB/s.",
    "- 'Ablation: each model removed in turn, default -6' (with the LSTM, 16 KiB prefixes) is the "
    "2026-12-03 run, before the extension; it was not re-run. The ablation without the LSTM is new "
    "(whole files, the extension's switches included).",
]


def markdown_sections() -> list:
    """The study's sections for bench/RESULTS.md, from whatever cm_*.json exist: the current
    predictor's (cm_<part>.json), then the superseded v1 predictor's (cm_<part>_v1.json)."""
    out = []
    files_path, levels_path = RESULTS / "cm_files.json", RESULTS / "cm_levels.json"
    if files_path.is_file() or levels_path.is_file():
        date = json.loads((files_path if files_path.is_file() else levels_path).read_text())["machine"]["date"][:10]
        out += [f"### 5.1 The v2 predictor with the extension ({date})", "",
                "The v2 context mixing (bit histories and state maps, match model, five mixers and a second "
                "layer, SSE chain; `docs/cm.md`) with the extension (model bit 32768: 14 more contexts, run "
                "contexts, deterministic inputs, falling mixer rates; levels 2-3 without its extra contexts) "
                "and regions (`struct`), the LSTM where a per-block probe says it pays. Machine: 2-core Intel "
                "Xeon, no GPU, shared: each part's load average is given with it.", ""]
        out += RUN_NOTES + ["",
                "Issue #17's targets:", "", "| target | measured | result |", "|---|---:|---|"]
        if files_path.is_file():
            fig = file_figures(json.loads(files_path.read_text()))
            for what, key, limit in FILE_TARGETS:
                v = fig[key]
                out.append(f"| {what} | {f'{v:.3f} bits/byte' if isinstance(v, float) else f'{v:,} bytes'} | "
                           f"{'PASS' if v <= limit else 'MISS'} |")
        if levels_path.is_file():
            out += [f"| {a} | {b} | {c} |" for a, b, c in level_targets(json.loads(levels_path.read_text()))]
        out.append("")
    parts = (("files", "#### Every benchmark file at the default level (-6)", files_lines, "cm_files.json"),
             ("ablation", "#### Ablation: each model removed in turn, default -6", ablation_lines, "cm_ablation.json"),
             ("ablation --no-lstm", "#### Ablation: each context model removed in turn, without the LSTM",
              ablation_lines, "cm_ablation_cm.json"),
             ("streams", "#### Ratio against the stream count (the coding with the LSTM)", streams_lines, "cm_streams.json"),
             ("levels", "#### Speed and memory per level", levels_lines, "cm_levels.json"))
    for part, title, fn, name in parts:
        out += _part_lines(part, title, fn, name)
    old = (("files", "#### Every benchmark file at the default level (-6, 8 KiB streams)", files_lines),
           ("ablation", "#### Ablation: each model removed in turn", ablation_lines),
           ("streams", "#### Ratio against the stream count", streams_lines),
           ("levels", "#### Speed and memory per level", levels_lines))
    superseded = [line for part, title, fn in old for line in _part_lines(part, title, fn, f"cm_{part}_v1.json")]
    if superseded:
        out += ["### 5.2 Superseded: the v1 predictor (2026-11-26)", "",
                "**Superseded by 5.1**: these tables measured the v1 context mixing (one direct counter per "
                "context, 4 + 1 mixers, two APMs; the LSTM in every cm block), which new files no longer use "
                "(v1 blocks still decode). Kept for comparison.", ""] + superseded
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("part", choices=("files", "ablation", "streams", "levels", "all"))
    ap.add_argument("--limit", type=int, default=0, help="ablation: first BYTES of each file (0 = whole files)")
    ap.add_argument("--no-lstm", action="store_true",
                    help="ablation: the context models alone, one stream (writes cm_ablation_cm.json)")
    args = ap.parse_args()
    if not CORPORA.is_dir():
        sys.exit(f"cm_study: {CORPORA} not found")
    for part in (("files", "ablation", "streams", "levels") if args.part == "all" else (args.part,)):
        print(f"\n## {part}\n", flush=True)
        if part == "files":
            files()
        elif part == "ablation":
            ablation(args.limit, lstm=not args.no_lstm)
        elif part == "streams":
            streams()
        else:
            levels()


if __name__ == "__main__":
    main()
