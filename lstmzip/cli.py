"""The `lstmzip` command, with zstd's conventions.

    lstmzip compress [FILE...]      FILE -> FILE.lstmz (inputs kept; --rm removes them)
    lstmzip decompress [FILE...]    FILE.lstmz -> FILE   (also: lstmzip -d FILE, lstmzip compress -d)
    lstmzip test FILE...            decode and verify, write nothing
    lstmzip info FILE...            model, sizes, bits per byte, method of each block
    lstmzip train | bench | lab | corpus ...

No FILE, or "-", means stdin -> stdout. Output is written to a temporary file
and renamed only after success, so a failure never leaves a partial or
clobbered file (SIGINT, SIGTERM and SIGHUP included). An input is never its own
output, whatever the spelling or the flags. Every failure is one line on stderr,
exit status 1; a wrong flag is argparse's usage message, exit status 2.
"""

from __future__ import annotations

import argparse
import contextlib
import difflib
import errno
import importlib
import io
import os
import re
import signal
import stat
import sys
import time
import unicodedata

from . import __version__
from . import format as fmt
from . import output, tflog
from .errors import LstmzipError

PROG = "lstmzip"
# Subcommands that live in their own packages; each module has register(subparsers)
# and imports nothing heavy (TensorFlow, matplotlib) until its command runs.
PLUGINS = ("lstmzip.train.cli", "lstmzip.bench.cli", "lstmzip.lab.cli", "lstmzip.corpus", "lstmzip.models_cli")
CODEC_COMMANDS = ("compress", "decompress", "test", "info")


HOLD_BACK = 16 << 20      # with -c, output up to this size is held until the input proved good


class Failure(Exception):
    """One file failed: the message is printed as `lstmzip: <msg>`."""


class _Signalled(BaseException):
    """SIGTERM or SIGHUP arrived: unwind (removing the temporary output), then die of it."""

    def __init__(self, signum: int):
        super().__init__(signum)
        self.signum = signum


def printable(text: str) -> str:
    """`text` safe for a terminal: control characters, escapes, line breaks, bidi controls and
    undecodable bytes of file names (surrogates) become backslash escapes."""
    out = []
    for ch in str(text):
        cat = unicodedata.category(ch)
        if cat[0] == "C" or cat in ("Zl", "Zp"):
            code = ord(ch)
            if 0xDC80 <= code <= 0xDCFF:         # os.fsdecode's surrogateescape of a raw byte
                out.append(f"\\x{code - 0xDC00:02x}")
            elif code < 0x100:
                out.append(f"\\x{code:02x}")
            else:
                out.append(f"\\u{code:04x}" if code < 0x10000 else f"\\U{code:08x}")
        else:
            out.append(ch)
    return "".join(out)


def _error(msg) -> None:
    print(f"{PROG}: {printable(msg)}", file=sys.stderr)


# ---- helpers ------------------------------------------------------------------------------

def _say(args, msg: str, level: int = 1) -> None:
    if args.verbosity >= level:
        print(f"{PROG}: {printable(msg)}", file=sys.stderr)


def _same_terminal() -> bool:
    """Whether stdout and stderr are the same terminal: a bar there would be drawn into the data."""
    try:
        if not sys.stdout.isatty():
            return False
        return os.fstat(sys.stdout.fileno()).st_rdev == os.fstat(sys.stderr.fileno()).st_rdev
    except (OSError, ValueError, AttributeError):
        return True


def _progress(args, total, desc: str, dst: str = ""):
    """A tqdm bar on stderr (bytes, KB/s, percentage and ETA when the total is known) when
    stderr is a terminal that is not also receiving the output (-dc on a terminal); else None."""
    if args.verbosity < 1 or not sys.stderr.isatty() or (dst == "-" and _same_terminal()):
        return None, None
    from tqdm import tqdm
    bar = tqdm(total=total, desc=desc, unit="B", unit_scale=True, unit_divisor=1024,
               file=sys.stderr, leave=False, dynamic_ncols=True)
    return bar, bar.update


