"""Build the broad training corpus (issue #18) from package names alone.

    python -m lstmzip.train.corpus_build --out /work/lstmzip-corpus [--packages LIST] [--cache DIR]

Every line of the package list (``corpus_packages.txt`` beside this file) names a Debian binary package
(``apt-get download`` + the .deb's data tarball, read in Python), a PyPI source distribution (the
sdist that PyPI's JSON API names, its sha256 checked) or an npm package (``npm pack``). Program logs are made here by running
real programs (``--logs``, on by default: a verbose pip build of a C extension, a CMake/make build, pytest -v
runs, a PostgreSQL server with pgbench, a Python HTTP server hit by curl, strace, apt-get simulations).

Every file of every package goes through, in order:

1. reading: members of .deb/.tar.*/.zip/.tgz, one level of archives inside them (source tarballs, src.zip),
   ``.gz``/``.bz2``/``.xz`` members decompressed; only valid UTF-8 text is kept, minified or generated
   files (very long lines) and tiny files are dropped;
2. a kind from the path and the content (``classify``: c, python, groff, json, changelog, log, ...);
3. the exclusion rules: byte-identical (sha256) to a benchmark file of ``corpora/manifest.json`` (also
   Silesia and tinyshakespeare: well-known test collections), sharing many long lines with a benchmark
   file (``BenchIndex``), mentioning Project Gutenberg, or a path naming a benchmark or a published
   log/test collection;
4. deduplication: exact (sha256), whitespace-normalised, then near-duplicates (MinHash over word
   5-shingles, 64 hashes in 8 bands of 8; a file is dropped when it shares a band with a kept file of
   the same kind and the signatures agree on >= 80%);
5. caps: files are taken in sha256 order (a fixed pseudo-random order) until the package's cap, then
   until the kind's cap (``--kind-cap``); a file longer than ``--file-cap`` keeps its first lines;
6. the split: per kind, whole files (again in sha256 order) go to validation until about
   ``--val-fraction`` of the kind's bytes (at least ``--val-min``, at most ``--val-max``); a kind whose
   files are all larger than that gives its smallest file, cut to twice the share (the rest is dropped).

Output (``--out``): ``train/KIND.txt`` and ``val/KIND.txt`` (the kept files concatenated), ``sources.json``
(every kept file: package, source, version, licence, kind, path, bytes, sha256, split, offset in its
shard), ``corpus.json`` (per kind and per package totals, what each rule dropped, every shard's sha256 and
the corpus sha256), ``packages.resolved.txt`` (the list with the versions used). ``lstmzip train DIR``
reads such a directory directly (``data.load_corpus``): train shards for training, val shards for
validation, per kind.
"""
from __future__ import annotations

import argparse
import bz2
import gzip
import hashlib
import io
import json
import lzma
import os
import re
import shutil
import subprocess
import sys
import tarfile
import time
import urllib.parse
import urllib.request
import zipfile
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Iterator

import numpy as np

HERE = Path(__file__).resolve().parent
DEFAULT_LIST = HERE / "corpus_packages.txt"
REPO = HERE.parents[1]
FORMAT = "lstmzip-train-corpus"
VERSION = 1

_UNITS = {"": 1, "K": 1000, "M": 1000**2, "G": 1000**3}


def parse_size(text: str) -> int:
    m = re.fullmatch(r"([\d.]+)\s*([KMG]?)B?", text.strip().upper())
    if not m:
        raise ValueError(f"bad size {text!r} (e.g. 500K, 6M, 1G)")
    return int(float(m.group(1)) * _UNITS[m.group(2)])


# ----------------------------------------------------------------------------------- package list

@dataclass
class Spec:
    source: str                 # deb | pypi | npm | dir (tests, local) | logs
    name: str
    version: str | None = None
    cap: int | None = None
    path: str | None = None     # dir: the folder


