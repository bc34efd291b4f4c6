"""Where the LSTM coding of a level -6 block pays, and how early the race can tell.

    python bench/lstm_gate_study.py FILE... [--limit BYTES] [--model PATH]

For each file (its first --limit bytes, one block): the probe's verdict (its cost against what the
raw coding without the LSTM spent on bytes 32-64 KiB), every coding's size in full (nothing
stopped), and what the LSTM coding had spent against the race's reference at each of its checks
(race.LSTM_MARGINS: 1/8, 1/4, 1/2 of its steps). A coding the race would stop is marked. Measures
only; it changes no default. Use it on files that are not the benchmark (the training corpus's
validation split, your own data): the margins were chosen that way (bench/RESULTS.md § 5.0d).
"""
import argparse
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from lstmzip import codec, race  # noqa: E402


def study(path: str, limit: int, model) -> str:
    data = open(path, "rb").read()[:limit]
    checks, sizes = [], []
    real_stopper, real_encode = race.stopper, codec.cm_encode

    def stopper(ref, steps, covered, margins, first=1):    # record every check, stop nothing
        marks, _ = real_stopper(ref, steps, covered, margins, first)

        def check(t, code_len):
            a, b = covered(t)
            checks.append((t / steps, code_len / ref.spent(a, b)))
        return marks, check

    def encode(engine, block, s, params, *a, **k):
        out = real_encode(engine, block, s, params, *a, **k)
        sizes.append((s, len(block), len(out) if out is not None else None))
        return out

    race.stopper, codec.cm_encode = stopper, encode
    try:
        c = codec.Compressor(level=6, model=model)
        t0 = time.time()
        blob = c.compress(data)
        seconds = time.time() - t0
    finally:
        race.stopper, codec.cm_encode = real_stopper, real_encode
    probe = c.stats.get("lstm_sample")
    verdict = "-" if not probe else f"{probe[0][0] / probe[0][1]:.3f}"
    lstm = [n for s, _, n in sizes if s > 1 and n is not None]
    others = [n for s, _, n in sizes if s == 1 and n is not None]
    final = "" if not lstm or not others else f"lstm/best {lstm[-1] / min(others):.3f}"
    # the LSTM coding's checks are the last ones, one per race.LSTM_MARGINS (the one-stream codings' come before)
    lstm_checks = checks[-len(race.LSTM_MARGINS):] if lstm else []
    stop = next((f for (f, r), (_, m) in zip(lstm_checks, race.LSTM_MARGINS) if r > 1 + m), None)
    shown = " ".join(f"{f:.3f}:{r:.3f}" for f, r in lstm_checks)
    return (f"{os.path.basename(path)} {len(data)} probe {verdict} codings {sizes} {final} "
            f"checks {shown or '-'} {'stopped at ' + format(stop, '.3f') if stop else ''} "
            f"(-6 {len(blob)} bytes, {seconds:.1f} s; codings in full)")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("files", nargs="+")
    ap.add_argument("--limit", type=int, default=200_000, help="bytes of each file [200000]")
    ap.add_argument("--model", default=None, help="model path or name [the default]")
    args = ap.parse_args()
    for f in args.files:
        print(study(f, args.limit, args.model), flush=True)


if __name__ == "__main__":
    main()
