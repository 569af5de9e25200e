"""Benchmark suite: chunkpilot's advice and tuning vs dask ``chunks="auto"`` vs the best of a
ladder of shapes, with paired rounds, intervals and an offline replay.

``python -m benchmarks run|summary|replay|estimate|list``; the method and the results are
in docs/benchmarks.md (generated). Modules, in the order a run uses them: ``workloads`` and
``functions`` (what is computed), ``ladder`` (the shapes searched), ``provenance`` (commit,
versions, load), ``contenders`` (advise, tune), ``timing`` (one observed run), ``rounds``
(warm-up and timed rounds), ``peaks`` (threaded peaks in a fresh process), ``runner`` (one
workload, JSON out), ``stats`` (pure arithmetic), ``score`` (one row), ``report`` and
``page`` (markdown), ``summary`` (docs + README), ``replay``, ``estimate``. The side scripts
``advise_vs_auto``, ``tune_from_bad_starts`` and ``pipelines_vs_auto`` are one-off
comparisons kept for the notes.
"""
