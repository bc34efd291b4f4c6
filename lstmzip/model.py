"""Model files: a stacked-LSTM byte predictor as integers, and its identity.

A model file is an ``.npz`` archive (a zip of ``.npy`` arrays) read with
``allow_pickle=False``: loading one never runs code. Its sha256 is the model's
identity; every compressed file records it, and decoding with another model is
an error that names the model the file needs.

Arrays in the archive (``H`` hidden units, ``L`` layers, ``R = 8 * 2**P``)::

    config_json   uint8  [n]         UTF-8 JSON, see ModelConfig
    in_table      int32  [256, 4H]   embedding @ layer-1 input kernel, in layer-1 accumulator units
    w1            int8   [H, 4H]     layer-1 recurrent kernel
    wl (l >= 2)   int8   [2H, 4H]    rows 0..H-1 take h[l-1] (input), rows H..2H-1 take h[l] (recurrent)
    bl            int32  [4H]        layer-l bias, in layer-l accumulator units
    w_out         int8   [H, 256]    output kernel
    b_out         int32  [256]       output bias, in output accumulator units
    gate_table    int32  [2(2R+1)]   sigmoid(k/2**P)*256 for k = -R..R, then clip(tanh(..)*256, -255, 255)
    exp_table     int32  [24 * 2**Q] round(65536 * exp(-k / 2**Q))

Fixed-point meaning (the only place floats and integers meet is ``quantize``
below and the trainer's export; see engine.py for the step itself):

    W_real = W_int * 2**-ws           int8 weights, one shift per layer matrix
    h_real = h_int / 128              activations in [-128, 127]
    acc_real = acc_int * 2**-(ws + 7) accumulators (products of the two)
    c_real = c_int / 256              cell state, clipped to +-32767
    gate pre-activations are floor-shifted to a resolution of 2**-P,
    logit differences to 2**-Q nats.

Exactness bound, checked on load and on export: for every output column j of
every kernel, ``128 * sum_k |W[k, j]| < 2**24``. Every partial sum of the
float32 GEMM ``X @ W`` is then an integer below 2**24, so it is computed exactly
in any summation order, blocking, thread split, with or without FMA, on any
BLAS or GPU: the products are bit-identical everywhere.
"""

from __future__ import annotations

import dataclasses
import hashlib
import io
import json
import os
import zipfile
from pathlib import Path
from typing import Dict, List, Optional

import numpy as np

from .errors import LstmzipError

FORMAT_NAME = "lstmzip-model"
FORMAT_VERSION = 1
EXACT_LIMIT = 1 << 24          # float32 integers are exact below this
ACT_MAX = 128                  # |h_int| <= 128
_PACKAGE = Path(__file__).resolve().parent
# Installed: lstmzip/models (see pyproject.toml); in a source checkout: the repo's models/.
MODELS_DIR = _PACKAGE / "models" if (_PACKAGE / "models").is_dir() else _PACKAGE.parent / "models"
MODEL_PATH_ENV = "LSTMZIP_MODEL_PATH"   # more folders of models, os.pathsep-separated
DEFAULT_MODEL = "default"
MAX_MODEL_BYTES = 256 << 20    # refuse absurd files before reading them
MAX_UNPACKED_BYTES = 256 << 20  # all arrays of a model together, uncompressed
MAX_CONFIG_BYTES = 1 << 20     # config_json, uncompressed
NPY_HEADER_MAX = 4096          # room for an .npy member's own header
INT32_MAX = (1 << 31) - 1
_INT_FIELDS = ("embed", "layers", "hidden", "out_shift", "gate_bits", "logit_bits", "vocab")