def _member_totals(bar):
    """decompress_stream's on_member for a bar: its total is the sum of the members' original
    sizes, read from each header as it comes (unknown while any member's size is)."""
    if bar is None:
        return None
    sizes = []

    def on_member(header) -> None:
        sizes.append(header.size)
        bar.total = None if None in sizes else sum(sizes)
        bar.refresh()
    return on_member


def _output_name(args, src: str) -> str:
    if args.stdout:
        return "-"
    if args.output is not None:
        name = args.output
    elif src == "-":
        return "-"
    elif args.mode == "compress":
        name = src + fmt.SUFFIX
    elif not src.endswith(fmt.SUFFIX):
        raise Failure(f"{src}: unknown suffix (expected {fmt.SUFFIX}); use -o to name the output")
    else:
        name = src[: -len(fmt.SUFFIX)]
    if not os.path.basename(name):
        raise Failure(f"{src}: empty output name {name!r}; use -o to name the output")
    return name


def _regular(st) -> bool:
    return st is not None and stat.S_ISREG(st.st_mode)


def _open_input(src: str):
    """(file, fstat result or None). The size is trusted only for regular files (see _known_size)."""
    if src == "-":
        try:
            st = os.fstat(sys.stdin.fileno())
        except (OSError, ValueError, AttributeError):
            st = None
        return sys.stdin.buffer, st
    try:
        if os.path.isdir(src):
            raise Failure(f"{src}: is a directory (use -r for the files under it)")
        f = open(src, "rb")
        return f, os.fstat(f.fileno())
    except OSError as exc:
        raise Failure(f"{src}: cannot read ({exc.strerror or exc})") from None


def _same_file(st_in, dst: str) -> bool:
    """True if the output `dst` ("-": stdout) is the very file being read (same device and inode)."""
    if not _regular(st_in):
        return False
    try:
        st_out = os.fstat(sys.stdout.fileno()) if dst == "-" else os.stat(dst)
    except (OSError, ValueError, AttributeError):
        return False
    return (st_in.st_dev, st_in.st_ino) == (st_out.st_dev, st_out.st_ino)


class _Prefixed(io.RawIOBase):
    """Bytes already read, then the rest of the file."""

    def __init__(self, head: bytes, rest):
        self.head, self.rest = head, rest

    def readable(self) -> bool:
        return True

    def read(self, n: int = -1) -> bytes:
        if not self.head:
            return self.rest.read(n)
        if n is None or n < 0:
            data, self.head = self.head + self.rest.read(), b""
            return data
        data, self.head = self.head[:n], self.head[n:]
        if len(data) < n:
            data += self.rest.read(n - len(data))
        return data


def _read_first_block(infile, st, block_size: int):
    """Read the first block before any output exists: an unreadable input fails with nothing written.

    Returns (reader, size). The size goes into the header, so it must be exact: an input that
    ends within the first block is known whole; otherwise a regular file's st_size is used, and
    anything else (a pipe, a FIFO, a character device, a /proc or /sys file whose st_size is 0
    or a page) is streamed with the size unknown.
    """
    head = infile.read(block_size)
    if len(head) < block_size:
        return io.BytesIO(head), len(head)
    size = st.st_size if _regular(st) and st.st_size >= len(head) else None
    return _Prefixed(head, infile), size


class _CountingReader(io.RawIOBase):
    def __init__(self, src):
        self.src, self.count = src, 0

    def readable(self) -> bool:
        return True

    def read(self, n: int = -1) -> bytes:
        data = self.src.read(n)
        self.count += len(data)
        return data


def _mode_of(st):
    return stat.S_IMODE(st.st_mode) & 0o777 if _regular(st) else None


class AtomicOutput(output.AtomicOutput):
    """The shared temporary-file output (output.py), its errors as this command's Failure."""

    error = Failure
    HINT = "use -f to overwrite"


class DirectOutput:
    """An existing output that is not a regular file (/dev/null, a FIFO, a terminal): written in
    place. Renaming a temporary file over it would replace the device node or the FIFO."""

    def __init__(self, path: str):
        self.path = path
        try:
            self.file = open(path, "wb")
        except OSError as exc:
            raise Failure(f"{path}: cannot write ({exc.strerror or exc})") from None

    def commit(self) -> None:
        self.file.close()

    def abort(self) -> None:
        with contextlib.suppress(OSError):
            self.file.close()


