"""Edge: build the trial computation (the user's work on a region, with given chunks)."""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from chunkpilot.types import ArraySpec, WorkSpec


def _summary(block: np.ndarray, user_func: Callable[[Any], Any] | None, ndim: int) -> np.ndarray:
    """Run the user's function and keep one number per block: no data shipped back."""
    out = block if user_func is None else user_func(block)
    total = float(np.asarray(out, dtype="f8").sum()) if np.size(out) else 0.0
    return np.full((1,) * ndim, total)


def trial_region(spec: ArraySpec, work: WorkSpec, chunk: tuple[int, ...], target_bytes: int) -> tuple[slice, ...]:
    """A leading slab of the array holding about ``target_bytes``, in whole chunks of ``chunk``.

    The slab is cut along the splittable axis with the most chunks, so the trial keeps
    the plan's chunk shape; the whole array when it is small.
    """
    if spec.nbytes <= target_bytes:
        return tuple(slice(0, n) for n in spec.shape)
    free = [i for i in range(spec.ndim) if i not in work.keep_whole] or [0]
    axis = max(free, key=lambda i: math.ceil(spec.shape[i] / chunk[i]))
    per_unit = spec.nbytes / spec.shape[axis]
    length = max(chunk[axis], int(target_bytes / per_unit) // chunk[axis] * chunk[axis])
    return tuple(slice(0, min(n, length)) if i == axis else slice(0, n)
                 for i, n in enumerate(spec.shape))


def source_array(source: Any, ref: Mapping[str, Any], chunk: tuple[int, ...]) -> Any:
    """The input as a dask array with ``chunk`` chunks, read lazily (stores read-only)."""
    import dask.array as da

    if ref["kind"] == "zarr":
        import zarr

        z = zarr.open_array(ref["path"], mode="r", path=ref.get("array") or None)
        return da.from_array(z, chunks=chunk, asarray=True, inline_array=False)
    if ref["kind"] == "hdf5":
        from chunkpilot.sources_hdf5 import open_dataset_readonly  # optional extra

        return da.from_array(open_dataset_readonly(ref), chunks=chunk)
    if hasattr(source, "rechunk") and hasattr(source, "dask"):
        return source.rechunk(chunk)
    return da.from_array(np.asarray(source) if not hasattr(source, "shape") else source, chunks=chunk)


def trial_collection(x: Any, func: Callable[[Any], Any] | None, work: WorkSpec) -> Any:
    """The per-block work as a dask array of one number per block (fused with the read)."""
    ndim = x.ndim
    if any(work.depth):
        return x.map_overlap(_summary, depth=dict(enumerate(work.depth)), boundary="none",
                             trim=False, user_func=func, ndim=ndim, dtype="f8",
                             chunks=tuple((1,) * len(c) for c in x.chunks))
    return x.map_blocks(_summary, user_func=func, ndim=ndim, dtype="f8",
                        chunks=tuple((1,) * len(c) for c in x.chunks))
