"""Does the peers' English word transform (lstmzip/transform.py) pay in front of lstmzip's models?

    python bench/transform_study.py dict       # build lstmzip/data/english.dic (training-allowed text only)
    python bench/transform_study.py measure    # the table: variant x level x file -> bits/byte
    python bench/transform_study.py speed      # forward/inverse throughput
    python bench/transform_study.py full       # whole files, raw vs english-v1, level 6
    python bench/transform_study.py sample     # 32 KB samples (head, middle): a cheap per-block test?
    python bench/transform_study.py train-text DIR         # dickens raw / transformed, for `lstmzip train`
    python bench/transform_study.py models RAW.npz WRT.npz # each model on the text it was trained for

The dictionary is built only from text the default model may train on (models/default.md):
Silesia dickens, tinyshakespeare, Debian fortunes, dict-gcide and perl-doc -- never from
Canterbury, Calgary, large/ or enwik/, which are the benchmark. Benchmark files are only measured.

`measure` codes slices of benchmark files with the cm method forced (no zstd fallback), at level 6
with the LSTM and with the context models only, raw and through each variant; a transformed size
includes one byte for the transform id a block header would need. Results:
bench/results/transform_study.json and .md (docs/transform.md discusses them).
"""

from __future__ import annotations

import argparse
import bz2
import collections
import glob
import gzip
import json
import os
import re
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from lstmzip.transform import WordTransform, parse_words, read_dictionary  # noqa: E402

CORPORA = ROOT.parent / "shared" / "corpora"
DICT_PATH = ROOT / "lstmzip" / "data" / "english.dic"
RESULTS = ROOT / "bench" / "results"

# ---- the dictionary ---------------------------------------------------------------------

def dict_sources():
    """(name, bytes) of the training-allowed text the dictionary is counted from."""
    def files(pattern):
        out = []
        for f in sorted(glob.glob(pattern)):
            if os.path.isfile(f) and not os.path.islink(f) and not f.endswith((".dat", ".u8")):
                with open(f, "rb") as fh:
                    out.append(fh.read())
        return b"\n".join(out)
    yield "silesia/dickens", bz2.open(CORPORA / "silesia" / "dickens.bz2").read()
    yield "misc/tinyshakespeare", (CORPORA / "misc" / "tinyshakespeare.txt").read_bytes()
    data = files("/usr/share/games/fortunes/*")
    if not data:
        raise SystemExit("/usr/share/games/fortunes: not found (apt-get install fortunes)")
    yield "fortunes", data
    gcide = "/usr/share/dictd/gcide.dict.dz"
    if not os.path.exists(gcide):
        raise SystemExit(f"{gcide}: not found (apt-get install dict-gcide)")
    yield "dict-gcide", gzip.open(gcide).read()


def build_dict(size: int = 8256, n1: int = 64, order: str = "suffix"):
    """Words ranked by the mean of the middle two of their four relative frequencies (one per
    source: every source weighs the same, and no single source's quirks -- gcide's "webster",
    Shakespeare's "thou" -- can lift a word). The n1 most frequent words of two or
    more letters get one-byte codes; the next words of three or more letters two-byte codes,
    listed in `order` ('freq', or 'suffix': sorted by their reversed spelling, so that words
    sharing a lead byte share an ending)."""
    freqs, info = collections.defaultdict(list), []
    for name, data in dict_sources():
        c = collections.Counter(w.lower() for w in re.findall(rb"[A-Za-z]+", data))
        total = sum(c.values())
        info.append((name, len(data), total))
        for w, k in c.items():
            freqs[w].append(k / total)
    score = {}
    for w, f in freqs.items():
        f = sorted(f + [0.0] * (len(info) - len(f)))
        score[w] = (f[1] + f[2]) / 2
    ranked = [w for w, s in sorted(score.items(), key=lambda kv: (-kv[1], kv[0]))
              if s > 0 and len(w) >= 2]
    one = ranked[:n1]
    two = [w for w in ranked[n1:] if len(w) >= 3][:size - n1]
    if order == "suffix":
        two.sort(key=lambda w: w[::-1])
    return [w.decode() for w in one + two], info


