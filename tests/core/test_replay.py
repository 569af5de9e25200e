"""Replay: a plan's stored inputs give the same plan again, through JSON, with nothing run."""

from __future__ import annotations

import dataclasses
import json

from chunkpilot.core.growth import TaskGrowth
from chunkpilot.core.model import Sample, fit_cost_model
from chunkpilot.core.plan import make_plan
from chunkpilot.core.replay import replan
from chunkpilot.types import ArraySpec, Resources, WorkSpec

MiB = 2**20


def _plan():
    samples = [Sample(n * MiB, (n * 128, 1024), 0.002 + 0.004 * n, 3 * n * MiB + MiB)
               for n in (1, 8, 32)] + [Sample(512 * MiB, (4096, 16384), error="oom: killed")]
    model = fit_cost_model(samples, overhead_seconds_per_task=1e-3, baseline_bytes=150 * MiB,
                           output_ratio=0.5)
    spec = ArraySpec((16384, 16384), "float64", storage_chunks=(256, 256), source="zarr:x")
    return make_plan(spec, WorkSpec(2, (), (4, 4)), Resources(2, 2, 2048 * MiB), model,
                     dask_auto_shape=(4096, 4096))


def test_replan_from_json_reproduces_the_plan():
    plan = _plan()
    inputs = json.loads(json.dumps(plan.to_dict()))["inputs"]
    again = replan(inputs)
    assert again.chunk_shape == plan.chunk_shape
    assert again.chosen == plan.chosen
    assert again.model.max_ok_bytes == plan.model.max_ok_bytes == 512 * MiB
    assert again.dask_auto == plan.dask_auto


def test_replan_uses_the_stored_measurements_not_the_stored_fit():
    inputs = json.loads(json.dumps(_plan().to_dict()))["inputs"]
    inputs["measurements"]["baseline_bytes"] = 1100 * MiB  # a much bigger idle worker
    tighter = replan(inputs)
    assert tighter.chosen.task_bytes < _plan().chosen.task_bytes


def test_replan_keeps_a_contractions_block_products():
    plan = _plan()
    units = TaskGrowth((3, 3), 27, (2.0, 1.0))
    model = dataclasses.replace(plan.model, contraction_units=units)
    plan = make_plan(plan.spec, plan.work, plan.resources, model)
    again = replan(json.loads(json.dumps(plan.to_dict()))["inputs"])
    assert again.model.contraction_units == units
    assert again.chosen == plan.chosen


def test_replan_keeps_what_an_in_graph_rechunk_gathers_into():
    from chunkpilot.core.gather import GatherTarget

    plan = _plan()
    target = GatherTarget((0,), ((1, 512),))
    plan = make_plan(plan.spec, plan.work, plan.resources,
                     dataclasses.replace(plan.model, gather=target))
    again = replan(json.loads(json.dumps(plan.to_dict()))["inputs"])
    assert again.model.gather == target
    assert again.chosen == plan.chosen


def test_replay_takes_a_samples_time_from_its_runs_by_todays_rule():
    """A sample stored with the mean of two runs (the old rule) is replayed with the faster
    one, so a replay judges the rule on stored runs."""
    plan = _plan()
    inputs = json.loads(json.dumps(plan.to_dict()))["inputs"]
    top = inputs["measurements"]["samples"][2]
    top["runs_seconds"] = [top["seconds"], 3 * top["seconds"]]
    top["seconds"] = 2 * top["seconds"]  # their mean, as stored before
    again = replan(inputs)
    kept = [s for s in again.model.samples if s.nbytes == top["bytes"]][0]
    assert kept.seconds == min(top["runs_seconds"])
