"""Blocks coded on a Dask distributed cluster, and many files through one pipeline.

``DaskRunner`` is a runner (see ``parallel.ProcessRunner``): ``Compressor(runner=...)`` and
``Decompressor(runner=...)`` hand it their blocks and it yields the results in input order.
Every block is coded by the same deterministic function wherever it runs, so the output is
byte-identical to a single-process run. ``docs/cluster.md`` has the design; in short:

- **The model travels once.** The client reads the model's file bytes and submits them as one
  task (key ``lstmzip-model-<sha256>``); every block task depends on it, so Dask copies the
  bytes to each worker once (from a peer) and keeps them while the runner lives. The bytes sit
  in the task's spec on the scheduler, so if every holder dies Dask recomputes them (scattered
  data could not be). Each worker parses them once per thread, checks that their sha256 is the
  one the client names, and caches the codec it builds (``_CODECS``). With
  ``ship_model=False`` a worker instead loads the model from its own install (the client's path
  if it exists there, else a shipped model with that sha256) and checks the same.
- **Memory is bounded.** At most ``window`` blocks (default: twice the cluster's threads) are
  in flight; each block's bytes travel inside its task.
- **Failures.** A task on a worker that dies is rescheduled by Dask (up to
  ``distributed.scheduler.allowed-failures`` times); other exceptions are retried
  (``retries``). A bad input (``LstmzipError`` on a worker) is returned, not raised, so it is not
  retried, and becomes one ``LstmzipError`` on the client.

``compress_files`` / ``decompress_files`` stream the blocks of many files through one runner
(any runner: this one, local processes, or this process), writing one output per input via a
temporary file renamed only when that file is complete and verified.
"""

from __future__ import annotations

import collections
import hashlib
import os
import stat
import threading
import time
import uuid
import warnings
from typing import Callable, Iterable, Iterator, List, Optional

from . import format as fmt
from .errors import LstmzipError
from .model import Model, find_by_sha256, resolve
from .output import AtomicOutput

INSTALL_HINT = "pip install 'lstmzip[cluster]'"


def _distributed():
    try:
        import distributed
    except ImportError:
        raise LstmzipError(f"the cluster needs Dask distributed, which is not installed: {INSTALL_HINT}") from None
    return distributed


def check_address(address: str) -> None:
    """One ``LstmzipError`` for an address that cannot name a scheduler: an unknown scheme, or
    a network address without a host and a port. Checked before a ``Client`` exists: Dask's
    Client fails on such an address only after building itself, and its ``__del__`` then waits
    60 s and prints a traceback."""
    from distributed.comm.addressing import get_address_host_port, parse_address
    hint = "expected e.g. tcp://HOST:8786"
    try:
        scheme, location = parse_address(str(address))
        if scheme in ("tcp", "tls", "ws", "wss"):
            host, port = get_address_host_port(address)
            if not host or not 0 < int(port) < 65536:
                raise ValueError("no host or port")
        elif not location:
            raise ValueError("empty address")
        from distributed.comm.registry import get_backend
        get_backend(scheme)                           # an unknown scheme: ValueError
    except (ValueError, TypeError) as exc:
        text = " ".join(str(exc).split()) or type(exc).__name__
        raise LstmzipError(f"not a Dask scheduler address: {address!r} ({text}; {hint})") from None


def connect(address: str, timeout=None):
    """A ``distributed.Client`` on the scheduler at `address`, or one clear ``LstmzipError``.
    `timeout` defaults to Dask's ``distributed.comm.timeouts.connect`` (30 s)."""
    distributed = _distributed()
    check_address(address)
    try:
        extra = {} if timeout is None else {"timeout": timeout}
        return distributed.Client(address, set_as_default=False, **extra)
    except (OSError, TimeoutError, ValueError) as exc:
        text = " ".join(str(exc).split()) or type(exc).__name__
        raise LstmzipError(f"cannot reach the Dask scheduler at {address} ({text})") from None


# ---- the model: a reference the client names, bytes the workers check ----------------------

class ModelRef:
    """What a worker is told about the model: its identity, name and client-side path."""

    def __init__(self, sha256: str, name: str, path: Optional[str]):
        self.sha256, self.name, self.path = sha256, name, path

    def __repr__(self) -> str:
        return f"ModelRef({self.name!r}, {self.sha256[:16]})"