def parse_list(text: str) -> list[Spec]:
    specs = []
    for n, raw in enumerate(text.splitlines(), 1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        parts = line.split()
        source, ident, opts = parts[0], parts[1] if len(parts) > 1 else "", parts[2:]
        cap = None
        for o in opts:
            if o.startswith("cap="):
                cap = parse_size(o[4:])
            else:
                raise ValueError(f"line {n}: unknown option {o!r}")
        if source == "deb":
            name, _, ver = ident.partition("=")
        elif source == "pypi":
            name, _, ver = ident.partition("==")
        elif source == "npm":
            at = ident.rfind("@")
            name, ver = (ident[:at], ident[at + 1:]) if at > 0 else (ident, "")
        elif source == "dir":
            name, _, path = ident.partition("=")
            specs.append(Spec("dir", name, None, cap, path))
            continue
        else:
            raise ValueError(f"line {n}: unknown source {source!r} (deb, pypi, npm, dir)")
        if not name:
            raise ValueError(f"line {n}: no package name")
        specs.append(Spec(source, name, ver or None, cap))
    return specs


# ------------------------------------------------------------------------------------- exclusions

GUTENBERG = re.compile(rb"project\s+gutenberg", re.I)
# Path parts that name a benchmark corpus, a log data set published for research, or a well-known test
# collection (a package shipping one as test data).
BLOCKED_PATH = re.compile(
    r"(canterbury|cantrbry|calgary|silesia|enwik|text8|alice29|asyoulik|lcet10|plrabn12|world192|"
    r"bible\.txt|e\.coli|loghub|hdfs_?\d|bgl_?2k|thunderbird_?2k|openstack_?2k|"
    r"json-schema-test-suite|tinyshakespeare|(^|/)book[12]$|(^|/)paper[1-6]$|(^|/)prog[clp]$)", re.I)


class BenchIndex:
    """What the benchmark corpora look like: every file's sha256 and its distinctive long lines.

    A candidate is refused when it is byte-identical to a benchmark file, or when at least `min_lines`
    of its distinct long lines (>= 40 bytes, stripped) occur in a benchmark file and they make at least
    `min_fraction` of its long lines (a newer version or an excerpt of a benchmark text).
    """

    def __init__(self, hashes: set[str] | None = None, texts: Iterable[bytes] = (), min_lines: int = 8,
                 min_fraction: float = 0.05):
        self.hashes = set(hashes or ())
        self.lines: set[bytes] = set()
        for t in texts:
            self.hashes.add(hashlib.sha256(t).hexdigest())
            self.lines.update(long_lines(t))
        self.min_lines, self.min_fraction = min_lines, min_fraction

    def reason(self, data: bytes, sha: str) -> str | None:
        if sha in self.hashes:
            return "benchmark-sha256"
        if self.lines:
            mine = long_lines(data)
            if mine:
                hits = len(mine & self.lines)
                if hits >= self.min_lines and hits >= self.min_fraction * len(mine):
                    return "benchmark-lines"
        return None

    @classmethod
    def from_repo(cls, shared: str | None) -> "BenchIndex":
        """sha256s from corpora/manifest.json (every corpus, also Silesia and tinyshakespeare, raw and
        decompressed) and SOURCES.md, plus the long lines of the benchmark files found under `shared`."""
        hashes: set[str] = set()
        manifest = REPO / "corpora" / "manifest.json"
        if manifest.is_file():
            hashes.update(re.findall(r'"([0-9a-f]{64})"', manifest.read_text()))
        texts = []
        if shared and os.path.isdir(shared):
            src = Path(shared) / "SOURCES.md"
            if src.is_file():
                hashes.update(re.findall(r"`([0-9a-f]{64})`", src.read_text()))
            for sub in ("canterbury", "calgary", "large", "enwik"):
                d = Path(shared) / sub
                if d.is_dir():
                    texts += [p.read_bytes() for p in sorted(d.iterdir()) if p.is_file()]
            for p in sorted((Path(shared) / "silesia").glob("*.bz2")) + sorted((Path(shared) / "misc").glob("*")):
                if p.is_file():
                    data = bz2.decompress(p.read_bytes()) if p.suffix == ".bz2" else p.read_bytes()
                    hashes.add(hashlib.sha256(data).hexdigest())
        return cls(hashes, texts)


def long_lines(data: bytes, min_len: int = 40) -> set[bytes]:
    return {s for s in (ln.strip() for ln in data.splitlines()) if len(s) >= min_len}


# ------------------------------------------------------------------------------------- text filter

def text_reason(data: bytes, min_bytes: int = 64) -> str | None:
    """None if `data` is text we want; else why not (binary, not-utf8, tiny, minified)."""
    if len(data) < min_bytes:
        return "tiny"
    if b"\0" in data[:65536]:
        return "binary"
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return "not-utf8"
    lines = data.count(b"\n") + 1
    if len(data) / lines > 400 or max((len(ln) for ln in data[:1_000_000].split(b"\n")), default=0) > 10_000:
        return "minified"
    ctrl = sum(data.count(bytes([c])) for c in (1, 2, 3, 4, 5, 6, 7, 8, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23,
                                                   24, 25, 26, 27, 28, 29, 30, 31, 127))
    if ctrl > len(data) // 200:
        return "binary"
    return None


# --------------------------------------------------------------------------------------- kinds

EXT_KIND = {
    # code
    ".c": "c", ".h": "c",
    ".cc": "cpp", ".cpp": "cpp", ".cxx": "cpp", ".hpp": "cpp", ".hh": "cpp", ".hxx": "cpp", ".ipp": "cpp",
    ".tcc": "cpp", ".inl": "cpp",
    ".py": "python", ".pyi": "python", ".pyx": "python", ".pxd": "python",
    ".js": "javascript", ".mjs": "javascript", ".cjs": "javascript", ".jsx": "javascript",
    ".ts": "typescript", ".tsx": "typescript", ".mts": "typescript", ".cts": "typescript",
    ".rs": "rust", ".go": "go", ".java": "java", ".kt": "java", ".scala": "java",
    ".sh": "shell", ".bash": "shell", ".zsh": "shell", ".ksh": "shell",
    ".el": "lisp", ".lisp": "lisp", ".lsp": "lisp", ".cl": "lisp", ".asd": "lisp", ".scm": "lisp", ".ss": "lisp",
    ".sls": "lisp", ".clj": "lisp", ".rkt": "lisp",
    ".pl": "perl", ".pm": "perl", ".t": "perl",
    ".rb": "ruby", ".rake": "ruby", ".gemspec": "ruby",
    ".php": "php", ".lua": "lua", ".tcl": "tcl", ".tk": "tcl",
    ".hs": "other-code", ".ml": "other-code", ".mli": "other-code", ".swift": "other-code", ".r": "other-code",
    ".jl": "other-code", ".f": "other-code", ".f90": "other-code", ".vim": "other-code", ".awk": "other-code",
    ".m4": "build", ".cmake": "build", ".mk": "build", ".am": "build", ".ac": "build", ".in": "build",
    ".s": "asm", ".asm": "asm",
    ".css": "css", ".scss": "css", ".less": "css",
    # markup
    ".html": "html", ".htm": "html", ".xhtml": "html", ".vue": "html", ".svelte": "html",
    ".xml": "xml", ".xsl": "xml", ".xslt": "xml", ".xsd": "xml", ".dtd": "xml", ".ent": "xml", ".svg": "xml",
    ".docbook": "xml", ".rng": "xml", ".plist": "xml", ".ui": "xml", ".glade": "xml", ".policy": "xml",
    ".md": "markdown", ".markdown": "markdown", ".mdx": "markdown",
    ".rst": "rest", ".rest": "rest",
    ".tex": "latex", ".sty": "latex", ".cls": "latex", ".ltx": "latex", ".dtx": "latex", ".bib": "latex",
    ".bst": "latex", ".def": "latex", ".clo": "latex", ".fd": "latex",
    ".texi": "texinfo", ".texinfo": "texinfo", ".txi": "texinfo",
    ".adoc": "asciidoc", ".asciidoc": "asciidoc",
    ".pod": "pod",
    ".info": "info",
    ".po": "po", ".pot": "po",
    # data
    ".json": "json", ".jsonl": "json", ".geojson": "json", ".ipynb": "json",
    ".yml": "yaml", ".yaml": "yaml",
    ".toml": "toml",
    ".csv": "csv", ".tsv": "csv", ".tab": "csv", ".psv": "csv",
    ".sql": "sql",
    ".ini": "config", ".cfg": "config", ".conf": "config", ".properties": "config", ".desktop": "config",
    ".service": "config",
    ".diff": "diff", ".patch": "diff",
    ".log": "log",
    ".eml": "email", ".mbox": "email", ".mbx": "email",
    ".txt": "text", ".text": "text",
}
NAME_KIND = [
    (re.compile(r"^(copying|copyright|licen[cs]e|notice|unlicense)([._-].*)?$", re.I), "licence"),
    (re.compile(r"^(changelog|changes|news|history|release[-_ ]?notes)([._-].*)?$", re.I), "changelog"),
    (re.compile(r"^(makefile|gnumakefile|cmakelists\.txt|configure|dockerfile|meson\.build|sconstruct|"
                r"build\.gradle|pom\.xml|cargo\.lock)$", re.I), "build"),
    (re.compile(r"^readme(\.txt)?$", re.I), "text"),
]
SHEBANG_KIND = [(re.compile(rb"^#!.*\b(ba|z|k|da)?sh\b"), "shell"), (re.compile(rb"^#!.*python"), "python"),
                (re.compile(rb"^#!.*perl"), "perl"), (re.compile(rb"^#!.*ruby"), "ruby"),
                (re.compile(rb"^#!.*node"), "javascript"), (re.compile(rb"^#!.*(tclsh|wish)"), "tcl"),
                (re.compile(rb"^#!.*(lua)"), "lua"), (re.compile(rb"^#!.*(guile|sbcl|emacs)"), "lisp")]
MAN_PATH = re.compile(r"(^|/)man/([a-z_]+/)?man\d[^/]*/[^/]+\.\d\w*$|\.[1-9][a-z]*$")
TEXT_KINDS_BY_DIR = [("/usr/share/doc/", "text"), ("/usr/share/games/fortunes/", "fortune"),
                     ("/usr/share/dictd/", "dictionary"), ("/usr/share/dict/", "dictionary"),
                     ("/usr/share/wordnet/", "dictionary"), ("/usr/share/info/", "info")]

# kind -> group: the registers the issue asks for (reporting only)
GROUP = {"text": "prose", "changelog": "prose", "licence": "prose", "fortune": "prose", "dictionary": "prose",
         "info": "prose", "email": "prose", "po": "prose",
         "html": "markup", "xml": "markup", "markdown": "markup", "rest": "markup", "latex": "markup",
         "groff": "markup", "texinfo": "markup", "asciidoc": "markup", "pod": "markup",
         "json": "data", "yaml": "data", "toml": "data", "csv": "data", "sql": "data", "config": "data",
         "diff": "data", "log": "log"}


def is_table(data: bytes) -> bool:
    """Mostly lines with the same number (>= 2) of one separator: CSV/TSV-like data."""
    lines = [ln for ln in data[:200_000].split(b"\n")[:2000] if ln.strip() and not ln.startswith(b"#")]
    if len(lines) < 20:
        return False
    for sep in (b"\t", b",", b";", b"|"):
        counts = [ln.count(sep) for ln in lines]
        top = max(set(counts), key=counts.count)
        if top >= 2 and counts.count(top) >= 0.8 * len(lines):
            return True
    return False


def classify(path: str, data: bytes) -> str | None:
    """The kind of a text file from its path and content; None: not wanted."""
    p = "/" + path.lstrip("./")
    base = os.path.basename(p)
    low = base.lower()
    if low.endswith((".min.js", ".min.css", ".map", ".lock", ".pem", ".crt", ".sum", "package-lock.json")):
        return None
    if "/node_modules/" in p:
        return None
    for rx, kind in NAME_KIND:
        if rx.match(base):
            return kind
    head = data[:4096]
    if head.startswith(b"#!"):
        for rx, kind in SHEBANG_KIND:
            if rx.match(head):
                return kind
    ext = os.path.splitext(low)[1]
    if ext == ".in":  # foo.h.in, Makefile.in
        inner = os.path.splitext(low[:-3])[1]
        if inner in EXT_KIND:
            return EXT_KIND[inner]
    if MAN_PATH.search(p) and (head.startswith((b".", b"'\\\"", b'.\\"')) or b"\n.TH " in head or b"\n.Dd " in head
                               or head.startswith(b".TH")):
        return "groff"
    if "/tmac/" in p or low.endswith((".tmac", ".ms", ".me", ".mm", ".man", ".mdoc")):
        return "groff"
    if head.startswith(b"From ") and b"\nSubject:" in head or (head.startswith((b"From:", b"Return-Path:", b"Received:"))
                                                                and b"\nSubject:" in head):
        return "email"
    kind = EXT_KIND.get(ext)
    if kind and kind != "text":
        return kind
    # .txt, no extension or an unknown one: a table, a known prose folder, or plain text in docs
    if is_table(data):
        return "csv"
    for d, k in TEXT_KINDS_BY_DIR:
        if d in p:
            return k
    if kind == "text" or (not ext and re.search(r"/docs?/", p.lower())):
        return "text"
    return None


# -------------------------------------------------------------------------------------- members

ARCHIVE_EXT = (".tar", ".tar.gz", ".tgz", ".tar.bz2", ".tbz2", ".tar.xz", ".txz", ".zip")
MAX_MEMBER = 64_000_000


def _decompress(name: str, data: bytes) -> tuple[str, bytes]:
    low = name.lower()
    try:
        if low.endswith((".gz", ".dz")) and not low.endswith(".tar.gz"):
            return name[:-3], gzip.decompress(data)
        if low.endswith(".bz2") and not low.endswith(".tar.bz2"):
            return name[:-4], bz2.decompress(data)
        if low.endswith(".xz") and not low.endswith(".tar.xz"):
            return name[:-3], lzma.decompress(data)
    except (OSError, EOFError, lzma.LZMAError, zlib.error):
        return name, b""
    return name, data


def iter_archive(blob_or_path, name: str = "", depth: int = 0) -> Iterator[tuple[str, bytes]]:
    """(path, bytes) of every regular member of a tar/zip archive; nested archives once more; .gz etc.
    members decompressed."""
    low = name.lower()
    try:
        if low.endswith(".zip"):
            zf = zipfile.ZipFile(io.BytesIO(blob_or_path) if isinstance(blob_or_path, bytes) else blob_or_path)
            members = ((i.filename, i) for i in zf.infolist() if not i.is_dir() and i.file_size <= MAX_MEMBER)
            for mname, info in members:
                yield from _member(mname, zf.read(info), depth)
            return
        tf = (tarfile.open(fileobj=io.BytesIO(blob_or_path), mode="r:*") if isinstance(blob_or_path, bytes)
              else tarfile.open(blob_or_path, mode="r:*"))
        with tf:
            for m in tf:
                if not m.isfile() or m.size > MAX_MEMBER:
                    continue
                f = tf.extractfile(m)
                if f is None:
                    continue
                yield from _member(m.name, f.read(), depth)
    except (tarfile.TarError, zipfile.BadZipFile, OSError, EOFError, lzma.LZMAError) as e:
        print(f"  warning: {name}: {e}", file=sys.stderr)


def _member(mname: str, data: bytes, depth: int) -> Iterator[tuple[str, bytes]]:
    low = mname.lower()
    if low.endswith(ARCHIVE_EXT):
        if depth < 1:
            yield from iter_archive(data, mname, depth + 1)
        return
    yield _decompress(mname, data)


def iter_deb(path: str) -> Iterator[tuple[str, bytes]]:
    """Members of a .deb's data tarball (ar archive: debian-binary, control.tar.*, data.tar.*)."""
    with open(path, "rb") as f:
        blob = f.read()
    if not blob.startswith(b"!<arch>\n"):
        raise ValueError(f"{path}: not a .deb")
    pos = 8
    while pos + 60 <= len(blob):
        hdr = blob[pos:pos + 60]
        name = hdr[:16].decode().strip().rstrip("/")
        size = int(hdr[48:58].decode().strip())
        body = blob[pos + 60:pos + 60 + size]
        pos += 60 + size + (size & 1)
        if name.startswith("data.tar"):
            if name.endswith(".zst"):
                import zstandard
                body = zstandard.ZstdDecompressor().stream_reader(io.BytesIO(body)).read()
                name = name[:-4]
            yield from iter_archive(body, name)


# ---------------------------------------------------------------------------------------- fetch

@dataclass
class Package:
    source: str
    name: str
    version: str
    licence: str
    members: list[tuple[str, bytes]]
    cap: int | None = None


def _run(cmd: list[str], cwd: str | None = None, timeout: int = 900) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=timeout)


