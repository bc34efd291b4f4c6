"""--cluster and compress_files/decompress_files on a Dask cluster: byte-identical to one process.

One local cluster on loopback (2 worker processes, 1 thread each) serves the whole module and
is torn down after it. Small blocks of a tiny model keep every run to a second or two.
"""

from __future__ import annotations

import io
import os
import signal
import sys

import pytest

from lstmzip import cluster as lc
from lstmzip.codec import Compressor, Decompressor
from lstmzip.errors import LstmzipError
from lstmzip.model import random_model

from conftest import REPO, block_methods, run_cli

try:
    import distributed
except ImportError:                      # pragma: no cover - distributed is a test dependency
    distributed = None

needs_dask = pytest.mark.skipif(distributed is None, reason="dask distributed not installed: "
                                                             "pip install 'lstmzip[cluster]'")

DATA = (REPO / "README.md").read_bytes()[:6000] * 3 + bytes(range(256)) * 20 + b"\0" * 9000
BLOCK = 7000


@pytest.fixture(scope="module")
def client():
    if distributed is None:
        pytest.skip("dask distributed not installed")
    cluster = distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                                       dashboard_address=None, silence_logs=40)
    client = distributed.Client(cluster, set_as_default=False)
    try:
        yield client
    finally:
        client.close()
        cluster.close()


@pytest.fixture
def runner(client):
    with lc.DaskRunner(client) as r:
        yield r


def one_process(model, data: bytes, level: int, block_size: int = BLOCK) -> bytes:
    return Compressor(model, level=level, block_size=block_size).compress(data)


@needs_dask
def test_a_multi_block_file_gives_the_single_process_bytes(tiny_model, runner):
    one = one_process(tiny_model, DATA, 3)
    two = Compressor(tiny_model, level=3, block_size=BLOCK, runner=runner).compress(DATA)
    assert two == one and len(block_methods(one)) == 5
    assert Decompressor(tiny_model, runner=runner).decompress(one) == DATA


@needs_dask
def test_blocks_in_flight_are_bounded(tiny_model, client):
    with lc.DaskRunner(client, window=3) as runner:
        pulled, ahead = 0, []

        def jobs():
            nonlocal pulled
            for k in range(12):
                pulled += 1
                yield (bytes([k]) * 100,)

        kwargs = dict(model=tiny_model, methods=("stored",), threads=1)
        for k, (coded, n, _) in enumerate(runner.ordered(Compressor, kwargs, "compress_block_with_stats", jobs())):
            ahead.append(pulled - k)
            assert n == 100 and coded.endswith(bytes([k]) * 100)       # in order
    assert max(ahead) <= 3


@needs_dask
def test_a_directory_through_compress_files(tmp_path, tiny_model_path, client):
    files = {"a.txt": DATA, "sub/b.bin": DATA[:5000], "sub/deeper/c": DATA[::-1][:20000], "empty": b""}
    for name, data in files.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_bytes(data)
    (tmp_path / "old.lstmz").write_bytes(b"left alone")
    outs = lc.compress_files([tmp_path], client, level=2, model=str(tiny_model_path), block_size=BLOCK)
    order = ["a.txt", "empty", "sub/b.bin", "sub/deeper/c"]        # os.walk, sorted; .lstmz left out
    assert outs == [str(tmp_path / n) + ".lstmz" for n in order]
    for name, data in files.items():
        packed = (tmp_path / (name + ".lstmz")).read_bytes()
        assert packed == one_process(str(tiny_model_path), data, 2), name
        (tmp_path / name).unlink()
    backs = lc.decompress_files(tmp_path, client, model=str(tiny_model_path), errors="skip")
    assert backs == [str(tmp_path / n) for n in ["a.txt", "empty"]] + [None] \
        + [str(tmp_path / n) for n in ["sub/b.bin", "sub/deeper/c"]]        # old.lstmz: not lstmzip
    for name, data in files.items():
        assert (tmp_path / name).read_bytes() == data
    assert not (tmp_path / "old").exists()                           # a bad input leaves nothing
    assert not [p for p in tmp_path.rglob("*") if p.name.endswith(".tmp")]


