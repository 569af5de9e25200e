"""Pure: which evaluated candidate a plan takes, and the name of what bound the choice.

``choose`` applies the tie rule to the candidates of the ladder (``core.candidates``: sqrt(2)
steps of block size); ``overhead_edge`` then looks between two rungs, where the first shape
whose scheduler overhead meets ``TARGET_OVERHEAD_FRACTION`` usually lies."""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

from chunkpilot.core.evaluate import Evaluation, evaluate
from chunkpilot.core.model import CostModel
from chunkpilot.core.policy import (
    MAX_OVERHEAD_FOR_PARALLELISM,
    MIN_CHUNKS_PER_THREAD,
    MIN_THREAD_SPEEDUP,
    OVERHEAD_EDGE_BISECTIONS,
    TARGET_OVERHEAD_FRACTION,
    TIE_TOLERANCE,
    WARN_TASKS,
)
from chunkpilot.core.shapes import candidate_shape, misaligned_axes
from chunkpilot.errors import NoFeasiblePlanError
from chunkpilot.types import ArraySpec, Resources, WorkSpec


@dataclass(frozen=True, slots=True)
class Choice:
    """The chosen candidate, why the search stopped there, and how close the race was."""

    chosen: Evaluation
    """The recommended chunk shape's predictions."""
    binding: str
    """``memory``, ``failed`` (beyond a failed sample), ``parallelism``, ``overhead``,
    ``speed``, ``storage``, ``keep_whole`` or ``array_size``."""
    tie_count: int
    """Candidates predicted within ``tie_band_fraction`` of the fastest (the chosen included)."""
    tie_band_fraction: float
    """The band: the run-to-run spread of the samples near the fastest (``core.ties``)."""
    best_wall_seconds: float
    """The fastest predicted wall time the ties were called against."""
    min_parallel_units: int = 0
    """The fewest parallel units (chunks, block products) a pick needed to keep threads busy
    (0: the parallelism rule gave way, any did)."""


def threads_scale(model: CostModel) -> bool:
    """Whether a process's threads run the function in parallel (unknown counts as yes)."""
    speedup = model.thread_speedup
    return speedup is None or speedup >= MIN_THREAD_SPEEDUP


def choose(evals: list[Evaluation], res: Resources, spec: ArraySpec,
           band: float = TIE_TOLERANCE, threads_scale: bool = True,
           reach_bytes: float = math.inf, warn_tasks: float = WARN_TASKS) -> Choice:
    """Pick the best feasible evaluation and name the constraint that bound the choice.

    The tie rule: candidates predicted within ``band`` of the fastest are ties. Of those whose
    scheduler overhead stays under ``TARGET_OVERHEAD_FRACTION``, one whose graph stays under
    ``warn_tasks`` (``core.taskcap``), then the one aligned with the storage chunks, then the
    smallest peak memory per worker (the safer chunk), then the fewest tasks; a tie above
    ``reach_bytes`` (extrapolated beyond the samples) is not preferred this way. When none
    does, overhead still matters: the same order among those within ``TIE_TOLERANCE`` of the
    fastest. Both bars are fixed thresholds, so noise moves the choice a ladder step at most.
    Candidates keep ``MIN_CHUNKS_PER_THREAD`` per thread unless one per thread is clearly
    (beyond ``band``) faster within ``reach_bytes``, or overhead forbids."""
    feasible = [e for e in evals if e.feasible]
    if not feasible:
        raise NoFeasiblePlanError("no feasible chunk shape")  # caller rewrites with numbers
    # a function holding the GIL gains nothing from a process's extra threads; what keeps
    # threads busy is the tasks sharing the work (a contraction's block products: matmul on
    # 2 chunks of 2048x4096 runs 4, and was held to 4 chunks of 2048x2048, 1.20x slower)
    each = res.total_threads if threads_scale else res.workers  # one each
    want = (MIN_CHUNKS_PER_THREAD if threads_scale and each > 1 else 1) * each  # one: no one
    # to wait for (2 chunks on 1 thread decoded one storage chunk twice, hunt 15)
    parallel = [e for e in feasible if e.parallel_units >= want]
    pool, units = feasible, 0
    if parallel and min(e.overhead_fraction for e in parallel) <= MAX_OVERHEAD_FOR_PARALLELISM:
        pool, units = parallel, want
        # one chunk per thread keeps every thread busy too: it wins when clearly faster at a
        # size the samples reached (2 rounds of a block's fixed time.sleep(0.2): 1.8x slower)
        busy = [e for e in feasible if e.parallel_units >= each and e.task_bytes <= reach_bytes]
        if busy and (min(e.wall_seconds for e in busy) * (1 + band)
                     < min(e.wall_seconds for e in parallel)):
            pool, units = busy, each
    best_wall = min(e.wall_seconds for e in pool)
    ties = [e for e in pool if e.wall_seconds <= best_wall * (1 + band)]
    cheap = [e for e in ties if e.overhead_fraction <= TARGET_OVERHEAD_FRACTION
             and e.task_bytes <= reach_bytes]
    def order(e: Evaluation) -> tuple[bool, int, int, int]:
        return (e.scheduler_tasks > warn_tasks, misaligned_axes(e.chunk_shape, spec),
                e.peak_bytes_per_worker, e.task_count)

    if cheap:
        chosen = min(cheap, key=order)
    else:  # overhead still matters: the smallest within the fixed tolerance of the fastest
        chosen = min((e for e in ties if e.wall_seconds <= best_wall * (1 + TIE_TOLERANCE)),
                     key=order)
    larger = sorted((e for e in evals if e.task_bytes > chosen.task_bytes),
                    key=lambda e: e.task_bytes)
    if not larger:
        binding = "array_size"
    elif not larger[0].fits_memory:  # over the memory budget, or beyond a failed sample
        over = larger[0].peak_bytes_per_worker > res.memory_budget_bytes
        binding = "memory" if over else "failed"
    elif pool is parallel and larger[0] not in pool and larger[0].parallel_units < want:
        binding = "parallelism"
    elif (chosen.overhead_fraction > TARGET_OVERHEAD_FRACTION
          and larger[0].wall_seconds > chosen.wall_seconds <= best_wall):
        binding = "speed"  # the fastest, and bigger chunks are predicted slower despite it
    else:
        binding = "overhead"
    return Choice(chosen, binding, len(ties), band, best_wall, units)


