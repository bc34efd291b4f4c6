"""What a zstd, xz or gzip user expects of the command line (issue 20), run in a subprocess as a
user types it: the .lstmz skip, a misspelt command, flags before the command word, concatenated
files through every command, small files, the decompression bar's total."""

import fcntl
import io
import os
import pty
import struct
import subprocess
import sys
import termios

import pytest

import lstmzip
from conftest import REPO, run_cli

TEXT = b"It was the best of times, it was the worst of times, it was the age of wisdom.\n" * 60


@pytest.fixture
def work(tmp_path, tiny_model_path):
    (tmp_path / "a.txt").write_bytes(TEXT)
    (tmp_path / "b.txt").write_bytes(b"0123456789")
    (tmp_path / "e.txt").write_bytes(b"")
    return tmp_path, str(tiny_model_path)


def _lines(proc) -> list:
    return [line for line in proc.stderr.decode().splitlines() if line.strip()]


def test_a_lstmz_file_is_skipped_by_compress_unless_forced(work):
    d, m = work
    run_cli("compress", "-m", m, "a.txt", cwd=d, check=True)
    proc = run_cli("compress", "-m", m, "a.txt.lstmz", cwd=d)
    assert proc.returncode == 0 and len(_lines(proc)) == 1
    assert "already has the .lstmz suffix" in _lines(proc)[0] and "-f" in _lines(proc)[0]
    assert not (d / "a.txt.lstmz.lstmz").exists()
    run_cli("compress", "-f", "-m", m, "a.txt.lstmz", cwd=d, check=True)
    assert (d / "a.txt.lstmz.lstmz").exists()


def test_a_misspelt_command_is_a_usage_error_with_a_suggestion(work):
    d, m = work
    run_cli("compress", "-m", m, "a.txt", cwd=d, check=True)
    proc = run_cli("decomp", "a.txt.lstmz", cwd=d)
    assert proc.returncode == 2 and b"did you mean 'decompress'" in proc.stderr
    assert sorted(p.name for p in d.iterdir()) == ["a.txt", "a.txt.lstmz", "b.txt", "e.txt"]
    proc = run_cli("compress", "--bogus", "a.txt", cwd=d)
    assert proc.returncode == 2 and proc.stderr.startswith(b"usage: lstmzip compress")
    proc = run_cli("-m", m, "b.txt", cwd=d, check=True)                # a file still compresses
    assert (d / "b.txt.lstmz").exists()


def test_flags_before_the_command_word_apply_to_it(work):
    d, m = work
    run_cli("compress", "-m", m, "a.txt", cwd=d, check=True)
    (d / "a.txt").rename(d / "orig.txt")
    proc = run_cli("-q", "-m", m, "decompress", "a.txt.lstmz", cwd=d, check=True)
    assert proc.stderr == b"" and (d / "a.txt").read_bytes() == TEXT
    assert not (d / "a.txt.lstmz.lstmz").exists()
    info = run_cli("-v", "info", "a.txt.lstmz", cwd=d, check=True).stdout
    assert b"block     0" in info
    proc = run_cli("-f", "info", "a.txt.lstmz", cwd=d)                   # not a flag of info
    assert proc.returncode == 2 and proc.stderr.startswith(b"usage: lstmzip info")


def test_concatenated_files_through_every_command(work):
    d, m = work
    for name in ("a.txt", "b.txt", "e.txt"):
        run_cli("compress", "-m", m, name, cwd=d, check=True)
    whole = b"".join((d / f"{n}.lstmz").read_bytes() for n in ("a.txt", "e.txt", "b.txt"))
    (d / "all.lstmz").write_bytes(whole)
    want = TEXT + b"0123456789"
    assert run_cli("-d", "-c", "-m", m, "all.lstmz", cwd=d, check=True).stdout == want
    assert run_cli("-d", "-m", m, input=whole, cwd=d, check=True).stdout == want
    run_cli("decompress", "-m", m, "all.lstmz", cwd=d, check=True)
    assert (d / "all").read_bytes() == want
    assert b"OK" in run_cli("test", "-m", m, "all.lstmz", cwd=d, check=True).stderr
    info = run_cli("info", "-v", "all.lstmz", cwd=d, check=True).stdout.decode()
    assert "3 concatenated members" in info and f"original  {len(want)} bytes" in info
    assert "(member 3)" in info
    assert lstmzip.decompress(whole, model=m) == want
    with lstmzip.open(io.BytesIO(whole), "rb", model=m) as f:
        assert f.read() == want
    (d / "bad.lstmz").write_bytes(whole + b"garbage")
    for cmd in (["decompress", "-c"], ["test"], ["info"]):
        proc = run_cli(*cmd, "-m", m, "bad.lstmz", cwd=d)
        assert proc.returncode == 1 and len(_lines(proc)) == 1 and b"trailing data" in proc.stderr, cmd
        assert proc.stdout == b"" or cmd == ["info"]


