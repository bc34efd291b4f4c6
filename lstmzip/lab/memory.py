"""The LSTM memory cell, with its gates set by hand: write 4.2, keep it, read it, clear it.

The cell is the one in Hochreiter & Schmidhuber's LSTM as the background article
draws it: a linear unit ``c`` with a self-connection whose weight is the keep
gate, and logistic gates that decide what is written and what is read::

    keep_t, write_t, read_t = sigmoid(G * (2 * control_t - 1))   (control 0 or 1)
    c_t = keep_t * c_(t-1) + write_t * x_t
    y_t = read_t * c_t

With ``G = 20`` an open gate is ``1 - 2e-9`` and a closed one ``2e-9``. The
protocol: at t = 0 write 4.2 (keep closed, so the old content is dropped); hold
it for ``hold`` steps with keep open and write and read closed, while the input
``x`` carries random distractor values; read it at t = hold + 1; clear it (keep
closed) at t = hold + 2.

Backward, the error derivative from the read point reaches ``c_t`` through the
chain of keep gates only: ``dy_read/dc_t = read * prod(keep_(t+1..read))``.
Nothing squashes it, so across hundreds of steps it arrives nearly unchanged.

The comparison is a tanh unit ``h_t = tanh(w h_(t-1) + x_t)`` given the same
4.2 at t = 0 and no distractors (its best case). Its derivative is
``prod(w (1 - h^2))``: with ``w = 1`` the stored value leaks away and the
gradient decays like a power of the distance; with ``w = 1.5`` the unit latches
a sign bit at ``h* ~ 0.86``, where ``w (1 - h*^2) ~ 0.39``, and the gradient
vanishes exponentially.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from . import _common

NAME = "memory"
VALUE = 4.2          # what is written
GAIN = 20.0          # gate pre-activation +-GAIN: open = sigmoid(20), closed = sigmoid(-20)
TANH_WEIGHTS = (1.0, 1.5)


def sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


def gate(control: np.ndarray) -> np.ndarray:
    """A logistic gate driven hard open (control 1) or shut (control 0)."""
    return sigmoid(GAIN * (2 * np.asarray(control, float) - 1))


def protocol(rng: np.random.Generator, hold: int):
    """Inputs and gate controls for write / hold / read / clear; each (T,), T = hold + 12.

    Returns (x, keep, write, read, t_read).
    """
    t_read = hold + 1
    n = hold + 12
    x = rng.uniform(-5, 5, n)                     # distractors the write gate must keep out
    x[0] = VALUE
    keep, write, read = np.ones(n), np.zeros(n), np.zeros(n)
    keep[0], write[0] = 0, 1                      # t = 0: drop old content, write 4.2
    read[t_read] = 1                              # t = hold + 1: read
    keep[t_read + 1:] = 0                         # t = hold + 2 on: clear
    return x, gate(keep), gate(write), gate(read), t_read


def run_cell(x, keep, write, read):
    """Forward pass of the memory cell; returns cell values c (T,) and outputs y (T,)."""
    c, cs = 0.0, np.empty(len(x))
    for t in range(len(x)):
        c = keep[t] * c + write[t] * x[t]
        cs[t] = c
    return cs, read * cs


def cell_gradient(keep, read, t_read: int) -> np.ndarray:
    """dy_read/dc_t for t = 0..t_read: the read gate times the keep gates in between."""
    g = np.empty(t_read + 1)
    g[t_read] = read[t_read]
    for t in range(t_read - 1, -1, -1):
        g[t] = g[t + 1] * keep[t + 1]             # c_(t+1) = keep_(t+1) c_t + ...
    return g


def run_tanh_unit(x, w: float) -> np.ndarray:
    """h_t = tanh(w h_(t-1) + x_t) from h_(-1) = 0; (T,)."""
    h, hs = 0.0, np.empty(len(x))
    for t in range(len(x)):
        h = np.tanh(w * h + x[t])
        hs[t] = h
    return hs


def tanh_gradient(h, w: float, t_read: int) -> np.ndarray:
    """dh_read/dh_t for t = 0..t_read: products of w (1 - h^2)."""
    g = np.empty(t_read + 1)
    g[t_read] = 1.0
    for t in range(t_read - 1, -1, -1):
        g[t] = g[t + 1] * w * (1 - h[t + 1] ** 2)
    return g


def written_value_derivative(read_out, eps: float = 1e-4) -> float:
    """Central difference of the read-out with respect to the value written at t = 0."""
    return (read_out(VALUE + eps) - read_out(VALUE - eps)) / (2 * eps)


def run(out_dir: Path, seed: int = 0, quick: bool = False, hold: int = None, **_) -> dict:
    """Write, hold, read, clear; return the value read and the gradient ratios."""
    plt = _common.pyplot()
    hold = hold or (300 if quick else 500)
    rng = np.random.default_rng(seed)
    x, keep, write, read, t_read = protocol(rng, hold)
    c, y = run_cell(x, keep, write, read)
    grad = cell_gradient(keep, read, t_read)

    def cell_read(v):
        xv = x.copy()
        xv[0] = v
        return run_cell(xv, keep, write, read)[1][t_read]

    clean = np.zeros_like(x)
    clean[0] = VALUE
    units = {w: run_tanh_unit(clean, w) for w in TANH_WEIGHTS}
    tanh_grads = {w: tanh_gradient(h, w, t_read) for w, h in units.items()}

    def tanh_read(w):
        def read_out(v):
            xv = clean.copy()
            xv[0] = v
            return run_tanh_unit(xv, w)[t_read]
        return read_out

    results = {
        "seed": seed, "hold_steps": hold, "written": VALUE, "gate_gain": GAIN,
        "open_gate": float(sigmoid(GAIN)), "closed_gate": float(sigmoid(-GAIN)),
        "lstm": {
            "value_read": float(y[t_read]),
            "abs_error": float(abs(y[t_read] - VALUE)),
            "value_after_clear": float(c[t_read + 1]),
            "d_read_d_state_at_write": float(grad[0] / grad[t_read]),
            "d_read_d_input_at_write_finite_difference": written_value_derivative(cell_read),
        },
    }
    for w, h in units.items():
        results[f"tanh_w={w:g}"] = {
            "value_at_read": float(h[t_read]),
            "d_read_d_state_at_write": float(tanh_grads[w][0]),
            "d_read_d_input_at_write_finite_difference": written_value_derivative(tanh_read(w)),
        }

    fig = plot(plt, x, c, y, units, grad, tanh_grads, t_read, results)
    _common.save_figure(fig, out_dir, NAME)
    _common.save_json(out_dir, NAME, results)
    return results


def plot(plt, x, c, y, units, grad, tanh_grads, t_read, results):
    fig, (ax, ax2) = plt.subplots(2, 1, figsize=(10, 6.5), sharex=True)
    t = np.arange(len(x))
    ax.plot(t, x, ".", color="lightgray", ms=2, label="input x (distractors after t = 0)")
    ax.plot(t, c, color="tab:blue", lw=2, label="LSTM cell c")
    ax.plot([t_read], [y[t_read]], "o", color="tab:orange", ms=8,
            label=f"LSTM read-out at t = {t_read}: {y[t_read]:.6f}")
    for (w, h), color in zip(units.items(), ("tab:green", "tab:purple")):
        ax.plot(t, h, color=color, lw=1.2, label=f"tanh unit, w = {w:g}")
    for when, what in ((0, "write"), (t_read, "read"), (t_read + 1, "clear")):
        ax.axvline(when, color="k", lw=0.6)
        ax.text(when, 5.0, f" {what}", fontsize=8, ha="right" if what == "read" else "left")
    ax.set(ylabel="stored value", ylim=(-5.5, 5.5),
           title="Write 4.2 at t = 0, keep, read, clear")
    ax.legend(fontsize=8, loc="lower center", ncol=2)
    steps = np.arange(t_read + 1)
    ax2.semilogy(steps, grad / grad[t_read], color="tab:blue", lw=2, label="LSTM cell: d y_read / d c_t")
    for (w, g), color in zip(tanh_grads.items(), ("tab:green", "tab:purple")):
        ax2.semilogy(steps, np.maximum(g, 1e-300), color=color, lw=1.2,
                     label=f"tanh unit w = {w:g}: d h_read / d h_t")
    ax2.set(xlabel="time step t", ylabel="error derivative from the read point", ylim=(1e-20, 10))
    ax2.legend(fontsize=8, loc="lower right")
    fig.tight_layout()
    return fig
