"""`lstmzip bench`: compression ratio, speed and memory against zstd, xz, bzip2 and zstd+dictionary.

Module-level imports are stdlib only: the main CLI imports `register` at startup; numpy,
TensorFlow and matplotlib load when the command runs.
"""

from __future__ import annotations

import argparse
import sys

EPILOG = """\
examples:
  lstmzip bench --quick                                   a few truncated files, about a minute
  lstmzip bench --json bench/results/bench.json --plot bench/results/bench.png
  lstmzip bench book1 src/ -m default -m models/big.npz   your files (folders: every file inside)
  lstmzip bench --quick --backend numpy --backend tf --device gpu   tf on the GPU, checked = numpy CPU
default files: Canterbury + Calgary + enwik6 from ../shared/corpora (next to the repository) or from
`lstmzip corpus fetch canterbury calgary enwik6`. Models: a name, a .npz path, or random:LxH[:SEED]
(an untrained stand-in of that shape: speed numbers only) [Default: default, else random:2x256].
"""

# Same as baselines.NAMES (a test checks): repeated here so this module imports nothing heavy.
BASELINES = ("zstd-3", "zstd-19", "zstd-22", "zstd-19+dict", "xz-9e", "bzip2-9")


def register(subparsers) -> None:
    p = subparsers.add_parser("bench", help="benchmark lstmzip against zstd, xz, bzip2 (ratio, speed, memory)",
                              description=__doc__.splitlines()[0], epilog=EPILOG,
                              formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("paths", nargs="*", metavar="FILE|FOLDER", help="inputs [Default: Canterbury + Calgary + enwik6]")
    p.add_argument("-m", "--model", dest="models", action="append", metavar="MODEL",
                   help="model to benchmark (repeatable) [Default: default, else random:2x256]")
    p.add_argument("--backend", dest="backends", action="append", choices=("numpy", "tf"),
                   help="engine backend (repeatable) [Default: numpy]")
    p.add_argument("--device", choices=("auto", "cpu", "gpu"), default="auto",
                   help="device of the tf backend; gpu fails clearly without one [Default: auto]")
    p.add_argument("--streams", type=int, default=0, metavar="S", help="streams per block [Default: auto]")
    p.add_argument("-l", "--level", dest="levels", action="append", type=int, choices=range(1, 10), metavar="N",
                   help="compression level 1-9, repeatable (one row per level) [Default: 6]")
    p.add_argument("--baselines", default=",".join(BASELINES), metavar="LIST",
                   help=f"comma-separated, or 'none' [Default: {','.join(BASELINES)}]")
    p.add_argument("--quick", action="store_true", help="a few files cut to 24 KiB each (about a minute)")
    p.add_argument("--json", metavar="OUT", help="write the full report as JSON")
    p.add_argument("--plot", metavar="OUT.png", help="write bits per byte against speed as a PNG (matplotlib)")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress on stderr")
    p.add_argument("-v", "--verbose", action="store_true", help="also TensorFlow's start-up log (--backend tf)")
    p.set_defaults(func=run)


def _fail(msg: str) -> int:
    print(f"lstmzip bench: {msg}", file=sys.stderr)
    return 1


def run(args) -> int:
    baselines = [] if args.baselines.strip() in ("", "none") else [b.strip() for b in args.baselines.split(",")]
    unknown = [b for b in baselines if b not in BASELINES]
    if unknown:
        return _fail(f"unknown baseline {unknown[0]!r} (choose from {', '.join(BASELINES)})")
    backends = list(dict.fromkeys(args.backends or ["numpy"]))
    if args.device == "gpu" and "tf" not in backends:
        return _fail("--device gpu needs --backend tf (the numpy engine runs on the CPU)")
    if args.plot:
        try:
            import matplotlib  # noqa: F401  (fail before a long run, not after it)
        except ImportError:
            return _fail("--plot needs matplotlib: pip install 'lstmzip[plot]'")

    from ..errors import LstmzipError
    from . import report as rep
    from .run import (QUICK_BYTES, STANDIN, default_inputs, default_model_spec, inputs_from_paths, run_bench,
                      stderr_log)

    log = (lambda msg: None) if args.quiet else stderr_log
    try:
        models = args.models
        if not models:
            found = default_model_spec()
            models = [found] if found else [STANDIN]
            if not found:
                log(f"lstmzip bench: no default model installed; using the untrained stand-in {STANDIN} "
                    f"(same shape: speed numbers only, ratios meaningless)")
        inputs = inputs_from_paths(args.paths, QUICK_BYTES if args.quick else None) if args.paths \
            else default_inputs(args.quick)
        if args.quick and args.paths:
            inputs = inputs[:4]
        if not inputs:
            return _fail("no input files")
        report = run_bench(inputs, models=models, backends=backends, device=args.device,
                           streams=args.streams, baselines=baselines, log=log,
                           levels=list(dict.fromkeys(args.levels or [6])), progress=not args.quiet)
    except LstmzipError as exc:
        return _fail(str(exc))
    except KeyboardInterrupt:
        return 130
    sys.stdout.write(rep.markdown(report))
    if args.json:
        rep.write_json(report, args.json)
        log(f"lstmzip bench: wrote {args.json}")
    if args.plot:
        rep.plot(report, args.plot)
        log(f"lstmzip bench: wrote {args.plot}")
    bad = [r for r in report["results"]
           if not r["verified"] or not r["deterministic"] or r.get("identical_to_numpy_cpu") is False]
    for r in bad:
        what = ("round trip FAILED" if not r["verified"] else
                "output differs between two runs" if not r["deterministic"] else
                "output differs from the numpy CPU engine")
        print(f"lstmzip bench: {r['file']}: {r['codec']}: {what}", file=sys.stderr)
    return 1 if bad else 0
