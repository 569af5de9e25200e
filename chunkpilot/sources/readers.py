"""Edge: a source as a lazily read dask array (stores read-only, damage reported clearly)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import dask.array as da
import numpy as np
import zarr

from chunkpilot.sources.array_readers import CheckedReader, HDF5Reader, remote_reader
from chunkpilot.sources.region import region_array


def remote_source_array(ref: Mapping[str, Any], chunk: tuple[int, ...],
                        region: tuple[slice, ...] | None = None) -> Any:
    """``region`` of a store at a URL (all of it by default) as a dask array; the WORKERS
    read it (the array object travels)."""
    x = region_array(remote_reader(ref), chunk, region, name="array", asarray=True)
    return x.astype(ref["astype"]) if ref.get("astype") and ref["format"] == "zarr" else x


def source_array(source: Any, ref: Mapping[str, Any], chunk: tuple[int, ...],
                 array: str | None = None, region: tuple[slice, ...] | None = None) -> Any:
    """``region`` of the input (all of it by default) as a dask array with ``chunk`` chunks,
    read lazily (stores read-only). A dask array is sliced *before* it is rechunked, so a
    trial never rechunks more than its own region."""
    cut = region if region is not None else tuple(slice(None) for _ in chunk)
    if ref["kind"] == "remote":
        return remote_source_array(ref, chunk, cut)
    if ref["kind"] == "zarr":  # cut inside the reader, so the graph fuses as the whole's
        z = zarr.open_array(ref["path"], mode="r", path=ref.get("array") or None)
        x = region_array(CheckedReader(z, ref["path"]), chunk, cut, name="from-zarr",
                         asarray=True)
        return x.astype(ref["astype"]) if ref.get("astype") else x  # decoded, as xarray reads
    if ref["kind"] == "hdf5":
        reader = HDF5Reader(ref["path"], ref["array"], ref.get("astype"))
        return region_array(CheckedReader(reader, ref["path"]), chunk, cut, name="array",
                            inline_array=True, asarray=True)
    if ref["kind"] == "numpy":
        return da.from_array(ref["array"][cut], chunks=chunk)
    data = source
    if type(source).__module__.split(".")[0] == "xarray":  # DataArray, or Dataset + name
        named = array is not None and hasattr(source, "data_vars")
        data = (source[array] if named else source).data
    if hasattr(data, "rechunk") and hasattr(data, "dask"):
        return data[cut].rechunk(chunk)
    return da.from_array(np.asarray(data)[cut], chunks=chunk)
