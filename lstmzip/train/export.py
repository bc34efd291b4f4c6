"""Export a trained checkpoint to the integer model file, and measure what the integer engine achieves.

`to_model` is where the float weights become the engine's integers (formats in quant.py):

  in_table = round((emb @ Wx_1) * 2^(ws_1 + 7))        int32, embedding folded into layer 1's input
  w_1      = int8(Wh_1 * 2^ws_1)                        [H, 4H]  recurrent only
  w_l      = int8([Wx_l; Wh_l] * 2^ws_l)   (l >= 2)     [2H, 4H] input rows, then recurrent rows
  b_l      = round(b_l * 2^(ws_l + 7))                  int32, accumulator units
  w_out    = int8(W_out * 2^wso), b_out = round(b_out * 2^(wso + 7))

and refuses any model whose GEMM partial sums could leave the exact float32 range.
"""
from __future__ import annotations

import json
import os
import time

import numpy as np

from . import data as D
from . import quant
from ..model import Model, ModelConfig


def to_model(weights: dict, embed: int, layers: int, hidden: int, shifts: list[int], out_shift: int,
             gate_bits: int, logit_bits: int, name: str, meta: dict | None = None) -> Model:
    """Integer `Model` from float weights {emb, wx1.., wh1.., b1.., w_out, b_out} and fixed shifts."""
    if len(shifts) != layers:
        raise ValueError(f"{layers} layers but {len(shifts)} weight shifts")
    for l, ws in enumerate(shifts):
        if ws + 7 - gate_bits < 0:
            raise ValueError(f"layer {l + 1}: gate shift ws + 7 - P = {ws + 7 - gate_bits} < 0")
    if out_shift + 7 - logit_bits < 0:
        raise ValueError(f"output shift wso + 7 - Q = {out_shift + 7 - logit_bits} < 0")
    f32 = lambda k: np.asarray(weights[k], np.float32)  # noqa: E731
    table = f32("emb") @ f32("wx1")                                   # float32, as in the QAT graph
    in_table = np.round(table.astype(np.float64) * 2.0 ** (shifts[0] + 7))
    kernels, biases = [], []
    for l in range(layers):
        w = f32(f"wh{l + 1}") if l == 0 else np.concatenate([f32(f"wx{l + 1}"), f32(f"wh{l + 1}")])
        kernels.append(quant.quantize(w, shifts[l]))
        biases.append(np.round(f32(f"b{l + 1}").astype(np.float64) * 2.0 ** (shifts[l] + 7)))
        quant.check_exact(f"layer {l + 1}", kernels[-1])
    w_out = quant.quantize(f32("w_out"), out_shift)
    quant.check_exact("output layer", w_out)
    b_out = np.round(f32("b_out").astype(np.float64) * 2.0 ** (out_shift + 7))
    for label, arr in [("in_table", in_table), ("b_out", b_out)] + [(f"b{i + 1}", b) for i, b in enumerate(biases)]:
        if np.max(np.abs(arr)) >= 2**30:
            raise ValueError(f"{label} does not fit the engine's int32 accumulators")
    cfg = ModelConfig(name=name, embed=embed, layers=layers, hidden=hidden, weight_shifts=[int(s) for s in shifts],
                      out_shift=int(out_shift), gate_bits=gate_bits, logit_bits=logit_bits, meta=meta or {})
    model = Model(cfg, in_table.astype(np.int32), kernels, [b.astype(np.int32) for b in biases], w_out,
                  b_out.astype(np.int32), quant.gate_table(gate_bits), quant.exp_table(logit_bits))
    model.validate()
    return model


def weights_by_name(tf_model) -> dict:
    """{emb, wx1, wh1, b1, ..., w_out, b_out} numpy arrays of a CharLSTM."""
    return {v.name.split(":")[0]: v.numpy() for v in tf_model.weights}


def engine_bits(model: Model, streams: np.ndarray, engine=None) -> np.ndarray:
    """Code length in bits of every byte of `streams` [S, n] under the integer engine, from zero state."""
    from ..engine import NumpyEngine

    eng = engine or NumpyEngine(model)
    s, n = streams.shape
    state = eng.initial_state(s)
    prev = np.zeros(s, np.int64)
    bits = np.empty((s, n))
    rows = np.arange(s)
    for t in range(n):
        freq = eng.step(prev, state)
        y = streams[:, t].astype(np.int64)
        bits[:, t] = 16.0 - np.log2(freq[rows, y])
        prev = y
    return bits