@needs_dask
def test_a_corrupted_file_fails_alone_and_leaves_no_output(tmp_path, tiny_model, client):
    good, bad = tmp_path / "good.lstmz", tmp_path / "bad.lstmz"
    blob = one_process(tiny_model, DATA, 2)
    good.write_bytes(blob)
    broken = bytearray(blob)
    broken[-200] ^= 0x40                                              # in a block near the end
    bad.write_bytes(bytes(broken))
    with pytest.raises(LstmzipError, match=r"bad.lstmz: corrupted block \d"):
        lc.decompress_files([bad, good], client, model=tiny_model)
    assert (tmp_path / "good").read_bytes() == DATA
    assert not (tmp_path / "bad").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.lstmz", "good", "good.lstmz"]


@needs_dask
def test_a_worker_killed_mid_run_changes_nothing(tiny_model, client):
    data = DATA                                                        # 5 blocks of level 1 (the slowest)
    one = one_process(tiny_model, data, 1)
    pids = client.run(os.getpid)
    killed = []

    def progress(n):
        if killed:
            return
        busy = {w: keys for w, keys in client.processing().items() if keys}
        assert busy, "no block in flight"
        worker = sorted(busy)[0]
        os.kill(pids[worker], signal.SIGKILL)                          # the worker process, by its PID
        killed.append(worker)

    with lc.DaskRunner(client) as runner:
        out = io.BytesIO()
        Compressor(tiny_model, level=1, block_size=BLOCK, runner=runner).compress_stream(
            io.BytesIO(data), out, size=len(data), progress=progress)
    assert killed and out.getvalue() == one
    client.wait_for_workers(2, timeout=120)                            # the nanny restarts it
    assert set(client.run(os.getpid).values()) != set(pids.values())


@needs_dask
def test_a_model_mismatch_between_client_and_worker_is_one_clear_error(tmp_path, client):
    same, changed = tmp_path / "same.npz", tmp_path / "changed.npz"
    random_model(layers=1, hidden=16, seed=1, name="mine").save(same)
    random_model(layers=1, hidden=16, seed=2, name="mine").save(changed)
    kwargs = dict(level=2, block_size=BLOCK)
    with lc.DaskRunner(client, ship_model=False) as runner:        # workers load the model themselves
        ok = Compressor(str(same), runner=runner, **kwargs).compress(DATA[:9000])
        assert ok == Compressor(str(same), **kwargs).compress(DATA[:9000])
        comp = Compressor(str(changed), runner=runner, **kwargs)  # the client holds this model...
        random_model(layers=1, hidden=16, seed=3, name="mine").save(changed)   # ...the workers see another
        with pytest.raises(LstmzipError) as err:
            comp.compress(DATA)
    msg = str(err.value)
    assert "\n" not in msg and "has model 'mine' with sha256" in msg and "but the client names" in msg


def test_a_worker_checks_the_shipped_model_against_the_name(tiny_model):
    blob = lc.model_bytes(tiny_model)
    assert lc._worker_model(lc.ModelRef(tiny_model.sha256, "tiny", None), blob).sha256 == tiny_model.sha256
    with pytest.raises(LstmzipError, match=r"has model 'tiny' with sha256 .* but the client names model 'x'"):
        lc._worker_model(lc.ModelRef("0" * 64, "x", None), blob)


def test_without_dask_the_error_says_what_to_install(monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "distributed", None)
    with pytest.raises(LstmzipError, match=r"pip install 'lstmzip\[cluster\]'"):
        lc.connect("tcp://127.0.0.1:1")
    fake = tmp_path / "site" / "distributed"                            # dask "not installed" for the CLI
    fake.mkdir(parents=True)
    (fake / "__init__.py").write_text("raise ImportError('No module named distributed')\n")
    (tmp_path / "a.bin").write_bytes(b"abc")
    proc = run_cli("compress", "--cluster", "tcp://127.0.0.1:1", "a.bin", cwd=tmp_path,
                   env_extra={"PYTHONPATH": os.pathsep.join([str(fake.parent), str(REPO)])})
    assert proc.returncode == 1 and proc.stderr.decode().count("\n") == 1
    assert "pip install 'lstmzip[cluster]'" in proc.stderr.decode()
    assert not (tmp_path / "a.bin.lstmz").exists()


