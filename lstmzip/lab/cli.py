"""The ``lstmzip lab`` subcommand.

Only argparse is imported here: the main CLI imports every subcommand's
``register`` at startup, and ``compress``/``decompress`` must not pay for numpy,
TensorFlow or matplotlib. The experiments are imported when ``lab`` runs.
"""

import argparse

from . import NAMES


def register(subparsers) -> None:
    """Add ``lab`` to an argparse subparsers object; sets ``func`` to ``main``."""
    p = subparsers.add_parser(
        "lab", help="run an RNN experiment (plots + JSON)",
        description="Run one of the lab experiments (or all of them); each writes NAME.png "
                    "and NAME.json into --out. Needs TensorFlow and matplotlib: "
                    "pip install 'lstmzip[train,plot]'.")
    p.add_argument("name", choices=NAMES + ("all",), help="experiment to run")
    p.add_argument("--out", metavar="DIR", default="lab-out", help="output folder [Default: lab-out]")
    p.add_argument("--seed", metavar="N", type=int, default=0, help="random seed [Default: 0]")
    p.add_argument("--quick", action="store_true", help="small settings: each experiment in seconds")
    p.add_argument("--scale", type=float, default=None,
                   help="timer: duration scale, 1.0 = 1000*u2 steps [Default: 1.0, 0.05 with --quick]")
    p.add_argument("--model", metavar="PATH", default=None,
                   help="gradients: also measure this trained lstmzip model (.npz)")
    p.add_argument("-v", "--verbose", action="store_true", help="also TensorFlow's start-up log")
    p.set_defaults(func=main)


def main(args: argparse.Namespace) -> int:
    """Run the chosen experiment(s); print one summary line each. Returns the exit code."""
    import json
    import sys
    import time
    from pathlib import Path

    from ._common import MissingExtra

    if args.scale is not None and not args.scale > 0:
        print("lstmzip lab: error: --scale must be positive", file=sys.stderr)
        return 2
    names = NAMES if args.name == "all" else (args.name,)
    options = {"timer": {"scale": args.scale}, "gradients": {"model": args.model}}
    out = Path(args.out)
    for k, name in enumerate(names, 1):
        print(f"lstmzip lab: {name}" + (f" ({k}/{len(names)})" if len(names) > 1 else "") + " ...",
              file=sys.stderr, flush=True)            # each experiment takes seconds to a minute
        t0 = time.perf_counter()
        try:
            from . import EXPERIMENTS
            results = EXPERIMENTS[name](out, seed=args.seed, quick=args.quick, **options.get(name, {}))
        except MissingExtra as exc:
            print(f"lstmzip lab: error: {exc}", file=sys.stderr)
            return 1
        except OSError as exc:              # unreadable --model, unwritable --out (LstmzipError too)
            print(f"lstmzip lab {name}: error: {exc}", file=sys.stderr)
            return 1
        print(f"{name}: {time.perf_counter() - t0:.1f}s -> {out / name}.png, {out / name}.json")
        print("  " + json.dumps(headline(name, results)))
    return 0


def headline(name: str, r: dict) -> dict:
    """The few numbers worth printing from an experiment's results."""
    if name == "timer":
        return {k: round(r[k]["test_nmse"], 4) for k in ("rnn", "lstm", "esn")}
    if name == "unroll":
        return {k: r["check"][k] for k in ("max_abs_diff_vs_autodiff", "max_rel_diff_vs_finite_differences")}
    if name == "cliff":
        return {k: {"end": [round(v, 3) for v in r[k]["end"]], "loss": round(r[k]["end_loss"], 5)}
                for k in ("unclipped", "clipped")} | {
                    "largest_gradient": round(r["clipped"]["largest_gradient_norm"], 2)}
    if name == "gradients":
        return {k: f"{v['ratio_over_horizon']:.3g}" for k, v in {**r["weak"], **r["lstmzip_model"]}.items()}
    if name == "memory":
        return {"read": r["lstm"]["value_read"], "d_read_d_write": r["lstm"]["d_read_d_state_at_write"],
                "tanh_w=1": r["tanh_w=1"]["d_read_d_state_at_write"]}
    return {}
