"""Jaeger's timer task: a vanilla RNN and an LSTM trained by BPTT, and an echo state network.

The task (Jaeger 2002, "A tutorial on training recurrent neural networks", the
timer example). Two inputs and one output per time step:

* ``u1`` is 0 except for a single-step spike to 1 when the timer should start;
* ``u2`` is a duration value in {0.1, 0.2, ..., 1.0}. It is piecewise constant
  and changes at random times, so the network must latch the value it sees at
  the spike;
* the target ``y`` is 0.5 for the ``round(1000 * scale * u2)`` steps after a
  start, and 0 otherwise. ``scale=1`` is the full task (timers of 100 to 1000
  steps); smaller scales shorten every duration and gap in proportion.

A new start only comes after the previous timer has run out and a random gap.

Three learners see the same training streams and are scored on the same unseen
test sequence, by the normalised mean squared error (``NMSE = MSE / var(y)``:
1.0 is the best constant guess, 0 is perfect) and by the fraction of steps on the
right side of 0.25 (on/off accuracy):

* a tanh RNN and an LSTM (TensorFlow autodiff), trained by truncated BPTT: each
  of ``B`` streams is cut into windows of ``W`` steps; the recurrent state is
  carried from one window to the next, and the gradient is cut at window
  boundaries (see ``windows`` and ``train_recurrent``). Both use Keras' default
  initialisers, except that the LSTM's forget-gate biases start "chrono"-style
  (``chrono_bias``), spanning the task's time scales; with Keras' default
  forget bias of 1 the LSTM does not learn the full-scale task in this budget;
* an echo state network: a fixed random reservoir of leaky tanh units whose time
  constants span the task's time scales, read out by ridge regression (Jaeger's
  own approach: only the output weights are learned, in closed form).
"""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path

import numpy as np

from . import _common
from .gradients import with_spectral_radius

NAME = "timer"
ON = 0.5                      # target value while the timer runs


# ---- the task --------------------------------------------------------------------------

class TimerTask:
    """Streams of (u1, u2) inputs and the timer's target output; see the module docstring."""

    def __init__(self, rng: np.random.Generator, scale: float = 1.0):
        self.rng = rng
        self.scale = scale
        self.hold = (100 * scale, 400 * scale)   # u2 keeps its value this many steps
        self.gap = (50 * scale, 400 * scale)     # off time between a timer's end and the next start

    def duration(self, u2: float) -> int:
        """Steps the output stays on after a start with duration value u2."""
        return max(1, int(round(1000 * self.scale * u2)))

    def generate(self, batch: int, length: int):
        """Inputs (B, T, 2) and targets (B, T, 1), float32."""
        u = np.zeros((batch, length, 2), np.float32)
        y = np.zeros((batch, length, 1), np.float32)
        for b in range(batch):
            u[b, :, 1] = self._durations(length)
            t = self._gap()
            while t < length:
                u[b, t, 0] = 1.0
                d = self.duration(u[b, t, 1])
                y[b, t + 1:t + 1 + d, 0] = ON
                t += 1 + d + self._gap()
        return u, y

    def _durations(self, length: int) -> np.ndarray:
        """A piecewise-constant u2 track of the given length."""
        track = np.empty(length, np.float32)
        t = 0
        while t < length:
            n = int(self.rng.integers(max(1, self.hold[0]), max(2, self.hold[1])))
            track[t:t + n] = self.rng.integers(1, 11) / 10
            t += n
        return track

    def _gap(self) -> int:
        return int(self.rng.integers(max(1, self.gap[0]), max(2, self.gap[1])))


def nmse(y: np.ndarray, target: np.ndarray) -> float:
    """Mean squared error divided by the target's variance (1.0 = best constant guess)."""
    return float(np.mean((y - target) ** 2) / np.var(target))


def on_off_accuracy(y: np.ndarray, target: np.ndarray) -> float:
    """Fraction of steps where the output is on the same side of ON/2 as the target."""
    return float(np.mean((y > ON / 2) == (target > ON / 2)))


# ---- settings --------------------------------------------------------------------------

@dataclasses.dataclass(frozen=True)
class Settings:
    scale: float = 1.0        # duration scale: 1.0 = Jaeger's full task (timers of 100..1000 steps)
    hidden: int = 32          # units of the RNN and of the LSTM
    streams: int = 32         # B parallel training streams
    window: int = 200         # W steps per truncated-BPTT window
    chunk: int = 16           # windows per stream before a fresh batch of streams (state reset)
    updates: int = 2000       # gradient steps per recurrent model
    lr: float = 1e-2          # Adam learning rate
    clip: float = 1.0         # global gradient-norm clip
    reservoir: int = 400      # ESN units
    esn_train: int = 60_000   # ESN training steps (one long sequence)
    ridge: float = 1e-4       # ESN readout ridge penalty (times the number of samples)
    test_length: int = 8000   # steps of the test sequence (unscaled; multiplied by scale)