def fetch(spec: Spec, cache: str) -> Package | None:
    """Download (once, into `cache`) and read one package; None when it cannot be fetched."""
    os.makedirs(cache, exist_ok=True)
    if spec.source == "dir":
        members = []
        for root, _, files in os.walk(spec.path):
            for fn in sorted(files):
                full = os.path.join(root, fn)
                members.append(_decompress(os.path.relpath(full, spec.path), open(full, "rb").read()))
        lic = "see the files"
        return Package("dir", spec.name, spec.version or "local", lic, sorted(members), spec.cap)
    d = os.path.join(cache, spec.source)
    os.makedirs(d, exist_ok=True)
    if spec.source == "deb":
        pat = re.compile(re.escape(spec.name) + r"_[^_]+_(all|amd64)\.deb$")
        hits = [f for f in os.listdir(d) if pat.match(f)]
        if not hits:
            r = _run(["apt-get", "download", spec.name + (f"={spec.version}" if spec.version else "")], cwd=d)
            hits = [f for f in os.listdir(d) if pat.match(f)]
            if not hits and spec.version:  # the pinned version left the archive: take the index's one
                print(f"  {spec.name}: version {spec.version} unavailable, taking the current one", file=sys.stderr)
                r = _run(["apt-get", "download", spec.name], cwd=d)
                hits = [f for f in os.listdir(d) if pat.match(f)]
            if not hits:
                print(f"  {spec.name}: apt-get download failed: {r.stderr.decode()[-300:]}", file=sys.stderr)
                return None
        path = os.path.join(d, sorted(hits)[-1])
        version = _run(["dpkg-deb", "-f", path, "Version"]).stdout.decode().strip()
        members = [(n.lstrip("."), b) for n, b in iter_deb(path)]
        licence = deb_licence(spec.name, members)
        return Package("deb", spec.name, version, licence, members, spec.cap)
    if spec.source == "pypi":
        # The registry's JSON API names the sdist and its sha256 (pip download would also build metadata)
        key = re.sub(r"[-_.]+", "-", spec.name).lower()
        stamp = os.path.join(d, key + (f"=={spec.version}" if spec.version else "") + ".got")
        if not os.path.exists(stamp):
            url = f"https://pypi.org/pypi/{key}/{spec.version + '/' if spec.version else ''}json"
            with urllib.request.urlopen(url, timeout=120) as r:
                info = json.load(r)
            sdists = [u for u in info["urls"] if u["packagetype"] == "sdist"]
            if not sdists:
                print(f"  {spec.name}: no sdist on PyPI for {info['info']['version']}", file=sys.stderr)
                return None
            u = sdists[0]
            with urllib.request.urlopen(urllib.parse.urljoin(url, u["url"]), timeout=600) as r:
                blob = r.read()
            if hashlib.sha256(blob).hexdigest() != u["digests"]["sha256"]:
                raise ValueError(f"{spec.name}: sha256 of {u['filename']} differs from PyPI's")
            with open(os.path.join(d, u["filename"]), "wb") as f:
                f.write(blob)
            with open(stamp, "w") as f:
                f.write(f"{u['filename']} {info['info']['version']}")
        fn, version = open(stamp).read().split()
        path = os.path.join(d, fn)
        members = [(n.split("/", 1)[1] if "/" in n else n, b) for n, b in iter_archive(path, fn)]
        return Package("pypi", spec.name, version, pypi_licence(members), members, spec.cap)
    if spec.source == "npm":
        want = f"{spec.name}@{spec.version}" if spec.version else spec.name
        safe = spec.name.replace("/", "+").replace("@", "")
        stamp = os.path.join(d, safe + (f"@{spec.version}" if spec.version else "") + ".got")
        if not os.path.exists(stamp):
            r = _run(["npm", "pack", "--silent", "--pack-destination", d, want], cwd=d)
            fn = r.stdout.decode().strip().splitlines()[-1] if r.returncode == 0 and r.stdout.strip() else ""
            if not fn or not os.path.exists(os.path.join(d, fn)):
                print(f"  {spec.name}: npm pack failed: {r.stderr.decode()[-300:]}", file=sys.stderr)
                return None
            with open(stamp, "w") as f:
                f.write(fn)
        fn = open(stamp).read().strip()
        members = [(n.split("/", 1)[1] if "/" in n else n, b) for n, b in iter_archive(os.path.join(d, fn), fn)]
        meta = next((json.loads(b) for n, b in members if n == "package.json"), {})
        lic = meta.get("license") or meta.get("licenses") or "?"
        if isinstance(lic, dict):
            lic = lic.get("type", "?")
        if isinstance(lic, list):
            lic = "; ".join(x.get("type", "?") if isinstance(x, dict) else str(x) for x in lic)
        return Package("npm", spec.name, meta.get("version", spec.version or "?"), str(lic), members, spec.cap)
    raise ValueError(spec.source)


