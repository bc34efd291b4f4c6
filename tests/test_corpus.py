"""`lstmzip corpus`: the manifest is right, fetching copies and verifies, a wrong sha256 is refused."""

import bz2
import hashlib
import io
import json
import tarfile
import zipfile
from pathlib import Path

import pytest

from conftest import run_cli
from lstmzip import corpus
from lstmzip.errors import LstmzipError

# The team's read-only copy of the corpora, next to the repository.
CORPORA = Path(__file__).resolve().parents[2] / "shared" / "corpora"
needs_shared = pytest.mark.skipif(not CORPORA.is_dir(), reason=f"shared corpora not found at {CORPORA}")


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def test_manifest_names_sources_sizes_and_hashes():
    entries = corpus.load_manifest()
    names = {e.name for e in entries}
    assert {"canterbury/alice29.txt", "calgary/book1", "large/E.coli", "enwik/enwik6", "silesia/dickens",
            "misc/tinyshakespeare.txt"} <= names
    hosts = {"canterbury": "corpus.canterbury.ac.nz", "calgary": "corpus.canterbury.ac.nz",
             "large": "corpus.canterbury.ac.nz", "enwik": "mattmahoney.net/dc", "silesia": "sun.aei.polsl.pl/~sdeor",
             "misc": "karpathy/char-rnn"}
    for e in entries:
        assert hosts[e.corpus] in e.url, e
        assert len(e.sha256) == 64 and e.size > 0


def test_select_by_corpus_file_and_stem():
    entries = corpus.load_manifest()
    assert len(corpus.select(entries, ["canterbury"])) == 11
    assert [e.name for e in corpus.select(entries, ["enwik6", "enwik/enwik6"])] == ["enwik/enwik6"]
    assert [e.name for e in corpus.select(entries, ["tinyshakespeare"])] == ["misc/tinyshakespeare.txt"]
    assert len(corpus.select(entries, ["all"])) == len(entries)
    with pytest.raises(LstmzipError, match="unknown corpus or file"):
        corpus.select(entries, ["no-such-corpus"])


@needs_shared
def test_manifest_matches_the_shared_files():
    """Sizes and sha256 of every raw file in ../shared/corpora (Silesia: the small xml only, decompressed)."""
    for e in corpus.load_manifest():
        raw = CORPORA / e.corpus / e.file
        if raw.is_file():
            assert sha(raw.read_bytes()) == e.sha256, e.name
    xml = corpus.select(corpus.load_manifest(), ["silesia/xml"])[0]
    packed = (CORPORA / "silesia" / xml.stored["file"]).read_bytes()
    assert sha(packed) == xml.stored["sha256"]
    assert sha(bz2.decompress(packed)) == xml.sha256


@needs_shared
def test_fetch_copies_from_shared_and_verifies(tmp_path):
    dest = tmp_path / "dest"
    proc = run_cli("corpus", "fetch", "grammar.lsp", "silesia/xml", "--from", CORPORA, "--dest", dest)
    assert proc.returncode == 0, proc.stderr.decode()
    assert sha((dest / "canterbury" / "grammar.lsp").read_bytes()) == \
        sha((CORPORA / "canterbury" / "grammar.lsp").read_bytes())
    xml = corpus.select(corpus.load_manifest(), ["silesia/xml"])[0]
    assert sha((dest / "silesia" / "xml").read_bytes()) == xml.sha256          # decompressed from .bz2
    again = run_cli("corpus", "fetch", "grammar.lsp", "--from", CORPORA, "--dest", dest)
    assert again.returncode == 0 and b"already present" in again.stderr


@needs_shared
def test_wrong_sha256_is_refused(tmp_path):
    bad = tmp_path / "bad" / "canterbury"
    bad.mkdir(parents=True)
    data = bytearray((CORPORA / "canterbury" / "grammar.lsp").read_bytes())
    data[100] ^= 1                                                            # one flipped bit, same size
    (bad / "grammar.lsp").write_bytes(bytes(data))
    dest = tmp_path / "dest"
    proc = run_cli("corpus", "fetch", "grammar.lsp", "--from", tmp_path / "bad", "--dest", dest)
    err = proc.stderr.decode()
    assert proc.returncode == 1 and "Traceback" not in err
    assert "refused" in err and "sha256" in err, err
    assert not (dest / "canterbury" / "grammar.lsp").exists()


def test_missing_from_folder_is_an_error_not_a_download(tmp_path):
    (tmp_path / "empty").mkdir()
    proc = run_cli("corpus", "fetch", "grammar.lsp", "--from", tmp_path / "empty", "--dest", tmp_path / "dest")
    assert proc.returncode == 1 and b"not found" in proc.stderr


@needs_shared
def test_download_path_extracts_archives_and_prefixes(tmp_path):
    """The network path, offline: file:// URLs to a tar.gz (Canterbury style) and a zip (enwik8 style)."""
    grammar = (CORPORA / "canterbury" / "grammar.lsp").read_bytes()
    enwik6 = (CORPORA / "enwik" / "enwik6").read_bytes()
    tgz = tmp_path / "cantrbry.tar.gz"
    with tarfile.open(tgz, "w:gz") as tf:
        info = tarfile.TarInfo("cantrbry/grammar.lsp")
        info.size = len(grammar)
        tf.addfile(info, io.BytesIO(grammar))
    zpath = tmp_path / "enwik8.zip"
    with zipfile.ZipFile(zpath, "w") as zf:
        zf.writestr("enwik8", enwik6 + b"more of enwik8")
    manifest = {"format": "lstmzip-corpora", "version": 1, "corpora": [
        {"name": "canterbury", "source": {"url": tgz.as_uri(), "archive": "tar.gz"},
         "files": [{"file": "grammar.lsp", "size": len(grammar), "sha256": sha(grammar)}]},
        {"name": "enwik", "source": {"url": zpath.as_uri(), "archive": "zip"},
         "files": [{"file": "enwik5", "member": "enwik8", "prefix": 100000, "size": 100000,
                    "sha256": sha(enwik6[:100000])}]}]}
    (tmp_path / "m.json").write_text(json.dumps(manifest))
    entries = corpus.load_manifest(tmp_path / "m.json")
    dest = tmp_path / "dest"
    done = corpus.fetch(entries, dest, folders=[], network=True)
    assert [origin.split(" ")[0] for _, _, origin in done] == [tgz.as_uri(), zpath.as_uri()]
    assert (dest / "canterbury" / "grammar.lsp").read_bytes() == grammar
    assert (dest / "enwik" / "enwik5").read_bytes() == enwik6[:100000]
    assert (dest / ".downloads" / "cantrbry.tar.gz").is_file()               # archives are kept for reuse


def test_list_runs():
    proc = run_cli("corpus", "list")
    assert proc.returncode == 0
    assert b"canterbury/alice29.txt" in proc.stdout and b"corpus.canterbury.ac.nz" in proc.stdout
