"""Training: the tiny model learns, stateful windows equal one long unroll, QAT equals the integer
engine, export refuses inexact models, --resume continues exactly. Only the `tiny` preset trains here."""

from __future__ import annotations

import argparse
import dataclasses
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from lstmzip.train import config as C
from lstmzip.train import data as D

REPO = Path(__file__).resolve().parents[1]
SHAKESPEARE = REPO.parent / "shared" / "corpora" / "misc" / "tinyshakespeare.txt"

tf = pytest.importorskip("tensorflow")


def real_text(n: int = 120_000) -> bytes:
    """English from the shared corpora when present, else Python's own stdlib sources (always shipped)."""
    if SHAKESPEARE.is_file():
        return SHAKESPEARE.read_bytes()[:n]
    import argparse as a, inspect, textwrap, difflib  # noqa: E401
    return b"".join(Path(inspect.getsourcefile(m)).read_bytes() for m in (a, textwrap, difflib, inspect))[:n]


@pytest.fixture(scope="module", autouse=True)
def _threads():
    try:
        tf.config.threading.set_intra_op_parallelism_threads(1)
        tf.config.threading.set_inter_op_parallelism_threads(1)
    except RuntimeError:
        pass  # already initialised by another test module


@pytest.fixture()
def run_dir(tmp_path):
    from lstmzip.train import loop
    src = tmp_path / "text.txt"
    src.write_bytes(real_text())
    cfg = C.preset("tiny", minutes=1000.0, eval_every_min=1000.0, ckpt_every_min=1000.0, val_bytes=4000)
    loop.prepare_run(str(tmp_path / "run"), cfg, [str(src)], ())
    return tmp_path / "run", cfg


# ------------------------------------------------------------------------------- config and CLI

def test_presets_are_configs_and_flags_map_to_fields():
    from lstmzip.train import cli
    for name in C.PRESETS:
        assert isinstance(C.preset(name), C.TrainConfig)
    parser = argparse.ArgumentParser()
    cli.register(parser.add_subparsers())
    args = parser.parse_args(["train", "x.txt", "--preset", "tiny", "--hidden", "48", "--qat-minutes", "2", "--jit"])
    cfg = cli.config_from_args(args)
    assert (cfg.hidden, cfg.qat_minutes, cfg.jit, cfg.layers) == (48, 2.0, True, 1)
    assert all(hasattr(args, f.name) for f in dataclasses.fields(C.TrainConfig))


def test_registering_train_does_not_import_tensorflow():
    code = ("import argparse, sys; from lstmzip.train import cli; p = argparse.ArgumentParser(); "
            "cli.register(p.add_subparsers()); assert 'tensorflow' not in sys.modules, 'TF imported'")
    subprocess.run([sys.executable, "-c", code], check=True, cwd=REPO)


# ------------------------------------------------------------------------------------- data

def test_sources_specs_limits_and_transparent_decompression(tmp_path):
    import bz2
    import gzip
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "a.txt").write_bytes(b"a" * 1000)
    (tmp_path / "d" / "b.dat").write_bytes(b"\0" * 1000)
    (tmp_path / "c.gz").write_bytes(gzip.compress(b"c" * 2000))
    (tmp_path / "e.bz2").write_bytes(bz2.compress(b"e" * 3000))
    corpus = D.load_corpus([str(tmp_path / "d"), f"{tmp_path / 'c.gz'}@1K", str(tmp_path / "*.bz2")],
                           exclude=("*.dat",), val_fraction=0.1)
    assert [s["bytes"] for s in corpus.sources] == [1000, 1000, 3000]
    assert bytes(corpus.train[:900]) == b"a" * 900 and len(corpus.val) == 100 + 100 + 300


def test_windows_carry_the_previous_byte_and_reset_to_byte_zero():
    data = np.arange(1, 41, dtype=np.uint8)
    streams = D.batchify(data, 4)                       # rows 1..10, 11..20, ...
    x0, y0 = D.window(streams, 0, 5)
    x1, y1 = D.window(streams, 1, 5, reset=np.array([False, True, False, False]))
    assert list(y0[0]) == [1, 2, 3, 4, 5] and list(x0[0]) == [0, 1, 2, 3, 4]
    assert list(x1[0]) == [5, 6, 7, 8, 9] and list(x1[1]) == [0, 16, 17, 18, 19]


def test_stateful_windows_give_the_same_forward_pass_as_one_long_unroll():
    from lstmzip.train.tfmodel import CharLSTM
    model = CharLSTM(embed=8, layers=2, hidden=16, seed=3)
    streams = D.batchify(np.frombuffer(real_text(3 * 60), np.uint8), 3)   # (3, 60)
    x_all, _ = D.window(streams, 0, 60)
    h, c = model.zero_state(3)
    full, _, _ = model(tf.constant(x_all), h, c)
    pieces = []
    for w in range(4):
        x, _ = D.window(streams, w, 15)
        logits, h, c = model(tf.constant(x), h, c)   # state carried from the previous window
        pieces.append(logits)
    np.testing.assert_allclose(np.concatenate(pieces, axis=1), full.numpy(), rtol=0, atol=1e-5)


# --------------------------------------------------------------------------------- training

