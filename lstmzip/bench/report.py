"""A bench report as markdown, JSON and a PNG plot (bits per byte against speed)."""

from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Any, Dict, List

MiB = 1 << 20


def _pct(x) -> str:
    """A fraction of the roofline. Above 100 % the GEMM timing itself was disturbed (load bursts):
    the number means nothing then, so none is printed."""
    if x is None:
        return "—"
    return "n/a (GEMM timing disturbed)" if x > 1 else f"{100 * x:.0f} %"


def _speed(x: float) -> str:
    return "∞" if math.isinf(x) else (f"{x:,.0f}" if x >= 100 else f"{x:.1f}")


def header_lines(report: Dict[str, Any]) -> List[str]:
    m, load = report["machine"], report["load_average"]
    lines = [f"Machine: {m['cpu']}, {m['cores']} cores; numpy {m['numpy']} with {m.get('blas', '?')}"
             + "".join(f"; {k}={m[k]}" for k in ("OPENBLAS_NUM_THREADS", "OPENBLAS_CORETYPE") if k in m) + ".",
             f"Date: {m['date']}. Load average at start {' '.join(map(str, load['start']))}, "
             f"at end {' '.join(map(str, load['end']))} (1/5/15 min; {m['cores']} cores: "
             f"a load above that depresses every timing)."]
    for mod in report["settings"]["models"]:
        tag = "trained" if mod["trained"] else \
            "**untrained stand-in**: speed and memory only, its sizes and ratios are meaningless"
        lines.append(f"Model {mod['name']} ({mod['layers']}×{mod['hidden']}, {mod['flops_per_byte']:,} FLOPs/byte, "
                     f"sha256 {mod['sha256'][:12]}…): {tag}.")
    return lines


def totals_table(report: Dict[str, Any]) -> List[str]:
    rows = ["| codec | compressed bytes | bits/byte | compress KB/s | decompress KB/s | peak MiB (c / d) "
            "| dict bytes | roofline (c / d) | round trip |",
            "|---|---:|---:|---:|---:|---:|---:|---:|---|"]
    for t in report["totals"]:
        name = t["codec"] + ("" if t.get("trained", True) else " *(untrained stand-in)*")
        roof = f"{_pct(t.get('roofline_compress'))} / {_pct(t.get('roofline_decompress'))}" \
            if t["kind"] == "lstmzip" else ""
        ok = "verified" if t["verified"] else "**FAILED**"
        if not t.get("deterministic", True):
            ok += ", **output differs between runs**"
        if "identical_to_numpy_cpu" in t:
            ok += ", = numpy CPU" if t["identical_to_numpy_cpu"] else ", **differs from numpy CPU**"
        if any(t.get("blocks", {}).values()):
            ok += " (blocks: " + ", ".join(f"{k} {v}" for k, v in t["blocks"].items() if v) + ")"
        dict_col = f"{t['dict_size_max']:,}" if "dict_size_max" in t else ""
        rows.append(f"| {name} | {t['size']:,} | {t['bpb']:.3f} | {_speed(t['compress_kbps'])} | "
                    f"{_speed(t['decompress_kbps'])} | {t['compress_peak_bytes'] / MiB:.1f} / "
                    f"{t['decompress_peak_bytes'] / MiB:.1f} | {dict_col} | {roof} | {ok} |")
    return rows


def per_file_table(report: Dict[str, Any]) -> List[str]:
    codecs = [t["codec"] for t in report["totals"]]
    cells: Dict[tuple, float] = {(r["file"], r["codec"]): r["bpb"] for r in report["results"]}
    rows = ["| file | bytes | " + " | ".join(codecs) + " |", "|---|---:|" + "---:|" * len(codecs)]
    for f in report["files"]:
        size = f"{f['size']:,}" + (f" (of {f['truncated_from']:,})" if f.get("truncated_from") else "")
        best = min(cells[(f["name"], c)] for c in codecs)
        vals = [(f"**{cells[(f['name'], c)]:.3f}**" if cells[(f["name"], c)] == best else
                 f"{cells[(f['name'], c)]:.3f}") for c in codecs]
        rows.append(f"| {f['name']} | {size} | " + " | ".join(vals) + " |")
    return rows


def markdown(report: Dict[str, Any]) -> str:
    n = len(report["files"])
    total = sum(f["size"] for f in report["files"])
    out = ["## lstmzip bench", ""] + header_lines(report) + [
        "", f"### Totals ({n} files, {total:,} bytes)", ""] + totals_table(report) + [
        "", "### Bits per byte by file (best in bold)", ""] + per_file_table(report) + [
        "", "### Roofline (GEMM alone, this run)", "",
        "| codec | streams | GFLOP/s | bytes/s at the roofline |", "|---|---:|---:|---:|"]
    shown = set()
    for r in report["rooflines"]:
        key = (r["codec"], r["streams"])
        if key not in shown:
            shown.add(key)
            out.append(f"| {r['codec']} | {r['streams']} | {r['gflops']:.1f} | {r['bytes_per_s']:,.0f} |")
    out += ["", "### How it was measured", ""] + [f"- {note}" for note in report["notes"]]
    return "\n".join(out) + "\n"


def write_json(report: Dict[str, Any], path) -> None:
    """Strict JSON (an infinite speed, from a zero time, becomes null), written atomically."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(_finite(report), indent=1, allow_nan=False) + "\n", encoding="utf-8")
    os.replace(tmp, path)


def _finite(value):
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(v) for v in value]
    if hasattr(value, "item"):                 # numpy scalars
        return _finite(value.item())
    return value


def plot(report: Dict[str, Any], path) -> None:
    """Bits per byte against speed (log scale): a filled marker for compression, hollow for decompression."""
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        raise ImportError("--plot needs matplotlib: pip install 'lstmzip[plot]'") from None
    fig, ax = plt.subplots(figsize=(8, 5.5), dpi=120)
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for i, t in enumerate(report["totals"]):
        c = colors[i % len(colors)]
        xs = [t["compress_kbps"], t["decompress_kbps"]]
        xs = [x if not math.isinf(x) else 1e9 for x in xs]
        label = t["codec"] + ("" if t.get("trained", True) else " (untrained stand-in)")
        ax.plot(xs, [t["bpb"]] * 2, "-", color=c, alpha=0.4, linewidth=1)
        ax.plot(xs[0], t["bpb"], "o", color=c, markersize=8, label=label)
        ax.plot(xs[1], t["bpb"], "o", markerfacecolor="none", markeredgecolor=c, markersize=8)
        ax.annotate(t["codec"], (xs[0], t["bpb"]), textcoords="offset points", xytext=(6, 5 if i % 2 == 0 else -12),
                    fontsize=7)
    ax.set_xscale("log")
    ax.set_xlabel("speed, KB/s (log scale) — filled: compression, hollow: decompression")
    ax.set_ylabel("bits per byte (lower is better)")
    load = report["load_average"]["start"]
    files = len(report["files"])
    total = sum(f["size"] for f in report["files"])
    ax.set_title(f"lstmzip bench: {files} files, {total / MiB:.1f} MiB; "
                 f"{report['machine']['cpu']}, load {load[0] if load else '?'}", fontsize=9)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=7, loc="best")
    fig.tight_layout()
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)
