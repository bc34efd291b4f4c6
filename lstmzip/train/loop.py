"""Training loop: truncated BPTT over stateful streams, Adam with warmup + cosine decay over a wall-clock
budget, gradient-norm clipping, validation in bits per byte, checkpoints that resume exactly.

Two phases share this loop: "float" (the ordinary LSTM) and "qat" (the integer engine simulated, see
tfmodel.py), each with its own budget, learning rate and checkpoint files in the run directory:

  run_dir/corpus-train.bin, corpus-val.bin, sources.json   the data, frozen at the first start
  run_dir/config.json                                      the TrainConfig of the run
  run_dir/float-last.npz, float-best.npz                   checkpoints (weights, Adam, data position,
  run_dir/qat-last.npz,   qat-best.npz                     stream state, RNG, step, elapsed time)
  run_dir/loss.png, loss.json                              the loss curve (train and validation bits/byte
                                                           against bytes seen; per kind for builder corpora)
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import os
import sys
import time

import numpy as np
import tensorflow as tf
from tqdm import tqdm

from . import data as D
from . import quant
from .config import TrainConfig
from .tfmodel import CharLSTM, QuantSpec, float_bits, quantized_bits

LN2 = math.log(2.0)


def log(msg: str) -> None:
    print(time.strftime("%H:%M:%S ") + msg, flush=True)


# ----------------------------------------------------------------------------------------- run dir

def prepare_run(run_dir: str, cfg: TrainConfig, specs: list[str], exclude: tuple[str, ...]) -> D.Corpus:
    """Read the corpus once and freeze it (and the config) in the run directory."""
    os.makedirs(run_dir, exist_ok=True)
    corpus = D.load_corpus(specs, exclude, cfg.val_fraction)
    corpus.train.tofile(os.path.join(run_dir, "corpus-train.bin"))
    corpus.val.tofile(os.path.join(run_dir, "corpus-val.bin"))
    write_sources(run_dir, corpus, exclude)
    save_config(run_dir, cfg)
    return corpus


def write_sources(run_dir: str, corpus: D.Corpus, exclude) -> None:
    with open(os.path.join(run_dir, "sources.json"), "w") as f:
        json.dump(dict(sources=corpus.sources, exclude=list(exclude), train_bytes=len(corpus.train),
                       val_bytes=len(corpus.val), val_parts=corpus.val_parts,
                       train_sha256=hashlib.sha256(corpus.train.tobytes()).hexdigest()), f, indent=1)


def load_run_corpus(run_dir: str) -> D.Corpus:
    """The frozen corpus of a run. If its corpus-*.bin files are missing (a run directory copied to a fresh
    machine, see models/training/README.md), the sources named in sources.json are read again (a rebuilt
    builder corpus at the same path) and frozen; a different sha256 is reported, and training goes on from
    the checkpoint's data position in the new bytes."""
    with open(os.path.join(run_dir, "sources.json")) as f:
        meta = json.load(f)
    train_bin, val_bin = os.path.join(run_dir, "corpus-train.bin"), os.path.join(run_dir, "corpus-val.bin")
    if not (os.path.exists(train_bin) and os.path.exists(val_bin)):
        specs = [s["name"] for s in meta["sources"]]
        log(f"{train_bin} missing: reading the sources again: {', '.join(specs)}")
        cfg = load_config(run_dir)
        corpus = D.load_corpus(specs, tuple(meta.get("exclude", ())), cfg.val_fraction)
        old = [s.get("sha256") for s in meta["sources"]]
        new = [s.get("sha256") for s in corpus.sources]
        if old != new:
            log(f"warning: the sources' bytes differ from the run's first start (sha256 {old} -> {new}); "
                f"training continues from the checkpoint on the new bytes")
        corpus.train.tofile(train_bin)
        corpus.val.tofile(val_bin)
        write_sources(run_dir, corpus, meta.get("exclude", ()))
        return corpus
    train = np.fromfile(train_bin, np.uint8)
    val = np.fromfile(val_bin, np.uint8)
    parts = [tuple(p) for p in meta["val_parts"]] if meta.get("val_parts") else None
    return D.Corpus(train=train, val=val, sources=meta["sources"], val_parts=parts)