def model_bytes(model: Model) -> bytes:
    """The file bytes whose sha256 is the model's identity."""
    if model.path is not None:
        try:
            with open(model.path, "rb") as f:
                data = f.read()
            if hashlib.sha256(data).hexdigest() == model.sha256:
                return data
        except OSError:
            pass
    data = model.to_bytes()
    if hashlib.sha256(data).hexdigest() != model.sha256:
        raise LstmzipError(f"model {model.name!r}: its file changed since it was loaded; load it again")
    return data


def _model_blob(data: bytes, sha: str) -> bytes:
    """The model task: the bytes, checked where they are first held."""
    if hashlib.sha256(data).hexdigest() != sha:
        raise LstmzipError("model bytes damaged in transit")
    return data


def _where() -> str:
    try:
        from distributed import get_worker
        return f"worker {get_worker().address}"
    except (ImportError, ValueError):
        return "this worker"


def _worker_model(ref: ModelRef, blob: Optional[bytes]) -> Model:
    """The model a worker codes with: the shipped bytes, or its own copy; always of ref's sha256."""
    need = f"model {ref.name!r} (sha256 {ref.sha256[:16]}…)"
    if blob is not None:
        found = Model.from_bytes(blob)
    else:
        found = resolve(ref.path) if ref.path and os.path.isfile(ref.path) else None
        if found is None or found.sha256 != ref.sha256:
            installed = find_by_sha256(ref.sha256, ref.name)
            if installed is not None:
                found = installed
            elif found is None and ref.name in _installed():
                found = resolve(ref.name)
        if found is None:
            raise LstmzipError(f"{_where()} does not have {need}; install it there or let the client ship it")
    if found.sha256 != ref.sha256:
        raise LstmzipError(f"{_where()} has model {found.name!r} with sha256 {found.sha256[:16]}…, "
                           f"but the client names {need}")
    return found


def _installed() -> List[str]:
    from .model import available_models
    return available_models()


# ---- the worker side ------------------------------------------------------------------------

_CODECS: "collections.OrderedDict" = collections.OrderedDict()    # (spec, sha, thread) -> codec
_CODECS_MAX = 8
_LOCK = threading.Lock()


def _codec(factory: Callable, kwargs: dict, ref: Optional[ModelRef], blob: Optional[bytes]):
    """This worker thread's codec for (factory, kwargs, model): built once, then reused."""
    key = (factory.__module__, factory.__qualname__, repr(sorted(kwargs.items())),
           ref.sha256 if ref else None, threading.get_ident())
    with _LOCK:
        codec = _CODECS.get(key)
        if codec is not None:
            _CODECS.move_to_end(key)
            return codec
    model = _worker_model(ref, blob) if ref is not None else None
    codec = factory(model=model, **kwargs)
    with _LOCK:
        _CODECS[key] = codec
        while len(_CODECS) > _CODECS_MAX:
            _CODECS.popitem(last=False)
    return codec


def _run(factory: Callable, kwargs: dict, ref: Optional[ModelRef], blob: Optional[bytes],
         method: str, job: tuple):
    """One block task: (True, result) or (False, the LstmzipError's message) — a bad input is
    an answer, not a failure to retry."""
    try:
        codec = _codec(factory, kwargs, ref, blob)
        return True, getattr(codec, method)(*job)       # coding loops cap BLAS (engine.parallel)
    except LstmzipError as exc:
        return False, str(exc)


def _job_header(job: tuple) -> Optional[fmt.Header]:
    for arg in job:
        if isinstance(arg, fmt.Header):
            return arg
    return None


# ---- the client side ------------------------------------------------------------------------

