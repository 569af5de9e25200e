"""A sample that raised: a size limit caps the plan; data that raise are an error, found by
running the failed region again in pieces (real zarr data, real sandboxes)."""

from __future__ import annotations

import time

import numpy as np
import pytest
import zarr

import chunkpilot
from chunkpilot.core.model import Sample
from chunkpilot.errors import ProfilingError, SampleFailedWarning
from chunkpilot.measure.failures import check_data_dependence, narrow_limit, pieces

MiB = 2**20
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
    # before: ran at 1 MiB, failed at 8 MiB (then 12 MiB too), and plans of 2 or 4 MiB
    # were both allowed; the candidate sizes between were tried: 2 MiB ran, 4 MiB failed
    m = plan.model
    assert m.block_limit_bytes is not None and m.max_ok_bytes is not None
    assert m.block_limit_bytes <= 400_000 * 8 < m.max_ok_bytes <= 2 * m.block_limit_bytes
    assert max(s.nbytes for s in m.samples) <= 8 * 2**20  # nothing above the first failure


def _sizes_run(limit_bytes: int, first: list[Sample], sizes: list[int], **kw) -> list[int]:
    samples = list(first)

    def run(block: tuple[int, ...]) -> Sample:
        n = block[0]
        return (Sample(n, block, 0.01, n) if n <= limit_bytes
                else Sample(n, block, error="ValueError: too big", error_kind="exception"))

    narrow_limit(samples, [(n, (n,)) for n in sizes], run, **kw)
    return [s.nbytes for s in samples[len(first):]]


def test_narrowing_tries_the_middle_candidate_size_between_what_ran_and_what_failed():
    first = [Sample(1, (1,), 0.01, 1), Sample(64, (64,), error="x", error_kind="exception")]
    sizes = [1, 2, 4, 8, 16, 32, 64, 128]
    assert _sizes_run(3, first, sizes) == [8, 4, 2]  # 2 ran, 4 failed: nothing left between
    assert _sizes_run(40, first, sizes) == [8, 32]  # 32 ran, and 64 had failed
    assert _sizes_run(3, first, sizes, limit=1) == [8]
    oom = [first[0], Sample(64, (64,), error="killed", error_kind="oom")]
    assert _sizes_run(40, oom, sizes) == [8, 32]
    slow = [first[0], Sample(64, (64,), error="timed out", error_kind="timeout")]
    assert _sizes_run(40, slow, sizes) == []  # each try could take as long again
    assert _sizes_run(40, first[:1], sizes) == []  # nothing failed


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


def test_a_sample_that_raised_though_a_bigger_one_ran_is_no_size_limit():
    # before: the smallest sample that raised had no smaller one that ran, so nothing was
    # checked; a function refusing blocks narrower than 200 columns (or failing at random)
    # got an ordinary plan, noted "plans stay at or below 0 B"
    samples = [Sample(MiB // 4, (256, 128), error="ValueError: narrow", error_kind="exception"),
               Sample(MiB, (512, 256), 0.01, MiB), Sample(8 * MiB, (1024, 1024), 0.1, 8 * MiB)]

    def no_pieces_needed(region):
        raise AssertionError("the sizes alone tell")

    with pytest.raises(ProfilingError, match=r"ValueError: narrow on a 256.00 kiB sample "
                                             r"\(256, 128\), though the bigger 8.00 MiB"):
        check_data_dependence(samples, lambda s: (), no_pieces_needed)
    check_data_dependence(samples[1:], lambda s: (), no_pieces_needed)  # none raised


def narrow_blocks_refused(block):
    """50 ms a MiB: after the 1 and 8 MiB samples no bigger one is worth the time, and the
    third is a quarter of the smallest, (256, 128): too narrow."""
    if block.shape[1] < 200:
        raise ValueError("my kernel needs 200 columns")
    time.sleep(0.05 * block.nbytes / MiB)
    return block + 1


def test_a_function_refusing_narrow_blocks_stops_advise_with_the_reason(spiked):
    with pytest.raises(ProfilingError, match="depends on the data or the block's shape"):
        chunkpilot.advise(spiked, narrow_blocks_refused, **KW)


def refuses_over_100k(block):
    if block.size > 100_000:
        raise ValueError("my kernel takes at most 100,000 elements")
    return block + 1


def test_a_limit_under_the_first_sample_tries_the_smallest_block_a_plan_may_use(tmp_path):
    # before: "Expected the function to run on a 1.00 MiB block" though the 128 KiB storage
    # chunks ran; now the smallest candidate runs, the gap is narrowed, and the plan stays
    # under the kernel's limit
    path = str(tmp_path / "small_chunks.zarr")
    zarr.open_array(path, mode="w", shape=SHAPE, chunks=(128, 128), dtype="f8")[:] = 0.0
    with pytest.warns(SampleFailedWarning):
        plan = chunkpilot.advise(path, refuses_over_100k, **KW)
    assert plan.chosen.task_bytes <= 100_000 * 8
    assert min(s.nbytes for s in plan.model.samples if s.ok) <= 128 * 128 * 8
    with pytest.raises(ProfilingError, match="Expected the function to run on a "):
        chunkpilot.advise(path, rejects_outliers_always, **KW)


def rejects_outliers_always(block):
    raise FloatingPointError("always")
