"""Pure planner: pick the chunk shape with the lowest predicted wall time that fits.

Inputs are frozen values (array, work, resources, cost model); no I/O, no config. Each
candidate is predicted by :func:`chunkpilot.core.evaluate.evaluate`; this module searches,
chooses, and wraps the result as a :class:`Plan` that explains itself."""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from chunkpilot.core.candidates import candidate_shapes, smallest_candidate
from chunkpilot.core.display import repr_html
from chunkpilot.core.evaluate import Evaluation, evaluate
from chunkpilot.core.explain import explanation_lines
from chunkpilot.core.model import CostModel
from chunkpilot.core.plan_json import plan_to_dict
from chunkpilot.core.policy import (
    DEFAULT_POLICY,
    MAX_OVERHEAD_FOR_PARALLELISM,
    MIN_CHUNKS_PER_THREAD,
    MIN_THREAD_SPEEDUP,
    OVERHEAD_EDGE_BISECTIONS,
    TARGET_OVERHEAD_FRACTION,
    TIE_TOLERANCE,
    WARN_TASKS,
    Policy,
)
from chunkpilot.core.shapes import candidate_shape, misaligned_axes, regular_chunks
from chunkpilot.core.ties import tie_band_for
from chunkpilot.errors import NoFeasiblePlanError
from chunkpilot.types import ArraySpec, Resources, WorkSpec
from chunkpilot.units import format_bytes


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
    pool = feasible
    if parallel and min(e.overhead_fraction for e in parallel) <= MAX_OVERHEAD_FOR_PARALLELISM:
        pool = parallel
        # one chunk per thread keeps every thread busy too: it wins when clearly faster at a
        # size the samples reached (2 rounds of a block's fixed time.sleep(0.2): 1.8x slower)
        busy = [e for e in feasible if e.parallel_units >= each and e.task_bytes <= reach_bytes]
        if busy and (min(e.wall_seconds for e in busy) * (1 + band)
                     < min(e.wall_seconds for e in parallel)):
            pool = busy
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
    return Choice(chosen, binding, len(ties), band, best_wall)


def search(
    spec: ArraySpec, work: WorkSpec, res: Resources, model: CostModel,
    candidates: Sequence[tuple[int, ...]] | None = None,
    policy: Policy = DEFAULT_POLICY,
    warn_tasks: float = WARN_TASKS,
) -> tuple[Choice, list[Evaluation]]:
    """Evaluate every candidate shape (``candidate_shapes`` unless given) and choose; raise
    with numbers when none fits."""
    shapes = candidate_shapes(spec, work) if candidates is None else list(candidates)
    evals = [evaluate(c, spec, work, res, model) for c in shapes]
    try:
        choice = choose(evals, res, spec, tie_band_for(evals, model, policy),
                        threads_scale(model), model.tie_reach_bytes, warn_tasks)
    except NoFeasiblePlanError:
        smallest = min(evals, key=lambda e: e.peak_bytes_per_worker)
        budget = res.memory_budget_bytes
        why = f" with axes {list(work.keep_whole)} kept whole" if work.keep_whole else ""
        if model.max_ok_bytes is not None and smallest.peak_bytes_per_worker <= budget:
            raise NoFeasiblePlanError(
                f"Expected a block the function can process. Got a failure at "
                f"{format_bytes(model.max_ok_bytes)} (the largest block that ran: "
                f"{format_bytes(model.block_limit_bytes or 0)}), and the smallest allowed block"
                f"{why} is {format_bytes(smallest.task_bytes)}."
            ) from None
        raise NoFeasiblePlanError(
            f"Expected a chunk shape whose peak memory per worker fits "
            f"{res.target_fraction:.0%} of the {format_bytes(res.memory_limit_bytes)} memory limit "
            f"({format_bytes(budget)}). Got at least "
            f"{format_bytes(smallest.peak_bytes_per_worker)} "
            f"per worker for the smallest allowed chunk {smallest.chunk_shape}{why}. "
            "Give workers more memory, use fewer threads per worker, or let the axes be split."
        ) from None
    if candidates is None:
        choice, evals = _overhead_edge(choice, evals, spec, work, res, model, warn_tasks)
    whole = bool(work.keep_whole) and smallest_candidate(spec, work)[1]
    if choice.chosen is min(evals, key=lambda e: e.task_bytes) and (
            whole or choice.chosen.chunk_shape == spec.storage_chunks):
        choice = dataclasses.replace(choice, binding="keep_whole" if whole else "storage")
    return choice, evals


