"""The lab experiments: each test pins down a piece of the science, not just that files exist.

Every experiment runs once per session with --quick settings (the whole file takes
about half a minute on two slow cores).
"""

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from conftest import REPO, run_cli

os.environ.setdefault("TF_NUM_INTEROP_THREADS", "1")
os.environ.setdefault("TF_NUM_INTRAOP_THREADS", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

pytest.importorskip("matplotlib")
pytest.importorskip("tensorflow")

from lstmzip.lab import NAMES, cliff, gradients, memory, timer, unroll  # noqa: E402


def _run(tmp_path_factory, module, **options):
    out = tmp_path_factory.mktemp(module.NAME)
    results = module.run(out, seed=0, quick=True, **options)
    return out, results


@pytest.fixture(scope="module")
def cliff_run(tmp_path_factory):
    return _run(tmp_path_factory, cliff)


@pytest.fixture(scope="module")
def gradients_run(tmp_path_factory, tiny_model_path):
    return _run(tmp_path_factory, gradients, model=tiny_model_path)


@pytest.fixture(scope="module")
def unroll_run(tmp_path_factory):
    return _run(tmp_path_factory, unroll)


@pytest.fixture(scope="module")
def memory_run(tmp_path_factory):
    return _run(tmp_path_factory, memory)


@pytest.fixture(scope="module")
def timer_run(tmp_path_factory):
    return _run(tmp_path_factory, timer)


# ---- every experiment: its PNG and the JSON of exactly the numbers it returned ----------

@pytest.mark.parametrize("name", ["cliff", "gradients", "unroll", "memory", "timer"])
def test_experiment_writes_png_and_json_of_its_results(name, request):
    out, results = request.getfixturevalue(f"{name}_run")
    png = (out / f"{name}.png").read_bytes()
    assert png.startswith(b"\x89PNG") and len(png) < 200_000
    assert json.loads((out / f"{name}.json").read_text()) == json.loads(json.dumps(results, default=float))


def test_registry_lists_every_experiment():
    from lstmzip.lab import EXPERIMENTS
    assert tuple(EXPERIMENTS) == NAMES
    assert all(callable(f) for f in EXPERIMENTS.values())


# ---- cliff ------------------------------------------------------------------------------

def test_cliff_clipped_descent_ends_on_the_valley_floor(cliff_run):
    r = cliff_run[1]["clipped"]
    assert r["end_loss"] < 1e-2
    assert abs(r["end_offset_from_valley_floor_b"]) < 0.2


def test_cliff_unclipped_descent_is_thrown_far_onto_a_plateau(cliff_run):
    r = cliff_run[1]
    assert r["unclipped"]["largest_gradient_norm"] > 10 * r["clip"]          # it met the wall
    assert r["unclipped"]["end_loss"] > 0.08                                 # stranded on the plateau
    far = np.linalg.norm(np.subtract(r["unclipped"]["end"], r["clipped"]["end"]))
    assert far > 3


def test_cliff_clipping_helps_from_most_plateau_starts(cliff_run):
    r = cliff_run[1]
    assert (r["clipped"]["fraction_of_plateau_starts_reaching_loss_below_0.01"]
            > r["unclipped"]["fraction_of_plateau_starts_reaching_loss_below_0.01"] + 0.1)


def test_cliff_gradient_matches_finite_differences():
    w, b, e = 5.0, -2.4, 1e-6
    _, dw, db = cliff.loss_and_grad(w, b)
    fw = (cliff.loss_and_grad(w + e, b)[0] - cliff.loss_and_grad(w - e, b)[0]) / (2 * e)
    fb = (cliff.loss_and_grad(w, b + e)[0] - cliff.loss_and_grad(w, b - e)[0]) / (2 * e)
    assert dw == pytest.approx(fw, rel=1e-5) and db == pytest.approx(fb, rel=1e-5)


# ---- gradients --------------------------------------------------------------------------

def test_tanh_rnn_gradient_vanishes_below_radius_one_and_explodes_above(gradients_run):
    weak = gradients_run[1]["weak"]
    assert weak["tanh rho=0.9"]["ratio_over_horizon"] < 1e-2                 # measured ~2e-3
    assert weak["tanh rho=1.5"]["ratio_over_horizon"] > 10                   # measured ~70-270
    rates = [weak[f"tanh rho={rho:g}"]["fitted_rate_per_step"] for rho in gradients.RADII]
    assert rates == sorted(rates)


def test_saturation_makes_even_radius_above_one_vanish(gradients_run):
    strong = gradients_run[1]["strong"]
    assert strong["tanh rho=1.5"]["ratio_over_horizon"] < 1e-2               # measured ~1e-4


def test_lstm_rate_is_set_by_the_forget_gate_not_by_saturation(gradients_run):
    r = gradients_run[1]
    for regime in ("weak", "strong"):
        assert 0.95 < r[regime]["LSTM forget bias 2"]["fitted_rate_per_step"] < 1.02
        assert r[regime]["LSTM forget bias 1"]["fitted_rate_per_step"] < 0.9
    lstm_drop = abs(np.log(r["weak"]["LSTM forget bias 2"]["fitted_rate_per_step"]
                           / r["strong"]["LSTM forget bias 2"]["fitted_rate_per_step"]))
    tanh_drop = abs(np.log(r["weak"]["tanh rho=1"]["fitted_rate_per_step"]
                           / r["strong"]["tanh rho=1"]["fitted_rate_per_step"]))
    assert lstm_drop < 0.05 < tanh_drop


def test_gradients_measures_a_model_file(gradients_run):
    (curve,) = gradients_run[1]["lstmzip_model"].values()
    assert 0 < curve["ratio_over_horizon"] < np.inf and 0 < curve["fitted_rate_per_step"] < np.inf


def test_spectral_radius_rescaling():
    w = np.random.default_rng(0).normal(size=(20, 20))
    assert gradients.spectral_radius(gradients.with_spectral_radius(w, 1.5)) == pytest.approx(1.5)
    assert gradients.fitted_rate(0.9 ** np.arange(30)) == pytest.approx(0.9)


# ---- unroll -----------------------------------------------------------------------------

def test_hand_written_bptt_matches_autodiff(unroll_run):
    c = unroll_run[1]["check"]
    assert c["max_abs_diff_vs_autodiff"] < 1e-6
    assert c["max_rel_diff_vs_autodiff"] < 1e-6
    assert c["max_abs_diff_sum_of_copies_vs_autodiff_W_hh"] < 1e-6


def test_hand_written_bptt_matches_finite_differences(unroll_run):
    assert unroll_run[1]["check"]["max_rel_diff_vs_finite_differences"] < 1e-5


def test_hand_written_bptt_trains_the_network(unroll_run):
    t = unroll_run[1]["training"]
    assert t["final_loss_per_step"] < 0.7 * t["first_loss_per_step"]
    assert t["learned_h0_norm"] > 0                                          # h0 moved from zero


def test_initial_state_gradient_is_the_error_reaching_step_zero():
    rng = np.random.default_rng(3)
    p = unroll.init_params(rng, 2, 5, 1)
    x, d = rng.normal(size=(7, 3, 2)), rng.normal(size=(7, 3, 1))
    hs, y = unroll.forward(p, x)
    grads, copies = unroll.backward(p, x, hs, y, d)
    assert len(copies["W_hh"]) == 7
    e = 1e-6
    p["h0"][2] += e
    up = unroll.loss(unroll.forward(p, x)[1], d)
    p["h0"][2] -= 2 * e
    down = unroll.loss(unroll.forward(p, x)[1], d)
    assert grads["h0"][2] == pytest.approx((up - down) / (2 * e), rel=1e-6)


# ---- memory -----------------------------------------------------------------------------

def test_memory_cell_returns_the_written_value_after_hundreds_of_steps(memory_run):
    r = memory_run[1]
    assert r["hold_steps"] >= 300
    assert abs(r["lstm"]["value_read"] - 4.2) < 1e-3
    assert abs(r["lstm"]["value_after_clear"]) < 1e-3


def test_memory_cell_error_derivative_reaches_the_write_point_unchanged(memory_run):
    lstm = memory_run[1]["lstm"]
    assert lstm["d_read_d_state_at_write"] == pytest.approx(1.0, abs=1e-3)
    assert lstm["d_read_d_input_at_write_finite_difference"] == pytest.approx(
        lstm["d_read_d_state_at_write"], abs=1e-6)


def test_tanh_unit_loses_the_value_and_the_gradient(memory_run):
    r = memory_run[1]
    assert r["tanh_w=1"]["d_read_d_state_at_write"] < 1e-2
    assert r["tanh_w=1.5"]["d_read_d_state_at_write"] < 1e-10
    assert abs(r["tanh_w=1"]["value_at_read"] - 4.2) > 4


# ---- timer ------------------------------------------------------------------------------

def test_timer_targets_follow_the_definition():
    task = timer.TimerTask(np.random.default_rng(0), scale=0.1)
    u, y = task.generate(3, 2000)
    assert set(np.unique(u[..., 1])) <= {np.float32(k / 10) for k in range(1, 11)}
    for b in range(3):
        starts = np.flatnonzero(u[b, :, 0])
        assert len(starts) >= 3
        for s in starts:
            n = task.duration(u[b, s, 1])
            on = y[b, s + 1:s + 1 + n, 0]
            assert np.all(on == timer.ON)
            assert s + 1 + n >= 2000 or y[b, s + 1 + n, 0] == 0        # off right after
        assert y[b, :starts[0] + 1, 0].max() == 0                       # nothing before a start


def test_timer_lstm_beats_vanilla_rnn(timer_run):
    r = timer_run[1]
    assert r["lstm"]["test_nmse"] < r["rnn"]["test_nmse"]
    assert r["lstm"]["test_nmse"] < 0.8                                  # it learned something


# ---- command line -----------------------------------------------------------------------

def test_cli_runs_an_experiment(tmp_path):
    proc = run_cli("lab", "cliff", "--quick", "--out", tmp_path / "out")
    assert proc.returncode == 0, proc.stderr.decode()
    assert (tmp_path / "out" / "cliff.png").is_file()
    results = json.loads((tmp_path / "out" / "cliff.json").read_text())
    assert results["clipped"]["end_loss"] < 1e-2


def test_cli_rejects_an_unknown_experiment():
    proc = run_cli("lab", "nonsense")
    assert proc.returncode == 2 and b"invalid choice" in proc.stderr


def test_cli_reports_an_unreadable_model_in_one_line(tmp_path):
    proc = run_cli("lab", "gradients", "--quick", "--model", tmp_path / "missing.npz", "--out", tmp_path)
    err = proc.stderr.decode()
    assert proc.returncode == 1 and "Traceback" not in err and "missing.npz" in err


def test_importing_the_lab_cli_loads_neither_tensorflow_nor_matplotlib():
    code = ("import sys, lstmzip.lab.cli; "
            "print(sorted(m for m in ('tensorflow', 'matplotlib') if m in sys.modules))")
    env = dict(os.environ, PYTHONPATH=str(REPO))
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, env=env, check=True)
    assert out.stdout.strip() == b"[]"
