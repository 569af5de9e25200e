"""Which input chunk sizes a chunk family measures, within the run budget and advise's time.

Two small sizes always (the model needs them; each sub-array run is held to
``core.budget.SUBARRAY_RUN_BUDGET_S``), a third below them if nothing else ran, and one or
two bigger sizes that anchor the curve past them: those are worth having, not needed, and
are made only within what is left of ``advise``'s time budget
(``chunkpilot.advise.time-budget``): smaller when a smaller one still fits, else skipped,
and the plan says so. matmul on a 2 x 1 LocalCluster took 12.3 and 12.6 s to advise in two
full benchmark runs; with two CPU hogs beside it, 13.4 s, of which its 8 MiB sample's job
2.4 s and its memory-growth run 3.1 s. Replaying 30 stored full runs without their largest
sample changed no matmul plan (114 rows: 1.080 -> 1.073 x the best shape, mixed row by
row; session 60).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Sequence

from chunkpilot.core.budget import (
    affordable_bytes,
    cold_run_seconds,
    fit_in_time,
    largest_worth_measuring,
    measurement_seconds,
    time_note,
)
from chunkpilot.core.model import Sample
from chunkpilot.core.shapes import halo_shape, shape_for_bytes
from chunkpilot.errors import ProfilingError
from chunkpilot.measure.time_budget import TimeBudget
from chunkpilot.pipeline.measure import (
    SUBARRAY_TIME_BUDGET_S,
    Measurement,
    PipelineSandbox,
    read_split,
)
from chunkpilot.pipeline.runs import COLD_ONLY_RUNS, MAX_WARM_RUNS, MIN_WARM_RUNS
from chunkpilot.pipeline.subarray import SUBARRAY_MAX_BYTES, subarray_bytes
from chunkpilot.types import ArraySpec, Resources, WorkSpec
from chunkpilot.units import format_bytes

MiB = 2**20
#: Input chunk sizes measured first; small enough to be safe for any pipeline.
SMALL_CHUNK_BYTES = (1 * MiB, 4 * MiB)


def rebase(m: Measurement, spec: ArraySpec, work: WorkSpec) -> Measurement | None:
    """``m`` as a sample of ``work``'s family (halo bytes per its depth), or ``None`` if its
    chunk breaks that family's rules (an axis not whole, a chunk under the depth)."""
    c = m.chunk
    if any(c[i] != spec.shape[i] for i in work.keep_whole) or any(
            ci < d and ci != n for ci, d, n in zip(c, work.depth, spec.shape, strict=True)):
        return None
    halo = halo_shape(spec, work, c)
    sample = dataclasses.replace(m.sample, nbytes=math.prod(halo) * spec.itemsize, shape=halo)
    return dataclasses.replace(m, sample=sample)  # its warm runs and read time kept


def within_time(cold: dict[int, float], target: float, floor: float, left_s: float,
                run_bytes: Callable[[float], float], over_budget_runs: int = 1
                ) -> tuple[float | None, float]:
    """The biggest size from ``target`` down to ``floor`` whose measurement (its runs by
    ``core.budget.measurement_seconds``, each predicted from the largest cold run in
    ``cold`` in proportion to the sub-array's bytes) fits in ``left_s``, or ``None``; with
    the predicted seconds of ``target``'s measurement.

    >>> run = lambda b: 9 * b  # a 3 x 3 sub-array
    >>> within_time({4 * MiB: 0.8}, 8 * MiB, 6 * MiB, 10.0, run, 2)
    (8388608, 1.6)
    >>> size, cost = within_time({4 * MiB: 0.8}, 8 * MiB, 6 * MiB, 1.0, run, 2)
    >>> size, round(cost, 2)
    (None, 1.6)
    """
    if not cold:
        return target, 0.0
    predict = cold_run_seconds(cold, run_bytes)

    def cost(b: float) -> float:
        return measurement_seconds(predict(b), SUBARRAY_TIME_BUDGET_S,
                                   min_warm_runs=MIN_WARM_RUNS, max_repeats=MAX_WARM_RUNS,
                                   over_budget_runs=over_budget_runs,
                                   cold_only_after=COLD_ONLY_RUNS)

    return fit_in_time(target, floor, left_s, cost)


