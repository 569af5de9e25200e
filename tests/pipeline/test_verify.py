"""A pipeline plan under the task cap at any array size: re-planned with bigger chunks, said so."""

from __future__ import annotations

import dask.array as da
import pytest

from chunkpilot.core.growth import TaskGrowth
from chunkpilot.core.model import CostModel, LinearFit
from chunkpilot.core.plan import make_plan
from chunkpilot.core.taskcap import GraphLimits, within_task_cap
from chunkpilot.errors import GraphTooLargeError
from chunkpilot.pipeline.analysis import Analysis
from chunkpilot.pipeline.graph import profile_graph
from chunkpilot.pipeline.layers import layer_records
from chunkpilot.pipeline.verify import FULL_GRAPH_MAX_TASKS, check_shape
from chunkpilot.types import ArraySpec, Resources, WorkSpec

MiB = 2**20
SPEC = ArraySpec((10**6, 100), "float64")


def _analysis() -> Analysis:
    x = da.zeros((300, 100), chunks=(100, 100))
    graph = profile_graph(layer_records((x + 1).__dask_graph__()), x.name)
    return Analysis((100, 100), graph, TaskGrowth((3, 1), 6, (1.0, 1.0)))  # 2 tasks a chunk


def _plan(overhead: float = 1e-6, memory: int = 4096 * MiB):
    # a model where small chunks win: tiny overhead, per-byte cost growing fast with size
    model = CostModel(LinearFit(0.0, 1e-9, 1.0), LinearFit(0, 2.0, 1.0), overhead)
    return make_plan(SPEC, WorkSpec(2), Resources(1, 1, memory), model)


def test_a_plan_over_the_task_cap_is_re_planned_with_bigger_chunks_and_says_so():
    plan = _plan()
    an = _analysis()
    limits = GraphLimits(warn_tasks=100, max_tasks=1000)
    assert an.tasks(SPEC, plan.chunk_shape) > limits.max_tasks  # what a user would get
    new, notes = within_task_cap(plan, lambda c: an.tasks(SPEC, c), limits)
    assert an.tasks(SPEC, new.chunk_shape) <= limits.max_tasks
    assert new.chosen.task_bytes > plan.chosen.task_bytes
    assert "re-planned" in notes[0] and "max_tasks cap of 1,000" in notes[0]
    assert within_task_cap(new, lambda c: an.tasks(SPEC, c), limits) == (new, [])  # untouched


def test_no_chunks_under_the_cap_that_fit_memory_is_a_clear_error():
    plan = _plan(memory=64 * MiB)
    with pytest.raises(GraphTooLargeError, match="at most 10 tasks"):
        within_task_cap(plan, lambda c: _analysis().tasks(SPEC, c),
                        GraphLimits(warn_tasks=10, max_tasks=10))


def test_the_check_builds_a_sub_array_when_the_whole_graph_would_be_large():
    an = _analysis()
    assert check_shape(SPEC, (10**5, 100), an) == SPEC.shape  # 20 tasks: build it whole
    small = (10, 100)
    assert an.tasks(SPEC, small) > FULL_GRAPH_MAX_TASKS
    assert check_shape(SPEC, small, an) == (80, 100)  # 8 chunks per axis
    # an axis the pipeline needs at full length (``pipeline.extent``) stays whole
    assert check_shape(SPEC, small, an, (0,)) == SPEC.shape
