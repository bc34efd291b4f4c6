"""`lstmzip corpus`: the standard compression corpora by name, every file verified by sha256.

    lstmzip corpus list                      what the manifest knows, and where each file is present
    lstmzip corpus fetch NAME... | all       copy (from ../shared/corpora) or download, then verify

NAME is a corpus (canterbury, calgary, large, enwik, silesia, misc), a file
(``alice29.txt``, ``enwik6``), or both (``canterbury/alice29.txt``).
``corpora/manifest.json`` records each file's official source, size and
sha256; a file whose sha256 differs is refused and never written.

Where a file comes from, in order: already in DEST and verified (kept); a local
folder (``--from DIR``, else the ``shared/corpora`` folder next to the
repository) holding ``CORPUS/FILE`` or ``FILE``, or the stored compressed form
(Silesia's ``CORPUS/FILE.bz2``), decompressed; else, without ``--from``, the
official site (archives such as ``cantrbry.tar.gz`` are downloaded once into
``DEST/.downloads`` and each file extracted from them).

Module-level imports are stdlib only: the main CLI imports ``register`` at startup.
"""

from __future__ import annotations

import argparse
import bz2
import dataclasses
import hashlib
import json
import os
import shutil
import sys
import tarfile
import tempfile
import urllib.request
import zipfile
from pathlib import Path
from typing import Callable, Iterable, List, Optional

from .errors import LstmzipError

REPO = Path(__file__).resolve().parents[1]
_INSTALLED = Path(__file__).resolve().parent / "corpora" / "manifest.json"   # pyproject maps corpora/ here
MANIFEST = _INSTALLED if _INSTALLED.is_file() else REPO / "corpora" / "manifest.json"
SHARED_ENV = "LSTMZIP_SHARED_CORPORA"             # a read-only copy of the corpora (CORPUS/FILE inside)


def shared_candidates() -> List[tuple]:
    """(folder, where) of each place the team's read-only copy may be, in order:
    $LSTMZIP_SHARED_CORPORA if set, ../shared/corpora next to the checkout (a source checkout
    only: an installed package's neighbour is the virtual environment), and ../shared/corpora
    from the working directory."""
    out = [(Path(os.environ[SHARED_ENV]), "$" + SHARED_ENV)] if os.environ.get(SHARED_ENV) else []
    if (REPO / "pyproject.toml").is_file():
        out.append((REPO.parent / "shared" / "corpora", "next to the checkout"))
    out.append((Path.cwd().resolve().parent / "shared" / "corpora", "../shared/corpora from the working directory"))
    seen = set()
    return [(f, w) for f, w in out if not (str(f) in seen or seen.add(str(f)))]


def _shared_folder() -> Path:
    """The team's read-only copy: the first of shared_candidates() that exists."""
    candidates = shared_candidates()
    return next((f for f, _ in candidates if f.is_dir()), candidates[0][0])


SHARED = _shared_folder()
DOWNLOAD_TIMEOUT = 60                                # seconds without data before a download fails
DECOMPRESSORS = {"bz2": bz2.decompress}


def default_dest() -> Path:
    """Where fetched corpora go: $LSTMZIP_CORPORA, else the user's cache (never the repository)."""
    if os.environ.get("LSTMZIP_CORPORA"):
        return Path(os.environ["LSTMZIP_CORPORA"])
    cache = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(cache) / "lstmzip" / "corpora"


@dataclasses.dataclass(frozen=True)
class Entry:
    """One corpus file as the manifest describes it."""

    corpus: str                   # folder name: canterbury, calgary, ...
    file: str                     # file name inside that folder
    size: int                     # bytes of the verified file
    sha256: str                   # hex digest of the verified file
    url: Optional[str]            # official download: the file itself, or an archive holding it
    archive: Optional[str]        # "tar.gz" or "zip" when `url` is an archive, else None
    member: str                   # the archive member's file name (matched on its base name)
    prefix: Optional[int]         # keep only the first `prefix` bytes (enwik6 = enwik8[:10**6])
    compression: Optional[str]    # the download is compressed this way ("bz2"), decompress it
    stored: Optional[dict]        # how a local mirror may hold it: {"file", "compression", ...}
    content: str = ""

    @property
    def name(self) -> str:
        return f"{self.corpus}/{self.file}"


