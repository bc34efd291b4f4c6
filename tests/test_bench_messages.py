"""What `bench` and `train` print: the missing-corpus message names every place searched and how to
fill one; the totals table lists every block method; a disturbed roofline fraction is not a number;
the last evaluation line of a training phase is never an empty one."""

import dataclasses
import os

import pytest

from conftest import run_cli
from lstmzip import corpus
from lstmzip.bench import report
from lstmzip.bench import run as bench_run
from lstmzip.errors import LstmzipError


def test_missing_corpus_from_the_cli_names_the_variable_and_the_fetch_folder(tmp_path):
    shared, fetched = tmp_path / "shared-copy", tmp_path / "fetched"
    shared.mkdir()
    proc = run_cli("bench", "--quick", "-m", "random:1x8", cwd=tmp_path,
                   env_extra={"LSTMZIP_SHARED_CORPORA": str(shared), "LSTMZIP_CORPORA": str(fetched)})
    err = proc.stderr.decode()
    assert proc.returncode == 1 and len(err.strip().splitlines()) == 1, err
    for needle in ("benchmark files not found", "canterbury/alice29.txt", f"{shared} ($LSTMZIP_SHARED_CORPORA)",
                   str(fetched), "lstmzip corpus fetch canterbury/alice29.txt", "lstmzip bench FILE"):
        assert needle in err, err
    assert "site-packages" not in err and "python3" not in err


def test_missing_corpus_names_every_default_place(tmp_path, monkeypatch):
    checkout, work = tmp_path / "checkout" / "lstmzip-src", tmp_path / "somewhere" / "work"
    checkout.mkdir(parents=True)
    work.mkdir(parents=True)
    (checkout / "pyproject.toml").write_text("")
    monkeypatch.setattr(corpus, "REPO", checkout)
    monkeypatch.delenv(corpus.SHARED_ENV, raising=False)
    monkeypatch.setenv("LSTMZIP_CORPORA", str(tmp_path / "fetched"))
    monkeypatch.chdir(work)
    with pytest.raises(LstmzipError) as exc:
        bench_run.default_inputs(quick=True)
    msg = str(exc.value)
    for place in (tmp_path / "checkout" / "shared" / "corpora", tmp_path / "somewhere" / "shared" / "corpora",
                  tmp_path / "fetched"):
        assert str(place) in msg, msg
    assert "../shared/corpora from the working directory" in msg and "LSTMZIP_SHARED_CORPORA" in msg
    (checkout / "pyproject.toml").unlink()                    # an installed package: not its neighbour
    assert [w for _, w in corpus.shared_candidates()] == ["../shared/corpora from the working directory"]


def _total(**over):
    row = dict(codec="lstmzip-6[x/numpy]", kind="lstmzip", size=10, bpb=1.0, compress_kbps=1.0,
               decompress_kbps=1.0, compress_peak_bytes=0, decompress_peak_bytes=0, verified=True,
               deterministic=True, roofline_compress=0.5, roofline_decompress=1.55, blocks={})
    row.update(over)
    return row


def test_totals_table_lists_every_block_method_and_no_empty_list():
    rows = [dict(codec="c", kind="lstmzip", original=5, size=1, compress_s=1.0, decompress_s=1.0,
                 compress_peak_bytes=0, decompress_peak_bytes=0, verified=True, deterministic=True,
                 trained=True, roofline_compress_s=0.1, roofline_decompress_s=0.1, lstm_bytes=5,
                 blocks=blocks) for blocks in ({"cm": 2}, {"cm": 1, "zstd": 1})]
    assert bench_run.totals(rows, ["c"])[0]["blocks"] == {"zstd": 1, "cm": 3}
    table = "\n".join(report.totals_table({"totals": [_total(blocks={"cm": 3, "zstd": 0})]}))
    assert "(blocks: cm 3)" in table
    table = "\n".join(report.totals_table({"totals": [_total(blocks={"lstm": 0})]}))
    assert "blocks:" not in table


def test_a_disturbed_roofline_fraction_is_not_printed_as_a_number():
    table = "\n".join(report.totals_table({"totals": [_total()]}))
    assert "50 % / n/a (GEMM timing disturbed)" in table
    assert "155 %" not in table


def test_the_last_evaluation_line_is_never_empty(tmp_path):
    """An evaluation due at the last step (here: after every step) was followed by a second,
    final one over zero steps: `train 0.0000 ... gnorm emb=0.000 lstm1=0.000 out=0.000`."""
    pytest.importorskip("tensorflow")
    from lstmzip.train import config as C
    from lstmzip.train import loop
    src = tmp_path / "text.txt"
    src.write_bytes(b"the quick brown fox jumps over the lazy dog. " * 400)
    cfg = C.preset("tiny", minutes=1000.0, eval_every_min=0.0, ckpt_every_min=1000.0, val_bytes=2000,
                   max_steps=3, qat_steps=2, qat_minutes=1000.0)
    run = str(tmp_path / "run")
    loop.prepare_run(run, cfg, [str(src)], ())
    lines = []
    real_log = loop.log
    loop.log = lines.append
    try:
        loop.train_phase(run, cfg, "float", resume=False, progress=False)
        result = loop.train_phase(run, dataclasses.replace(cfg), "qat", resume=False, progress=False)
    finally:
        loop.log = real_log
    evals = [line for line in lines if " gnorm " in line]
    assert len(evals) == 3 + 2, lines                         # one per step, none extra at the end
    assert not any("train 0.0000" in line or "=0.000 " in line + " " for line in evals), evals
    assert result["final_val"] is not None and os.path.isfile(os.path.join(run, "qat-last.npz"))
