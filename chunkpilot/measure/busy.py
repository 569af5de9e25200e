"""Probe distributed's per-task overhead with every worker thread's core kept busy.

A task's overhead is the work around it: the scheduler's transitions, the workers' event
loops receiving it, sending its result, fetching its inputs. The probe's near-empty tasks
ran on idle workers, but a computation's tasks run while the workers' threads compute, and
on a LocalCluster the scheduler and the event loops share those cores. Measured on this
project's 2-core machine (2026-12-05, 2 workers x 1 thread): independent tasks cost 2-4 ms
each beyond their work, and the tree sum after gil_loop's map_blocks ~6 ms a task, against
the idle probe's 1.8 ms; replaying the stored full runs with the distributed overhead
doubled moved advise from 1.068 to 1.048 (geometric mean over 129 rows of seven runs),
tripled 1.045, while the threaded scheduler's (its bookkeeping runs between the tasks in
one process) got worse either way. So while the probe runs, each worker runs one
GIL-releasing numpy loop per thread (a thread of its own, not a dask task, so the probe's
tasks still find the worker's threads free) and stops it after.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from typing import Any

from chunkpilot.measure.overhead_probe import probe_overhead

#: Said in the probe's setup key (probes of idle and busy workers are not pooled together).
BUSY_SETUP = "worker cores busy"
#: A busy loop ends by itself after this long, should nobody stop it (a lost client).
MAX_BUSY_SECONDS = 120.0
#: Name of the busy threads on a worker.
BUSY_THREAD = "chunkpilot-busy"


def _busy_loops() -> tuple[Callable[..., int], Callable[..., int]]:
    """(start, stop) for ``Client.run``: closures, so workers need not import chunkpilot."""

    def start(dask_worker: Any, seconds: float = MAX_BUSY_SECONDS) -> int:
        import threading
        import time

        import numpy as np

        stop = threading.Event()
        deadline = time.monotonic() + seconds

        def spin() -> None:
            a = np.ones(1 << 16)
            while not stop.is_set() and time.monotonic() < deadline:
                np.sin(a, out=a)  # numpy releases the GIL while it computes

        threads = [threading.Thread(target=spin, name=BUSY_THREAD, daemon=True)
                   for _ in range(int(dask_worker.state.nthreads))]
        dask_worker._chunkpilot_busy = (stop, threads)
        for t in threads:
            t.start()
        return len(threads)

    def stop(dask_worker: Any) -> int:
        event, threads = getattr(dask_worker, "_chunkpilot_busy", (None, ()))
        if event is not None:
            event.set()
        for t in threads:
            t.join(timeout=10)
        dask_worker._chunkpilot_busy = (None, ())
        return sum(t.is_alive() for t in threads)

    return start, stop


def probe_with_cores_busy(client: Any, blocks: int | None = None) -> float:
    """:func:`probe_overhead` (of ``blocks`` blocks; default: its own) on ``client``'s cluster
    while every worker thread's core computes; the busy loops are stopped even when the
    probe fails."""
    start, stop = _busy_loops()
    try:
        client.run(start)
        return probe_overhead(client, blocks=blocks)
    finally:
        with contextlib.suppress(Exception):  # a worker lost meanwhile: its loop ends alone
            client.run(stop)