def write_dict(path: Path = DICT_PATH, **kw):
    words, info = build_dict(**kw)
    path.parent.mkdir(parents=True, exist_ok=True)
    head = ["# lstmzip English word dictionary, one lower-case word per line, in code order.",
            "# Built by bench/transform_study.py dict from training-allowed text only:"]
    head += [f"#   {name}: {n:,} bytes, {w:,} words" for name, n, w in info]
    head.append(f"# {len(words)} words; parameters {json.dumps(kw, sort_keys=True)}")
    path.write_text("\n".join(head + words) + "\n")
    print(f"{path}: {len(words)} words")


# ---- the variants -------------------------------------------------------------------------

def variants(words):
    """name -> transform (None: the raw bytes). All dictionaries are prefixes/subsets of `words`."""
    top = words[:64]
    return {
        "raw": None,
        "caps": WordTransform((), 0, caps=True),
        "dict64": WordTransform(top, 64, caps=True),
        "dict-full": WordTransform(words, 64, caps=True),
        "dict-full-nocaps": WordTransform(words, 64, caps=False),
    }


FILES = [  # (corpus path, slice length) -- benchmark files: measured, never used to build anything
    ("calgary/book1", 200_000), ("canterbury/alice29.txt", 152_089), ("enwik/enwik6", 200_000),
    ("calgary/bib", 111_261), ("calgary/paper1", 53_161), ("calgary/news", 200_000),
    ("calgary/progc", 39_611), ("canterbury/kennedy.xls", 200_000),
]
QUICK_FILES = [("canterbury/alice29.txt", 60_000), ("calgary/progc", 39_611)]


def compressors():
    from lstmzip.cm import ALL_MODELS, MODEL_BITS
    from lstmzip.codec import Compressor
    return {"L6": Compressor(level=6, methods=("cm",)),
            "L6-noLSTM": Compressor(level=6, methods=("cm",), cm_models=ALL_MODELS & ~MODEL_BITS["lstm"])}


def measure(files, variant_names=None, levels=None):
    words = parse_words(read_dictionary(str(DICT_PATH)))
    vs = variants(words)
    comps = compressors()
    rows = []
    for rel, length in files:
        data = (CORPORA / rel).read_bytes()[:length]
        for vname, tr in vs.items():
            if variant_names and vname not in variant_names:
                continue
            t0 = time.perf_counter()
            coded = data if tr is None else tr.forward(data)
            t_fwd = time.perf_counter() - t0
            if tr is not None:
                assert tr.inverse(coded) == data, (rel, vname)
            for lname, comp in comps.items():
                if levels and lname not in levels:
                    continue
                t0 = time.perf_counter()
                size = len(comp.compress(coded)) + (0 if tr is None else 1)
                row = dict(file=rel.split("/")[1], bytes=len(data), variant=vname, level=lname,
                           transformed_bytes=len(coded), size=size, bpb=round(8 * size / len(data), 4),
                           seconds=round(time.perf_counter() - t0, 2), fwd_seconds=round(t_fwd, 4))
                rows.append(row)
                print(json.dumps(row), flush=True)
    return rows


SECTIONS = {
    "shipped": "The shipped `default` model (2x256, trained on raw text): `measure`",
    "full": "Whole files, one level-6 block each, shipped model: `full`",
    "trained": ("Two small models (2 x 96, embed 16) trained alike (2,500 steps of 64 x 64 bytes, 150 QAT steps) "
                "on dickens[:6 MB], raw or transformed; each codes the text it was trained for: `models`"),
}