def _output_for(path: str, force: bool, mode):
    try:
        st = os.stat(path)
    except OSError:
        st = None
    if st is not None and stat.S_ISDIR(st.st_mode):
        raise Failure(f"{path}: is a directory")
    if st is not None and not stat.S_ISREG(st.st_mode):
        return DirectOutput(path)
    return AtomicOutput(path, force, mode)


def _write_all(sink, data) -> None:
    """sink.write until every byte is taken: a buffered write can return a short count (a pipe
    whose reader left, a full disk) instead of raising, and the next write then raises."""
    view = memoryview(data).cast("B")
    while view.nbytes:
        n = sink.write(view)
        if n is None or n <= 0:
            raise OSError(errno.EIO, "write returned no progress")
        view = view[n:]


class _HoldBack(io.RawIOBase):
    """stdout for -c: the first HOLD_BACK bytes are kept until commit(), so an input that turns
    out bad (unreadable, corrupted, truncated) leaves nothing on stdout unless the output was
    already larger than that."""

    def __init__(self, sink, limit: int = HOLD_BACK):
        self.sink, self.limit, self.held, self.passing = sink, limit, [], False
        self.size = 0

    def writable(self) -> bool:
        return True

    def write(self, data) -> int:
        n = len(data)
        if self.passing:
            _write_all(self.sink, data)
            return n
        self.held.append(bytes(data))
        self.size += n
        if self.size > self.limit:
            self._release()
        return n

    def _release(self) -> None:
        self.passing = True
        for part in self.held:
            _write_all(self.sink, part)
        self.held = []

    def commit(self) -> None:
        self._release()
        self.sink.flush()


# ---- one file -----------------------------------------------------------------------------

def _process(args, src: str, coder) -> None:
    if args.mode == "compress" and src != "-" and src.endswith(fmt.SUFFIX) and not args.force:
        _say(args, f"{src}: already has the {fmt.SUFFIX} suffix, skipped (use -f to compress it again)")
        return
    dst = "-" if args.mode == "test" else _output_name(args, src)
    if dst == "-" and args.mode == "compress" and sys.stdout.isatty() and not args.force:
        raise Failure("stdout is a terminal, aborting (use -f to write compressed data to it)")
    if src == "-" and sys.stdin.isatty() and not args.force:
        raise Failure("stdin is a terminal, aborting (pipe data in or name a file)")
    infile, st = _open_input(src)
    out = held = None
    started = time.perf_counter()
    bar = None
    try:
        # Before anything is created or written: the input must not be its own output
        # (compared by device and inode, so ./a, a and a hard link are all the same file).
        if args.mode != "test" and _same_file(st, dst):
            where = "stdout" if dst == "-" else dst
            raise Failure(f"{src}: input and output ({where}) are the same file; refusing to overwrite it")
        reader = _CountingReader(infile)
        size = None
        source = reader
        if args.mode == "compress":
            source, size = _read_first_block(reader, st, coder.block_size)
        # (decompressing, the total comes from each member's header: _member_totals)
        bar, update = _progress(args, size, os.path.basename(src) if src != "-" else "stdin", dst)
        if args.mode == "test":
            sink = _Discard()
        elif dst == "-":
            sink = held = _HoldBack(sys.stdout.buffer)
        else:
            out = _output_for(dst, args.force, _mode_of(st))
            sink = out.file
        counter = _Counter(sink)
        if args.mode == "compress":
            n_in = coder.compress_stream(source, counter, size=size, progress=update)
            n_out = counter.count
        else:
            n_out = coder.decompress_stream(source, counter, progress=update, on_member=_member_totals(bar))
            n_in = reader.count
        if out:
            out.commit()
            out = None
        elif held:
            held.commit()
    except LstmzipError as exc:
        raise Failure(f"{src}: {exc}") from None
    except BrokenPipeError:
        raise
    except OSError as exc:
        raise Failure(f"{src}: {exc.strerror or exc}") from None
    finally:
        if bar:
            bar.close()
        if out:
            out.abort()
        if infile is not sys.stdin.buffer:
            infile.close()
    _done(args, src, dst, _regular(st), n_in, n_out, time.perf_counter() - started, getattr(coder, "stats", None))


