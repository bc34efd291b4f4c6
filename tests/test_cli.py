"""The command line, run in a subprocess exactly as a user types it."""

import os
import pty
import resource
import signal
import subprocess
import sys

import pytest

from conftest import REPO, needs_default_model, run_cli

TEXT = (b"To be, or not to be, that is the question:\nWhether 'tis nobler in the mind to suffer\n"
        b"The slings and arrows of outrageous fortune,\nOr to take arms against a sea of troubles\n") * 30


@pytest.fixture
def work(tmp_path, tiny_model_path):
    (tmp_path / "play.txt").write_bytes(TEXT)
    return tmp_path, str(tiny_model_path)


def _one_error_line(proc, *needles):
    err = proc.stderr.decode()
    assert proc.returncode == 1, err
    assert "Traceback" not in err
    lines = [l for l in err.splitlines() if l.strip()]
    assert len(lines) == 1, err
    for n in needles:
        assert n in lines[0], err
    return lines[0]


def test_compress_then_decompress_keeps_input(work):
    d, m = work
    run_cli("compress", "-m", m, "play.txt", cwd=d, check=True)
    assert (d / "play.txt").exists() and (d / "play.txt.lstmz").exists()
    (d / "play.txt").rename(d / "orig.txt")
    run_cli("decompress", "-m", m, "play.txt.lstmz", cwd=d, check=True)
    assert (d / "play.txt").read_bytes() == TEXT
    assert (d / "play.txt.lstmz").exists()


def test_dash_d_and_zstd_style_invocations(work):
    d, m = work
    run_cli("-m", m, "play.txt", cwd=d, check=True)                     # bare `lstmzip FILE` compresses
    run_cli("-d", "-m", m, "play.txt.lstmz", "-o", "a.txt", cwd=d, check=True)
    run_cli("compress", "-d", "-m", m, "play.txt.lstmz", "-o", "b.txt", cwd=d, check=True)
    assert (d / "a.txt").read_bytes() == (d / "b.txt").read_bytes() == TEXT


def test_stdin_to_stdout_and_dash(work):
    d, m = work
    packed = run_cli("compress", "-m", m, input=TEXT, cwd=d, check=True).stdout
    assert run_cli("decompress", "-m", m, "-", input=packed, cwd=d, check=True).stdout == TEXT
    assert run_cli("-d", "-c", "-m", m, input=packed, cwd=d, check=True).stdout == TEXT


def test_c_writes_stdout_and_leaves_no_file(work):
    d, m = work
    out = run_cli("compress", "-c", "-m", m, "play.txt", cwd=d, check=True).stdout
    assert not (d / "play.txt.lstmz").exists()
    assert run_cli("-d", "-m", m, input=out, cwd=d, check=True).stdout == TEXT


def test_rm_removes_input_only_after_success(work):
    d, m = work
    run_cli("compress", "--rm", "-m", m, "play.txt", cwd=d, check=True)
    assert not (d / "play.txt").exists()
    run_cli("decompress", "--rm", "-m", m, "play.txt.lstmz", cwd=d, check=True)
    assert (d / "play.txt").read_bytes() == TEXT and not (d / "play.txt.lstmz").exists()


def test_existing_output_needs_force_and_is_untouched(work):
    d, m = work
    (d / "play.txt.lstmz").write_bytes(b"precious")
    proc = run_cli("compress", "-m", m, "play.txt", cwd=d)
    _one_error_line(proc, "play.txt.lstmz", "already exists", "-f")
    assert (d / "play.txt.lstmz").read_bytes() == b"precious"
    run_cli("compress", "-f", "-m", m, "play.txt", cwd=d, check=True)
    assert (d / "play.txt.lstmz").read_bytes() != b"precious"


def test_test_and_info_commands(work):
    d, m = work
    run_cli("compress", "-m", m, "play.txt", cwd=d, check=True)
    proc = run_cli("test", "-m", m, "play.txt.lstmz", cwd=d, check=True)
    assert b"OK" in proc.stderr and proc.stdout == b""
    info = run_cli("info", "play.txt.lstmz", cwd=d, check=True).stdout.decode()
    assert "tiny" in info and "bits/byte" in info and "block     0" not in info
    table = run_cli("info", "-v", "play.txt.lstmz", cwd=d, check=True).stdout.decode()
    assert table.startswith(info) and "block     0" in table and "models " in table and "streams" in table
    for cmd in ("test", "info"):                     # neither writes to stdout, and their help says so
        assert "stdout" not in run_cli(cmd, "--help", check=True).stdout.decode()


