"""Edge: build the trial computation (the user's work on a region, with given chunks)."""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from chunkpilot.types import ArraySpec, WorkSpec


class ByValue:
    """The user's function, shipped to workers by value (cloudpickle bytes).

    distributed pickles task arguments with plain ``pickle`` first, which sends a function by
    reference (module and name). A function loaded from ``FILE.py`` lives in a module workers
    cannot import, so every trial would fail with ``ModuleNotFoundError``.
    """

    def __init__(self, func: Callable[[Any], Any]) -> None:
        import cloudpickle

        self.payload = cloudpickle.dumps(func)
        self.func: Callable[[Any], Any] | None = func

    def __getstate__(self) -> dict[str, Any]:
        return {"payload": self.payload}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.payload, self.func = state["payload"], None

    def __dask_tokenize__(self) -> Any:
        return self.payload

    def __call__(self, block: Any) -> Any:
        if self.func is None:
            import cloudpickle

            self.func = cloudpickle.loads(self.payload)
        return self.func(block)


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


class HDF5Reader:
    """A picklable array-like over one HDF5 dataset: each read opens the file read-only.

    (An open ``h5py.Dataset`` cannot travel to dask workers; a path and a name can.)
    """

    def __init__(self, path: str, name: str, astype: str | None = None) -> None:
        import h5py

        self.path, self.name, self.astype = path, name, astype
        with h5py.File(path, "r") as f:
            d = f[name]
            self.shape, self.dtype = tuple(d.shape), np.dtype(astype or d.dtype)
        self.ndim = len(self.shape)

    def __getitem__(self, key: Any) -> np.ndarray:
        import h5py

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
        from chunkpilot.errors import StoreReadError

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
                 array: str | None = None) -> Any:
    """The input as a dask array with ``chunk`` chunks, read lazily (stores read-only)."""
    import dask.array as da

    if ref["kind"] == "zarr":
        import zarr

        z = zarr.open_array(ref["path"], mode="r", path=ref.get("array") or None)
        return da.from_array(CheckedReader(z, ref["path"]), chunks=chunk, asarray=True,
                             inline_array=False)
    if ref["kind"] == "hdf5":
        reader = HDF5Reader(ref["path"], ref["array"], ref.get("astype"))
        return da.from_array(CheckedReader(reader, ref["path"]), chunks=chunk, asarray=True,
                             inline_array=True)
    if ref["kind"] == "numpy":
        return da.from_array(ref["array"], chunks=chunk)
    data = source
    if type(source).__module__.split(".")[0] == "xarray":  # DataArray, or Dataset + name
        data = (source[array] if array is not None and hasattr(source, "data_vars") else source).data
    if hasattr(data, "rechunk") and hasattr(data, "dask"):
        return data.rechunk(chunk)
    return da.from_array(np.asarray(data), chunks=chunk)


def trial_collection(x: Any, func: Callable[[Any], Any] | None, work: WorkSpec) -> Any:
    """The per-block work as a dask array of one number per block (fused with the read)."""
    ndim = x.ndim
    func = ByValue(func) if func is not None else None
    if any(work.depth):
        return x.map_overlap(_summary, depth=dict(enumerate(work.depth)), boundary="none",
                             trim=False, user_func=func, ndim=ndim, dtype="f8",
                             chunks=tuple((1,) * len(c) for c in x.chunks))
    return x.map_blocks(_summary, user_func=func, ndim=ndim, dtype="f8",
                        chunks=tuple((1,) * len(c) for c in x.chunks))


def unpack_pipeline_output(out: Any) -> list[Any]:
    """The dask collections a pipeline returned (array, scalar, or a tuple/dict of them)."""
    from dask.base import unpack_collections

    from chunkpilot.errors import InvalidArgumentTypeError

    colls, _ = unpack_collections(out)
    if not colls:
        raise InvalidArgumentTypeError(
            "Expected the pipeline to return dask collections (a dask array, a dask scalar or "
            f"a tuple of them). Got {type(out).__name__} instead."
        )
    return list(colls)


def pipeline_collections(out: Any) -> list[Any]:
    """The pipeline's outputs, each array reduced to one number per block (no data shipped)."""
    summaries = []
    for c in unpack_pipeline_output(out):
        if getattr(c, "ndim", 0) and hasattr(c, "map_blocks"):
            summaries.append(c.map_blocks(_summary, user_func=None, ndim=c.ndim, dtype="f8",
                                          chunks=tuple((1,) * len(ax) for ax in c.chunks)))
        else:
            summaries.append(c)
    return summaries
