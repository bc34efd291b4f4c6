"""The model card: what a shipped model was trained on, how, and what it achieves.

`write_card(model_path, bench_dirs)` compresses every benchmark file with the real codec (integer
engine, default streams) and with xz -9e and zstd -19 for comparison, then writes NAME.md beside the
model. Training facts come from the model file's own `meta` record, written at export.
"""
from __future__ import annotations

import json
import lzma
import os
import platform
import time

import zstandard

# Benchmark files that are text (the compression target); the rest are binary.
TEXT_FILES = {"alice29.txt", "asyoulik.txt", "cp.html", "fields.c", "grammar.lsp", "lcet10.txt", "plrabn12.txt",
              "xargs.1", "bib", "book1", "book2", "news", "paper1", "paper2", "paper3", "paper4", "paper5",
              "paper6", "progc", "progl", "progp", "trans"}


def bench_files(dirs: list[str]) -> list[str]:
    out = []
    for d in dirs:
        out += sorted(os.path.join(d, f) for f in os.listdir(d) if os.path.isfile(os.path.join(d, f)))
    return out


def measure(model, paths: list[str], log=print) -> list[dict]:
    """Compressed sizes of each file: lstmzip (this model), xz -9e, zstd -19."""
    import lstmzip

    rows = []
    for p in paths:
        data = open(p, "rb").read()
        t0 = time.time()
        packed = lstmzip.compress(data, model=model)
        secs = time.time() - t0
        xz = len(lzma.compress(data, preset=9 | lzma.PRESET_EXTREME))
        zst = len(zstandard.ZstdCompressor(level=19).compress(data))
        row = dict(name=os.path.basename(p), corpus=os.path.basename(os.path.dirname(p)), size=len(data),
                   lstmzip=len(packed), bpb=8.0 * len(packed) / len(data), xz=xz, zstd=zst, seconds=secs,
                   text=os.path.basename(p) in TEXT_FILES)
        log(f"  {row['corpus']}/{row['name']}: {row['bpb']:.3f} bpb ({row['lstmzip']} vs xz {xz}), "
            f"{len(data) / secs / 1000:.1f} KB/s")
        rows.append(row)
    return rows


def _table(rows: list[dict]) -> list[str]:
    out = ["| corpus | file | bytes | lstmzip bytes | **bits/byte** | xz -9e bytes | zstd -19 bytes | vs xz |",
           "|---|---|---:|---:|---:|---:|---:|---:|"]
    for r in rows:
        out.append(f"| {r['corpus']} | {r['name']}{'' if r['text'] else ' (binary)'} | {r['size']:,} | "
                   f"{r['lstmzip']:,} | **{r['bpb']:.3f}** | {r['xz']:,} | {r['zstd']:,} | "
                   f"{100 * (r['lstmzip'] / r['xz'] - 1):+.1f}% |")
    for label, sel in (("text files", [r for r in rows if r["text"]]), ("all files", rows)):
        if sel:
            n, z, x, s = (sum(r[k] for r in sel) for k in ("size", "lstmzip", "xz", "zstd"))
            out.append(f"| **total** | {label} | {n:,} | {z:,} | **{8 * z / n:.3f}** | {x:,} | {s:,} | "
                       f"{100 * (z / x - 1):+.1f}% |")
    return out


def write_card(model_path: str, bench_dirs: list[str] | None = None, hardware: str | None = None,
               log=print) -> str:
    from ..model import Model

    model = Model.load(model_path)
    c, meta = model.config, model.config.meta
    tcfg = meta.get("config", {})
    data = meta.get("data", {})
    val = meta.get("validation", {})
    lines = [f"# Model card: `{c.name}`", "",
             f"sha256 (the model's identity): `{model.sha256}`  ", f"file size: {os.path.getsize(model_path):,} bytes", "",
             "## Architecture", "",
             f"byte embedding (E={c.embed}, folded into layer 1's input table) -> {c.layers} stacked LSTM layer(s) of "
             f"H={c.hidden} units -> dense 256 logits. Integer engine: int8 weights with shifts "
             f"{c.weight_shifts} (output {c.out_shift}), gate resolution 2^-{c.gate_bits}, logit resolution "
             f"2^-{c.logit_bits}; {model.flops_per_byte / 1e6:.2f} MFLOP per byte.", "",
             "## Training data", "",
             "Never trained on the benchmark corpora (Canterbury, Calgary, large, enwik). The last "
             f"{100 * tcfg.get('val_fraction', 0.01):.0f}% of every source is held out for validation.", "",
             "| source | files | bytes used | sha256 of the bytes used |", "|---|---:|---:|---|"]
    for s in data.get("sources", []):
        lines.append(f"| `{s['name']}` | {s['files']} | {s['bytes']:,} | `{s['sha256']}` |")
    if any("fortunes" in src["name"] for src in data.get("sources", [])):
        lines += ["", "Overlap note: the Debian fortune files quote a few short passages of benchmark authors "
                  "(about 16 Lewis Carroll and a dozen Milton/Hardy quotations, a few KB in all); nothing else "
                  "in the training data comes from a benchmark text."]
    if data:
        lines += ["", f"Total {data.get('train_bytes', 0):,} training + {data.get('val_bytes', 0):,} validation bytes; "
                  f"excluded file patterns: {', '.join(data.get('exclude', [])) or 'none'}."]
    lines += ["", "## Training", "",
              f"Hardware: {hardware or platform.processor() or platform.machine()}.  ",
              f"Float phase: {meta.get('float_minutes', '?')} min, {meta.get('float_steps', '?')} steps; "
              f"QAT phase: {meta.get('minutes', '?')} min, {meta.get('steps', '?')} steps "
              f"(phase of the exported checkpoint: {meta.get('phase', '?')}).", "",
              "Config (`TrainConfig`):", "", "```json"]
    lines += [json.dumps(tcfg), "```", ""]
    curve = os.path.splitext(model_path)[0] + ".loss.png"
    if os.path.exists(curve):
        lines += [f"![loss curve: train and validation bits/byte against bytes seen]({os.path.basename(curve)})", ""]
    if val:
        lines += ["## Validation (held-out split)", "",
                  f"| model | bits/byte on {val['val_bytes']:,} validation bytes |", "|---|---:|",
                  f"| float (before QAT) | {val['float_bpb']:.4f} |",
                  f"| QAT simulation in TensorFlow | {val['qat_sim_bpb']:.4f} |",
                  f"| **integer engine (this file)** | **{val['int_bpb']:.4f}** "
                  f"({100 * (val['int_bpb'] / val['float_bpb'] - 1):+.2f}% vs float) |", ""]
    if bench_dirs:
        rows = measure(model, bench_files(bench_dirs), log=log)
        secs = sum(r["seconds"] for r in rows)
        lines += ["## Benchmark files", "",
                  "Measured with the integer engine through the real codec (`lstmzip.compress`, numpy backend, "
                  "default streams; sizes include the container, and each block falls back to zstd/stored when "
                  f"smaller). Speed over all files: {sum(r['size'] for r in rows) / secs / 1000:.1f} KB/s.", ""]
        lines += _table(rows)
        lines.append("")
    out = os.path.splitext(model_path)[0] + ".md"
    with open(out, "w") as f:
        f.write("\n".join(lines) + "\n")
    return out