def save_config(run_dir: str, cfg: TrainConfig) -> None:
    with open(os.path.join(run_dir, "config.json"), "w") as f:
        json.dump(dataclasses.asdict(cfg), f, indent=1)


def load_config(run_dir: str) -> TrainConfig:
    with open(os.path.join(run_dir, "config.json")) as f:
        return TrainConfig(**json.load(f))


# ------------------------------------------------------------------------------------- optimiser

class Adam:
    """Plain Adam over a fixed variable list; its state is two lists of tf.Variables and a step."""

    def __init__(self, variables, b1: float, b2: float, eps: float):
        self.vars = variables
        self.b1, self.b2, self.eps = b1, b2, eps
        self.m = [tf.Variable(tf.zeros_like(v), trainable=False) for v in variables]
        self.v = [tf.Variable(tf.zeros_like(v), trainable=False) for v in variables]
        self.t = tf.Variable(0.0, trainable=False)

    def apply(self, grads, lr):
        self.t.assign_add(1.0)
        c1 = 1.0 - tf.pow(self.b1, self.t)
        c2 = 1.0 - tf.pow(self.b2, self.t)
        for var, g, m, v in zip(self.vars, grads, self.m, self.v):
            m.assign(self.b1 * m + (1.0 - self.b1) * g)
            v.assign(self.b2 * v + (1.0 - self.b2) * tf.square(g))
            var.assign_sub(lr * (m / c1) / (tf.sqrt(v / c2) + self.eps))


def lr_at(step: int, elapsed: float, peak: float, warmup: int, budget_s: float, floor_ratio: float,
          max_steps: int = 0) -> float:
    """Linear warmup over `warmup` steps, then cosine decay to floor_ratio * peak over the budget.

    Progress is wall-clock based (elapsed / budget), so the schedule ends on time whatever the
    machine's speed; `max_steps`, when set, can end it earlier.
    """
    progress = min(1.0, elapsed / budget_s) if budget_s > 0 else 1.0
    if max_steps:
        progress = max(progress, min(1.0, step / max_steps))
    warm = min(1.0, (step + 1) / max(1, warmup))
    return peak * warm * (floor_ratio + (1.0 - floor_ratio) * 0.5 * (1.0 + math.cos(math.pi * progress)))


# ----------------------------------------------------------------------------------- step graphs

def make_train_step(model: CharLSTM, opt: Adam, q: QuantSpec | None, jit: bool):
    variables = model.weights
    groups = [model.layer_of(v.name) for v in variables]
    names = sorted(set(groups), key=groups.index)

    @tf.function(jit_compile=jit)
    def step(x, y, h, c, lr, clip):
        with tf.GradientTape() as tape:
            logits, h2, c2 = model(x, h, c, q)
            fbits = tf.reduce_mean(float_bits(logits, y))
            loss = fbits * LN2  # nats per byte
        grads = tape.gradient(loss, variables)
        grads = [tf.convert_to_tensor(g) for g in grads]
        sq = [tf.reduce_sum(tf.square(g)) for g in grads]
        gnorm = tf.sqrt(tf.add_n(sq))
        layer_norms = tf.stack([tf.sqrt(tf.add_n([s for s, gname in zip(sq, groups) if gname == n]))
                                for n in names])
        grads, _ = tf.clip_by_global_norm(grads, clip, use_norm=gnorm)
        opt.apply(grads, lr)
        reported = tf.reduce_mean(quantized_bits(logits, y, q)) if q is not None else fbits
        return reported, h2, c2, gnorm, layer_norms

    return step, names


def make_eval_step(model: CharLSTM, q: QuantSpec | None):
    @tf.function
    def step(x, y, h, c):
        logits, h2, c2 = model(x, h, c, q)
        bits = quantized_bits(logits, y, q) if q is not None else float_bits(logits, y)
        return bits, h2, c2

    return step