def overhead_edge(choice: Choice, evals: list[Evaluation], spec: ArraySpec, work: WorkSpec,
                  res: Resources, model: CostModel, warn_tasks: float = WARN_TASKS
                  ) -> tuple[Choice, list[Evaluation]]:
    """The smallest chunk between two rungs that meets the overhead target and still ties
    (within the choice's band of the fastest), aligned, under the task limit and keeping
    threads busy (``min_parallel_units``) as the pick was; bisected
    ``OVERHEAD_EDGE_BISECTIONS`` times. Two picks look there:

    - an overhead-bound pick: its rung meets the target and the one below does not, so the
      edge lies up to a sqrt(2) step below it (a 5 % move of the probe moved the plan 1.4x);
    - a pick over the target (``speed``, or ``overhead`` not met): the first rung above it
      that meets the target was predicted just outside the band, but the edge below that
      rung may still tie (one of five advises of one input chose 52 rows so, the others
      about 115, where a rung fell near the edge).
    """
    chosen = choice.chosen
    if choice.binding not in ("overhead", "speed"):
        return choice, evals
    if chosen.overhead_fraction <= TARGET_OVERHEAD_FRACTION:
        below = [e.task_bytes for e in evals if e.task_bytes < chosen.task_bytes and e.fits_memory]
        lo, hi, binding = max(below, default=None), chosen.task_bytes, choice.binding
    else:
        meets = [e.task_bytes for e in evals if e.task_bytes > chosen.task_bytes
                 and e.feasible and e.overhead_fraction <= TARGET_OVERHEAD_FRACTION]
        hi, binding = min(meets, default=None), "overhead"
        if hi is None:
            return choice, evals
        # the rung below it: the chosen one, or a bigger one still over the target
        lo = max(e.task_bytes for e in evals if chosen.task_bytes <= e.task_bytes < hi)
    if lo is None:
        return choice, evals
    seen, found = {e.chunk_shape for e in evals}, chosen
    tie_wall = choice.best_wall_seconds * (1 + choice.tie_band_fraction)
    for _ in range(OVERHEAD_EDGE_BISECTIONS):
        shape = candidate_shape(spec, work, math.sqrt(lo * hi))
        if shape in seen:
            break
        seen.add(shape)
        e = evaluate(shape, spec, work, res, model)
        if not lo < e.task_bytes < hi:  # evening out left the interval
            break
        evals = [*evals, e]
        if (e.feasible
                and e.overhead_fraction <= TARGET_OVERHEAD_FRACTION
                and e.wall_seconds <= tie_wall
                and e.task_bytes <= model.tie_reach_bytes
                and e.parallel_units >= choice.min_parallel_units
                and misaligned_axes(shape, spec) <= misaligned_axes(chosen.chunk_shape, spec)
                and (e.scheduler_tasks <= warn_tasks or chosen.scheduler_tasks > warn_tasks)):
            found, hi = e, e.task_bytes
        elif e.feasible and e.overhead_fraction <= TARGET_OVERHEAD_FRACTION:
            hi = e.task_bytes  # meets the target but predicted too slow: the edge is lower
        else:
            lo = e.task_bytes
    if found is chosen:
        return choice, evals
    return dataclasses.replace(choice, chosen=found, binding=binding), evals