def settings_for(scale: float, quick: bool) -> Settings:
    if quick:
        return Settings(scale=scale, hidden=16, streams=16, window=40, chunk=8, updates=400,
                        reservoir=200, esn_train=8000, ridge=1e-5, test_length=20_000)
    return Settings(scale=scale)


# ---- truncated BPTT --------------------------------------------------------------------

def windows(u: np.ndarray, y: np.ndarray, window: int):
    """Cut (B, T, .) streams into consecutive (B, W, .) windows.

    Stream layout for B = 3 streams, W = 4 (each letter is one step)::

        stream 0:  a b c d | e f g h | i j k l     window 0 = [abcd, mnop, yzAB]
        stream 1:  m n o p | q r s t | u v w x     window 1 = [efgh, qrst, CDEF]
        stream 2:  y z A B | C D E F | G H I J     window 2 = [ijkl, uvwx, GHIJ]

    Row b of window k+1 continues row b of window k, so the state left by one
    window is the right initial state for the next.
    """
    for k in range(u.shape[1] // window):
        s = slice(k * window, (k + 1) * window)
        yield u[:, s], y[:, s]


def build_model(tf, kind: str, hidden: int, longest: int):
    """A recurrent layer ("rnn": tanh, "lstm") and a linear readout to one output."""
    if kind == "rnn":
        layer = tf.keras.layers.SimpleRNN(hidden, return_sequences=True, return_state=True)
    else:
        layer = tf.keras.layers.LSTM(hidden, return_sequences=True, return_state=True,
                                     unit_forget_bias=False,
                                     bias_initializer=chrono_bias(tf, hidden, longest))
    return layer, tf.keras.layers.Dense(1)


def chrono_bias(tf, hidden: int, longest: int):
    """LSTM bias initialiser whose forget gates remember for 1..`longest` steps.

    "Chrono" initialisation (Tallec & Ollivier 2018): forget bias log(U(1, longest)),
    so unit k starts with a memory time constant ~1/(1 - f) spread up to `longest`;
    input bias = -forget bias. Keras' bias layout is [i | f | c | o].
    """
    def init(shape, dtype=None):
        b_f = tf.math.log(tf.random.uniform((hidden,), 1.0, max(2.0, longest - 1.0)))
        return tf.cast(tf.concat([-b_f, b_f, tf.zeros(2 * hidden)], 0), dtype)
    return init


def zero_state(tf, kind: str, batch: int, hidden: int):
    n = 1 if kind == "rnn" else 2                      # (h,) or (h, c)
    return [tf.zeros((batch, hidden)) for _ in range(n)]


def train_recurrent(tf, kind: str, task: TimerTask, cfg: Settings):
    """Train by truncated BPTT; return (layer, readout, loss per update)."""
    layer, readout = build_model(tf, kind, cfg.hidden, task.duration(1.0))
    opt = tf.keras.optimizers.Adam(cfg.lr)

    @tf.function
    def update(u, y, state):                           # u (B, W, 2), y (B, W, 1)
        with tf.GradientTape() as tape:
            seq, *state = layer(u, initial_state=state)  # seq (B, W, H)
            loss = tf.reduce_mean((readout(seq) - y) ** 2)
        params = layer.trainable_variables + readout.trainable_variables
        grads, _ = tf.clip_by_global_norm(tape.gradient(loss, params), cfg.clip)
        opt.apply_gradients(zip(grads, params))
        return loss, state

    losses = []
    bar = _common.phase_bar(cfg.updates, f"timer: training the {kind}")
    while len(losses) < cfg.updates:
        u, y = task.generate(cfg.streams, cfg.chunk * cfg.window)
        state = zero_state(tf, kind, cfg.streams, cfg.hidden)   # fresh streams, fresh state
        for uw, yw in windows(u, y, cfg.window):
            loss, state = update(uw, yw, state)
            # The state is carried into the next window; `update` starts a new tape, so the
            # gradient is cut here: BPTT never reaches back past the window boundary.
            losses.append(float(loss))
            bar.update(1)
            if len(losses) == cfg.updates:
                break
    bar.close()
    return layer, readout, np.array(losses)


def predict_recurrent(tf, kind: str, layer, readout, u: np.ndarray, hidden: int) -> np.ndarray:
    """Run a trained model over a (1, T, 2) sequence; (T,) outputs."""
    seq, *_ = layer(u, initial_state=zero_state(tf, kind, 1, hidden))
    return readout(seq).numpy()[0, :, 0]


# ---- echo state network ----------------------------------------------------------------

def reservoir(rng: np.random.Generator, n: int, scale: float, radius: float = 0.95,
              spike_gain: float = 5.0):
    """A fixed random reservoir: weights W (n, n), input weights (n, 3), leak rates (n,).

    Leak rates are log-uniform from 1 down to 1/(1000 scale), so the units' time
    constants cover everything from one step to the longest timer. A one-step
    spike barely moves a slow unit, so u1's input weights are `spike_gain` x larger.
    """
    w = rng.normal(size=(n, n)) * (rng.random((n, n)) < 10 / n)       # sparse, ~10 inputs per unit
    w = with_spectral_radius(w, radius)
    w_in = rng.uniform(-1, 1, (n, 3)) * [spike_gain, 1, 1]              # for (u1, u2, bias)
    leak = np.exp(rng.uniform(np.log(1 / (1000 * scale)), 0, n))
    return w, w_in, leak


def reservoir_states(res, u: np.ndarray) -> np.ndarray:
    """Drive the reservoir with inputs (T, 2); return features (T, n + 3): states, inputs, 1."""
    w, w_in, leak = res
    x = np.zeros(len(w))
    feats = np.empty((len(u), len(w) + 3))
    for t in range(len(u)):
        inp = np.array([u[t, 0], u[t, 1], 1.0])
        x = (1 - leak) * x + leak * np.tanh(w @ x + w_in @ inp)        # leaky tanh units
        feats[t, :len(w)] = x
        feats[t, len(w):] = inp
    return feats


def ridge_readout(feats: np.ndarray, target: np.ndarray, ridge: float) -> np.ndarray:
    """Output weights (n + 3,) minimising |feats @ w - target|^2 + ridge * T * |w|^2."""
    a = feats.T @ feats + ridge * len(feats) * np.eye(feats.shape[1])
    return np.linalg.solve(a, feats.T @ target)


# ---- the experiment --------------------------------------------------------------------

def run(out_dir: Path, seed: int = 0, quick: bool = False, scale: float = None, **_) -> dict:
    """Train the three models, plot target vs. output on a test sequence, return the errors."""
    if scale is None:
        scale = 0.05 if quick else 1.0
    cfg = settings_for(scale, quick)
    plt = _common.pyplot()
    tf = _common.tensorflow(seed)
    rng = np.random.default_rng(seed)

    # Every model starts the test sequence from a zero state; the first `warm` steps (one
    # longest timer) let the states settle and are not scored or plotted.
    task = TimerTask(rng, scale)
    warm = task.duration(1.0)
    test_u, test_y = TimerTask(np.random.default_rng([seed, 1]), scale).generate(
        1, warm + max(int(cfg.test_length * scale), 200))
    target = test_y[0, warm:, 0]
    outputs, results = {}, {"scale": scale, "seed": seed, "quick": quick,
                            "settings": dataclasses.asdict(cfg)}

    for kind in ("rnn", "lstm"):
        t0 = time.perf_counter()
        layer, readout, losses = train_recurrent(tf, kind, task, cfg)
        outputs[kind] = predict_recurrent(tf, kind, layer, readout, test_u, cfg.hidden)[warm:]
        results[kind] = {"train_seconds": time.perf_counter() - t0,
                         "final_train_mse": float(losses[-50:].mean())}

    t0 = time.perf_counter()
    res = reservoir(rng, cfg.reservoir, scale)
    train_u, train_y = task.generate(1, warm + cfg.esn_train)
    w_out = ridge_readout(reservoir_states(res, train_u[0])[warm:], train_y[0, warm:, 0], cfg.ridge)
    outputs["esn"] = (reservoir_states(res, test_u[0]) @ w_out)[warm:]
    results["esn"] = {"train_seconds": time.perf_counter() - t0}

    for kind, out in outputs.items():
        results[kind].update(test_nmse=nmse(out, target), test_mse=float(np.mean((out - target) ** 2)),
                             test_on_off_accuracy=on_off_accuracy(out, target))
    results["lstm_beats_rnn"] = results["lstm"]["test_nmse"] < results["rnn"]["test_nmse"]

    _common.save_figure(plot(plt, test_u[0, warm:], target, outputs, results), out_dir, NAME)
    _common.save_json(out_dir, NAME, results)
    return results


LABELS = {"rnn": "vanilla RNN (BPTT)", "lstm": "LSTM (BPTT)", "esn": "echo state network"}


def plot(plt, u: np.ndarray, target: np.ndarray, outputs: dict, results: dict):
    fig, axes = plt.subplots(len(outputs) + 1, 1, figsize=(10, 7), sharex=True)
    axes[0].plot(u[:, 0], color="gray", lw=0.8, label="u1 (start)")
    axes[0].plot(u[:, 1], color="green", lw=0.8, label="u2 (duration)")
    axes[0].legend(loc="upper right", fontsize=8)
    axes[0].set_title(f"Jaeger's timer, duration = {1000 * results['scale']:g} x u2 steps")
    for ax, (kind, out) in zip(axes[1:], outputs.items()):
        ax.plot(target, color="tab:blue", lw=1.2, label="target")
        ax.plot(out, color="tab:orange", lw=0.9, label="output")
        ax.set_ylim(-0.25, 0.85)
        r = results[kind]
        ax.set_title(f"{LABELS[kind]}: test NMSE {r['test_nmse']:.3f}, "
                     f"on/off accuracy {r['test_on_off_accuracy']:.1%}", fontsize=9)
    axes[1].legend(loc="upper right", fontsize=8)
    axes[-1].set_xlabel("time step")
    fig.tight_layout()
    return fig
