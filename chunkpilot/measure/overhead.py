"""Probe the per-task overhead of the scheduler that will run the work.

Times an array graph of many near-empty tasks with dependencies and one small result (as a
real computation runs: blocks, an elementwise step, a tree reduction), after a warm-up,
minus the same graph on one block, divided by the extra tasks. The threaded scheduler costs
~100 µs a task, distributed ~1 ms: a 10x difference that moves the best chunk size.
"""

from __future__ import annotations

import socket
from dataclasses import dataclass
from typing import Any

import distributed
import psutil
from distributed.comm.addressing import get_address_host

from chunkpilot.cluster.connect import scheduler_client, workers_of
from chunkpilot.core.model import DEFAULT_OVERHEAD_S
from chunkpilot.core.probes import PooledOverhead
from chunkpilot.errors import ProfilingError
from chunkpilot.measure.busy import BUSY_SETUP, probe_with_cores_busy
from chunkpilot.measure.probe_history import (
    ProbeHistory,
    recall_probes,
    remember_probe,
    setup_key,
)
from chunkpilot.measure.sandbox import run_in_sandbox
from chunkpilot.types import Resources
from chunkpilot.units import plural

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


#: Scheduler hosts that are this machine.
_LOOPBACK = {"127.0.0.1", "localhost", "::1", "0.0.0.0", ""}


def distributed_setup(client: Any) -> str:
    """What a distributed probe's result depends on besides noise: distributed's version,
    where the scheduler runs (in this process, on this machine, else its address) and the
    threads of each worker. Probes of one setup are pooled and reused."""
    address = str(client.scheduler.address)
    if address.startswith("inproc://"):
        where = "in this process"
    elif get_address_host(address) in _LOOPBACK | {socket.gethostname()}:
        where = "on this machine"
    else:
        where = f"at {address}"
    workers = workers_of(client)
    threads = "/".join(str(t) for t in sorted({int(w["nthreads"]) for w in workers}))
    return (f"distributed {distributed.__version__} {where}, "
            f"{plural(len(workers), 'worker')} x {threads} threads")


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
    """This run's probe (or none: reused) and how many recent probes were pooled."""


def measure_scheduler(res: Resources, client: Any = None, probe: bool = True,
                      history: ProbeHistory | None = None) -> SchedulerProbe:
    """Probe the scheduler in ``res`` (the given client's, a connection, or a LocalCluster),
    pooled with the recent probes of the same setup in ``history``; not probed again while
    that pool is full and fresh (``ProbeHistory.reuse_s``)."""
    if not probe:
        kind = "distributed" if res.distributed else "threads"
        return SchedulerProbe(DEFAULT_OVERHEAD_S[kind], False, None)
    if not res.distributed:  # dask's threaded or synchronous scheduler, in this process
        key = setup_key(res.scheduler, res.total_threads)
        pooled = recall_probes(history, key) or remember_probe(
            history, key, probe_overhead_isolated(res.scheduler, num_workers=res.total_threads))
        return SchedulerProbe(pooled.seconds_per_task, True, None, pooled)
    with scheduler_client(res, client) as c:
        key = setup_key(f"{distributed_setup(c)}, {BUSY_SETUP}", res.total_threads)
        pooled = recall_probes(history, key) or remember_probe(history, key,
                                                               probe_with_cores_busy(c))
        return SchedulerProbe(pooled.seconds_per_task, True, worker_baseline_bytes(c), pooled)
