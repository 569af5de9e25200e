"""Timing a pipeline sandbox's graph after its cold run: warm repeats, or the cold run
alone when it was long, and the same graph on several threads (``pipeline.child``)."""

from __future__ import annotations

import math
import os
import statistics
import time
from typing import Any

from dask.callbacks import Callback
from dask.local import get_sync
from dask.utils import key_split

from chunkpilot.measure.environ import BLAS_ONE_THREAD

#: A cold run longer than this many ``repeat_seconds`` is the measurement, not run again:
#: runs that long vary least, and the one-off costs a warm run leaves out (imports are the
#: spawner's; a codec's or a thread pool's first use) are a few percent of them
#: (rechunk_transpose's 2 s sub-array runs: cold 0.92-1.07x the warm run's task time, as
#: far apart as two warm runs), while a warm run cost 1.5-2 s of a 10-15 s advise each.
COLD_ONLY_RUNS = 2.5
#: Warm runs of a sub-array measurement whose cold run was short: at least this many ...
MIN_WARM_RUNS = 3
#: ... more while under the repeat budget, at most this many.
MAX_WARM_RUNS = 6
#: Environment variables that set BLAS/OpenMP thread pools (reported with the scaling run).
BLAS_VARS = tuple(BLAS_ONE_THREAD)


class ReadClock:
    """Seconds spent inside the input array-like's reads, summed over calls. dask fuses a
    store read into the tasks that use its block (``from-zarr``, ``rfft``, ``sum``: one
    task), so no layer of its own times it; timed here, a sample's read of the storage
    chunks it touched is set apart all the same (``pipeline.measure.read_split``)."""

    def __init__(self) -> None:
        self.seconds = 0.0

    def wrap(self, array: Any) -> TimedReads:
        return TimedReads(array, self)


class TimedReads:
    """An array-like reading ``array`` and adding each read's wall time to ``clock``."""

    def __init__(self, array: Any, clock: ReadClock) -> None:
        self.array, self.clock = array, clock
        self.shape, self.dtype = tuple(array.shape), array.dtype
        self.ndim = len(self.shape)

    def __getitem__(self, key: Any) -> Any:
        t0 = time.perf_counter()
        try:
            return self.array[key]
        finally:
            self.clock.seconds += time.perf_counter() - t0

    def __dask_tokenize__(self) -> Any:
        return ("chunkpilot-timed-reads", id(self))


def read_share(read_seconds: float, task_seconds: float) -> float | None:
    """The share of a run's task time spent reading the input (``None``: not timed)."""
    return min(1.0, read_seconds / task_seconds) if task_seconds > 0 and read_seconds else None


def cold_only(per_layer: dict[str, list[float]], in_inputs: float, wall: float,
              read_seconds: float = 0.0) -> dict:
    """The cold run's timings in ``warm_runs``' form, for a run too long to repeat: its
    tasks' times (no warm runs: ``runs_task_seconds`` empty, so the sample's time is the
    cold run's), its share downstream of the input tasks and its share reading."""
    total = sum(v[1] for v in per_layer.values())
    return {"runs_task_seconds": [], "runs_wall_seconds": [wall], "cores_busy": None,
            "downstream_share": 1.0 - in_inputs / total if total > 0 else None,
            "read_share": read_share(read_seconds, total),
            "per_layer_seconds": {name: v[1] for name, v in per_layer.items()}}


