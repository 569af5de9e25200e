"""check's pure rules: every problem reachable, numbers and fixes, suggestions without problems."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest

from chunkpilot.core.chunk_axes import read_amplification
from chunkpilot.core.lint import (
    find_problems,
    suggest_chunk_shape,
    worthy_bytes,
)
from chunkpilot.core.shapes import regular_chunks
from chunkpilot.types import ArraySpec, Resources

MiB, GiB = 2**20, 2**30

LOCAL = Resources(2, 2, 4 * GiB, "local")  # distributed: ~1 ms a task
THREADS = Resources(1, 4, 8 * GiB, "threads")
BIG = ArraySpec((4000, 2000, 1000), "float64", dims=("time", "lat", "lon"), source="dask")
STORED = ArraySpec((4000, 2000, 1000), "float64", storage_chunks=(100, 500, 500),
                   dims=("time", "lat", "lon"), source="zarr:/data/big.zarr")


#: 365 days stored in chunks of 30: every multiple of 30 up to 120 leaves a last chunk of 5.
YEAR = ArraySpec((365, 90, 180), "float64", storage_chunks=(30, 45, 90),
                 dims=("time", "lat", "lon"), source="hdf5:clim.nc")


def codes(spec: ArraySpec, res: Resources, chunk: tuple[int, ...]) -> set[str]:
    return {p.code for p in find_problems(spec, res, regular_chunks(spec.shape, chunk))}


@pytest.mark.parametrize(
    ("spec", "res", "chunk", "expected"),
    [
        # 1 MiB chunks on distributed: tiny, and 64,000 tasks is under the task ceiling
        (BIG, LOCAL, (64, 2000, 1), {"tiny_chunks"}),
        # 8 kB chunks: tiny and 8 million tasks
        (BIG, LOCAL, (1, 1000, 1), {"tiny_chunks", "too_many_tasks"}),
        # 8 GB chunks on 4 GiB workers
        (BIG, LOCAL, (500, 2000, 1000), {"exceeds_memory"}),
        # aligned in time, straddling storage chunks in lat/lon
        (STORED, LOCAL, (200, 300, 300), {"storage_misaligned"}),
        # half a storage chunk: each storage chunk read twice
        (STORED, LOCAL, (50, 500, 500), {"storage_misaligned"}),
        # 4000 = 3 x 1300 + 100: a 100-long last chunk next to 1300-long ones
        (BIG, LOCAL, (1300, 10, 1000), {"ragged_chunks"}),
        # a 16 GB array in 2 chunks of 8 GB on 4 threads with plenty of memory
        (ArraySpec((2000, 1000, 1000), "float64"), Resources(1, 4, 200 * GiB, "threads"),
         (1000, 1000, 1000), {"too_few_chunks"}),
        # good: 200 MB / 160 MB chunks, aligned, many per thread, fit memory
        (STORED, LOCAL, (100, 500, 500), set()),
        (BIG, THREADS, (10, 2000, 1000), set()),
    ],
    ids=["tiny", "tiny-and-too-many", "too-big", "misaligned", "sub-storage", "ragged",
         "too-few", "good-stored", "good-threads"],
)
def test_find_problems(spec, res, chunk, expected):
    assert codes(spec, res, chunk) == expected


def test_problems_carry_numbers_and_a_fix():
    (p,) = find_problems(BIG, LOCAL, regular_chunks(BIG.shape, (500, 2000, 1000)))
    assert p.severity == "error" and "7.45 GiB" in p.message and "4.00 GiB" in p.message
    assert "rechunk to {'time'" in p.fix and dict(p.numbers)["chunk_bytes"] == 8 * 10**9
    (p,) = find_problems(STORED, LOCAL, regular_chunks(STORED.shape, (50, 500, 500)))
    assert "re-open the source with chunks=" in p.fix and "2.00 times" in p.message


def test_read_amplification_matches_brute_force():
    spec = ArraySpec((30, 20), "f8", storage_chunks=(7, 6))
    chunks = ((4, 11, 15), (5, 5, 10))
    reads, most = 0, 0
    edges = [np.cumsum((0,) + ax) for ax in chunks]
    for (a0, a1), (b0, b1) in itertools.product(zip(edges[0], edges[0][1:], strict=False),
                                                  zip(edges[1], edges[1][1:], strict=False)):
        touched = {(i // 7, j // 6) for i in range(a0, a1) for j in range(b0, b1)}
        reads, most = reads + len(touched), max(most, len(touched))
    amp, touched_most = read_amplification(spec, chunks)
    assert amp == pytest.approx(reads / (math.ceil(30 / 7) * math.ceil(20 / 6)))
    assert touched_most == most


@pytest.mark.parametrize(
    ("spec", "res"),
    [(BIG, LOCAL), (STORED, LOCAL), (BIG, THREADS), (ArraySpec((300, 200), "float32"), LOCAL),
     (ArraySpec((10**6,), "int8"), THREADS), (ArraySpec((7, 5000, 3), "int16"), LOCAL),
     (YEAR, LOCAL),
     # hunt 12: evening 365 = 2 x 182 + 1 and 721 = 2 x 360 + 1 out took both axes whole
     # (363 MiB, flagged exceeds_memory by the check that suggested it)
     (ArraySpec((365, 721, 721), "float64", storage_chunks=(182, 360, 1)),
      Resources(2, 1, GiB, "local")),
     # ... and unit 1 left a ragged last chunk (181 = 30 x 6 + 1)
     (ArraySpec((100, 8760, 181), "float32", storage_chunks=(50, 8760, 1)), THREADS)],
    ids=["big-local", "stored-local", "big-threads", "small", "1d", "odd", "ragged-storage",
         "whole-by-evening", "ragged-unit-1"],
)
def test_suggested_shape_has_no_problems(spec, res):
    shape = suggest_chunk_shape(spec, res, 1e-3 if res.distributed else 1e-4)
    assert codes(spec, res, shape) == set()


def test_storage_chunks_too_big_for_memory_say_rewrite():
    res = Resources(1, 2, 256 * MiB, "threads")  # a 200 MB storage chunk cannot be loaded whole
    shape = suggest_chunk_shape(STORED, res, 1e-4)
    (p,) = find_problems(STORED, res, regular_chunks(STORED.shape, shape))
    assert p.code == "storage_misaligned" and "rewrite the store" in p.fix


def test_worthy_bytes_scales_with_overhead():
    assert worthy_bytes(1e-3) == pytest.approx(10 * worthy_bytes(1e-4), rel=1e-6)
    assert worthy_bytes(1e-3) == pytest.approx(100 * 1e-3 * 2**30)


@pytest.mark.parametrize("time", [30, 60, 120])
def test_a_ragged_fix_passes_the_check_itself_even_when_the_storage_is_ragged(time):
    """Hunt: 365 days in storage chunks of 30, chunks of 120: "Use evenly sized chunks along
    'time', e.g. 120", the chunks given; checked again, the same warning."""
    (p,) = [p for p in find_problems(YEAR, LOCAL, regular_chunks(YEAR.shape, (time, 90, 180)))
            if p.code == "ragged_chunks"]
    even = int(p.fix.split("e.g. ")[1].split(",")[0])
    assert even != time
    assert "ragged_chunks" not in codes(YEAR, LOCAL, (even, 90, 180)), p.fix