class DaskRunner:
    """Codes blocks on a Dask distributed cluster; results come back in input order.

    `client` is a ``distributed.Client`` or a scheduler address ("tcp://host:8786"; the runner
    then owns the connection and ``close()`` closes it). `window` bounds the blocks in flight
    (0: twice the cluster's threads when each run starts). `retries` is Dask's per-task retry
    count for exceptions; a task whose worker dies is rescheduled by the scheduler itself.
    `ship_model`: send the model's bytes from the client (True), or let each worker load its own
    copy (False); either way the worker checks its sha256 against the client's.
    """

    def __init__(self, client, window: int = 0, retries: int = 2, ship_model: bool = True):
        self._owns = isinstance(client, str)
        self.client = connect(client) if self._owns else client
        self.window, self.retries, self.ship_model = window, retries, ship_model
        self._blobs = {}              # sha256 -> future of the model's bytes
        self._refs = {}               # sha256 -> ModelRef (decompression: the model in each header)
        self._by_header = {}          # the sha256 a header names (hex; compact: a prefix) -> ModelRef

    def close(self) -> None:
        for future in self._blobs.values():
            future.release()
        self._blobs.clear()
        if self._owns:
            self.client.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def threads(self) -> int:
        return sum(self.client.nthreads().values())

    def _ref(self, model) -> ModelRef:
        model = resolve(model)
        if model.sha256 not in self._refs:
            self._refs[model.sha256] = ModelRef(model.sha256, model.name,
                                                os.path.abspath(model.path) if model.path else None)
        if self.ship_model and model.sha256 not in self._blobs:
            self._blobs[model.sha256] = self.client.submit(
                _model_blob, model_bytes(model), model.sha256, key=f"lstmzip-model-{model.sha256}", pure=False)
        return self._refs[model.sha256]

    def _header_ref(self, header: fmt.Header) -> Optional[ModelRef]:
        """Decompression without a model argument: the client's copy of the header's model."""
        sha = header.model_sha256.hex()          # (a compact model file: the first 16 digits)
        if sha not in self._by_header:
            model = find_by_sha256(sha, header.model_name)
            if model is None:
                return None                  # the worker looks for it itself (and says so if it can't)
            self._by_header[sha] = self._ref(model)
        return self._by_header[sha]

    def ordered(self, factory: Callable, kwargs: dict, method: str, jobs: Iterable[tuple]) -> Iterator:
        """Yield ``factory(**kwargs).method(*job)`` for each job, in order, computed on the cluster
        with at most `window` jobs in flight."""
        distributed = _distributed()
        kwargs = dict(kwargs)
        model = kwargs.pop("model", None)
        ref = self._ref(model) if model is not None else None
        window = self.window or max(2, 2 * self.threads())
        run = f"lstmzip-{method}-{uuid.uuid4().hex[:8]}"
        pending = collections.deque()
        try:
            for index, job in enumerate(jobs):
                job_ref = ref
                if job_ref is None and (header := _job_header(job)) is not None:
                    job_ref = self._header_ref(header)
                blob = self._blobs.get(job_ref.sha256) if job_ref is not None else None
                with warnings.catch_warnings():       # a block travels inside its task, by design
                    warnings.filterwarnings("ignore", message="Sending large graph")
                    future = self.client.submit(_run, factory, kwargs, job_ref, blob, method, job,
                                                key=f"{run}-{index}", pure=False, retries=self.retries)
                pending.append((index, future))
                if len(pending) >= window:
                    yield self._result(distributed, *pending.popleft())
            while pending:
                yield self._result(distributed, *pending.popleft())
        finally:
            if pending:
                futures = [f for _, f in pending]
                try:
                    self.client.cancel(futures)
                except Exception:       # the connection may be what failed
                    pass

    @staticmethod
    def _result(distributed, index: int, future):
        import asyncio
        import concurrent.futures
        try:
            ok, value = future.result()
        except distributed.KilledWorker:
            raise LstmzipError(f"block {index}: the workers running it kept dying (out of memory, or "
                               f"killed); nothing was written as complete") from None
        except LstmzipError:
            raise
        except (concurrent.futures.CancelledError, asyncio.CancelledError, distributed.comm.CommClosedError,
                OSError) as exc:
            raise LstmzipError(f"block {index}: lost the Dask cluster ({type(exc).__name__}: "
                               f"{' '.join(str(exc).split())})") from None
        except Exception as exc:
            raise LstmzipError(f"block {index} failed on the cluster ({type(exc).__name__}: "
                               f"{' '.join(str(exc).split())})") from None
        finally:
            future.release()
        if not ok:
            raise LstmzipError(value)
        return value


# ---- many files: one pipeline of blocks, one output per input -------------------------------

class Guarded:
    """A codec whose ``call(method, *args)`` returns (True, result) or (False, error message): a
    bad file fails alone instead of ending the stream of blocks of every file."""

    def __init__(self, codec_class: Callable = None, codec=None, **kwargs):
        self.codec = codec if codec is not None else codec_class(**kwargs)

    def call(self, method: str, *args):
        try:
            return True, getattr(self.codec, method)(*args)
        except LstmzipError as exc:
            return False, str(exc)


