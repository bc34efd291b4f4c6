"""The integer engine: valid frequency tables, numpy == TensorFlow, and bit-exact across
BLAS kernels and thread counts (with the float32 control that shows why this matters)."""

import hashlib
import io
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from lstmzip.codec import Compressor
from lstmzip.engine import NumpyEngine, PROB_TOTAL
from lstmzip.errors import LstmzipError
from lstmzip.model import Model, exactness_margin, random_model

from conftest import block_methods

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
# OpenBLAS kernels to force, each with the CPU flag it needs: forcing one the CPU lacks kills the
# process with SIGILL (an AMD EPYC without AVX-512 cannot run SkylakeX), so only those it has run.
KERNEL_NEEDS = (("SkylakeX", "avx512f"), ("Haswell", "avx2"), ("Sandybridge", "avx"), ("Prescott", "pni"))  # pni = SSE3


def _cpu_flags() -> set:
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return set()
    for line in text.splitlines():
        if line.startswith("flags"):
            return set(line.split(":", 1)[1].split())
    return set()


_FLAGS = _cpu_flags()
# (without /proc/cpuinfo: the two kernels every x86-64 CPU of the last decade runs)
CORETYPES = tuple(c for c, flag in KERNEL_NEEDS if flag in _FLAGS) if _FLAGS else ("Sandybridge", "Prescott")