def load_manifest(path=None) -> List[Entry]:
    """Every file of every corpus in the manifest, in manifest order."""
    path = Path(path) if path else MANIFEST
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise LstmzipError(f"{path}: cannot read the corpora manifest ({exc})") from None
    if doc.get("format") != "lstmzip-corpora":
        raise LstmzipError(f"{path}: not an lstmzip corpora manifest")
    entries = []
    for corpus in doc["corpora"]:
        source = corpus.get("source") or {}
        for f in corpus["files"]:
            entries.append(Entry(
                corpus=corpus["name"], file=f["file"], size=int(f["size"]), sha256=f["sha256"].lower(),
                url=f.get("url", source.get("url")),
                archive=None if "url" in f else source.get("archive"),
                member=f.get("member", f["file"]), prefix=f.get("prefix"),
                compression=f.get("compression"), stored=f.get("stored"), content=f.get("content", "")))
    return entries


def select(entries: List[Entry], names: Iterable[str]) -> List[Entry]:
    """Entries named by corpus, corpus/file, file or file stem ("all" = every one), without repeats."""
    chosen: List[Entry] = []
    for name in names:
        if name == "all":
            hits = list(entries)
        else:
            hits = [e for e in entries if name in (e.corpus, e.name)] \
                or [e for e in entries if e.file == name] \
                or [e for e in entries if Path(e.file).stem == name]
        if not hits:
            corpora = ", ".join(dict.fromkeys(e.corpus for e in entries))
            raise LstmzipError(f"unknown corpus or file {name!r} (corpora: {corpora}, or a file name; "
                               f"see `lstmzip corpus list`)")
        chosen += [e for e in hits if e not in chosen]
    return chosen


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def verify(entry: Entry, data: bytes, origin: str) -> bytes:
    """Return `data` if it is exactly the manifest's file; otherwise refuse it, naming `origin`."""
    digest = sha256_hex(data)
    if len(data) != entry.size or digest != entry.sha256:
        raise LstmzipError(f"{origin}: refused for {entry.name}: sha256 {digest[:16]}… ({len(data)} bytes), "
                           f"the manifest says {entry.sha256[:16]}… ({entry.size} bytes)")
    return data


def is_present(entry: Entry, folder: Path, check_hash: bool = True) -> bool:
    """True if folder/CORPUS/FILE is this entry (size, and sha256 unless check_hash is False)."""
    path = Path(folder) / entry.corpus / entry.file
    try:
        if path.stat().st_size != entry.size:
            return False
        return not check_hash or sha256_hex(path.read_bytes()) == entry.sha256
    except OSError:
        return False


def locate(entry: Entry, folders: Iterable[Path]) -> Optional[Path]:
    """The first folder/CORPUS/FILE of the right size (raw files only; a cheap check, no hashing)."""
    for folder in folders:
        if is_present(entry, folder, check_hash=False):
            return Path(folder) / entry.corpus / entry.file
    return None


# ---- getting the bytes ---------------------------------------------------------------------

def from_folder(entry: Entry, folder: Path) -> Optional[tuple]:
    """(bytes, origin) from a local folder, verified; None if the folder does not hold it."""
    candidates = [(folder / entry.corpus / entry.file, None), (folder / entry.file, None)]
    if entry.stored:
        candidates += [(folder / entry.corpus / entry.stored["file"], entry.stored.get("compression")),
                       (folder / entry.stored["file"], entry.stored.get("compression"))]
    for path, compression in candidates:
        if path.is_file():
            data = path.read_bytes()
            if compression:
                data = _decompress(compression, data, str(path))
            return verify(entry, data, str(path)), str(path)
    return None


