"""Online adaptation of the LSTM (issue #10): what it gains and what it costs.

    python bench/adapt_study.py ratio [--limit BYTES]   # static / output layer / every layer,
                                                        # LSTM alone and in the mix, per file
    python bench/adapt_study.py speed                   # -9 on enwik6 with each depth: KB/s both ways

Writes bench/results/adapt_<part>.json and a markdown fragment adapt_<part>.md (RESULTS.md
quotes them). Inputs: benchmark files from ../shared/corpora (measured, never trained on).
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
FILES = ["canterbury/alice29.txt", "calgary/book1", "calgary/paper1", "calgary/progc", "enwik/enwik6"]
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
        path = CORPORA / name
        if not path.is_file():
            continue
        data = path.read_bytes()[:limit]
        for mix, models in (("LSTM alone", MODEL_BITS["lstm"]), ("mixed (-6)", ALL_MODELS)):
            for depth, adapt in DEPTHS:
                row = _code(data, level=6, cm_models=models, adapt=adapt)
                row.update(file=name.split("/")[-1], input=len(data), mix=mix, depth=depth)
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
    ap.add_argument("part", choices=["ratio", "speed"])
    ap.add_argument("--limit", type=int, default=100_000)
    args = ap.parse_args(argv)
    report = ratio(args.limit) if args.part == "ratio" else speed()
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / f"adapt_{args.part}.json").write_text(json.dumps(report, indent=1))
    md = markdown(args.part, report)
    (RESULTS / f"adapt_{args.part}.md").write_text("\n".join(md))
    print("\n".join(md))
    return 0


if __name__ == "__main__":
    sys.exit(main())
