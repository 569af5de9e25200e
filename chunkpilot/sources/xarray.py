"""Edge: describe xarray DataArrays and Dataset variables (read-only; no planning here)."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import numpy as np

from chunkpilot.dtypes import check_dtype, is_data
from chunkpilot.errors import (
    InvalidArgumentError,
    InvalidArgumentTypeError,
)
from chunkpilot.sources.hdf5 import dataset_dims, import_h5py, list_datasets, looks_like_hdf5
from chunkpilot.sources.optional import import_optional
from chunkpilot.sources.remote import is_url
from chunkpilot.sources.storage_options import StorageOptions, as_storage_options, display_url
from chunkpilot.sources.zarr import describe_zarr_url, group_arrays, zarr_dims
from chunkpilot.types import ArraySpec


def import_xarray() -> Any:
    """``xarray``, or a :class:`MissingDependencyError` with the install command."""
    return import_optional("xarray", "for Dataset/DataArray input", "xarray")


def is_xarray(obj: Any) -> bool:
    """True for xarray objects, decided without importing xarray."""
    return type(obj).__module__.split(".")[0] == "xarray"


def is_dataset(obj: Any) -> bool:
    return is_xarray(obj) and hasattr(obj, "data_vars")


def data_variables(ds: Any) -> list[str]:
    """Names of the numeric data variables with at least one dimension, in Dataset order."""
    # decoded times (a CF file's ``time_bnds``) are data variables to xarray, not data to plan
    return [str(name) for name, v in ds.data_vars.items()
            if is_data(v.dtype, v.shape) and np.dtype(v.dtype).kind not in "Mm"]


def _select(obj: Any, variable: str | None) -> tuple[Any, str | None]:
    """The DataArray to describe, and the path of the Dataset's file (zarr keeps it there)."""
    xr = import_xarray()
    if isinstance(obj, xr.Dataset):
        names = data_variables(obj)
        if variable is None:
            raise InvalidArgumentError(
                f"Expected variable=NAME for a Dataset with data variables {names}." if names
                else "Expected a Dataset with a data variable (numeric, not 0-d). Got "
                f"{f'only {sorted(map(str, obj.variables))}' if obj.variables else 'none'}.")
        if variable not in obj.data_vars:
            raise InvalidArgumentError(
                f"Expected a data variable of the Dataset ({names}). Got {variable!r} instead."
            )
        return obj[variable], obj.encoding.get("source")
    if isinstance(obj, xr.DataArray):
        if variable is not None and variable != obj.name:
            raise InvalidArgumentError(
                (f"Expected variable=None or {obj.name!r} for this DataArray. "
                 if obj.name is not None else
                 "Expected variable=None for this unnamed DataArray (it is the array). ")
                + f"Got {variable!r} instead.")
        return obj, None
    raise InvalidArgumentTypeError(
        f"Expected an xarray DataArray or Dataset. Got {type(obj).__name__} instead."
    )


#: dask layers that make a subset of an array or join several (``isel``, ``open_mfdataset``).
NOT_STORED_LAYERS = frozenset({"getitem", "vindex-merge", "concatenate", "stack"})


def as_stored(da: Any) -> bool:
    """Whether ``da`` is its file's variable whole (transposed or rechunked is fine), not a
    subset (``isel``) or several files combined (``open_mfdataset``), where the first file's
    storage grid and path say nothing of the array. Told by the file's shape
    (``original_shape``: netCDF), the dask layers that made it (a subset of an array of
    several files can have one file's shape; zarr records no shape), or the lazily indexed
    variable's own shape (no dask)."""
    original = da.encoding.get("original_shape")
    if original is not None and sorted(original) != sorted(da.shape):
        return False
    if NOT_STORED_LAYERS & set(_layer_kinds(da)):
        return False
    stored = _backend_shape(da)
    return stored is None or sorted(stored) == sorted(da.shape)


def _layer_kinds(da: Any) -> list[str]:
    """The dask layers' names without their tokens (empty without dask)."""
    graph = getattr(da.data, "dask", None)
    layers = getattr(graph, "layers", None) or {}
    return [str(name).rsplit("-", 1)[0] for name in layers]


def _backend_shape(da: Any) -> tuple[int, ...] | None:
    """The stored variable's shape under xarray's lazy indexing (``None`` when not lazy)."""
    x = da.variable._data
    while x is not None and type(x).__name__ != "LazilyIndexedArray":
        x = getattr(x, "array", None)
    shape = getattr(getattr(x, "array", None), "shape", None)
    return tuple(shape) if shape is not None else None


def storage_chunks_of(da: Any, stored: bool | None = None) -> tuple[int, ...] | None:
    """Storage chunks from the backend's ``preferred_chunks`` (by dim) or ``encoding["chunks"]``;
    of several files combined, when every file starts on that grid (:func:`combined_grid`).
    ``stored``: :func:`as_stored`'s answer, when the caller has it."""
    enc = da.encoding
    grid = None
    preferred = enc.get("preferred_chunks")
    chunks = enc.get("chunks") or enc.get("chunksizes")
    if isinstance(preferred, dict) and all(d in preferred for d in da.dims):
        grid = tuple(int(preferred[d]) for d in da.dims)
    elif isinstance(chunks, (tuple, list)) and len(chunks) == da.ndim:
        grid = tuple(int(c) for c in chunks)
    if grid is None:
        return None
    return grid if (as_stored(da) if stored is None else stored) else combined_grid(da, grid)