def _done(args, src: str, dst: str, regular: bool, n_in: int, n_out: int, seconds: float, stats) -> None:
    """A file is done: its line on stderr, then --rm."""
    raw, packed = (n_in, n_out) if args.mode == "compress" else (n_out, n_in)
    bpb = 8 * packed / raw if raw else 0.0
    label = "OK" if args.mode == "test" else f"-> {dst if dst != '-' else 'stdout'}"
    extra = ""
    if args.mode == "compress" and args.verbosity >= 2:
        methods = ", ".join(f"{k} {v}" for k, v in stats["input_by_method"].items())
        extra = f" [zstd -19 alone: {stats['zstd_size']} bytes; input bytes by method: {methods}]"
    _say(args, f"{src}: {n_in} -> {n_out} bytes ({bpb:.3f} bits/byte), {seconds:.2f} s, "
               f"{raw / 1024 / max(seconds, 1e-9):.1f} KB/s {label}{extra}",
         level=1 if (dst != "-" or args.mode == "test") else 2)
    if args.rm and args.mode != "test" and src != "-" and dst != "-":
        if not regular:
            _say(args, f"{src}: not a regular file, not removed")
            return
        if not _complete_file(dst, n_out):          # /dev/null, a FIFO, a terminal: zstd's rule
            _say(args, f"{src}: --rm ignored: the output {dst} is not a regular file; input kept")
            return
        try:
            os.unlink(src)
        except OSError as exc:
            raise Failure(f"{src}: output written, but the input could not be removed "
                          f"({exc.strerror or exc})") from None


def _complete_file(path: str, size: int) -> bool:
    """--rm's condition: `path` is a regular file holding the `size` bytes just written."""
    try:
        st = os.stat(path)
    except OSError:
        return False
    return stat.S_ISREG(st.st_mode) and st.st_size == size


class _Counter(io.RawIOBase):
    """Pass-through writer that counts bytes."""

    def __init__(self, sink):
        self.sink, self.count = sink, 0

    def write(self, data) -> int:
        _write_all(self.sink, data)
        self.count += len(data)
        return len(data)


class _Discard(io.RawIOBase):
    def write(self, data) -> int:
        return len(data)


def _on_signal(signum, frame):
    raise _Signalled(signum)


@contextlib.contextmanager
def _cleanup_on_signals():
    """SIGTERM and SIGHUP unwind like SIGINT (so the temporary output is removed), except
    where they are ignored (nohup): that choice is the user's."""
    previous = {}
    for name in ("SIGTERM", "SIGHUP"):
        signum = getattr(signal, name, None)
        if signum is None:
            continue
        try:
            if signal.getsignal(signum) is signal.SIG_IGN:
                continue
            previous[signum] = signal.signal(signum, _on_signal)
        except (ValueError, OSError):        # not the main thread: leave signals alone
            pass
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


def _die_of(signum: int) -> int:
    """Exit as killed by `signum` (the parent sees the signal, as with gzip and zstd)."""
    sys.stderr.flush()
    signal.signal(signum, signal.SIG_DFL)
    os.kill(os.getpid(), signum)
    return 128 + signum                       # only if the signal did not end the process