def _decompress(compression: str, data: bytes, origin: str) -> bytes:
    try:
        return DECOMPRESSORS[compression](data)
    except KeyError:
        raise LstmzipError(f"{origin}: unknown compression {compression!r} in the manifest") from None
    except (OSError, ValueError, EOFError) as exc:
        raise LstmzipError(f"{origin}: cannot decompress ({exc})") from None


def download(url: str, target: Path, say: Callable[[str], None]) -> Path:
    """Download url to target (atomically); an existing target is reused."""
    if target.is_file():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    say(f"downloading {url}")
    fd, tmp = tempfile.mkstemp(prefix="." + target.name + ".", suffix=".part", dir=target.parent)
    try:
        with os.fdopen(fd, "wb") as out, urllib.request.urlopen(url, timeout=DOWNLOAD_TIMEOUT) as resp:
            shutil.copyfileobj(resp, out, 1 << 20)
        os.replace(tmp, target)
    except OSError as exc:
        raise LstmzipError(f"{url}: download failed ({getattr(exc, 'reason', None) or exc})") from None
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return target


def _read_member(archive: Path, kind: str, member: str, limit: Optional[int]) -> bytes:
    """The first archive member whose base name is `member` (at most `limit` bytes of it)."""
    try:
        if kind == "zip":
            with zipfile.ZipFile(archive) as zf:
                names = [n for n in zf.namelist() if n.rstrip("/").rsplit("/", 1)[-1] == member]
                if names:
                    with zf.open(names[0]) as f:
                        return f.read(limit if limit is not None else -1)
        elif kind in ("tar.gz", "tar"):
            with tarfile.open(archive) as tf:
                for info in tf:
                    if info.isfile() and info.name.rsplit("/", 1)[-1] == member:
                        f = tf.extractfile(info)
                        return f.read(limit if limit is not None else -1)
        else:
            raise LstmzipError(f"{archive}: unknown archive type {kind!r} in the manifest")
    except (OSError, zipfile.BadZipFile, tarfile.TarError, EOFError) as exc:
        raise LstmzipError(f"{archive}: broken archive ({exc}); delete it and fetch again") from None
    raise LstmzipError(f"{archive}: has no member named {member!r}")


def from_network(entry: Entry, dest: Path, say: Callable[[str], None]) -> tuple:
    """(bytes, origin) from the official source, verified."""
    if not entry.url:
        raise LstmzipError(f"{entry.name}: the manifest names no download for it")
    name = entry.url.rstrip("/").rsplit("/", 1)[-1] or entry.file
    if entry.archive:
        archive = download(entry.url, dest / ".downloads" / name, say)
        data = _read_member(archive, entry.archive, entry.member, entry.prefix)
        origin = f"{entry.url} ({entry.member}{f', first {entry.prefix} bytes' if entry.prefix else ''})"
    else:
        with tempfile.TemporaryDirectory(dir=_mkdir(dest)) as tmp:
            data = download(entry.url, Path(tmp) / name, say).read_bytes()
        if entry.compression:
            data = _decompress(entry.compression, data, entry.url)
        if entry.prefix is not None:
            data = data[:entry.prefix]
        origin = entry.url
    return verify(entry, data, origin), origin


def _mkdir(path: Path) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    return path


