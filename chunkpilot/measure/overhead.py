"""Probe the per-task overhead of the scheduler that will run the work.

Times a graph of many near-empty tasks (after a warm-up run) and divides by the task
count. The threaded scheduler costs ~100 µs a task, distributed ~1 ms: a 10x
difference that moves the best chunk size.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import dask
import psutil

from chunkpilot.cluster.connect import scheduler_client
from chunkpilot.core.model import DEFAULT_OVERHEAD_S
from chunkpilot.types import Resources

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
    """Median seconds per near-empty task on ``scheduler`` (``"threads"``, ``"synchronous"``
    or a Client)."""
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


def _rss() -> int:
    return int(psutil.Process().memory_info().rss)


def worker_baseline_bytes(client: Any) -> int:
    """Resident memory of the cluster's idle workers (the smallest one)."""
    return min(client.run(_rss).values())


@dataclass(frozen=True, slots=True)
class SchedulerProbe:
    """What probing the scheduler found: overhead per task and the idle worker's memory."""

    overhead_seconds_per_task: float
    """Median seconds per near-empty task."""
    measured: bool
    """``False`` when probing was disabled and the overhead is a modelled default."""
    worker_baseline_bytes: int | None
    """Resident memory of an idle worker (``None``: threads, or not probed)."""


def measure_scheduler(res: Resources, client: Any = None, probe: bool = True) -> SchedulerProbe:
    """Probe the scheduler in ``res`` (the given client's, a connection, or a LocalCluster)."""
    if not probe:
        kind = "distributed" if res.distributed else "threads"
        return SchedulerProbe(DEFAULT_OVERHEAD_S[kind], False, None)
    if not res.distributed:  # dask's threaded or synchronous scheduler, in this process
        return SchedulerProbe(probe_overhead(res.scheduler, num_workers=res.total_threads),
                              True, None)
    with scheduler_client(res, client) as c:
        return SchedulerProbe(probe_overhead(c), True, worker_baseline_bytes(c))
