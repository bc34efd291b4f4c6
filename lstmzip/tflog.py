"""TensorFlow without its start-up log on stderr, unless asked for (`-v`).

Importing TensorFlow 2.x prints several lines even where nothing is wrong: CPU-feature and
oneDNN notes and, on a machine without a GPU, "Could not find cuda drivers" and "failed call
to cuInit: ... CUDA error". ``TF_CPP_MIN_LOG_LEVEL=3`` hides what goes through TensorFlow's
logger (the cuInit error, later messages), but the lines written before absl's log is set up
ignore it, so the import itself runs with file descriptor 2 pointed at /dev/null. A variable
the user set wins; ``verbose`` (set by the command line's ``-v``) leaves everything as it is.
"""

from __future__ import annotations

import contextlib
import os
import sys

verbose = False          # the command line sets this from -v before any command runs


@contextlib.contextmanager
def _stderr_silenced():
    sys.stderr.flush()
    try:
        saved = os.dup(2)
        devnull = os.open(os.devnull, os.O_WRONLY)
    except OSError:                 # no fd 2 to redirect: nothing to hide
        yield
        return
    try:
        os.dup2(devnull, 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)


def import_tensorflow():
    """``import tensorflow`` (ImportError as usual), quiet unless ``verbose``."""
    if "tensorflow" in sys.modules or verbose:
        import tensorflow as tf
        return tf
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    with _stderr_silenced():
        import tensorflow as tf
        tf.config.list_physical_devices()         # the CUDA probing happens here, on first use
    return tf
