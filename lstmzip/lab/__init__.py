"""The lab: small experiments that recreate the ideas lstmzip is built on.

Each experiment writes ``NAME.png`` and ``NAME.json`` into an output folder and
returns the numbers it wrote (``lstmzip lab NAME --out DIR``; see docs/lab.md):

* ``timer``     Jaeger's timer task: a vanilla RNN and an LSTM trained by truncated
                BPTT, and an echo state network with a ridge-regression readout.
* ``unroll``    BPTT written out in numpy (tied copies summed, a learned initial
                state), checked against TensorFlow autodiff and finite differences.
* ``cliff``     The error surface of a one-unit RNN over 50 steps; gradient descent
                with and without gradient-norm clipping.
* ``gradients`` ||dL_T/dh_t|| against T - t for tanh RNNs of several spectral radii
                and for LSTMs; optionally for a trained lstmzip model.
* ``memory``    An LSTM cell with hand-set keep/write/read gates holding 4.2 for
                hundreds of steps, against tanh units.

Every run function has the signature
``run(out_dir: Path, seed: int = 0, quick: bool = False, **options) -> dict``.

Importing this package is cheap: the experiment modules (numpy, and TensorFlow
or matplotlib inside their run functions) load on first use of ``EXPERIMENTS``.
"""

from __future__ import annotations

import importlib

NAMES = ("timer", "unroll", "cliff", "gradients", "memory")


def __getattr__(attr):
    # EXPERIMENTS = {name: run_function}, built on first access (PEP 562).
    if attr == "EXPERIMENTS":
        experiments = {name: importlib.import_module(f"{__name__}.{name}").run for name in NAMES}
        globals()["EXPERIMENTS"] = experiments
        return experiments
    raise AttributeError(f"module {__name__!r} has no attribute {attr!r}")
