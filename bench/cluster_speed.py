#!/usr/bin/env python3
"""Speed-up of `--workers N` and of a Dask cluster on this machine, and Dask's own costs.

    python bench/cluster_speed.py [--quick] [--levels 1,6]

Writes bench/results/cluster_speed.json and bench/results/cluster_speed.md (a markdown
fragment for README.md § "Larger than one machine").

For each level: one input (enwik6, or this README repeated when the shared corpora are absent)
cut into 4 blocks (small blocks: few streams per block, so fewer KB/s than 1-2 MiB blocks;
the ratio between rows is what this measures), compressed by
  - one process, default threads (all cores): the single-process baseline of the table;
  - `--workers 2` (local processes, parallel.py; the pool is started inside each run), as
    shipped and with OPENBLAS_NUM_THREADS=1 in the workers' environment;
  - a Dask LocalCluster on loopback with 1 and with 2 worker processes of 1 thread each
    (started once; each run is warm: the workers already hold the model).
Every output is checked to be byte-identical to the baseline's. Also measured: the cluster's
start-up (LocalCluster, client connect, the first block on a fresh worker: import + model),
and the per-task overhead (300 one-kilobyte "stored" blocks through DaskRunner with the default
window and with 64 in flight, and through the process pool, against the same blocks coded in
this process).

The machine is shared: every row records the 1-minute load average before and after it.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(REPO))
ENWIK6 = REPO.parent / "shared" / "corpora" / "enwik" / "enwik6"


def load() -> float:
    return round(os.getloadavg()[0], 2)


def cpu_name() -> str:
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def sample(n: int):
    if ENWIK6.is_file():
        return ENWIK6.read_bytes()[:n], f"enwik6[:{n}]"
    text = (REPO / "README.md").read_bytes()
    return (text * (n // len(text) + 1))[:n], f"README.md repeated to {n} bytes"


def timed(fn):
    before = os.getloadavg()[0]
    t = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - t, round(before, 2), load()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="smaller inputs (a smoke run)")
    ap.add_argument("--levels", default="1,6")
    ap.add_argument("--out", default=str(HERE / "results"))
    ap.add_argument("--markdown", action="store_true", help="only rewrite the .md from the .json")
    args = ap.parse_args()
    if args.markdown:
        name = Path(args.out) / ("cluster_speed" + ("_quick" if args.quick else ""))
        name.with_suffix(".md").write_text(markdown(json.loads(name.with_suffix(".json").read_text())))
        return 0

    import distributed

    from lstmzip.cluster import DaskRunner
    from lstmzip.codec import Compressor
    from lstmzip.model import resolve
    from lstmzip.parallel import ProcessRunner

    model = resolve("default")
    levels = [int(x) for x in args.levels.split(",")]
    # (input bytes, block size) per level: 4 blocks each, a run of about 10-40 s on one core
    sizes = {1: (400_000, 100_000), 6: (200_000, 50_000)}
    if args.quick:
        sizes = {1: (40_000, 10_000), 6: (20_000, 5_000)}
    started_at = datetime.datetime.now(datetime.timezone.utc)
    report = {"machine": {"cpu": cpu_name(), "cores": os.cpu_count(), "python": platform.python_version(),
                          "dask": distributed.__version__, "platform": platform.platform()},
              "date": started_at.strftime("%Y-%m-%d %H:%M UTC"), "load_before": list(os.getloadavg()),
              "model": model.name, "runs": [], "startup": {}, "overhead": {}}

    # ---- start-up ----
    t = time.perf_counter()
    cluster = distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                                       dashboard_address=None, silence_logs=40)
    report["startup"]["local_cluster_2_workers_s"] = round(time.perf_counter() - t, 2)
    t = time.perf_counter()
    client = distributed.Client(cluster.scheduler_address, set_as_default=False)
    report["startup"]["client_connect_s"] = round(time.perf_counter() - t, 3)
    try:
        runner = DaskRunner(client)
        t = time.perf_counter()
        Compressor(model, level=1, block_size=4096, runner=runner).compress(b"warm " * 100)
        report["startup"]["first_block_on_fresh_workers_s"] = round(time.perf_counter() - t, 2)
        t = time.perf_counter()
        Compressor(model, level=1, block_size=4096, runner=runner).compress(b"warm " * 100)
        report["startup"]["same_block_warm_s"] = round(time.perf_counter() - t, 3)

        # ---- per-task overhead: tiny stored blocks ----
        n_tasks, tiny = 300, [os.urandom(1024) for _ in range(300)]
        kwargs = dict(model=model, methods=("stored",), threads=1)

        def through(r):
            return list(r.ordered(Compressor, kwargs, "compress_block_with_stats", ((b,) for b in tiny)))

        here = Compressor(**kwargs)
        _, s_here, *_ = timed(lambda: [here.compress_block_with_stats(b) for b in tiny])
        _, s_dask, *_ = timed(lambda: through(runner))
        _, s_pool, *_ = timed(lambda: through(ProcessRunner(2)))
        deep = DaskRunner(client, window=64)
        _, s_deep, *_ = timed(lambda: through(deep))
        deep.close()
        report["overhead"] = {
            "tasks": n_tasks, "block_bytes": 1024,
            "in_process_ms_per_block": round(1000 * s_here / n_tasks, 3),
            "dask_2_workers_ms_per_task": round(1000 * s_dask / n_tasks, 2),
            "dask_2_workers_window_64_ms_per_task": round(1000 * s_deep / n_tasks, 2),
            "process_pool_2_workers_ms_per_task": round(1000 * s_pool / n_tasks, 2),
            "process_pool_note": "includes starting the 2-process pool (spawn, import, model) once",
        }
        print("overhead", report["overhead"], flush=True)

        # ---- speed ----
        for level in levels:
            n, block = sizes[level]
            data, what = sample(n)
            base = None

            def row(label, workers, make):
                nonlocal base
                comp = make()
                out, secs, l0, l1 = timed(lambda: comp.compress(data))
                if base is None and label == "1 process":
                    base = (out, secs)
                rec = {"level": level, "input": what, "bytes": n, "block_size": block, "blocks": -(-n // block),
                       "config": label, "workers": workers, "seconds": round(secs, 2),
                       "kb_per_s": round(n / 1024 / secs, 1), "load_before": l0, "load_after": l1,
                       "compressed": len(out)}
                report["runs"].append(rec)
                print(rec, flush=True)
                return out

            Compressor(model, level=level, block_size=4096).compress(data[:8192])   # warm, as the workers are
            row("1 process", 1, lambda: Compressor(model, level=level, block_size=block))
            outs = [row("--workers 2", 2, lambda: Compressor(model, level=level, block_size=block, workers=2))]
            # the same with the worker processes' OpenBLAS at one thread (inherited environment):
            # engine.parallel() leaves OpenBLAS unlimited at threads=1, and its threads busy-wait
            os.environ["OPENBLAS_NUM_THREADS"] = "1"
            try:
                outs.append(row("--workers 2, OPENBLAS_NUM_THREADS=1", 2,
                                lambda: Compressor(model, level=level, block_size=block, workers=2)))
            finally:
                del os.environ["OPENBLAS_NUM_THREADS"]
            for k in (1, 2):
                cluster.scale(k)
                client.wait_for_workers(k, timeout=120)
                while len(client.nthreads()) != k:
                    time.sleep(0.2)
                # warm the (re)started workers on this level, then measure
                Compressor(model, level=level, block_size=4096, runner=runner).compress(data[:8192])
                outs.append(row(f"Dask LocalCluster, {k} worker{'s' if k > 1 else ''}", k,
                                lambda: Compressor(model, level=level, block_size=block, runner=runner)))
            for out in outs:
                assert out == base[0], "output differs from the single-process bytes"
            for rec in report["runs"]:
                if rec["level"] == level:
                    rec["speedup"] = round(base[1] / rec["seconds"], 2)
            mem = client.run(lambda: __import__("psutil").Process().memory_info().rss)
            report.setdefault("worker_rss_mb", {})[f"level {level}"] = \
                {w: round(v / 2**20) for w, v in mem.items()}
        runner.close()
    finally:
        client.close()
        cluster.close()
    report["load_after"] = list(os.getloadavg())

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    name = "cluster_speed" + ("_quick" if args.quick else "")
    (out / f"{name}.json").write_text(json.dumps(report, indent=1) + "\n")
    (out / f"{name}.md").write_text(markdown(report))
    print(markdown(report))
    return 0


def markdown(r: dict) -> str:
    m, s, o = r["machine"], r["startup"], r["overhead"]
    lines = [f"Measured by `python bench/cluster_speed.py` on {m['cpu']}, {m['cores']} cores (shared with "
             f"other work), {r['date']}, Python {m['python']}, Dask {m['dask']}, model `{r['model']}`; "
             f"load average (1/5/15 min) {fmt(r['load_before'])} before, {fmt(r['load_after'])} after.",
             "",
             "Each input is cut into 4 blocks; every output is byte-identical to the 1-process one; speed-up "
             "is against that row. `--workers 2` starts its process pool inside each run (spawn, imports, "
             "model); the Dask rows are warm (cluster started once, workers already hold the model)."
             + busy(r),
             "",
             "| level | input | config | seconds | KB/s | speed-up | load before → after |",
             "|---|---|---|---:|---:|---:|---|"]
    for x in r["runs"]:
        lines.append(f"| -{x['level']} | {x['bytes'] // 1000} KB, {x['blocks']} blocks of {x['block_size'] // 1000} KB "
                     f"| {x['config']} | {x['seconds']:.1f} | {x['kb_per_s']:.1f} | {x.get('speedup', 0):.2f}× "
                     f"| {x['load_before']} → {x['load_after']} |")
    lines += ["",
              f"Dask start-up: LocalCluster with 2 worker processes {s['local_cluster_2_workers_s']} s; "
              f"client connect {s['client_connect_s']} s; the first block on fresh workers (import lstmzip, "
              f"receive and check the model) {s['first_block_on_fresh_workers_s']} s, the same block warm "
              f"{s['same_block_warm_s']} s. Per-task overhead ({o['tasks']} blocks of 1 KiB, stored): "
              f"{o['dask_2_workers_ms_per_task']} ms per block through Dask with the default window (4 in "
              f"flight), {o.get('dask_2_workers_window_64_ms_per_task', '?')} ms with 64 in flight (so it is "
              f"the CPU time of client, scheduler and workers on these 2 cores, not round-trip latency), "
              f"{o['process_pool_2_workers_ms_per_task']} ms through `--workers 2` (pool start included), "
              f"{o['in_process_ms_per_block']} ms in this process.", ""]
    return "\n".join(lines)


def busy(r: dict) -> str:
    loads = [x["load_before"] for x in r["runs"]] + [x["load_after"] for x in r["runs"]]
    cores = r["machine"]["cores"]
    if not loads or max(loads) <= cores:
        return ""
    return (f" The load average stood at {min(loads):.1f}-{max(loads):.1f} on {cores} cores (other work): "
            f"2 workers could not have {cores} cores to themselves, so these speed-ups say little about an idle machine.")


def fmt(load) -> str:
    return "/".join(f"{v:.2f}" for v in load)


if __name__ == "__main__":
    sys.exit(main())
