"""Benchmark suite: chunkpilot's advice and tuning vs dask ``chunks="auto"`` vs a grid search.

Run ``python -m benchmarks run [--quick] [--only NAME] [--repeats N] [--out DIR]``; see
the README section "Benchmarks". Modules: ``workloads`` (what is computed, data made on the
fly), ``grid`` (the chunk shapes searched for the oracle), ``timing`` (one observed run on
the threaded scheduler or a LocalCluster), ``peaks`` (threaded-scheduler peak memory in a
fresh process), ``runner`` (one workload x scheduler, end to end), ``environment`` (machine
and versions), ``summary`` (JSON results -> markdown table).
"""
