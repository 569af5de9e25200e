"""A per-block function's mid and largest samples within advise's time budget
(``measure.profile``), in real sandboxes: made only in the time left, smaller or not at all,
and the plan says so."""

from __future__ import annotations

import time

import dask
import numpy as np
import pytest
import zarr

import chunkpilot
from chunkpilot.core.budget import fit_in_time
from chunkpilot.core.model import Sample
from chunkpilot.measure.blocks import sample_seconds
from chunkpilot.measure.profile import WORTH_A_SAMPLE, profile_function
from chunkpilot.measure.remeasure import planned, remeasure_seconds
from chunkpilot.measure.time_budget import TimeBudget
from chunkpilot.types import ArraySpec, Resources, WorkSpec

# Not ``timing``: the function sleeps, so the sizes it is sampled at hardly move with the
# machine's load, and the budgets here are either spent or far too short to matter.

MiB = 2**20
SPEC = ArraySpec((2048, 4096), "float64")  # 64 MiB, synthetic samples
#: Seconds a call sleeps per MiB: the profile's per-call budget (0.5 s) reaches ~50 MiB, so
#: without a time budget the mid and largest samples are well past the 8 MiB one.
SLEEP_PER_MIB_S = 0.01


def sleepy(block: np.ndarray) -> np.ndarray:
    time.sleep(SLEEP_PER_MIB_S * block.nbytes / MiB)
    return block


def _profile(budget: TimeBudget | None):
    prof = profile_function(sleepy, SPEC, WorkSpec(2), Resources(1, 1, 2**31, "threads"),
                            {"kind": "synthetic"}, env={}, baseline_guess_bytes=0,
                            budget=budget)
    assert all(s.ok for s in prof.samples), [s.error for s in prof.samples]
    return [s.nbytes for s in prof.samples], prof.notes


def test_without_a_budget_the_mid_and_largest_samples_are_measured():
    sizes, notes = _profile(None)
    assert max(sizes) > 2 * WORTH_A_SAMPLE * 8 * MiB and not notes


def test_with_no_time_left_the_bigger_samples_are_skipped_and_said():
    sizes, notes = _profile(TimeBudget(10.0, time.monotonic()))  # spent before they start
    assert max(sizes) <= 8 * MiB and len(set(sizes)) >= 3  # a third size from below
    assert len(notes) == 1 and "was not measured" in notes[0]
    assert "advise's 10 s time budget (chunkpilot.advise.time-budget)" in notes[0]


def test_a_sample_that_does_not_fit_is_priced_smaller():
    """The size measured instead: the biggest whose job (``sample_seconds``) fits the time
    left, down to ``WORTH_A_SAMPLE`` x the biggest sample so far, else none."""
    call = lambda b: SLEEP_PER_MIB_S * b / MiB  # noqa: E731
    cost = lambda b: sample_seconds(call(b))  # noqa: E731
    size, wanted = fit_in_time(48 * MiB, 12 * MiB, 2.0, cost)
    assert wanted == pytest.approx(cost(48 * MiB)) and wanted > 2.0
    assert size is not None and 12 * MiB <= size < 48 * MiB and cost(size) <= 2.0
    assert fit_in_time(48 * MiB, 12 * MiB, cost(12 * MiB) * 0.9, cost)[0] is None


def test_the_reserve_is_the_re_runs_remeasure_will_make():
    small = [Sample(1 * MiB, (128, 1024), 0.02, 3 * MiB, runs_seconds=(0.02,) * 7),
             Sample(8 * MiB, (1024, 1024), 0.15, 24 * MiB, runs_seconds=(0.15,) * 7)]
    big = Sample(32 * MiB, (4096, 1024), 0.6, 96 * MiB, runs_seconds=(0.6,) * 3)
    assert planned(small + [big]) == small  # the big one is on the curve: not measured again
    assert remeasure_seconds(small + [big]) == pytest.approx(
        sample_seconds(0.02) + sample_seconds(0.15))
    assert remeasure_seconds([big]) == 0.0


def test_advise_with_a_short_budget_says_what_it_left_out(tmp_path):
    """End to end, through dask config: a function on a real zarr store, advised with a 1 s
    budget, keeps its samples to the small ones and says which the budget left out."""
    z = zarr.open_array(str(tmp_path / "a.zarr"), mode="w", shape=SPEC.shape,
                        chunks=(256, 4096), dtype="f8")
    z[:] = np.random.default_rng(0).random(SPEC.shape)
    with dask.config.set({"chunkpilot.advise.time-budget": "1s"}):
        plan = chunkpilot.advise(str(tmp_path / "a.zarr"), sleepy, scheduler="threads")
    said = [n for n in plan.notes if "time budget (chunkpilot.advise.time-budget)" in n]
    assert said and all("advise's 1 s time budget" in n for n in said), plan.notes
    assert max(s["bytes"] for s in plan.to_dict()["measured"]["samples"]) <= 8 * MiB
    assert plan.chunk_shape  # a plan all the same
