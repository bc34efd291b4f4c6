"""The `lstmzip` command, with zstd's conventions.

    lstmzip compress [FILE...]      FILE -> FILE.lstmz (inputs kept; --rm removes them)
    lstmzip decompress [FILE...]    FILE.lstmz -> FILE   (also: lstmzip -d FILE, lstmzip compress -d)
    lstmzip test FILE...            decode and verify, write nothing
    lstmzip info FILE...            model, sizes, bits per byte, method of each block
    lstmzip train | bench | lab | corpus ...

No FILE, or "-", means stdin -> stdout. Output is written to a temporary file
and renamed only after success, so a failure never leaves a partial or
clobbered file. Every failure is one line on stderr, exit status 1.
"""

from __future__ import annotations

import argparse
import importlib
import io
import os
import sys
import tempfile
import time

from . import __version__
from . import format as fmt
from .errors import LstmzipError

PROG = "lstmzip"
# Subcommands that live in their own packages; each module has register(subparsers)
# and imports nothing heavy (TensorFlow, matplotlib) until its command runs.
PLUGINS = ("lstmzip.train.cli", "lstmzip.bench.cli", "lstmzip.lab.cli", "lstmzip.corpus")
CODEC_COMMANDS = ("compress", "decompress", "test", "info")


class Failure(Exception):
    """One file failed: the message is printed as `lstmzip: <msg>`."""


# ---- helpers ------------------------------------------------------------------------------

def _say(args, msg: str, level: int = 1) -> None:
    if args.verbosity >= level:
        print(f"{PROG}: {msg}", file=sys.stderr)


def _progress(args, total, desc: str):
    """A tqdm bar on stderr (bytes, KB/s, ETA) when stderr is a terminal; else None."""
    if args.verbosity < 1 or not sys.stderr.isatty():
        return None, None
    from tqdm import tqdm
    bar = tqdm(total=total, desc=desc, unit="B", unit_scale=True, unit_divisor=1024,
               file=sys.stderr, leave=False, dynamic_ncols=True)
    return bar, bar.update


def _output_name(args, src: str) -> str:
    if args.stdout:
        return "-"
    if args.output:
        return args.output
    if src == "-":
        return "-"
    if args.mode == "compress":
        return src + fmt.SUFFIX
    if not src.endswith(fmt.SUFFIX):
        raise Failure(f"{src}: unknown suffix (expected {fmt.SUFFIX}); use -o to name the output")
    return src[: -len(fmt.SUFFIX)]


def _open_input(src: str):
    if src == "-":
        return sys.stdin.buffer, None
    try:
        if os.path.isdir(src):
            raise Failure(f"{src}: is a directory")
        f = open(src, "rb")
        return f, os.fstat(f.fileno()).st_size
    except OSError as exc:
        raise Failure(f"{src}: cannot read ({exc.strerror or exc})") from None


def _mode_of(src: str):
    try:
        return os.stat(src).st_mode & 0o777 if src != "-" else None
    except OSError:
        return None


class AtomicOutput:
    """Write to a temporary file beside the target; rename into place only on success."""

    def __init__(self, path: str, force: bool, mode=None):
        self.path, self.force = path, force
        if os.path.exists(path) and not force:
            raise Failure(f"{path}: already exists; use -f to overwrite")
        directory = os.path.dirname(os.path.abspath(path))
        try:
            fd, self.tmp = tempfile.mkstemp(prefix="." + os.path.basename(path) + ".", suffix=".tmp", dir=directory)
        except OSError as exc:
            raise Failure(f"{path}: cannot write ({exc.strerror or exc})") from None
        self.file = os.fdopen(fd, "wb")
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(self.tmp, (mode if mode is not None else 0o666) & ~umask)

    def commit(self) -> None:
        self.file.flush()
        os.fsync(self.file.fileno())
        self.file.close()
        if self.force:
            os.replace(self.tmp, self.path)
        else:
            try:
                os.link(self.tmp, self.path)      # fails if the target appeared meanwhile: no clobber
            except FileExistsError:
                raise Failure(f"{self.path}: already exists; use -f to overwrite") from None
            except OSError:
                if os.path.exists(self.path):
                    raise Failure(f"{self.path}: already exists; use -f to overwrite") from None
                os.rename(self.tmp, self.path)    # filesystems without hard links
            finally:
                if os.path.exists(self.tmp):
                    os.unlink(self.tmp)

    def abort(self) -> None:
        try:
            self.file.close()           # may fail again (disk full): the file goes anyway
        except OSError:
            pass
        finally:
            if os.path.exists(self.tmp):
                os.unlink(self.tmp)


