"""Pure planner: pick the chunk shape with the lowest predicted wall time that fits.

Inputs are frozen values (array, work, resources, cost model); no I/O, no config.
The prediction for a chunk shape with ``N`` tasks of ``b`` bytes on ``P`` threads is::

    wall = N * overhead + (ceil(N / P) + FILL_DRAIN_TASKS) * time(b)
    peak per worker = baseline + threads * (peak(b) + IN_FLIGHT_EXTRA_BLOCKS * b)

and a shape is feasible when the peak per worker stays under ``target * memory_limit``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from chunkpilot.errors import NoFeasiblePlanError
from chunkpilot.model import CostModel
from chunkpilot.shapes import (
    align_units,
    even_out,
    halo_shape,
    min_lengths,
    regular_chunks,
    shape_for_bytes,
)
from chunkpilot.types import ArraySpec, Resources, WorkSpec
from chunkpilot.units import format_bytes

#: Extra blocks per thread held besides the running task: one loaded input queued ahead
#: (root-task queuing runs ~1.1 x threads) or one output waiting for its consumer.
IN_FLIGHT_EXTRA_BLOCKS = 1
#: Pipeline fill and drain: before the first round no block is loaded yet, and the last
#: round waits for its slowest task, so a run costs about one task time more than its
#: rounds. This is what makes a few huge chunks lose to many mid-sized ones in practice.
FILL_DRAIN_TASKS = 1
#: Keep every thread busy with some load balancing and room for read/compute overlap.
MIN_CHUNKS_PER_THREAD = 2
#: Predictions closer than this are ties: prefer the smaller, safer chunk.
TIE_TOLERANCE = 0.03
#: Ties are only called among chunks whose overhead share stays under this (~100x overhead
#: per task: dask's "tasks of 100 ms or more" on distributed, ~10 ms on threads).
TARGET_OVERHEAD_FRACTION = 0.01
#: The parallelism rule is dropped when obeying it would cost more than this in overhead.
MAX_OVERHEAD_FOR_PARALLELISM = 0.10
#: Smallest block the search considers.
MIN_CANDIDATE_BYTES = 16 * 1024
#: Geometric step between candidate sizes.
CANDIDATE_STEP = math.sqrt(2)


@dataclass(frozen=True, slots=True)
class Evaluation:
    """A candidate chunk shape and what the cost model predicts for it."""

    chunk_shape: tuple[int, ...]
    """Regular chunk length per axis (the last chunk may be shorter)."""
    task_count: int
    """Number of chunks, i.e. tasks per operation."""
    task_bytes: int
    """Bytes one task reads, overlap halo included."""
    seconds_per_task: float
    """Predicted time of the user's function on one block."""
    peak_bytes_per_task: int
    """Predicted peak memory of one task (input, temporaries, output)."""
    peak_bytes_per_worker: int
    """Baseline + threads x (task peak + extra in-flight blocks)."""
    wall_seconds: float
    """Predicted wall time of the whole operation."""
    overhead_fraction: float
    """Share of the predicted wall time spent on scheduler overhead."""
    fits_memory: bool
    """Peak per worker within target x memory limit, and below any failed sample size."""
    meets_depth: bool
    """Every chunk is at least the overlap depth (map_overlap requires it)."""


def evaluate(
    chunk: tuple[int, ...], spec: ArraySpec, work: WorkSpec, res: Resources, model: CostModel
) -> Evaluation:
    """Predict time and memory of one chunk shape."""
    task_count = math.prod(math.ceil(s / c) for s, c in zip(spec.shape, chunk))
    task_bytes = math.prod(halo_shape(spec, work, chunk)) * spec.itemsize
    t = model.task_seconds(task_bytes)
    peak = model.task_peak_bytes(task_bytes)
    per_worker = model.baseline_bytes + res.threads_per_worker * (
        peak + IN_FLIGHT_EXTRA_BLOCKS * task_bytes
    )
    overhead = task_count * model.tasks_per_chunk * model.overhead_seconds_per_task
    wall = overhead + (math.ceil(task_count / res.total_threads) + FILL_DRAIN_TASKS) * t
    budget = res.target_fraction * res.memory_limit_bytes
    under_failures = model.max_ok_bytes is None or task_bytes < model.max_ok_bytes
    depth_ok = all(
        c >= d or c == s for c, d, s in zip(chunk, work.depth, spec.shape)
    )
    return Evaluation(
        chunk_shape=tuple(chunk),
        task_count=task_count,
        task_bytes=task_bytes,
        seconds_per_task=t,
        peak_bytes_per_task=peak,
        peak_bytes_per_worker=per_worker,
        wall_seconds=wall,
        overhead_fraction=overhead / wall if wall > 0 else 0.0,
        fits_memory=per_worker <= budget and under_failures,
        meets_depth=depth_ok,
    )


