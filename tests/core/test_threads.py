"""Pure: a function that holds the GIL (measured in a sample) makes tasks sharing a worker's
threads slower, and the plan stops asking threads for chunks they cannot run in parallel."""

from __future__ import annotations

import dataclasses

import pytest

from chunkpilot.core.choice import threads_scale
from chunkpilot.core.evaluate import evaluate
from chunkpilot.core.model import Sample, fit_cost_model
from chunkpilot.core.plan import make_plan
from chunkpilot.types import ArraySpec, Resources, WorkSpec

MiB = 2**20

SPEC = ArraySpec((2048, 4096), "float32")  # 32 MiB, as the benchmark's gil_loop
THREADS = Resources(1, 2, 8 * 2**30, "threads")


def _model(pair_ratio: float | None, gil: float | None = 0.95):
    """Linear work, 28 ms a MiB; ``pair_ratio``: two calls at once / one call (None: untimed)."""
    samples = []
    for mib in (1, 4, 8):
        s = 0.028 * mib
        runs = (s, s * 1.01, s * 0.99)
        pair = s * pair_ratio if (pair_ratio and mib == 1) else None
        samples.append(Sample(mib * MiB, (64 * mib, 4096), s, 3 * mib * MiB, runs_seconds=runs,
                              gil_share=gil if mib == 1 else None, pair_seconds=pair))
    return fit_cost_model(samples, overhead_seconds_per_task=2e-4)


def test_no_pair_timed_means_threads_run_in_parallel():
    m = _model(None, gil=None)
    assert m.thread_speedup is None and threads_scale(m)
    assert m.thread_slowdown(2) == m.thread_slowdown(8) == 1.0


@pytest.mark.parametrize(("ratio", "speedup", "slow2"),
                         [(1.0, 2.0, 1.0), (2.0, 1.0, 2.0), (2.8, 2 / 2.8, 2.8)])
def test_speedup_and_slowdown_from_the_pair(ratio, speedup, slow2):
    m = _model(ratio)
    assert m.thread_speedup == pytest.approx(speedup)
    assert m.thread_slowdown(1) == 1.0
    assert m.thread_slowdown(2) == pytest.approx(slow2)
    assert threads_scale(m) is (speedup >= 1.25)


def test_a_gil_holding_function_gets_one_chunk_on_the_threaded_scheduler():
    """Two threads convoying (two calls at once take 2.8x one call, as gil_loop on this
    machine): the whole array in one task beats every split; with threads that scale, the
    same samples give at least 2 chunks per thread."""
    convoy = make_plan(SPEC, WorkSpec(2, keep_whole=(1,)), THREADS, _model(2.8))
    assert convoy.chosen.task_count == 1, convoy.chunk_shape
    assert any("holds the GIL" in line for line in convoy.explain().splitlines())
    assert convoy.to_dict()["model"]["thread_speedup"] == pytest.approx(2 / 2.8)
    parallel = make_plan(SPEC, WorkSpec(2, keep_whole=(1,)), THREADS, _model(None, gil=None))
    assert parallel.chosen.task_count >= 4, parallel.chunk_shape
    assert "GIL" not in parallel.explain()


def test_one_thread_per_worker_is_not_slowed():
    """Processes with one thread each (the benchmark's LocalCluster) never share a GIL."""
    procs = Resources(2, 1, 4 * 2**30)
    plan = make_plan(SPEC, WorkSpec(2, keep_whole=(1,)), procs, _model(2.8))
    base = make_plan(SPEC, WorkSpec(2, keep_whole=(1,)), procs, _model(None, gil=None))
    assert plan.chosen.wall_seconds == pytest.approx(base.chosen.wall_seconds)
    assert plan.chunk_shape == base.chunk_shape


@pytest.mark.parametrize(("gil", "wait2"),
                         [(0.9, 0.9 * 0.005), (0.48, 0.48 * 0.005), (0.2, 0.0), (None, 0.0)])
def test_each_task_waits_a_switch_interval_share_for_the_gil(gil, wait2):
    """dask's threaded scheduler ran gil_loop's 32 tasks of 64 rows 0.14 s slower on two
    threads than the same calls in a loop: 4.4 ms a task, its 0.89 GIL share x 5 ms."""
    m = _model(2.0 if gil and gil >= 0.25 else None, gil=gil)
    assert m.gil_wait_seconds(1) == 0.0
    assert m.gil_wait_seconds(2) == pytest.approx(wait2)
    e = evaluate((64, 4096), SPEC, WorkSpec(2, keep_whole=(1,)), THREADS, m)
    assert e.task_count == 32  # the wait is charged with the scheduler overhead, per task
    assert e.overhead_fraction * e.wall_seconds == pytest.approx(32 * (2e-4 + wait2), rel=1e-6)


def test_calls_timed_side_by_side_are_not_also_slowed_by_the_cores_they_kept_busy():
    """A pipeline's scaling run (two chunks at once on two threads) already competed for the
    cores its reads kept busy alone: the busy-core factor is not applied on top of it."""
    alone = [Sample(n * 2**20, (n * 256, 512), 0.01 * n, 3 * n * 2**20, cores_busy=1.32)
             for n in (1, 4, 16)]
    cores_only = fit_cost_model(alone, overhead_seconds_per_task=1e-4)
    assert cores_only.busy_slowdown(4 * 2**20, 2, 2) == pytest.approx(1.32)
    paired = [dataclasses.replace(alone[1], pair_seconds=2 * 0.04 / 1.1), alone[0], alone[2]]
    measured = fit_cost_model(paired, overhead_seconds_per_task=1e-4)
    assert measured.thread_speedup == pytest.approx(1.1)
    assert measured.busy_slowdown(4 * 2**20, 2, 2) == 1.0
    assert measured.thread_slowdown(2) == pytest.approx(2 / 1.1)
