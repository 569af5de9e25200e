"""Probe the per-task overhead of the scheduler that will run the work.

Times a graph of many near-empty tasks (after a warm-up run) and divides by the task
count. The threaded scheduler costs ~100 µs a task, distributed ~1 ms: a 10x
difference that moves the best chunk size.
"""

from __future__ import annotations

import time
from typing import Any

import dask

#: Tasks per probe run: enough to average out (~0.4 s a run on distributed at 2 ms a task).
PROBE_TASKS = 200
#: Timed repeats after one warm-up; the median is kept.
PROBE_REPEATS = 3


def _noop(i: int) -> int:
    return i


def _graph(n: int) -> list[Any]:
    return [dask.delayed(_noop, pure=False)(i) for i in range(n)]


def probe_overhead(scheduler: Any = "threads", *, tasks: int = PROBE_TASKS,
                   repeats: int = PROBE_REPEATS, num_workers: int | None = None) -> float:
    """Median seconds per near-empty task on ``scheduler`` (``"threads"`` or a Client)."""
    kwargs: dict[str, Any] = {"scheduler": scheduler}
    if scheduler == "threads" and num_workers:
        kwargs["num_workers"] = num_workers
    dask.compute(*_graph(min(tasks, 50)), **kwargs)  # warm-up: imports, connections
    times = []
    for _ in range(repeats):
        graph = _graph(tasks)
        t0 = time.perf_counter()
        dask.compute(*graph, **kwargs)
        times.append((time.perf_counter() - t0) / tasks)
    return sorted(times)[len(times) // 2]


def worker_baseline_bytes(client: Any) -> int:
    """Resident memory of the cluster's idle workers (the smallest one)."""
    import psutil

    def rss() -> int:
        return int(psutil.Process().memory_info().rss)

    return min(client.run(rss).values())