# ---- one file -----------------------------------------------------------------------------

def _process(args, src: str, coder) -> None:
    dst = "-" if args.mode == "test" else _output_name(args, src)
    if dst == "-" and args.mode == "compress" and sys.stdout.isatty() and not args.force:
        raise Failure("stdout is a terminal, aborting (use -f to write compressed data to it)")
    if src == "-" and sys.stdin.isatty() and not args.force:
        raise Failure("stdin is a terminal, aborting (pipe data in or name a file)")
    infile, size = _open_input(src)
    out = None
    started = time.perf_counter()
    bar, update = _progress(args, size, os.path.basename(src) if src != "-" else "stdin")
    try:
        if args.mode == "test":
            sink = _Discard()
        elif dst == "-":
            sink = sys.stdout.buffer
        else:
            out = AtomicOutput(dst, args.force, _mode_of(src))
            sink = out.file
        counter = _Counter(sink)
        if args.mode == "compress":
            n_in = coder.compress_stream(infile, counter, size=size, progress=update)
            n_out = counter.count
        else:
            n_out = coder.decompress_stream(infile, counter, progress=update)
            n_in = size if size is not None else 0
        if out:
            out.commit()
            out = None
        elif dst == "-" and args.mode != "test":
            sys.stdout.buffer.flush()
    except LstmzipError as exc:
        raise Failure(f"{src}: {exc}") from None
    except OSError as exc:
        raise Failure(f"{src}: {exc.strerror or exc}") from None
    finally:
        if bar:
            bar.close()
        if out:
            out.abort()
        if infile is not sys.stdin.buffer:
            infile.close()
    seconds = time.perf_counter() - started
    raw, packed = (n_in, n_out) if args.mode == "compress" else (n_out, n_in)
    bpb = 8 * packed / raw if raw else 0.0
    label = "OK" if args.mode == "test" else f"-> {dst if dst != '-' else 'stdout'}"
    extra = ""
    if args.mode == "compress" and args.verbosity >= 2:
        methods = ", ".join(f"{k} {v}" for k, v in coder.stats["input_by_method"].items())
        extra = f" [zstd -19 alone: {coder.stats['zstd_size']} bytes; input bytes by method: {methods}]"
    _say(args, f"{src}: {n_in} -> {n_out} bytes ({bpb:.3f} bits/byte), {seconds:.2f} s, "
               f"{raw / 1024 / max(seconds, 1e-9):.1f} KB/s {label}{extra}",
         level=1 if (dst != "-" or args.mode == "test") else 2)
    if args.rm and args.mode != "test" and src != "-" and dst != "-":
        os.unlink(src)


class _Counter(io.RawIOBase):
    """Pass-through writer that counts bytes."""

    def __init__(self, sink):
        self.sink, self.count = sink, 0

    def write(self, data) -> int:
        self.sink.write(data)
        self.count += len(data)
        return len(data)


class _Discard(io.RawIOBase):
    def write(self, data) -> int:
        return len(data)


def cmd_codec(args) -> int:
    if args.decompress and args.mode == "compress":
        args.mode = "decompress"
    files = args.files or ["-"]
    if args.output and len(files) > 1:
        print(f"{PROG}: -o can only be used with a single input file", file=sys.stderr)
        return 1
    if args.rm and args.stdout:
        print(f"{PROG}: --rm cannot be combined with -c/--stdout", file=sys.stderr)
        return 1
    if files.count("-") > 1:
        print(f"{PROG}: stdin can only be read once", file=sys.stderr)
        return 1
    from .codec import Compressor, Decompressor
    try:
        if args.mode == "compress":
            coder = Compressor(args.model, streams=args.streams, backend=args.backend, device=args.device,
                               block_size=args.block_size, threads=args.threads)
        else:
            coder = Decompressor(args.model, backend=args.backend, device=args.device, threads=args.threads)
    except (LstmzipError, ValueError, ImportError) as exc:
        print(f"{PROG}: {exc}", file=sys.stderr)
        return 1
    status = 0
    for src in files:
        try:
            _process(args, src, coder)
        except Failure as exc:
            print(f"{PROG}: {exc}", file=sys.stderr)
            status = 1
        except KeyboardInterrupt:
            print(f"{PROG}: {src}: interrupted", file=sys.stderr)
            return 130
    return status


