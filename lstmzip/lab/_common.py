"""Plumbing shared by the lab experiments: optional imports, seeding, writing results.

Nothing here knows about RNNs. TensorFlow and matplotlib are optional extras, so
they are imported only when an experiment asks for them, and a missing one
raises ``MissingExtra`` with the pip command that installs it.
"""

from __future__ import annotations

import json
import math
from pathlib import Path


class MissingExtra(ImportError):
    """An optional dependency (an lstmzip extra) is not installed."""


def pyplot():
    """matplotlib.pyplot on the non-interactive Agg backend (PNG files only)."""
    try:
        import matplotlib
    except ImportError:
        raise MissingExtra("the lab draws its plots with matplotlib: pip install 'lstmzip[plot]'") from None
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    return plt


def tensorflow(seed: int):
    """TensorFlow, quiet, with its Python, numpy and TF random generators seeded."""
    from ..tflog import import_tensorflow
    try:
        tf = import_tensorflow()                              # no start-up log on stderr
    except ImportError:
        raise MissingExtra("this experiment needs TensorFlow: pip install 'lstmzip[train]'") from None
    tf.keras.utils.set_random_seed(seed)
    return tf


def phase_bar(total: int, desc: str):
    """A tqdm bar on stderr for a phase of `total` steps where stderr is a terminal (else one
    line saying the phase started): a lab run takes seconds to minutes."""
    import sys

    from tqdm import tqdm
    if not sys.stderr.isatty():
        print(f"lstmzip lab: {desc} ...", file=sys.stderr, flush=True)
    return tqdm(total=total, desc=desc, file=sys.stderr, leave=False, dynamic_ncols=True, disable=None)


def save_json(out_dir: Path, name: str, numbers: dict) -> Path:
    """Write ``out_dir/name.json`` (sorted keys, NaN/inf as null) and return its path."""
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / f"{name}.json"
    path.write_text(json.dumps(_plain(numbers), indent=2, sort_keys=True) + "\n")
    return path


def save_figure(fig, out_dir: Path, name: str, dpi: int = 80) -> Path:
    """Write ``out_dir/name.png`` and close the figure (the PNG stays well under 150 KB)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / f"{name}.png"
    fig.savefig(path, dpi=dpi, bbox_inches="tight")
    fig.clf()
    import matplotlib.pyplot as plt
    plt.close(fig)
    return path


def _plain(x):
    """numpy scalars/arrays -> Python numbers/lists; non-finite floats -> None (valid JSON)."""
    if isinstance(x, dict):
        return {str(k): _plain(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_plain(v) for v in x]
    if hasattr(x, "tolist"):                  # numpy scalar or array
        return _plain(x.tolist())
    if isinstance(x, float) and not math.isfinite(x):
        return None
    return x
