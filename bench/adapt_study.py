"""Online adaptation of the LSTM (issue #10): what it gains and what it costs.

    python bench/adapt_study.py ratio [--limit BYTES]   # static / output layer / every layer,
                                                        # LSTM alone and in the mix, per file
    python bench/adapt_study.py whole                   # -6 static vs every layer on whole files
    python bench/adapt_study.py speed                   # -9 on enwik6 with each depth: KB/s both ways

Writes bench/results/adapt_<part>.json and a markdown fragment adapt_<part>.md (RESULTS.md
quotes them). Inputs: benchmark files from ../shared/corpora (measured, never trained on) and
Silesia's reymont (Polish prose; the default model never saw it).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(REPO))

from lstmzip.bench.measure import cpu_model, load_average  # noqa: E402
from lstmzip.cm import ALL_MODELS, MODEL_BITS  # noqa: E402
from lstmzip.codec import Compressor, Decompressor  # noqa: E402

CORPORA = REPO.parent / "shared" / "corpora"
RESULTS = HERE / "results"
FILES = ["canterbury/alice29.txt", "calgary/book1", "calgary/paper1", "calgary/progc", "enwik/enwik6",
         "silesia/reymont.bz2"]
WHOLE = ["calgary/book1", "enwik/enwik6", "silesia/reymont.bz2"]         # (reymont: its first 1 MB)
DEPTHS = [("static", False), ("output layer", "output"), ("every layer", "deep")]


def machine() -> dict:
    import os
    return {"cpu": cpu_model(), "cores": os.cpu_count(),
            "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "load_start": load_average()}


def _code(data: bytes, verify: bool = False, **kw) -> dict:
    c = Compressor(methods=("cm",), **kw)
    t0 = time.perf_counter()
    blob = c.compress(data)
    ct = time.perf_counter() - t0
    row = {"bytes": len(blob), "bpb": 8 * len(blob) / len(data), "compress_kbs": len(data) / 1024 / ct}
    if verify:
        t0 = time.perf_counter()
        assert Decompressor().decompress(blob) == data
        row["decompress_kbs"] = len(data) / 1024 / (time.perf_counter() - t0)
    return row


def ratio(limit: int) -> dict:
    report = {"machine": machine(), "limit": limit, "rows": []}
    for name in FILES:
        data = _read(name, limit)
        if data is None:
            continue
        for mix, models in (("LSTM alone", MODEL_BITS["lstm"]), ("mixed (-6)", ALL_MODELS)):
            for depth, adapt in DEPTHS:
                row = _code(data, level=6, cm_models=models, adapt=adapt)
                row.update(file=name.split("/")[-1], input=len(data), mix=mix, depth=depth)
                print(json.dumps(row), flush=True)
                report["rows"].append(row)
    report["machine"]["load_end"] = load_average()
    return report


def _read(name: str, limit: int):
    path = CORPORA / name
    if not path.is_file():
        return None
    if path.suffix == ".bz2":
        import bz2
        with bz2.open(path) as f:
            return f.read(limit)
    return path.read_bytes()[:limit]


def whole() -> dict:
    """Level 6 (the default) with a static LSTM against every layer adapting, whole files."""
    report = {"machine": machine(), "rows": []}
    for name in WHOLE:
        data = _read(name, 1 << 20)
        if data is None:
            continue
        for depth, adapt in (DEPTHS[0], DEPTHS[2]):
            row = _code(data, verify=True, level=6, adapt=adapt)
            row.update(file=name.split("/")[-1], input=len(data), depth=depth)
            print(json.dumps(row), flush=True)
            report["rows"].append(row)
    report["machine"]["load_end"] = load_average()
    return report


def speed() -> dict:
    report = {"machine": machine(), "rows": []}
    data = (CORPORA / "enwik" / "enwik6").read_bytes()
    for depth, adapt in DEPTHS:
        row = _code(data, verify=True, level=9, adapt=adapt)
        row.update(depth=depth, input=len(data))
        print(json.dumps(row), flush=True)
        report["rows"].append(row)
    report["machine"]["load_end"] = load_average()
    return report


def markdown(part: str, report: dict) -> list:
    m = report["machine"]
    out = [f"{m['cpu']}, {m['cores']} cores, {m['date']}, load average {m['load_start']} → {m['load_end']}.", ""]
    if part == "ratio":
        out += [f"First {report['limit']:,} bytes of each file, level 6 tables, forced cm method; "
                "bits/byte (compress KB/s).", "",
                "| file | LSTM alone: static | output layer | every layer | mixed: static | output layer | every layer |",
                "|---|---:|---:|---:|---:|---:|---:|"]
        by_file = {}
        for r in report["rows"]:
            by_file.setdefault(r["file"], {})[(r["mix"], r["depth"])] = r
        for f, rows in by_file.items():
            cells = [f"{rows[(mx, d)]['bpb']:.3f} ({rows[(mx, d)]['compress_kbs']:.1f})"
                     if (mx, d) in rows else "–" for mx in ("LSTM alone", "mixed (-6)") for d, _ in DEPTHS]
            out.append(f"| {f} | " + " | ".join(cells) + " |")
    elif part == "whole":
        out += ["Whole files (reymont: its first 1,048,576 bytes) at -6, the default level; decompression "
                "verified.", "",
                "| file | static: bits/byte | compress / decompress KB/s | every layer: bits/byte | compress / "
                "decompress KB/s | change |", "|---|---:|---:|---:|---:|---:|"]
        by_file = {}
        for r in report["rows"]:
            by_file.setdefault(r["file"], {})[r["depth"]] = r
        for f, rows in by_file.items():
            if len(rows) < 2:
                continue
            a, b = rows[DEPTHS[0][0]], rows[DEPTHS[2][0]]
            out.append(f"| {f} | {a['bpb']:.4f} | {a['compress_kbs']:.1f} / {a['decompress_kbs']:.1f} | "
                       f"{b['bpb']:.4f} | {b['compress_kbs']:.1f} / {b['decompress_kbs']:.1f} | "
                       f"{100 * (b['bpb'] / a['bpb'] - 1):+.2f} % |")
    else:
        out += ["enwik6 (1,000,000 bytes) at -9, each adaptation depth; decompression verified. -9 codes a text "
                "block twice (raw and word-transformed, the smaller kept: here cm+dict), so compression runs two "
                "cm passes and decompression one, over 0.75 of the bytes.", "",
                "| adaptation | bits/byte | compress KB/s | decompress KB/s |", "|---|---:|---:|---:|"]
        out += [f"| {r['depth']} | {r['bpb']:.3f} | {r['compress_kbs']:.1f} | {r['decompress_kbs']:.1f} |"
                for r in report["rows"]]
    return out + [""]


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("part", choices=["ratio", "whole", "speed"])
    ap.add_argument("--limit", type=int, default=100_000)
    args = ap.parse_args(argv)
    report = {"ratio": lambda: ratio(args.limit), "whole": whole, "speed": speed}[args.part]()
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / f"adapt_{args.part}.json").write_text(json.dumps(report, indent=1))
    md = markdown(args.part, report)
    (RESULTS / f"adapt_{args.part}.md").write_text("\n".join(md))
    print("\n".join(md))
    return 0


if __name__ == "__main__":
    sys.exit(main())