def evaluate(model: CharLSTM, val: np.ndarray, cfg: TrainConfig, q: QuantSpec | None, cache: dict,
             parts: list | None = None, detail: dict | None = None) -> float:
    """Bits per byte on the validation slice: `val_streams` streams from zero state, full windows.

    `parts` (``Corpus.val_parts``): more than 16 take an equal share each (``data.val_slice``); with a
    `detail` dict, it receives the bits/byte of every part ({name: bpb}) as well.
    """
    key = id(q)
    if key not in cache:
        cache[key] = make_eval_step(model, q)
    step = cache[key]
    where = None
    if parts and len(parts) > 16:
        sl, where = D.val_slice_parts(val, cfg.val_bytes, parts)
    else:
        sl = D.val_slice(val, cfg.val_bytes)
    streams = D.batchify(sl, cfg.val_streams)
    h, c = model.zero_state(cfg.val_streams)
    n_win = D.num_windows(streams, cfg.bptt)
    per_pos = np.zeros(streams.shape, np.float64)
    for w in range(n_win):
        x, y = D.window(streams, w, cfg.bptt)
        bits, h, c = step(tf.constant(x), tf.constant(y), h, c)
        per_pos[:, w * cfg.bptt:(w + 1) * cfg.bptt] = bits.numpy()
    counted = per_pos[:, : n_win * cfg.bptt]
    if detail is not None and where:
        # batchify is a reshape of the slice, so stream s, column t is byte s * n + t of the slice
        flat = per_pos.reshape(-1)
        mask = np.zeros(streams.shape, bool)
        mask[:, : n_win * cfg.bptt] = True
        mask = mask.reshape(-1)
        for name, a, b in where:
            b = min(b, len(flat))
            sel = mask[a:b]
            if sel.any():
                detail[name] = float(flat[a:b][sel].mean())
    return float(counted.sum()) / max(1, counted.size)


# ---------------------------------------------------------------------------------- checkpoints

def save_checkpoint(path: str, model: CharLSTM, opt: Adam, h, c, meta: dict) -> None:
    arrays = {f"w/{i}": v.numpy() for i, v in enumerate(model.weights)}
    arrays.update({f"m/{i}": v.numpy() for i, v in enumerate(opt.m)})
    arrays.update({f"v/{i}": v.numpy() for i, v in enumerate(opt.v)})
    arrays["adam_t"] = np.array(opt.t.numpy())
    arrays["h"], arrays["c"] = np.asarray(h), np.asarray(c)
    arrays["meta"] = np.frombuffer(json.dumps(meta).encode(), np.uint8)
    tmp = path + ".tmp.npz"
    np.savez_compressed(tmp, **arrays)
    os.replace(tmp, path)


def read_checkpoint(path: str) -> tuple[dict, dict]:
    with np.load(path, allow_pickle=False) as z:
        arrays = {k: z[k] for k in z.files}
    return arrays, json.loads(arrays.pop("meta").tobytes().decode())


def load_weights(model: CharLSTM, arrays: dict) -> None:
    for i, v in enumerate(model.weights):
        v.assign(arrays[f"w/{i}"])


def model_from_checkpoint(path: str) -> tuple[CharLSTM, dict, dict]:
    arrays, meta = read_checkpoint(path)
    cfg = meta["config"]
    model = CharLSTM(cfg["embed"], cfg["layers"], cfg["hidden"])
    load_weights(model, arrays)
    return model, arrays, meta


def choose_quant(model: CharLSTM, cfg: TrainConfig) -> QuantSpec:
    """Per-layer weight shifts from the float weights (gs = ws + 7 - P >= 0, os = wso + 7 - Q >= 0)."""
    shifts = []
    for l in range(model.layers):
        w = model.wh[l].numpy() if l == 0 else np.concatenate([model.wx[l].numpy(), model.wh[l].numpy()])
        shifts.append(quant.choose_shift(w, cfg.gate_bits - 7))
    out = quant.choose_shift(model.w_out.numpy(), cfg.logit_bits - 7)
    return QuantSpec(shifts, out, cfg.gate_bits, cfg.logit_bits)


# -------------------------------------------------------------------------------------- training