@dataclasses.dataclass(frozen=True)
class ModelConfig:
    """Shape and fixed-point formats of an integer model."""

    name: str                  # short name, stored in compressed files for error messages
    embed: int                 # embedding width used in training (folded into in_table)
    layers: int                # L stacked LSTM layers
    hidden: int                # H units per layer
    weight_shifts: List[int]   # ws_l: W_real = W_int * 2**-ws_l, one per layer
    out_shift: int             # wso for w_out
    gate_bits: int = 6         # P: gate pre-activation resolution 2**-P
    logit_bits: int = 6        # Q: logit-difference resolution 2**-Q nats
    vocab: int = 256           # bytes
    meta: dict = dataclasses.field(default_factory=dict)  # free-form training record

    @property
    def gate_range(self) -> int:
        """R: gate pre-activations are clipped to [-R, R] (i.e. +-8.0)."""
        return 8 << self.gate_bits

    @property
    def exp_size(self) -> int:
        """D: logit differences past 24 nats all get the smallest weight."""
        return 24 << self.logit_bits

    def to_json(self) -> dict:
        d = dataclasses.asdict(self)
        d.update(format=FORMAT_NAME, version=FORMAT_VERSION)
        return d


def gate_table(gate_bits: int) -> np.ndarray:
    """Sigmoid then tanh of (k - R) / 2**P, k = 0..2R, scaled by 256 and rounded."""
    r = 8 << gate_bits
    x = (np.arange(2 * r + 1, dtype=np.float64) - r) / (1 << gate_bits)
    sig = np.round(256.0 / (1.0 + np.exp(-x)))
    tnh = np.clip(np.round(256.0 * np.tanh(x)), -255, 255)
    return np.concatenate([sig, tnh]).astype(np.int32)


def exp_table(logit_bits: int) -> np.ndarray:
    """round(65536 * exp(-k / 2**Q)) for k = 0 .. 24 * 2**Q - 1."""
    k = np.arange(24 << logit_bits, dtype=np.float64)
    return np.round(65536.0 * np.exp(-k / (1 << logit_bits))).astype(np.int32)


def quantize(w: np.ndarray, shift: int) -> np.ndarray:
    """Float weights -> int8 at scale 2**-shift (round to nearest, clip to +-127)."""
    return np.clip(np.round(np.asarray(w, np.float64) * 2.0 ** shift), -127, 127).astype(np.int8)


def column_margins(w: np.ndarray) -> np.ndarray:
    """128 * sum_k |W[k, j]| for every column j (int64): how far a GEMM output can move."""
    return ACT_MAX * np.abs(w.astype(np.int64)).sum(axis=0)


def exactness_margin(w: np.ndarray) -> int:
    """Largest column bound 128 * sum|W[:, j]|; must stay below 2**24."""
    return int(ACT_MAX * np.abs(w.astype(np.int64)).sum(axis=0).max(initial=0))


