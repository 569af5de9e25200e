"""A sample that raised: a size limit caps the plan; data that raise are an error, found by
running the failed region again in pieces (real zarr data, real sandboxes)."""

from __future__ import annotations

import numpy as np
import pytest
import zarr

import chunkpilot
from chunkpilot.errors import ProfilingError, SampleFailedWarning
from chunkpilot.measure.failures import pieces

SHAPE = (4096, 4096)  # float64, 128 MiB; samples are cut around the centre
KW = {"scheduler": "threads", "workers": 1, "threads_per_worker": 2, "memory_limit": "2GiB"}


@pytest.fixture(scope="module")
def spiked(tmp_path_factory):
    """Zeros but one value, off the centre: inside the 8 MiB sample block, outside 1 MiB's."""
    path = tmp_path_factory.mktemp("failures") / "spiked.zarr"
    z = zarr.open_array(str(path), mode="w", shape=SHAPE, chunks=(512, 512), dtype="f8")
    z[:] = 0.0
    z[2300, 2300] = 1e9
    return str(path)


def rejects_outliers(block):
    if np.abs(block).max() > 1e6:
        raise FloatingPointError("outlier in block")
    return block + 1


def refuses_big_blocks(block):
    if block.size > 400_000:
        raise ValueError("my kernel takes at most 400,000 elements")
    return block + 1


def test_a_function_that_raises_on_some_data_is_an_error_not_a_size_limit(spiked):
    # before: "the function fails on a block of 8.00 MiB", a plan of smaller chunks, and
    # computing that plan raised on the block holding the spike
    with pytest.raises(ProfilingError, match="depends on the data"):
        chunkpilot.advise(spiked, rejects_outliers, **KW)


def test_a_function_that_raises_on_big_blocks_still_caps_the_plan(spiked):
    with pytest.warns(SampleFailedWarning, match="failed"):
        plan = chunkpilot.advise(spiked, refuses_big_blocks, **KW)
    assert plan.chosen.task_bytes <= 400_000 * 8


def test_pieces_tile_the_region_and_spread_when_there_are_many():
    assert len(pieces(((0, 100), (0, 100)), (10, 10))) == 8
    got = pieces(((0, 100), (0, 100)), (10, 10), limit=200)
    assert len(got) == 100 and got[-1] == ((90, 100), (90, 100))
    assert pieces(((0, 7),), (5,)) == [((0, 5),), ((5, 7),)]


def refuses_with_memory_error(block):
    if block.size > 400_000:
        raise MemoryError("my kernel takes at most 400,000 elements")
    return block + 1


def test_a_memory_error_the_function_raises_itself_is_its_message_not_our_memory_cap(spiked):
    # before: "the function needs more than 2.00 GiB per block of 6.00 MiB (oom: MemoryError)"
    with pytest.warns(SampleFailedWarning):
        plan = chunkpilot.advise(spiked, refuses_with_memory_error, **KW)
    (finding, *_) = [n for n in plan.notes if n.startswith("Finding")]
    assert "MemoryError: my kernel takes at most 400,000 elements" in finding, plan.notes
    assert "needs more than" not in finding, plan.notes
    assert plan.chosen.task_bytes <= 400_000 * 8
