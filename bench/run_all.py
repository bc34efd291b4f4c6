#!/usr/bin/env python3
"""Regenerate every benchmark result in one command.

    python bench/run_all.py [--quick] [--model PATH] [--blas-threads N]

1. `lstmzip bench` on Canterbury + Calgary + enwik6 -> bench/results/bench.{json,md,png}
2. `bench/codec_speed.py` (speed vs roofline, streams, coder, BLAS threads, memory, 1 KB file)
   -> bench/results/codec_speed.json, and bench/RESULTS.md with both.

Run it on an otherwise idle machine: every timing records the load average it ran under.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="small inputs everywhere (a few minutes)")
    ap.add_argument("--model", metavar="PATH", help="model [Default: default, else an untrained 2x256 stand-in]")
    ap.add_argument("--blas-threads", metavar="N", help="OPENBLAS_NUM_THREADS/OMP_NUM_THREADS for every run")
    ap.add_argument("--skip-corpus", action="store_true", help="keep bench/results/bench.json, run codec_speed only")
    args = ap.parse_args(argv)
    env = dict(os.environ)
    env["PYTHONPATH"] = str(REPO) + os.pathsep + env.get("PYTHONPATH", "")
    if args.blas_threads:
        env["OPENBLAS_NUM_THREADS"] = env["OMP_NUM_THREADS"] = args.blas_threads
    results = HERE / "results"
    results.mkdir(exist_ok=True)
    t0 = time.time()
    if not args.skip_corpus:
        cmd = [sys.executable, "-m", "lstmzip", "bench", "--json", str(results / "bench.json"),
               "--plot", str(results / "bench.png")] + (["--quick"] if args.quick else []) + \
              (["-m", args.model] if args.model else [])
        print("+", " ".join(cmd[1:]), file=sys.stderr, flush=True)
        with open(results / "bench.md", "w") as md:
            rc = subprocess.run(cmd, env=env, stdout=md, cwd=REPO).returncode
        if rc:
            print(f"run_all: lstmzip bench failed (exit {rc})", file=sys.stderr)
            return rc
    cmd = [sys.executable, str(HERE / "codec_speed.py")] + (["--quick"] if args.quick else []) + \
          (["--model", args.model] if args.model else []) + \
          (["--blas-threads", args.blas_threads] if args.blas_threads else [])
    print("+", " ".join(cmd[1:]), file=sys.stderr, flush=True)
    rc = subprocess.run(cmd, env=env, cwd=REPO).returncode
    print(f"run_all: done in {(time.time() - t0) / 60:.1f} min; see bench/RESULTS.md", file=sys.stderr)
    return rc


if __name__ == "__main__":
    sys.exit(main())
