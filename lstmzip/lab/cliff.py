"""The cliff: exploding gradients on a one-unit RNN, and gradient-norm clipping.

The network (after Pascanu, Mikolov & Bengio 2013, section 3) is one logistic
unit with a self-connection ``w`` and a bias ``b``, started at ``h_0 = 0.5``::

    h_t = sigmoid(w * h_(t-1) + b),   t = 1 .. 50
    L(w, b) = (h_50 - 0.7)^2

For ``w > 4`` the unit is bistable: ``h`` settles near 0 or near 1 depending on
which side of the unstable fixed point ``h_0`` starts, and that boundary is the
line ``b = -w/2``. Crossing it flips ``h_50`` from one attractor to the other, so
``L`` has a near-vertical wall (the cliff) where ``dL/d(w, b)`` grows like the
product of 50 expanding Jacobians. The valley floor (``L = 0``) is the curve where
``h_50 = 0.7``; for a contracting unit that is the fixed point
``b = logit(0.7) - 0.7 w``.

Gradient descent from a start on the upper plateau walks down toward the valley;
one step that lands on the wall meets an enormous gradient and is thrown far
away, onto a plateau where the gradient vanishes. Rescaling every gradient to a
norm of at most ``clip`` makes the same descent step over the wall and settle on
the valley floor. All numbers are deterministic; ``seed`` is not used.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from . import _common

NAME = "cliff"
STEPS = 50          # time steps of the unrolled unit
H0 = 0.5            # initial state
TARGET = 0.7        # target for h_50
START = (6.0, -2.0)  # (w, b) where both descents begin
LR = 0.5            # gradient-descent learning rate
CLIP = 1.0          # gradient-norm threshold of the clipped descent
ITERATIONS = 200    # descent steps


def sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


def loss_and_grad(w, b, steps: int = STEPS):
    """L(w, b) and its gradient by BPTT; w and b may be arrays of any (equal) shape.

    Returns (loss, dL/dw, dL/db), each shaped like w.
    """
    w, b = np.broadcast_arrays(np.asarray(w, float), np.asarray(b, float))
    hs = [np.full(w.shape, H0)]
    for _ in range(steps):                              # forward: keep every h_t
        hs.append(sigmoid(w * hs[-1] + b))
    dh = 2 * (hs[-1] - TARGET)                          # dL/dh_50
    dw, db = np.zeros(w.shape), np.zeros(w.shape)
    for t in range(steps, 0, -1):                       # backward: one tied copy per step
        da = dh * hs[t] * (1 - hs[t])                   # dL/d(pre-activation at t)
        dw += da * hs[t - 1]
        db += da
        dh = da * w                                     # through the self-connection
    return (hs[-1] - TARGET) ** 2, dw, db


def clip_norm(g: np.ndarray, threshold) -> np.ndarray:
    """Rescale g to norm `threshold` if it is longer (Pascanu et al., algorithm 1)."""
    norm = np.linalg.norm(g)
    return g * (threshold / norm) if threshold is not None and norm > threshold else g


def descend(start, lr: float, iterations: int, clip=None):
    """Gradient descent on L from `start`; returns (path (n+1, 2), gradient norms (n,), losses (n+1,))."""
    p = np.array(start, float)
    path, norms, losses = [p], [], []
    for _ in range(iterations):
        loss, dw, db = loss_and_grad(*p)
        g = np.array([dw, db])
        losses.append(float(loss))
        norms.append(float(np.linalg.norm(g)))
        p = p - lr * clip_norm(g, clip)
        path.append(p)
    losses.append(float(loss_and_grad(*p)[0]))
    return np.array(path), np.array(norms), np.array(losses)


def descend_many(starts: np.ndarray, lr: float, iterations: int, clip=None) -> np.ndarray:
    """The same descent from many starts (k, 2) at once; returns final losses (k,)."""
    p = np.array(starts, float)
    for _ in range(iterations):
        _, dw, db = loss_and_grad(p[:, 0], p[:, 1])
        g = np.stack([dw, db], 1)                                       # (k, 2)
        norm = np.linalg.norm(g, axis=1, keepdims=True)
        if clip is not None:
            g = g * np.minimum(1.0, clip / np.maximum(norm, 1e-300))
        p = p - lr * g
    return loss_and_grad(p[:, 0], p[:, 1])[0]


def valley_floor(w: np.ndarray) -> np.ndarray:
    """b on the fixed-point valley floor h* = 0.7 (exact where the unit contracts, w < 4.76)."""
    return np.log(TARGET / (1 - TARGET)) - TARGET * w


def run(out_dir: Path, seed: int = 0, quick: bool = False, **_) -> dict:
    """Plot the error surface and both descents; return where they end."""
    plt = _common.pyplot()
    n = 120 if quick else 300
    ws, bs = np.linspace(0, 12, n), np.linspace(-8, 6, n)
    surface = loss_and_grad(*np.meshgrid(ws, bs))[0]                    # (n_b, n_w)

    runs = {}
    for label, clip in (("unclipped", None), ("clipped", CLIP)):
        path, norms, losses = descend(START, LR, ITERATIONS, clip)
        runs[label] = {"path": path, "norms": norms, "losses": losses}

    # How typical is the chosen start? The same two descents from a grid of starts on the
    # upper plateau (above the cliff, 4.5 <= w <= 8): how often does each reach the floor?
    k = 6 if quick else 12
    gw, gb = np.meshgrid(np.linspace(4.5, 8, k), np.linspace(-3, -1, k))
    starts = np.stack([gw.ravel(), gb.ravel()], 1)
    starts = starts[starts[:, 1] > -starts[:, 0] / 2]                   # above the cliff only
    reached = {label: float(np.mean(descend_many(starts, LR, ITERATIONS, clip) < 1e-2))
               for label, clip in (("unclipped", None), ("clipped", CLIP))}

    results = {"model": "h_t = sigmoid(w h_(t-1) + b), h_0 = 0.5, L = (h_50 - 0.7)^2",
               "start": list(START), "learning_rate": LR, "clip": CLIP, "iterations": ITERATIONS,
               "start_loss": runs["clipped"]["losses"][0]}
    for label, r in runs.items():
        end = r["path"][-1]
        results[label] = {
            "end": end.tolist(),
            "end_loss": r["losses"][-1],
            "largest_gradient_norm": float(r["norms"].max()),
            "largest_gradient_at_iteration": int(r["norms"].argmax()),
            "end_distance_from_start": float(np.linalg.norm(end - START)),
            "end_offset_from_valley_floor_b": float(end[1] - valley_floor(end[0])),
            "fraction_of_plateau_starts_reaching_loss_below_0.01": reached[label],
        }
    results["plateau_starts"] = len(starts)

    fig = plot(plt, ws, bs, surface, runs)
    _common.save_figure(fig, out_dir, NAME)
    _common.save_json(out_dir, NAME, results)
    return results


def plot(plt, ws, bs, surface, runs):
    from matplotlib.colors import LogNorm
    fig, axes = plt.subplots(1, 3, figsize=(14, 4.2), gridspec_kw={"width_ratios": [1.4, 1, 1]})
    ax = axes[0]
    im = ax.pcolormesh(ws, bs, np.maximum(surface, 1e-4), cmap="viridis", shading="auto",
                       norm=LogNorm(1e-4, 0.5))
    fig.colorbar(im, ax=ax, label="L = (h_50 - 0.7)^2")
    wv = ws[ws < 4.76]
    ax.plot(wv, valley_floor(wv), "w:", lw=1, label="valley floor (h* = 0.7)")
    colors = {"unclipped": "red", "clipped": "white"}
    for label, r in runs.items():
        p = r["path"]
        ax.plot(p[:, 0], p[:, 1], ".-", color=colors[label], ms=3, lw=1, label=f"{label} descent")
    ax.plot(*START, "*", color="red", ms=14, mec="k", label="start")
    ax.set(xlabel="w (self-connection)", ylabel="b (bias)", xlim=(ws[0], ws[-1]), ylim=(bs[0], bs[-1]),
           title="Error surface of a 50-step one-unit RNN")
    ax.legend(loc="lower left", fontsize=8)
    for label, r in runs.items():
        color = "red" if label == "unclipped" else "k"
        axes[1].semilogy(r["norms"], color=color, lw=1, label=label)
        axes[2].semilogy(r["losses"], color=color, lw=1, label=label)
    axes[1].axhline(CLIP, color="gray", ls="--", lw=0.8, label="clip threshold")
    axes[1].set(xlabel="descent step", title="Gradient norm met at each step")
    axes[2].set(xlabel="descent step", title="Loss along each descent")
    for a in axes[1:]:
        a.legend(fontsize=8)
    fig.tight_layout()
    return fig
