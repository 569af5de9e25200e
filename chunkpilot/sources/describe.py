"""Edge: describe any input (numpy, dask, zarr, xarray, a store path) without loading it.

Stores are opened read-only, always. Returns the pure :class:`ArraySpec` plus a small
reference the profiler uses to cut real sample blocks; each kind of store has its module.
"""

from __future__ import annotations

import math
import os
from pathlib import Path, PurePosixPath
from typing import Any
from urllib.parse import unquote, urlsplit

import numpy as np
import zarr

from chunkpilot.core.shapes import dask_auto_shape
from chunkpilot.dtypes import check_dtype
from chunkpilot.errors import InvalidArgumentError, InvalidArgumentTypeError
from chunkpilot.sources.hdf5 import (
    HDF5_SUFFIXES,
    describe_hdf5,
    describe_hdf5_url,
    looks_like_hdf5,
    remote_dataset_names,
)
from chunkpilot.sources.remote import (
    RemoteURL,
    check_exists,
    check_zarr_metadata,
    filesystem,
    is_url,
    mangled_url,
    open_zarr,
    parse_url,
)
from chunkpilot.sources.storage_options import StorageOptions, as_storage_options, display_url
from chunkpilot.sources.urls import expand_home
from chunkpilot.sources.xarray import describe_xarray, is_xarray
from chunkpilot.sources.zarr import (
    describe_zarr,
    describe_zarr_path,
    describe_zarr_url,
    group_data_arrays,
    pick_array,
)
from chunkpilot.types import ArraySpec, SourceRef

__all__ = ["SourceRef", "dask_auto_shape", "describe"]


def describe(source: Any, *, array: str | None = None,
             storage_options: Any = None) -> tuple[ArraySpec, SourceRef]:
    """Read shape, dtype, storage chunks and current chunks of ``source``.

    ``source`` may be a URL (``s3://``, ``gs://``, ``https://``, any fsspec protocol) with
    ``storage_options`` for fsspec; ``file://`` URLs are local paths.
    """
    opts = as_storage_options(storage_options)
    source = expand_home(source)
    if is_url(source):
        return describe_url(source.strip(), array, opts)
    if opts is not None and not is_xarray(source):
        raise InvalidArgumentError(
            "Expected storage_options only with a URL source (s3://, gs://, https://, ...). "
            f"Got a {type(source).__name__} source.")
    if isinstance(source, (str, os.PathLike)):
        url = mangled_url(source)
        if url is not None and not Path(source).exists():
            raise InvalidArgumentError(
                f"Expected a URL as a string. Got the path {str(source)!r}: pathlib turns "
                f"{display_url(url)!r} into it; pass the URL string instead.")
        path = Path(source)
        if looks_like_hdf5(path):
            return describe_hdf5(path, array)
        return describe_zarr_path(path, array)
    mod = type(source).__module__.split(".")[0]
    if mod == "xarray":
        return describe_xarray(source, array, opts)
    if mod == "zarr" and isinstance(source, zarr.Group):  # as a group's path is
        node, _ = pick_array(source, array, str(getattr(source, "store_path", source)))
        return describe_zarr(node)
    if array is not None:
        raise InvalidArgumentError(
            "Expected array=NAME only with a store path, a zarr group or a Dataset.")
    if mod == "zarr":
        return describe_zarr(source)
    if mod == "dask" and hasattr(source, "chunks"):
        unknown = [i for i, c in enumerate(source.chunks) if any(math.isnan(n) for n in c)]
        if unknown:
            raise InvalidArgumentError(
                f"Expected a dask array with known chunk sizes. Got unknown (nan) sizes along "
                f"axis {', '.join(map(str, unknown))}, as after boolean indexing: call "
                "x.compute_chunk_sizes() first.")
        check_dtype(source.dtype)
        dtype = source.dtype.str if source.dtype.names else source.dtype.name
        spec = ArraySpec(source.shape, dtype, current_chunks=source.chunks, source="dask")
        return spec, {"kind": "synthetic"}
    if isinstance(source, np.ndarray):
        check_dtype(source.dtype)
        return ArraySpec(source.shape, source.dtype.name, source="numpy"), {
            "kind": "numpy", "array": source}
    hint = ""
    if mod == "h5py":  # an open h5py Dataset: its file and name are what chunkpilot reads
        name = getattr(source, "name", None)
        where = getattr(getattr(source, "file", None), "filename", "FILE.h5")
        hint = (f" For an HDF5 dataset, pass its file and name: advise({where!r}, "
                f"array={name!r}, ...).")
    raise InvalidArgumentTypeError(
        "Expected a numpy, dask, zarr or xarray array, or a path to a zarr/HDF5/netCDF4 store. "
        f"Got {type(source).__name__ if mod == 'builtins' else f'{mod}.{type(source).__name__}'}"
        f" instead.{hint}"
    )


def describe_url(url: str, array: str | None, opts: StorageOptions | None
                 ) -> tuple[ArraySpec, SourceRef]:
    """A zarr store or an HDF5/netCDF4 file at a URL; ``file://`` is a local path."""
    parsed = parse_url(url)
    opts = opts or StorageOptions()
    if parsed.protocol in ("file", "local"):
        return describe(file_url_path(url), array=array)
    if _is_hdf5_url(parsed, opts):
        return describe_hdf5_url(url, opts, array)
    return describe_zarr_url(url, opts, array)


def _is_hdf5_url(parsed: RemoteURL, opts: StorageOptions) -> bool:
    """Whether a URL names one HDF5/netCDF4 file; else a zarr store, whose metadata is
    checked here. The first look fails fast: unreachable, no bucket."""
    fs = filesystem(parsed, opts, fast=True)
    if parsed.protocol in ("http", "https"):
        is_file = PurePosixPath(parsed.path.split("?")[0]).suffix.lower() in HDF5_SUFFIXES
    else:
        is_file = check_exists(fs, parsed, opts).get("type") == "file"
    if not is_file:
        check_zarr_metadata(fs, parsed, opts)
    return is_file


def file_url_path(url: str) -> str:
    """The local path of a ``file://`` URL (RFC 8089): no host or ``localhost``, the path
    percent-decoded (``file:///data/a%20b.zarr`` is ``/data/a b.zarr``)."""
    parts = urlsplit(url.strip())
    if parts.netloc not in ("", "localhost"):
        raise InvalidArgumentError(
            f"Expected a file:// URL on this machine (file:///PATH or file://localhost/PATH). "
            f"Got the host {parts.netloc!r} in {url!r}: mount it, or give its path.")
    path = unquote(parts.path)
    return path if path.startswith("/") else "/" + path


def remote_array_names(url: str, storage_options: Any = None) -> list[str]:
    """The data arrays at a URL, as for a local source: a zarr group's at any depth
    (coordinates, scalars and text left out: ``group_data_arrays``), a netCDF/HDF5 file's
    data variables; empty for a lone array (``describe`` names the choices when one is
    needed). A URL that cannot be read raises the same one-line error ``describe`` would."""
    parsed, opts = parse_url(url), as_storage_options(storage_options) or StorageOptions()
    if parsed.protocol in ("file", "local"):
        return []
    if _is_hdf5_url(parsed, opts):
        return remote_dataset_names(url, opts)
    node = open_zarr(parsed, opts)
    return sorted(group_data_arrays(node)) if isinstance(node, zarr.Group) else []