def test_misalignment_counts_agree_with_their_nouns():
    """hunt5: "touches up to 1 storage chunks ... read 1600.00 times"."""
    spec = ArraySpec((2000, 2000), "float32", storage_chunks=(400, 400))
    (p,) = [p for p in find_problems(spec, LOCAL, regular_chunks(spec.shape, (10, 10)))
            if p.code == "storage_misaligned"]
    assert "touches up to 1 storage chunk and" in p.message
    assert "read (and decompressed) 1,600 times" in p.message


def test_a_ragged_fix_along_an_unaligned_axis_passes_the_check_itself():
    """Hunt 12: 21 in chunks of 5 leaves 1: "Use evenly sized chunks along axis 0, e.g. 5"."""
    spec = ArraySpec((21, 2000, 2000), "float32")
    (p,) = [p for p in find_problems(spec, LOCAL, regular_chunks(spec.shape, (5, 2000, 2000)))
            if p.code == "ragged_chunks"]
    even = int(p.fix.split("e.g. ")[1].split(",")[0])
    assert even != 5
    assert "ragged_chunks" not in codes(spec, LOCAL, (even, 2000, 2000)), p.fix


def test_too_few_chunks_held_by_one_storage_chunk_says_so_instead_of_quoting_it():
    """Hunt 12: one storage chunk holds the array; the fix said "Use at least 8 chunks:
    re-open the source with chunks=(365, 721, 181)", the shape it had just flagged."""
    spec = ArraySpec((365, 721, 181), "float32", storage_chunks=(365, 721, 181),
                     source="zarr:/d/few.zarr")
    res = Resources(2, 2, 2 * GiB, "local")
    (p,) = [p for p in find_problems(spec, res, regular_chunks(spec.shape, spec.storage_chunks))
            if p.code == "too_few_chunks"]
    assert "(365, 721, 181)" not in p.fix.split("allow no more")[1], p.fix
    assert "rewrite the store with smaller chunks" in p.fix
    split = eval(p.fix.split("about ")[1].split(", or")[0])  # the shape it names
    assert math.prod(map(len, regular_chunks(spec.shape, split))) >= res.total_threads