class _Here:
    """The runner for one process: the client's own codec, no copies."""

    def __init__(self, codec):
        self.guarded = Guarded(codec=codec)

    def ordered(self, factory, kwargs, method, jobs):
        for job in jobs:
            yield getattr(self.guarded, method)(*job)


class _Discard:
    def __init__(self):
        self.file = self

    def write(self, data) -> int:
        return len(data)

    def commit(self) -> None:
        pass

    def abort(self) -> None:
        pass


class FileResult:
    """What happened to one input: ``dst`` (None when testing), bytes in and out, seconds, and
    ``error`` (a one-line message) or None."""

    def __init__(self, src: str, dst: Optional[str]):
        self.src, self.dst = src, dst
        self.n_in = self.n_out = 0
        self.seconds = 0.0
        self.error: Optional[str] = None
        self.stats = {"zstd_size": 0, "input_by_method": {}}


class _Item:
    def __init__(self, src: str, dst: Optional[str]):
        self.result = FileResult(src, dst)
        self.out = None
        self.sent = self.received = 0
        self.reading = True
        self.total, self.sha = 0, hashlib.sha256()
        self.end = None               # decompressing: the last end record read
        self.order = collections.deque()     # blocks sent (None) and members ended ((header, end))
        self.member_total, self.member_sha = 0, hashlib.sha256()
        self.frame = None             # compressing: the container around the blocks (codec.Framing)
        self.size = None
        self.started = time.perf_counter()


def _raise_unreadable(path: str, exc: OSError) -> None:
    raise LstmzipError(f"{path}: cannot read directory ({exc.strerror or exc})")


def expand(paths, compressing: bool, onerror: Optional[Callable[[str, OSError], None]] = None) -> List[str]:
    """Input paths with every directory replaced by the regular files under it, sorted (like
    ``-r``): when compressing, files already ending in .lstmz are left out; when decompressing
    only those are taken. A directory (or entry) that cannot be read is never skipped silently:
    ``onerror(path, exc)`` is called for it (the command line prints a line and exits 1 at the
    end); by default it raises ``LstmzipError``."""
    if isinstance(paths, (str, bytes, os.PathLike)):
        paths = [paths]
    onerror = onerror or _raise_unreadable
    out = []
    for path in map(os.fspath, paths):
        if not os.path.isdir(path):
            out.append(path)
            continue
        for root, dirs, files in os.walk(path, onerror=lambda exc: onerror(exc.filename or path, exc)):
            dirs.sort()
            for name in sorted(files):
                full = os.path.join(root, name)
                try:
                    mode = os.lstat(full).st_mode
                except OSError as exc:                # gone or unreadable since the listing
                    onerror(full, exc)
                    continue
                if not stat.S_ISREG(mode):
                    continue                          # links, FIFOs, sockets: like gzip -r
                if name.endswith(fmt.SUFFIX) == compressing:
                    continue
                out.append(full)
    return out


def _output_name(src: str, mode: str) -> Optional[str]:
    if mode == "test":
        return None
    if mode == "compress":
        return src + fmt.SUFFIX
    if not src.endswith(fmt.SUFFIX) or not os.path.basename(src[: -len(fmt.SUFFIX)]):
        raise LstmzipError(f"unknown suffix (expected {fmt.SUFFIX})")
    return src[: -len(fmt.SUFFIX)]