def test_tiny_model_trains_and_its_loss_falls(run_dir):
    from lstmzip.train import loop
    path, cfg = run_dir
    cfg = dataclasses.replace(cfg, max_steps=150)
    before = loop.evaluate(loop.CharLSTM(cfg.embed, cfg.layers, cfg.hidden, seed=cfg.seed),
                           loop.load_run_corpus(str(path)).val, cfg, None, {})
    result = loop.train_phase(str(path), cfg, "float", resume=False, progress=False)
    assert result["steps"] == 150
    assert result["final_val"] < before - 1.5, (before, result)   # ~8 bits/byte untrained
    assert (path / "float-last.npz").is_file() and (path / "float-best.npz").is_file()


def test_resume_continues_from_a_checkpoint_exactly(run_dir):
    from lstmzip.train import loop
    path, cfg = run_dir
    cfg = dataclasses.replace(cfg, max_steps=30)
    loop.train_phase(str(path), cfg, "float", resume=False, progress=False)
    straight, _ = loop.read_checkpoint(str(path / "float-last.npz"))
    loop.train_phase(str(path), cfg, "float", resume=False, progress=False, interrupt_after=12)
    _, meta = loop.read_checkpoint(str(path / "float-last.npz"))
    assert meta["state"]["step"] == 12
    result = loop.train_phase(str(path), cfg, "float", resume=True, progress=False)
    resumed, meta = loop.read_checkpoint(str(path / "float-last.npz"))
    assert result["steps"] == meta["state"]["step"] == 30
    for key in straight:
        if key.startswith(("w/", "m/", "v/")):
            np.testing.assert_allclose(resumed[key], straight[key], rtol=1e-4, atol=1e-6, err_msg=key)


# ------------------------------------------------------------------------------ QAT and export

def _tiny_trained(run_dir, steps=60):
    from lstmzip.train import loop
    path, cfg = run_dir
    cfg = dataclasses.replace(cfg, max_steps=steps, qat_steps=20, qat_minutes=1000.0)
    loop.train_phase(str(path), cfg, "float", resume=False, progress=False)
    loop.train_phase(str(path), cfg, "qat", resume=False, progress=False)
    return path, cfg


def test_qat_graph_equals_the_integer_engine_and_round_trips(run_dir, tmp_path):
    import lstmzip
    from lstmzip.engine import NumpyEngine
    from lstmzip.train import export, loop
    from lstmzip.train.tfmodel import QuantSpec, quantized_bits
    path, cfg = _tiny_trained(run_dir)
    tf_model, _, meta = loop.model_from_checkpoint(str(path / "qat-last.npz"))
    q = QuantSpec(meta["shifts"], meta["out_shift"], cfg.gate_bits, cfg.logit_bits)
    model = export.to_model(export.weights_by_name(tf_model), cfg.embed, cfg.layers, cfg.hidden,
                            q.shifts, q.out_shift, cfg.gate_bits, cfg.logit_bits, "t")
    streams = D.batchify(np.frombuffer(real_text()[-4096:], np.uint8), 8)[:, :256]
    x, y = D.window(streams, 0, 256)
    h, c = tf_model.zero_state(8)
    logits, _, _ = tf_model(tf.constant(x), h, c, q)
    sim = quantized_bits(logits, tf.constant(y), q).numpy()
    engine = export.engine_bits(model, streams, NumpyEngine(model))
    # Same integers: the only difference allowed is float rounding of the in_table product.
    assert np.mean(np.abs(sim - engine) < 1e-4) > 0.99
    assert abs(sim.mean() - engine.mean()) < 1e-3
    # The float model's probabilities are close to the integer ones (the quantization bound).
    fl, _, _ = tf_model(tf.constant(x), h, c)
    p_float = tf.nn.softmax(fl).numpy()[np.arange(8)[:, None], np.arange(256), y]
    assert np.max(np.abs(2.0 ** -engine - p_float)) < 0.25
    out = tmp_path / "m.npz"
    model.save(out)
    text = real_text()[:3000]
    assert lstmzip.decompress(lstmzip.compress(text, model=str(out)), model=str(out)) == text


def test_export_checkpoint_reports_integer_within_one_percent_of_qat(run_dir, tmp_path):
    from lstmzip.model import Model
    from lstmzip.train import export
    path, _ = _tiny_trained(run_dir)
    result = export.export_checkpoint(str(path / "qat-last.npz"), str(tmp_path / "tiny.npz"))
    assert abs(result["int_bpb"] - result["qat_sim_bpb"]) < 0.01 * result["qat_sim_bpb"]
    m = Model.load(tmp_path / "tiny.npz")
    assert m.config.meta["validation"]["int_bpb"] == pytest.approx(result["int_bpb"])
    assert json.dumps(m.config.meta)  # the training record is plain JSON


def test_export_refuses_a_model_that_breaks_the_exactness_bound():
    from lstmzip.train import export
    H, E = 520, 4   # K = 2H = 1040 rows of |w| = 127: 128 * 127 * 1040 >= 2^24
    w = dict(emb=np.zeros((256, E)), wx1=np.zeros((E, 4 * H)), wh1=np.zeros((H, 4 * H)), b1=np.zeros(4 * H),
             wx2=np.full((H, 4 * H), 4.0), wh2=np.full((H, 4 * H), 4.0), b2=np.zeros(4 * H),
             w_out=np.zeros((H, 256)), b_out=np.zeros(256))
    with pytest.raises(ValueError, match="2\\^24"):
        export.to_model(w, E, 2, H, [6, 6], 6, 6, 6, "bad")
    with pytest.raises(ValueError, match="shift"):
        export.to_model(dict(w, wx2=np.zeros((H, 4 * H)), wh2=np.zeros((H, 4 * H))), E, 2, H, [-2, 6], 6, 6, 6, "bad")
