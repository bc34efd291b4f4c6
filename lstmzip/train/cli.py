"""`lstmzip train`: float training, quantization-aware fine-tuning and export, in one command.

Module-level imports are argparse and stdlib only: the main CLI imports `register` at startup, and
compress/decompress must never import TensorFlow.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import os
import re
import sys

from .config import PRESETS, TrainConfig, preset

EPILOG = """\
examples:
  lstmzip train notes.txt books/ 'src/**/*.c' -o mine --preset small --minutes 30
        (writes ~/.local/share/lstmzip/models/mine.npz; then `lstmzip compress -m mine FILE`)
  lstmzip train --resume --run-dir runs/mine -o mine               continue an interrupted run
  lstmzip train --export-only runs/mine/qat-best.npz -o models/mine   a path: ./models/mine.npz
  lstmzip train --card models/mine.npz --bench corpora/canterbury --bench corpora/calgary
sources are PATH[@LIMIT]: a file, folder or glob (.gz .dz .bz2 .xz read transparently);
@3M keeps the first 3 MB of that source.
"""


def _flag(name: str) -> str:
    return "--" + name.replace("_", "-")


def _field_help() -> dict:
    """{field: its comment in config.py}: the comments are the documentation of each flag."""
    helps = {}
    try:
        with open(os.path.join(os.path.dirname(__file__), "config.py"), encoding="utf-8") as f:
            for line in f:
                m = re.match(r"\s+(\w+): \w+ = .*?#\s*(.*)$", line)
                if m:
                    helps[m.group(1)] = m.group(2).replace("%", "%%")
    except OSError:
        pass
    return helps


def register(subparsers) -> None:
    p = subparsers.add_parser("train", help="train a model (TensorFlow), fine-tune it for the integer engine, export it",
                              description=__doc__.splitlines()[0], epilog=EPILOG,
                              formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("corpus", nargs="*", metavar="CORPUS", help="training sources: PATH[@LIMIT] (file, folder, glob)")
    p.add_argument("-o", "--output", metavar="NAME|PATH",
                   help="model to write (.npz added), card beside it (.md); a bare NAME goes to the user's model "
                        "folder ($XDG_DATA_HOME/lstmzip/models or ~/.local/share/lstmzip/models), where -m NAME "
                        "finds it (`lstmzip models` lists them)")
    p.add_argument("--preset", default="default", choices=list(PRESETS), help="configuration preset [Default: default]")
    p.add_argument("--run-dir", metavar="DIR", help="checkpoints, frozen corpus, logs [Default: runs/NAME]")
    p.add_argument("--resume", action="store_true", help="continue the run in --run-dir from its last checkpoint")
    p.add_argument("--stop-after", choices=["float", "qat"], help="stop after this phase (no export)")
    p.add_argument("--export-only", metavar="CHECKPOINT", help="only export this checkpoint (qat-*.npz or float-*.npz)")
    p.add_argument("--bench", action="append", default=[], metavar="DIR",
                   help="after export, measure every file in DIR (repeatable) and write the model card NAME.md")
    p.add_argument("--card", metavar="MODEL", help="only write the model card of MODEL.npz (with --bench DIRs)")
    p.add_argument("--exclude", action="append", default=[], metavar="GLOB", help="skip files whose name matches (repeatable)")
    p.add_argument("--no-progress", action="store_true", help="no tqdm bar")
    g = p.add_argument_group("configuration (TrainConfig fields; defaults from --preset)")
    helps = _field_help()
    for f in dataclasses.fields(TrainConfig):
        if f.type in (bool, "bool"):
            g.add_argument(_flag(f.name), dest=f.name, action=argparse.BooleanOptionalAction, default=None,
                           help=f"{helps.get(f.name, '')} [Default: {f.default}]")
        else:
            kind = {"int": int, "float": float, "str": str}.get(f.type if isinstance(f.type, str) else f.type.__name__, str)
            choices = ("auto", "cpu", "gpu") if f.name == "device" else None
            g.add_argument(_flag(f.name), dest=f.name, type=kind, default=None, metavar=f.name.upper(),
                           choices=choices, help=f"{helps.get(f.name, '')} [Default: {f.default}]")
    p.set_defaults(func=run)


def config_from_args(args) -> TrainConfig:
    overrides = {f.name: getattr(args, f.name) for f in dataclasses.fields(TrainConfig)
                 if getattr(args, f.name, None) is not None}
    return preset(args.preset, **overrides)


def run(args) -> int:
    try:
        return _run(args)
    except (ValueError, FileNotFoundError) as e:
        print(f"lstmzip train: error: {e}", file=sys.stderr)
        return 2


def output_path(spec: str) -> str:
    """Where `-o SPEC` writes: a path as given, a bare NAME (no folder, no .npz) into the user's
    model folder, created if need be, so that `-m NAME` finds it (lstmzip/model.py's search path)."""
    from ..model import is_model_name, user_models_dir

    if not is_model_name(spec):
        return spec
    folder = user_models_dir()
    folder.mkdir(parents=True, exist_ok=True)
    return str(folder / spec)


def _run(args) -> int:
    if args.output:
        args.output = output_path(args.output)
    name = os.path.splitext(os.path.basename(args.output))[0] if args.output else None
    run_dir = args.run_dir or (os.path.join("runs", name) if name else None)
    if args.card:
        return _card(args.card, args.bench)
    if args.export_only:
        if not args.output:
            raise ValueError("--export-only needs -o NAME or -o PATH")
        return _export(args.export_only, args.output, run_dir, args.bench)
    if not run_dir:
        raise ValueError("give -o NAME (or -o PATH) or --run-dir DIR")

    from ..tflog import import_tensorflow
    tf = import_tensorflow()  # only here (see module docstring); its start-up log only with -v

    from . import loop

    if args.resume:
        cfg = loop.load_config(run_dir)
        changed = {f.name: getattr(args, f.name) for f in dataclasses.fields(TrainConfig)
                   if getattr(args, f.name, None) is not None}
        cfg = dataclasses.replace(cfg, **changed)  # e.g. a longer --minutes
        loop.save_config(run_dir, cfg)
    else:
        if not args.corpus:
            raise ValueError("no training sources given (or use --resume)")
        cfg = config_from_args(args)
    _setup_tf(tf, cfg)
    if not args.resume:
        corpus = loop.prepare_run(run_dir, cfg, args.corpus, tuple(args.exclude))
        loop.log(f"corpus: {len(corpus.train)} train + {len(corpus.val)} val bytes from {len(corpus.sources)} sources")
        for s in corpus.sources:
            loop.log(f"  {s['name']}: {s['bytes']} bytes, {s['files']} files, sha256 {s['sha256']}")
        del corpus  # frozen in the run directory; each phase reads it from there
    loop.log(f"config: {json.dumps(dataclasses.asdict(cfg))}")
    progress = not args.no_progress
    qat_last = os.path.join(run_dir, "qat-last.npz")
    if not (args.resume and os.path.exists(qat_last)):
        loop.train_phase(run_dir, cfg, "float", resume=args.resume, progress=progress)
    if args.stop_after == "float":
        return 0
    ckpt = os.path.join(run_dir, "float-best.npz")
    if cfg.qat_minutes > 0:
        loop.train_phase(run_dir, cfg, "qat", resume=args.resume, progress=progress)
        ckpt = os.path.join(run_dir, "qat-best.npz")
    if args.stop_after == "qat" or not args.output:
        return 0
    return _export(ckpt, args.output, run_dir, args.bench)


def _setup_tf(tf, cfg: TrainConfig) -> None:
    tf.config.threading.set_intra_op_parallelism_threads(cfg.threads)
    tf.config.threading.set_inter_op_parallelism_threads(1)
    gpus = tf.config.list_physical_devices("GPU")
    if cfg.device == "cpu" and gpus:
        tf.config.set_visible_devices([], "GPU")
    elif cfg.device == "gpu" and not gpus:
        raise ValueError("--device gpu: TensorFlow sees no GPU")


def _export(ckpt: str, output: str, run_dir: str | None, bench: list[str]) -> int:
    import tensorflow as tf  # noqa: F401

    from . import export

    result = export.export_checkpoint(ckpt, output, run_dir=run_dir)
    print(json.dumps(result, indent=1), flush=True)
    name = os.path.splitext(os.path.basename(result["output"]))[0]
    print(f"model written to {result['output']}: use it with -m {result['output']}"
          + (f" or -m {name}" if _finds(name, result["output"]) else ""), flush=True)
    return _card(result["output"], bench)


def _finds(name: str, path: str) -> bool:
    """Whether `-m name` resolves to the model file at `path`."""
    from ..model import is_model_name, search_path

    if not is_model_name(name):
        return False
    for folder, _ in search_path():
        if (folder / f"{name}.npz").is_file():
            return os.path.samefile(folder / f"{name}.npz", path)
    return False


def _hardware() -> str:
    name = ""
    try:
        with open("/proc/cpuinfo") as f:
            name = next((line.split(":", 1)[1].strip() for line in f if line.startswith("model name")), "")
    except OSError:
        pass
    return f"{name or 'CPU'}, {os.cpu_count()} cores, TensorFlow CPU"


def _card(model_path: str, bench: list[str]) -> int:
    from . import card

    path = card.write_card(model_path, bench, hardware=_hardware())
    print(f"model card: {path}")
    return 0