def run_files(mode: str, paths: List[str], coder, runner=None, force: bool = False,
              on_done: Optional[Callable[[FileResult], None]] = None) -> List[FileResult]:
    """Compress, decompress or test (`mode`) each path with `coder` (a Compressor or a
    Decompressor), the blocks of all files in one ordered stream through `runner` (None: this
    process). Returns a FileResult per path, in order; `on_done` is called as each one ends. An
    input that fails leaves no output; the others go on. An error of the runner itself (the
    cluster lost) aborts every unfinished output and is raised."""
    from .codec import Compressor, Decompressor
    compressing = mode == "compress"
    items: List[_Item] = []
    tags = collections.deque()              # the item of each job sent, in order
    open_items = []
    last_done = 0.0

    def settle(item: _Item) -> None:
        """Verify each member (concatenated files) whose blocks have all come back."""
        while item.order and item.order[0] is not None:
            header, end = item.order.popleft()
            end.verify(header, item.member_total, item.member_sha.digest())
            item.member_total, item.member_sha = 0, hashlib.sha256()

    def finish(item: _Item, error: Optional[str] = None) -> None:
        res = item.result
        if res.error is not None:
            return
        try:
            if error is None and not compressing:
                settle(item)
                if item.end is None or item.order:
                    raise LstmzipError("truncated file (ends inside a member)")
            if error is None and compressing:
                if item.size is not None and item.total != item.size:
                    error = f"input changed while reading ({item.size} bytes expected, {item.total} read)"
                else:
                    end = item.frame.end(item.total, item.sha.digest())    # (codec.Framing)
                    item.out.file.write(end)
                    res.n_out += len(end)
            if error is None:
                item.out.commit()
        except LstmzipError as exc:
            error = str(exc)
        except OSError as exc:
            error = exc.strerror or str(exc)
        if error is not None:
            res.error = error
            if item.out is not None:
                item.out.abort()
        if item in open_items:
            open_items.remove(item)
        nonlocal last_done          # files overlap in the stream: each is timed from when the
        now = time.perf_counter()   # one before it ended (or from its opening, if later)
        res.seconds, last_done = now - max(item.started, last_done), now
        if on_done:
            on_done(res)

    def maybe_finish(item: _Item) -> None:
        if not item.reading and item.received == item.sent and item.result.error is None:
            finish(item)

    def open_item(src: str):
        """Open one input and its output; (item, input file) or None when it failed at once."""
        item = _Item(src, None)
        items.append(item)
        infile = None
        try:
            item.result.dst = dst = _output_name(src, mode)
            if os.path.isdir(src):
                raise LstmzipError("is a directory")
            infile = open(src, "rb")
            st = os.fstat(infile.fileno())
            item.size = st.st_size if stat.S_ISREG(st.st_mode) else None
            if dst is None:
                item.out = _Discard()
            else:
                if stat.S_ISREG(st.st_mode) and os.path.exists(dst) and os.path.samefile(src, dst):
                    raise LstmzipError("input and output are the same file")
                item.out = AtomicOutput(dst, force, stat.S_IMODE(st.st_mode) if stat.S_ISREG(st.st_mode) else None)
            open_items.append(item)
            return item, infile
        except (LstmzipError, OSError) as exc:
            if infile is not None:
                infile.close()
            item.reading = False
            finish(item, str(exc) if isinstance(exc, LstmzipError) else (exc.strerror or str(exc)))
            return None

    def jobs():
        checker = coder if not compressing else None
        for src in paths:
            opened = open_item(src)
            if opened is None:
                continue
            item, infile = opened
            try:
                with infile:
                    if compressing:
                        item.frame = coder.framing(item.size)
                        block = infile.read(coder.block_size)
                        chosen = coder.choose_model(block).sha256 if coder.choice else None
                        head = item.frame.start()            # (names the model chosen)
                        item.out.file.write(head)
                        item.result.n_out += len(head)
                        while item.result.error is None and block:
                            item.total += len(block)
                            item.sha.update(block)
                            item.sent += 1
                            tags.append(item)
                            yield "compress_block_with_stats", block, chosen
                            block = infile.read(coder.block_size)
                    else:
                        member, announced, found, index = None, 0, set(), 0
                        for header, bh, payload in coder.blocks(infile, members=True):
                            if header is not member:            # concatenated files: a new member
                                member, announced = header, 0
                            if isinstance(bh, fmt.End):
                                item.end = bh
                                item.order.append((header, bh))
                                continue
                            if header.size is not None and announced + bh.raw_len > header.size:
                                raise LstmzipError(f"corrupted block {index} (more data than the header announced)")
                            announced += bh.raw_len
                            if bh.method in fmt.MODEL_METHODS and header.model_sha256 not in found:
                                checker._find_model(header)     # a missing model: one clear error
                                found.add(header.model_sha256)
                            item.sent += 1
                            item.order.append(None)
                            tags.append(item)
                            yield "decode_block", header, bh, payload, index
                            index += 1
                            if item.result.error is not None:
                                break
                    item.result.n_in = item.total if compressing else infile.tell()
            except (LstmzipError, OSError) as exc:
                item.reading = False
                finish(item, str(exc) if isinstance(exc, LstmzipError) else (exc.strerror or str(exc)))
                continue
            item.reading = False
            maybe_finish(item)

    if runner is None:
        runner = _Here(coder)
    if compressing:
        factory_kwargs = dict(codec_class=Compressor, **coder._worker_kwargs)
    else:
        factory_kwargs = dict(codec_class=Decompressor, **coder._worker_kwargs)
    try:
        for ok, value in runner.ordered(Guarded, factory_kwargs, "call", jobs()):
            item = tags.popleft()
            item.received += 1
            if item.result.error is not None:
                continue
            if not ok:
                finish(item, value)
                continue
            try:
                if compressing:
                    coded, n, stats = value
                    coded = item.frame.block(coded)
                    item.out.file.write(coded)
                    item.result.n_out += len(coded)
                    item.result.stats["zstd_size"] += stats["zstd_size"]
                    by = item.result.stats["input_by_method"]
                    for name, k in stats["input_by_method"].items():
                        by[name] = by.get(name, 0) + k
                else:
                    settle(item)                 # the members that ended before this block
                    item.order.popleft()
                    item.out.file.write(value)
                    item.total += len(value)
                    item.member_total += len(value)
                    item.member_sha.update(value)
                    item.result.n_out += len(value)
            except LstmzipError as exc:
                finish(item, str(exc))
                continue
            except OSError as exc:
                finish(item, exc.strerror or str(exc))
                continue
            maybe_finish(item)
    finally:
        for item in list(open_items):          # the runner failed (or an interrupt): nothing partial stays
            item.out.abort()
            open_items.remove(item)
    return [item.result for item in items]


