"""Edge: describe any input (numpy, dask, zarr, xarray, a store path) without loading it.

Stores are opened read-only, always. Returns the pure :class:`ArraySpec` plus a small
reference the profiler uses to cut real sample blocks; each kind of store has its module.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
from dask.array.core import normalize_chunks

from chunkpilot.errors import InvalidArgumentError, InvalidArgumentTypeError
from chunkpilot.sources.hdf5 import describe_hdf5, looks_like_hdf5
from chunkpilot.sources.xarray import describe_xarray
from chunkpilot.sources.zarr import describe_zarr, describe_zarr_path
from chunkpilot.types import ArraySpec, SourceRef, check_dtype

__all__ = ["SourceRef", "dask_auto_shape", "describe"]


def describe(source: Any, *, array: str | None = None) -> tuple[ArraySpec, SourceRef]:
    """Read shape, dtype, storage chunks and current chunks of ``source``."""
    if isinstance(source, (str, os.PathLike)):
        path = Path(source)
        return describe_hdf5(path, array) if looks_like_hdf5(path) else describe_zarr_path(path, array)
    mod = type(source).__module__.split(".")[0]
    if mod == "xarray":
        return describe_xarray(source, array)
    if array is not None:
        raise InvalidArgumentError("Expected array=NAME only with a store path or a Dataset.")
    if mod == "zarr":
        return describe_zarr(source)
    if mod == "dask" and hasattr(source, "chunks"):
        check_dtype(source.dtype)
        spec = ArraySpec(source.shape, source.dtype.str if source.dtype.names else source.dtype.name,
                         current_chunks=source.chunks, source="dask")
        return spec, {"kind": "synthetic"}
    if isinstance(source, np.ndarray):
        check_dtype(source.dtype)
        return ArraySpec(source.shape, source.dtype.name, source="numpy"), {
            "kind": "numpy", "array": source}
    raise InvalidArgumentTypeError(
        "Expected a numpy, dask, zarr or xarray array, or a path to a zarr/HDF5/netCDF4 store. "
        f"Got {type(source).__name__} instead."
    )


def dask_auto_shape(spec: ArraySpec) -> tuple[int, ...]:
    """The regular chunk shape dask's ``chunks="auto"`` picks for this array (config-aware)."""
    chunks = normalize_chunks("auto", spec.shape, dtype=np.dtype(spec.dtype),
                              previous_chunks=spec.storage_chunks)
    return tuple(max(c) for c in chunks)