def combined_grid(da: Any, grid: tuple[int, ...]) -> tuple[int, ...] | None:
    """The first file's storage grid for an array of several files (``open_mfdataset``),
    when it holds for the whole array: the array is the join itself (its dask chunks are
    still the files': not rechunked, transposed or cut), no shorter than a file along any
    axis, and every dask chunk but the last along each axis is a whole number of storage
    chunks (so every file starts on the grid, and stores it, as far as its chunks show).
    ``None`` otherwise, and for a subset (``isel``: where it starts in the grid is unknown)."""
    original = da.encoding.get("original_shape")
    if (original is None or len(original) != da.ndim or da.chunks is None
            or not str(getattr(da.data, "name", "")).startswith("concatenate-")):
        return None
    for n, o, g, dask_chunks in zip(da.shape, original, grid, da.chunks, strict=True):
        if n < o or any(c % g for c in dask_chunks[:-1]):
            return None
    return grid


def _url_ref(url: str, da: Any, opts: StorageOptions | None) -> dict[str, Any] | None:
    """A remote reference for a variable of a Dataset opened from a URL (``open_zarr(url)``)."""
    name = da.name
    if not isinstance(name, str):
        return None
    try:
        spec, ref = describe_zarr_url(url, opts, name)
    except Exception:  # not a zarr store we can re-open: fall back to synthetic samples
        return None
    dims = tuple(str(d) for d in da.dims)
    if spec.shape != tuple(da.shape) or (spec.dims is not None and spec.dims != dims):
        return None
    if np.dtype(spec.dtype) != np.dtype(da.dtype):  # decoded (scaled/masked) on read
        ref["astype"] = np.dtype(da.dtype).name
    return ref


def _in_a_group(paths: list[str], name: str) -> str:
    """The one path of a nested group's array called ``name`` (a Dataset opened with
    ``group=``: xarray keeps no record of the group); ``name`` itself when none or several
    are."""
    hits = [k for k in paths if k.rpartition("/")[2] == name and "/" in k]
    return hits[0] if len(hits) == 1 else name


def _file_ref(path: str, da: Any) -> dict[str, Any] | None:
    """A reference the profiler's child can read blocks from, if the file holds ``da`` unchanged."""
    p, name = Path(path), da.name
    if not isinstance(name, str) or not p.exists():
        return None
    dims = tuple(str(d) for d in da.dims)
    try:
        if p.is_dir():
            import zarr

            root = zarr.open_group(str(p), mode="r")
            name = name if name in root else _in_a_group(group_arrays(root), name)
            z = root[name]
            file_dims = zarr_dims(z)
            shape, kind, dtype = tuple(z.shape), "zarr", np.dtype(z.dtype)
        else:
            if not looks_like_hdf5(p):
                return None
            with import_h5py().File(p, "r") as f:
                name = name if name in f else _in_a_group(list_datasets(f), name)
                d = f.get(name)
                if d is None or not hasattr(d, "shape"):
                    return None
                shape, kind, dtype = tuple(d.shape), "hdf5", np.dtype(d.dtype)
                file_dims = dataset_dims(d)
    except Exception:  # unreadable or not this variable: fall back to synthetic samples
        return None
    if shape != tuple(da.shape) or (file_dims is not None and tuple(file_dims) != dims):
        return None
    ref: dict[str, Any] = {"kind": kind, "path": str(p), "array": name}
    if dtype != np.dtype(da.dtype):  # decoded (scaled/masked) on read: cast like xarray does
        ref["astype"] = np.dtype(da.dtype).name
    return ref


def describe_xarray(obj: Any, variable: str | None = None, storage_options: Any = None
                    ) -> tuple[ArraySpec, dict[str, Any]]:
    """ArraySpec (dims, storage and dask chunks) and a sample-block source for one variable.

    A Dataset opened from a URL (``xr.open_zarr(url, storage_options=...)``) is sampled from
    that URL; pass the same ``storage_options`` (they are not kept in the Dataset).
    """
    da, ds_path = _select(obj, variable)
    check_dtype(da.dtype)
    path = da.encoding.get("source") or ds_path
    stored = as_stored(da)
    if isinstance(path, str) and is_url(path):
        return _describe_remote(da, path, as_storage_options(storage_options), stored)
    # re-opened by path only when the file holds it as it is (the apply line opens it)
    spec = _spec(da, f"xarray:{path}" if path and stored else "xarray", stored)
    ref = _file_ref(str(path), da) if path and stored else None
    if ref is not None:
        ref["notes"] = (f"Samples were cut from the file {path} (variable {ref['array']!r}); "
                        "the timed load includes decompression.",)
        if "/" in ref["array"]:  # in a group: its apply line opens that group
            spec = dataclasses.replace(spec, name=ref["array"])
        return spec, ref
    if da.chunks is None and getattr(da.variable, "_in_memory", False):  # xarray-private flag
        return spec, {"kind": "numpy", "array": da.values}
    return spec, {"kind": "synthetic"}


def _spec(da: Any, source: str, stored: bool) -> ArraySpec:
    """``da``'s shape, dtype, storage, shards, current chunks and dims, labelled ``source``."""
    dt = np.dtype(da.dtype)
    return ArraySpec(tuple(da.shape), dt.str if dt.names else dt.name,
                     storage_chunks=storage_chunks_of(da, stored), shards=_shards(da),
                     current_chunks=da.chunks, dims=tuple(str(d) for d in da.dims),
                     source=source)


def _describe_remote(da: Any, url: str, opts: StorageOptions | None, stored: bool
                     ) -> tuple[ArraySpec, dict[str, Any]]:
    spec = _spec(da, f"xarray:{display_url(url)}" if stored else "xarray", stored)
    ref = _url_ref(url, da, opts) if stored else None
    if ref is not None:
        return spec, ref
    return spec, {"kind": "synthetic"}


def _shards(da: Any) -> tuple[int, ...] | None:
    shards = da.encoding.get("shards")
    if isinstance(shards, (tuple, list)) and len(shards) == da.ndim:
        return tuple(int(s) for s in shards)
    return None
