#!/usr/bin/env python3
"""Speed of a training preset and of the integer engine for its shape (docs/training.md's table).

    python bench/train_speed.py PRESET [--seconds 20] [--engine-seconds 8] [--corpus FILE]

Prints one JSON line: float training steps/s and KB/s (steady state: three warm-up steps first,
so the tf.function trace is not counted; 2 TensorFlow threads, as `lstmzip train` by default),
and the numpy engine's KB/s with 64 parallel streams on a seeded model of the preset's shape
(speed does not depend on the weights). KB = 1024 bytes, as everywhere in lstmzip.
"""

import argparse
import json
import time

import numpy as np


def train_speed(preset: str, seconds: float, corpus: np.ndarray) -> dict:
    import tensorflow as tf

    from lstmzip.train import data as D
    from lstmzip.train import loop
    from lstmzip.train.config import preset as make_preset
    from lstmzip.train.tfmodel import CharLSTM

    tf.config.threading.set_intra_op_parallelism_threads(2)
    tf.config.threading.set_inter_op_parallelism_threads(1)
    cfg = make_preset(preset)
    streams = D.batchify(corpus, cfg.batch)
    model = CharLSTM(cfg.embed, cfg.layers, cfg.hidden, seed=1)
    opt = loop.Adam(model.weights, cfg.beta1, cfg.beta2, cfg.eps)
    step, _ = loop.make_train_step(model, opt, None, cfg.jit)
    state = list(model.zero_state(cfg.batch))
    windows = D.num_windows(streams, cfg.bptt)

    def one(w: int) -> None:
        x, y = D.window(streams, w % windows, cfg.bptt)
        bits, state[0], state[1], _, _ = step(tf.constant(x), tf.constant(y), state[0], state[1],
                                              tf.constant(1e-3), tf.constant(1.0))
        float(bits)                                   # wait for the step

    for w in range(3):
        one(w)
    start, steps = time.perf_counter(), 0
    while time.perf_counter() - start < seconds:
        one(3 + steps)
        steps += 1
    took = time.perf_counter() - start
    return {"steps": steps, "seconds": round(took, 1), "steps_per_s": round(steps / took, 3),
            "train_kbps": round(steps * cfg.batch * cfg.bptt / took / 1024, 1)}


def engine_speed(preset: str, seconds: float, streams: int = 64) -> dict:
    from lstmzip.engine import make_engine
    from lstmzip.model import random_model
    from lstmzip.train.config import preset as make_preset

    cfg = make_preset(preset)
    engine = make_engine(random_model(layers=cfg.layers, hidden=cfg.hidden, seed=0), "numpy")
    state = engine.initial_state(streams)
    prev = np.random.default_rng(0).integers(0, 256, streams).astype(np.int64)
    with engine.parallel():
        for _ in range(20):
            engine.step(prev, state)
        start, steps = time.perf_counter(), 0
        while time.perf_counter() - start < seconds:
            engine.step(prev, state)
            steps += 1
        took = time.perf_counter() - start
    return {"engine_streams": streams, "engine_kbps": round(steps * streams / took / 1024, 1)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("preset", choices=("tiny", "small", "default", "large"))
    ap.add_argument("--seconds", type=float, default=20.0, help="training time measured [Default: 20]")
    ap.add_argument("--engine-seconds", type=float, default=8.0, help="engine time measured [Default: 8]")
    ap.add_argument("--corpus", help="training bytes (any text) [Default: random bytes; speed is the same]")
    args = ap.parse_args()
    if args.corpus:
        corpus = np.fromfile(args.corpus, np.uint8)
    else:
        corpus = np.random.default_rng(0).integers(0, 256, 4_000_000).astype(np.uint8)
    result = {"preset": args.preset, **train_speed(args.preset, args.seconds, corpus),
              **engine_speed(args.preset, args.engine_seconds)}
    print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
