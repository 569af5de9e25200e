"""Chunk geometry: shapes for a byte target, alignment with storage, the smallest chunk."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from chunkpilot.core.shapes import (
    even_out,
    halo_shape,
    min_lengths,
    regular_chunks,
    shape_for_bytes,
    smallest_block_bytes,
)
from chunkpilot.types import ArraySpec, WorkSpec


def _aligned(c: int, s: int, n: int) -> bool:
    return c % s == 0 or s % c == 0 or c == n


@pytest.mark.parametrize(
    ("shape", "storage", "depth", "target_elems", "expected"),
    [
        # depth longer than a storage chunk: round the depth up to whole storage chunks
        ((1000,), (100,), (150,), 1, (200,)),
        # depth shorter than a storage chunk: an even split of the storage chunk, >= depth
        ((1000,), (100,), (15,), 1, (20,)),
        # no depth: the smallest even split of the storage chunk
        ((1000,), (100,), (0,), 1, (1,)),
        # 2-D, cube-like growth over storage chunks
        ((1000, 1000), (100, 100), (0, 0), 200 * 200, (200, 200)),
    ],
    ids=["depth>storage", "depth<storage", "no-depth", "2d-cube"],
)
def test_shape_for_bytes_stays_aligned_and_meets_depth(shape, storage, depth, target_elems,
                                                       expected):
    spec = ArraySpec(shape, "float64", storage_chunks=storage)
    got = shape_for_bytes(spec, WorkSpec(len(shape), (), depth), target_elems * 8)
    assert got == expected
    assert all(_aligned(c, s, n) for c, s, n in zip(got, storage, shape, strict=True))
    assert all(c >= d for c, d in zip(got, depth, strict=True))


@settings(max_examples=200, deadline=None)
@given(st.integers(1, 400), st.integers(1, 60), st.integers(0, 90), st.floats(1, 1e5))
def test_every_shape_is_aligned_and_at_least_the_depth(n, s, d, target):
    spec = ArraySpec((n,), "uint8", storage_chunks=(s,))
    (c,) = shape_for_bytes(spec, WorkSpec(1, (), (d,)), target)
    assert _aligned(c, min(s, n), n)
    assert c >= min(d, n)


def test_contiguous_data_fills_trailing_axes_first():
    spec = ArraySpec((1000, 1000), "float64")
    assert shape_for_bytes(spec, WorkSpec(2), 8 * 1000 * 10) == (10, 1000)


def test_the_smallest_chunk_rule():
    spec = ArraySpec((100, 50, 30), "float32", storage_chunks=(10, 50, 30))
    work = WorkSpec(3, (1,), (4, 0, 0))
    assert min_lengths(spec, work) == (4, 50, 1)
    assert halo_shape(spec, work, (4, 50, 1)) == (12, 50, 1)
    # never less than one storage chunk: reading any part of one decodes all of it
    assert smallest_block_bytes(spec, work) == 10 * 50 * 30 * 4
    assert smallest_block_bytes(ArraySpec((100, 50), "f8"), WorkSpec(2)) == 8


def test_even_out_and_regular_chunks():
    assert even_out(1000, 450, 1) == 334
    assert even_out(1000, 450, 50) == 350  # stays a multiple of the unit
    assert regular_chunks((10, 4), (4, 4)) == ((4, 4, 2), (4,))
    assert math.prod(len(a) for a in regular_chunks((1000, 1000), (334, 500))) == 6


def test_storage_bytes_read_counts_whole_storage_chunks():
    from chunkpilot.core.shapes import misaligned_axes, storage_bytes_read

    spec = ArraySpec((1024, 2048), "float32", storage_chunks=(128, 256))
    assert storage_bytes_read(spec, (128, 2048)) == 128 * 2048 * 4  # aligned: its own bytes
    assert storage_bytes_read(spec, (32, 2048)) == 128 * 2048 * 4  # inside one storage row
    assert storage_bytes_read(spec, (192, 2048)) == 384 * 2048 * 4  # straddles: up to 3 rows
    assert storage_bytes_read(ArraySpec((100,), "float32"), (10,)) == 40  # no storage chunks
    assert misaligned_axes((32, 2048), spec) == 1 and misaligned_axes((256, 512), spec) == 0
