"""A pipeline whose tasks take turns on a process's threads: advise measures it on the
sub-array and prices every task with it (``Sample.pair_seconds``), and says so."""

from __future__ import annotations

import pytest

import chunkpilot
from tests.helpers.data import make_random_zarr

pytestmark = [pytest.mark.slow, pytest.mark.timing]


def python_rows(block):
    """Pure-Python work on every block (it holds the GIL): ~250 ms a 4 MiB block, so the
    sub-array runs over the 0.3 s a scaling verdict needs."""
    total = 0.0
    values = block.ravel().tolist()
    for _ in range(8):
        for v in values:
            total += v
    return block * 0 + total


def rows_sum(x):
    return x.map_blocks(python_rows, dtype=x.dtype).sum()


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    # 32 MiB: the samples' 4 MiB chunk, the one timed on two threads, is a small one
    return make_random_zarr(tmp_path_factory.mktemp("gil") / "a.zarr", (2048, 2048), (256, 256))


def test_threads_that_take_turns_are_measured_and_priced(store):
    plan = chunkpilot.advise(store, pipeline=rows_sum, scheduler="threads",
                             threads_per_worker=2, memory_limit="2GiB")
    paired = [s for s in plan.model.samples if s.pair_seconds]
    assert paired, "the scaling run's speedup should reach the model as a sample's pair time"
    assert plan.model.thread_speedup is not None
    assert plan.model.busy_slowdown(plan.chosen.task_bytes, 2, 2) == 1.0
    text = plan.explain()
    assert "The pipeline's sub-array on two threads of one process ran" in text
    assert "for the GIL to start" not in text  # nothing measured it for a pipeline
