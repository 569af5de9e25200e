"""A region of a stored array as a dask array whose graph fuses like the whole array's.

Slicing a dask array (``da.from_zarr(z)[region]``) puts a getitem layer between the store
reads and the computation, and dask then keeps each read a task of its own, shared by all
its consumers. On the whole array, with no slice, dask fuses the read into every task that
uses the block: ``da.tensordot(x, x, axes=([1, 2], [1, 2]))`` re-reads both blocks in each
block product (2048 reads of 128 chunks at 16 x 64 x 64), where the sliced sub-array read
each chunk once and ran at a fifth of the whole array's cost per chunk. A sample or a trial
region must run the graph the whole array runs, so the region is cut inside the array-like
the graph reads from (:class:`RegionView`), never by a slice layer.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import dask.array as da
from dask.base import tokenize


def concrete_region(region: Sequence[slice] | None, shape: Sequence[int]) -> tuple[slice, ...]:
    """``region`` with every start and stop filled in (step 1), within ``shape``.

    Examples
    --------
    >>> concrete_region((slice(None), slice(2, 5)), (4, 10))
    (slice(0, 4, None), slice(2, 5, None))
    >>> concrete_region(None, (3,))
    (slice(0, 3, None),)
    """
    region = tuple(region) if region is not None else tuple(slice(None) for _ in shape)
    out = []
    for s, n in zip(region, shape, strict=True):
        start, stop, step = s.indices(n)
        if step != 1:
            raise ValueError(f"Expected a region of contiguous slices. Got step {step}.")
        out.append(slice(start, max(start, stop)))
    return tuple(out)


class RegionView:
    """An array-like over ``region`` of ``array`` (any object dask's ``from_array`` reads):
    reading ``view[key]`` reads ``array`` at ``key`` shifted by the region's start.
    Picklable whenever ``array`` is (a trial's region travels to the workers)."""

    def __init__(self, array: Any, region: Sequence[slice]) -> None:
        self.array = array
        self.region = concrete_region(region, tuple(array.shape))
        self.shape = tuple(s.stop - s.start for s in self.region)
        self.dtype, self.ndim = array.dtype, len(self.shape)

    def __getitem__(self, key: Any) -> Any:
        key = key if isinstance(key, tuple) else (key,)
        if len(key) < self.ndim:
            key = key + (slice(None),) * (self.ndim - len(key))
        inner = []
        for k, r, n in zip(key, self.region, self.shape, strict=True):
            if isinstance(k, slice):  # -1 as a stop means "past the start", not the end
                start, stop, step = k.indices(n)
                end = r.start + stop
                inner.append(slice(r.start + start, end if end >= 0 else None, step))
            else:
                i = int(k)
                inner.append(r.start + (i + n if i < 0 else i))
        return self.array[tuple(inner)]


def region_array(array: Any, chunks: Sequence[int], region: Sequence[slice] | None, *,
                 name: str, inline_array: bool = False, asarray: bool | None = None) -> Any:
    """``region`` of ``array`` (all of it by default) as a dask array with ``chunks``, its
    layer named ``name-<token>`` as the whole array's would be (``from-zarr``, ``array``)."""
    cut = concrete_region(region, tuple(array.shape))
    whole = all(s.start == 0 and s.stop == n for s, n in zip(cut, array.shape, strict=True))
    source = array if whole else RegionView(array, cut)
    token = tokenize(array, cut, tuple(chunks))
    return da.from_array(source, chunks=tuple(chunks), name=f"{name}-{token}",
                         inline_array=inline_array, asarray=asarray)