def deb_licence(name: str, members: list[tuple[str, bytes]]) -> str:
    for n, b in members:
        if n.endswith(f"/usr/share/doc/{name}/copyright") or n == f"/usr/share/doc/{name}/copyright":
            text = b.decode("utf-8", "replace")
            found = []
            for lic in re.findall(r"^License:[ \t]*(\S[^\n]*)$", text, re.M):
                lic = lic.strip()
                if lic and lic not in found:
                    found.append(lic)
            return "; ".join(found)[:300] if found else f"see /usr/share/doc/{name}/copyright"
    return "see the package's copyright file"


def pypi_licence(members: list[tuple[str, bytes]]) -> str:
    info = next((b.decode("utf-8", "replace") for n, b in members if n == "PKG-INFO"), "")
    m = re.search(r"^License-Expression:\s*(.+)$", info, re.M)
    if m:
        return m.group(1).strip()
    classifiers = re.findall(r"^Classifier: License :: (.+)$", info, re.M)
    if classifiers:
        return "; ".join(c.split(" :: ")[-1].strip() for c in classifiers)
    m = re.search(r"^License:\s*(.+)$", info, re.M)
    if m and m.group(1).strip() not in ("", "UNKNOWN"):
        return m.group(1).strip()[:200]
    return "see the sdist's licence file"


# ----------------------------------------------------------------------------------------- dedup

_MERSENNE = np.uint64((1 << 61) - 1)


class NearDup:
    """MinHash LSH over word 5-shingles: 64 hashes, 8 bands of 8 rows, deterministic (crc32-based)."""

    def __init__(self, n_hash: int = 64, bands: int = 8, threshold: float = 0.8, seed: int = 18):
        rng = np.random.default_rng(seed)
        self.a = rng.integers(1, 1 << 31, n_hash, dtype=np.uint64)
        self.b = rng.integers(0, 1 << 31, n_hash, dtype=np.uint64)
        self.bands, self.rows = bands, n_hash // bands
        self.threshold = threshold
        self.buckets: dict[tuple[int, bytes], list[np.ndarray]] = {}

    def signature(self, data: bytes) -> np.ndarray | None:
        words = re.findall(rb"\w+|[^\w\s]", data[:200_000])
        if len(words) < 10:
            return None
        wh = np.array([zlib.crc32(w) for w in words], np.uint64)
        k = 5
        sh = wh[: len(wh) - k + 1].copy()
        for j in range(1, k):
            sh = (sh * np.uint64(1000003)) ^ wh[j: len(wh) - k + 1 + j]
        sh = np.unique(sh & np.uint64(0xFFFFFFFF))
        return ((sh[None, :] * self.a[:, None] + self.b[:, None]) % _MERSENNE).min(axis=1)

    def seen(self, sig: np.ndarray) -> bool:
        """True if a near-duplicate was added before; else remember `sig` and return False."""
        keys = [(i, sig[i * self.rows:(i + 1) * self.rows].tobytes()) for i in range(self.bands)]
        for key in keys:
            for other in self.buckets.get(key, ()):
                if np.mean(other == sig) >= self.threshold:
                    return True
        for key in keys:
            self.buckets.setdefault(key, []).append(sig)
        return False