def table(rows):
    files = list(dict.fromkeys(r["file"] for r in rows))
    vnames = list(dict.fromkeys(r["variant"] for r in rows))
    levels = list(dict.fromkeys(r["level"] for r in rows))
    get = {(r["file"], r["variant"], r["level"]): r for r in rows}
    out = []
    for lv in levels:
        out += [f"**{lv}**", "", "| file (slice) | " + " | ".join(vnames) + " |",
                "|---|" + "---:|" * len(vnames)]
        for f in files:
            base = get.get((f, "raw", lv))
            cells = []
            for v in vnames:
                r = get.get((f, v, lv))
                if r is None:
                    cells.append("")
                elif base is None or v == "raw":
                    cells.append(f"{r['bpb']:.3f}")
                else:
                    cells.append(f"{r['bpb']:.3f} ({100 * (r['size'] / base['size'] - 1):+.1f} %)")
            n = next(r["bytes"] for r in rows if r["file"] == f)
            out.append(f"| {f} ({n:,}) | " + " | ".join(cells) + " |")
        out.append("")
    return out


def report(section, rows, name="transform_study"):
    """Store `rows` as `section` of bench/results/NAME.json (other sections kept); rewrite NAME.md."""
    RESULTS.mkdir(parents=True, exist_ok=True)
    path_json, path_md = RESULTS / f"{name}.json", RESULTS / f"{name}.md"
    results = json.loads(path_json.read_text()) if path_json.exists() else {}
    results[section] = rows
    path_json.write_text(json.dumps(results, indent=1) + "\n")
    out = ["# Word transform study: bits/byte of the original bytes",
           "", "cm method forced (no zstd fallback); a transformed size includes 1 byte for the transform id. "
           "Generated by `python bench/transform_study.py measure` / `models`; discussion in docs/transform.md.", ""]
    for sec, title in SECTIONS.items():
        if sec in results:
            out += [f"## {title}", ""] + table(results[sec])
    if "sample" in results:
        out += ["## Level 6 on 32 KB samples (head / middle of the file), shipped model: `sample`", "",
                "| file | sample | raw bytes | english-v1 bytes | change |", "|---|---|---:|---:|---:|"]
        out += [f"| {r['file']} | {r['where']} | {r['raw']:,} | {r['english']:,} | {r['gain_pct']:+.2f} % |"
                for r in results["sample"]]
        out.append("")
    path_md.write_text("\n".join(out))
    print("\n".join(out))


def speed():
    words = parse_words(read_dictionary(str(DICT_PATH)))
    data = (CORPORA / "calgary" / "book1").read_bytes()
    for name, tr in variants(words).items():
        if tr is None:
            continue
        t0 = time.perf_counter()
        coded = tr.forward(data)
        t1 = time.perf_counter()
        back = tr.inverse(coded)
        t2 = time.perf_counter()
        assert back == data
        print(f"{name:18s} {len(coded) / len(data):.3f} of the size; forward {len(data) / (t1 - t0) / 1e6:.1f} MB/s, "
              f"inverse {len(data) / (t2 - t1) / 1e6:.1f} MB/s")


FULL_FILES = ["enwik/enwik6", "canterbury/lcet10.txt", "canterbury/plrabn12.txt"]
SAMPLE_FILES = ["enwik/enwik6", "calgary/book1", "canterbury/alice29.txt", "calgary/news", "calgary/bib",
                "canterbury/lcet10.txt", "canterbury/plrabn12.txt", "calgary/paper1"]


def measure_full():
    """Whole files at level 6 (one block each), raw and through english-v1."""
    from lstmzip import transform
    tr = transform.english(str(DICT_PATH))
    comp = compressors()["L6"]
    rows = []
    for rel in FULL_FILES:
        data = (CORPORA / rel).read_bytes()
        for vname, coded in (("raw", data), ("english-v1", tr.forward(data))):
            t0 = time.perf_counter()
            size = len(comp.compress(coded)) + (vname != "raw")
            rows.append(dict(file=rel.split("/")[1], bytes=len(data), variant=vname, level="L6", size=size,
                             bpb=round(8 * size / len(data), 4), seconds=round(time.perf_counter() - t0, 1)))
            print(json.dumps(rows[-1]), flush=True)
    return rows