def eval_streams(val: np.ndarray, val_bytes: int, val_streams: int, bptt: int) -> np.ndarray:
    """The validation bytes exactly as the trainer's `evaluate` sees them (full windows)."""
    streams = D.batchify(D.val_slice(val, val_bytes), val_streams)
    return streams[:, : D.num_windows(streams, bptt) * bptt]


def export_checkpoint(ckpt: str, output: str, run_dir: str | None = None, name: str | None = None) -> dict:
    """Checkpoint -> integer model file at `output`; returns float / QAT / integer validation bpb."""
    from . import loop
    from .config import TrainConfig
    from .tfmodel import QuantSpec

    tf_model, arrays, meta = loop.model_from_checkpoint(ckpt)
    cfg = TrainConfig(**meta["config"])
    if "shifts" in meta:
        q = QuantSpec(meta["shifts"], meta["out_shift"], cfg.gate_bits, cfg.logit_bits)
    else:
        q = loop.choose_quant(tf_model, cfg)  # a float checkpoint: post-training quantization
    name = name or os.path.splitext(os.path.basename(output))[0]
    run_dir = run_dir or os.path.dirname(os.path.abspath(ckpt))
    info = dict(phase=meta["phase"], steps=meta["state"]["step"], minutes=round(meta["state"]["elapsed"] / 60, 1),
                config=meta["config"])
    sources_path = os.path.join(run_dir, "sources.json")
    if os.path.exists(sources_path):
        with open(sources_path) as f:
            info["data"] = json.load(f)
    model = to_model(weights_by_name(tf_model), cfg.embed, cfg.layers, cfg.hidden, q.shifts, q.out_shift,
                     cfg.gate_bits, cfg.logit_bits, name)
    result = dict(checkpoint=ckpt, output=None)
    if os.path.exists(os.path.join(run_dir, "corpus-val.bin")):
        corpus = loop.load_run_corpus(run_dir)
        streams = eval_streams(corpus.val, cfg.val_bytes, cfg.val_streams, cfg.bptt)
        t0 = time.time()
        int_bpb = float(engine_bits(model, streams).mean())
        secs = time.time() - t0
        qat_bpb = loop.evaluate(tf_model, corpus.val, cfg, q, {})
        float_bpb = loop.evaluate(tf_model, corpus.val, cfg, None, {})
        float_ckpt = os.path.join(run_dir, "float-best.npz")
        if meta["phase"] == "qat" and os.path.exists(float_ckpt):
            fmodel, _, fmeta = loop.model_from_checkpoint(float_ckpt)
            float_bpb = loop.evaluate(fmodel, corpus.val, cfg, None, {})
            info.update(float_steps=fmeta["state"]["step"], float_minutes=round(fmeta["state"]["elapsed"] / 60, 1))
        result.update(val_bytes=int(streams.size), float_bpb=float_bpb, qat_sim_bpb=qat_bpb, int_bpb=int_bpb,
                      int_vs_float=int_bpb / float_bpb - 1.0, engine_bytes_per_s=streams.size / secs)
        info["validation"] = {k: result[k] for k in ("val_bytes", "float_bpb", "qat_sim_bpb", "int_bpb")}
    model = to_model(weights_by_name(tf_model), cfg.embed, cfg.layers, cfg.hidden, q.shifts, q.out_shift,
                     cfg.gate_bits, cfg.logit_bits, name, meta=info)
    os.makedirs(os.path.dirname(os.path.abspath(output)), exist_ok=True)
    sha = model.save(output)
    result.update(output=str(model.path), sha256=sha, bytes=os.path.getsize(model.path),
                  shifts=q.shifts, out_shift=q.out_shift)
    curve = os.path.join(run_dir, "loss.png")
    if os.path.exists(curve):  # the loss curve (loop.plot_history), shown by the model card
        import shutil
        shutil.copyfile(curve, os.path.splitext(str(model.path))[0] + ".loss.png")
    return result
