"""Which sizes a chunk family measures within advise's time budget (``pipeline.family``), in
real pipeline sandboxes: the largest sample is made only in the time left, smaller or not at
all, and the plan says so."""

from __future__ import annotations

import time

import dask
import dask.array as da
import numpy as np
import pytest
import zarr

import chunkpilot
from chunkpilot.measure.sandbox import pickle_func
from chunkpilot.measure.time_budget import TimeBudget
from chunkpilot.pipeline.family import measure_family, within_time
from chunkpilot.pipeline.measure import PipelineSandbox
from chunkpilot.types import ArraySpec, Resources, WorkSpec

pytestmark = pytest.mark.timing  # measured time or CPU: runs alone (tests/helpers/timing_gate.py)

MiB = 2**20
SPEC = ArraySpec((2048, 4096), "float64")  # 64 MiB: samples up to 16 MiB are worth it
#: Seconds a chunk sleeps per MiB: the planner's per-chunk time budget (0.1 s) reaches past
#: 8 MiB, so without a time budget the largest sample is well past the 4 MiB one.
SLEEP_PER_MIB_S = 0.01


def _sleepy(block: np.ndarray) -> np.ndarray:
    time.sleep(SLEEP_PER_MIB_S * block.nbytes / MiB)
    return block


def sleepy_sum(x):
    return x.map_blocks(_sleepy, dtype=x.dtype).sum()


def _family(budget: TimeBudget | None) -> tuple[list[int], list[str]]:
    box = PipelineSandbox(pickle_func(sleepy_sum) or b"", SPEC, {"kind": "synthetic"}, {},
                          2**30, 60.0)
    notes: list[str] = []
    ms = measure_family(box, SPEC, WorkSpec(2), Resources(1, 1, 2**30, "threads"),
                        baseline_guess_bytes=0, budget=budget, notes=notes)
    assert all(m.sample.ok for m in ms), [m.sample.error for m in ms]
    return [m.sample.nbytes for m in ms], notes


def test_without_a_budget_the_largest_sample_is_measured():
    sizes, notes = _family(None)
    assert max(sizes) > 6 * MiB and not notes


def test_with_no_time_left_the_largest_sample_is_skipped_and_said():
    spent = TimeBudget(10.0, time.monotonic())  # nothing left once the small ones ran
    sizes, notes = _family(spent)
    assert max(sizes) == 4 * MiB and len(sizes) >= 3  # a smaller third size instead
    assert len(notes) == 1 and "was not measured" in notes[0]
    assert "advise's 10 s time budget (chunkpilot.advise.time-budget)" in notes[0]


def test_the_size_that_fits_the_time_left_is_measured_instead():
    run = lambda b: 9 * b  # noqa: E731 - a 3 x 3 sub-array
    cold = {4 * MiB: 0.45}  # 0.9 s a run at 8 MiB: cold and two warm runs, 2.7 s
    size, wanted = within_time(cold, 8 * MiB, 6 * MiB, 2.2, run, over_budget_runs=2)
    assert wanted == pytest.approx(2.7)
    assert size is not None and 6 * MiB <= size < 8 * MiB
    assert within_time(cold, 8 * MiB, 6 * MiB, 1.0, run, 2)[0] is None  # not even 6 MiB
    assert within_time(cold, 8 * MiB, 6 * MiB, 3.0, run, 2)[0] == 8 * MiB  # all of it
    # a run long enough to be measured once (cold only) costs less than one just under it
    assert within_time({4 * MiB: 0.6}, 8 * MiB, 6 * MiB, 1.5, run, 2)[0] == 8 * MiB


def test_a_budget_counts_down_and_keeps_its_reserve():
    assert TimeBudget.start(0) is None
    b = TimeBudget.start(5.0)
    assert b is not None and 4.0 < b.left_s() <= 5.0
    kept = TimeBudget(5.0, b.end_s, reserve_s=lambda ms: 2.0)
    assert kept.left_s() - kept.left_s([]) == pytest.approx(2.0, abs=0.05)


def test_advise_with_a_short_budget_says_what_it_left_out(tmp_path):
    """End to end, through dask config: a contraction on a real zarr store, advised with a
    1 s budget, keeps its samples to the two small ones (and a third below them) and says
    which runs the budget left out; the plan is still made."""
    z = zarr.open_array(str(tmp_path / "m.zarr"), mode="w", shape=(2048, 2048),
                        chunks=(512, 512), dtype="f8")
    z[:] = np.random.default_rng(0).random((2048, 2048))

    def gram(x: da.Array) -> da.Array:
        return (x @ x.T).sum()

    with dask.config.set({"chunkpilot.advise.time-budget": "1s"}):
        plan = chunkpilot.advise(str(tmp_path / "m.zarr"), pipeline=gram, scheduler="threads")
    said = [n for n in plan.notes if "time budget (chunkpilot.advise.time-budget)" in n]
    assert said, plan.notes
    assert all("advise's 1 s time budget" in n for n in said)
    assert max(s["bytes"] for s in plan.to_dict()["measured"]["samples"]) <= 4 * MiB
    assert plan.chunk_shape  # a plan all the same
