"""Edge: array-likes that read a source (a local HDF5 dataset, a store at a URL), stores
read-only and damage reported clearly; no dask here (a sample's sandbox imports this module
to read its block, as a worker has its reader imported, without dask.array's ~1 s of imports:
:mod:`chunkpilot.sources.readers` builds the dask arrays over them)."""

from __future__ import annotations

import functools
import threading
from collections.abc import Mapping
from typing import Any

import numpy as np

from chunkpilot.errors import StoreReadError
from chunkpilot.sources.hdf5 import import_h5py, open_remote_file
from chunkpilot.sources.remote import open_zarr, parse_url, remote_errors, translate
from chunkpilot.sources.storage_options import StorageOptions, display_url
from chunkpilot.sources.zarr import pick_array


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
    read as the user's bug. Picklable whenever the wrapped array is. For a store at a URL
    (``opts`` given), network and access errors get their own one-line error, and no message
    shows a credential.
    """

    def __init__(self, array: Any, path: str, opts: StorageOptions | None = None) -> None:
        self.array, self.path, self.opts = array, path, opts
        self.shape, self.dtype, self.ndim = tuple(array.shape), np.dtype(array.dtype), array.ndim

    def __getitem__(self, key: Any) -> np.ndarray:
        try:
            return np.asarray(self.array[key])
        except MemoryError:
            raise
        except Exception as e:
            text = f"{type(e).__name__}: {e}"
            if self.opts is not None:
                mapped = translate(e, parse_url(self.path), self.opts)
                if mapped is not None:
                    raise mapped from None
                text = self.opts.redact(text)
            raise StoreReadError(
                f"Expected readable chunks in {self.path!r}. Got {text} while "
                f"reading {_region(key)}: the store is corrupt or truncated (rewrite or "
                "re-download it)."
            ) from None if self.opts is not None else e


def _region(key: Any) -> str:
    if isinstance(key, tuple) and all(isinstance(k, slice) for k in key):
        return "[" + ", ".join(f"{k.start or 0}:{k.stop}" for k in key) + "]"
    return repr(key)


class RemoteHDF5Reader:
    """A picklable array-like over one dataset of an HDF5 file at a URL (fsspec file object).

    Each process opens the file once (kept open for its life) and reads under a lock: an
    fsspec file object has one position, shared by every thread of the worker.
    """

    def __init__(self, url: str, name: str, opts: StorageOptions,
                 astype: str | None = None) -> None:
        self.url, self.name, self.opts, self.astype = url, name, opts, astype
        d = _open_remote_dataset(url, name, opts)
        self.shape, self.dtype = tuple(d.shape), np.dtype(astype or d.dtype)
        self.ndim = len(self.shape)

    def __getstate__(self) -> dict[str, Any]:
        return {k: getattr(self, k)
                for k in ("url", "name", "opts", "astype", "shape", "dtype", "ndim")}

    def __setstate__(self, state: dict[str, Any]) -> None:
        for k, v in state.items():
            setattr(self, k, v)

    def __getitem__(self, key: Any) -> np.ndarray:
        d = _open_remote_dataset(self.url, self.name, self.opts)
        with _REMOTE_LOCK:
            return np.asarray(d[key], dtype=self.dtype)


_REMOTE_LOCK = threading.Lock()


@functools.lru_cache(maxsize=8)
def _open_remote_dataset(url: str, name: str, opts: StorageOptions) -> Any:
    import h5py  # optional (the [xarray] extra): only a remote HDF5 source needs it

    parsed = parse_url(url)
    with remote_errors(parsed, opts):
        return h5py.File(open_remote_file(parsed, opts), "r")[name]


def remote_hdf5_dataset(ref: Mapping[str, Any]) -> Any:
    """The (cached, open) ``h5py.Dataset`` of a remote HDF5 reference."""
    opts = ref.get("storage_options") or StorageOptions()
    return _open_remote_dataset(ref["url"], ref["array"], opts)


def open_remote_zarr_array(ref: Mapping[str, Any]) -> Any:
    """The zarr array of a remote reference, read-only through zarr's FsspecStore."""
    parsed = parse_url(ref["url"])
    opts = ref.get("storage_options") or StorageOptions()
    node = open_zarr(parsed, opts, ref.get("zarr_format"))
    with remote_errors(parsed, opts):
        return pick_array(node, ref.get("array"), parsed.display)[0]


def remote_reader(ref: Mapping[str, Any]) -> CheckedReader:
    """The array-like a task reads a store at a URL through (zarr or HDF5), errors checked."""
    where, opts = display_url(ref["url"]), ref.get("storage_options") or StorageOptions()
    if ref["format"] == "zarr":
        return CheckedReader(open_remote_zarr_array(ref), where, opts)
    return CheckedReader(RemoteHDF5Reader(ref["url"], ref["array"], opts, ref.get("astype")),
                         where, opts)


def read_remote_region(ref: Mapping[str, Any], region: tuple[slice, ...]) -> np.ndarray:
    """One region of a store at a URL, in one read (zarr fetches its chunks concurrently)."""
    return remote_reader(ref)[region]
