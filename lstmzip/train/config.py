"""Training configuration: one dataclass, named presets, flags that map 1:1 to fields.

Every field of `TrainConfig` is a command-line flag of `lstmzip train` (``embed`` -> ``--embed``,
``qat_minutes`` -> ``--qat-minutes``); a preset only changes the defaults, flags still override.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field


@dataclass
class TrainConfig:
    # --- model (what the exported integer engine runs) ---
    embed: int = 64            # E: byte embedding width (folded into layer 1's input table at export)
    layers: int = 2            # L: stacked LSTM layers
    hidden: int = 256          # H: units per layer; gates i,f,g,o -> 4H columns (Keras order)
    gate_bits: int = 6         # P: gate pre-activation resolution 2^-P in the integer engine
    logit_bits: int = 6        # Q: logit-difference resolution 2^-Q (nats) for the exp table

    # --- data layout (truncated BPTT over stateful streams) ---
    batch: int = 128           # B: parallel contiguous streams per step
    bptt: int = 64             # T: steps per window; state carried across windows, gradient cut (64: fastest per byte on CPU)
    reset_prob: float = 0.03   # fraction of streams whose state is zeroed at each window boundary
    val_fraction: float = 0.01 # tail of every source held out for validation
    val_bytes: int = 200_000   # cap on the validation split actually evaluated (bytes)
    val_streams: int = 64      # parallel streams used to evaluate the validation split

    # --- optimisation ---
    lr: float = 2e-3           # Adam peak learning rate
    lr_min_ratio: float = 0.05 # cosine decay floor, as a fraction of lr
    warmup_steps: int = 200    # linear warmup steps
    beta1: float = 0.9         # Adam beta1
    beta2: float = 0.99        # Adam beta2
    eps: float = 1e-8          # Adam epsilon
    clip_norm: float = 1.0     # global gradient-norm clip
    minutes: float = 100.0     # float-training wall-clock budget; the LR schedule spans it
    max_steps: int = 0         # hard cap on steps (0 = none; the time budget decides)
    seed: int = 1234           # RNG seed (init, epoch offsets, resets)

    # --- quantization-aware fine-tuning ---
    qat_minutes: float = 12.0  # wall-clock budget of the QAT phase (0 = export the float model directly)
    qat_lr: float = 3e-4       # peak learning rate of the QAT phase (cosine to 0)
    qat_steps: int = 0         # hard cap on QAT steps (0 = none)

    # --- bookkeeping ---
    eval_every_min: float = 5.0   # validation every N minutes of training
    ckpt_every_min: float = 5.0   # checkpoint every N minutes of training
    threads: int = 2              # TensorFlow intra-op threads (inter-op is 1)
    device: str = "auto"          # auto | cpu | gpu
    jit: bool = False             # XLA-compile the train step


# Named presets: only the fields that differ from the defaults above.
PRESETS: dict[str, dict] = {
    # For tests and CI: trains in seconds.
    "tiny": dict(embed=16, layers=1, hidden=32, batch=16, bptt=32, lr=1e-2, warmup_steps=5,
                 minutes=0.5, qat_minutes=0.1, eval_every_min=1.0, ckpt_every_min=1.0,
                 val_bytes=20_000, val_streams=16),
    # A second size for the size/speed trade-off.
    "small": dict(embed=32, layers=2, hidden=128),
    # The shipped model.
    "default": dict(),
    # Bigger, for machines with time (GPU).
    "large": dict(embed=64, layers=3, hidden=384, batch=256, lr=1.5e-3),
}


def preset(name: str, **overrides) -> TrainConfig:
    """`TrainConfig` for preset `name`, with `overrides` applied on top."""
    if name not in PRESETS:
        raise ValueError(f"unknown preset {name!r}; choose from {', '.join(PRESETS)}")
    cfg = TrainConfig(**PRESETS[name])
    return dataclasses.replace(cfg, **overrides)


def fields() -> list[dataclasses.Field]:
    return list(dataclasses.fields(TrainConfig))
