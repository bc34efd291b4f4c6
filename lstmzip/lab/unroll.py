"""Backpropagation through time, written out by hand in numpy.

The network is a small tanh RNN with a learned initial state::

    h_0 = h0                                       (a parameter, shared by the batch)
    h_t = tanh(W_xh x_t + W_hh h_(t-1) + b_h)      t = 1 .. T
    y_t = W_hy h_t + b_y
    L   = 1/(2B) sum_t sum_b |y_t - d_t|^2

BPTT unrolls the loop into a T-layer feed-forward net in which every layer has
its own copy of ``W_xh, W_hh, b_h, W_hy, b_y``. Backpropagation through that net
gives one gradient per copy; because the copies are tied (they are one weight),
the weight's gradient is the sum over its copies. ``h0`` is the input of the
lowest layer, so its gradient is simply the error that reaches layer 0.

The hand-written gradients are checked against TensorFlow's autodiff and
against central finite differences, then used to train the network on a short
version of the timer task (``timer.TimerTask`` with durations of 2 to 20 steps).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from . import _common
from .timer import TimerTask, nmse

NAME = "unroll"
PARAMS = ("W_xh", "W_hh", "b_h", "W_hy", "b_y", "h0")


def init_params(rng: np.random.Generator, n_in: int, hidden: int, n_out: int) -> dict:
    return {
        "W_xh": rng.normal(0, 1 / np.sqrt(n_in), (hidden, n_in)),
        "W_hh": rng.normal(0, 1 / np.sqrt(hidden), (hidden, hidden)),
        "b_h": np.zeros(hidden),
        "W_hy": rng.normal(0, 1 / np.sqrt(hidden), (n_out, hidden)),
        "b_y": np.zeros(n_out),
        "h0": np.zeros(hidden),
    }


def forward(p: dict, x: np.ndarray):
    """Unroll over x (T, B, D); return hidden states (T+1, B, H) with h_0 first, outputs (T, B, O)."""
    hs = [np.broadcast_to(p["h0"], (x.shape[1], len(p["h0"])))]
    for x_t in x:
        hs.append(np.tanh(x_t @ p["W_xh"].T + hs[-1] @ p["W_hh"].T + p["b_h"]))
    hs = np.stack(hs)
    return hs, hs[1:] @ p["W_hy"].T + p["b_y"]


def loss(y: np.ndarray, d: np.ndarray) -> float:
    """1/(2B) sum of squared errors over time and batch."""
    return float(0.5 * np.sum((y - d) ** 2) / y.shape[1])


def backward(p: dict, x: np.ndarray, hs: np.ndarray, y: np.ndarray, d: np.ndarray):
    """BPTT. Returns (gradients, copies): copies[name][t-1] is the gradient of step t's copy.

    Walking from t = T down to 1, dh carries dL/dh_t: the error from the output at t
    plus what flows back from step t+1 through W_hh.
    """
    b = x.shape[1]
    dy = (y - d) / b                                    # (T, B, O)  dL/dy_t
    copies = {name: [] for name in PARAMS if name != "h0"}
    dh = np.zeros_like(hs[0])                           # (B, H)  nothing flows in from t = T+1
    for t in range(len(x), 0, -1):
        copies["W_hy"].append(dy[t - 1].T @ hs[t])
        copies["b_y"].append(dy[t - 1].sum(0))
        dh = dh + dy[t - 1] @ p["W_hy"]                 # dL/dh_t, complete
        da = dh * (1 - hs[t] ** 2)                      # dL/d(pre-activation at t)
        copies["W_xh"].append(da.T @ x[t - 1])
        copies["W_hh"].append(da.T @ hs[t - 1])
        copies["b_h"].append(da.sum(0))
        dh = da @ p["W_hh"]                             # dL/dh_(t-1) through step t's W_hh
    copies = {name: c[::-1] for name, c in copies.items()}          # index t-1 = step t
    grads = {name: np.sum(c, axis=0) for name, c in copies.items()}  # tied weights: sum the copies
    grads["h0"] = dh.sum(0)                             # every sequence starts from the same h0
    return grads, copies


def loss_and_grads(p: dict, x: np.ndarray, d: np.ndarray):
    hs, y = forward(p, x)
    return loss(y, d), backward(p, x, hs, y, d)[0]


# ---- checks ----------------------------------------------------------------------------

def autodiff_grads(tf, p: dict, x: np.ndarray, d: np.ndarray) -> dict:
    """The same loss differentiated by TensorFlow (float64), for comparison."""
    v = {name: tf.Variable(a) for name, a in p.items()}
    with tf.GradientTape() as tape:
        h = tf.broadcast_to(v["h0"], (x.shape[1], p["h0"].shape[0]))
        total = tf.constant(0.0, tf.float64)
        for t in range(len(x)):
            h = tf.tanh(x[t] @ tf.transpose(v["W_xh"]) + h @ tf.transpose(v["W_hh"]) + v["b_h"])
            y = h @ tf.transpose(v["W_hy"]) + v["b_y"]
            total += 0.5 * tf.reduce_sum((y - d[t]) ** 2) / x.shape[1]
    g = tape.gradient(total, v)
    return {name: g[name].numpy() for name in p}


def finite_difference_grads(p: dict, x: np.ndarray, d: np.ndarray, eps: float = 1e-6) -> dict:
    """Central differences (L(p + eps) - L(p - eps)) / 2 eps for every coordinate."""
    grads = {}
    for name, a in p.items():
        g = np.zeros_like(a)
        for i in np.ndindex(a.shape):
            old = a[i]
            a[i] = old + eps
            up = loss(forward(p, x)[1], d)
            a[i] = old - eps
            down = loss(forward(p, x)[1], d)
            a[i] = old
            g[i] = (up - down) / (2 * eps)
        grads[name] = g
    return grads


def max_abs_diff(a: dict, b: dict) -> float:
    return max(float(np.max(np.abs(a[k] - b[k]))) for k in a)


def max_rel_diff(a: dict, b: dict) -> float:
    """Largest |a - b| / max(|a|, |b|, 1e-8) over all coordinates."""
    return max(float(np.max(np.abs(a[k] - b[k]) / np.maximum(np.maximum(np.abs(a[k]), np.abs(b[k])), 1e-8)))
               for k in a)


# ---- training --------------------------------------------------------------------------

def adam(p: dict, lr: float):
    """An Adam optimiser over a dict of arrays: returns update(grads) that edits p in place."""
    m = {k: np.zeros_like(a) for k, a in p.items()}
    v = {k: np.zeros_like(a) for k, a in p.items()}
    step = [0]

    def update(grads: dict) -> None:
        step[0] += 1
        for k in p:
            m[k] = 0.9 * m[k] + 0.1 * grads[k]
            v[k] = 0.999 * v[k] + 0.001 * grads[k] ** 2
            m_hat, v_hat = m[k] / (1 - 0.9 ** step[0]), v[k] / (1 - 0.999 ** step[0])
            p[k] -= lr * m_hat / (np.sqrt(v_hat) + 1e-8)
    return update


def time_major(u: np.ndarray, y: np.ndarray):
    """(B, T, .) task arrays -> (T, B, .) float64, the layout forward() uses."""
    return u.transpose(1, 0, 2).astype(np.float64), y.transpose(1, 0, 2).astype(np.float64)


def run(out_dir: Path, seed: int = 0, quick: bool = False, **_) -> dict:
    """Check hand-written BPTT against autodiff and finite differences, then train with it."""
    plt = _common.pyplot()
    tf = _common.tensorflow(seed)
    rng = np.random.default_rng(seed)
    task = TimerTask(rng, scale=0.02)                    # timers of 2..20 steps
    hidden, length, batch = 16, 60, 32
    iterations = 150 if quick else 1500

    # 1. Gradient checks on a small random problem (nonzero h0, so its gradient is tested too).
    p = init_params(rng, 2, 8, 1)
    p["h0"] = rng.normal(0, 0.5, 8)
    x, d = time_major(*task.generate(4, 12))
    hs, y = forward(p, x)
    grads, copies = backward(p, x, hs, y, d)
    auto = autodiff_grads(tf, p, x, d)
    fd = finite_difference_grads(p, x, d)
    results = {"seed": seed, "quick": quick, "check": {
        "parameters": int(sum(a.size for a in p.values())),
        "max_abs_diff_vs_autodiff": max_abs_diff(grads, auto),
        "max_rel_diff_vs_autodiff": max_rel_diff(grads, auto),
        "max_abs_diff_vs_finite_differences": max_abs_diff(grads, fd),
        "max_rel_diff_vs_finite_differences": max_rel_diff(grads, fd),
        "W_hh_copies": len(copies["W_hh"]),
        "max_abs_diff_sum_of_copies_vs_autodiff_W_hh": float(np.max(np.abs(sum(copies["W_hh"]) - auto["W_hh"]))),
    }}

    # 2. Train by hand-written BPTT (full sequences, Adam, gradient-norm clipping at 1).
    p = init_params(rng, 2, hidden, 1)
    update = adam(p, lr=1e-2)
    curve = []
    for _ in range(iterations):
        x, d = time_major(*task.generate(batch, length))
        value, grads = loss_and_grads(p, x, d)
        norm = np.sqrt(sum(np.sum(g ** 2) for g in grads.values()))
        update({k: g * min(1.0, 1.0 / norm) for k, g in grads.items()})
        curve.append(value / length)                       # per step
    test_u, test_d = task.generate(1, 150)
    x, d = time_major(test_u, test_d)
    hs, y = forward(p, x)
    _, copies = backward(p, x, hs, y, d)
    results["training"] = {
        "hidden": hidden, "sequence_length": length, "batch": batch, "iterations": iterations,
        "first_loss_per_step": float(np.mean(curve[:10])), "final_loss_per_step": float(np.mean(curve[-10:])),
        "test_nmse": nmse(y[:, 0, 0], d[:, 0, 0]), "learned_h0_norm": float(np.linalg.norm(p["h0"])),
    }

    fig = plot(plt, copies, curve, d[:, 0, 0], y[:, 0, 0], results)
    _common.save_figure(fig, out_dir, NAME)
    _common.save_json(out_dir, NAME, results)
    return results


def plot(plt, copies, curve, target, output, results):
    fig, axes = plt.subplots(1, 3, figsize=(14, 3.8), gridspec_kw={"width_ratios": [1, 1, 1.6]})
    norms = [np.linalg.norm(c) for c in copies["W_hh"]]
    axes[0].semilogy(np.arange(1, len(norms) + 1), norms, ".-", ms=3)
    axes[0].set(xlabel="time step t", ylabel="|dL/dW_hh of copy t|",
                title=f"{len(norms)} tied copies of W_hh (gradient = their sum)")
    axes[1].semilogy(curve, lw=0.8)
    c = results["check"]
    axes[1].set(xlabel="iteration", ylabel="training loss per step",
                title=f"hand-written BPTT (max |diff| vs autodiff {c['max_abs_diff_vs_autodiff']:.0e})")
    axes[2].plot(target, color="tab:blue", lw=1.2, label="target")
    axes[2].plot(output, color="tab:orange", lw=1, label="output")
    axes[2].set(xlabel="time step", title=f"timer (durations 2-20 steps), test NMSE "
                                          f"{results['training']['test_nmse']:.3f}")
    axes[2].legend(fontsize=8, loc="upper right")
    fig.tight_layout()
    return fig
