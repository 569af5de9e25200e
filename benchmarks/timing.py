"""One observed run of a dask computation: on the threaded scheduler or on a LocalCluster.

Both executors return a :class:`RunRecord` with the wall time, failures, the compute time
of every task group (count, total, median), and the peak memory the run added to each process
(kernel high-water mark reset right before the run: ``/proc/self/clear_refs`` = 5, then
``VmHWM``; glibc is trimmed first). Workers run with fixed malloc thresholds (distributed's
``MALLOC_TRIM_THRESHOLD_``), so their numbers are exact; for the threaded scheduler see
:mod:`benchmarks.peaks`.
"""

from __future__ import annotations

import contextlib
import ctypes
import statistics
import time
from collections import defaultdict
from dataclasses import asdict, dataclass, field
from typing import Any

import dask
from dask.callbacks import Callback
from dask.utils import key_split
from threadpoolctl import threadpool_limits

#: Threads of the threaded scheduler; the LocalCluster has 2 workers x 1 thread.
THREADS = 2
CLUSTER_WORKERS = 2


@dataclass
class RunRecord:
    """What one run showed."""

    wall_seconds: float
    failed: bool
    failure: str | None = None
    """Why it failed: the exception, worker restarts, timeout."""
    restarts: int = 0
    spilled_bytes: int = 0
    groups: dict[str, list[float]] = field(default_factory=dict)
    """Per task group (``key_split`` name): [tasks, total compute seconds, median seconds]."""
    peak_increment_bytes: int | None = None
    """Largest peak RSS a process reached above its RSS before the run."""
    threads_per_process: int = 1

    @property
    def compute_seconds(self) -> float:
        """Compute seconds of every task of the run, summed."""
        return sum(g[1] for g in self.groups.values())

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _status_bytes(field: str) -> int | None:
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1]) * 1024  # the kernel reports kB
    except OSError:
        return None
    return None


def fixed_malloc_thresholds() -> None:
    """Give this process the malloc settings dask workers get (``MALLOC_TRIM_THRESHOLD_=65536``
    from ``distributed.nanny.pre-spawn-environ``): a fixed trim threshold also fixes the mmap
    threshold, so big blocks are unmapped when freed instead of staying in per-thread arenas,
    where they would be reused without showing in the peak RSS of later runs."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6").mallopt(-1, 65536)  # M_TRIM_THRESHOLD


def reset_peak() -> int | None:
    """Trim malloc, reset this process's RSS high-water mark; return the RSS now."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
    except OSError:
        return None
    return _status_bytes("VmRSS")


def read_peak() -> int | None:
    return _status_bytes("VmHWM")


def group_stats(durations: dict[str, list[float]]) -> dict[str, list[float]]:
    """[tasks, total seconds, median seconds] per task group."""
    return {g: [len(d), sum(d), statistics.median(d)] for g, d in durations.items() if d}


class _TaskTimes(Callback):
    """Per-task wall time on the local schedulers (pretask/posttask run in the main loop,
    which submits at most one task per thread, so start ~ submit)."""

    def __init__(self) -> None:
        super().__init__()
        self.start: dict[Any, float] = {}
        self.durations: dict[str, list[float]] = defaultdict(list)

    def _pretask(self, key: Any, dsk: Any, state: Any) -> None:
        self.start[key] = time.perf_counter()

    def _posttask(self, key: Any, result: Any, dsk: Any, state: Any, worker_id: Any) -> None:
        t0 = self.start.pop(key, None)
        if t0 is not None:
            self.durations[key_split(key)].append(time.perf_counter() - t0)


class ThreadsExecutor:
    """The threaded scheduler with :data:`THREADS` threads in this process, each with one
    BLAS/OpenMP thread (threadpoolctl): the conditions distributed's workers run under
    (``OMP_NUM_THREADS=1``), and the ones chunkpilot's samples, tune trials and plan note
    state for the threaded scheduler. Every contender runs under them."""

    kind = "threads"

    def __enter__(self) -> ThreadsExecutor:
        return self

    def __exit__(self, *exc: Any) -> None:
        return None

    def advise_kwargs(self) -> dict[str, Any]:
        return {"scheduler": "threads", "workers": 1, "threads_per_worker": THREADS}

    def run(self, collection: Any, timeout_s: float) -> RunRecord:
        rss0 = reset_peak()
        times = _TaskTimes()
        failure = None
        t0 = time.perf_counter()
        try:
            with times, threadpool_limits(limits=1):
                dask.compute(collection, scheduler="threads", num_workers=THREADS)
        except Exception as e:  # a failure is a finding (MemoryError, ...)
            failure = f"{type(e).__name__}: {e}"[:300]
        wall = time.perf_counter() - t0
        hwm = read_peak()
        return RunRecord(wall, failure is not None, failure,
                         groups=group_stats(times.durations), threads_per_process=THREADS,
                         peak_increment_bytes=None if rss0 is None or hwm is None else hwm - rss0)


class ClusterExecutor:
    """A LocalCluster of 2 workers x 1 thread with ``memory_limit`` each; recreated after a
    failed run so the next run starts from healthy, idle workers."""

    kind = "local"

    def __init__(self, memory_limit: str) -> None:
        from chunkpilot.cluster.resources import resolve_resources

        self.res = resolve_resources("local", workers=CLUSTER_WORKERS, threads_per_worker=1,
                                     memory_limit=memory_limit)
        self._stack = contextlib.ExitStack()
        self.client: Any = None
        self.recreated = 0

    def __enter__(self) -> ClusterExecutor:
        self._start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._stack.close()

    def _start(self) -> None:
        from chunkpilot.cluster.connect import local_cluster

        self.client = self._stack.enter_context(local_cluster(self.res))

    def recreate(self) -> None:
        self._stack.close()
        self._stack = contextlib.ExitStack()
        self.recreated += 1
        self._start()

    def advise_kwargs(self) -> dict[str, Any]:
        return {"client": self.client}

    def _on_workers(self, fn: Any) -> dict[str, Any]:
        try:
            return dict(self.client.run(fn, on_error="return"))
        except Exception:  # a dead worker must not lose the run's record
            return {}

    def run(self, collection: Any, timeout_s: float) -> RunRecord:
        from chunkpilot.cluster.observe import observe

        before = self._on_workers(reset_peak)
        client = self.client
        _, obs = observe(client, lambda: client.compute(collection).result(), timeout_s=timeout_s)
        after = self._on_workers(read_peak)
        failed = bool(obs.restarts or obs.killed_worker or obs.error or obs.timed_out
                      or obs.erred_tasks)
        durations: dict[str, list[float]] = defaultdict(list)
        for r in obs.tasks:
            if r.action == "compute":
                durations[r.group].append(r.stop_s - r.start_s)
        increments = [after[w] - before[w] for w in before
                      if isinstance(before[w], int) and isinstance(after.get(w), int)]
        failure = obs.error or (f"{obs.restarts} worker restart(s)" if obs.restarts else None)
        if failed and failure is None:
            failure = f"{obs.erred_tasks} erred task(s)"
        record = RunRecord(
            obs.wall_seconds, failed, failure, restarts=obs.restarts,
            spilled_bytes=max((m.spilled_bytes for m in obs.memory), default=0),
            groups=group_stats(durations),
            peak_increment_bytes=max(increments) if increments else None,
        )
        if failed:
            self.recreate()
        return record