def measure_family(
    box: PipelineSandbox, spec: ArraySpec, work: WorkSpec, res: Resources, *,
    baseline_guess_bytes: int, threads: int = 1,
    on_sample: Callable[[Sample], None] | None = None, done: Sequence[Measurement] = (),
    budget: TimeBudget | None = None, notes: list[str] | None = None,
) -> list[Measurement]:
    """Measure at least three input chunk sizes of ``work``'s chunk family; raise if none runs.
    ``done``: measurements already made that fit this family (see :func:`rebase`);
    ``budget``: the time the bigger, optional sizes may take (their notes go to ``notes``)."""
    out: list[Measurement] = [r for r in (rebase(m, spec, work) for m in done) if r is not None]
    seen: set[tuple[int, ...]] = {m.chunk for m in out}

    def measure(target: float, scale: bool = False, largest: bool = False,
                planned: float | None = None) -> bool:
        chunk = shape_for_bytes(spec, work, target)
        near = [m for m in out if abs(math.log(math.prod(m.chunk) * spec.itemsize / target)) < 0.4]
        if chunk in seen or near:  # already measured (or as good as)
            return all(m.sample.ok for m in near + [m for m in out if m.chunk == chunk])
        seen.add(chunk)
        m = box.measure(spec, work, chunk, threads if scale else 1,
                        over_budget_runs=2 if largest else 1)  # it anchors the curve past it
        out.append(dataclasses.replace(m, planned_bytes=planned))
        if on_sample is not None:
            on_sample(m.sample)
        return m.sample.ok

    def run_bytes(x: float) -> float:
        return subarray_bytes(spec, shape_for_bytes(spec, work, x), box.full_axes)

    def cold() -> dict[int, float]:
        return {m.sample.nbytes: m.cold_seconds for m in out if m.sample.ok and m.cold_seconds}

    smalls = sorted({min(b, spec.nbytes / 8) for b in SMALL_CHUNK_BYTES})
    for i, b in enumerate(smalls):
        size = affordable_bytes(cold(), b, smalls[0] / 4, run_bytes=run_bytes)
        if not measure(size, scale=i == len(smalls) - 1, planned=b if size < b else None):
            break
    # sizes follow the chunk's own work: a read of split storage chunks is a cost of its shape
    ok = [read_split(m, spec, m.sample) for m in out if m.sample.ok]
    if not ok:
        first = out[0].sample
        raise ProfilingError(
            f"Expected the pipeline to run on a sub-array of {format_bytes(first.nbytes)} input "
            f"chunks {out[0].chunk}. Got {first.failure} instead."
        )
    sub_chunks = 2 ** spec.ndim  # the fewest chunks a big sub-array holds
    top = largest_worth_measuring(ok, res, baseline_guess_bytes,
                                  time_budget_s=SUBARRAY_TIME_BUDGET_S / sub_chunks,
                                  max_bytes=min(SUBARRAY_MAX_BYTES / sub_chunks, spec.nbytes / 4))
    biggest = max(s.nbytes for s in ok)
    if top > biggest * 1.5:  # a midpoint only when the fit would extrapolate far
        for b in ((math.sqrt(biggest * top), top) if top > 16 * biggest else (top,)):
            largest = b == top
            if budget is not None:
                now = max(m.sample.nbytes for m in out if m.sample.ok)
                fit, wanted_s = within_time(cold(), b, 1.5 * now, budget.left_s(out),
                                            run_bytes, 2 if largest else 1)
                if fit != b and notes is not None:
                    notes.append(time_note(b, fit, wanted_s, now, budget.budget_s))
                if fit is None:
                    break
                b = fit
            if not measure(b, largest=largest):
                break
    if len([m for m in out if m.sample.ok]) < 3:
        measure(max(min(s.nbytes for s in ok) / 4, spec.itemsize))
    return sorted(out, key=lambda m: m.sample.nbytes)
