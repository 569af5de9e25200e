"""Keep, re-open or rechunk: the extra tasks a rechunk costs and the advice for each source."""

from __future__ import annotations

import pytest

from chunkpilot.core.rechunk import rechunk_advice, rechunk_task_count
from tests.core.plans import synthetic_plan as _plan


@pytest.mark.parametrize(
    ("old", "new", "tasks"),
    [
        (((2, 2),), ((4,),), 3),           # 2 pieces + 1 concat
        (((3, 3),), ((2, 2, 2),), 7),      # overlay 0,2,3,4,6 -> 4 pieces + 3 new chunks
        (((5, 5), (4,)), ((10,), (2, 2)), 6),  # 2x2 pieces + 1x2 new chunks
    ],
    ids=["merge", "shift", "2d"],
)
def test_rechunk_task_count(old, new, tasks):
    assert rechunk_task_count(old, new) == tasks


@pytest.mark.timeout(60)
def test_rechunk_task_count_of_a_terabyte_grid():
    """An 8 TB array of 10**6 rows in 4096-row chunks re-planned to 2 rows: 500k chunks along
    the axis. The count was quadratic in them (hours for the plan's JSON); it is linear."""
    old = ((4096,) * 244 + (576,), (10**6,))
    new = ((2,) * 500_000, (10**6,))
    # every old edge is a multiple of 2 (4096 x k, then 10**6): the overlay is the new grid
    assert rechunk_task_count(old, new) == 500_000 + 500_000


@pytest.mark.parametrize(
    ("source", "current", "keep", "action"),
    [
        ("xarray:/data/x.nc", ((10,) * 100, (1000,)), (), "reopen"),
        ("dask", ((10,) * 100, (1000,)), (0,), "rechunk"),   # keep_whole axis currently split
        ("dask", None, (), None),                            # no dask chunks: no advice
    ],
    ids=["file-backed", "split-keep-whole", "no-current"],
)
def test_rechunk_advice_actions(source, current, keep, action):
    plan = _plan((1000, 1000), ("y", "x"), current=current, source=source, keep=keep)
    advice = rechunk_advice(plan)
    assert (advice.action if advice else None) == action
    if advice is not None:
        assert advice.rechunk_tasks > 0 and str(advice.rechunk_tasks) in advice.reason


def test_rechunk_advice_keeps_matching_chunks():
    first = _plan((1000, 1000), ("y", "x"))
    plan = _plan((1000, 1000), ("y", "x"), current=first.chunks, source="dask")
    advice = rechunk_advice(plan)
    assert advice.action == "keep" and advice.rechunk_tasks == 0


def test_current_chunks_predicted_faster_than_the_plan_say_so_not_that_it_saves_nothing():
    """Hunt 10: "Keep the current chunks: the plan would save 0.00 us" when the current
    chunks were predicted faster (the plan won a tie on memory)."""
    plan = _plan((4000, 4000), ("y", "x"), current=((1000,) * 4, (2000,) * 2), source="dask")
    advice = rechunk_advice(plan)
    assert advice.current.wall_seconds < plan.chosen.wall_seconds
    assert advice.action == "keep"
    assert "predicted no slower than the plan's (149.83 ms vs 154.20 ms)" in advice.reason
    assert "save" not in advice.reason


def test_uneven_current_chunks_are_priced_as_the_tasks_they_are():
    """Hunt 15: 2,000 chunks of one row and one of 2,000 were priced as a grid of their
    largest chunk ("2 chunks", "Keep the current chunks": the plan would save 2.32 ms)."""
    current = ((1,) * 2000 + (2000,), (256,))
    plan = _plan((4000, 256), ("y", "x"), current=current, source="dask")
    advice = rechunk_advice(plan)
    assert advice.current.task_count == 2001
    assert advice.current_chunk_shape == (2000, 256)
    # never faster than its largest chunk's own task, and 2,001 tasks of overhead at least
    assert advice.current.wall_seconds >= 2001 * plan.model.overhead_seconds_per_task
    assert advice.action == "rechunk", advice.reason
    regular = rechunk_advice(_plan((4000, 256), ("y", "x"), current=((1000,) * 4, (256,)),
                                   source="dask"))
    assert regular.current.task_count == 4