@dataclasses.dataclass
class Model:
    """An integer stacked-LSTM predictor plus its identity (sha256 of its file)."""

    config: ModelConfig
    in_table: np.ndarray            # int32 [256, 4H]
    weights: List[np.ndarray]       # int8 [K_l, 4H]
    biases: List[np.ndarray]        # int32 [4H]
    w_out: np.ndarray               # int8 [H, 256]
    b_out: np.ndarray               # int32 [256]
    gate_table: np.ndarray          # int32 [2(2R+1)]
    exp_table: np.ndarray           # int32 [D]
    sha256: str = ""                # hex; set by load() / save()
    path: Optional[Path] = None

    @property
    def name(self) -> str:
        return self.config.name

    @property
    def flops_per_byte(self) -> int:
        """Multiply-adds x 2 of one step for one stream (the GEMMs only)."""
        macs = sum(w.shape[0] * w.shape[1] for w in self.weights) + self.w_out.size
        return 2 * macs

    # ---- validation -----------------------------------------------------------------
    def validate(self) -> None:
        """Raise LstmzipError unless types, shapes, dtypes, shifts and every engine bound hold.

        Besides the GEMM exactness bound this proves that no intermediate of
        ``engine.NumpyEngine._rows`` / ``_frequencies`` (and the TF engine, the same
        arithmetic) leaves int32 or indexes outside a table, whatever the input bytes:
        with ``|h| <= 128`` and ``m_j = 128 * sum_k |W[k, j]|``,

        * layer-1 accumulators ``|in_table[b, j] + b_1[j]| + m_j <= 2**31 - 1`` for every byte b;
        * layer-l accumulators ``|b_l[j]| + m_j <= 2**31 - 1``;
        * logits ``z_j`` lie in ``[b_out[j] - m_j, b_out[j] + m_j]``, and the largest minus the
          smallest of those bounds (``max z - z``) is at most ``2**31 - 1``;
        * every gate-table entry is in [-255, 256], so ``f*c + i*g`` stays below 2**24 and
          ``|h| <= 128``; the shifts are in 0..31; ``exp_table[0] >= 1`` keeps the softmax
          denominator positive.
        """
        _check_config(self.config)
        c = self.config
        h, l = c.hidden, c.layers

        def need(cond: bool, what: str) -> None:
            if not cond:
                raise LstmzipError(f"invalid model {c.name!r}: {what}")

        arrays = [self.in_table, self.w_out, self.b_out, self.gate_table, self.exp_table, *self.weights, *self.biases]
        need(all(isinstance(a, np.ndarray) for a in arrays), "arrays must be numpy arrays")
        need(len(self.weights) == l == len(self.biases) == len(c.weight_shifts), "layer count mismatch")
        need(self.in_table.shape == (256, 4 * h) and self.in_table.dtype == np.int32, "in_table shape/dtype")
        for i, (w, b, ws) in enumerate(zip(self.weights, self.biases, c.weight_shifts)):
            k = h if i == 0 else 2 * h
            need(w.shape == (k, 4 * h) and w.dtype == np.int8, f"w{i + 1} shape/dtype")
            need(b.shape == (4 * h,) and b.dtype == np.int32, f"b{i + 1} shape/dtype")
            need(ws + 7 - c.gate_bits >= 0 and ws <= 24, f"weight shift of layer {i + 1}")
            need(exactness_margin(w) < EXACT_LIMIT, f"layer {i + 1} breaks the 2**24 exactness bound")
        need(self.w_out.shape == (h, 256) and self.w_out.dtype == np.int8, "w_out shape/dtype")
        need(self.b_out.shape == (256,) and self.b_out.dtype == np.int32, "b_out shape/dtype")
        need(c.out_shift + 7 - c.logit_bits >= 0 and c.out_shift <= 24, "output shift")
        need(exactness_margin(self.w_out) < EXACT_LIMIT, "w_out breaks the 2**24 exactness bound")
        need(self.gate_table.shape == (2 * (2 * c.gate_range + 1),) and self.gate_table.dtype == np.int32
             and int(self.gate_table.min()) >= -255 and int(self.gate_table.max()) <= 256,
             "gate_table shape/range")
        need(self.exp_table.shape == (c.exp_size,) and self.exp_table.dtype == np.int32
             and int(self.exp_table.min()) >= 0 and int(self.exp_table.max()) <= 65536, "exp_table shape/range")
        need(int(self.exp_table[0]) >= 1, "exp_table[0] must be at least 1")
        # Every int32 intermediate of the engine, bounded column by column in int64.
        for i, (w, b) in enumerate(zip(self.weights, self.biases)):
            margin = column_margins(w)
            add = np.abs(self.in_table.astype(np.int64) + b).max(axis=0) if i == 0 else np.abs(b.astype(np.int64))
            need(int((add + margin).max(initial=0)) <= INT32_MAX,
                 f"layer {i + 1} accumulators can overflow int32 (bias/table magnitude)")
        margin = column_margins(self.w_out)
        hi = int((self.b_out.astype(np.int64) + margin).max())
        lo = int((self.b_out.astype(np.int64) - margin).min())
        need(hi <= INT32_MAX and lo >= -INT32_MAX - 1 and hi - lo <= INT32_MAX,
             "output logits can overflow int32 (b_out magnitude)")

    # ---- file I/O ---------------------------------------------------------------------
    def to_bytes(self) -> bytes:
        arrays: Dict[str, np.ndarray] = {
            "config_json": np.frombuffer(json.dumps(self.config.to_json(), sort_keys=True).encode(), np.uint8),
            "in_table": self.in_table, "w_out": self.w_out, "b_out": self.b_out,
            "gate_table": self.gate_table, "exp_table": self.exp_table,
        }
        for i, (w, b) in enumerate(zip(self.weights, self.biases), 1):
            arrays[f"w{i}"], arrays[f"b{i}"] = w, b
        # A zip written by hand with fixed timestamps: the same model always has the
        # same bytes, hence the same identity (np.savez stamps the current time).
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
            for key in sorted(arrays):
                info = zipfile.ZipInfo(key + ".npy", date_time=(1980, 1, 1, 0, 0, 0))
                info.compress_type = zipfile.ZIP_DEFLATED
                npy = io.BytesIO()
                np.lib.format.write_array(npy, np.ascontiguousarray(arrays[key]), allow_pickle=False)
                zf.writestr(info, npy.getvalue())
        return buf.getvalue()

    def save(self, path) -> str:
        """Validate, write atomically, and return the sha256 (the model's identity)."""
        self.validate()
        data = self.to_bytes()
        path = Path(path)
        if path.suffix != ".npz":
            path = path.with_name(path.name + ".npz")
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_bytes(data)
        os.replace(tmp, path)
        self.sha256, self.path = hashlib.sha256(data).hexdigest(), path
        return self.sha256

    @classmethod
    def from_bytes(cls, data: bytes, path: Optional[Path] = None) -> "Model":
        """Parse and validate a model file held in bytes; any defect is one LstmzipError.

        A model file is untrusted input: the zip must hold exactly the expected members,
        each member's declared (uncompressed) size is checked against what the config
        allows before it is read, and nothing is read past that size.
        """
        label = str(path) if path else "model"
        try:
            with zipfile.ZipFile(io.BytesIO(data)) as zf:
                infos = zf.infolist()
                names = [i.filename for i in infos]
                if len(set(names)) != len(names):
                    raise ValueError("duplicate members")
                members = {i.filename: i for i in infos}
                if "config_json.npy" not in members:
                    raise ValueError("no config_json member")
                raw = _read_npy(zf, members["config_json.npy"], np.dtype(np.uint8), None, MAX_CONFIG_BYTES)
                cfg = json.loads(raw.tobytes().decode("utf-8"))
                if not isinstance(cfg, dict) or cfg.get("format") != FORMAT_NAME:
                    raise ValueError("not an lstmzip model")
                if cfg.get("version") != FORMAT_VERSION:
                    raise ValueError(f"unsupported model format version {cfg.get('version')!r}")
                fields = {f.name for f in dataclasses.fields(ModelConfig)}
                missing = sorted(f.name for f in dataclasses.fields(ModelConfig)
                                 if f.name not in cfg and f.default is dataclasses.MISSING
                                 and f.default_factory is dataclasses.MISSING)
                if missing:
                    raise ValueError(f"config lacks {', '.join(missing)}")
                config = ModelConfig(**{k: v for k, v in cfg.items() if k in fields})
                _check_config(config, label)
                expected = member_layout(config)
                if set(members) != {k + ".npy" for k in expected}:
                    extra = sorted(set(members) - {k + ".npy" for k in expected})
                    lost = sorted({k + ".npy" for k in expected} - set(members))
                    raise ValueError("unexpected members " + ", ".join(extra) if extra
                                     else "missing members " + ", ".join(lost))
                need = sum(int(np.prod(shape)) * dtype.itemsize for dtype, shape in expected.values() if shape)
                if need > MAX_UNPACKED_BYTES:
                    raise ValueError(f"{need} bytes of arrays, more than the {MAX_UNPACKED_BYTES} allowed")
                arrays = {k: _read_npy(zf, members[k + ".npy"], dtype, shape)
                          for k, (dtype, shape) in expected.items() if k != "config_json"}
            n = config.layers
            model = cls(
                config=config, in_table=arrays["in_table"],
                weights=[arrays[f"w{i}"] for i in range(1, n + 1)],
                biases=[arrays[f"b{i}"] for i in range(1, n + 1)],
                w_out=arrays["w_out"], b_out=arrays["b_out"],
                gate_table=arrays["gate_table"], exp_table=arrays["exp_table"],
            )
        except LstmzipError:
            raise
        except Exception as exc:  # zipfile, json, npy header, KeyError, ValueError, RecursionError ...
            raise LstmzipError(f"{label}: not a valid lstmzip model ({_one_line(exc)})") from None
        model.validate()
        model.sha256, model.path = hashlib.sha256(data).hexdigest(), path
        return model

    @classmethod
    def load(cls, path) -> "Model":
        path = Path(path)
        try:
            with open(path, "rb") as f:
                if os.fstat(f.fileno()).st_size > MAX_MODEL_BYTES:
                    raise LstmzipError(f"{path}: model file too large")
                data = f.read(MAX_MODEL_BYTES + 1)     # not a regular file: st_size says nothing
            if len(data) > MAX_MODEL_BYTES:
                raise LstmzipError(f"{path}: model file too large")
        except OSError as exc:
            if isinstance(exc, LstmzipError):
                raise
            raise LstmzipError(f"{path}: cannot read model ({exc.strerror or exc})") from None
        return cls.from_bytes(data, path)


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text if len(text) <= 200 else text[:197] + "..."