def cmd_codec(args) -> int:
    if args.decompress and args.mode == "compress":
        args.mode = "decompress"
    files = args.files or ["-"]
    if args.output is not None and len(files) > 1:
        _error("-o can only be used with a single input file")
        return 1
    if args.rm and args.stdout:                      # zstd: a note, and the inputs stay
        _say(args, "--rm ignored: the output is stdout; inputs kept")
        args.rm = False
    if files.count("-") > 1:
        _error("stdin can only be read once")
        return 1
    if args.cluster is not None and args.workers > 1:
        _error("--cluster and --workers cannot be combined (the cluster's workers code the blocks)")
        return 1
    unreadable = []                                  # -r: directories that could not be listed
    if args.recursive:
        from .cluster import expand

        def cannot_list(path, exc):
            _error(f"{path}: cannot read directory ({exc.strerror or exc}); skipped")
            unreadable.append(path)
        files = [x for f in files
                 for x in (expand([f], args.mode == "compress", cannot_list)
                           if f != "-" and os.path.isdir(f) else [f])]
        if args.output is not None and len(files) != 1:
            _error("-o can only be used with a single input file")
            return 1
    from .codec import Compressor, Decompressor
    runner = None
    try:
        if args.cluster is not None:
            from .cluster import DaskRunner
            runner = DaskRunner(args.cluster)
        if args.mode == "compress":
            coder = Compressor(args.model, streams=args.streams, backend=args.backend, device=args.device,
                               block_size=args.block_size, threads=args.threads, level=args.level,
                               adapt=args.adapt or None, workers=args.workers, runner=runner)
        else:
            coder = Decompressor(args.model, backend=args.backend, device=args.device, threads=args.threads,
                                 workers=args.workers, runner=runner)
    except (LstmzipError, ValueError, ImportError) as exc:
        _error(exc)
        if runner is not None:
            runner.close()
        return 1
    try:
        return max(_code_files(args, files, coder, runner), 1 if unreadable else 0)
    finally:
        if runner is not None:
            runner.close()


def _code_files(args, files, coder, runner) -> int:
    if runner is not None and len(files) > 1 and "-" not in files and not args.stdout:
        return _pipeline(args, files, coder, runner)
    status = 0
    with _cleanup_on_signals():
        for src in files:
            try:
                _process(args, src, coder)
            except Failure as exc:
                _error(exc)
                status = 1
            except KeyboardInterrupt:
                _error(f"{src}: interrupted")
                return 130
            except _Signalled as sig:
                _error(f"{src}: terminated by {signal.Signals(sig.signum).name}")
                return _die_of(sig.signum)
    return status


def _pipeline(args, files, coder, runner) -> int:
    """Many files on a cluster: the blocks of every file in one stream (cluster.run_files), so
    small files keep all workers busy; the same outputs, lines and exit status as one by one."""
    from .cluster import run_files
    status = 0

    def done(res) -> None:
        nonlocal status
        try:
            if res.error is not None:
                raise Failure(f"{res.src}: {res.error}")
            _done(args, res.src, res.dst or "-", True, res.n_in, res.n_out, res.seconds, res.stats)
        except Failure as exc:
            _error(exc)
            status = 1

    with _cleanup_on_signals():
        try:
            run_files(args.mode, files, coder, runner, force=args.force, on_done=done)
        except LstmzipError as exc:
            _error(exc)
            return 1
        except KeyboardInterrupt:
            _error("interrupted")
            return 130
        except _Signalled as sig:
            _error(f"terminated by {signal.Signals(sig.signum).name}")
            return _die_of(sig.signum)
    return status


def _block_kind(bh, payload: bytes) -> str:
    """A block's method, and for cm blocks its level and whether the LSTM adapted: 'cm -6';
    a cm+dict block (cm over the word-transformed block) is 'cm -9+dict'."""
    from .cm import CMParams
    name = fmt.METHOD_NAMES.get(bh.method, str(bh.method))
    if bh.method in fmt.CM_METHODS:
        try:
            p = CMParams.unpack(_cm_part(bh, payload))
        except LstmzipError:                    # damaged parameters: the method's name alone
            return name
        name = f"cm -{p.level}" + (("+deep" if p.adapt.deep else "+adapt") if p.adapt.on else "") \
            + ("+dict" if bh.method == fmt.CM_TEXT else "")
    elif bh.method == fmt.LSTM:
        name += " -1"
    return name


def _cm_part(bh, payload: bytes) -> bytes:
    """A cm or cm+dict block's cm payload (its parameters first): cm+dict's transform head skipped."""
    return payload[fmt.TRANSFORM_HEAD.size:] if bh.method == fmt.CM_TEXT else payload


def _block_models(bh, payload: bytes) -> str:
    """The models that coded a block, for `info -v`: the cm models' names, 'lstm', or '-'."""
    from .cm import CMParams
    if bh.method == fmt.LSTM:
        return "lstm"
    if bh.method not in fmt.CM_METHODS:
        return "-"
    try:
        return CMParams.unpack(_cm_part(bh, payload)).names()
    except LstmzipError:
        return "?"


