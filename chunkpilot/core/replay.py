"""Pure: what a plan was made from, as JSON, and the plan the *current* model makes from it.

Every plan carries its inputs (``Plan.to_dict()["inputs"]``, written by
:func:`chunkpilot.core.plan_inputs.plan_inputs`): the array, the work, the
resources and every measurement. :func:`replan` refits the cost model from those stored
measurements with today's fitting code and plans again, with nothing run: the benchmark's
replay judges a model change on stored data first.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from chunkpilot.core.gather import GatherTarget
from chunkpilot.core.growth import TaskGrowth
from chunkpilot.core.model import Sample, fit_cost_model, scale_memory
from chunkpilot.core.plan import Plan, make_plan
from chunkpilot.core.sample import typical_seconds
from chunkpilot.core.store import StoreModel
from chunkpilot.types import ArraySpec, Resources, WorkSpec


def _growth(d: dict[str, Any] | None) -> TaskGrowth | None:
    """A stored ``TaskGrowth`` (``dataclasses.asdict``), or ``None``."""
    if not d:
        return None
    return TaskGrowth(tuple(d["base_counts"]), d["base_tasks"], tuple(d["exponents"]),
                      d.get("executed_fraction", 1.0))


def retimed(s: Sample) -> Sample:
    """``s`` with its time taken from its warm runs by today's rule (``typical_seconds``):
    a run stored under an older rule is judged as if measured now."""
    if s.seconds is None or not s.runs_seconds:
        return s
    return dataclasses.replace(s, seconds=typical_seconds(s.runs_seconds))


def replan(inputs: dict[str, Any]) -> Plan:
    """Plan again from stored inputs with the current model and planner (nothing is run)."""
    spec = ArraySpec.from_dict(inputs["spec"])
    work = WorkSpec.from_dict(inputs["work"])
    res = Resources.from_dict(inputs["resources"])
    m = inputs["measurements"]
    model = fit_cost_model([retimed(Sample.from_dict(s)) for s in m["samples"]],
                           overhead_seconds_per_task=m["overhead_seconds_per_task"],
                           overhead_measured=m["overhead_measured"],
                           baseline_bytes=m["baseline_bytes"], output_ratio=m["output_ratio"],
                           held_exponent=m.get("held_exponent"),  # absent: stored before
                           held_shared=m.get("held_shared", False))
    model = dataclasses.replace(
        model, tasks_per_chunk=m.get("tasks_per_chunk", 1.0),
        task_growth=_growth(m.get("task_growth")),
        # absent from runs stored before block products were modelled
        contraction_units=_growth(m.get("contraction_units")),
        gather=GatherTarget.from_dict(m.get("gather")),  # absent: stored before it was modelled
        self_product_axes=tuple(m.get("self_product_axes", ())),
        contraction_axes=tuple(m.get("contraction_axes", ())))  # absent: stored before
    if m.get("store"):  # an object-store source: its probed read model
        model = dataclasses.replace(model, store=StoreModel.from_dict(m["store"]))
    if m.get("memory_correction", 1.0) != 1.0:
        model = scale_memory(model, m["memory_correction"])
    auto = inputs.get("dask_auto_shape")
    return make_plan(spec, work, res, model, dask_auto_shape=tuple(auto) if auto else None)
