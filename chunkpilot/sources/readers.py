"""Edge: a source as a lazily read dask array (stores read-only, damage reported clearly)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import dask.array as da
import numpy as np
import zarr

from chunkpilot.errors import StoreReadError
from chunkpilot.sources.hdf5 import import_h5py


class HDF5Reader:
    """A picklable array-like over one HDF5 dataset: each read opens the file read-only.

    (An open ``h5py.Dataset`` cannot travel to dask workers; a path and a name can.)
    """

    def __init__(self, path: str, name: str, astype: str | None = None) -> None:
        h5py = import_h5py()

        self.path, self.name, self.astype = path, name, astype
        with h5py.File(path, "r") as f:
            d = f[name]
            self.shape, self.dtype = tuple(d.shape), np.dtype(astype or d.dtype)
        self.ndim = len(self.shape)

    def __getitem__(self, key: Any) -> np.ndarray:
        h5py = import_h5py()

        with h5py.File(self.path, "r") as f:
            return np.asarray(f[self.name][key], dtype=self.dtype)


class CheckedReader:
    """Wrap a store's array so a corrupt or truncated chunk raises :class:`StoreReadError`.

    Dask reports a worker's exception as it is; a codec error from deep inside zarr would
    read as the user's bug. Picklable whenever the wrapped array is.
    """

    def __init__(self, array: Any, path: str) -> None:
        self.array, self.path = array, path
        self.shape, self.dtype, self.ndim = tuple(array.shape), np.dtype(array.dtype), array.ndim

    def __getitem__(self, key: Any) -> np.ndarray:
        try:
            return np.asarray(self.array[key])
        except MemoryError:
            raise
        except Exception as e:
            raise StoreReadError(
                f"Expected readable chunks in {self.path!r}. Got {type(e).__name__}: {e} while "
                f"reading {_region(key)}: the store is corrupt or truncated (rewrite or "
                "re-download it)."
            ) from e


def _region(key: Any) -> str:
    if isinstance(key, tuple) and all(isinstance(k, slice) for k in key):
        return "[" + ", ".join(f"{k.start or 0}:{k.stop}" for k in key) + "]"
    return repr(key)


def source_array(source: Any, ref: Mapping[str, Any], chunk: tuple[int, ...],
                 array: str | None = None, region: tuple[slice, ...] | None = None) -> Any:
    """``region`` of the input (all of it by default) as a dask array with ``chunk`` chunks,
    read lazily (stores read-only). A dask array is sliced *before* it is rechunked, so a
    trial never rechunks more than its own region."""
    cut = region if region is not None else tuple(slice(None) for _ in chunk)
    if ref["kind"] == "zarr":
        z = zarr.open_array(ref["path"], mode="r", path=ref.get("array") or None)
        whole = da.from_array(CheckedReader(z, ref["path"]), chunks=chunk, asarray=True,
                              inline_array=False)
        return whole[cut]
    if ref["kind"] == "hdf5":
        reader = HDF5Reader(ref["path"], ref["array"], ref.get("astype"))
        whole = da.from_array(CheckedReader(reader, ref["path"]), chunks=chunk, asarray=True,
                              inline_array=True)
        return whole[cut]
    if ref["kind"] == "numpy":
        return da.from_array(ref["array"][cut], chunks=chunk)
    data = source
    if type(source).__module__.split(".")[0] == "xarray":  # DataArray, or Dataset + name
        data = (source[array] if array is not None and hasattr(source, "data_vars") else source).data
    if hasattr(data, "rechunk") and hasattr(data, "dask"):
        return data[cut].rechunk(chunk)
    return da.from_array(np.asarray(data)[cut], chunks=chunk)