def normalised(data: bytes) -> bytes:
    return b" ".join(data.split())


# ----------------------------------------------------------------------------------------- build

@dataclass
class Caps:
    package: int = 6_000_000        # bytes kept per package (a list line's cap= overrides)
    kind: int = 40_000_000          # bytes kept per kind
    file: int = 1_000_000           # longest file kept (longer ones keep their first lines)
    val_fraction: float = 0.01      # validation share of each kind
    val_min: int = 16_000           # ... at least this many bytes per kind (if the kind has 4x that)
    val_max: int = 200_000          # ... at most


EXCLUSIONS = ("benchmark-sha256", "benchmark-lines", "gutenberg", "blocked-path")


@dataclass
class Stats:
    dropped: dict = field(default_factory=dict)     # reason -> [files, bytes]
    excluded: list = field(default_factory=list)    # [package, path, reason] of every exclusion-rule drop

    def drop(self, reason: str, n: int, where: tuple[str, str] | None = None) -> None:
        e = self.dropped.setdefault(reason, [0, 0])
        e[0] += 1
        e[1] += n
        if reason in EXCLUSIONS and where:
            self.excluded.append([where[0], where[1], reason])


def truncate(data: bytes, limit: int) -> bytes:
    if len(data) <= limit:
        return data
    cut = data.rfind(b"\n", 0, limit)
    return data[: cut + 1 if cut > 0 else limit]


def select(packages: Iterable[Package], caps: Caps, bench: BenchIndex, stats: Stats, log=print) -> list[dict]:
    """The kept files (dicts with their data) of all packages, after filters, exclusions, dedup and caps."""
    seen_sha: set[str] = set()
    seen_norm: set[bytes] = set()
    near: dict[str, NearDup] = {}
    by_kind: dict[str, list[dict]] = {}
    for pkg in packages:
        cands = []
        for path, data in pkg.members:
            if not data:
                continue
            why = text_reason(data)
            if why:
                stats.drop(why, len(data))
                continue
            kind = classify(path, data)
            if kind is None:
                stats.drop("unwanted-kind", len(data))
                continue
            if BLOCKED_PATH.search(path):
                stats.drop("blocked-path", len(data), (pkg.name, path))
                continue
            if GUTENBERG.search(data):  # the whole file, before any truncation
                stats.drop("gutenberg", len(data), (pkg.name, path))
                continue
            if hashlib.sha256(data).hexdigest() in bench.hashes:
                stats.drop("benchmark-sha256", len(data), (pkg.name, path))
                continue
            data = truncate(data, caps.file)
            sha = hashlib.sha256(data).hexdigest()
            if sha in seen_sha:
                stats.drop("dup-exact", len(data))
                continue
            seen_sha.add(sha)
            cands.append((sha, path, kind, data))
        cands.sort()
        pcap = pkg.cap or caps.package
        total = 0
        kept_here = 0
        for sha, path, kind, data in cands:
            if total >= pcap:
                stats.drop("cap-package", len(data))
                continue
            why = bench.reason(data, sha)
            if why:
                stats.drop(why, len(data), (pkg.name, path))
                continue
            norm = hashlib.sha256(normalised(data)).digest()
            if norm in seen_norm:
                stats.drop("dup-whitespace", len(data))
                continue
            seen_norm.add(norm)
            sig = near.setdefault(kind, NearDup()).signature(data)
            if sig is not None and near[kind].seen(sig):
                stats.drop("dup-near", len(data))
                continue
            if total + len(data) > pcap * 1.1 and total > 0:
                data = truncate(data, max(0, pcap - total))
                if len(data) < 256:
                    stats.drop("cap-package", len(data))
                    continue
                sha = hashlib.sha256(data).hexdigest()
            total += len(data)
            kept_here += 1
            by_kind.setdefault(kind, []).append(dict(package=pkg.name, source=pkg.source, version=pkg.version,
                                                     licence=pkg.licence, kind=kind, path=path, bytes=len(data),
                                                     sha256=sha, data=data))
        log(f"  {pkg.source} {pkg.name} {pkg.version}: {len(pkg.members)} members, {len(cands)} candidates, "
            f"kept {kept_here} files, {total:,} bytes")
    kept = []
    for kind in sorted(by_kind):
        files = sorted(by_kind[kind], key=lambda r: r["sha256"])
        total = 0
        for r in files:
            if total >= caps.kind:
                stats.drop("cap-kind", r["bytes"])
                continue
            total += r["bytes"]
            kept.append(r)
    return kept


def split(kept: list[dict], caps: Caps) -> None:
    """Mark whole files `split = val` per kind (sha256 order) until the kind's validation share."""
    by_kind: dict[str, list[dict]] = {}
    for r in kept:
        by_kind.setdefault(r["kind"], []).append(r)
    for kind, files in by_kind.items():
        total = sum(r["bytes"] for r in files)
        want = min(caps.val_max, max(caps.val_min, int(total * caps.val_fraction)))
        if total < 4 * want:
            want = total // 4
        got = 0
        for r in sorted(files, key=lambda r: hashlib.sha256(b"val" + r["sha256"].encode()).hexdigest()):
            if got < want and r["bytes"] <= max(2 * want - got, 4096) and len(files) > 1:
                r["split"] = "val"
                got += r["bytes"]
            else:
                r["split"] = "train"
        if got == 0 and len(files) > 1:
            # every file is larger than the share: the smallest one, cut to twice the share, is validation
            r = min(files, key=lambda r: (r["bytes"], r["sha256"]))
            if r["bytes"] > 2 * want:
                r["data"] = truncate(r["data"], 2 * want)
                r["bytes"], r["sha256"] = len(r["data"]), hashlib.sha256(r["data"]).hexdigest()
                r["path"] += f" (first {r['bytes']} bytes)"
            r["split"] = "val"