@needs_dask
def test_cli_cluster(tmp_path, tiny_model_path, client):
    m, addr = str(tiny_model_path), client.scheduler.address
    (tmp_path / "a.bin").write_bytes(DATA)
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "x.txt").write_bytes(DATA[:8000])
    (tmp_path / "d" / "y.txt").write_bytes(DATA[4000:])
    one = one_process(m, DATA, 2)
    run_cli("compress", "-m", m, "-2", "--block-size", str(BLOCK), "--cluster", addr, "-r", "a.bin", "d",
            cwd=tmp_path, check=True)
    assert (tmp_path / "a.bin.lstmz").read_bytes() == one
    assert (tmp_path / "d" / "y.txt.lstmz").read_bytes() == one_process(m, DATA[4000:], 2)
    proc = run_cli("test", "-m", m, "--cluster", addr, "-r", "d", "a.bin.lstmz", cwd=tmp_path, check=True)
    assert proc.stderr.decode().count(" OK") == 3
    run_cli("decompress", "-m", m, "--cluster", addr, "-o", "back.bin", "a.bin.lstmz", cwd=tmp_path, check=True)
    assert (tmp_path / "back.bin").read_bytes() == DATA
    proc = run_cli("compress", "--cluster", addr, "--workers", "2", "a.bin", cwd=tmp_path)
    assert proc.returncode == 1 and b"cannot be combined" in proc.stderr


@needs_dask
def test_concatenated_files_decode_on_a_cluster_member_by_member(tmp_path, tiny_model_path, client):
    import struct
    import zlib
    m, addr = str(tiny_model_path), client.scheduler.address
    a, b = one_process(m, DATA, 2), one_process(m, b"tiny", 2)         # version 2 and compact members
    assert b[8] == 3 and a[8] == 2
    (tmp_path / "aba.lstmz").write_bytes(a + b + a)
    (tmp_path / "bb.lstmz").write_bytes(b + b)
    run_cli("decompress", "-m", m, "--cluster", addr, "aba.lstmz", "bb.lstmz", cwd=tmp_path, check=True)
    assert (tmp_path / "aba").read_bytes() == DATA + b"tiny" + DATA
    assert (tmp_path / "bb").read_bytes() == b"tinytiny"
    proc = run_cli("test", "-m", m, "--cluster", addr, "aba.lstmz", "bb.lstmz", cwd=tmp_path, check=True)
    assert proc.stderr.decode().count(" OK") == 2
    end = bytearray(a[-45:])                                           # the second member's SHA-256 forged
    end[9] ^= 1
    struct.pack_into("<I", end, 41, zlib.crc32(end[:41]))
    (tmp_path / "bad.lstmz").write_bytes(a + a[:-45] + bytes(end))
    (tmp_path / "junk.lstmz").write_bytes(a + b"junk")
    for name, why in (("bad", "whole-file checksum mismatch"), ("junk", "trailing data")):
        with pytest.raises(LstmzipError, match=f"{name}.lstmz: .*{why}"):
            lc.decompress_files([tmp_path / f"{name}.lstmz"], client, model=m)
        assert not (tmp_path / name).exists()


@needs_dask
def test_cli_unreachable_scheduler_is_one_line(tmp_path):
    (tmp_path / "a.bin").write_bytes(b"abc")
    proc = run_cli("compress", "--cluster", "tcp://127.0.0.1:9", "a.bin", cwd=tmp_path,
                   env_extra={"DASK_DISTRIBUTED__COMM__TIMEOUTS__CONNECT": "1s"})
    err = proc.stderr.decode()
    assert proc.returncode == 1 and err.count("\n") == 1
    assert err.startswith("lstmzip: cannot reach the Dask scheduler at tcp://127.0.0.1:9")
    assert not (tmp_path / "a.bin.lstmz").exists()
