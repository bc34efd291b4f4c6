"""Run in a fresh process by test_engine: print a SHA-256 of what this process computes.

    python _probe.py decode FILE.lstmz MODEL.npz [numpy|tf]  -> sha256 of the decoded bytes
    python _probe.py tables MODEL.npz TEXT [numpy|tf]        -> sha256 of every frequency table
    python _probe.py float MODEL.npz TEXT                    -> sha256 of plain float32 inference
    python _probe.py float-adapt MODEL.npz TEXT              -> sha256 of float32 weights after
                                                                online SGD (what peers do)
"""

import hashlib
import sys

import numpy as np


def tables(model_path, text_path, backend):
    from lstmzip.engine import make_engine
    from lstmzip.model import Model
    engine = make_engine(Model.load(model_path), backend, "cpu")
    data = np.frombuffer(open(text_path, "rb").read(), np.uint8).reshape(32, -1)   # 32 streams
    state, prev, h = engine.initial_state(32), np.zeros(32, np.int64), hashlib.sha256()
    for t in range(data.shape[1]):
        h.update(np.ascontiguousarray(engine.step(prev, state), np.int64).tobytes())
        prev = data[:, t].astype(np.int64)
    return h.hexdigest()


def float_inference(model_path, text_path, adapt=False):
    """The usual way: float32 weights, float32 GEMMs, libm sigmoid/tanh (what peers do); with
    adapt, the output layer also takes a float32 SGD step every 4 steps (dynamic evaluation)."""
    from lstmzip.model import Model
    m = Model.load(model_path)
    cfg, H = m.config, m.config.hidden
    ws = [np.float32(2.0 ** -s) for s in cfg.weight_shifts]
    kern = [w.astype(np.float32) * s for w, s in zip(m.weights, ws)]
    table = (m.in_table + m.biases[0]).astype(np.float32) * np.float32(2.0 ** -(cfg.weight_shifts[0] + 7))
    bias = [b.astype(np.float32) * np.float32(2.0 ** -(s + 7)) for b, s in zip(m.biases, cfg.weight_shifts)]
    w_out = m.w_out.astype(np.float32) * np.float32(2.0 ** -cfg.out_shift)
    data = np.frombuffer(open(text_path, "rb").read(), np.uint8).reshape(32, -1)
    hs = [np.zeros((32, H), np.float32) for _ in kern]
    cs = [np.zeros((32, H), np.float32) for _ in kern]
    prev, digest = np.zeros(32, np.int64), hashlib.sha256()
    sig = lambda x: 1 / (1 + np.exp(-x))
    for t in range(data.shape[1]):
        for l, w in enumerate(kern):
            inp = hs[0] if l == 0 else np.concatenate([hs[l - 1], hs[l]], axis=1)
            a = inp @ w + (table[prev] if l == 0 else bias[l])
            i, f, g, o = np.split(a, 4, axis=1)
            cs[l] = sig(f) * cs[l] + sig(i) * np.tanh(g)
            hs[l] = sig(o) * np.tanh(cs[l])
        logits = hs[-1] @ w_out
        digest.update(logits.tobytes())
        prev = data[:, t].astype(np.int64)
        if adapt:
            p = np.exp(logits - logits.max(axis=1, keepdims=True))
            p /= p.sum(axis=1, keepdims=True)
            p[np.arange(32), prev] -= 1
            grad = hs[-1].T @ p
            w_out -= np.float32(0.05 / 32) * grad
    if adapt:
        return hashlib.sha256(w_out.tobytes()).hexdigest()
    return digest.hexdigest()


def main(argv):
    if argv[0] == "decode":
        from lstmzip.codec import Decompressor
        out = Decompressor(argv[2], backend=argv[3] if len(argv) > 3 else "numpy").decompress(open(argv[1], "rb").read())
        print(hashlib.sha256(out).hexdigest())
    elif argv[0] == "tables":
        print(tables(argv[1], argv[2], argv[3] if len(argv) > 3 else "numpy"))
    elif argv[0] == "float":
        print(float_inference(argv[1], argv[2]))
    elif argv[0] == "float-adapt":
        print(float_inference(argv[1], argv[2], adapt=True))


if __name__ == "__main__":
    main(sys.argv[1:])