def write_atomic(path: Path, data: bytes) -> None:
    _mkdir(path.parent)
    fd, tmp = tempfile.mkstemp(prefix="." + path.name + ".", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(data)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def fetch(entries: List[Entry], dest: Path, folders: List[Path], network: bool,
          say: Callable[[str], None] = lambda msg: None, force: bool = False) -> List[tuple]:
    """Put every entry into dest/CORPUS/FILE, verified. Returns (entry, path, origin) for each.

    Tries, in order: dest itself (unless force), each of `folders`, then the network if allowed.
    A file with the wrong sha256 is refused (LstmzipError), never written.
    """
    done = []
    for entry in entries:
        target = dest / entry.corpus / entry.file
        if not force and is_present(entry, dest):
            done.append((entry, target, "already present"))
            say(f"{entry.name}: already present in {dest}")
            continue
        got = None
        for folder in folders:
            got = from_folder(entry, Path(folder))
            if got:
                break
        if got is None:
            if not network:
                where = ", ".join(str(f) for f in folders) or "no folder"
                raise LstmzipError(f"{entry.name}: not found in {where} (and downloads are off)")
            got = from_network(entry, dest, say)
        data, origin = got
        write_atomic(target, data)
        done.append((entry, target, origin))
        say(f"{entry.name}: {len(data)} bytes, sha256 verified, from {origin}")
    return done


# ---- command line --------------------------------------------------------------------------

def _status(entry: Entry, dest: Path) -> str:
    if locate(entry, [dest]):
        return "fetched"
    if locate(entry, [SHARED]) or (entry.stored and (SHARED / entry.corpus / entry.stored["file"]).is_file()):
        return "shared"
    return "-"


def cmd_list(args) -> int:
    entries = load_manifest(args.manifest)
    dest = Path(args.dest) if args.dest else default_dest()
    print(f"{'corpus/file':32s} {'size':>11s}  {'sha256':16s}  {'where':8s}  source")
    for e in entries:
        src = e.url or ""
        if e.archive:
            src += f" [{e.member}{f'[:{e.prefix}]' if e.prefix else ''}]"
        print(f"{e.name:32s} {e.size:11,d}  {e.sha256[:16]}  {_status(e, dest):8s}  {src}")
    print(f"\nwhere: fetched = verified size in {dest}; shared = available from {SHARED}")
    return 0


def cmd_fetch(args) -> int:
    say = (lambda msg: None) if args.quiet else (lambda msg: print(f"lstmzip corpus: {msg}", file=sys.stderr))
    dest = Path(args.dest) if args.dest else default_dest()
    if args.source:
        folders, network = [Path(args.source)], False
        if not folders[0].is_dir():
            print(f"lstmzip corpus: --from {args.source}: not a folder", file=sys.stderr)
            return 1
    else:
        folders, network = ([SHARED] if SHARED.is_dir() else []), not args.offline
    try:
        entries = select(load_manifest(args.manifest), args.names)
        done = fetch(entries, dest, folders, network, say, force=args.force)
    except LstmzipError as exc:
        print(f"lstmzip corpus: {exc}", file=sys.stderr)
        return 1
    total = sum(e.size for e, _, _ in done)
    say(f"{len(done)} file(s), {total:,} bytes, verified in {dest}")
    return 0


def register(subparsers) -> None:
    p = subparsers.add_parser("corpus", help="list or fetch the standard compression corpora (sha256-verified)",
                              description=__doc__.split("\n\n")[0],
                              formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="corpus_command", metavar="ACTION", required=True)
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--dest", metavar="DIR",
                        help="where corpora go [Default: $LSTMZIP_CORPORA or ~/.cache/lstmzip/corpora]")
    common.add_argument("--manifest", metavar="FILE", help=f"corpora manifest [Default: {MANIFEST}]")
    ls = sub.add_parser("list", parents=[common], help="list the corpora files and where they are present")
    ls.set_defaults(func=cmd_list)
    fe = sub.add_parser("fetch", parents=[common], help="copy or download corpora files, verifying sha256",
                        description="Copy or download corpus files into DEST/CORPUS/FILE, verifying each sha256.")
    fe.add_argument("names", nargs="+", metavar="NAME", help="corpus, file or corpus/file; 'all' for everything")
    fe.add_argument("--from", dest="source", metavar="DIR",
                    help=f"copy from this folder only (no downloads) [Default: {SHARED} if present, then the network]")
    fe.add_argument("--offline", action="store_true", help="never download (without --from: local copies only)")
    fe.add_argument("-f", "--force", action="store_true", help="fetch again even if DEST holds a verified copy")
    fe.add_argument("-q", "--quiet", action="store_true", help="print only errors")
    fe.set_defaults(func=cmd_fetch)
