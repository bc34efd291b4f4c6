"""Independent blocks coded in several processes, results in input order (``--workers N``).

Every block is coded by the same deterministic function in whichever process gets it, so the
output is byte-identical to a single-process run. At most ``2 * workers`` blocks are in flight
(read but not yet written), which bounds memory to a few blocks per worker. Each worker builds
its codec once (the model is sent to it once, at start) and codes with one engine thread; the
workers themselves are the parallelism.
"""

from __future__ import annotations

import collections
import multiprocessing
import multiprocessing.connection
import os
import threading
import time
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import Callable, Iterable, Iterator

from .errors import LstmzipError

_codec = None            # this worker's Compressor or Decompressor
ORPHAN_POLL_S = 0.5      # a worker notices its parent's death within this (the fallback's poll)


def _exit_with_parent() -> None:
    """End this worker when the process that started it dies, even by SIGKILL (which runs no
    cleanup there): a daemon thread waits on multiprocessing's parent sentinel (a pipe whose
    other end closes when the parent dies), or where there is none polls the parent pid. Not
    prctl(PR_SET_PDEATHSIG): it fires when the *thread* that started the worker ends, and a
    program may start the pool from a thread that ends first."""
    parent = multiprocessing.parent_process()
    sentinel = getattr(parent, "sentinel", None)
    ppid = os.getppid()

    def watch() -> None:
        if sentinel is not None:
            try:
                multiprocessing.connection.wait([sentinel])
            except OSError:
                pass
        else:
            while os.getppid() == ppid:
                time.sleep(ORPHAN_POLL_S)
        os._exit(1)                  # nothing to save: the parent wanted this worker's results

    threading.Thread(target=watch, name="lstmzip-orphan-watch", daemon=True).start()


def _init(factory: Callable, kwargs: dict) -> None:
    global _codec
    _exit_with_parent()
    _codec = factory(**kwargs)


def _call(method: str, args: tuple):
    return getattr(_codec, method)(*args)


def ordered(factory: Callable, kwargs: dict, method: str, jobs: Iterable[tuple], workers: int) -> Iterator:
    """Yield ``factory(**kwargs).method(*job)`` for each job, in order, computed by `workers`
    processes with at most 2 * workers jobs in flight."""
    ctx = multiprocessing.get_context("spawn")     # no fork: the parent may hold threads (BLAS, engine)
    window = 2 * workers
    pool = ProcessPoolExecutor(workers, mp_context=ctx, initializer=_init, initargs=(factory, kwargs))
    try:
        pending = collections.deque()
        for job in jobs:
            pending.append(pool.submit(_call, method, job))
            if len(pending) >= window:
                yield pending.popleft().result()
        while pending:
            yield pending.popleft().result()
    except BrokenProcessPool:
        raise LstmzipError("a worker process died (out of memory, or killed); nothing was written "
                           "as complete") from None
    finally:
        pool.shutdown(wait=True, cancel_futures=True)     # on an error: drop what has not started


class ProcessRunner:
    """Codes blocks in local worker processes. A runner is what ``Compressor(runner=...)`` and
    ``Decompressor(runner=...)`` hand their blocks to: ``ordered(factory, kwargs, method, jobs)``
    yields ``factory(**kwargs).method(*job)`` for each job, in order (see ``cluster.py`` for
    the same on a cluster)."""

    def __init__(self, workers: int):
        self.workers = workers

    def ordered(self, factory: Callable, kwargs: dict, method: str, jobs: Iterable[tuple]) -> Iterator:
        return ordered(factory, kwargs, method, jobs, self.workers)
