"""Vanishing and exploding gradients: how ||dL_T/dh_t|| changes with the distance T - t.

For a recurrent net ``s_t = F(s_(t-1), x_t)`` and a loss ``L_T`` read from the last
state, backpropagation multiplies one Jacobian per step::

    dL_T/ds_t = dL_T/ds_T . J_T . J_(T-1) ... J_(t+1),     J_k = dF/ds at step k

For a tanh RNN ``h_t = tanh(W h_(t-1) + U x_t)`` the Jacobian is
``diag(1 - h_k^2) W``. Near the origin (small inputs, units far from saturation)
it is just ``W``, and the product behaves like ``rho(W)^(T-t)``: it vanishes for a
spectral radius below 1 and explodes above 1 (Pascanu, Mikolov & Bengio 2013,
section 2). Saturation multiplies in factors ``1 - h^2 < 1``, so with strong
inputs even ``rho > 1`` can vanish: a radius above 1 is necessary for explosion,
not sufficient. This experiment measures both regimes:

* ``weak``: inputs of scale 0.01 from the zero state (the small-signal regime);
* ``strong``: inputs of scale 1 (units well into saturation).

For an LSTM the state is ``(h, c)``. The cell path contributes
``dc_t/dc_(t-1) = f_t`` (the forget gate) with no squashing derivative, so
saturation does not erode it; the loop through ``h`` and the gates adds to it.
The LSTMs here are random (Keras-style initialisation) with forget-gate bias 1
(Keras' default, ``f ~ 0.73``), 2 (``f ~ 0.88``) and 4 (``f ~ 0.98``): the rate
is set mainly by the forget gate, and with ``f`` near 1 the extra loop can tip it
slightly above 1, so an LSTM can explode too, if mildly.

Every curve is the geometric mean over a batch of random input sequences of
``||dL_T/ds_t|| / ||dL_T/ds_T||``, with ``L_T = v . h_T`` for a random vector
``v``. The fitted rate is ``exp(slope)`` of a least-squares line through
``log ratio`` against ``T - t``: the per-step growth (> 1) or decay (< 1) factor.

``model=PATH`` measures the same on a trained lstmzip model (the float view of its
integer weights, see ``float_lstm``), with ``L_T`` the cross-entropy of the next
byte of a built-in English text and the state all layers' ``(h, c)``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from . import _common

NAME = "gradients"
HORIZON = 50                          # T: steps between the first state and the loss
RADII = (0.5, 0.9, 1.0, 1.2, 1.5)     # spectral radii of the tanh RNNs
FORGET_BIASES = (1.0, 2.0, 4.0)       # forget-gate biases of the random LSTMs
REGIMES = {"weak": 0.01, "strong": 1.0}   # input scale of each regime
HIDDEN = 64
INPUTS = 4


# ---- small pure diagnostics ------------------------------------------------------------

def spectral_radius(w: np.ndarray) -> float:
    """Largest eigenvalue magnitude of a square matrix."""
    return float(np.max(np.abs(np.linalg.eigvals(w))))


def with_spectral_radius(w: np.ndarray, rho: float) -> np.ndarray:
    """w rescaled so that its spectral radius is rho."""
    return w * (rho / spectral_radius(w))


def gradient_norm(grad) -> np.ndarray:
    """Per-example norm of a (possibly nested) batch gradient: components (B, ...) -> (B,)."""
    import tensorflow as tf
    parts = [tf.reshape(g, (g.shape[0], -1)) for g in tf.nest.flatten(grad)]
    return np.sqrt(sum(np.sum(np.square(p.numpy()), axis=1) for p in parts))


def fitted_rate(ratios: np.ndarray) -> float:
    """Per-step factor exp(slope) of the least-squares line through log(ratios[k]) vs k."""
    k = np.arange(len(ratios))
    return float(np.exp(np.polyfit(k, np.log(ratios), 1)[0]))


# ---- the measurement -------------------------------------------------------------------

def state_gradient_ratios(tf, step, inputs, state, loss) -> np.ndarray:
    """||dL_T/ds_t|| / ||dL_T/ds_T|| for k = T - t = 0..T, geometric mean over the batch.

    step(state, x) -> state advances one step; inputs is a list of T batches; loss(state_T)
    is a scalar summed over the batch (examples do not interact, so each example's
    gradient is its own).
    """
    with tf.GradientTape() as tape:
        tape.watch(state)
        states = [state]                                  # s_0 .. s_T
        for x in inputs:
            states.append(step(states[-1], x))
        total = loss(states[-1])
    norms = np.array([gradient_norm(g) for g in tape.gradient(total, states)])   # (T+1, B)
    ratios = norms[::-1] / norms[-1]                      # row k: distance k = T - t
    return np.exp(np.mean(np.log(ratios), axis=1))


def tanh_rnn(tf, w: np.ndarray, u: np.ndarray):
    """Step function of h_t = tanh(W h_(t-1) + U x_t); h (B, H), x (B, D)."""
    wt, ut = tf.constant(w.T), tf.constant(u.T)
    return lambda h, x: tf.tanh(h @ wt + x @ ut)


def lstm_update(tf, z, c):
    """LSTM gates from pre-activations z (B, 4H), columns [i | f | g | o]; returns (h, c)."""
    i, f, g, o = tf.split(z, 4, axis=1)
    c = tf.sigmoid(f) * c + tf.sigmoid(i) * tf.tanh(g)
    return tf.sigmoid(o) * tf.tanh(c), c


def lstm_cell(tf, kernel: np.ndarray, bias: np.ndarray):
    """Step function of an LSTM layer: kernel (D + H, 4H) takes [x, h]; state (h, c), each (B, H)."""
    k, b = tf.constant(kernel), tf.constant(bias)
    return lambda state, x: lstm_update(tf, tf.concat([x, state[0]], 1) @ k + b, state[1])


def random_lstm(rng: np.random.Generator, inputs: int, hidden: int, forget_bias: float):
    """Keras-style initial weights: Glorot-uniform input kernel, orthogonal recurrent kernel."""
    limit = np.sqrt(6 / (inputs + 4 * hidden))
    w_x = rng.uniform(-limit, limit, (inputs, 4 * hidden))
    q, r = np.linalg.qr(rng.normal(size=(4 * hidden, hidden)))
    w_h = (q * np.sign(np.diag(r))).T                     # (H, 4H), orthonormal rows
    bias = np.zeros(4 * hidden)
    bias[hidden:2 * hidden] = forget_bias
    return np.concatenate([w_x, w_h]), bias


def measure_random_nets(tf, rng: np.random.Generator, batch: int) -> dict:
    """Ratio curves {regime: {label: (T+1,) ratios}} for the tanh RNNs and the LSTMs."""
    g = rng.normal(size=(HIDDEN, HIDDEN)) / np.sqrt(HIDDEN)
    u = rng.normal(size=(HIDDEN, INPUTS)) / np.sqrt(INPUTS)
    v = tf.constant(rng.normal(size=(HIDDEN, 1)))
    lstms = {fb: random_lstm(rng, INPUTS, HIDDEN, fb) for fb in FORGET_BIASES}
    curves = {}
    for regime, scale in REGIMES.items():
        xs = [tf.constant(x) for x in rng.normal(size=(HORIZON, batch, INPUTS)) * scale]
        zero = tf.zeros((batch, HIDDEN), tf.float64)
        curves[regime] = {}
        for rho in RADII:
            step = tanh_rnn(tf, with_spectral_radius(g, rho), u)
            curves[regime][f"tanh rho={rho:g}"] = state_gradient_ratios(
                tf, step, xs, zero, lambda h: tf.reduce_sum(h @ v))
        for fb, (kernel, bias) in lstms.items():
            step = lstm_cell(tf, kernel, bias)
            curves[regime][f"LSTM forget bias {fb:g}"] = state_gradient_ratios(
                tf, step, xs, (zero, zero), lambda s: tf.reduce_sum(s[0] @ v))
    return curves


# ---- a trained lstmzip model -----------------------------------------------------------

SAMPLE_TEXT = (
    "A compressor is a predictor in disguise. Every byte it has already seen shapes a "
    "guess about the next one, and an arithmetic coder turns a good guess into few bits: "
    "a byte predicted with probability one half costs one bit, a byte predicted with "
    "probability one in a thousand costs about ten. The better the model of the text, "
    "the shorter the file. Recurrent networks carry a summary of everything read so far "
    "in their hidden state, and the question this experiment asks is how far back that "
    "summary reaches: how strongly does the loss on the next byte still depend on the "
    "state of the network ten, fifty or a hundred bytes earlier? "
).encode("ascii")


def float_lstm(model):
    """The float view of an lstmzip integer model: per-layer (kernel, bias), output layer.

    W_real = W_int * 2**-ws (layer kernels), accumulator units 2**-(ws + 7) for the input
    table and biases, logits in 2**-(wso + 7) nats (see lstmzip/model.py). Layer 1's input
    is a row of the input table (the embedding already multiplied by the input kernel);
    layer l >= 2 takes [h_(l-1), h_l]. Gate columns are [i | f | g | o]. The integer
    engine's rounding, table lookups and clips (gate inputs to +-8, cells to +-128) are
    left out: this is the smooth function the trainer optimised.
    """
    c = model.config
    table = model.in_table * 2.0 ** -(c.weight_shifts[0] + 7)                   # (256, 4H)
    layers = [(w * 2.0 ** -ws, b * 2.0 ** -(ws + 7))
              for w, b, ws in zip(model.weights, model.biases, c.weight_shifts)]
    out = (model.w_out * 2.0 ** -c.out_shift, model.b_out * 2.0 ** -(c.out_shift + 7))
    return table, layers, out


def model_step(tf, model):
    """Step function of the float stacked LSTM; state: tuple of (h, c) per layer, each (B, H)."""
    table, layers, _ = float_lstm(model)
    table = tf.constant(table)
    k1, b1 = (tf.constant(a) for a in layers[0])
    upper = [lstm_cell(tf, k, b) for k, b in layers[1:]]   # kernel rows: [h_(l-1) | h_l]

    def step(state, prev):                                  # prev: (B,) previous bytes
        (h, c), new = state[0], []
        # Layer 1: the table row stands for x @ W_x, so its kernel holds only recurrent rows.
        new.append(lstm_update(tf, tf.gather(table, prev) + h @ k1 + b1, c))
        for cell, s in zip(upper, state[1:]):
            new.append(cell(s, new[-1][0]))
        return tuple(new)
    return step


def measure_model(tf, model, batch: int, burn_in: int = 64) -> np.ndarray:
    """Ratio curve of a trained model on windows of SAMPLE_TEXT (loss: next-byte cross-entropy)."""
    text = np.frombuffer(SAMPLE_TEXT * 4, np.uint8).astype(np.int64)
    span = burn_in + HORIZON + 1
    starts = np.linspace(0, len(SAMPLE_TEXT) - 1, batch).astype(int)
    windows = np.stack([text[s:s + span] for s in starts])             # (B, span)
    step = model_step(tf, model)
    w_out, b_out = (tf.constant(a) for a in float_lstm(model)[2])
    zero = tf.zeros((batch, model.config.hidden), tf.float64)
    state = tuple((zero, zero) for _ in range(model.config.layers))
    for t in range(burn_in):                                            # settle, no gradient
        state = step(state, windows[:, t])
    inputs = [windows[:, t] for t in range(burn_in, burn_in + HORIZON)]
    target = tf.constant(windows[:, -1])

    def loss(s):
        logits = s[-1][0] @ w_out + b_out                               # (B, 256) nats
        return tf.reduce_sum(tf.nn.sparse_softmax_cross_entropy_with_logits(target, logits))
    return state_gradient_ratios(tf, step, inputs, state, loss)


def summary(ratios: np.ndarray) -> dict:
    return {"ratio_over_horizon": float(ratios[-1]), "ratio_over_10": float(ratios[10]),
            "fitted_rate_per_step": fitted_rate(ratios)}


# ---- the experiment --------------------------------------------------------------------

def run(out_dir: Path, seed: int = 0, quick: bool = False, model=None, **_) -> dict:
    """Measure and plot the ratio curves; return the ratios over HORIZON steps and fitted rates."""
    trained = None
    if model is not None:                           # load first: a bad path fails fast
        from ..model import Model                   # numpy only; reads the .npz safely
        trained = Model.load(model)
    plt = _common.pyplot()
    tf = _common.tensorflow(seed)
    rng = np.random.default_rng(seed)
    batch = 8 if quick else 64
    curves = measure_random_nets(tf, rng, batch)
    extra = {}
    if trained is not None:
        extra[f"lstmzip model '{trained.name}'"] = measure_model(tf, trained, batch)

    results = {"horizon": HORIZON, "hidden": HIDDEN, "batch": batch, "seed": seed,
               "input_scale": REGIMES, "model": str(model) if model is not None else None,
               "forget_gate_at_bias": {f"{fb:g}": float(1 / (1 + np.exp(-fb))) for fb in FORGET_BIASES}}
    for regime, named in [*curves.items(), ("lstmzip_model", extra)]:
        results[regime] = {label: summary(r) for label, r in named.items()}

    _common.save_figure(plot(plt, curves, extra, results), out_dir, NAME)
    _common.save_json(out_dir, NAME, results)
    return results


def plot(plt, curves: dict, extra: dict, results: dict):
    fig, axes = plt.subplots(1, len(curves), figsize=(12, 4.8), sharey=True)
    cmap = plt.get_cmap("viridis")
    for ax, (regime, named) in zip(axes, curves.items()):
        for label, r in named.items():
            rate = results[regime][label]["fitted_rate_per_step"]
            if label.startswith("tanh"):
                rho = float(label.split("=")[1])
                style = dict(color=cmap(RADII.index(rho) / len(RADII)), lw=1.5)
            else:
                fb = float(label.split()[-1])
                style = dict(color="k", ls=(":", "-", "--")[FORGET_BIASES.index(fb)], lw=1.5)
            ax.semilogy(r, label=f"{label}: x{rate:.3g}/step", **style)
        for label, r in extra.items():                 # a trained model: its own (byte) inputs
            rate = results["lstmzip_model"][label]["fitted_rate_per_step"]
            ax.semilogy(r, color="tab:red", lw=2, label=f"{label}: x{rate:.3g}/step")
        ax.axhline(1, color="gray", lw=0.6)
        ax.set(xlabel="T - t (steps back from the loss)",
               title=f"{regime} inputs (scale {REGIMES[regime]:g})")
        ax.legend(fontsize=7, loc="lower left")
    axes[0].set_ylabel("||dL_T/ds_t|| / ||dL_T/ds_T||")
    axes[0].set_ylim(1e-12, 1e4)                       # rho = 0.5 falls off the bottom
    fig.suptitle("Gradient through time: tanh RNN by spectral radius rho vs. LSTM by forget-gate bias",
                 fontsize=11)
    fig.tight_layout()
    return fig