def write(kept: list[dict], out: str, stats: Stats, specs_resolved: list[str], extra: dict) -> dict:
    os.makedirs(os.path.join(out, "train"), exist_ok=True)
    os.makedirs(os.path.join(out, "val"), exist_ok=True)
    for sub in ("train", "val"):
        for f in os.listdir(os.path.join(out, sub)):
            os.remove(os.path.join(out, sub, f))
    shards: dict[tuple[str, str], list[dict]] = {}
    for r in kept:
        shards.setdefault((r["split"], r["kind"]), []).append(r)
    shard_info = {}
    files_out = []
    corpus_sha = hashlib.sha256()
    for (sp, kind) in sorted(shards):
        rows = sorted(shards[(sp, kind)], key=lambda r: r["sha256"])
        name = f"{sp}/{kind}.txt"
        h = hashlib.sha256()
        off = 0
        with open(os.path.join(out, name), "wb") as f:
            for r in rows:
                data = r["data"] if r["data"].endswith(b"\n") else r["data"] + b"\n"
                f.write(data)
                h.update(data)
                files_out.append({k: v for k, v in r.items() if k != "data"} | dict(shard=name, offset=off))
                off += len(data)
        shard_info[name] = dict(bytes=off, files=len(rows), sha256=h.hexdigest())
        corpus_sha.update(f"{name} {h.hexdigest()}\n".encode())
    kinds: dict[str, dict] = {}
    packages: dict[str, dict] = {}
    for r in files_out:
        k = kinds.setdefault(r["kind"], dict(group=GROUP.get(r["kind"], "code"), files=0, bytes=0, val_files=0,
                                             val_bytes=0, packages=set()))
        k["files"] += 1
        k["bytes"] += r["bytes"]
        k["packages"].add(r["package"])
        if r["split"] == "val":
            k["val_files"] += 1
            k["val_bytes"] += r["bytes"]
        p = packages.setdefault(f"{r['source']}:{r['package']}", dict(version=r["version"], licence=r["licence"],
                                                                      files=0, bytes=0))
        p["files"] += 1
        p["bytes"] += r["bytes"]
    for k in kinds.values():
        k["packages"] = len(k["packages"])
    groups: dict[str, int] = {}
    for k in kinds.values():
        groups[k["group"]] = groups.get(k["group"], 0) + k["bytes"]
    summary = dict(format=FORMAT, version=VERSION, corpus_sha256=corpus_sha.hexdigest(),
                   files=len(files_out), bytes=sum(r["bytes"] for r in files_out),
                   train_bytes=sum(v["bytes"] for n, v in shard_info.items() if n.startswith("train/")),
                   val_bytes=sum(v["bytes"] for n, v in shard_info.items() if n.startswith("val/")),
                   groups=groups, kinds=dict(sorted(kinds.items())), dropped=dict(sorted(stats.dropped.items())),
                   excluded=sorted(stats.excluded),
                   shards=shard_info, packages=dict(sorted(packages.items())), **extra)
    with open(os.path.join(out, "sources.json"), "w") as f:
        json.dump(dict(format=FORMAT, version=VERSION, corpus_sha256=summary["corpus_sha256"], files=files_out), f,
                  indent=0)
    with open(os.path.join(out, "corpus.json"), "w") as f:
        json.dump(summary, f, indent=1)
    with open(os.path.join(out, "packages.resolved.txt"), "w") as f:
        f.write("\n".join(specs_resolved) + "\n")
    return summary


# ------------------------------------------------------------------------------------------ logs

