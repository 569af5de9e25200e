"""Edge: observe a computation on dask's threaded scheduler the way the dashboard would.

The task stream is timed in the thread pool the local scheduler runs on (start and stop of
every task, per pool thread); process memory is sampled in a background thread (as
``ResourceProfiler`` does).
The result is the same :class:`~chunkpilot.core.observations.Observation` a cluster gives,
so the same diagnosis runs. A run is stopped (``TimeoutError``) past its time limit, and
(``MemoryError``) when the process grows past the memory limit, before the OS has to step in.
"""

from __future__ import annotations

import contextlib
import ctypes
import gc
import threading
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import dask
import psutil
from dask.callbacks import Callback
from dask.utils import key_split
from threadpoolctl import threadpool_limits

from chunkpilot.core.observations import (
    MemoryRecord,
    Observation,
    TaskRecord,
    WorkerInfo,
    error_fields,
)

#: The pseudo-worker every record of a threaded run belongs to.
WORKER = "threads"
#: Seconds between process memory samples.
INTERVAL_S = 0.05


def trim_process_memory() -> None:
    """Collect garbage and hand freed heap back to the OS, so the next run starts clean."""
    gc.collect()
    with contextlib.suppress(OSError, AttributeError):  # not glibc (macOS, musl): no trim
        ctypes.CDLL("libc.so.6").malloc_trim(0)


class _TimedPool(ThreadPoolExecutor):
    """The thread pool dask's threaded scheduler runs on, timing every task in its thread.

    The local scheduler submits batches of ``(key, task, ...)`` argument tuples; with
    ``chunksize=1`` each batch holds one task, so timing the batch times the task."""

    def __init__(self, threads: int, t0: float) -> None:
        super().__init__(threads, thread_name_prefix="chunkpilot-trial")
        self.t0 = t0
        self.rows: dict[int, int] = {}
        self.records: list[TaskRecord] = []
        self.lock = threading.Lock()

    def submit(self, fn: Any, /, *args: Any, **kwargs: Any) -> Any:
        def timed() -> Any:
            start = time.perf_counter()
            out = fn(*args, **kwargs)
            stop = time.perf_counter()
            with self.lock:
                row = self.rows.setdefault(threading.get_ident(), len(self.rows))
                for a in (args[0] if args and isinstance(args[0], list) else ()):
                    key = a[0] if isinstance(a, tuple) and a else "?"
                    self.records.append(TaskRecord(str(key), key_split(key), WORKER, row,
                                                   "compute", start - self.t0, stop - self.t0))
            return out

        return super().submit(timed)


class _Guard(Callback):
    """Stops a threaded run past its time limit, or once memory passed the limit."""

    def __init__(self, deadline: float) -> None:
        super().__init__()
        self.deadline = deadline
        self.abort: str | None = None

    def _pretask(self, key: Any, dsk: Any, state: Any) -> None:
        if self.abort is not None:
            raise MemoryError(self.abort)
        if time.perf_counter() > self.deadline:
            raise TimeoutError("cancelled: the trial ran past its time limit")


def observe_threads(collections: Sequence[Any], *, num_workers: int, memory_limit_bytes: int,
                    timeout_s: float) -> Observation:
    """Compute ``collections`` on the threaded scheduler and record what it did."""
    trim_process_memory()
    proc = psutil.Process()
    t0 = time.perf_counter()
    rec = _Guard(t0 + timeout_s)
    pool = _TimedPool(num_workers, t0)
    samples: list[MemoryRecord] = []
    done = threading.Event()

    def sample() -> None:
        while True:
            rss = proc.memory_info().rss
            samples.append(MemoryRecord(time.perf_counter() - t0, WORKER, 0, rss, 0))
            if rss > memory_limit_bytes and rec.abort is None:
                rec.abort = f"process memory passed the {memory_limit_bytes} byte limit"
            if done.wait(INTERVAL_S):
                return

    sampler = threading.Thread(target=sample, name="chunkpilot-threads-memory", daemon=True)
    sampler.start()
    failure: Exception | None = None
    try:
        with rec, threadpool_limits(limits=1):  # one BLAS thread per dask thread
            dask.compute(*collections, scheduler="threads", pool=pool, chunksize=1)
    except Exception as e:  # recorded, not raised: a failed trial is a finding
        failure = e
    finally:
        done.set()
        sampler.join()
        pool.shutdown(wait=True)
    wall = time.perf_counter() - t0
    timed_out = isinstance(failure, TimeoutError)
    return Observation(
        wall_seconds=wall, tasks=tuple(pool.records), memory=tuple(samples),
        workers=(WorkerInfo(WORKER, num_workers, memory_limit_bytes),),
        erred_tasks=int(failure is not None and not timed_out),
        **error_fields(failure), timed_out=timed_out, executor="threads")
