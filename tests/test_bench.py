"""`lstmzip bench`: runs on tiny inputs, writes well-formed JSON, and every size it reports is the
size of an output it really produced (and that output decodes to the input)."""

import bz2
import hashlib
import json
import lzma
from pathlib import Path

import pytest
import zstandard

import lstmzip
from conftest import run_cli
from lstmzip.bench import baselines, cli as bench_cli
from lstmzip.bench.run import Input, run_bench
from lstmzip.model import random_model

TEXT = b"It was the best of times, it was the worst of times, it was the age of wisdom. " * 40
PROSE = (Path(__file__).resolve().parents[1] / "README.md").read_bytes()[:4000]   # not zstd-obvious
BINARY = bytes(range(256)) * 6 + bytes((i * 7919) % 251 for i in range(1500))


@pytest.fixture(scope="module")
def tiny_path(tmp_path_factory):
    path = tmp_path_factory.mktemp("bench") / "tiny.npz"
    random_model(layers=1, hidden=16, seed=0, name="tiny").save(path)
    return path


@pytest.fixture(scope="module")
def inputs():
    return [Input("text.txt", TEXT), Input("binary.bin", BINARY), Input("more.txt", TEXT[::-1] + TEXT[:999]),
            Input("prose.txt", PROSE), Input("empty", b"")]


@pytest.fixture(scope="module")
def bench(tiny_path, inputs):
    outputs = {}
    report = run_bench(inputs, models=[str(tiny_path)], outputs=outputs)
    return report, outputs


def _decode(codec: str, blob: bytes, tiny_path) -> bytes:
    """Decode with the codec's own library, not the bench's code."""
    if codec.startswith("lstmzip"):
        return lstmzip.decompress(blob, model=tiny_path)
    if codec.startswith("xz"):
        return lzma.decompress(blob)
    if codec.startswith("bzip2"):
        return bz2.decompress(blob)
    if codec == "zstd-19+dict":
        return None                       # needs its leave-one-out dictionary; checked by the bench itself
    return zstandard.ZstdDecompressor().decompress(blob)


def test_every_reported_size_is_the_real_output(bench, inputs, tiny_path):
    report, outputs = bench
    data = {i.name: i.data for i in inputs}
    codecs = {r["codec"] for r in report["results"]}
    assert len(codecs) == 1 + len(baselines.NAMES)
    assert len(report["results"]) == len(inputs) * len(codecs)
    for r in report["results"]:
        blob = outputs[(r["file"], r["codec"])]
        assert r["size"] == len(blob) and r["sha256"] == hashlib.sha256(blob).hexdigest(), r
        assert r["original"] == len(data[r["file"]])
        assert r["verified"] and r["deterministic"], r
        decoded = _decode(r["codec"], blob, tiny_path)
        assert decoded is None or decoded == data[r["file"]], r["codec"]
        if r["original"]:
            assert r["bpb"] == pytest.approx(8 * len(blob) / r["original"])
    for t in report["totals"]:
        rows = [r for r in report["results"] if r["codec"] == t["codec"]]
        assert t["size"] == sum(r["size"] for r in rows) and t["original"] == sum(len(d) for d in data.values())


def test_baseline_sizes_match_the_plain_libraries(bench, inputs):
    """Same settings as `zstd -19`, `xz -9e`, `bzip2 -9` called directly: same bytes."""
    report, _ = bench
    size = {(r["file"], r["codec"]): r["size"] for r in report["results"]}
    for i in inputs:
        assert size[(i.name, "zstd-19")] == len(zstandard.ZstdCompressor(level=19).compress(i.data))
        assert size[(i.name, "xz-9e")] == len(lzma.compress(i.data, preset=9 | lzma.PRESET_EXTREME))
        assert size[(i.name, "bzip2-9")] == len(bz2.compress(i.data, 9))


def test_lstmzip_rows_have_roofline_and_model(bench):
    report, _ = bench
    rows = [r for r in report["results"] if r["kind"] == "lstmzip"]
    assert all(r["model"] == "tiny" and r["trained"] is False for r in rows)
    model_rows = [r for r in rows if r["original"] and r["lstm_bytes"]]      # blocks the model coded
    assert model_rows and all(r["roofline_compress"] is not None and r["roofline_compress"] > 0 for r in model_rows)
    assert report["rooflines"] and all(x["gflops"] > 0 for x in report["rooflines"])
    assert report["settings"]["models"][0]["flops_per_byte"] == random_model(1, 16).flops_per_byte
    assert len(report["load_average"]["start"]) == 3