def check_smallest_block(spec: ArraySpec, work: WorkSpec, res: Resources) -> None:
    """Refuse before profiling when even the smallest block the array allows cannot fit.

    Each thread holds at least its input block plus ``IN_FLIGHT_EXTRA_BLOCKS`` more, and
    reading any part of a storage chunk decodes all of it: one storage chunk is the least a
    task can read, whatever the function does.
    """
    lows = halo_shape(spec, work, min_lengths(spec, work))
    block = math.prod(lows) * spec.itemsize
    chunk = math.prod(spec.storage_chunks) * spec.itemsize if spec.storage_chunks else 0
    smallest = max(block, chunk)
    blocks = 1 + IN_FLIGHT_EXTRA_BLOCKS
    need = res.threads_per_worker * blocks * smallest
    budget = int(res.target_fraction * res.memory_limit_bytes)
    if need <= budget:
        return
    if chunk >= block:
        what, fix = (f"one storage chunk {spec.storage_chunks}",
                     "or rewrite the store with smaller chunks (reading any part of a storage "
                     "chunk decodes all of it).")
    else:
        what, fix = f"the smallest block {lows}", "or let the axes be split."
    raise NoFeasiblePlanError(
        f"Expected the smallest block this array allows ({what}: {format_bytes(smallest)}) to "
        f"fit: {res.threads_per_worker} thread(s) x {blocks} blocks (input + one in flight) "
        f"under {res.target_fraction:.0%} of the {format_bytes(res.memory_limit_bytes)} memory "
        f"limit ({format_bytes(budget)}). Got {format_bytes(need)} instead. Give workers more "
        f"memory, use fewer threads per worker, {fix}"
    )


def candidate_shapes(spec: ArraySpec, work: WorkSpec) -> list[tuple[int, ...]]:
    """Aligned, evened-out chunk shapes from tiny to the whole array (deduplicated)."""
    units = align_units(spec)
    lows = min_lengths(spec, work)
    smallest = max(MIN_CANDIDATE_BYTES, math.prod(lows) * spec.itemsize)
    n_steps = max(1, math.ceil(math.log(max(spec.nbytes / smallest, 1.0), CANDIDATE_STEP)) + 1)
    seen: dict[tuple[int, ...], None] = {}
    for k in range(n_steps + 1):
        target = min(spec.nbytes, smallest * CANDIDATE_STEP**k)
        raw = shape_for_bytes(spec, work, target)
        # a split storage chunk (raw < unit) stays an even divisor: evening out would misalign
        evened = tuple(
            raw[i] if raw[i] < units[i] else max(lows[i], even_out(spec.shape[i], raw[i], units[i]))
            for i in range(spec.ndim)
        )
        seen.setdefault(evened, None)
    return list(seen)


def choose(evals: list[Evaluation], res: Resources) -> tuple[Evaluation, str]:
    """Pick the best feasible evaluation and name the constraint that bound the choice."""
    feasible = [e for e in evals if e.fits_memory and e.meets_depth]
    if not feasible:
        raise NoFeasiblePlanError("no feasible chunk shape")  # caller rewrites with numbers
    want = MIN_CHUNKS_PER_THREAD * res.total_threads
    parallel = [e for e in feasible if e.task_count >= want]
    pool = feasible
    if parallel and min(e.overhead_fraction for e in parallel) <= MAX_OVERHEAD_FOR_PARALLELISM:
        pool = parallel
    best_wall = min(e.wall_seconds for e in pool)
    best_overhead = min(e.overhead_fraction for e in pool if e.wall_seconds == best_wall)
    ties = [
        e for e in pool
        if e.wall_seconds <= best_wall * (1 + TIE_TOLERANCE)
        and e.overhead_fraction <= max(TARGET_OVERHEAD_FRACTION, best_overhead)
    ]
    chosen = min(ties, key=lambda e: (e.peak_bytes_per_worker, e.task_count))
    larger = sorted((e for e in evals if e.task_bytes > chosen.task_bytes), key=lambda e: e.task_bytes)
    if not larger:
        binding = "array_size"
    elif not larger[0].fits_memory:
        binding = "memory"
    elif pool is parallel and larger[0] not in pool and larger[0].task_count < want:
        binding = "parallelism"
    else:
        binding = "overhead"
    return chosen, binding


