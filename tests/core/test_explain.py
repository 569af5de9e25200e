"""A plan explains itself: every number it rests on, what is modelled, and the JSON contract."""

from __future__ import annotations

import dataclasses
import json
import math

from chunkpilot.core.explain import explanation_lines
from chunkpilot.core.growth import TaskGrowth
from chunkpilot.core.model import CostModel, LinearFit
from chunkpilot.core.plan import make_plan
from chunkpilot.types import ArraySpec, Resources, WorkSpec
from chunkpilot.units import format_bytes

MiB = 2**20


def _plan(measured: bool = True):
    model = CostModel(LinearFit(1e-3, 2e-3 / MiB, 1.0), LinearFit(4 * MiB, 3.0, 1.0), 1e-3,
                      overhead_measured=measured, baseline_bytes=100 * MiB)
    spec = ArraySpec((8192, 8192), "float64", storage_chunks=(512, 512), source="zarr:/d.zarr")
    return make_plan(spec, WorkSpec(2), Resources(2, 1, 1024 * MiB), model,
                     dask_auto_shape=(4096, 4096))


def test_sentences_carry_the_numbers_the_choice_rests_on():
    plan = _plan()
    text = "\n".join(explanation_lines(plan))
    c = plan.chosen
    assert f"Recommended chunks {c.chunk_shape}: {c.task_count} tasks" in text
    assert format_bytes(c.peak_bytes_per_worker) in text
    assert format_bytes(plan.resources.memory_budget_bytes) in text
    assert "dask chunks='auto' would pick (4096, 4096)" in text
    assert "aligned, so every storage chunk is read exactly once" in text
    assert f"Bound by {plan.binding_constraint}" in text or plan.binding_constraint in text


def test_a_modelled_overhead_says_so():
    assert "MODELLED default, not measured" in "\n".join(explanation_lines(_plan(measured=False)))
    assert "measured by probes" in "\n".join(explanation_lines(_plan(measured=True)))


def test_json_contract_is_plain_json_with_the_documented_keys():
    d = json.loads(json.dumps(_plan().to_dict()))
    for key in ("shape", "dtype", "storage_chunks", "scheduler", "predicted", "measured",
                "binding_constraint", "explanation", "dask_auto_chunk_shape", "chunk_shape",
                "chunks", "ties", "inputs"):
        assert key in d, key
    assert d["predicted"]["peak_bytes_per_worker"] <= d["resources"]["memory_limit_bytes"]


def test_a_contractions_rounds_are_counted_in_block_products():
    plan = _plan()
    assert "block products" not in "\n".join(explanation_lines(plan))
    model = dataclasses.replace(plan.model, contraction_units=TaskGrowth((2, 2), 8, (2.0, 1.0)))
    plan = make_plan(plan.spec, plan.work, plan.resources, model)
    c = plan.chosen
    units = model.parallel_units(plan.spec.shape, c.chunk_shape, c.task_count)
    assert units > c.task_count
    rounds = math.ceil(units / plan.resources.total_threads)
    assert f"{rounds} rounds of {units:,} block products" in "\n".join(explanation_lines(plan))


def test_a_sample_timed_by_its_cold_run_alone_says_so():
    """A pipeline sub-array run over a second is not repeated warm: the sentence must not
    claim warm runs it did not make."""
    from chunkpilot.core.model import Sample, fit_cost_model

    samples = [Sample(MiB, (512, 256), 0.02, 3 * MiB, runs_seconds=(0.02, 0.021, 0.019)),
               Sample(2 * MiB, (512, 512), 0.04, 5 * MiB, runs_seconds=(0.04, 0.05)),
               Sample(4 * MiB, (512, 1024), 0.09, 9 * MiB, runs_seconds=(0.09,)),
               Sample(16 * MiB, (2048, 1024), 0.4, 40 * MiB)]  # cold only
    model = fit_cost_model(samples, overhead_seconds_per_task=1e-3)
    spec = ArraySpec((8192, 8192), "float64")
    text = "\n".join(explanation_lines(make_plan(spec, WorkSpec(2), Resources(2, 1, 1024 * MiB),
                                                 model)))
    assert "then warm unless the cold run took over a second" in text
    # the spread leaves the slowest of three or more runs out (``Sample.spread_fraction``)
    assert "(±5% over 3 warm runs, the slowest left out)" in text
    assert "(±0% over 1 warm run)" in text
    assert "40.00 ms at 2.00 MiB (±22% over 2 warm runs, the faster kept)" in text
    assert "400.00 ms at 16.00 MiB (one cold run, too long to repeat)" in text