def cmd_info(args) -> int:
    from .codec import Decompressor
    status = 0
    for src in args.files:
        try:
            infile, size = _open_input(src)
            with infile:
                lines, packed, raw = [], 0, 0
                for index, (header, bh, payload) in enumerate(Decompressor().blocks(infile)):
                    if isinstance(bh, fmt.End):
                        break
                    packed += len(payload)
                    raw += bh.raw_len
                    bpb = 8 * len(payload) / bh.raw_len
                    lines.append(f"  block {index:5d}  {fmt.METHOD_NAMES[bh.method]:6s}  {bh.raw_len:9d} -> "
                                 f"{bh.payload_len:9d}  {bpb:6.3f} bits/byte"
                                 + (f"  streams {bh.streams}" if bh.method == fmt.LSTM else ""))
            total = size if size is not None else packed
            print(f"{src}:")
            print(f"  model     {header.model_name}  sha256 {header.model_sha256.hex()}")
            print(f"  original  {raw} bytes   compressed {total} bytes   "
                  f"{8 * total / raw if raw else 0:.3f} bits/byte   ratio {raw / total if total else 0:.3f}")
            print(f"  blocks    {len(lines)} (block size {header.block_size}, streams "
                  f"{header.streams or 'auto'})")
            if args.verbosity >= 1:
                print("\n".join(lines))
        except LstmzipError as exc:
            print(f"{PROG}: {src}: {exc}", file=sys.stderr)
            status = 1
        except Failure as exc:
            print(f"{PROG}: {exc}", file=sys.stderr)
            status = 1
    return status


# ---- parser -------------------------------------------------------------------------------

def _codec_options(p: argparse.ArgumentParser, mode: str) -> None:
    p.add_argument("files", nargs="*", metavar="FILE", help="input files; none or '-' means stdin -> stdout")
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
                   help="predictor model: a shipped name or a .npz path [Default: default; "
                        "decompress: the model named in the file]")
    if mode == "compress":
        p.add_argument("--streams", type=int, default=0, metavar="S",
                       help="parallel streams per block [Default: from the block size]")
        p.add_argument("--block-size", type=_size, default=None, metavar="BYTES",
                       help="bytes per block, e.g. 1M [Default: 1M]")
    p.add_argument("-T", "--threads", type=int, default=0, metavar="N",
                   help="threads for the numpy engine; 0 = all cores [Default: 0]")
    p.add_argument("--backend", choices=("numpy", "tf"), default="numpy", help="engine backend [Default: numpy]")
    p.add_argument("--device", choices=("auto", "cpu", "gpu"), default="auto",
                   help="device for --backend tf [Default: auto]")
    p.add_argument("-q", "--quiet", dest="verbosity", action="store_const", const=0, help="print only errors")
    p.add_argument("-v", "--verbose", dest="verbosity", action="store_const", const=2, help="more details")
    p.set_defaults(verbosity=1, mode=mode, func=cmd_info if mode == "info" else cmd_codec)


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
    return parser


def main(argv=None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    commands = set(CODEC_COMMANDS) | {"train", "bench", "lab", "corpus"}
    # zstd style: `lstmzip FILE`, `lstmzip -d FILE`, `lstmzip < in > out` mean the compress command.
    if not argv or (argv[0] not in commands and argv[0] not in ("-h", "--help", "-V", "--version")):
        argv.insert(0, "compress")
    args = build_parser().parse_args(argv)
    if getattr(args, "block_size", 1) is None:
        from .codec import DEFAULT_BLOCK_SIZE
        args.block_size = DEFAULT_BLOCK_SIZE
    try:
        return args.func(args)
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        return 1