def test_dictionary_is_reported_apart_and_left_one_out(bench, inputs):
    report, _ = bench
    rows = [r for r in report["results"] if r["codec"] == "zstd-19+dict"]
    assert all("dict_size" in r for r in rows)
    # A dictionary trained without the file itself: identical copies are left out too.
    records = b"".join(b"record %d: value=%d name=item%d\n" % (i, i * i, i % 17) for i in range(4000))
    d = baselines.train_dictionary([records])
    assert d is not None and 1024 <= len(d.as_bytes()) <= baselines.DICT_SIZE
    codec = baselines.dictionary_codec(TEXT, [TEXT, records, TEXT])
    assert codec.dict_size == len(d.as_bytes())                                 # trained on `records` alone
    assert codec.decompress(codec.compress(TEXT)) == TEXT
    assert baselines.dictionary_codec(TEXT, [TEXT, TEXT]).dict_size == 0       # nothing else to learn from


def test_cli_writes_strict_json_markdown_and_plot(tmp_path, tiny_path):
    (tmp_path / "a.txt").write_bytes(TEXT)
    (tmp_path / "b.bin").write_bytes(BINARY)
    out, png = tmp_path / "r" / "bench.json", tmp_path / "bench.png"
    proc = run_cli("bench", "a.txt", "b.bin", "-m", tiny_path, "--baselines", "zstd-3,bzip2-9",
                   "--json", out, "--plot", png, "-q", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr.decode()
    assert b"| codec | compressed bytes | bits/byte |" in proc.stdout
    report = json.loads(out.read_text(), parse_constant=lambda c: pytest.fail(f"non-JSON constant {c}"))
    assert report["schema"] == "lstmzip-bench/1"
    assert [f["size"] for f in report["files"]] == [len(TEXT), len(BINARY)]
    assert {r["codec"] for r in report["results"]} == {"lstmzip-6[tiny/numpy]", "zstd-3", "bzip2-9"}
    for r in report["results"]:
        if r["codec"] == "bzip2-9":
            data = TEXT if r["file"] == "a.txt" else BINARY
            assert r["size"] == len(bz2.compress(data, 9))
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_cli_refuses_gpu_without_tf_backend(tmp_path, tiny_path):
    (tmp_path / "a.txt").write_bytes(TEXT)
    proc = run_cli("bench", "a.txt", "-m", tiny_path, "--device", "gpu", cwd=tmp_path)
    assert proc.returncode == 1 and b"--device gpu needs --backend tf" in proc.stderr


def test_tf_backend_matches_numpy_or_says_no_gpu(tmp_path, tiny_path):
    tf = pytest.importorskip("tensorflow")
    (tmp_path / "a.txt").write_bytes(TEXT[:600])
    has_gpu = bool(tf.config.list_physical_devices("GPU"))
    proc = run_cli("bench", "a.txt", "-m", tiny_path, "--backend", "tf", "--device", "gpu" if has_gpu else "cpu",
                   "--baselines", "none", "--json", tmp_path / "r.json", "-q", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr.decode()
    rows = json.loads((tmp_path / "r.json").read_text())["results"]
    assert [r["identical_to_numpy_cpu"] for r in rows] == [True]
    if not has_gpu:
        proc = run_cli("bench", "a.txt", "-m", tiny_path, "--backend", "tf", "--device", "gpu", cwd=tmp_path)
        err = proc.stderr.decode()
        assert proc.returncode == 1 and "Traceback" not in err and "no GPU" in err, err


def test_cli_baseline_list_matches_the_module():
    assert bench_cli.BASELINES == baselines.NAMES


@pytest.mark.skipif(not (Path(__file__).resolve().parents[2] / "shared" / "corpora").is_dir(),
                    reason="shared corpora not found next to the repository")
def test_default_set_is_canterbury_calgary_enwik6_and_quick_is_small():
    from lstmzip.bench.run import QUICK_BYTES, default_inputs
    full = default_inputs()
    assert len(full) == 11 + 18 + 1 and full[-1].name == "enwik/enwik6" and len(full[-1].data) == 10 ** 6
    quick = default_inputs(quick=True)
    assert 1 <= len(quick) <= 4 and all(len(i.data) <= QUICK_BYTES for i in quick)