@dataclass(frozen=True, slots=True)
class Plan:
    """A recommended chunking with the model, the numbers and the reasons behind it."""

    spec: ArraySpec
    """The array planned for."""
    work: WorkSpec
    """Axes kept whole and overlap depth."""
    resources: Resources
    """Workers, threads and memory the plan is sized for."""
    model: CostModel
    """Measured (or partly modelled) cost model."""
    chosen: Evaluation
    """Predictions for the recommended chunk shape."""
    binding_constraint: str
    """What stopped a bigger or smaller chunk: memory, overhead, parallelism, storage, ..."""
    dask_auto: Evaluation | None = None
    """Predictions for what ``chunks="auto"`` picks, under the same model."""
    notes: tuple[str, ...] = ()
    """Degraded-but-usable findings (failed samples, modelled numbers)."""
    candidates_considered: int = 0
    """How many chunk shapes the search evaluated."""
    next_larger: Evaluation | None = None
    """The next bigger candidate, to show why the search stopped there."""
    tie_count: int = 1
    """Candidates predicted within ``tie_band_fraction`` of the fastest (chosen by the tie rule)."""
    tie_band_fraction: float = TIE_TOLERANCE
    """Predictions closer than this share were ties (the samples' measured spread, bounded)."""
    pipeline: Any = None
    """``chunkpilot.pipeline.findings.PipelineFindings`` when a whole pipeline was planned."""
    policy: Policy = DEFAULT_POLICY
    """The tie bands the choice was made with (from ``chunkpilot.*`` dask config)."""

    @property
    def chunk_shape(self) -> tuple[int, ...]:
        return self.chosen.chunk_shape

    @property
    def chunks(self) -> tuple[tuple[int, ...], ...]:
        """Ready for ``x.rechunk(plan.chunks)`` or ``da.from_zarr(path, chunks=plan.chunks)``."""
        return regular_chunks(self.spec.shape, self.chosen.chunk_shape)

    @property
    def chunks_by_dim(self) -> dict[str, int] | None:
        """Chunk length per dimension name (xarray sources), else ``None``."""
        if self.spec.dims is None:
            return None
        return dict(zip(self.spec.dims, self.chosen.chunk_shape, strict=True))

    def validate(self) -> None:
        """Raise :class:`NoFeasiblePlanError` if the chosen chunks break the memory bound."""
        budget = self.resources.memory_budget_bytes
        if self.chosen.peak_bytes_per_worker > budget:
            raise NoFeasiblePlanError(
                f"Expected peak memory per worker under {format_bytes(int(budget))}. Got "
                f"{format_bytes(self.chosen.peak_bytes_per_worker)} for chunks {self.chunk_shape}."
            )

    def explain(self) -> str:
        """The reasons for this plan, in words and numbers."""
        return "\n".join(explanation_lines(self))

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready summary (the CLI's ``--json`` object)."""
        return plan_to_dict(self)

    def _repr_html_(self) -> str | None:
        """The explanation and how to apply it, in a notebook (``chunkpilot.report.notebook``)."""
        return repr_html(self)


def _overhead_edge(choice: Choice, evals: list[Evaluation], spec: ArraySpec, work: WorkSpec,
                   res: Resources, model: CostModel, warn_tasks: float = WARN_TASKS
                   ) -> tuple[Choice, list[Evaluation]]:
    """An overhead-bound pick is the first rung whose overhead share meets the target, up to
    a sqrt(2) step above the size that meets it: a 5 % move of the probe could move the plan
    1.4x. Bisect (``OVERHEAD_EDGE_BISECTIONS`` times) between it and the rung below for the
    smallest chunk that still meets the target, ties, alignment and task limit as the pick did."""
    chosen = choice.chosen
    below = [e for e in evals if e.task_bytes < chosen.task_bytes and e.fits_memory]
    if (choice.binding != "overhead" or chosen.overhead_fraction > TARGET_OVERHEAD_FRACTION
            or not below):
        return choice, evals
    lo = max(below, key=lambda e: e.task_bytes).task_bytes
    seen = {e.chunk_shape for e in evals}
    for _ in range(OVERHEAD_EDGE_BISECTIONS):
        shape = candidate_shape(spec, work, math.sqrt(lo * chosen.task_bytes))
        if shape in seen:
            break
        seen.add(shape)
        e = evaluate(shape, spec, work, res, model)
        if not lo < e.task_bytes < chosen.task_bytes:  # evening out left the interval
            break
        evals = [*evals, e]
        if (e.feasible
                and e.overhead_fraction <= TARGET_OVERHEAD_FRACTION
                and e.wall_seconds <= choice.best_wall_seconds * (1 + choice.tie_band_fraction)
                and misaligned_axes(shape, spec) <= misaligned_axes(chosen.chunk_shape, spec)
                and (e.scheduler_tasks <= warn_tasks or chosen.scheduler_tasks > warn_tasks)):
            chosen = e
        else:
            lo = e.task_bytes
    return dataclasses.replace(choice, chosen=chosen), evals


def make_plan(
    spec: ArraySpec, work: WorkSpec, res: Resources, model: CostModel, *,
    dask_auto_shape: tuple[int, ...] | None = None,
    notes: tuple[str, ...] = (),
    candidates: Sequence[tuple[int, ...]] | None = None,
    policy: Policy = DEFAULT_POLICY,
    warn_tasks: float = WARN_TASKS,
) -> Plan:
    """Search the candidates and wrap the winner with its comparison and notes."""
    choice, evals = search(spec, work, res, model, candidates, policy, warn_tasks)
    auto = evaluate(dask_auto_shape, spec, work, res, model) if dask_auto_shape else None
    larger = [e for e in evals if e.task_bytes > choice.chosen.task_bytes]
    nxt = min(larger, key=lambda e: e.task_bytes) if larger else None
    return Plan(spec, work, res, model, choice.chosen, choice.binding, auto, notes, len(evals),
                nxt, tie_count=choice.tie_count, tie_band_fraction=choice.tie_band_fraction,
                policy=policy)