def make_logs(work: str, cache: str, log=print, budget_s: float = 900) -> list[tuple[str, bytes]]:
    """Run real programs here and return their logs as (name, bytes). Each step is best effort and
    nice'd; steps whose tools are missing are skipped. See the module docstring."""
    os.makedirs(work, exist_ok=True)
    out: list[tuple[str, bytes]] = []
    nice = ["nice", "-n", "19"]
    env = dict(os.environ, OMP_NUM_THREADS="1", MAKEFLAGS="-j1", PIP_DISABLE_PIP_VERSION_CHECK="1")
    t_end = time.time() + budget_s

    def run(name: str, cmd: list[str] | str, cwd: str | None = None, timeout: int = 300, shell: bool = False):
        if time.time() > t_end:
            return
        t0 = time.time()
        try:
            r = subprocess.run(cmd if shell else nice + cmd, cwd=cwd or work, stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, timeout=timeout, env=env, shell=shell)
            data = r.stdout
        except subprocess.TimeoutExpired as e:
            data = e.stdout or b""
        except (OSError, ValueError) as e:
            log(f"  log {name}: skipped ({e})")
            return
        if data:
            out.append((name, data))
        log(f"  log {name}: {len(data):,} bytes in {time.time() - t0:.0f}s")

    py = sys.executable
    # 1. verbose pip builds of C extensions (compiler command lines, setuptools chatter)
    for pkg in ("markupsafe==2.1.5", "pyyaml==6.0.1"):
        run(f"pip-wheel-{pkg.split('==')[0]}.log", [py, "-m", "pip", "wheel", "-v", "--no-deps", "--no-binary", ":all:",
                                                    "--no-build-isolation", "-w", os.path.join(work, "wheels"), pkg],
            timeout=600)
    # 2. a CMake + make build of GoogleTest (Debian's googletest source package)
    deb = [f for f in os.listdir(os.path.join(cache, "deb")) if f.startswith("googletest_")] if os.path.isdir(
        os.path.join(cache, "deb")) else []
    if deb and shutil.which("cmake"):
        src = os.path.join(work, "gtest-src")
        shutil.rmtree(src, ignore_errors=True)
        subprocess.run(["dpkg-deb", "-x", os.path.join(cache, "deb", deb[0]), src], check=False)
        top = os.path.join(src, "usr", "src", "googletest")
        bld = os.path.join(work, "gtest-build")
        shutil.rmtree(bld, ignore_errors=True)
        run("cmake-googletest.log", ["cmake", "-S", top, "-B", bld, "--log-level=VERBOSE", "-DCMAKE_BUILD_TYPE=Release"])
        run("make-googletest.log", ["make", "-C", bld, "-j1", "VERBOSE=1"], timeout=900)
    # 3. pytest -v runs of small sdists' own tests
    for name in ("six", "more-itertools", "idna", "tomli"):
        d = os.path.join(cache, "pypi")
        got = [f for f in os.listdir(d) if f.endswith(".got") and f.startswith(name)] if os.path.isdir(d) else []
        if not got:
            continue
        tgz = os.path.join(d, open(os.path.join(d, got[0])).read().split()[0])
        dest = os.path.join(work, "pytest-" + name)
        shutil.rmtree(dest, ignore_errors=True)
        os.makedirs(dest)
        try:
            with tarfile.open(tgz) as tf:
                tf.extractall(dest, filter="data")
        except (tarfile.TarError, OSError):
            continue
        top = os.path.join(dest, os.listdir(dest)[0])
        run(f"pytest-{name}.log", [py, "-m", "pytest", "-v", "-p", "no:cacheprovider", "-rA", "-o", "addopts=", "."],
            cwd=top, timeout=300)
    # 4. a PostgreSQL server on a private socket, everything logged, pgbench and some bad SQL against it
    pg_bin = None
    for cand in ("/usr/lib/postgresql/15/bin", "/usr/local/bin", "/usr/lib/postgresql/16/bin"):
        if os.path.exists(os.path.join(cand, "initdb")) and os.path.exists(os.path.join(cand, "pg_ctl")):
            pg_bin = cand
            break
    if pg_bin:
        pgd = os.path.join(work, "pg")
        shutil.rmtree(pgd, ignore_errors=True)
        os.makedirs(pgd)
        user = "nobody" if os.geteuid() == 0 else None
        pre = ["runuser", "-u", user, "--"] if user else []
        subprocess.run(["chown", "-R", user, pgd], check=False) if user else None
        os.chmod(pgd, 0o777)
        data_dir, sock = os.path.join(pgd, "data"), pgd
        run("postgres-initdb.log", pre + [f"{pg_bin}/initdb", "-D", data_dir, "-U", "postgres", "--auth=trust"])
        opts = ("-c listen_addresses='' -c unix_socket_directories=" + sock + " -c log_statement=all "
                "-c log_min_duration_statement=0 -c log_connections=on -c log_disconnections=on "
                "-c log_line_prefix='%m [%p] %q%u@%d ' -c logging_collector=off -c max_connections=20 -c port=54329")
        srv_log = os.path.join(pgd, "server.log")
        subprocess.run(pre + [f"{pg_bin}/pg_ctl", "-D", data_dir, "-l", srv_log, "-o", opts, "-w", "start"],
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
        pgb = shutil.which("pgbench") or os.path.join(pg_bin, "pgbench")
        psql = shutil.which("psql") or os.path.join(pg_bin, "psql")
        conn = ["-h", sock, "-p", "54329", "-U", "postgres"]
        if os.path.exists(pgb):
            run("pgbench-init.log", pre + [pgb, "-i", "-s", "1"] + conn + ["postgres"])
            run("pgbench-run.log", pre + [pgb, "-c", "2", "-j", "1", "-T", "30", "-P", "2", "-r"] + conn + ["postgres"],
                timeout=120)
        if os.path.exists(psql):
            sql = ("CREATE TABLE t(id serial primary key, name text unique, v numeric);"
                   "INSERT INTO t(name, v) SELECT 'n'||g, g*1.5 FROM generate_series(1,200) g;"
                   "SELECT count(*), avg(v) FROM t; INSERT INTO t(name) VALUES ('n1');"
                   "SELECT * FROM missing_table; UPDATE t SET v = v / 0 WHERE id = 3;"
                   "EXPLAIN ANALYZE SELECT * FROM t WHERE name LIKE 'n1%'; VACUUM VERBOSE t; ANALYZE VERBOSE t;"
                   "DROP TABLE t;")
            run("psql-session.log", pre + [psql, "-e", "-v", "ON_ERROR_STOP=0", "-c", sql] + conn + ["postgres"])
        subprocess.run(pre + [f"{pg_bin}/pg_ctl", "-D", data_dir, "-m", "fast", "-w", "stop"],
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        if os.path.exists(srv_log):
            out.append(("postgres-server.log", open(srv_log, "rb").read()))
            log(f"  log postgres-server.log: {len(out[-1][1]):,} bytes")
    # 5. a Python HTTP server on loopback, requested by curl (access log on stderr)
    if shutil.which("curl"):
        root = os.path.join(work, "www")
        os.makedirs(os.path.join(root, "docs"), exist_ok=True)
        for i in range(20):
            with open(os.path.join(root, "docs", f"page{i}.html"), "w") as f:
                f.write(f"<html><body>page {i}</body></html>\n")
        srv_log = os.path.join(work, "http-server.log")
        with open(srv_log, "wb") as lf:
            srv = subprocess.Popen(nice + [py, "-m", "http.server", "--bind", "127.0.0.1", "18418"], cwd=root,
                                   stdout=lf, stderr=subprocess.STDOUT)
            time.sleep(1.5)
            _curl_traffic("http://127.0.0.1:18418", 600)
            srv.terminate()
            srv.wait()
        out.append(("http-server.log", open(srv_log, "rb").read()))
        log(f"  log http-server.log: {len(out[-1][1]):,} bytes")
    # 5b. nginx (Debian's binary, run from its unpacked package on loopback): access and error logs
    try:
        ng = os.path.join(work, "nginx")
        shutil.rmtree(ng, ignore_errors=True)
        os.makedirs(os.path.join(ng, "logs"))
        debs = os.path.join(cache, "deb")
        got = [f for f in os.listdir(debs) if f.startswith("nginx_")] if os.path.isdir(debs) else []
        if not got:
            subprocess.run(["apt-get", "download", "nginx"], cwd=debs, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            got = [f for f in os.listdir(debs) if f.startswith("nginx_")]
        if got:
            subprocess.run(["dpkg-deb", "-x", os.path.join(debs, got[0]), os.path.join(ng, "pkg")], check=True)
            www = os.path.join(work, "www")
            conf = os.path.join(ng, "nginx.conf")
            with open(conf, "w") as f:
                f.write(NGINX_CONF.replace("NG", ng).replace("WWW", www))
            binary = os.path.join(ng, "pkg", "usr", "sbin", "nginx")
            srv = subprocess.Popen(nice + [binary, "-p", ng, "-e", os.path.join(ng, "logs", "error.log"), "-c", conf],
                                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            time.sleep(1.5)
            _curl_traffic("http://127.0.0.1:18419", 15000)
            subprocess.run([binary, "-p", ng, "-e", os.path.join(ng, "logs", "error.log"), "-c", conf, "-s", "quit"],
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            srv.wait(timeout=30)
            for name in ("access.log", "error.log"):
                path = os.path.join(ng, "logs", name)
                if os.path.exists(path):
                    out.append((f"nginx-{name}", open(path, "rb").read()))
                    log(f"  log nginx-{name}: {len(out[-1][1]):,} bytes")
    except (OSError, subprocess.SubprocessError) as e:
        log(f"  log nginx: skipped ({e})")
    # 5c. CPython's own regression tests, verbose (unittest output)
    run("python-regrtest.log", [py, "-m", "test", "-v", "test_json", "test_csv", "test_textwrap", "test_string",
                                "test_difflib", "test_configparser", "test_argparse", "test_logging"], timeout=600)
    # 5d. pip's own verbose resolution (index links, candidates, hashes)
    for pkg in ("requests", "jinja2"):
        run(f"pip-download-{pkg}.log", [py, "-m", "pip", "download", "-vv", "--no-deps", "-d",
                                        os.path.join(work, "pipdl"), pkg], timeout=300)
    # 6. strace of real commands
    if shutil.which("strace"):
        for name, cmd in (("strace-ls.log", ["ls", "-la", "/usr/share/doc"]), ("strace-python.log", [py, "-c", "import json, csv"]),
                          ("strace-git.log", ["git", "-C", str(REPO), "log", "-3", "--stat"])):
            tr = os.path.join(work, name)
            subprocess.run(nice + ["strace", "-f", "-tt", "-o", tr] + cmd, stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL, timeout=120)
            if os.path.exists(tr):
                out.append((name, open(tr, "rb").read()))
                log(f"  log {name}: {len(out[-1][1]):,} bytes")
    # 7. apt-get simulations with the resolver's debug output, and dpkg-deb listings
    for pkgs in (["texlive-latex-extra"], ["postgresql", "nginx"], ["gnome-core"], ["build-essential", "devscripts"]):
        run(f"apt-simulate-{pkgs[0]}.log", ["apt-get", "install", "-s", "-y", "-o", "Debug::pkgProblemResolver=1",
                                            "-o", "Debug::pkgDepCache::AutoInstall=1"] + pkgs, timeout=300)
    # 8. git: a verbose clone and gc of this repository (local)
    clone = os.path.join(work, "clone")
    shutil.rmtree(clone, ignore_errors=True)
    run("git-clone.log", ["git", "clone", "-v", "--progress", "--no-local", str(REPO), clone])
    run("git-fsck.log", ["git", "-C", clone, "fsck", "--verbose", "--no-progress"], timeout=300)
    shutil.rmtree(clone, ignore_errors=True)
    return out


NGINX_CONF = """worker_processes 1;
pid NG/nginx.pid;
error_log NG/logs/error.log info;
events { worker_connections 64; }
http {
    log_format timed '$remote_addr - $remote_user [$time_local] "$request" $status $body_bytes_sent '
                     '"$http_referer" "$http_user_agent" rt=$request_time';
    access_log NG/logs/access.log timed;
    client_body_temp_path NG/body; proxy_temp_path NG/proxy; fastcgi_temp_path NG/fcgi;
    uwsgi_temp_path NG/uwsgi; scgi_temp_path NG/scgi;
    types { text/html html; application/json json; text/plain txt; }
    server {
        listen 127.0.0.1:18419;
        root WWW;
        location /api/ { default_type application/json; return 200 '{"ok":true}'; }
        location /old/ { return 301 /docs/; }
        location /private/ { deny all; }
        location /slow/ { limit_rate 1k; }
    }
}
"""


def _curl_traffic(base: str, n: int) -> None:
    """n requests of varied paths, methods, agents and referers against a server on loopback (curl)."""
    import random
    rng = random.Random(18)
    agents = ["curl/7.88.1", "Mozilla/5.0 (X11; Linux x86_64; rv:109.0) Gecko/20100101 Firefox/115.0",
              "Wget/1.21.3", "python-requests/2.31.0", "Go-http-client/1.1", "monitoring-probe/2.4",
              "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 Version/16.5 Safari/605.1.15"]
    paths = ([f"/docs/page{i}.html" for i in range(25)] + ["/", "/docs/", "/api/status", "/api/items?id=%d",
             "/old/index.html", "/private/keys", "/missing/%d", "/favicon.ico", "/robots.txt",
             "/search?q=term%d&page=2", "/docs/page%d.html?utm_source=feed"])
    batch = []
    for i in range(n):
        p = rng.choice(paths)
        p = p % rng.randint(1, 999) if "%d" in p else p
        batch.append(base + p)
        if len(batch) == 40 or i == n - 1:
            cmd = ["curl", "-s", "-o", "/dev/null", "-A", rng.choice(agents)]
            if rng.random() < 0.3:
                cmd += ["-e", base + rng.choice(paths[:25])]
            if rng.random() < 0.1:
                cmd += ["-I"]
            elif rng.random() < 0.1:
                cmd += ["-X", "POST", "-d", "a=1&b=2"]
            for u in batch:
                cmd += [u, "-o", "/dev/null"]
            subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=120)
            batch = []


# ------------------------------------------------------------------------------------------- main

def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m lstmzip.train.corpus_build", description=__doc__.splitlines()[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", required=True, help="output folder (outside the repository)")
    ap.add_argument("--packages", default=str(DEFAULT_LIST), help="package list [Default: corpus_packages.txt]")
    ap.add_argument("--cache", help="downloads and log work folder [Default: OUT/../lstmzip-corpus-cache]")
    ap.add_argument("--shared", default=str(REPO.parent / "shared" / "corpora"),
                    help="the shared benchmark corpora, read only to exclude them [Default: ../shared/corpora]")
    ap.add_argument("--no-logs", dest="logs", action="store_false", help="do not make program logs")
    ap.add_argument("--logs-budget", type=float, default=900, help="seconds for making logs [900]")
    ap.add_argument("--only", action="append", default=[], help="only these package names (repeatable; tests)")
    ap.add_argument("--package-cap", default="6M")
    ap.add_argument("--kind-cap", default="40M")
    ap.add_argument("--file-cap", default="1M")
    ap.add_argument("--val-fraction", type=float, default=0.01)
    ap.add_argument("--val-min", default="16K")
    ap.add_argument("--val-max", default="200K")
    args = ap.parse_args(argv)
    out = os.path.abspath(args.out)
    if Path(out).resolve().is_relative_to(REPO):
        ap.error("--out must be outside the repository")
    cache = os.path.abspath(args.cache or os.path.join(os.path.dirname(out), "lstmzip-corpus-cache"))
    caps = Caps(package=parse_size(args.package_cap), kind=parse_size(args.kind_cap), file=parse_size(args.file_cap),
                val_fraction=args.val_fraction, val_min=parse_size(args.val_min), val_max=parse_size(args.val_max))
    specs = parse_list(Path(args.packages).read_text())
    if args.only:
        specs = [s for s in specs if s.name in args.only]
    t0 = time.time()
    log = lambda m: print(time.strftime("%H:%M:%S ") + m, flush=True)  # noqa: E731
    bench = BenchIndex.from_repo(args.shared)
    log(f"benchmark index: {len(bench.hashes)} sha256, {len(bench.lines)} long lines")
    resolved: list[str] = []

    def packages() -> Iterator[Package]:
        for s in specs:
            try:
                pkg = fetch(s, cache)
            except Exception as e:  # noqa: BLE001 - one bad package must not stop the build
                log(f"  {s.source} {s.name}: failed ({type(e).__name__}: {e})")
                pkg = None
            if pkg is None:
                resolved.append(f"# {s.source} {s.name}  (not fetched)")
                continue
            sep = {"deb": "=", "pypi": "==", "npm": "@", "dir": "="}[s.source]
            resolved.append(f"{s.source} {s.name}{sep}{pkg.version}" + (f" cap={s.cap}" if s.cap else ""))
            yield pkg
        if args.logs:
            logs = make_logs(os.path.join(cache, "logs-work"), cache, log=log, budget_s=args.logs_budget)
            yield Package("logs", "program-logs", time.strftime("%Y-%m-%d"),
                          "made here by running real programs (see corpus_build.make_logs)", logs, cap=caps.kind)

    stats = Stats()
    kept = select(packages(), caps, bench, stats, log=log)
    split(kept, caps)
    summary = write(kept, out, stats, resolved, dict(built=time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
                                                      seconds=round(time.time() - t0),
                                                      caps=caps.__dict__, package_list=os.path.basename(args.packages)))
    log(f"corpus: {summary['files']:,} files, {summary['bytes']:,} bytes ({summary['train_bytes']:,} train, "
        f"{summary['val_bytes']:,} val), sha256 {summary['corpus_sha256']}")
    for k, v in summary["kinds"].items():
        log(f"  {k:12s} {v['group']:7s} {v['bytes']:>12,} bytes {v['files']:>7,} files "
            f"{v['packages']:>4} packages, val {v['val_bytes']:,}")
    for k, v in summary["dropped"].items():
        log(f"  dropped {k}: {v[0]:,} files, {v[1]:,} bytes")
    return 0


if __name__ == "__main__":
    sys.exit(main())
