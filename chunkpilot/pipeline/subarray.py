"""The sub-array a pipeline measurement runs on: a few chunks per axis near the array's
centre, chunk-aligned, and how many chunks of the nominal size it holds (``pipeline.measure``
times and sizes its samples per such chunk). Axes the pipeline needs at their full length
(``pipeline.extent``: it combines the array with a fixed-shape operand, ``x @ w``,
``x - climatology``) span the whole array in every sub-array and placeholder graph."""

from __future__ import annotations

import math
from collections.abc import Sequence

from chunkpilot.types import ArraySpec

MiB = 2**20
#: Input chunks per axis in a measured sub-array (an interior chunk has both neighbours).
CHUNKS_PER_AXIS = 3
#: Largest sub-array a measurement reads; bigger chunks get fewer chunks per axis (>= 2).
SUBARRAY_MAX_BYTES = 256 * MiB


def nominal_chunks(region: Sequence[tuple[int, int]], chunk: Sequence[int],
                   shape: Sequence[int]) -> float:
    """How many chunks of ``chunk``'s size the sub-array ``region`` holds. A region clipped by
    the array's edge ends in a short chunk: 1024 x 1536 chunks of a 2048-wide array ran as
    1536 + 512 columns, 4 MiB a chunk on average for a nominal 6 MiB, and timing per input
    chunk priced the 6 MiB sample below the 4 MiB one (x.T @ x: the plan's time at 1024 x
    2048 came out 0.18 s or 0.29 s, by which samples an advise took; it ran 0.31 s). Per
    nominal chunk, time is taken in proportion to bytes.

    >>> nominal_chunks(((0, 3072), (0, 2048)), (1024, 1536), (4096, 2048))
    4.0
    >>> nominal_chunks(((0, 3072), (0, 2048)), (1024, 1024), (4096, 2048))
    6.0
    """
    volume = math.prod(b - a for a, b in region)
    return volume / math.prod(min(c, n) for c, n in zip(chunk, shape, strict=True))


def sub_shape(shape: Sequence[int], chunk: Sequence[int], per_axis: int,
              full_axes: Sequence[int] = ()) -> tuple[int, ...]:
    """``per_axis`` chunks along every axis (fewer where the array is shorter), the whole
    length along ``full_axes``.

    >>> sub_shape((1000, 500), (100, 50), 3), sub_shape((1000, 500), (100, 50), 3, (1,))
    ((300, 150), (300, 500))
    """
    return tuple(n if i in full_axes else min(n, per_axis * c)
                 for i, (n, c) in enumerate(zip(shape, chunk, strict=True)))


def subarray_region(spec: ArraySpec, chunk: tuple[int, ...], per_axis: int = CHUNKS_PER_AXIS,
                    full_axes: Sequence[int] = ()) -> tuple[tuple[int, int], ...]:
    """A region near the centre spanning up to ``per_axis`` chunks per axis (the whole of
    ``full_axes``), chunk-aligned.

    Examples
    --------
    >>> subarray_region(ArraySpec((1000, 50), "float64"), (100, 50))
    ((300, 600), (0, 50))
    """
    per = per_axis
    while per > 2 and math.prod(sub_shape(spec.shape, chunk, per, full_axes)) * \
            spec.itemsize > SUBARRAY_MAX_BYTES:
        per -= 1
    out = []
    for n, c, extent in zip(spec.shape, chunk, sub_shape(spec.shape, chunk, per, full_axes),
                            strict=True):
        start = (n - extent) // 2 // c * c
        out.append((start, start + extent))
    return tuple(out)


def subarray_bytes(spec: ArraySpec, chunk: tuple[int, ...], full_axes: Sequence[int] = ()
                   ) -> int:
    """Bytes of the sub-array a measurement at ``chunk`` runs (``core.budget``: its run time
    follows them, not the chunk's: an axis spanned whole does not grow with the chunk).

    >>> spec = ArraySpec((730, 128, 256), "float32")
    >>> subarray_bytes(spec, (730, 8, 8)) == subarray_bytes(spec, (730, 32, 32)) // 16
    True
    >>> every = (0, 1, 2)  # every axis whole: the whole array at every chunk size
    >>> subarray_bytes(spec, (730, 8, 8), every) == subarray_bytes(spec, (730, 32, 32), every)
    True
    """
    region = subarray_region(spec, chunk, CHUNKS_PER_AXIS, full_axes)
    return math.prod(b - a for a, b in region) * spec.itemsize