def _check_config(c: ModelConfig, label: Optional[str] = None) -> None:
    """Types and ranges of the config fields: a config from JSON is untrusted."""
    def need(cond: bool, what: str) -> None:
        if not cond:
            raise LstmzipError(f"{label}: invalid model config: {what}" if label
                               else f"invalid model {c.name!r}: {what}")

    def is_int(v) -> bool:
        return isinstance(v, (int, np.integer)) and not isinstance(v, (bool, np.bool_))

    need(isinstance(c.name, str), f"name must be a string, not {type(c.name).__name__}")
    for field in _INT_FIELDS:
        value = getattr(c, field)
        need(is_int(value), f"{field} must be an integer, not {type(value).__name__}")
    need(isinstance(c.weight_shifts, (list, tuple)) and all(is_int(v) for v in c.weight_shifts),
         "weight_shifts must be a list of integers")
    need(isinstance(c.meta, dict), "meta must be an object")
    need(c.vocab == 256, "vocab must be 256")
    need(1 <= c.layers <= 16 and 1 <= c.hidden <= 4096, "layers/hidden out of range")
    need(0 <= c.gate_bits <= 8 and 0 <= c.logit_bits <= 10, "gate_bits/logit_bits out of range")
    need(len(c.weight_shifts) == c.layers, "layer count mismatch")
    need(all(v + 7 - c.gate_bits >= 0 and v <= 24 for v in c.weight_shifts), "weight shift out of range")
    need(c.out_shift + 7 - c.logit_bits >= 0 and c.out_shift <= 24, "output shift out of range")