def _block_regions(bh, payload: bytes) -> str:
    """A cm block's region table for `info -v` ('regions: text 1200, image 512x8 300000'), or ''."""
    from . import regions
    from .cm import MODEL_BITS, CMParams
    if bh.method not in fmt.CM_METHODS:
        return ""
    raw = _cm_part(bh, payload)
    try:
        p = CMParams.unpack(raw)
        if not p.models & MODEL_BITS["struct"]:
            return ""
        table, _ = regions.unpack(raw, p.packed_len, bh.raw_len if bh.method == fmt.CM else
                                  fmt.TRANSFORM_HEAD.unpack_from(payload)[1])
    except (LstmzipError, ValueError):
        return "\n    regions: ?"
    return "\n    regions: " + regions.describe(table)


def cmd_info(args) -> int:
    from .codec import Decompressor
    status = 0
    for src in args.files or ["-"]:
        try:
            infile, _ = _open_input(src)
            with contextlib.ExitStack() as stack:
                if infile is not sys.stdin.buffer:
                    stack.enter_context(infile)
                reader = _CountingReader(infile)
                members, rows, raw = [], [], 0      # concatenated files: one header per member
                for header, bh, payload in Decompressor().blocks(reader, members=True):
                    if not members or header is not members[-1]:
                        members.append(header)
                    if isinstance(bh, fmt.End):
                        continue
                    raw += bh.raw_len
                    bpb = 8 * len(payload) / bh.raw_len
                    rows.append(f"  block {len(rows):5d}  {_block_kind(bh, payload):16s}  "
                                f"{bh.raw_len:9d} -> {bh.payload_len:9d}  {bpb:6.3f} bits/byte  "
                                f"streams {bh.streams if bh.method in fmt.MODEL_METHODS else '-':>4}  "
                                f"models {_block_models(bh, payload)}"
                                + (f"  (member {len(members)})" if len(members) > 1 else "")
                                + _block_regions(bh, payload))
            total = reader.count
            print(f"{printable(src)}:")
            models = {(h.model_name, h.model_sha256) for h in members if h.model_sha256 is not None}
            for name, sha in sorted(models) or [("none needed (no block is model-coded)", None)]:
                print(f"  model     {printable(name)}" + (f"  sha256 {sha.hex()}" if sha else ""))
            print(f"  original  {raw} bytes   compressed {total} bytes   "
                  f"{8 * total / raw if raw else 0:.3f} bits/byte   ratio {raw / total if total else 0:.3f}")
            first = members[0]
            versions = "/".join(str(v) for v in sorted({h.version for h in members}))
            print(f"  blocks    {len(rows)} (block size {max(h.block_size for h in members)}, streams "
                  f"{first.streams or 'auto'}, format version {versions}"
                  + (f", {len(members)} concatenated members" if len(members) > 1 else "") + ")")
            if args.verbosity >= 2 and rows:
                print("\n".join(rows))
        except LstmzipError as exc:
            _error(f"{src}: {exc}")
            status = 1
        except Failure as exc:
            _error(exc)
            status = 1
        except BrokenPipeError:
            raise
        except OSError as exc:
            _error(f"{src}: cannot read ({exc.strerror or exc})")
            status = 1
    return status


# ---- parser -------------------------------------------------------------------------------

