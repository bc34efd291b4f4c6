"""Measuring: wall time, tracemalloc peaks, the machine, and the GEMM roofline.

Definitions used by every benchmark (``lstmzip bench`` and ``bench/codec_speed.py``):

* speed       original bytes / 1024 / wall seconds (KB/s), for compression and decompression alike.
* peak memory ``tracemalloc`` peak of the call, above what was allocated before it. It sees every
              allocation made through Python's allocators: Python objects, numpy arrays, and the
              ``PyMem_RawMalloc`` buffers of the stdlib's ``lzma``/``bz2``. It does not see memory a C
              library gets from plain ``malloc`` (zstd's contexts): baselines add what the library
              reports for that (``ZstdCompressor.memory_size()``). It counts memory allocated, which
              can exceed memory touched (xz -9e allocates ~674 MB whatever the input).
* roofline    the engine's GEMMs (one step of S streams: ``X @ W_l`` for each layer and ``h @ w_out``)
              timed on their own, in float32, on the same backend, in the same run; the bytes/s the
              codec would reach if nothing but those GEMMs took time: ``GEMM FLOP/s / flops_per_byte``.
"""

from __future__ import annotations

import datetime
import os
import platform
import time
import tracemalloc
from typing import Any, Callable, Dict, List, Tuple

import numpy as np


def load_average() -> List[float]:
    """1, 5 and 15 minute load averages (a loaded machine depresses every timing)."""
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except OSError:
        return []


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


BLAS_ENV = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")


def blas_info() -> Dict[str, Any]:
    """numpy's BLAS as numpy reports it, and the thread settings in the environment."""
    info: Dict[str, Any] = {"numpy": np.__version__}
    try:
        import warnings
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            deps = np.show_config(mode="dicts").get("Build Dependencies", {})
        blas = deps.get("blas", {})
        info["blas"] = f"{blas.get('name', '?')} {blas.get('version', '')}".strip()
        info["blas_config"] = blas.get("openblas configuration", "")
    except Exception:                 # older numpy: no dict mode
        info["blas"] = "unknown"
    for var in BLAS_ENV:
        if os.environ.get(var):
            info[var] = os.environ[var]
    return info


def machine_info() -> Dict[str, Any]:
    return {
        "cpu": cpu_model(),
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC"),
        "load_average": load_average(),
        **blas_info(),
    }


def traced(fn: Callable[[], Any]) -> Tuple[Any, float, int]:
    """(fn(), wall seconds, tracemalloc peak bytes above the level before the call)."""
    started_here = not tracemalloc.is_tracing()
    if started_here:
        tracemalloc.start()
    try:
        base = tracemalloc.get_traced_memory()[0]
        tracemalloc.reset_peak()
        t0 = time.perf_counter()
        value = fn()
        seconds = time.perf_counter() - t0
        peak = tracemalloc.get_traced_memory()[1] - base
    finally:
        if started_here:
            tracemalloc.stop()
    return value, seconds, max(peak, 0)


def best_time(fn: Callable[[], Any], min_total: float = 0.3, max_runs: int = 5) -> Tuple[Any, float, float, int]:
    """(value, fastest wall seconds, CPU seconds of that run, runs): repeat fn until min_total seconds
    or max_runs runs. CPU time (all threads of the process) helps read timings on a loaded machine."""
    best, cpu, total, runs, value = float("inf"), 0.0, 0.0, 0, None
    while runs < max_runs and (runs == 0 or total < min_total):
        c0, t0 = time.process_time(), time.perf_counter()
        value = fn()
        dt, dc = time.perf_counter() - t0, time.process_time() - c0
        if dt < best:
            best, cpu = dt, dc
        total, runs = total + dt, runs + 1
    return value, best, cpu, runs


def kbps(nbytes: int, seconds: float) -> float:
    return nbytes / 1024 / seconds if seconds > 0 else float("inf")


# ---- the GEMM roofline ---------------------------------------------------------------------

def gemm_shapes(model, streams: int) -> List[Tuple[int, int, int]]:
    """(M, K, N) of every matrix product in one engine step of `streams` streams."""
    return [(streams, w.shape[0], w.shape[1]) for w in model.weights] + [(streams, model.w_out.shape[0], 256)]


class Roofline:
    """GEMM time per engine step, per stream count, for one model and backend.

    ``seconds_per_step(S)`` times the step's float32 GEMMs alone (best of several batches, and of
    every later ``refresh``);
    ``bytes_per_s(S) = S / seconds_per_step(S)`` equals ``GEMM FLOP/s / model.flops_per_byte``.
    """

    def __init__(self, model, backend: str = "numpy", device: str = "auto", min_time: float = 0.05):
        self.model, self.backend, self.device, self.min_time = model, backend, device, min_time
        self._cache: Dict[int, float] = {}
        self._tf = None

    def _gemm_fn(self, streams: int) -> Callable[[], Any]:
        rng = np.random.default_rng(0)
        shapes = gemm_shapes(self.model, streams)
        ws = [w.astype(np.float32) for w in self.model.weights] + [self.model.w_out.astype(np.float32)]
        xs = [rng.integers(-128, 128, (m, k)).astype(np.float32) for m, k, _ in shapes]
        if self.backend == "numpy":
            pairs = list(zip(xs, ws))
            return lambda: [x @ w for x, w in pairs]
        from ..tflog import import_tensorflow
        tf = import_tensorflow()                                 # only for --backend tf
        from ..engine_tf import _pick_device
        with tf.device(_pick_device(tf, self.device)):
            txs = [tf.constant(x) for x in xs]
            tws = [tf.constant(w) for w in ws]

        @tf.function
        def step():
            return tf.add_n([tf.reduce_sum(tf.linalg.matmul(x, w)) for x, w in zip(txs, tws)])

        return lambda: step().numpy()                           # .numpy() waits for the device

    def seconds_per_step(self, streams: int, refresh: bool = False) -> float:
        """GEMM seconds of one step of `streams` streams: the best of every measurement so far.
        ``refresh`` times it again (load on a shared machine comes in bursts; the best is the machine's)."""
        streams = max(1, int(streams))
        if streams not in self._cache or refresh:
            fn = self._gemm_fn(streams)
            fn()                                                 # warm up (BLAS threads, TF tracing)
            reps = 1
            while True:                                          # batch size: >= min_time per batch
                t0 = time.perf_counter()
                for _ in range(reps):
                    fn()
                if time.perf_counter() - t0 >= self.min_time or reps >= 1 << 16:
                    break
                reps *= 4
            best = self._cache.get(streams, float("inf"))
            for _ in range(5):
                t0 = time.perf_counter()
                for _ in range(reps):
                    fn()
                best = min(best, (time.perf_counter() - t0) / reps)
            self._cache[streams] = best
        return self._cache[streams]

    def gflops(self, streams: int) -> float:
        return streams * self.model.flops_per_byte / self.seconds_per_step(streams) / 1e9

    def bytes_per_s(self, streams: int) -> float:
        return streams / self.seconds_per_step(streams)

    def seconds_for(self, n: int, streams: int) -> float:
        """GEMM-only time to code one block of n bytes in `streams` streams (ceil(n / S) steps)."""
        s = max(1, min(streams, n))
        return -(-n // s) * self.seconds_per_step(s)

    def describe(self) -> List[Dict[str, Any]]:
        return [{"streams": s, "shapes": gemm_shapes(self.model, s), "seconds_per_step": t,
                 "gflops": round(self.gflops(s), 2), "bytes_per_s": round(self.bytes_per_s(s), 1)}
                for s, t in sorted(self._cache.items())]