def member_layout(c: ModelConfig) -> Dict[str, tuple]:
    """Member name (without .npy) -> (dtype, shape) that a model with config c must have."""
    h = c.hidden
    i8, i32 = np.dtype(np.int8), np.dtype(np.int32)
    layout = {"config_json": (np.dtype(np.uint8), None), "in_table": (i32, (256, 4 * h)),
              "w_out": (i8, (h, 256)), "b_out": (i32, (256,)),
              "gate_table": (i32, (2 * (2 * c.gate_range + 1),)), "exp_table": (i32, (c.exp_size,))}
    for i in range(1, c.layers + 1):
        layout[f"w{i}"] = (i8, (h if i == 1 else 2 * h, 4 * h))
        layout[f"b{i}"] = (i32, (4 * h,))
    return layout


def _read_npy(zf: zipfile.ZipFile, info: zipfile.ZipInfo, dtype: np.dtype, shape, max_len: int = 0) -> np.ndarray:
    """One .npy member, refused unless its declared size, dtype and shape are exactly expected.

    ``shape`` None means 1-D of at most ``max_len`` items. Nothing past the declared size
    (itself bounded) is ever decompressed.
    """
    name = info.filename
    want = int(np.prod(shape)) * dtype.itemsize if shape is not None else max_len * dtype.itemsize
    limit = want + NPY_HEADER_MAX
    if info.file_size > limit:
        raise ValueError(f"member {name} declares {info.file_size} bytes, more than the {limit} it may hold")
    with zf.open(info) as f:
        raw = f.read(limit + 1)
    if len(raw) > limit:
        raise ValueError(f"member {name} is larger than declared")
    buf = io.BytesIO(raw)
    version = np.lib.format.read_magic(buf)
    if version == (1, 0):
        got_shape, fortran, got_dtype = np.lib.format.read_array_header_1_0(buf)
    elif version == (2, 0):
        got_shape, fortran, got_dtype = np.lib.format.read_array_header_2_0(buf)
    else:
        raise ValueError(f"member {name}: unsupported .npy version {version}")
    if got_dtype != dtype:
        raise ValueError(f"member {name}: dtype {got_dtype}, expected {dtype}")
    if shape is None:
        if len(got_shape) != 1 or got_shape[0] > max_len:
            raise ValueError(f"member {name}: shape {got_shape}, expected at most {max_len} items")
    elif tuple(got_shape) != tuple(shape):
        raise ValueError(f"member {name}: shape {got_shape}, expected {tuple(shape)}")
    body = raw[buf.tell():]
    count = int(np.prod(got_shape))
    if len(body) != count * dtype.itemsize:
        raise ValueError(f"member {name}: {len(body)} data bytes, expected {count * dtype.itemsize}")
    return np.frombuffer(body, dtype).reshape(got_shape, order="F" if fortran else "C").copy()