@pytest.mark.parametrize("damage,needle", [
    (lambda b: b"plain text, not compressed", "not an lstmzip file"),
    (lambda b: b[: len(b) // 2], "truncated"),
    (lambda b: b[:-60] + bytes([b[-60] ^ 0x10]) + b[-59:], "corrupted"),
    (lambda b: b[:8] + b"\x07" + b[9:], "or a corrupted header"),
])
def test_bad_inputs_give_one_line_and_no_output(work, damage, needle):
    d, m = work
    run_cli("compress", "-m", m, "play.txt", cwd=d, check=True)
    (d / "bad.lstmz").write_bytes(damage((d / "play.txt.lstmz").read_bytes()))
    proc = run_cli("decompress", "-m", m, "bad.lstmz", cwd=d)
    _one_error_line(proc, "bad.lstmz", needle)
    assert not (d / "bad").exists()
    assert sorted(p.name for p in d.iterdir()) == ["bad.lstmz", "play.txt", "play.txt.lstmz"]


def test_missing_model_names_the_model(work):
    d, m = work
    run_cli("compress", "-m", m, "play.txt", cwd=d, check=True)
    proc = run_cli("decompress", "play.txt.lstmz", "-o", "x.txt", cwd=d)
    if b"lstm" in run_cli("info", "-v", "play.txt.lstmz", cwd=d).stdout.split(b"block")[-1]:
        _one_error_line(proc, "needs model 'tiny'", "-m PATH")
        assert not (d / "x.txt").exists()


def test_unreadable_input_and_directory(work):
    d, m = work
    _one_error_line(run_cli("compress", "-m", m, "nope.txt", cwd=d), "nope.txt", "cannot read")
    (d / "sub").mkdir()
    _one_error_line(run_cli("compress", "-m", m, "sub", cwd=d), "sub", "is a directory (use -r")


def test_unknown_model_is_one_line(work):
    d, _ = work
    _one_error_line(run_cli("compress", "-m", "no-such-model", "play.txt", cwd=d), "no-such-model", "not found")


def _limit_file_size():
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (300, 300))


def test_disk_full_leaves_no_partial_output(work):
    """A write that fails midway (here: a 300-byte file size limit) leaves nothing behind."""
    d, m = work
    env = dict(os.environ, PYTHONPATH=str(REPO))
    proc = subprocess.run([sys.executable, "-m", "lstmzip", "compress", "-m", m, "--block-size", "256", "play.txt"],
                          cwd=d, env=env, capture_output=True, preexec_fn=_limit_file_size, timeout=300)
    _one_error_line(proc, "play.txt", "too large")
    assert sorted(p.name for p in d.iterdir()) == ["play.txt"]


def test_refuses_compressed_data_to_a_terminal(work):
    d, m = work
    master, slave = pty.openpty()
    try:
        env = dict(os.environ, PYTHONPATH=str(REPO))
        proc = subprocess.run([sys.executable, "-m", "lstmzip", "compress", "-c", "-m", m, "play.txt"],
                              cwd=d, env=env, stdout=slave, stderr=subprocess.PIPE, timeout=300)
    finally:
        os.close(slave)
        os.close(master)
    assert proc.returncode == 1 and b"terminal" in proc.stderr


def test_version_and_help():
    assert run_cli("--version", check=True).stdout.startswith(b"lstmzip ")
    out = run_cli("--help", check=True).stdout.decode()
    for cmd in ("compress", "decompress", "test", "info"):
        assert cmd in out


def test_compress_does_not_import_tensorflow(work):
    d, m = work
    code = ("import sys, lstmzip.cli as c; c.main(['compress', '-q', '-f', '-m', %r, 'play.txt']); "
            "print('tensorflow' in sys.modules)" % m)
    out = subprocess.run([sys.executable, "-c", code], cwd=d, capture_output=True, text=True,
                         env=dict(os.environ, PYTHONPATH=str(REPO)), timeout=300)
    assert out.stdout.strip() == "False", out.stderr


@needs_default_model
def test_default_model_round_trip(work):
    d, _ = work
    run_cli("compress", "play.txt", cwd=d, check=True)
    run_cli("decompress", "play.txt.lstmz", "-o", "back.txt", cwd=d, check=True)
    assert (d / "back.txt").read_bytes() == TEXT


def test_levels_fast_best_and_info_shows_them(work):
    d, m = work
    for flag, kind in (("-1", "lstm -1"), ("--fast", "cm -2"), ("-2", "cm -2"), ("-6", "cm -6"), ("--best", "cm -9")):
        run_cli("compress", "-m", m, flag, "-f", "play.txt", cwd=d, check=True)
        info = run_cli("info", "-v", "play.txt.lstmz", cwd=d, check=True).stdout.decode()
        assert kind in info or "zstd" in info, (flag, info)
        run_cli("test", "-m", m, "play.txt.lstmz", cwd=d, check=True)
    help_text = " ".join(run_cli("compress", "--help", check=True).stdout.decode().split())
    assert "-6: LSTM + context mixing" in help_text and "MB" in help_text
    assert "-2: context mixing, no LSTM" in help_text
    proc = run_cli("compress", "-m", m, "-0", "play.txt", cwd=d)
    assert proc.returncode == 2                                  # a wrong flag: usage, status 2