def search(
    spec: ArraySpec, work: WorkSpec, res: Resources, model: CostModel
) -> tuple[Evaluation, str, list[Evaluation]]:
    """Evaluate every candidate shape and choose; raise with numbers when none fits."""
    evals = [evaluate(c, spec, work, res, model) for c in candidate_shapes(spec, work)]
    try:
        chosen, binding = choose(evals, res)
    except NoFeasiblePlanError:
        smallest = min(evals, key=lambda e: e.peak_bytes_per_worker)
        budget = int(res.target_fraction * res.memory_limit_bytes)
        why = ""
        if work.keep_whole:
            why = f" with axes {list(work.keep_whole)} kept whole"
        if model.max_ok_bytes is not None and smallest.peak_bytes_per_worker <= budget:
            raise NoFeasiblePlanError(
                f"Expected a block the function can process. Got failures on every block of "
                f"{format_bytes(model.max_ok_bytes)} or more, and the smallest allowed block"
                f"{why} is {format_bytes(smallest.task_bytes)}."
            ) from None
        raise NoFeasiblePlanError(
            f"Expected a chunk shape whose peak memory per worker fits "
            f"{res.target_fraction:.0%} of the {format_bytes(res.memory_limit_bytes)} memory limit "
            f"({format_bytes(budget)}). Got at least {format_bytes(smallest.peak_bytes_per_worker)} "
            f"per worker for the smallest allowed chunk {smallest.chunk_shape}{why}. "
            "Give workers more memory, use fewer threads per worker, or let the axes be split."
        ) from None
    if spec.storage_chunks is not None and chosen is min(evals, key=lambda e: e.task_bytes):
        binding = "keep_whole" if work.keep_whole else "storage"
    elif work.keep_whole and chosen is min(evals, key=lambda e: e.task_bytes):
        binding = "keep_whole"
    return chosen, binding, evals


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
    pipeline: Any = None
    """``chunkpilot.pipeline.report.PipelineReport`` when a whole pipeline was planned."""

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
        return dict(zip(self.spec.dims, self.chosen.chunk_shape))

    def validate(self) -> None:
        """Raise :class:`NoFeasiblePlanError` if the chosen chunks break the memory bound."""
        budget = self.resources.target_fraction * self.resources.memory_limit_bytes
        if self.chosen.peak_bytes_per_worker > budget:
            raise NoFeasiblePlanError(
                f"Expected peak memory per worker under {format_bytes(int(budget))}. Got "
                f"{format_bytes(self.chosen.peak_bytes_per_worker)} for chunks {self.chunk_shape}."
            )

    def explain(self) -> str:
        """The reasons for this plan, in words and numbers."""
        from chunkpilot.explain import explanation_lines

        return "\n".join(explanation_lines(self))

    def to_dict(self) -> dict:
        """JSON-ready summary (the CLI's ``--json`` object)."""
        from chunkpilot.explain import plan_to_dict

        return plan_to_dict(self)


def make_plan(
    spec: ArraySpec,
    work: WorkSpec,
    res: Resources,
    model: CostModel,
    *,
    dask_auto_shape: tuple[int, ...] | None = None,
    notes: tuple[str, ...] = (),
) -> Plan:
    """Search the candidates and wrap the winner with its comparison and notes."""
    chosen, binding, evals = search(spec, work, res, model)
    auto = evaluate(dask_auto_shape, spec, work, res, model) if dask_auto_shape else None
    larger = [e for e in evals if e.task_bytes > chosen.task_bytes]
    nxt = min(larger, key=lambda e: e.task_bytes) if larger else None
    return Plan(spec, work, res, model, chosen, binding, auto, notes, len(evals), nxt)
