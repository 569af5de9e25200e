"""Tuning's pure rules: refit from an observation, which way to move, what to pick."""

from __future__ import annotations

import pytest

from chunkpilot.core.converge import (
    close_call,
    direction,
    keep_walking,
    neighbour,
    pick,
    refit,
    region_bytes,
    trial_region,
)
from chunkpilot.core.model import CostModel, LinearFit
from chunkpilot.core.observations import MemoryRecord, Observation, TaskRecord, WorkerInfo
from chunkpilot.core.verdicts import Verdict
from chunkpilot.types import ArraySpec, Resources, WorkSpec

MiB = 2**20


def test_refit_on_tiny_blocks_raises_the_fixed_cost_not_the_multiplier():
    model = CostModel(LinearFit(0, 1e-9, 1), LinearFit(20 * MiB, 2.0, 1), 1e-3,
                      baseline_bytes=100 * MiB)
    obs = Observation(wall_seconds=1.0, memory=(MemoryRecord(0.0, "w", 0, 100 * MiB, 0),
                                                MemoryRecord(0.5, "w", 0, 300 * MiB, 0)),
                      workers=(WorkerInfo("w", 1, 1000 * MiB),))
    new = refit(model, obs, 128 * 1024, Resources(1, 1, 1000 * MiB))
    assert new.memory.slope == model.memory.slope
    assert new.memory.fixed > model.memory.fixed


def test_direction_prefers_too_small_over_an_idle_tail():
    small = Verdict("too_small", "tiny tasks", {"median_task_seconds": 0.001})
    tail = Verdict("too_big", "idle tail", {"peak_memory_fraction": 0.1, "target_fraction": 0.6,
                                            "idle_tail_share": 0.5})
    mem = Verdict("too_big", "memory", {"peak_memory_fraction": 0.9, "target_fraction": 0.6})
    assert direction((small, tail)) == +1
    assert direction((small, mem)) == -1
    assert direction((tail,)) == -1
    assert direction(()) == 0


def test_refit_raises_memory_estimate_from_observation():
    model = CostModel(LinearFit(0, 1e-9, 1), LinearFit(0, 2.0, 1), 1e-3, baseline_bytes=100 * MiB)
    obs = Observation(wall_seconds=1.0, memory=(MemoryRecord(0.0, "w", 0, 100 * MiB, 0),
                                                MemoryRecord(0.5, "w", 0, 700 * MiB, 0)),
                      workers=(WorkerInfo("w", 1, 1000 * MiB),))
    new = refit(model, obs, 100 * MiB, Resources(1, 1, 1000 * MiB))
    assert new.memory.slope > model.memory.slope  # 700 MiB seen vs 300 MiB predicted


def test_refit_scales_time_to_the_observed_median_and_ignores_failed_runs():
    model = CostModel(LinearFit(0.01, 1e-9, 1), LinearFit(0, 2.0, 1), 1e-3)
    tasks = tuple(TaskRecord(f"('f', {i})", "f", "w", 1, "compute", i, i + 0.5) for i in range(5))
    obs = Observation(wall_seconds=3.0, tasks=tasks, workers=(WorkerInfo("w", 1, 1000 * MiB),))
    new = refit(model, obs, 10 * MiB, Resources(1, 1, 1000 * MiB))
    assert new.task_seconds(10 * MiB) == pytest.approx(0.5)
    failed = Observation(wall_seconds=3.0, tasks=tasks, restarts=1)
    capped = refit(model, failed, 10 * MiB, Resources(1, 1, 1000 * MiB))
    assert capped.time == model.time  # a failed run is no timing evidence
    assert capped.max_ok_bytes == 10 * MiB  # but workers died at that size: never again


@pytest.mark.parametrize(
    ("current", "steps", "expected"),
    [((4,), 1, (8,)), ((4,), -2, (1,)), ((8,), 1, None), ((1,), -1, None), ((3,), 1, (4,))],
    ids=["up", "down-two", "past-top", "past-bottom", "off-ladder-inserted"],
)
def test_neighbour_walks_the_ladder(current, steps, expected):
    assert neighbour([(1,), (2,), (4,), (8,)], current, steps) == expected


