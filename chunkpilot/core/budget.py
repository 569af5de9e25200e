"""Pure: how big a profiling sample is worth measuring, from the samples so far.

A bigger sample is only worth its time while the memory rule could still allow blocks that
big, it stays within a time budget, and (for a store at a URL) its fetch does too.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping

from chunkpilot.core.evaluate import worker_peak_bytes
from chunkpilot.core.model import Sample, fit_line
from chunkpilot.types import Resources
from chunkpilot.units import format_bytes


def fetch_within(fetches: Mapping[int, float], budget_s: float) -> float:
    """The biggest block whose fetch from its URL the measured ones predict within
    ``budget_s`` (a line in bytes); unbounded when nothing was fetched. When the fetches
    did not grow with size (latency-bound, or a noisy smaller one: a busy machine timed
    1 kiB slower than 4 kiB), a bigger one costs what the slowest did: unbounded while that
    is within the budget, else no bigger than the biggest fetched."""
    if not fetches:
        return math.inf
    line = fit_line(list(fetches), list(fetches.values()))
    if line.slope > 0:
        return (budget_s - line.fixed) / line.slope
    return math.inf if max(fetches.values()) <= budget_s else float(max(fetches))


def largest_worth_measuring(
    ok: list[Sample], res: Resources, baseline: int, *, time_budget_s: float, max_bytes: float
) -> float:
    """The biggest block the memory bound could allow, capped by a time budget and a size."""
    mem = fit_line([s.nbytes for s in ok], [s.peak_bytes or 0 for s in ok])
    t = fit_line([s.nbytes for s in ok], [s.seconds or 0.0 for s in ok])
    # the planner's memory rule, solved for the block size: fixed part + per-byte part x b
    fixed = worker_peak_bytes(baseline, int(mem.fixed), 0, res)
    per_byte = worker_peak_bytes(0, max(mem.slope, 1.0), 1, res)
    by_memory = (res.memory_budget_bytes - fixed) / per_byte
    by_time = (time_budget_s - t.fixed) / t.slope if t.slope > 0 else math.inf
    return max(0.0, min(by_memory, by_time, max_bytes))


#: Predicted seconds over which a pipeline's sub-array run is not made as planned. A
#: measurement's run is made at a size that fits instead: a slow pipeline's 4 MiB sample ran
#: 5 s cold and its scaling run as long again (an xarray groupby anomaly on a 256 x 512 x
#: 512 zarr cube: 9 s of a 14 s advise). The suite's pipelines predict 0.4-2.7 s there
#: (rechunk_transpose's cold plane reads the most: over 3 s in one full run, where the size
#: that fits still rounded to its 4 MiB chunk) and measure as before. The wider run that
#: measures how memory grows is skipped (an xarray ``rolling(t=5).mean()``, 92 tasks per
#: input chunk, ran its 216-chunk sub-array for 13 of a 22 s advise).
SUBARRAY_RUN_BUDGET_S = 3.0


def cold_run_seconds(runs: Mapping[int, float], run_bytes: Callable[[float], float]
                     ) -> Callable[[float], float]:
    """Seconds of a run at a sample size, predicted from the largest measured one (``runs``:
    bytes -> seconds, not empty) in proportion to ``run_bytes``: a pipeline's cold sub-array
    run (its bytes), or a per-block function's call (the block's own: ``lambda b: b``)."""
    nbytes = max(runs)
    per_byte = runs[nbytes] / max(run_bytes(nbytes), 1.0)  # cold seconds per sub-array byte
    return lambda b: per_byte * run_bytes(b)


def affordable_bytes(runs: Mapping[int, float], target: float, floor: float,
                     budget_s: float = SUBARRAY_RUN_BUDGET_S,
                     run_bytes: Callable[[float], float] | None = None) -> float:
    """The size to measure instead of ``target``: ``target`` when the largest measured run
    (``runs``: bytes -> cold seconds of its sub-array) predicts it within ``budget_s``, in
    proportion to the sub-array's bytes (``run_bytes`` of a sample size; default: the
    sample's, a sub-array of the same number of chunks at every size); else the biggest
    size that fits, if that is still well past the largest (1.5x), or ``floor`` (a small
    sample keeps its place: its sub-array also times the threads), unless ``floor``'s
    sub-array is hardly smaller than ``target``'s (by less than 1.5x): an axis every
    sub-array spans whole (``pipeline.extent``) does not grow with the chunk. xarray's
    polyfit with its coordinates needs every axis whole, so each sample ran the whole
    (730, 128, 256) cube, 2-4 s at every size: its 4 MiB sample, shrunk to 182 kiB for
    nothing, read each of its storage chunks 64 times.

    >>> MiB = 2**20
    >>> affordable_bytes({MiB: 0.25}, 4 * MiB, MiB / 4) == 4 * MiB
    True
    >>> [round(affordable_bytes({MiB: cold}, 4 * MiB, MiB / 4) / MiB, 6) for cold in (1.5, 2.5)]
    [2.0, 0.25]
    >>> affordable_bytes({MiB: 4.0}, 4 * MiB, MiB / 4, run_bytes=lambda b: 91 * MiB) / MiB
    4.0
    """
    if not runs:
        return target
    size = run_bytes or (lambda b: b)
    nbytes = max(runs)
    predict = cold_run_seconds(runs, size)
    if predict(target) <= budget_s:
        return target
    lo, hi = math.log(nbytes), math.log(target)  # the biggest size that fits, if any past it
    for _ in range(40):
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if predict(math.exp(mid)) <= budget_s else (lo, mid)
    fit = math.exp(lo)
    if fit >= 1.5 * nbytes:
        return fit
    return floor if size(floor) * 1.5 <= size(target) else target


def measurement_seconds(run_s: float, repeat_seconds: float, *, min_warm_runs: int,
                        max_repeats: int, over_budget_runs: int = 1,
                        cold_only_after: float = math.inf) -> float:
    """What a measurement whose runs take ``run_s`` each costs in all, by the sandboxes'
    rules: the cold run alone past ``cold_only_after`` x ``repeat_seconds`` (a pipeline's
    sub-array runs); ``over_budget_runs`` warm runs past ``repeat_seconds``; else at least
    ``min_warm_runs`` warm runs, more while under ``repeat_seconds``, at most ``max_repeats``.

    >>> measurement_seconds(2.0, 0.4, min_warm_runs=3, max_repeats=6, cold_only_after=2.5)
    2.0
    >>> measurement_seconds(0.5, 0.4, min_warm_runs=3, max_repeats=6, over_budget_runs=2)
    1.5
    >>> measurement_seconds(0.2, 0.4, min_warm_runs=3, max_repeats=6)
    0.8
    >>> measurement_seconds(0.01, 0.4, min_warm_runs=3, max_repeats=6)
    0.07
    """
    if run_s > cold_only_after * repeat_seconds:
        return run_s
    if run_s > repeat_seconds:
        return run_s * (1 + over_budget_runs)
    warm = max(min_warm_runs, math.floor(repeat_seconds / run_s) + 1) if run_s > 0 else 0
    return run_s * (1 + min(warm, max_repeats))


def time_note(wanted_bytes: float, got_bytes: float | None, wanted_s: float, biggest: float,
              budget_s: float) -> str:
    """The plan's words when advise's time budget (``budget_s``) made its largest sample
    smaller (``got_bytes``) or skipped it (``None``)."""
    what = ("not measured" if got_bytes is None
            else f"measured at {format_bytes(int(got_bytes))} instead")
    return (f"The {format_bytes(int(wanted_bytes))} sample was {what}: its runs would take "
            f"~{wanted_s:.1f} s, past what was left of advise's {budget_s:g} s time "
            f"budget (chunkpilot.advise.time-budget), so chunks past "
            f"{format_bytes(int(got_bytes or biggest))} are extrapolated (modelled).")


#: Sizes tried between the wanted one and the smallest worth it, when time is short.
SHRINK_STEPS = 16


def fit_in_time(target: float, floor: float, left_s: float, cost: Callable[[float], float]
                ) -> tuple[float | None, float]:
    """The biggest size from ``target`` down to ``floor`` (``SHRINK_STEPS`` geometric steps)
    whose measurement, priced by ``cost``, fits in ``left_s``, or ``None``; with ``target``'s
    cost.

    >>> fit_in_time(8.0, 2.0, 10.0, lambda b: b), fit_in_time(8.0, 2.0, 1.0, lambda b: b)
    ((8.0, 8.0), (None, 8.0))
    >>> round(fit_in_time(8.0, 2.0, 4.0, lambda b: b)[0], 2)
    4.0
    """
    wanted = cost(target)
    if target <= floor:
        return (target if wanted <= left_s else None), wanted
    for i in range(SHRINK_STEPS + 1):
        b = target * (floor / target) ** (i / SHRINK_STEPS)
        if cost(b) <= left_s:
            return (target if i == 0 else b), wanted
    return None, wanted