def test_a_pipeline_plan_prices_an_input_chunks_whole_work_and_says_so():
    """A pipeline's time per input chunk is the work of all its tasks (a hunt found "Predicted
    per task: 1.2 s" next to a wall time of ~120 tasks' worth, which read as a contradiction)."""
    plan = _plan()
    model = dataclasses.replace(plan.model, tasks_per_chunk=120.0)
    plan = dataclasses.replace(make_plan(plan.spec, plan.work, plan.resources, model),
                               pipeline=object())
    text = "\n".join(explanation_lines(plan))
    assert "Predicted per input chunk (the work of its 120.0 tasks together): " in text
    assert "Predicted per task" not in text
    assert "Predicted per task: " in "\n".join(explanation_lines(_plan()))


def test_a_comparison_that_would_kill_workers_quotes_no_wall_time():
    """Hunt: with a 2 GiB limit, dask auto's 4.12 GiB per worker was quoted "ABOVE the
    target, predicted wall 10.87 s (9.61x this plan)"; run, it ended in KilledWorker."""
    res = Resources(2, 1, 512 * MiB)
    plan = make_plan(_plan().spec, WorkSpec(2), res, _plan().model, dask_auto_shape=(4096, 4096))
    assert plan.dask_auto.peak_bytes_per_worker > res.terminate_fraction * res.memory_limit_bytes
    (line,) = [t for t in explanation_lines(plan) if t.startswith("dask chunks='auto'")]
    assert line.endswith("616.00 MiB per worker; over 95% of the 512.00 MiB limit, where the "
                         "nanny restarts a worker: workers would be killed (KilledWorker): no "
                         "wall time predicted."), line


def test_dask_auto_keeps_the_axes_the_plan_keeps_whole():
    """Hunt: auto split the axis keep_whole names: a comparison with wrong results."""
    spec = ArraySpec((730, 180, 360), "float32", dims=("time", "lat", "lon"))
    plan = make_plan(spec, WorkSpec(3, keep_whole=(0,)), Resources(2, 1, 2048 * MiB),
                     _plan().model, dask_auto_shape=(730, 180, 180))
    text = "\n".join(explanation_lines(plan))
    assert "dask chunks='auto' (axes ['time'] whole, as the plan keeps them) would pick" in text


def test_the_wall_time_sentence_adds_up():
    """Hunt: "2 rounds" x 285.82 ms + 8 ms overhead + 172 ms cold start = 752 ms, stated
    902.90 ms: the fill/drain half task was in the number, not in the words."""
    from chunkpilot.units import format_seconds

    plan = _plan()
    c = plan.chosen
    assert c.fill_drain_seconds > 0
    (line,) = [t for t in explanation_lines(plan) if t.startswith("Predicted wall time")]
    overhead = c.overhead_fraction * c.wall_seconds
    work = c.wall_seconds - overhead - c.fill_drain_seconds - c.cold_seconds
    assert work > 0
    assert f"of work ({format_seconds(work)}) + {format_seconds(overhead)} scheduler" in line
    assert (f"+ {format_seconds(c.fill_drain_seconds)} while threads start and finish at "
            "different times (0.5 of a task)") in line
