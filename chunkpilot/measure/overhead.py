"""Probe the per-task overhead of the scheduler that will run the work.

Times an array graph of many near-empty tasks with dependencies and one small result (as a
real computation runs: blocks, an elementwise step, a tree reduction), after a warm-up,
minus the same graph on one block, divided by the extra tasks. The threaded scheduler costs
~100 µs a task, distributed ~1 ms: a 10x difference that moves the best chunk size.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import dask
import dask.array as da
import psutil

from chunkpilot.cluster.connect import scheduler_client
from chunkpilot.core.model import DEFAULT_OVERHEAD_S
from chunkpilot.types import Resources

#: Input blocks per probe run: with the reduction ~2.3 tasks each (~0.5 s a run on
#: distributed at 1 ms a task).
PROBE_BLOCKS = 200
#: Timed repeats after one warm-up; the lower quartile is kept (the estimate anchors the
#: planner's tie rule, so it must not move with a busy neighbour, whose bursts only ever add
#: time to a repeat: nine repeats, ~1 s on threads).
PROBE_REPEATS = 9


def _graph(blocks: int) -> Any:
    """``blocks`` one-element blocks, an elementwise step, a sum: real tasks, tiny data."""
    return (da.ones((blocks,), chunks=1) + 1).sum(split_every=8)


def _run(graph: Any, kwargs: dict[str, Any]) -> tuple[float, int]:
    (optimized,) = dask.optimize(graph)
    tasks = len(optimized.__dask_graph__())
    t0 = time.perf_counter()
    dask.compute(graph, **kwargs)
    return time.perf_counter() - t0, tasks


def probe_overhead(scheduler: Any = "threads", *, blocks: int = PROBE_BLOCKS,
                   repeats: int = PROBE_REPEATS, num_workers: int | None = None) -> float:
    """Seconds per near-empty in-graph task on ``scheduler`` (``"threads"``,
    ``"synchronous"`` or a Client): each run's wall time minus a one-block run's, over the
    extra tasks; the lower quartile of the repeats."""
    kwargs: dict[str, Any] = {"scheduler": scheduler}
    if scheduler == "threads" and num_workers:
        kwargs["num_workers"] = num_workers
    _run(_graph(min(blocks, 50)), kwargs)  # warm-up: imports, connections
    per_task = []
    for _ in range(repeats):  # results are not kept: every run computes every task again
        big, n_big = _run(_graph(blocks), kwargs)
        one, n_one = _run(_graph(1), kwargs)
        per_task.append(max(big - one, 1e-9) / max(n_big - n_one, 1))
    return sorted(per_task)[len(per_task) // 4]


def _rss() -> int:
    return int(psutil.Process().memory_info().rss)


def worker_baseline_bytes(client: Any) -> int:
    """Resident memory of the cluster's idle workers (the smallest one)."""
    return min(client.run(_rss).values())


@dataclass(frozen=True, slots=True)
class SchedulerProbe:
    """What probing the scheduler found: overhead per task and the idle worker's memory."""

    overhead_seconds_per_task: float
    """Seconds per near-empty task (lower quartile of the probe's repeats)."""
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