def _codec_options(p: argparse.ArgumentParser, mode: str) -> None:
    p.add_argument("files", nargs="*", metavar="FILE",
                   help={"test": "files to decode and verify; none or '-' means stdin",
                         "info": "files to describe; none or '-' means stdin"}.get(
                       mode, "input files; none or '-' means stdin -> stdout"))
    if mode in ("compress", "decompress"):
        p.add_argument("-d", "--decompress", action="store_true", help="decompress (same as `lstmzip decompress`)")
        p.add_argument("-o", dest="output", metavar="OUT", help="output file (single input only)")
        p.add_argument("-c", "--stdout", action="store_true", help="write to stdout")
        keep = p.add_mutually_exclusive_group()
        keep.add_argument("-k", "--keep", action="store_true", help="keep input files [Default]")
        keep.add_argument("--rm", action="store_true", help="remove input files after success")
        p.add_argument("-f", "--force", action="store_true",
                       help="overwrite existing outputs; allow compressed data to a terminal")
    else:
        p.set_defaults(decompress=False, output=None, stdout=False, rm=False, force=False)
    p.add_argument("-m", "--model", metavar="NAME|PATH", default=None,
                   help="predictor model: a .npz PATH, or a NAME looked up in ./models, $LSTMZIP_MODEL_PATH, "
                        "$XDG_DATA_HOME/lstmzip/models (~/.local/share/...), then the shipped models "
                        "('lstmzip models' lists them) [Default: default; -9 chooses default or broad per "
                        "input, by which codes its first 64 KiB smaller; decompress: the model whose "
                        "sha256 the file names, found the same way]")
    if mode == "compress":
        from .codec import DEFAULT_LEVEL, LEVELS
        levels = p.add_argument_group("levels", _levels_help())
        for level in LEVELS:
            levels.add_argument(f"-{level}", dest="level", action="store_const", const=level,
                                help=argparse.SUPPRESS)
        levels.add_argument("--fast", dest="level", action="store_const", const=2, help="same as -2")
        levels.add_argument("--best", dest="level", action="store_const", const=9, help="same as -9")
        levels.add_argument("--adapt", action="store_const", const="output",
                            help="the LSTM's output layer learns the file too (docs/adapt.md)")
        levels.add_argument("--adapt-deep", dest="adapt", action="store_const", const="deep",
                            help="every layer of the LSTM learns the file (integer BPTT; slower; "
                                 "docs/adapt.md)")
        p.set_defaults(level=DEFAULT_LEVEL)
        p.add_argument("--streams", type=int, default=0, metavar="S",
                       help="parallel streams per block, at most 1024 [Default: from the block size]")
        p.add_argument("--block-size", type=_size, default=0, metavar="BYTES",
                       help="bytes per block, e.g. 1M [Default: the level's]")
    if mode in ("compress", "decompress", "test"):
        p.add_argument("--workers", type=_workers, default=1, metavar="N",
                       help="code independent blocks in N processes; same output bytes [Default: 1]")
        p.add_argument("--cluster", metavar="ADDRESS", default=None,
                       help="code the blocks on the Dask cluster whose scheduler is ADDRESS "
                            "(e.g. tcp://host:8786); same output bytes; needs lstmzip[cluster]")
        p.add_argument("-r", "--recursive", action="store_true",
                       help="a directory means every regular file under it (compress: those not "
                            "ending in .lstmz; decompress, test: those ending in .lstmz)")
    p.add_argument("-T", "--threads", type=int, default=0, metavar="N",
                   help="threads for the numpy engine; 0 = all cores [Default: 0]")
    p.add_argument("--backend", choices=("numpy", "tf"), default="numpy", help="engine backend [Default: numpy]")
    p.add_argument("--device", choices=("auto", "cpu", "gpu"), default="auto",
                   help="device for --backend tf [Default: auto]")
    p.add_argument("-q", "--quiet", dest="verbosity", action="store_const", const=0, help="print only errors")
    p.add_argument("-v", "--verbose", dest="verbosity", action="store_const", const=2,
                   help="more details" + (": a line per block (method, streams, models, sizes, bits per byte)"
                                          if mode == "info" else ""))
    p.set_defaults(verbosity=1, mode=mode, func=cmd_info if mode == "info" else cmd_codec)
    if mode in ("compress", "decompress"):
        p.epilog = output.TEMP_NOTE


def _levels_help() -> str:
    from .codec import DEFAULT_LEVEL, LEVELS, NO_LSTM_LEVELS, TRANSFORM_LEVELS, level_memory
    rows = []
    for level, (method, _, block) in LEVELS.items():
        what = "static LSTM alone" if method == "lstm" else \
            "context mixing, no LSTM" if level in NO_LSTM_LEVELS else "LSTM + context mixing"
        rows.append(f"-{level}: {what}, {block >> 20} MiB blocks, up to {level_memory(level) / 1e6:.0f} MB"
                    + (" [Default]" if level == DEFAULT_LEVEL else "")
                    + (", text also tried word-transformed" if level in TRANSFORM_LEVELS else ""))
    return "-1 ... -9 choose speed against ratio and memory (decompression needs the same):  " \
        + ";  ".join(rows)


