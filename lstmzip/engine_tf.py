"""The integer engine in TensorFlow ops (``--backend tf``), on CPU or GPU.

Same computation as ``engine.NumpyEngine`` (read that docstring for the
arithmetic); the tests prove both give identical frequency tables. Two details
differ only in how they are written, not in what they compute:

* ``tf.argmax`` does not promise which index wins a tie (and the GPU kernel may
  pick another than the CPU's), so the first maximum is found explicitly.
* TensorFloat-32 is switched off. It would still be exact (int8 values fit a
  TF32 mantissa), but we do not rely on that.

The recurrent state stays on the device between steps as TF tensors; only the
previous bytes go in and the (n, 256) frequency tables come out.
"""

from __future__ import annotations

import numpy as np

from .engine import PROB_TOTAL, EngineState, _fixed_point, one_blas_thread
from .errors import LstmzipError
from .model import Model


def _pick_device(tf, device: str) -> str:
    gpus = tf.config.list_physical_devices("GPU")
    if device == "gpu" and not gpus:
        raise LstmzipError("--device gpu: TensorFlow sees no GPU on this machine")
    return "/GPU:0" if gpus and device in ("auto", "gpu") else "/CPU:0"


class TFEngine:
    backend = "tf"

    def __init__(self, model: Model, device: str = "auto"):
        try:
            from .tflog import import_tensorflow
            tf = import_tensorflow()              # without its start-up log unless -v
        except ImportError:
            raise LstmzipError("--backend tf needs TensorFlow: pip install 'lstmzip[train]'") from None
        tf.config.experimental.enable_tensor_float_32_execution(False)
        self.tf = tf
        self.model = model
        self.device = _pick_device(tf, device)
        self._twin = None
        h, r, p, tanh0, offset, gate_shifts, out_shift = _fixed_point(model)
        self.hidden = h
        n_layers = len(model.weights)
        d_max = model.config.exp_size - 1
        with tf.device(self.device):
            # Variables, not constants: online adaptation replaces them (set_layers)
            kernels = [tf.Variable(w.astype(np.float32), trainable=False) for w in model.weights]
            in_table = tf.Variable(model.in_table + model.biases[0], trainable=False)
            biases = [tf.Variable(b, trainable=False) for b in model.biases]
            w_out = tf.Variable(model.w_out.astype(np.float32), trainable=False)   # set_output_layer
            b_out = tf.Variable(model.b_out.astype(np.int32), trainable=False)
            gtab = tf.constant(model.gate_table)
            etab = tf.constant(model.exp_table.astype(np.int64))
            off = tf.constant(offset)
        self._w_out, self._b_out = w_out, b_out
        self._kernels, self._in_table, self._biases = kernels, in_table, biases
        cols = tf.range(256, dtype=tf.int32)

        def layer(l, x, c, prev):
            acc = tf.cast(tf.linalg.matmul(x, kernels[l]), tf.int32)            # exact integers
            acc = acc + (tf.gather(in_table, prev) if l == 0 else biases[l])
            u = tf.clip_by_value(tf.bitwise.right_shift(acc, gate_shifts[l]), -r, r) + off
            gates = tf.gather(gtab, u)
            i, f, g, o = gates[:, :h], gates[:, h:2 * h], gates[:, 2 * h:3 * h], gates[:, 3 * h:]
            c = tf.clip_by_value(tf.bitwise.right_shift(f * c + i * g, 8), -32767, 32767)
            t = tf.clip_by_value(tf.bitwise.right_shift(c, 8 - p), -r, r) + (tanh0 + r)
            return c, tf.bitwise.right_shift(o * tf.gather(gtab, t), 9)

        def frequencies(z):
            top_val = tf.reduce_max(z, axis=1, keepdims=True)
            top = tf.reduce_min(tf.where(z == top_val, cols, 256), axis=1)         # first argmax
            d = tf.minimum(tf.bitwise.right_shift(top_val - z, out_shift), d_max)
            e = tf.gather(etab, d)
            total = tf.reduce_sum(e, axis=1, keepdims=True)
            freq = tf.math.floordiv(e * (PROB_TOTAL - 256), total) + 1
            fix = PROB_TOTAL - tf.reduce_sum(freq, axis=1)
            return freq + tf.one_hot(top, 256, dtype=tf.int64) * fix[:, None]

        def step(prev, xs, cs):
            xs, cs = list(xs), list(cs)
            for l in range(n_layers):
                cs[l], hv = layer(l, xs[l], cs[l], prev)
                hf = tf.cast(hv, tf.float32)
                xs[l] = hf if l == 0 else tf.concat([xs[l][:, :h], hf], axis=1)
                if l + 1 < n_layers:
                    xs[l + 1] = tf.concat([hf, xs[l + 1][:, h:]], axis=1)
            z = tf.cast(tf.linalg.matmul(xs[-1][:, -h:], w_out), tf.int32) + b_out
            return frequencies(z), xs, cs

        ks = [w.shape[0] for w in model.weights]
        signature = (tf.TensorSpec([None], tf.int32),
                     [tf.TensorSpec([None, k], tf.float32) for k in ks],
                     [tf.TensorSpec([None, h], tf.int32) for _ in ks])
        self._step = tf.function(step, input_signature=signature)

    def static_twin(self) -> "TFEngine":
        """An engine of the same model on the same device that never adapts (made once)."""
        if self._twin is None:
            self._twin = TFEngine(self.model, "gpu" if "GPU" in self.device else "cpu")
        return self._twin

    def set_output_layer(self, w: np.ndarray, b: np.ndarray) -> None:
        """Replace the output layer (integer (H, 256) weights within int8, (256,) biases)."""
        self._w_out.assign(np.asarray(w, np.float32))
        self._b_out.assign(np.asarray(b, np.int32))

    def set_layers(self, in_table: np.ndarray, weights, biases) -> None:
        """Replace the recurrent layers (see ``NumpyEngine.set_layers``)."""
        self._in_table.assign(np.asarray(in_table, np.int32))
        for var, w in zip(self._kernels, weights):
            var.assign(np.asarray(w, np.float32))
        for var, b in zip(self._biases, biases):
            var.assign(np.asarray(b, np.int32))

    def top_output(self, state: EngineState, n: int) -> np.ndarray:
        """The top layer's output h (n, H) of the last step, integer-valued float32."""
        return np.asarray(state.xs[-1][:n, -self.hidden:])

    def parallel(self):
        """Context for a coding loop: TensorFlow manages its own threads; numpy's BLAS (the
        adapter's GEMMs) gets one (``engine.one_blas_thread``)."""
        return one_blas_thread()

    def initial_state(self, streams: int) -> EngineState:
        tf = self.tf
        with tf.device(self.device):
            xs = [tf.zeros((streams, w.shape[0]), tf.float32) for w in self.model.weights]
            cs = [tf.zeros((streams, self.hidden), tf.int32) for _ in self.model.weights]
        return EngineState(xs, cs)

    def step(self, prev: np.ndarray, state: EngineState) -> np.ndarray:
        n = len(prev)
        if n < int(state.xs[0].shape[0]):           # a block's last step: drop the finished streams
            state.xs = [x[:n] for x in state.xs]
            state.cs = [c[:n] for c in state.cs]
        with self.tf.device(self.device):
            freq, state.xs, state.cs = self._step(self.tf.constant(prev, self.tf.int32), state.xs, state.cs)
        return freq.numpy()
