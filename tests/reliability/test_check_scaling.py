"""``check`` does O(chunks per axis) work, in C or numpy, never Python per chunk (issue 17,
item 3). No wall-clock assertion: the Python lines run are counted instead, and the
10**7-chunk store only has a generous timeout (benchmarks/check_scaling.py times it)."""

from __future__ import annotations

import itertools
import sys
from pathlib import Path

import numpy as np
import pytest
import zarr

import chunkpilot
from chunkpilot.core.chunk_axes import axis_reads, is_regular, ragged
from chunkpilot.core.shapes import regular_chunks


def _store(path: Path, shape: tuple[int, ...], chunks: tuple[int, ...]) -> str:
    zarr.create_array(str(path), shape=shape, chunks=chunks, dtype="f4")  # metadata only
    return str(path)


def _python_lines(fn) -> int:
    """How many Python lines ``fn()`` runs (every module: chunkpilot, dask, zarr)."""
    count = 0

    def tracer(frame, event, arg):
        nonlocal count
        if event == "line":
            count += 1
        return tracer

    sys.settrace(tracer)
    try:
        fn()
    finally:
        sys.settrace(None)
    return count


def _check_everything(path: str) -> None:
    report = chunkpilot.check(path, workers=1, threads_per_worker=1, memory_limit="1GiB")
    report.lines()
    report.to_dict()


@pytest.mark.parametrize(("shape", "chunks"), [((10**3,), (1,)), ((10**3, 7), (1, 7))],
                         ids=["1d", "2d"])
def test_python_work_does_not_grow_with_the_number_of_chunks(shape, chunks, tmp_path) -> None:
    small = _store(tmp_path / "small.zarr", shape, chunks)
    big = _store(tmp_path / "big.zarr", (shape[0] * 100, *shape[1:]), chunks)  # 100x chunks
    _check_everything(small)  # imports and caches out of the way
    lines_small = _python_lines(lambda: _check_everything(small))
    lines_big = _python_lines(lambda: _check_everything(big))
    # per-chunk Python work would add ~99 000 lines or more; allow a little noise
    assert lines_big < lines_small + 2_000, (lines_small, lines_big)


@pytest.mark.timeout(300)
@pytest.mark.parametrize(("shape", "chunks"), [((10**7,), (1,)), ((10**4, 10**3), (1, 1))],
                         ids=["1d", "2d"])
def test_ten_million_chunk_store(shape, chunks, tmp_path) -> None:
    path = _store(tmp_path / "huge.zarr", shape, chunks)
    _check_everything(_store(tmp_path / "warm.zarr", (10,), (1,)))  # imports out of the way
    box = {}

    def run() -> None:
        box["report"] = chunkpilot.check(path, workers=1, threads_per_worker=1,
                                         memory_limit="1GiB")
        box["report"].lines()

    # a few thousand Python lines whatever the size (Python per chunk: 10**7 lines and more,
    # which under the tracer also runs into the timeout)
    assert _python_lines(run) < 20_000
    report = box["report"]
    (result,) = report.results
    numbers = {p.code: dict(p.numbers) for p in result.problems}
    assert numbers["too_many_tasks"]["tasks"] == 10**7
    assert "10,000,000 chunks" in "\n".join(report.lines())


def _brute_reads(chunks: tuple[int, ...], unit: int) -> tuple[int, int]:
    edges = np.cumsum((0,) + chunks)
    touched = [len({i // unit for i in range(a, b)}) for a, b in zip(edges[:-1], edges[1:],
                                                                     strict=True)]
    return sum(touched), max(touched)


CHUNKINGS = [
    ((7,) * 13 + (3,), 5), ((6,) * 10, 4), ((4,) * 25, 4), ((5,), 3), ((10, 10, 2), 10),
    ((3, 9, 1, 12), 4), ((1,) * 50, 7), ((12, 12, 12), 5), ((2, 2, 5), 2), ((16,) * 8 + (1,), 6),
]


@pytest.mark.parametrize(("chunks", "unit"), CHUNKINGS, ids=str)
def test_axis_reads_match_brute_force(chunks, unit) -> None:
    assert axis_reads(chunks, unit) == _brute_reads(chunks, unit)


@pytest.mark.parametrize(("n", "c", "unit"),
                         list(itertools.product((1, 17, 100), (1, 3, 8), (1, 4, 6))))
def test_regular_axis_reads_match_brute_force(n, c, unit) -> None:
    (chunks,) = regular_chunks((n,), (c,))
    assert is_regular(chunks)
    assert axis_reads(chunks, unit) == _brute_reads(chunks, unit)


@pytest.mark.parametrize(
    ("chunks", "expected"),
    [((10, 10, 2), (1, 2)), ((10, 10, 10), (0, 10)), ((2, 10, 1, 10), (2, 1)), ((1,), (0, 1)),
     ((8, 1), (1, 1)), ((3, 3, 3, 1), (0, 1)), ((100, 50, 30), (0, 30))])
def test_ragged(chunks, expected) -> None:
    assert ragged(chunks) == expected
