"""Training: TensorFlow model, truncated BPTT over stateful streams, QAT, export to the integer model.

Importing this package does not import TensorFlow; `loop`, `tfmodel` and `export` do.
"""
from .config import PRESETS, TrainConfig, preset

__all__ = ["PRESETS", "TrainConfig", "preset"]
