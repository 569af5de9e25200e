"""Pure chunk-shape geometry: grow a block to a byte target, aligned with storage.

Used both to cut profiling samples and to generate the planner's candidates, so a
sample has the shape the plan would use.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from dask.array.core import normalize_chunks

from chunkpilot.core.policy import RAGGED_FRACTION
from chunkpilot.types import ArraySpec, WorkSpec


def align_units(spec: ArraySpec) -> tuple[int, ...]:
    """Per-axis alignment unit: the storage chunk length, or 1 for contiguous data."""
    return spec.storage_chunks or (1,) * spec.ndim


def _round_to_unit(x: float, unit: int, length: int) -> int:
    return int(min(length, max(unit, round(x / unit) * unit)))


def _scale(c: int, unit: int, length: int, factor: float) -> int:
    """Grow ``c`` by ``factor``: to the next divisor of ``unit`` below it, else a multiple."""
    want = c * factor
    if want < unit:
        d = next(d for d in range(max(1, math.ceil(want)), unit + 1) if unit % d == 0)
        return min(length, d)
    return _round_to_unit(want, unit, length)


def _next_smaller_divisor(unit: int, current: int) -> int:
    """Largest divisor of ``unit`` below ``current`` (so chunks tile a storage chunk evenly)."""
    for d in range(min(current - 1, unit), 0, -1):
        if unit % d == 0:
            return d
    return 1


def min_lengths(spec: ArraySpec, work: WorkSpec) -> tuple[int, ...]:
    """The smallest-chunk rule: per axis, whole for keep_whole, else at least the overlap
    depth (``map_overlap`` requires it) and at least 1.

    Examples
    --------
    >>> min_lengths(ArraySpec((100, 50), "f8"), WorkSpec(2, (1,), (8, 0)))
    (8, 50)
    """
    return tuple(
        spec.shape[i] if i in work.keep_whole else max(1, min(spec.shape[i], work.depth[i]))
        for i in range(spec.ndim)
    )


def smallest_block_bytes(spec: ArraySpec, work: WorkSpec) -> int:
    """Least bytes one task can read: the smallest chunk with its halo, but never less than
    one storage chunk (reading any part of a storage chunk decodes all of it)."""
    block = math.prod(halo_shape(spec, work, min_lengths(spec, work))) * spec.itemsize
    return max(block, spec.stored_chunk_nbytes)


def shape_for_bytes(spec: ArraySpec, work: WorkSpec, target_bytes: float) -> tuple[int, ...]:
    """Chunk lengths whose block is close to ``target_bytes``, honouring alignment and axes.

    With storage chunks or an overlap depth, axes grow evenly (cube-like: each storage
    chunk is read once and halos stay thin); for contiguous data the trailing axes fill
    first, so each block is one contiguous run in C order.

    Examples
    --------
    >>> spec = ArraySpec((1000, 1000), "float64")
    >>> shape_for_bytes(spec, WorkSpec(2), 8 * 1000 * 10)
    (10, 1000)
    >>> spec = ArraySpec((1000, 1000), "float64", storage_chunks=(100, 100))
    >>> shape_for_bytes(spec, WorkSpec(2), 8 * 200 * 200)
    (200, 200)
    """
    units = align_units(spec)
    lows = min_lengths(spec, work)
    free = [i for i in range(spec.ndim) if i not in work.keep_whole]
    target_elems = max(1.0, target_bytes / spec.itemsize)
    if spec.storage_chunks is None and not any(work.depth):
        return _c_order(spec.shape, free, lows, target_elems)
    c = [spec.shape[i] if i in work.keep_whole else -(-lows[i] // units[i]) * units[i]
         for i in range(spec.ndim)]  # at least the depth, in whole storage chunks
    c = [min(ci, s) for ci, s in zip(c, spec.shape, strict=True)]
    c = _shrink_within_units(c, units, lows, free, target_elems)
    while math.prod(c) < target_elems:
        growable = [i for i in free if c[i] < spec.shape[i]]
        if not growable:
            break
        factor = target_elems / math.prod(c)
        # grow the shortest axis whose step lands closer to the target (in ratio) than now:
        # a prime storage chunk has no divisor between 1 and itself, so its step can overshoot
        steps = ((i, _scale(c[i], units[i], spec.shape[i], min(factor, 2.0)))
                 for i in sorted(growable, key=lambda a: (c[a], -a)))
        step = next(((i, g) for i, g in steps if g / c[i] <= factor * factor), None)
        if step is None:
            break
        c[step[0]] = step[1]
        if factor < 2:  # that was the last, fractional step
            break
    return tuple(c)


def _c_order(shape: tuple[int, ...], free: list[int], lows: tuple[int, ...],
             target: float) -> tuple[int, ...]:
    c = [shape[i] if i not in free else lows[i] for i in range(len(shape))]
    for i in reversed(free):
        others = math.prod(c) // c[i]
        # nearest, not floor: at a few rows the ladder's sqrt(2) steps must not skip a length
        # (2 -> 3 -> 4, not 2 -> 4), or noise moves the plan by 2x
        c[i] = int(min(shape[i], max(lows[i], 1, round(target / others))))
        if c[i] < shape[i]:
            break
    return tuple(c)


def _shrink_within_units(
    c: list[int], units: tuple[int, ...], lows: tuple[int, ...], free: list[int], target: float
) -> list[int]:
    """Split storage chunks evenly while a single one is bigger than the target; an axis
    stops shrinking where its next even split would go under the overlap depth."""

    def smaller(i: int) -> int:
        return _next_smaller_divisor(units[i], c[i]) if c[i] <= units[i] else units[i]

    while math.prod(c) > target:
        shrinkable = [i for i in free if c[i] > 1 and lows[i] <= smaller(i) < c[i]]
        if not shrinkable:
            break
        i = max(shrinkable, key=lambda a: (c[a], a))
        c[i] = smaller(i)
    return c


#: How far (in units) :func:`even_out` looks either side of a chunk for one whose last
#: chunk is not ragged, before it takes the whole axis.
EVEN_SEARCH_UNITS = 64


def _tail_fits(length: int, chunk: int, ragged: float) -> bool:
    tail = length % chunk
    return tail == 0 or tail >= ragged * chunk


def even_out(length: int, chunk: int, unit: int, ragged: float = RAGGED_FRACTION) -> int:
    """Shrink ``chunk`` (keeping it a multiple of ``unit``) so the last chunk is not tiny
    (not under ``ragged`` of the others, the check's ``ragged_chunks`` rule). When a
    ``unit`` > 1 keeps shrinking from doing it (365 days in storage chunks of 30: every
    multiple up to 120 leaves 5), the nearest multiple of ``unit`` that does, else the whole
    axis. (With unit 1 the chunks are as even as ``length`` allows.)

    Examples
    --------
    >>> even_out(1000, 450, 1)  # 450, 450, 100 -> 334, 334, 332
    334
    >>> even_out(1000, 500, 1)
    500
    >>> even_out(365, 120, 30), even_out(365, 60, 30)  # 150, 150, 65; 30 x 12 + 5 -> whole
    (150, 150)
    """
    if chunk >= length:
        return length
    n = math.ceil(length / chunk)
    evened = math.ceil(length / n)
    if unit > 1:
        evened = math.ceil(evened / unit) * unit
    evened = min(chunk, evened)
    if unit == 1 or _tail_fits(length, evened, ragged):  # unit 1: as even as it gets
        return evened
    k0 = max(1, round(chunk / unit))
    for d in range(1, EVEN_SEARCH_UNITS + 1):  # nearest first, the smaller on a tie
        for k in (k0 - d, k0 + d):
            if k >= 1 and k * unit < length and _tail_fits(length, k * unit, ragged):
                return k * unit
    return length


def even_tail(length: int, chunk: int, unit: int, ragged: float = RAGGED_FRACTION) -> int:
    """:func:`even_out`, and with ``unit`` 1 a last chunk never under ``ragged`` either: the
    nearest length that leaves none, the smaller on a tie (``check``'s fixes must pass
    ``check``; the planner keeps :func:`even_out`'s smooth lengths, where one small last
    chunk among many costs little and a jump of a length moves plans).

    >>> even_out(21, 5, 1), even_tail(21, 5, 1), even_tail(181, 6, 1)
    (5, 4, 7)
    """
    c = even_out(length, chunk, unit, ragged)
    if unit > 1 or _tail_fits(length, c, ragged):
        return c
    near = (k for d in range(1, c) for k in (c - d, c + d) if 0 < k < length)
    return next((k for k in near if _tail_fits(length, k, ragged)), c)


def candidate_shape(spec: ArraySpec, work: WorkSpec, target_bytes: float) -> tuple[int, ...]:
    """The planner's chunk for a byte target: :func:`shape_for_bytes`, evened out per axis (a
    split storage chunk stays an even divisor: evening it out would misalign it)."""
    units, lows = align_units(spec), min_lengths(spec, work)
    raw = shape_for_bytes(spec, work, target_bytes)
    return tuple(
        raw[i] if raw[i] < units[i] else max(lows[i], even_out(spec.shape[i], raw[i], units[i]))
        for i in range(spec.ndim)
    )


def regular_chunks(shape: tuple[int, ...], chunk: tuple[int, ...]) -> tuple[tuple[int, ...], ...]:
    """Dask-style chunks tuple for a regular chunk length per axis (last chunk ragged).

    Examples
    --------
    >>> regular_chunks((10, 4), (4, 4))
    ((4, 4, 2), (4,))
    """
    return normalize_chunks(chunk, shape)


def halo_shape(spec: ArraySpec, work: WorkSpec, chunk: tuple[int, ...]) -> tuple[int, ...]:
    """Block shape a task sees including the overlap halo on both sides (interior chunk)."""
    return tuple(min(s, c + 2 * d) for s, c, d in zip(spec.shape, chunk, work.depth, strict=True))


def storage_bytes_read(spec: ArraySpec, chunk: tuple[int, ...]) -> int:
    """Bytes of the storage chunks one dask chunk reads (and decodes): a chunk inside one
    storage chunk still reads all of it; one that straddles storage chunks reads each it
    touches (up to one more per axis than it covers). The chunk's own bytes without storage
    chunks."""
    if spec.storage_chunks is None:
        return math.prod(chunk) * spec.itemsize
    read = []
    for c, u, n in zip(chunk, spec.storage_chunks, spec.shape, strict=True):
        if c >= n or u % c == 0:
            k = 1 if c < n else math.ceil(n / u)
        elif c % u == 0:
            k = c // u
        else:
            k = math.ceil(c / u) + 1
        read.append(min(n, max(c, k * u)))
    return math.prod(read) * spec.itemsize


def misaligned_axes(chunk: tuple[int, ...], spec: ArraySpec) -> int:
    """Axes whose chunk is not a whole multiple of the storage chunk (nor the whole axis): a
    split storage chunk is read and decoded once per piece."""
    sc = spec.storage_chunks or (1,) * spec.ndim
    return sum(not (c % u == 0 or c == n) for c, u, n in zip(chunk, sc, spec.shape, strict=True))


def dask_auto_shape(spec: ArraySpec, keep_whole: tuple[int, ...] = ()) -> tuple[int, ...]:
    """The regular chunk shape dask's ``chunks="auto"`` picks for this array (config-aware),
    as a user writes it when axes must stay whole: ``{axis: -1}`` there, ``"auto"`` elsewhere
    (auto alone splits such an axis: a comparison with chunks that give wrong results).

    >>> dask_auto_shape(ArraySpec((730, 180, 360), "f4", storage_chunks=(73, 90, 90)), (0,))
    (730, 180, 180)
    """
    chunks: Any = ("auto" if not keep_whole else
                   {i: -1 if i in keep_whole else "auto" for i in range(spec.ndim)})
    normal = normalize_chunks(chunks, spec.shape, dtype=np.dtype(spec.dtype),
                              previous_chunks=spec.storage_chunks)
    return tuple(max(c) for c in normal)
