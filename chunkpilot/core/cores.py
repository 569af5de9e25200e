"""Pure: a call that keeps several cores busy alone gets fewer when every thread is busy.

The samples run one call at a time in a sandbox with the machine's cores to itself; a call
can use more than one of them (zarr 3 decodes a block's storage chunks in a thread pool,
``asyncio.to_thread``; a codec or library may run its own threads). On a worker whose
threads are all busy each task has about one core (dask gives a worker as many threads as
it has cores), so that part of the call runs slower than the sample said. Measured on
zarr_read (zstd, 4 x 360 x 720 storage chunks, 2 cores): a 64-plane read took 0.088 s
alone on 1.75 cores' CPU and 0.155 s with a second process reading at the same time.
The sample's CPU time over its wall time (``Sample.cores_busy``) says how many it used.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from chunkpilot.core.sample import Sample

#: Below this many cores a call is taken as single-threaded: the suite's single-threaded
#: functions read 0.96-1.09 (time_reduce's 1.09: a read's two storage chunks decoded at
#: once), effects inside a sample's run-to-run spread that only moved close ties
#: (replay of the full run at 86220d1: ufunc_reduce/threads 1.02 cores at 16 MiB moved the
#: pick from 1024x2048, 1.03x the oracle, to 512x512, 1.19x; with this floor it stays).
MULTICORE_MIN = 1.1


def cores_at(samples: Sequence[Sample], nbytes: float) -> float:
    """Cores a call on ``nbytes`` kept busy alone: interpolated in log bytes between the
    samples that timed it, the nearest one's beyond them; 1 when none did."""
    pts = sorted((s.nbytes, s.cores_busy) for s in samples
                 if s.ok and s.nbytes > 0 and s.cores_busy is not None and s.cores_busy > 0)
    if not pts:
        return 1.0
    if nbytes <= pts[0][0]:
        return pts[0][1]
    for (x0, c0), (x1, c1) in zip(pts, pts[1:], strict=False):
        if nbytes <= x1:
            w = math.log(nbytes / x0) / math.log(x1 / x0) if x1 > x0 else 1.0
            return c0 + w * (c1 - c0)
    return pts[-1][1]


def cores_each(tasks_at_once: int, threads: int) -> float:
    """Cores a task gets when ``tasks_at_once`` tasks share ``threads`` threads (one core
    each, as dask gives a worker a thread per core)."""
    return max(threads, 1) / max(tasks_at_once, 1)


def busy_slowdown(cores: float, tasks_at_once: int, threads: int) -> float:
    """Factor on a task's time when ``tasks_at_once`` tasks share ``threads`` threads (one
    core each): a call that kept ``cores`` busy alone (at least ``MULTICORE_MIN``) gets
    ``threads / tasks_at_once``."""
    if cores < MULTICORE_MIN:
        return 1.0
    return max(1.0, cores / cores_each(tasks_at_once, threads))


#: A busy-thread slowdown below this is not worth a sentence in the plan's explanation.
SAY_ABOVE = 1.05


def cores_sentence(cores: float, tasks_at_once: int, threads: int) -> str | None:
    """The plan's words for :func:`busy_slowdown`, when it matters."""
    factor = busy_slowdown(cores, tasks_at_once, threads)
    if factor < SAY_ABOVE:
        return None
    return (f"Alone, a call on a block this size kept {cores:.2f} cores busy (CPU over wall "
            f"time, measured: e.g. zarr decoding storage chunks in threads); with "
            f"{tasks_at_once} tasks on {threads} threads each gets "
            f"{cores_each(tasks_at_once, threads):.2g}, so tasks are predicted "
            f"{factor:.2f}x slower than the samples ran (modelled).")