def measure_sample(size: int = 32768):
    """Level 6 on a sample of `size` bytes (the head and the middle of each file), raw and
    transformed: would coding a sample both ways choose the transform where the whole file gains?"""
    from lstmzip import transform
    tr = transform.english(str(DICT_PATH))
    comp = compressors()["L6"]
    rows = []
    for rel in SAMPLE_FILES:
        data = (CORPORA / rel).read_bytes()
        mid = max(0, len(data) // 2 - size // 2)
        for where, x in (("head", data[:size]), ("mid", data[mid:mid + size])):
            a, b = len(comp.compress(x)), len(comp.compress(tr.forward(x)))
            rows.append(dict(file=rel.split("/")[1], sample=size, where=where, raw=a, english=b,
                             gain_pct=round(100 * (b / a - 1), 2)))
            print(json.dumps(rows[-1]), flush=True)
    return rows


def train_text(out: Path, limit: int = 6_000_000):
    """The same training text twice: raw, and through the shipped transform (docs/transform.md)."""
    from lstmzip import transform
    data = bz2.open(CORPORA / "silesia" / "dickens.bz2").read()[:limit]
    out.mkdir(parents=True, exist_ok=True)
    (out / "raw.txt").write_bytes(data)
    (out / "wrt.txt").write_bytes(transform.forward(data))
    print(f"{out}/raw.txt {len(data):,} bytes, {out}/wrt.txt {len(transform.forward(data)):,} bytes")


MODEL_FILES = [("canterbury/alice29.txt", 152_089), ("calgary/book1", 200_000), ("calgary/paper1", 53_161),
               ("enwik/enwik6", 200_000), ("calgary/news", 200_000), ("calgary/progc", 39_611)]


def measure_models(raw_model: str, wrt_model: str):
    """Model A (trained on raw text) on raw slices against model B (trained on transformed text)
    on transformed slices: LSTM + context models (L6) and the LSTM alone. The two models were
    trained by (run in the folder of train-text's output):

        lstmzip train --preset small --layers 2 --hidden 96 --embed 16 --batch 64 --max-steps 2500 \
            --minutes 120 --qat-steps 150 --qat-minutes 60 -o raw.npz --run-dir run-raw raw.txt
        (the same with wrt.npz, run-wrt, wrt.txt)
    """
    from lstmzip import transform
    from lstmzip.cm import MODEL_BITS
    from lstmzip.codec import Compressor
    rows = []
    for rel, length in MODEL_FILES:
        data = (CORPORA / rel).read_bytes()[:length]
        for vname, model, coded in (("raw", raw_model, data), ("english-v1", wrt_model, transform.forward(data))):
            for lname, models in (("L6", None), ("LSTM only", MODEL_BITS["lstm"])):
                kw = {} if models is None else {"cm_models": models}
                comp = Compressor(model=model, level=6, methods=("cm",), **kw)
                size = len(comp.compress(coded)) + (vname != "raw")
                row = dict(file=rel.split("/")[1], bytes=len(data), variant=vname, level=lname,
                           model=Path(model).stem, size=size, bpb=round(8 * size / len(data), 4))
                rows.append(row)
                print(json.dumps(row), flush=True)
    return rows


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("what", choices=["dict", "measure", "speed", "full", "sample", "train-text", "models"])
    ap.add_argument("paths", nargs="*", help="train-text: DIR; models: RAW.npz WRT.npz")
    ap.add_argument("--quick", action="store_true", help="two small slices")
    ap.add_argument("--variants", nargs="*")
    ap.add_argument("--levels", nargs="*")
    ap.add_argument("--out", default="transform_study")
    a = ap.parse_args()
    if a.what == "dict":
        write_dict()
    elif a.what == "speed":
        speed()
    elif a.what == "full":
        report("full", measure_full(), a.out)
    elif a.what == "sample":
        report("sample", measure_sample(), a.out)
    elif a.what == "train-text":
        train_text(Path(a.paths[0]))
    elif a.what == "models":
        report("trained", measure_models(*a.paths), a.out)
    else:
        report("shipped", measure(QUICK_FILES if a.quick else FILES, a.variants, a.levels), a.out)


if __name__ == "__main__":
    main()