# ---- finding models by name -------------------------------------------------------------
#
# A model NAME (no path separator, no .npz) is NAME.npz in the first of these folders that has it:
#
#   1. ./models                         (relative to the working directory)
#   2. each folder in $LSTMZIP_MODEL_PATH (os.pathsep-separated, in order)
#   3. the user's folder                $XDG_DATA_HOME/lstmzip/models, else ~/.local/share/lstmzip/models
#                                       (`lstmzip train -o NAME` writes there)
#   4. the shipped models               MODELS_DIR
#
# Decoding looks a file's model up by sha256 in all of them (the name stored in the file is
# tried first); `lstmzip models` lists what they hold.

def user_models_dir() -> Path:
    """The user's own model folder: $XDG_DATA_HOME/lstmzip/models or ~/.local/share/lstmzip/models."""
    base = os.environ.get("XDG_DATA_HOME") or os.path.join(os.path.expanduser("~"), ".local", "share")
    return Path(base) / "lstmzip" / "models"


def search_path() -> List[tuple]:
    """(folder, where) for each place a model name is looked up, in order, each folder once;
    `where` is one of "./models", "$LSTMZIP_MODEL_PATH", "user", "shipped"."""
    places = [(Path("models"), "./models")]
    places += [(Path(d), "$" + MODEL_PATH_ENV) for d in os.environ.get(MODEL_PATH_ENV, "").split(os.pathsep) if d]
    places += [(user_models_dir(), "user"), (MODELS_DIR, "shipped")]
    seen, out = {}, []
    for folder, where in places:
        key = os.path.normcase(os.path.abspath(folder))
        if key in seen:
            if where == "shipped":                    # ./models in a source checkout is the shipped folder
                out[seen[key]] = (folder, where)
            continue
        seen[key] = len(out)
        out.append((folder, where))
    return out


def is_model_name(spec: str) -> bool:
    """A bare name (looked up on the search path) rather than a path to a file."""
    return os.sep not in spec and "/" not in spec and not spec.endswith(".npz")


def found_models() -> List[tuple]:
    """(name, path, where) of every model file on the search path, in lookup order; a name
    found twice is listed twice (the first one wins)."""
    out = []
    for folder, where in search_path():
        try:
            paths = sorted(p for p in folder.glob("*.npz") if p.is_file())
        except OSError:
            continue
        out += [(p.stem, p, where) for p in paths]
    return out


def available_models() -> List[str]:
    """Names a model can be given by: every model file on the search path (see above)."""
    return sorted({name for name, _, _ in found_models()})


def describe(folder: Path, where: str) -> str:
    """A search-path folder for messages: ./models, or the folder and where it comes from."""
    return "./models" if where == "./models" else f"{folder} ({where})"


def _search_description() -> str:
    places = [describe(folder, where) for folder, where in search_path()]
    if not os.environ.get(MODEL_PATH_ENV):
        places.append(f"${MODEL_PATH_ENV} unset")
    return ", ".join(places)