def _workers(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not 1 <= value <= 256:
        raise argparse.ArgumentTypeError("workers must be 1..256")
    return value


def _size(text: str) -> int:
    """'1048576', '512k', '4M' or '4MiB' -> bytes."""
    t = text.strip().lower().removesuffix("ib").removesuffix("b")
    mult = {"k": 1 << 10, "m": 1 << 20}.get(t[-1:], 1)
    try:
        value = int(t[:-1] if mult > 1 else t) * mult
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a size: {text!r}") from None
    if not 1 <= value <= fmt.MAX_BLOCK_SIZE:
        raise argparse.ArgumentTypeError(f"block size must be 1..{fmt.MAX_BLOCK_SIZE} bytes")
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=PROG, description="Lossless compression with a stacked-LSTM predictor; "
                               "files decode bit-exactly on any machine.")
    parser.add_argument("-V", "--version", action="version", version=f"{PROG} {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    helps = {"compress": "compress files (FILE -> FILE.lstmz)", "decompress": "decompress .lstmz files",
             "test": "decode and verify files, write nothing", "info": "show a file's model, sizes and blocks"}
    for mode in CODEC_COMMANDS:
        _codec_options(sub.add_parser(mode, help=helps[mode], description=helps[mode]), mode)
    for name in PLUGINS:
        try:
            module = importlib.import_module(name)
        except ImportError:
            continue
        module.register(sub)
    parser.commands = sub.choices           # name -> the command's own parser
    return parser


def _command_slot(argv, takes_value) -> int:
    """Index of the first argument that is neither an option nor an option's value, or -1."""
    i = 0
    while i < len(argv):
        arg = argv[i]
        if arg == "--":
            return -1
        if arg == "-" or not arg.startswith("-"):
            return i
        i += 2 if arg in takes_value else 1          # `-m NAME`: skip the value too
    return -1


def _command_argv(parser, argv):
    """argv with the command word first. zstd style: `lstmzip FILE`, `lstmzip -d FILE` and
    `lstmzip < in > out` mean compress; flags given before the command word (`lstmzip -q
    decompress a.lstmz`) move after it, so the command word is never taken for a file; a
    first argument that looks like a word but is neither a command nor a file is a usage
    error with a suggestion (`lstmzip decomp a.lstmz`), not a file that cannot be read."""
    commands = parser.commands
    if argv and argv[0] in ("-h", "--help", "-V", "--version"):
        return argv
    # options of the codec commands that take a value (their value may look like a command word)
    takes_value = {opt for action in commands["compress"]._actions if action.nargs != 0
                   for opt in action.option_strings}
    slot = _command_slot(argv, takes_value)
    word = argv[slot] if slot >= 0 else None
    if word in commands:
        return [word] + argv[:slot] + argv[slot + 1:]
    if word is not None and re.fullmatch(r"[A-Za-z][A-Za-z0-9_-]*", word) and not os.path.lexists(word):
        close = difflib.get_close_matches(word, list(commands), n=1)
        parser.error(f"unknown command {word!r}" + (f" (did you mean {close[0]!r}?)" if close else
                     f", and no such file (commands: {', '.join(commands)})"))
    return ["compress"] + argv


def main(argv=None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    args, extra = parser.parse_known_args(_command_argv(parser, argv))
    if extra:                                # a wrong flag: the usage of the command it was given to
        parser.commands[args.command].error(f"unrecognized arguments: {' '.join(extra)}")
    tflog.verbose = getattr(args, "verbosity", 1) >= 2 or getattr(args, "verbose", False) is True
    try:
        return args.func(args)
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        # The reader of stdout went away (`| head`): stop quietly, and keep Python from
        # complaining again when it flushes stdout at exit.
        with contextlib.suppress(OSError, ValueError):
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())
        return 1
