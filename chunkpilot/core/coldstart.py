"""Pure: the extra time of a worker's first task of a computation, from the samples' cold calls.

A task's temporaries need memory the worker process does not hold yet: glibc returns freed
blocks this large to the kernel, and each thread's first task of the next computation faults
its memory in afresh (on this machine a fresh GiB of numpy ones took 0.6 s, 0.2 s once
faulted in). zarr_read's 128-plane chunks (917 MiB of
temporaries) took 1.5-2.9 s as a worker's first task and 0.7-0.8 s as its second, on every
computation on a LocalCluster; the sandbox's first call on a 119 MiB block took 0.75 s over
its warm calls. Samples record that gap (``Sample.cold_extra_seconds``); the threads' first
tasks run together, so a computation pays it once, in its first round.

Function samples only: a pipeline sample's cold run covers a sub-array of 9-27 chunks whose
first-time costs are not one task's (time_reduce/threads: 0.27 s over a 0.3 s warm run at
16 MiB), and pricing them moved three pipeline rows 1.00 -> 1.09-1.21 in replay; their
samples record none, so nothing is added for them.

The smallest gap of any sample is the function's one-time set-up (imports, caches), paid
once per process whatever the chunk, so it is taken off every sample: what remains grows with the
block. Between samples the gap is interpolated by bytes, kept non-decreasing; below the
smallest it shrinks to 0 with the block, past the largest it grows in proportion.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from chunkpilot.core.sample import Sample
from chunkpilot.units import format_seconds


def cold_points(samples: Sequence[Sample]) -> list[tuple[int, float]]:
    """(Block bytes, first-task extra seconds above the one-time set-up), non-decreasing in
    bytes; empty with fewer than two samples that recorded their cold call."""
    rows = sorted((s.nbytes, s.cold_extra_seconds) for s in samples
                  if s.ok and s.cold_extra_seconds is not None and s.nbytes > 0)
    if len(rows) < 2:
        return []
    setup = min(extra for _, extra in rows)
    points: list[tuple[int, float]] = []
    for nbytes, extra in rows:
        floor = points[-1][1] if points else 0.0
        points.append((nbytes, max(extra - setup, floor)))
    return points


def _extra_at(points: list[tuple[int, float]], nbytes: int) -> float:
    """The gap at ``nbytes`` through ``points`` (from 0 at 0 bytes, linear in bytes,
    proportional past the largest); 0 without points."""
    if not points or nbytes <= 0:
        return 0.0
    xs, ys = [0, *(b for b, _ in points)], [0.0, *(e for _, e in points)]
    if nbytes > xs[-1]:
        return ys[-1] * nbytes / xs[-1]
    return float(np.interp(nbytes, xs, ys))


def first_task_extra_seconds(samples: Sequence[Sample], nbytes: int) -> float:
    """Predicted extra seconds of a worker's first task on a block of ``nbytes`` (0 without
    evidence)."""
    return _extra_at(cold_points(samples), nbytes)


#: The first-task extra is said in a plan when it is at least this share of the wall time.
SAID_SHARE = 0.02


def cold_sentence(samples: Sequence[Sample], nbytes: int, wall_seconds: float) -> str | None:
    """One sentence for the plan when the first tasks' extra time matters at ``nbytes``."""
    points = cold_points(samples)
    extra = _extra_at(points, nbytes)
    if wall_seconds <= 0 or extra < SAID_SHARE * wall_seconds:
        return None
    widest = points[-1][1]  # the gaps never shrink with the block
    return (f"A worker's first task of the computation is predicted {format_seconds(extra)} "
            "slower than the rest: its temporaries need memory the process does not hold yet "
            f"(the samples' first calls ran up to {format_seconds(widest)} over their warm "
            "calls, beyond the function's one-time set-up); counted once in the wall time "
            "(modelled from those measurements).")
