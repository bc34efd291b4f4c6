"""The training-corpus builder (lstmzip/train/corpus_build.py) on a tiny offline fixture: kinds, the
exclusion rules, exact / whitespace / near-duplicate removal, package and kind caps, the per-kind
validation split, the manifest's fields, and the trainer reading the built folder."""

from __future__ import annotations

import hashlib
import json
import random

import pytest

from lstmzip.train import corpus_build as CB
from lstmzip.train import data as D

WORDS = ("alpha beta gamma delta epsilon zeta theta kappa lambda sigma omega river stone cloud paper "
         "engine signal buffer socket thread window market garden letter number").split()


def prose(seed: int, n_words: int) -> bytes:
    rng = random.Random(seed)
    lines, line = [], []
    for _ in range(n_words):
        line.append(rng.choice(WORDS))
        if len(line) == 12:
            lines.append(" ".join(line).capitalize() + ".")
            line = []
    return ("\n".join(lines) + "\n").encode()


def c_source(seed: int, n: int = 150) -> bytes:
    rng = random.Random(seed)
    out = ["#include <stdio.h>", ""]
    for i in range(n):
        a, b = rng.choice(WORDS), rng.choice(WORDS)
        out.append(f"static int {a}_{i}(int {b}) {{ return {b} * {rng.randint(2, 999)} + {i}; }}")
    return ("\n".join(out) + "\n").encode()


@pytest.fixture()
def built(tmp_path):
    pkg_a, pkg_b, pkg_c = (tmp_path / "pkgs" / n for n in ("a", "b", "c"))
    for d in (pkg_a / "src", pkg_a / "canterbury", pkg_b / "docs", pkg_c / "docs"):
        d.mkdir(parents=True)
    code = c_source(1)
    (pkg_a / "src" / "main.c").write_bytes(code)
    (pkg_a / "src" / "copy.c").write_bytes(code)                                    # exact duplicate
    (pkg_a / "src" / "spaces.c").write_bytes(code.replace(b"; }", b";   }\t"))      # whitespace duplicate
    lines = code.split(b"\n")
    lines[40] = b"static int changed(void) { return 7; }"
    (pkg_a / "src" / "near.c").write_bytes(b"\n".join(lines))                       # near duplicate
    (pkg_a / "src" / "other.c").write_bytes(c_source(2))
    (pkg_a / "src" / "third.c").write_bytes(c_source(3))
    (pkg_a / "data.json").write_bytes(json.dumps({"k%d" % i: list(range(i % 7)) for i in range(300)}, indent=1).encode())
    (pkg_a / "README.md").write_bytes(b"# Title\n\n" + prose(4, 300))
    (pkg_a / "blob.bin").write_bytes(bytes(range(256)) * 20)                          # binary
    (pkg_a / "app.min.js").write_bytes(b"var a=1;" * 3000)                           # minified
    (pkg_a / "canterbury" / "notes.txt").write_bytes(prose(5, 200))                   # blocked path
    (pkg_b / "docs" / "ebook.txt").write_bytes(prose(6, 400) + b"This eBook is from Project Gutenberg.\n")
    bench = prose(7, 2000)
    (pkg_b / "docs" / "bench.txt").write_bytes(bench)                                 # a benchmark file itself
    bl = bench.split(b"\n")
    (pkg_b / "docs" / "bench-v2.txt").write_bytes(b"\n".join(bl[:100] + [b"A newer edition."] + bl[100:]))
    (pkg_b / "docs" / "guide.txt").write_bytes(prose(8, 600))
    (pkg_b / "docs" / "log.log").write_bytes(b"".join(b"2026-12-03 09:%02d:00 INFO worker %d started\n" % (i % 60, i)
                                                     for i in range(200)))
    for i in range(10):                                                               # package cap: 12 KB
        (pkg_c / "docs" / f"part{i}.txt").write_bytes(prose(100 + i, 900))
    shared = tmp_path / "shared"
    (shared / "canterbury").mkdir(parents=True)
    (shared / "canterbury" / "fake.txt").write_bytes(bench)
    listing = tmp_path / "list.txt"
    listing.write_text(f"# fixture\ndir a={pkg_a}\ndir b={pkg_b}\ndir c={pkg_c} cap=12K\n")
    out = tmp_path / "corpus"
    rc = CB.main(["--out", str(out), "--packages", str(listing), "--shared", str(shared), "--no-logs",
                  "--cache", str(tmp_path / "cache"), "--package-cap", "1M", "--kind-cap", "1M",
                  "--val-min", "10K", "--val-max", "50K"])
    assert rc == 0
    return out, json.loads((out / "corpus.json").read_text()), json.loads((out / "sources.json").read_text())


def test_parse_list_sources_versions_and_caps():
    specs = CB.parse_list("deb hello\ndeb foo=1.2 cap=2M  # x\npypi six==1.17.0\nnpm @types/node@20.1.0\nnpm lodash\n")
    assert [(s.source, s.name, s.version, s.cap) for s in specs] == [
        ("deb", "hello", None, None), ("deb", "foo", "1.2", 2_000_000), ("pypi", "six", "1.17.0", None),
        ("npm", "@types/node", "20.1.0", None), ("npm", "lodash", None, None)]
    with pytest.raises(ValueError):
        CB.parse_list("cpan Foo\n")