def _engine_run(engine, data: np.ndarray, streams: int):
    """All frequency tables for `data` laid out as `streams` rows."""
    data = data[: len(data) // streams * streams].reshape(streams, -1)
    state, prev, out = engine.initial_state(streams), np.zeros(streams, np.int64), []
    for t in range(data.shape[1]):
        out.append(engine.step(prev, state))
        prev = data[:, t].astype(np.int64)
    return out


def test_tables_are_valid_distributions(tiny_model):
    rng = np.random.default_rng(0)
    for f in _engine_run(NumpyEngine(tiny_model), rng.integers(0, 256, 4000), 8):
        assert f.shape == (8, 256)
        assert (f >= 1).all() and (f.sum(axis=1) == PROB_TOTAL).all()


def test_prefix_of_streams_gives_the_same_rows(tiny_model):
    """Dropping finished streams (a block's last step) must not change the others' tables."""
    eng = NumpyEngine(tiny_model)
    a, b = eng.initial_state(10), eng.initial_state(10)
    prev = np.arange(10) * 7
    for _ in range(5):
        fa, fb = eng.step(prev, a), eng.step(prev[:4], b)
        assert np.array_equal(fa[:4], fb)
        prev = (prev * 31 + 1) % 256


def test_validate_refuses_weights_past_the_exactness_bound():
    m = random_model(layers=1, hidden=64, seed=1)
    m.weights[0][:, 0] = 127                  # 128 * 127 * 64 > 2**20, still fine...
    m.validate()
    big = random_model(layers=2, hidden=600, seed=1)  # K = 1200 rows of |w| = 127
    big.weights[1][:, 5] = 127
    assert exactness_margin(big.weights[1]) >= 1 << 24
    with pytest.raises(LstmzipError, match="exactness"):
        big.validate()


def test_model_file_round_trip_and_identity(tmp_path, tiny_model):
    p = tmp_path / "m.npz"
    sha = tiny_model.save(p)
    assert sha == hashlib.sha256(p.read_bytes()).hexdigest()
    again = Model.load(p)
    assert again.sha256 == sha and np.array_equal(again.weights[1], tiny_model.weights[1])
    # same content -> same bytes -> same identity
    assert tiny_model.save(tmp_path / "m2.npz") == sha


def test_model_loading_never_unpickles(tmp_path):
    p = tmp_path / "evil.npz"
    np.savez(p, config_json=np.array([{"x": 1}], dtype=object))
    with pytest.raises(LstmzipError, match="not a valid lstmzip model"):
        Model.load(p)
    (tmp_path / "junk.npz").write_bytes(b"PK\x03\x04 not really a zip")
    with pytest.raises(LstmzipError):
        Model.load(tmp_path / "junk.npz")


def test_tensorflow_backend_gives_identical_tables(tiny_model):
    pytest.importorskip("tensorflow")
    from lstmzip.engine_tf import TFEngine
    data = np.frombuffer((REPO / "lstmzip" / "engine.py").read_bytes()[:3000], np.uint8)
    a = _engine_run(NumpyEngine(tiny_model), data, 6)
    b = _engine_run(TFEngine(tiny_model, "cpu"), data, 6)
    assert all(np.array_equal(x, y) for x, y in zip(a, b))


# ---- across processes, BLAS kernels and thread counts ----------------------------------

def _source_text() -> bytes:
    return b"".join(p.read_bytes() for p in sorted((REPO / "lstmzip").glob("*.py")))


@pytest.fixture(scope="module")
def wide_model(tmp_path_factory):
    """Wide enough (K = 256) that BLAS kernels really block the sums differently; its output
    bias knows byte frequencies of source code, so lstm blocks beat stored."""
    path = tmp_path_factory.mktemp("wide") / "wide.npz"
    random_model(layers=2, hidden=128, seed=3, name="wide", prior=_source_text()).save(path)
    return path


@pytest.fixture(scope="module")
def probe_text(tmp_path_factory):
    path = tmp_path_factory.mktemp("text") / "text.bin"
    path.write_bytes(_source_text()[: 32 * 150])
    return path


def _probe(*args, **env):
    e = dict(os.environ, PYTHONPATH=str(REPO), **env)
    out = subprocess.run([sys.executable, str(HERE / "_probe.py"), *map(str, args)], env=e,
                         capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr
    return out.stdout.strip().splitlines()[-1]


def _environments():
    envs = [{"OPENBLAS_CORETYPE": c, "OPENBLAS_NUM_THREADS": "1"} for c in CORETYPES]
    envs.append({"OPENBLAS_NUM_THREADS": "2"})
    return envs


def test_control_plain_float32_inference_differs_across_kernels(wide_model, probe_text):
    """Why the integer engine exists: the same float32 network gives different bits here."""
    digests = {_probe("float", wide_model, probe_text, **env) for env in _environments()}
    assert len(digests) > 1, "float32 inference happened to agree on every kernel: the control proves nothing"


def test_control_float32_online_learning_drifts_across_kernels(wide_model, probe_text):
    """Why adaptation is integer too: the same float32 SGD ends in different weights here, so a
    peer's decoder on another machine would learn a different model and decode garbage."""
    digests = {_probe("float-adapt", wide_model, probe_text, **env) for env in _environments()}
    assert len(digests) > 1, "float32 learning happened to agree on every kernel: the control proves nothing"


def test_integer_tables_identical_across_kernels_threads_and_tf(wide_model, probe_text):
    digests = {_probe("tables", wide_model, probe_text, **env) for env in _environments()}
    try:
        import tensorflow  # noqa: F401
        digests.add(_probe("tables", wide_model, probe_text, "tf"))
    except ImportError:
        pass
    assert len(digests) == 1


@pytest.mark.parametrize("method, adapt", [("lstm", False), ("cm", False), ("cm", "deep")])
def test_file_compressed_here_decodes_identically_everywhere(tmp_path, wide_model, probe_text, method, adapt):
    """adapt="deep": every layer learned while coding (integer BPTT), and still the same bits."""
    data = probe_text.read_bytes() * 2
    packed = tmp_path / "x.lstmz"
    blob = Compressor(wide_model, methods=(method,), streams=16, level=4, adapt=adapt,
                      transform=False).compress(data)
    assert block_methods(blob) == [method]
    packed.write_bytes(blob)
    _decodes_everywhere(packed, wide_model, data)


def _decodes_everywhere(packed, wide_model, data):
    """The file decodes to data in a fresh process under every environment and with TF."""
    want = hashlib.sha256(data).hexdigest()
    for env in _environments():
        assert _probe("decode", packed, wide_model, **env) == want, env
    pytest.importorskip("tensorflow")
    assert _probe("decode", packed, wide_model, "tf") == want


def test_struct_block_decodes_identically_everywhere(tmp_path, wide_model, probe_text):
    """A cm block with a region table (image, table, x86, arm64, compressed regions beside text)
    and the extension's switches, the LSTM in 16 streams: the same bits under every BLAS kernel,
    thread count and TF."""
    from lstmzip import format as fmt
    from lstmzip.cm import MODEL_BITS, CMParams
    from lstmzip.codec import Decompressor
    golden = REPO / "tests" / "data" / "golden"
    data = probe_text.read_bytes()[:3000] + (golden / "mixed.bin").read_bytes()[:30000] \
        + (golden / "arm.bin").read_bytes()[:8066]
    blob = Compressor(wide_model, methods=("cm",), streams=16, level=4, lstm_auto=False).compress(data)
    assert block_methods(blob) == ["cm"]
    payload = next(p for _, bh, p in Decompressor().blocks(io.BytesIO(blob)) if not isinstance(bh, fmt.End))
    models = CMParams.unpack(payload).models
    assert models & MODEL_BITS["struct"] and models & MODEL_BITS["lstm"]
    packed = tmp_path / "x.lstmz"
    packed.write_bytes(blob)
    _decodes_everywhere(packed, wide_model, data)


def test_threads_split_streams_without_changing_a_bit(tiny_model):
    data = np.random.default_rng(3).integers(0, 256, 100 * 30)
    one = _engine_run(NumpyEngine(tiny_model, threads=1), data, 100)
    three = NumpyEngine(tiny_model, threads=3)
    with three.parallel():
        many = _engine_run(three, data, 100)
    assert all(np.array_equal(a, b) for a, b in zip(one, many))


@pytest.mark.parametrize("layers,hidden,streams", [(1, 16, 1), (2, 32, 7), (3, 24, 70)])
def test_fused_kernels_equal_the_numpy_reference(layers, hidden, streams):
    """engine_kernels.py (numba) against the plain numpy passes, on random inputs."""
    m = random_model(layers=layers, hidden=hidden, seed=layers, name="f")
    fused, plain = NumpyEngine(m, threads=2), NumpyEngine(m, threads=1, fused=False)
    sa, sb = fused.initial_state(streams), plain.initial_state(streams)
    rng = np.random.default_rng(streams)
    prev = np.zeros(streams, np.int64)
    for _ in range(80):
        with fused.parallel():
            a = fused.step(prev, sa)
        b = plain.step(prev, sb)
        assert np.array_equal(a, b)
        assert all(np.array_equal(x, y) for x, y in zip(sa.xs + sa.cs, sb.xs + sb.cs))
        prev = rng.integers(0, 256, streams)
