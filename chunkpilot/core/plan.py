"""Pure planner: pick the chunk shape with the lowest predicted wall time that fits.

Inputs are frozen values (array, work, resources, cost model); no I/O, no config. Each
candidate is predicted by :func:`chunkpilot.core.evaluate.evaluate`; this module searches,
chooses, and wraps the result as a :class:`Plan` that explains itself."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from chunkpilot.core.candidates import candidate_shapes, smallest_candidate
from chunkpilot.core.choice import Choice, choose, overhead_edge, threads_scale
from chunkpilot.core.display import repr_html
from chunkpilot.core.evaluate import Evaluation, evaluate
from chunkpilot.core.explain import explanation_lines
from chunkpilot.core.model import CostModel
from chunkpilot.core.plan_json import plan_to_dict
from chunkpilot.core.policy import DEFAULT_POLICY, TIE_TOLERANCE, WARN_TASKS, Policy
from chunkpilot.core.shapes import regular_chunks
from chunkpilot.core.ties import tie_band_for
from chunkpilot.errors import NoFeasiblePlanError
from chunkpilot.types import ArraySpec, Resources, WorkSpec
from chunkpilot.units import format_bytes


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
        choice, evals = overhead_edge(choice, evals, spec, work, res, model, warn_tasks)
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
