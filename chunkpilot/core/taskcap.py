"""Pure: the graph-size limits every plan keeps, per-block function or pipeline.

A plan's tasks cost more than the probe's per-task overhead once there are very many: the
graph itself is built, ordered and held by the client and the scheduler (dask's advice:
keep graphs well under a million tasks). Above ``warn_tasks`` a plan says so and why; tied
candidates under it are preferred (``core.plan.choose``); above ``max_tasks`` the plan is
re-planned among chunks whose graph stays under the cap, or refused with what to do. The
task count is the whole graph's: ``CostModel.scheduler_tasks`` for a per-block function, the
pipeline's task growth (``pipeline.analysis``) for a pipeline.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

from chunkpilot.core.growth import chunk_counts
from chunkpilot.core.plan import Plan, candidate_shapes, make_plan
from chunkpilot.core.policy import MAX_TASKS_PER_GRAPH, WARN_TASKS
from chunkpilot.errors import GraphTooLargeError, InvalidArgumentError, NoFeasiblePlanError

Shape = tuple[int, ...]


@dataclass(frozen=True, slots=True)
class GraphLimits:
    """Graph-size and blow-up thresholds (configurable through ``advise``)."""

    warn_tasks: int = WARN_TASKS
    """Warn above this many tasks: the scheduler's own overhead starts to show."""
    max_tasks: int = MAX_TASKS_PER_GRAPH
    """Refuse above this many tasks: the scheduler itself struggles there."""
    blowup_factor: float = 8.0
    """Warn when an intermediate chunk is this many times the input chunk."""

    def __post_init__(self) -> None:
        if not 0 < self.warn_tasks <= self.max_tasks:
            raise InvalidArgumentError(
                f"Expected 0 < warn_tasks <= max_tasks. Got {self.warn_tasks} and {self.max_tasks}."
            )
        if self.blowup_factor <= 1:
            raise InvalidArgumentError(f"Expected blowup_factor > 1. Got {self.blowup_factor}.")


def model_tasks(plan: Plan) -> Callable[[Shape], float]:
    """The whole graph's tasks at a chunk shape, as ``plan``'s cost model counts them."""
    spec, model = plan.spec, plan.model
    return lambda c: model.scheduler_tasks(spec.shape, c, math.prod(chunk_counts(spec.shape, c)))


def within_task_cap(plan: Plan, tasks: Callable[[Shape], float], limits: GraphLimits
                    ) -> tuple[Plan, list[str]]:
    """``plan``, or the best plan among chunks whose graph stays under ``max_tasks`` (and the
    sentence that says so); raise :class:`GraphTooLargeError` when none fits."""
    spec, n = plan.spec, tasks(plan.chunk_shape)
    if n <= limits.max_tasks:
        return plan, []
    allowed = [c for c in candidate_shapes(spec, plan.work) if tasks(c) <= limits.max_tasks]
    refuse = GraphTooLargeError(
        f"Expected a graph of at most {limits.max_tasks:,} tasks. Got ~{n:,.0f} tasks for "
        f"input chunks {plan.chunk_shape}, and no chunks that keep the graph under the cap fit "
        "memory. Give workers more memory, process the array in pieces, or raise max_tasks.")
    if not allowed:
        raise refuse
    try:
        new = make_plan(spec, plan.work, plan.resources, plan.model,
                        dask_auto_shape=plan.dask_auto.chunk_shape if plan.dask_auto else None,
                        notes=plan.notes, candidates=allowed, policy=plan.policy,
                        warn_tasks=limits.warn_tasks)
    except NoFeasiblePlanError as e:
        raise refuse from e
    return new, [f"At {plan.chunk_shape} the graph would have ~{n:,.0f} tasks, above the "
                 f"max_tasks cap of {limits.max_tasks:,}: re-planned among chunks whose graph "
                 f"stays under it, and chose {new.chunk_shape} (~{tasks(new.chunk_shape):,.0f} "
                 "tasks)."]


def task_warning(tasks: float, binding: str, limits: GraphLimits) -> str | None:
    """The plan's sentence when its graph has more than ``warn_tasks`` tasks, with the fix
    that applies: memory when memory bound the chunks, else what else did."""
    if tasks <= limits.warn_tasks:
        return None
    head = (f"The graph has ~{tasks:,.0f} tasks at these chunks, above {limits.warn_tasks:,}: "
            "the scheduler's own overhead will show.")
    if binding == "memory":
        return f"{head} Give workers more memory so chunks can grow, or split the computation."
    return (f"{head} Memory did not bind (the chunks are bound by {binding}) and no candidate "
            "with fewer tasks was predicted faster beyond the tie band (see the tie line "
            "above); split the computation, or weigh bigger "
            "chunks with `chunkpilot check`.")