def resolve(model=None) -> Model:
    """A Model from None (the default), a Model, a name on the search path, or a path."""
    if isinstance(model, Model):
        return model
    if model is None:
        model = DEFAULT_MODEL
    model = os.fspath(model)
    if is_model_name(model):
        for folder, _ in search_path():
            candidate = folder / f"{model}.npz"
            if candidate.is_file():
                return _load_cached(candidate)
    if Path(model).is_file():
        return _load_cached(Path(model))
    names = ", ".join(available_models()) or "none"
    raise LstmzipError(f"model {model!r} not found (known models: {names}; searched {_search_description()}; "
                       f"or give a path to a .npz file; `lstmzip models` lists them)")


_CACHE: Dict[tuple, Model] = {}
_SHA_CACHE: Dict[tuple, str] = {}


def _stat_key(path: Path) -> tuple:
    st = path.stat()
    return str(path.resolve()), st.st_mtime_ns, st.st_size


def _load_cached(path: Path) -> Model:
    key = _stat_key(path)
    if key not in _CACHE:
        _CACHE[key] = Model.load(path)
    return _CACHE[key]


def file_sha256(path: Path) -> str:
    """sha256 of a model file's bytes (its identity), without validating it; cached."""
    key = _stat_key(path)
    if key not in _SHA_CACHE:
        digest = hashlib.sha256()
        with open(path, "rb") as f:
            for chunk in iter(lambda: f.read(1 << 20), b""):
                digest.update(chunk)
        _SHA_CACHE[key] = digest.hexdigest()
    return _SHA_CACHE[key]


def find_by_sha256(sha: str, hint: Optional[str] = None) -> Optional[Model]:
    """A model on the search path whose identity is `sha`, or starts with it (a compact model
    file names 16 hex digits; files named `hint` tried first)."""
    found = found_models()
    for _, path, _ in sorted(found, key=lambda f: f[0] != hint):
        try:
            if file_sha256(path).startswith(sha):
                return _load_cached(path)
        except OSError:
            continue
    return None


def random_model(layers: int = 1, hidden: int = 32, seed: int = 0, name: str = "random",
                 gate_bits: int = 6, logit_bits: int = 6, prior: Optional[bytes] = None) -> Model:
    """A seeded untrained model with plausible weight scales (for tests and benchmarks).

    With `prior`, the output bias is set to the log byte frequencies of that text and the
    output kernel damped, so the model beats 8 bits/byte on similar text.
    """
    rng = np.random.default_rng(seed)
    h = hidden
    ws = [7] * layers

    def kernel(k: int, n: int, shift: int) -> np.ndarray:
        # Real weights ~ U(-a, a) with a = 1.5/sqrt(k): a lively but stable recurrent net.
        return quantize(rng.uniform(-1.5, 1.5, (k, n)) / np.sqrt(k), shift)

    weights = [kernel(h if i == 0 else 2 * h, 4 * h, ws[i]) for i in range(layers)]
    biases = [np.round(rng.uniform(-0.5, 0.5, 4 * h) * (1 << (s + 7))).astype(np.int32) for s in ws]
    in_table = np.round(rng.normal(0, 1.0, (256, 4 * h)) * (1 << (ws[0] + 7))).astype(np.int32)
    w_out = kernel(h, 256, 5)
    b_out = np.round(rng.normal(0, 1.0, 256) * (1 << 12)).astype(np.int32)
    if prior is not None:
        counts = np.bincount(np.frombuffer(prior, np.uint8), minlength=256) + 0.25
        b_out = np.round(np.log(counts / counts.sum()) * (1 << 12)).astype(np.int32)
        w_out = (w_out // 4).astype(np.int8)
    cfg = ModelConfig(name=name, embed=16, layers=layers, hidden=h, weight_shifts=ws, out_shift=5,
                      gate_bits=gate_bits, logit_bits=logit_bits, meta={"seed": seed, "trained": False})
    m = Model(cfg, in_table, weights, biases, w_out, b_out, gate_table(gate_bits), exp_table(logit_bits))
    m.validate()
    data = m.to_bytes()
    m.sha256 = hashlib.sha256(data).hexdigest()
    return m
