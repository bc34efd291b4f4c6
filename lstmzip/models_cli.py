"""`lstmzip models`: the models that `-m NAME` can find, where each comes from, and its identity.

A name is looked up in ./models, each folder of $LSTMZIP_MODEL_PATH, the user's folder
($XDG_DATA_HOME/lstmzip/models, else ~/.local/share/lstmzip/models; `lstmzip train -o NAME`
writes there) and the shipped models, in that order: the first file NAME.npz wins. Decoding finds
a file's model by its sha256 in all of them.

Module-level imports are stdlib only: the main CLI imports `register` at startup.
"""

import argparse
import sys


def register(subparsers) -> None:
    p = subparsers.add_parser("models", help="list the models -m NAME finds (name, sha256, size, where from)",
                              description=__doc__.split("\n\n")[0], epilog=__doc__.split("\n\n")[1],
                              formatter_class=argparse.RawDescriptionHelpFormatter)
    p.set_defaults(func=run)


def _size(n: int) -> str:
    return f"{n / 1e6:.1f} MB" if n >= 1e6 else f"{n / 1e3:.0f} kB"


def run(args) -> int:
    from .model import describe, file_sha256, found_models, search_path

    rows, first = [], {}
    for name, path, where in found_models():
        try:
            sha, size = file_sha256(path)[:16], _size(path.stat().st_size)
        except OSError as exc:
            sha, size = f"unreadable ({exc.strerror or exc})", "?"
        label = where if name not in first else f"{where}, hidden by {first[name]}"
        first.setdefault(name, where)
        rows.append((name, sha, size, label, str(path)))
    head = ("NAME", "SHA256", "SIZE", "FROM", "PATH")
    widths = [max(len(r[i]) for r in [head] + rows) for i in range(4)]
    for r in [head] + rows:
        sys.stdout.write("  ".join(c.ljust(w) for c, w in zip(r, widths)) + "  " + r[4] + "\n")
    if not rows:
        sys.stdout.write("(no models found)\n")
    sys.stdout.write("searched, in order: " + ", ".join(describe(f, w) for f, w in search_path()) + "\n")
    return 0
