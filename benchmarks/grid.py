"""The grid of chunk shapes searched for the oracle: a x2 ladder of storage-aligned shapes.

Independent of chunkpilot's own shape logic (so the oracle does not share its biases):
start from one storage chunk (axes in ``keep_whole`` full, every axis at least the overlap
depth), then double the shortest growable axis, step after step, up to half the array
(at least two chunks, one per worker).
"""

from __future__ import annotations

import math


def ladder(shape: tuple[int, ...], storage: tuple[int, ...], itemsize: int,
           keep_whole: tuple[int, ...] = (), depth: int = 0) -> list[tuple[int, ...]]:
    """Every shape of the doubling ladder, smallest first.

    Examples
    --------
    >>> ladder((8, 8), (2, 2), 1)[:4]
    [(2, 2), (2, 4), (4, 4), (4, 8)]
    """
    unit = [shape[i] if i in keep_whole else min(shape[i], max(storage[i], depth))
            for i in range(len(shape))]
    mult = [1] * len(shape)
    cur = tuple(unit)
    out = [cur]
    while True:
        growable = [i for i in range(len(shape)) if i not in keep_whole and cur[i] < shape[i]]
        if not growable:
            return out
        i = min(growable, key=lambda a: (cur[a], -a))  # shortest axis; trailing axes first
        mult[i] *= 2
        cur = tuple(min(shape[a], unit[a] * mult[a]) for a in range(len(shape)))
        out.append(cur)


def grid(shape: tuple[int, ...], storage: tuple[int, ...], itemsize: int, *,
         keep_whole: tuple[int, ...] = (), depth: int = 0, min_bytes: int,
         max_points: int) -> list[tuple[int, ...]]:
    """Ladder shapes of at least ``min_bytes`` and at most half the array, thinned evenly
    (keeping both ends) to ``max_points``."""
    total = math.prod(shape) * itemsize
    shapes = [s for s in ladder(shape, storage, itemsize, keep_whole, depth)
              if math.prod(s) * itemsize <= total // 2]
    big_enough = [s for s in shapes if math.prod(s) * itemsize >= min_bytes]
    shapes = big_enough or shapes[-1:]
    if len(shapes) <= max_points:
        return shapes
    picks = sorted({round(k * (len(shapes) - 1) / (max_points - 1)) for k in range(max_points)})
    return [shapes[k] for k in picks]