def _runner_for(client, workers: int, window: int, ship_model: bool):
    """(runner, close): the client's cluster, local processes, or None (this process)."""
    if client is None and workers == 1:
        try:
            from distributed import default_client
            client = default_client()
        except (ImportError, ValueError):
            client = None
    if client is not None:
        runner = DaskRunner(client, window=window, ship_model=ship_model)
        return runner, runner.close
    if workers > 1:
        from .parallel import ProcessRunner
        return ProcessRunner(workers), lambda: None
    return None, lambda: None


def _finish_files(results: List[FileResult], errors: str) -> List[Optional[str]]:
    failed = [r for r in results if r.error is not None]
    if failed and errors == "raise":
        more = f" (and {len(failed) - 1} more input{'s' if len(failed) > 2 else ''} failed)" if len(failed) > 1 else ""
        raise LstmzipError(f"{failed[0].src}: {failed[0].error}{more}")
    return [r.dst if r.error is None else None for r in results]


def compress_files(paths, client=None, *, level: Optional[int] = None, model=None, block_size: int = 0,
                   streams: int = 0, adapt: Optional[bool] = None, backend: str = "numpy",
                   workers: int = 1, force: bool = False, errors: str = "raise", window: int = 0,
                   ship_model: bool = True) -> List[Optional[str]]:
    """Compress each file (directories: every regular file under them, recursively) to
    FILE.lstmz beside it, byte-identical to ``lstmzip compress FILE``; returns the output paths
    in input order.

    `client`: a ``distributed.Client`` or a scheduler address; None uses Dask's default client
    if there is one, else `workers` local processes (1: this process). The blocks of all files
    share one stream, so many small files keep every worker busy. `errors`: "raise" (the first
    failure is raised after every input was tried; the others are written) or "skip" (a failed
    input's place in the returned list is None). A failed input never leaves an output.
    """
    from .codec import DEFAULT_LEVEL, Compressor
    if errors not in ("raise", "skip"):
        raise ValueError("errors must be 'raise' or 'skip'")
    files = expand(paths, compressing=True)
    runner, close = _runner_for(client, workers, window, ship_model)
    try:
        coder = Compressor(model, streams=streams, backend=backend, block_size=block_size,
                           level=DEFAULT_LEVEL if level is None else level, adapt=adapt)
        results = run_files("compress", files, coder, runner, force=force)
    finally:
        close()
    return _finish_files(results, errors)


def decompress_files(paths, client=None, *, model=None, backend: str = "numpy", workers: int = 1,
                     force: bool = False, errors: str = "raise", window: int = 0,
                     ship_model: bool = True) -> List[Optional[str]]:
    """Decompress each FILE.lstmz (directories: every .lstmz file under them) to FILE, verifying
    every checksum; returns the output paths in input order. Arguments as ``compress_files``."""
    from .codec import Decompressor
    if errors not in ("raise", "skip"):
        raise ValueError("errors must be 'raise' or 'skip'")
    files = expand(paths, compressing=False)
    runner, close = _runner_for(client, workers, window, ship_model)
    try:
        coder = Decompressor(model, backend=backend)
        results = run_files("decompress", files, coder, runner, force=force)
    finally:
        close()
    return _finish_files(results, errors)
