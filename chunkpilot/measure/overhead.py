"""Probe the per-task overhead of the scheduler that will run the work.

Times an array graph of many near-empty tasks with dependencies and one small result (as a
real computation runs: blocks, an elementwise step, a tree reduction), after a warm-up,
minus the same graph on one block, divided by the extra tasks. The threaded scheduler costs
~100 µs a task, distributed ~1 ms: a 10x difference that moves the best chunk size.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import psutil

from chunkpilot.cluster.connect import scheduler_client
from chunkpilot.core.model import DEFAULT_OVERHEAD_S
from chunkpilot.core.probes import PooledOverhead
from chunkpilot.errors import ProfilingError
from chunkpilot.measure.overhead_probe import probe_overhead
from chunkpilot.measure.probe_history import ProbeHistory, remember_probe, setup_key
from chunkpilot.measure.sandbox import run_in_sandbox
from chunkpilot.types import Resources

#: The fresh probing process: far more than the probe needs (~1 s, ~150 MiB).
PROBE_PROCESS_MEMORY_BYTES = 2 * 2**30
PROBE_PROCESS_TIMEOUT_S = 120.0


def probe_overhead_isolated(scheduler: str = "threads", num_workers: int | None = None) -> float:
    """:func:`probe_overhead` for dask's threaded or synchronous scheduler, run in a fresh
    process so that the caller's other threads do not move it."""
    out = run_in_sandbox("chunkpilot.measure.overhead_probe",
                         {"scheduler": scheduler, "num_workers": num_workers},
                         memory_cap_bytes=PROBE_PROCESS_MEMORY_BYTES,
                         timeout_s=PROBE_PROCESS_TIMEOUT_S, env={},
                         prefix="chunkpilot-probe-")
    if not out.get("ok"):
        raise ProfilingError(f"Expected the scheduler-overhead probe to run in a fresh process. "
                             f"Got: {out.get('error', 'no result')}")
    return float(out["seconds_per_task"])


def _rss() -> int:
    return int(psutil.Process().memory_info().rss)


def worker_baseline_bytes(client: Any) -> int:
    """Resident memory of the cluster's idle workers (the smallest one)."""
    return min(client.run(_rss).values())


@dataclass(frozen=True, slots=True)
class SchedulerProbe:
    """What probing the scheduler found: overhead per task and the idle worker's memory."""

    overhead_seconds_per_task: float
    """Seconds per near-empty task (from the fastest runs of the probe's repeats)."""
    measured: bool
    """``False`` when probing was disabled and the overhead is a modelled default."""
    worker_baseline_bytes: int | None
    """Resident memory of an idle worker (``None``: threads, or not probed)."""
    pooled: PooledOverhead | None = None
    """For a local scheduler: this run's probe and how many recent probes were pooled."""


def measure_scheduler(res: Resources, client: Any = None, probe: bool = True,
                      history: ProbeHistory | None = None) -> SchedulerProbe:
    """Probe the scheduler in ``res`` (the given client's, a connection, or a LocalCluster);
    a local scheduler's probe is pooled with its recent ones in ``history``."""
    if not probe:
        kind = "distributed" if res.distributed else "threads"
        return SchedulerProbe(DEFAULT_OVERHEAD_S[kind], False, None)
    if not res.distributed:  # dask's threaded or synchronous scheduler, in this process
        seconds = probe_overhead_isolated(res.scheduler, num_workers=res.total_threads)
        pooled = remember_probe(history, setup_key(res.scheduler, res.total_threads), seconds)
        return SchedulerProbe(pooled.seconds_per_task, True, None, pooled)
    with scheduler_client(res, client) as c:
        return SchedulerProbe(probe_overhead(c), True, worker_baseline_bytes(c))