def test_compress_c_of_several_inputs_is_what_decompress_c_decodes(work):
    d, m = work
    (d / "dir").mkdir()
    (d / "dir" / "x").write_bytes(b"x" * 1000)
    (d / "dir" / "y").write_bytes(TEXT[:500])
    both = run_cli("compress", "-c", "-m", m, "a.txt", "b.txt", cwd=d, check=True).stdout
    assert run_cli("-d", "-c", "-m", m, input=both, cwd=d, check=True).stdout == TEXT + b"0123456789"
    tree = run_cli("compress", "-c", "-r", "-m", m, "dir", cwd=d, check=True).stdout
    assert run_cli("-d", "-c", "-m", m, input=tree, cwd=d, check=True).stdout == b"x" * 1000 + TEXT[:500]


def test_small_files_are_small(work):
    d, m = work
    (d / "one").write_bytes(b"x")
    sizes = {}
    for name in ("e.txt", "one", "b.txt"):
        run_cli("compress", "-m", m, name, cwd=d, check=True)
        sizes[name] = len((d / f"{name}.lstmz").read_bytes())
        back = run_cli("-d", "-c", f"{name}.lstmz", cwd=d, check=True).stdout   # no model needed
        assert back == (d / name).read_bytes()
    assert sizes == {"e.txt": 19, "one": 39, "b.txt": 48}        # gzip: 20 / 21 / 30 (with a name)
    piped = run_cli("compress", "-m", m, input=b"0123456789", cwd=d, check=True).stdout
    assert len(piped) == 48
    info = run_cli("info", "b.txt.lstmz", cwd=d, check=True).stdout.decode()
    assert "none needed" in info and "format version 3" in info


def _on_terminal(args, cwd, stdout_too: bool = False):
    """Run lstmzip with stderr (and stdout if asked) on a pseudo-terminal of 120 columns;
    returns (exit status, what the terminal showed, stdout if it was a pipe)."""
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 120, 0, 0))
    env = dict(os.environ, PYTHONPATH=str(REPO))
    proc = subprocess.Popen([sys.executable, "-m", "lstmzip", *map(str, args)], cwd=cwd, env=env,
                            stdin=subprocess.DEVNULL, stderr=slave,
                            stdout=slave if stdout_too else subprocess.PIPE)
    os.close(slave)
    shown = []
    while True:
        try:
            chunk = os.read(master, 1 << 16)
        except OSError:                   # EIO: the child closed the terminal
            break
        if not chunk:
            break
        shown.append(chunk)
    out = proc.stdout.read() if proc.stdout else b""
    proc.wait(timeout=300)
    os.close(master)
    return proc.returncode, b"".join(shown), out


def test_the_decompression_bar_has_the_total_and_stays_out_of_the_data(work):
    d, m = work
    (d / "big.txt").write_bytes(TEXT * 5)                    # 23,700 bytes = 23.1 KiB
    run_cli("compress", "-m", m, "big.txt", cwd=d, check=True)
    rc, shown, _ = _on_terminal(["decompress", "-m", m, "-o", "back.txt", "big.txt.lstmz"], d)
    assert rc == 0 and (d / "back.txt").read_bytes() == TEXT * 5
    assert b"%|" in shown and b"/23.1k" in shown, shown
    rc, shown, _ = _on_terminal(["-d", "-c", "-m", m, "big.txt.lstmz"], d, stdout_too=True)
    assert rc == 0 and b"%|" not in shown and b"It was the best of times" in shown