def test_pick_takes_the_fastest_median_and_the_smaller_chunk_only_on_an_exact_tie():
    assert pick({(100,): [1.00], (200,): [0.95]}, 8) == (200,)  # inside the noise, faster
    assert pick({(100,): [1.00], (200,): [1.20]}, 8) == (100,)
    # after a close call's repeat, medians decide: 0.95 -> 1.07 makes (200,) the slower
    assert pick({(100,): [1.00, 1.02], (200,): [0.95, 1.19]}, 8) == (100,)
    assert pick({(200,): [1.00], (100,): [1.00]}, 8) == (100,)  # exact tie: smaller block


def test_the_hill_climb_walks_on_while_each_step_is_faster():
    # a flat step (3 %, inside the 10 % noise) goes on, but does not yet rule out the other side
    assert keep_walking(2.60, 2.60, 2.51, 0.10) == (True, False)
    # the next step beats the start by more than the noise: clearly better
    assert keep_walking(2.60, 2.51, 2.05, 0.10) == (True, True)
    # a step no faster than the last ends the walk, whatever it does against the start
    assert keep_walking(2.60, 2.05, 2.10, 0.10) == (False, False)
    assert keep_walking(1.00, 1.00, 1.00, 0.10) == (False, False)


def test_a_close_call_is_two_shapes_within_the_measured_noise():
    assert close_call({(1,): [1.0], (2,): [1.05], (3,): [2.0]}) == ((1,), (2,))
    assert close_call({(1,): [1.0, 1.01], (2,): [1.05]}) is None  # 5 % > the 1 % measured
    assert close_call({(1,): [1.0]}) is None


def test_refit_ignores_memory_an_earlier_run_left_behind():
    model = CostModel(LinearFit(0, 1e-9, 1), LinearFit(0, 2.0, 1), 1e-3, baseline_bytes=100 * MiB)
    # the worker starts this run at 600 MiB (an earlier trial's leftovers) and rises 150 MiB
    obs = Observation(wall_seconds=1.0, memory=(MemoryRecord(0.0, "w", 0, 600 * MiB, 0),
                                                MemoryRecord(0.5, "w", 0, 750 * MiB, 0)),
                      workers=(WorkerInfo("w", 1, 1000 * MiB),))
    assert refit(model, obs, 50 * MiB, Resources(1, 1, 1000 * MiB)).memory == model.memory


def test_trial_region_is_whole_chunks_along_the_busiest_free_axis():
    spec = ArraySpec((4000, 100), "float64")
    region = trial_region(spec, WorkSpec(2, (1,)), (100, 100), target_bytes=250 * 100 * 8)
    assert region == (slice(0, 200), slice(0, 100))  # 2.5 chunks of data -> 2 whole chunks
    assert trial_region(spec, WorkSpec(2), (100, 100), spec.nbytes) == (
        slice(0, 4000), slice(0, 100))


def test_the_trial_region_spans_the_axes_a_pipeline_needs_whole():
    spec = ArraySpec((1000, 4000), "float64")  # axis 1 has the most chunks, but x @ w needs it
    region = trial_region(spec, WorkSpec(2), (100, 100), 200 * 4000 * 8, full_axes=(1,))
    assert region == (slice(0, 200), slice(0, 4000))
    # nothing left to cut: the whole array
    assert trial_region(spec, WorkSpec(2, (0,)), (1000, 100), 8, full_axes=(1,)) == (
        slice(0, 1000), slice(0, 4000))


def test_the_trial_region_holds_half_a_second_of_a_fast_plans_work():
    MiB = 2**20
    # a 1 MiB plan at 5 ms a task on 2 threads: 8 rounds are only 16 MiB (90 ms of work)
    assert region_bytes(MiB, 0.005, 2) == int(0.5 * 2 * MiB / 0.005)  # 200 MiB, 0.5 s
    # a slow plan keeps its 8 rounds per thread
    assert region_bytes(64 * MiB, 2.0, 2) == 8 * 2 * 64 * MiB
    assert region_bytes(MiB, 0.0, 4) == 8 * 4 * MiB  # no prediction: rounds only


def test_a_plan_with_one_possible_shape_says_no_trial_can_move_it():
    """Hunt 13: tune with every axis kept whole called its only shape too_big and asked for
    smaller chunks, with nothing saying no other shape was possible."""
    from chunkpilot.core.converge import only_shape_note
    from tests.core.plans import synthetic_plan

    whole = synthetic_plan((1000, 1000), ("y", "x"), keep=(0, 1))
    assert "every axis is kept whole" in only_shape_note(whole)
    assert only_shape_note(synthetic_plan((1000, 1000), ("y", "x"), keep=(0,))) is None
