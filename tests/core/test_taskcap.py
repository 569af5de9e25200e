"""Graph-size limits of every plan (``core.taskcap``): tied candidates under ``warn_tasks``
preferred, plans over ``max_tasks`` re-planned, the warning's fix follows what bound the plan."""

from __future__ import annotations

import pytest

from chunkpilot.core.model import CostModel, LinearFit
from chunkpilot.core.plan import make_plan
from chunkpilot.core.taskcap import GraphLimits, model_tasks, task_warning, within_task_cap
from chunkpilot.errors import GraphTooLargeError
from chunkpilot.types import ArraySpec, Resources, WorkSpec

MiB = 2**20
SPEC = ArraySpec((10**6, 100), "float64")  # 800 MB, candidates from 16 KiB (~50,000 chunks)
RES = Resources(1, 2, 4096 * MiB)


def _model(overhead: float) -> CostModel:
    """Work linear in bytes, memory 3x a block: sizes tie on predicted time."""
    return CostModel(LinearFit(0.0, 1e-9, 1.0), LinearFit(0, 3.0, 1.0), overhead)


def test_a_tie_prefers_a_candidate_whose_graph_stays_under_warn_tasks():
    # a per-block function on a virtual 10 TB array got 1,000,000 tasks of 7.6 MiB this way:
    # tied on time, the smallest peak won, whatever its graph
    free = make_plan(SPEC, WorkSpec(2), RES, _model(1e-12))
    assert free.chosen.scheduler_tasks > 1000  # the smallest tied chunk
    held = make_plan(SPEC, WorkSpec(2), RES, _model(1e-12), warn_tasks=1000)
    assert held.chosen.scheduler_tasks <= 1000 < free.chosen.scheduler_tasks
    assert held.chosen.wall_seconds <= free.chosen.wall_seconds * (1 + held.tie_band_fraction)


def test_a_per_block_plan_over_max_tasks_is_re_planned_with_bigger_chunks():
    # small chunks clearly win on this model (no tie): only the cap moves them
    model = CostModel(LinearFit(0.0, 1e-9, 1.0), LinearFit(0, 2.0, 1.0), 1e-7,
                      tasks_per_chunk=2.0)
    plan = make_plan(SPEC, WorkSpec(2), RES, model)
    tasks = model_tasks(plan)
    assert tasks(plan.chunk_shape) == 2 * plan.chosen.task_count > 1000
    new, notes = within_task_cap(plan, tasks, GraphLimits(warn_tasks=100, max_tasks=1000))
    assert tasks(new.chunk_shape) <= 1000 and "re-planned" in notes[0]
    with pytest.raises(GraphTooLargeError, match="at most 1 tasks"):
        within_task_cap(plan, tasks, GraphLimits(warn_tasks=1, max_tasks=1))


def test_the_warning_names_the_fix_that_applies():
    limits = GraphLimits(warn_tasks=100, max_tasks=1000)
    assert task_warning(100, "memory", limits) is None
    assert "more memory" in task_warning(101, "memory", limits)
    text = task_warning(825_000, "overhead", limits)
    assert "Memory did not bind" in text and "more memory" not in text