def warm_runs(dsk: Any, sinks: list[Any], job: dict[str, Any], first_seconds: float,
              inputs: set[Any], reads: ReadClock | None = None) -> dict:
    """Run the graph again, warm, timing each task: a median per layer, every run's total,
    and the median shares of the tasks downstream of the ``inputs`` tasks and of the
    input's reads (``reads``).

    At least ``min_warm_runs`` runs, more while under ``repeat_seconds`` in all, at most
    ``max_repeats``; ``over_budget_runs`` (1) when the cold run alone took longer than
    ``repeat_seconds`` (none past ``COLD_ONLY_RUNS`` times that: ``cold_only``): such a
    sub-array (matmul's 1024 x 1024 chunks, 1.6 s a run; rechunk_transpose's plane-splitting
    chunks, 0.75-2 s) cost 3-5 s of a 13-17 s advise in two warm runs, and runs that long
    vary least. The largest sample takes two (``pipeline.measure.measure_family``): it
    anchors the curve past it, and ufunc_reduce's 16 MiB one (0.9 s a run, on a copy of its
    data) read 97.5, 87.9 and 85.5 ms a chunk in single runs on three advises; the slow one
    moved the plan from 1024 x 2048 to 512 x 512.
    """
    budget = float(job.get("repeat_seconds", 1.0))
    wanted = (int(job.get("min_warm_runs", 3)) if first_seconds <= budget
              else int(job.get("over_budget_runs", 1)))
    runs: list[dict[str, float]] = []
    walls: list[float] = []
    cores: list[float] = []  # per run: CPU over wall time (zarr decodes in threads)
    in_inputs: list[float] = []  # per run: seconds of the input tasks
    read: list[float] = []  # per run: seconds inside the input's reads
    t_start = time.perf_counter()
    state = {"t0": 0.0}

    def pretask(key: Any, dsk: Any, st: Any) -> None:
        state["t0"] = time.perf_counter()

    def posttask(key: Any, result: Any, dsk: Any, st: Any, worker_id: Any) -> None:
        if not (isinstance(key, tuple) and key[0] == "chunkpilot-sink"):
            layer, dt = key_split(key), time.perf_counter() - state["t0"]
            runs[-1][layer] = runs[-1].get(layer, 0.0) + dt
            if key in inputs:
                in_inputs[-1] += dt

    while len(runs) < int(job.get("max_repeats", 8)):
        runs.append({})
        in_inputs.append(0.0)
        read0 = reads.seconds if reads is not None else 0.0
        t0, cpu0 = time.perf_counter(), time.process_time()
        with Callback(pretask=pretask, posttask=posttask):
            get_sync(dsk, sinks)
        walls.append(time.perf_counter() - t0)
        read.append(reads.seconds - read0 if reads is not None else 0.0)
        cores.append((time.process_time() - cpu0) / max(walls[-1], 1e-9))
        if len(runs) >= wanted and time.perf_counter() - t_start > budget:
            break
    layers = {name for r in runs for name in r}
    totals = [sum(r.values()) for r in runs]
    shares = [1.0 - i / t for i, t in zip(in_inputs, totals, strict=True) if t > 0]
    reading = [r for r in map(read_share, read, totals) if r is not None]
    return {"runs_task_seconds": totals, "runs_wall_seconds": walls,
            "cores_busy": statistics.median(cores) if cores else None,
            "downstream_share": statistics.median(shares) if shares else None,
            "read_share": statistics.median(reading) if reading else None,
            "per_layer_seconds": {n: statistics.median(r.get(n, 0.0) for r in runs)
                                  for n in layers}}


#: Threaded runs of the scaling measurement; the fastest is kept: the first starts the
#: pool, and its new threads grow malloc arenas of their own (hist of a zarr cube, 27
#: chunks of 4 MiB on 2 threads: first runs 1.06-1.73 s, then 0.99-1.01 beside 1.02 alone).
SCALING_RUNS = 2


def scaling(dsk: Any, sinks: list[Any], threads: int, sync_wall_seconds: float,
            get_threads: Any) -> dict:
    """Wall and CPU time of the same graph on ``threads`` threads (the fastest of
    ``SCALING_RUNS``), beside its fastest warm run on one thread (``sync_wall_seconds``)."""
    wall, cpu = math.inf, 0.0
    for _ in range(SCALING_RUNS):
        t0, c0 = time.perf_counter(), time.process_time()
        get_threads(dsk, sinks, num_workers=threads)
        w, c = time.perf_counter() - t0, time.process_time() - c0
        if w < wall:
            wall, cpu = w, c
    return {"threads": threads, "threaded_wall_seconds": wall, "threaded_cpu_seconds": cpu,
            "sync_wall_seconds": sync_wall_seconds,
            "blas_env": {k: os.environ.get(k) for k in BLAS_VARS},
            "blas_pinned": True}
