"""The line of code that applies a chunk shape, right for each kind of source.

A zarr store is opened with ``da.from_zarr``, a netCDF/HDF5 file with ``xr.open_dataset``
(or h5py + ``da.from_array`` without dimension names), an xarray object is re-chunked with
``.chunk``, a dask array with ``.rechunk`` and a numpy array is wrapped by ``da.from_array``.
"""

from __future__ import annotations

import os

from chunkpilot.types import ArraySpec

__all__ = ["how_to_apply"]


def _is_zarr_store(path: str) -> bool:
    """A zarr store: a ``.zarr`` name, a local directory (netCDF and HDF5 are files), or a URL
    (xarray sources at a URL are zarr stores)."""
    return path.rstrip("/").endswith(".zarr") or "://" in path or os.path.isdir(path)


def _by_dim(spec: ArraySpec, chunk_shape: tuple[int, ...]) -> str:
    if spec.dims is None:
        return str(tuple(chunk_shape))
    return "{" + ", ".join(f"{d!r}: {c}" for d, c in zip(spec.dims, chunk_shape, strict=True)) + "}"


def how_to_apply(spec: ArraySpec, chunk_shape: tuple[int, ...], name: str | None = None,
                 ) -> list[str]:
    """Python lines that use ``chunk_shape`` for the source ``spec`` describes.

    Examples
    --------
    >>> how_to_apply(ArraySpec((100, 100), "f8", source="zarr:data.zarr"), (50, 100))
    ["x = da.from_zarr('data.zarr', chunks=(50, 100))"]
    >>> how_to_apply(ArraySpec((8, 4), "f4", source="zarr:g.zarr", dims=("t", "x")), (2, 4),
    ...              "run1/tas")[1]
    "ds = xr.open_zarr('g.zarr', group='run1', chunks={'t': 2, 'x': 4})"
    >>> how_to_apply(ArraySpec((8, 4), "f4", source="hdf5:m.nc", dims=("t", "x")), (2, 4),
    ...              "model/run1/tas")
    ["ds = xr.open_dataset('m.nc', group='model/run1', chunks={'t': 2, 'x': 4})"]
    >>> how_to_apply(ArraySpec((100,), "f8", source="dask"), (50,))
    ['x = x.rechunk((50,))']
    """
    kind, _, path = spec.source.partition(":")
    name = name or spec.name
    shape = str(tuple(chunk_shape))
    dims = _by_dim(spec, chunk_shape)
    # a variable in a group (netCDF or zarr) is opened with its group
    where = f", group={group!r}" if (group := (name or "").strip("/").rpartition("/")[0]) else ""
    if kind == "zarr":
        component = f", component={name!r}" if name else ""
        target = repr(path) if path else "z"
        lines = [f"x = da.from_zarr({target}{component}, chunks={shape})"]
        if spec.dims is not None and path and name:  # xarray opens groups, not lone arrays
            lines.append(f"ds = xr.open_zarr({path!r}{where}, chunks={dims})")
        return lines
    if kind == "hdf5":
        if spec.dims is not None:
            return [f"ds = xr.open_dataset({path!r}{where}, chunks={dims})"]
        dataset = repr(name) if name else "'NAME'"
        return [f"f = h5py.File({path!r}, 'r')",
                f"x = da.from_array(f[{dataset}], chunks={shape})"]
    if kind == "xarray":
        if path:
            opener = "xr.open_zarr" if _is_zarr_store(path) else "xr.open_dataset"
            return [f"ds = {opener}({path!r}{where}, chunks={dims})",
                    f"# or: ds = ds.chunk({dims})"]
        return [f"ds = ds.chunk({dims})"]
    if kind == "numpy":
        return [f"x = da.from_array(x, chunks={shape})"]
    return [f"x = x.rechunk({shape})"]
