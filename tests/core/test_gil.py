"""The GIL rule (pure): what a GIL-holding function is charged per task on a worker."""

from __future__ import annotations

import dataclasses

import pytest

from chunkpilot.core.gil import GIL_SHARE_MIN, gil_wait
from chunkpilot.core.model import CostModel, LinearFit
from chunkpilot.core.plan import make_plan
from chunkpilot.types import ArraySpec, Resources, WorkSpec

MiB = 2**20


def test_the_wait_is_the_share_times_the_clusters_wait_and_is_said():
    wait, note = gil_wait(0.9, 0.012)
    assert wait == pytest.approx(0.0108)
    assert note is not None and "90%" in note and "12 ms" in note


@pytest.mark.parametrize(("share", "cluster"), [
    (None, 0.012),            # no sample call was long enough to tell
    (GIL_SHARE_MIN / 2, 0.012),  # numpy-like: releases the GIL
    (0.9, None),              # threads: no worker event loop to starve
])
def test_no_wait_when_it_does_not_apply(share, cluster):
    assert gil_wait(share, cluster) == (0.0, None)


def test_a_gil_wait_per_task_makes_the_planner_choose_fewer_bigger_chunks():
    """gil_loop/local: 64-row blocks waited ~12 ms each, 1.6x the wall of 512-row blocks."""
    spec = ArraySpec((2048, 4096), "float32", storage_chunks=(64, 4096))
    work = WorkSpec(2, keep_whole=(1,))
    res = Resources(2, 1, 4096 * MiB, "local")
    base = CostModel(LinearFit(0.0, 0.023 / MiB, 1.0), LinearFit(2 * MiB, 2.0, 1.0), 1.5e-3,
                     baseline_bytes=150 * MiB)
    plain = make_plan(spec, work, res, base)
    held = make_plan(spec, work, res, dataclasses.replace(base, gil_wait_seconds_per_task=0.012))
    assert held.chosen.task_count < plain.chosen.task_count
    assert held.chosen.seconds_per_task >= 0.012
