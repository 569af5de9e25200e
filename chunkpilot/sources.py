"""Edge: describe an input (numpy, dask, zarr array or store path) without loading it.

Stores are opened read-only, always. Returns the pure :class:`ArraySpec` plus a small
reference the profiler uses to cut real sample blocks.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from chunkpilot.errors import (
    InvalidArgumentError,
    InvalidArgumentTypeError,
    StoreNotFoundError,
    StoreReadError,
)
from chunkpilot.types import ArraySpec, check_dtype

SourceRef = dict[str, Any]


def describe(source: Any, *, array: str | None = None) -> tuple[ArraySpec, SourceRef]:
    """Read shape, dtype, storage chunks and current chunks of ``source``."""
    if isinstance(source, (str, os.PathLike)):
        return _describe_path(Path(source), array)
    mod = type(source).__module__.split(".")[0]
    if mod == "xarray":
        from chunkpilot.xarray_support import describe_xarray

        return describe_xarray(source, array)
    if array is not None:
        raise InvalidArgumentError("Expected array=NAME only with a store path or a Dataset.")
    if mod == "zarr":
        return _describe_zarr(source)
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


def _describe_path(path: Path, array: str | None) -> tuple[ArraySpec, SourceRef]:
    from chunkpilot.sources_hdf5 import describe_hdf5, looks_like_hdf5

    if looks_like_hdf5(path):
        return describe_hdf5(path, array)
    if not path.exists():
        raise StoreNotFoundError(f"Expected a path to a zarr store. Got {str(path)!r}, which does not exist.")
    import zarr

    try:
        node = zarr.open(str(path), mode="r")
    except FileNotFoundError as e:  # zarr says this for a directory without metadata
        raise StoreNotFoundError(
            f"Expected a zarr store at {str(path)!r}. Got a path with no zarr metadata "
            "(.zarray/.zgroup/zarr.json)."
        ) from e
    except Exception as e:  # corrupt metadata: zarr raises many types here
        raise StoreReadError(f"Expected a readable zarr store at {str(path)!r}. Got {type(e).__name__}: {e}") from e
    if isinstance(node, zarr.Group):
        names = sorted(k for k, v in node.arrays())
        if array is None:
            if len(names) != 1:
                raise InvalidArgumentError(
                    f"Expected --array NAME for the group at {str(path)!r}, which holds arrays "
                    f"{names}." if names else f"Expected arrays in the group at {str(path)!r}. Got none."
                )
            array = names[0]
        if array not in names:
            raise InvalidArgumentError(
                f"Expected an array of the group at {str(path)!r} ({names}). Got {array!r} instead."
            )
        node = node[array]
    elif array is not None:
        raise InvalidArgumentError(f"Expected a group for --array {array!r}. Got an array at {str(path)!r}.")
    spec, _ = _describe_zarr(node, source=f"zarr:{path}")
    return spec, {"kind": "zarr", "path": str(path), "array": array}


def _describe_zarr(z: Any, source: str | None = None) -> tuple[ArraySpec, SourceRef]:
    check_dtype(z.dtype)
    shards = getattr(z, "shards", None)
    path = _local_path(z)
    spec = ArraySpec(tuple(z.shape), np.dtype(z.dtype).name, storage_chunks=tuple(z.chunks),
                     shards=tuple(shards) if shards else None, dims=zarr_dims(z),
                     source=source or (f"zarr:{path}" if path else "zarr"))
    if path is not None:
        name = str(getattr(z, "path", "") or "") or None
        return spec, {"kind": "zarr", "path": path, "array": name}
    return spec, {"kind": "numpy", "array": z}  # in-memory store: slice it in the parent


def zarr_dims(z: Any) -> tuple[str, ...] | None:
    """Dimension names: zarr v3 ``dimension_names`` or xarray's v2 ``_ARRAY_DIMENSIONS``."""
    names = getattr(getattr(z, "metadata", None), "dimension_names", None)
    names = names or z.attrs.get("_ARRAY_DIMENSIONS")
    if not names or len(names) != z.ndim or any(n is None for n in names):
        return None
    return tuple(str(n) for n in names)


def _local_path(z: Any) -> str | None:
    store = getattr(z, "store", None)
    root = getattr(store, "root", None) or getattr(store, "path", None)
    return str(root) if root is not None and os.path.isdir(str(root)) else None


def dask_auto_shape(spec: ArraySpec) -> tuple[int, ...]:
    """The regular chunk shape dask's ``chunks="auto"`` picks for this array (config-aware)."""
    from dask.array.core import normalize_chunks

    chunks = normalize_chunks("auto", spec.shape, dtype=np.dtype(spec.dtype),
                              previous_chunks=spec.storage_chunks)
    return tuple(max(c) for c in chunks)
