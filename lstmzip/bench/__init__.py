"""`lstmzip bench`: lstmzip against zstd, xz, bzip2 and zstd+dictionary on the standard corpora.

Modules: ``measure`` (timing, tracemalloc peaks, machine info, GEMM roofline), ``baselines``
(the other compressors), ``run`` (inputs, the benchmark loop, totals), ``report`` (markdown,
JSON, plot), ``cli`` (the subcommand). ``run_bench`` is the entry point for code::

    from lstmzip.bench import run_bench
    report = run_bench([("x.txt", data)], models=["random:1x16"])

Importing this package imports nothing heavy: the main CLI loads ``cli.register`` at startup.
"""


def __getattr__(name):
    if name in ("run_bench", "Input"):
        from . import run
        return getattr(run, name)
    raise AttributeError(name)