def test_classify_kinds():
    groff = b'.\\" comment\n.TH LS 1\n.SH NAME\nls \\- list\n'
    assert CB.classify("usr/share/man/man1/ls.1", groff) == "groff"
    assert CB.classify("pkg/src/a.rs", b"fn main() {}\n") == "rust"
    assert CB.classify("pkg/bin/tool", b"#!/bin/sh\necho hi\n") == "shell"
    assert CB.classify("usr/share/doc/foo/copyright", b"Format: x\nLicense: MIT\n") == "licence"
    assert CB.classify("usr/share/doc/foo/changelog.Debian", b"foo (1.0) unstable; urgency=low\n") == "changelog"
    table = b"".join(b"%d;name %d;Lu;0;L;;;;;N;;;;;\n" % (i, i) for i in range(50))
    assert CB.classify("usr/share/unicode/UnicodeData.txt", table) == "csv"
    assert CB.classify("x/app.min.js", b"var a;") is None
    assert CB.classify("x/image.xyz", b"whatever text here") is None


def test_exclusions_dedup_caps_and_manifest(built):
    out, summary, sources = built
    files = sources["files"]
    paths = {f["path"] for f in files}
    dropped = summary["dropped"]
    # exclusion rules
    assert "docs/bench.txt" not in paths and dropped["benchmark-sha256"][0] == 1
    assert "docs/bench-v2.txt" not in paths and dropped["benchmark-lines"][0] == 1
    assert "docs/ebook.txt" not in paths and dropped["gutenberg"][0] == 1
    assert "canterbury/notes.txt" not in paths and dropped["blocked-path"][0] == 1
    assert dropped["binary"][0] >= 1 and "app.min.js" not in paths
    assert sorted(e[2] for e in summary["excluded"]) == ["benchmark-lines", "benchmark-sha256", "blocked-path",
                                                        "gutenberg"]
    # deduplication: one of main.c / copy.c / spaces.c / near.c survives, other.c and third.c too
    dups = {"src/main.c", "src/copy.c", "src/spaces.c", "src/near.c"}
    assert len(dups & paths) == 1
    assert {"src/other.c", "src/third.c"} <= paths
    assert dropped["dup-exact"][0] == 1 and dropped["dup-whitespace"][0] == 1 and dropped["dup-near"][0] == 1
    # the package cap (12K for c): about the cap, never far above
    c_bytes = sum(f["bytes"] for f in files if f["package"] == "c")
    assert 8_000 <= c_bytes <= 12_000 * 1.1 + 6_000
    assert dropped["cap-package"][0] >= 5
    # manifest fields, shards and offsets
    for f in files:
        assert {"package", "source", "version", "licence", "kind", "path", "bytes", "sha256", "split", "shard",
                "offset"} <= set(f)
        blob = (out / f["shard"]).read_bytes()[f["offset"]:f["offset"] + f["bytes"]]
        assert hashlib.sha256(blob).hexdigest() == f["sha256"]
    for name, info in summary["shards"].items():
        assert hashlib.sha256((out / name).read_bytes()).hexdigest() == info["sha256"]
    kinds = {f["kind"] for f in files}
    assert {"c", "json", "markdown", "text", "log"} <= kinds
    # the validation split: whole files, per kind, only where a kind has more than one file
    assert any(f["split"] == "val" for f in files if f["kind"] == "c")
    assert all(f["split"] == "train" for f in files if f["kind"] == "json")
    assert (out / "val" / "c.txt").is_file() and (out / "train" / "c.txt").is_file()


def test_kind_cap(tmp_path):
    d = tmp_path / "p"
    d.mkdir()
    for i in range(8):
        (d / f"f{i}.txt").write_bytes(prose(200 + i, 500))
    listing = tmp_path / "list.txt"
    listing.write_text(f"dir p={d}\n")
    out = tmp_path / "o"
    CB.main(["--out", str(out), "--packages", str(listing), "--shared", str(tmp_path / "none"), "--no-logs",
             "--cache", str(tmp_path / "cache"), "--kind-cap", "9K"])
    summary = json.loads((out / "corpus.json").read_text())
    assert summary["kinds"]["text"]["bytes"] <= 9_000 + 3_500
    assert summary["dropped"]["cap-kind"][0] >= 4


def test_trainer_reads_a_built_corpus(built):
    out, summary, sources = built
    corpus = D.load_corpus([str(out)])
    train_files = [f for f in sources["files"] if f["split"] == "train"]
    assert len(corpus.train) == sum(f["bytes"] + (0 if (out / f["shard"]).read_bytes()[f["offset"] + f["bytes"] - 1:
                                                          f["offset"] + f["bytes"]] == b"\n" else 1)
                                    for f in train_files)
    assert [p[0] for p in corpus.val_parts] == sorted(p.stem for p in (out / "val").iterdir())
    assert len(corpus.val) == summary["val_bytes"] and corpus.val_parts[-1][2] == len(corpus.val)
    assert corpus.sources[0]["corpus_sha256"] == summary["corpus_sha256"]
    # the per-part validation slice gives every kind the same share
    parts = [(f"k{i}", i * 100, i * 100 + 100) for i in range(20)]
    sl, where = D.val_slice_parts(corpus.val[:2000] if len(corpus.val) >= 2000 else bytes(2000), 400, parts)
    assert len(sl) == 400 and [w[2] - w[1] for w in where] == [20] * 20
