"""Structure (issue 19): what detect() labels, and what the struct model (cm bit 16384) saves.

    python bench/struct_study.py files [--level 6] [--no-off]    # the binary files and Silesia slices
    python bench/struct_study.py tar [--level 6]                 # a tar of a real software tree

For each file: the regions detect() finds (`info -v` style), the size with the struct bit off
and on at the level (every output decoded and compared), xz -9e, zstd -19 and bzip2 -9, and the
paq8px -8 figures that issue 19 measured on this machine (paq8px is not rebuilt here). Prints
markdown tables; the numbers in bench/RESULTS.md section 9 come from these runs.

The tar: the installed matplotlib package (source, fonts, PNG images, sample data, shared
objects), files sorted by path and taken until 4 MB, fixed owner and times, so the same
matplotlib version gives the same bytes; its version is printed with the table.
"""

from __future__ import annotations

import argparse
import bz2
import io
import lzma
import os
import sys
import tarfile
import time
from pathlib import Path

import zstandard

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from lstmzip.cm import MODEL_BITS  # noqa: E402
from lstmzip.codec import Compressor, Decompressor  # noqa: E402
from lstmzip.detect import detect  # noqa: E402
from lstmzip.regions import describe  # noqa: E402

CORPORA = REPO.parent / "shared" / "corpora"
# paq8px v216 -8, measured for issue 19 on this project's machine (2026-12-03)
PAQ8PX = {"kennedy.xls": 8140, "ptt5": 19633, "pic": 19633, "sum": 6662, "obj2": 40491, "obj1": 6990,
          "geo": 42053, "mr[:1M]": 175835, "ooffice[:1M]": 254662, "nci[:1M]": 33145, "osdb[:1M]": 210639}
BINARIES = [("canterbury", "kennedy.xls"), ("canterbury", "ptt5"), ("canterbury", "sum"),
            ("calgary", "obj1"), ("calgary", "obj2"), ("calgary", "geo"), ("calgary", "pic")]
SILESIA = ["mr", "ooffice", "nci", "osdb"]


def inputs():
    for corpus, name in BINARIES:
        yield name, (CORPORA / corpus / name).read_bytes()
    for name in SILESIA:
        with bz2.open(CORPORA / "silesia" / f"{name}.bz2") as f:
            yield f"{name}[:1M]", f.read(1_000_000)


def measure(name: str, data: bytes, level: int, off: bool) -> dict:
    row = {"file": name, "bytes": len(data), "paq8px": PAQ8PX.get(name)}
    t = time.perf_counter()
    row["regions"] = describe(detect(data))
    row["detect_mbs"] = len(data) / max(1e-9, time.perf_counter() - t) / 1e6
    base = Compressor(level=level).cm_models
    for label, models in (("off", base & ~MODEL_BITS["struct"]), ("on", base | MODEL_BITS["struct"])):
        if label == "off" and not off:
            continue
        comp = Compressor(level=level, cm_models=models)
        t = time.perf_counter()
        blob = comp.compress(data)
        row[f"{label}_s"] = time.perf_counter() - t
        if Decompressor().decompress(blob) != data:
            raise SystemExit(f"{name}: round trip failed ({label})")
        row[label] = len(blob)
    row["xz"] = len(lzma.compress(data, preset=9 | lzma.PRESET_EXTREME))
    row["bzip2"] = len(bz2.compress(data, 9))
    row["zstd"] = len(zstandard.ZstdCompressor(level=19).compress(data))
    return row


def table(rows, level: int, off: bool) -> None:
    head = "| file | bytes | regions | " + ("struct off | " if off else "") + f"-{level} | bits/byte | KB/s | xz -9e | bzip2 -9 | zstd -19 | paq8px -8 | vs paq8px |"
    print(head)
    print("|" + "|".join(["---"] * (head.count("|") - 1)) + "|")
    tot = {k: 0 for k in ("bytes", "off", "on", "xz", "bzip2", "zstd", "paq8px")}
    for r in rows:
        for k in tot:
            tot[k] += r.get(k) or 0
        paq = f"{r['paq8px']:,}" if r["paq8px"] else "–"
        vs = f"{100 * (r['on'] / r['paq8px'] - 1):+.1f} %" if r["paq8px"] else "–"
        offc = f"{r['off']:,} | " if off else ""
        print(f"| {r['file']} | {r['bytes']:,} | {r['regions']} | {offc}{r['on']:,} | "
              f"{8 * r['on'] / r['bytes']:.3f} | {r['bytes'] / r['on_s'] / 1e3:.1f} | {r['xz']:,} | "
              f"{r['bzip2']:,} | {r['zstd']:,} | {paq} | {vs} |", flush=True)
    offc = f"{tot['off']:,} | " if off else ""
    print(f"| total | {tot['bytes']:,} | | {offc}{tot['on']:,} | | | {tot['xz']:,} | {tot['bzip2']:,} | "
          f"{tot['zstd']:,} | {tot['paq8px']:,} | |")


def software_tar(limit: int = 4_000_000) -> tuple[bytes, str]:
    import matplotlib
    root = Path(matplotlib.__file__).parent
    out, total = io.BytesIO(), 0
    with tarfile.open(fileobj=out, mode="w", format=tarfile.USTAR_FORMAT) as tar:
        for path in sorted(p for p in root.rglob("*") if p.is_file() and "__pycache__" not in p.parts):
            data = path.read_bytes()
            if total + len(data) > limit:
                continue
            info = tarfile.TarInfo(str(path.relative_to(root.parent)))
            info.size, info.mtime, info.mode = len(data), 0, 0o644
            tar.addfile(info, io.BytesIO(data))
            total += len(data)
    return out.getvalue(), f"matplotlib {matplotlib.__version__}"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("what", choices=("files", "tar"))
    ap.add_argument("--level", type=int, default=6)
    ap.add_argument("--no-off", action="store_true", help="skip the struct-off coding (half the time)")
    ap.add_argument("--only", action="append", help="files whose name starts with this")
    args = ap.parse_args()
    off = not args.no_off
    if args.what == "files":
        rows = [measure(n, d, args.level, off) for n, d in inputs()
                if not args.only or any(n.startswith(o) for o in args.only)]
    else:
        data, what = software_tar()
        print(f"tar of {what}: {len(data):,} bytes")
        rows = [measure("software.tar", data, args.level, off)]
    table(rows, args.level, off)


if __name__ == "__main__":
    main()