def train_phase(run_dir: str, cfg: TrainConfig, phase: str, resume: bool = True,
                init_from: str | None = None, progress: bool = True, interrupt_after: int = 0) -> dict:
    """Run (or continue) one phase, "float" or "qat"; returns the final metrics.

    float: starts from fresh weights, or from `run_dir/float-last.npz` when resuming.
    qat:   starts from `init_from` (default: float-best.npz) with shifts chosen from its weights,
           or continues `run_dir/qat-last.npz`.
    `interrupt_after` (tests): save a checkpoint and stop after that many steps of this call, as if killed.
    """
    assert phase in ("float", "qat")
    corpus = load_run_corpus(run_dir)
    last = os.path.join(run_dir, f"{phase}-last.npz")
    best_path = os.path.join(run_dir, f"{phase}-best.npz")
    model = CharLSTM(cfg.embed, cfg.layers, cfg.hidden, seed=cfg.seed)
    opt = Adam(model.weights, cfg.beta1, cfg.beta2, cfg.eps)
    B, T = cfg.batch, cfg.bptt
    budget_s = 60.0 * (cfg.minutes if phase == "float" else cfg.qat_minutes)
    peak = cfg.lr if phase == "float" else cfg.qat_lr
    warmup = cfg.warmup_steps if phase == "float" else max(1, cfg.warmup_steps // 10)
    floor_ratio = cfg.lr_min_ratio if phase == "float" else 0.0
    max_steps = cfg.max_steps if phase == "float" else cfg.qat_steps

    q = None
    h = c = None
    if resume and os.path.exists(last):
        arrays, meta = read_checkpoint(last)
        load_weights(model, arrays)
        for i in range(len(opt.m)):
            opt.m[i].assign(arrays[f"m/{i}"])
            opt.v[i].assign(arrays[f"v/{i}"])
        opt.t.assign(float(arrays["adam_t"]))
        h, c = tf.constant(arrays["h"]), tf.constant(arrays["c"])
        st = meta["state"]
        if phase == "qat":
            q = QuantSpec(meta["shifts"], meta["out_shift"], cfg.gate_bits, cfg.logit_bits)
        log(f"[{phase}] resumed {last}: step {st['step']}, epoch {st['epoch']}, window {st['window']}, "
            f"{st['elapsed'] / 60:.1f} min trained")
        if st["elapsed"] >= budget_s or (max_steps and st["step"] >= max_steps):
            log(f"[{phase}] already finished (raise --{'minutes' if phase == 'float' else 'qat-minutes'} to train on)")
            return dict(phase=phase, steps=st["step"], minutes=st["elapsed"] / 60, best_val=st["best_val"],
                        final_val=st["val_history"][-1]["val_bpb"] if st["val_history"] else None,
                        float_val=st.get("float_val"))
    else:
        st = dict(step=0, epoch=0, window=0, offset=0, elapsed=0.0, best_val=None,
                  rng=np.random.default_rng(cfg.seed).bit_generator.state, val_history=[])
        if phase == "qat":
            src = init_from or best_path.replace("qat-", "float-")
            if not os.path.exists(src) and init_from is None:
                src = last.replace("qat-", "float-")  # a run directory copied with its last checkpoint only
            arrays, fmeta = read_checkpoint(src)
            load_weights(model, arrays)
            q = choose_quant(model, cfg)
            fs = fmeta["state"]
            st.update(epoch=fs["epoch"], window=fs["window"], offset=fs["offset"], rng=fs["rng"])
            h, c = tf.constant(arrays["h"]), tf.constant(arrays["c"])
            st["float_val"] = fs.get("best_val")
            log(f"[qat] from {src} (float val {st['float_val']}), shifts {q.shifts}, out shift {q.out_shift}")

    rng = np.random.default_rng()
    rng.bit_generator.state = st["rng"]
    train_step, group_names = make_train_step(model, opt, q, cfg.jit)
    eval_cache: dict = {}

    def meta_now():
        out = dict(config=dataclasses.asdict(cfg), phase=phase, state=dict(st, rng=rng.bit_generator.state))
        if q is not None:
            out.update(shifts=q.shifts, out_shift=q.out_shift)
        return out

    def new_epoch():
        st["offset"] = int(rng.integers(len(corpus.train)))
        return D.batchify(np.roll(corpus.train, -st["offset"]), B)

    streams = D.batchify(np.roll(corpus.train, -st["offset"]), B)
    if st["window"] == 0 or h is None:
        if st["window"] == 0 and st["step"] == 0 and phase == "float":
            streams = new_epoch()
        h, c = model.zero_state(B)
    n_windows = D.num_windows(streams, T)

    clip_hits = steps_since = 0
    bits_sum = 0.0
    norm_sum = np.zeros(len(group_names))
    t_phase = time.time() - st["elapsed"]
    t_eval = t_ckpt = time.time()
    bytes_window = B * T
    bar = tqdm(desc=phase, initial=st["step"], unit="step", mininterval=2 if sys.stderr.isatty() else 60,
               disable=not progress, dynamic_ncols=True)
    t_rate, steps_rate = time.time(), 0

    def do_eval(final=False):
        nonlocal clip_hits, steps_since, bits_sum, norm_sum
        kinds: dict = {}
        val = evaluate(model, corpus.val, cfg, q, eval_cache, corpus.val_parts, kinds)
        entry = dict(step=st["step"], epoch=st["epoch"], minutes=round(st["elapsed"] / 60, 2), val_bpb=val,
                     train_bpb=bits_sum / max(1, steps_since), clip_rate=clip_hits / max(1, steps_since),
                     grad_norms={n: float(x) / max(1, steps_since) for n, x in zip(group_names, norm_sum)},
                     bytes_seen=st["step"] * bytes_window, lr=lr)
        if kinds:
            entry["val_kinds"] = {k: round(v, 4) for k, v in kinds.items()}
        st["val_history"].append(entry)
        log(f"[{phase}] step {st['step']} epoch {st['epoch']} win {st['window']}/{n_windows} "
            f"{entry['minutes']:.1f}min lr {lr:.2e} train {entry['train_bpb']:.4f} val {val:.4f} bpb "
            f"clip {entry['clip_rate']:.2f} gnorm " + " ".join(f"{k}={v:.3f}" for k, v in entry["grad_norms"].items()))
        if kinds:
            log(f"[{phase}] val by kind: " + " ".join(f"{k}={v:.3f}" for k, v in sorted(kinds.items())))
        plot_history(run_dir, current=(phase, st["val_history"]))
        clip_hits = steps_since = 0
        bits_sum = 0.0
        norm_sum[:] = 0
        if st["best_val"] is None or val < st["best_val"]:
            st["best_val"] = val
            save_checkpoint(best_path, model, opt, h, c, meta_now())
        return val

    lr = peak
    first_step = ck_step = st["step"]
    while True:
        if interrupt_after and st["step"] - first_step >= interrupt_after:
            save_checkpoint(last, model, opt, h, c, meta_now())
            bar.close()
            return dict(phase=phase, steps=st["step"], interrupted=True)
        st["elapsed"] = time.time() - t_phase
        if st["elapsed"] >= budget_s or (max_steps and st["step"] >= max_steps):
            break
        lr = lr_at(st["step"], st["elapsed"], peak, warmup, budget_s, floor_ratio, max_steps)
        if st["window"] == 0:
            reset = np.ones(B, bool)
        else:
            reset = rng.random(B) < cfg.reset_prob
        x, y = D.window(streams, st["window"], T, reset)
        keep = tf.constant((~reset).astype(np.float32)[None, :, None])
        h, c = h * keep, c * keep  # reset ~reset_prob of the streams to zero state (previous byte 0)
        bits, h, c, gnorm, norms = train_step(tf.constant(x), tf.constant(y), h, c,
                                              tf.constant(lr, tf.float32), tf.constant(cfg.clip_norm, tf.float32))
        # h, c carry the state into the next window; they are plain tensors, so the gradient is cut here.
        bits = float(bits)
        if not math.isfinite(bits):
            raise FloatingPointError(f"[{phase}] loss is {bits} at step {st['step']}; lower --lr or --clip-norm")
        st["step"] += 1
        steps_since += 1
        steps_rate += 1
        bits_sum += bits
        clip_hits += float(gnorm) > cfg.clip_norm
        norm_sum += norms.numpy()
        st["window"] += 1
        if st["window"] >= n_windows:
            st["epoch"] += 1
            st["window"] = 0
            streams = new_epoch()
            h, c = model.zero_state(B)
        now = time.time()
        if now - t_rate > 5:
            bar.set_postfix(bpb=f"{bits:.3f}", lr=f"{lr:.1e}", Bps=f"{steps_rate * bytes_window / (now - t_rate):.0f}",
                            refresh=False)
            t_rate, steps_rate = now, 0
        bar.update(1)
        if now - t_eval >= 60 * cfg.eval_every_min:
            do_eval()
            t_eval = time.time()
        if now - t_ckpt >= 60 * cfg.ckpt_every_min:
            save_checkpoint(last, model, opt, h, c, meta_now())
            log(f"[{phase}] checkpoint: step {st['step']}, {st['elapsed'] / 60:.1f} min, "
                f"{(st['step'] - ck_step) * bytes_window / max(1e-9, now - t_ckpt):.0f} bytes/s since the last one, "
                f"train {bits_sum / max(1, steps_since):.4f} bpb since the last validation, lr {lr:.2e}")
            t_ckpt, ck_step = time.time(), st["step"]
    bar.close()
    last_eval = st["val_history"][-1] if st["val_history"] else None
    if steps_since == 0 and last_eval is not None and last_eval["step"] == st["step"]:
        final_val = last_eval["val_bpb"]     # evaluated at this very step already: no empty log line
    else:
        final_val = do_eval(final=True)
    save_checkpoint(last, model, opt, h, c, meta_now())
    bps = st["step"] * bytes_window / max(1e-9, st["elapsed"])
    log(f"[{phase}] done: {st['step']} steps, {st['elapsed'] / 60:.1f} min, {bps:.0f} bytes/s, "
        f"final val {final_val:.4f}, best val {st['best_val']:.4f} bpb")
    return dict(phase=phase, steps=st["step"], minutes=st["elapsed"] / 60, bytes_per_s=bps,
                final_val=final_val, best_val=st["best_val"], float_val=st.get("float_val"))


# ---------------------------------------------------------------------------------- loss curve

def plot_history(run_dir: str, current: tuple[str, list] | None = None) -> str | None:
    """run_dir/loss.json and loss.png: train and validation bits/byte of both phases against bytes seen
    (from the checkpoints' histories, and `current` = (phase, history) of the phase in progress), for the
    model card. Best effort: None when matplotlib is missing."""
    hist = {}
    for phase in ("float", "qat"):
        for name in (f"{phase}-last.npz", f"{phase}-best.npz"):
            path = os.path.join(run_dir, name)
            if os.path.exists(path):
                with np.load(path, allow_pickle=False) as z:
                    meta = json.loads(z["meta"].tobytes().decode())
                h = meta["state"]["val_history"]
                if len(h) > len(hist.get(phase, [])):
                    hist[phase] = h
    if current is not None:
        hist[current[0]] = current[1]
    return _plot(run_dir, dict(sorted(hist.items(), key=lambda kv: kv[0] != "float")))


def _plot(run_dir: str, hist: dict) -> str | None:
    with open(os.path.join(run_dir, "loss.json"), "w") as f:
        json.dump(hist, f)
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return None
    fig, ax = plt.subplots(figsize=(8, 4.5), dpi=100)
    offset = 0.0
    for phase, h in hist.items():
        if not h:
            continue
        seen = [offset + e.get("bytes_seen", e["step"]) / 1e6 for e in h]
        ax.plot(seen, [e["train_bpb"] for e in h], ".-", alpha=0.6, label=f"{phase} train")
        ax.plot(seen, [e["val_bpb"] for e in h], "o-", ms=3, label=f"{phase} validation")
        offset = seen[-1]
    ax.set_xlabel("bytes seen (MB)")
    ax.set_ylabel("bits per byte")
    ax.grid(alpha=0.3)
    if hist:
        ax.legend()
    ax.set_title(os.path.basename(os.path.abspath(run_dir)))
    out = os.path.join(run_dir, "loss.png")
    fig.tight_layout()
    fig.savefig(out)
    plt.close(fig)
    return out
