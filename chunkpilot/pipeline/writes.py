"""A pipeline that writes is refused while chunkpilot builds it, before anything touches disk.

advise builds and runs a pipeline many times, on sub-arrays of real data and on full-size
zero placeholders, and tune runs it on trial regions: a ``da.to_zarr(..., compute=False)``
in it wrote those into the user's stores (hunt 19: ``overwrite=True`` into the input's own
group left the earlier result all zeros and rewrote the input array; without it, the store
advise created on its first build made the user's own ``to_zarr`` fail later). chunkpilot
never writes a user's store, so while the pipeline is built the writing calls of dask,
xarray and zarr raise :class:`WritesError` instead, and a graph that still holds a store
layer (a writer imported under another name) is refused before it runs.
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from chunkpilot.pipeline.computes import NotLazyError

#: Layer names of dask's ``store`` (``to_zarr``, ``to_hdf5`` and xarray's writers use it).
STORE_LAYERS = ("store-map", "store-sources")
#: zarr open modes that create or truncate a store.
WRITE_MODES = ("w", "w-", "x")


class WritesError(NotLazyError):
    """The pipeline writes its result (or anything) to storage while it is built or run."""


def _refusal(what: str) -> WritesError:
    return WritesError(
        f"Expected the pipeline to return its lazy result without writing it. Got a call to "
        f"{what}: chunkpilot builds and runs the pipeline many times, on samples, zero-filled "
        "placeholders and trial regions, and would write those into your store. Return what "
        "you would write (the array given to the writer) and write it with the chosen chunks "
        "afterwards.")


def _refuse(what: str) -> Callable[..., Any]:
    def refused(*args: Any, **kwargs: Any) -> Any:
        raise _refusal(what)
    return refused


def _refuse_write_modes(what: str, real: Callable[..., Any], default: str) -> Callable[..., Any]:
    """``real`` (a zarr opener) as it is for reading; refused for a mode that writes."""
    @functools.wraps(real)
    def opener(*args: Any, **kwargs: Any) -> Any:
        if kwargs.get("mode", default) in WRITE_MODES:
            raise _refusal(f"{what}(mode={kwargs.get('mode', default)!r})")
        return real(*args, **kwargs)
    return opener


def _targets() -> list[tuple[Any, str, Callable[[Callable[..., Any]], Callable[..., Any]]]]:
    import dask.array as da
    import dask.array.core as core
    import zarr

    out: list[tuple[Any, str, Callable[[Callable[..., Any]], Callable[..., Any]]]] = []
    for owner, names, prefix in ((da, ("to_zarr", "store", "to_hdf5", "to_npy_stack",
                                       "to_tiledb"), "dask.array."),
                                 (core, ("to_zarr", "store", "to_hdf5", "to_npy_stack"),
                                  "dask.array."),
                                 (core.Array, ("to_zarr", "store", "to_hdf5", "to_tiledb"),
                                  "Array."),
                                 (zarr, ("create", "create_array", "create_group", "save",
                                         "save_array", "save_group"), "zarr.")):
        out += [(owner, n, lambda _, w=f"{prefix}{n}": _refuse(w)) for n in names]
    out += [(zarr, n, lambda real, w=f"zarr.{n}", d=d: _refuse_write_modes(w, real, d))
            for n, d in (("open", "a"), ("open_array", "a"), ("open_group", "a"))]
    with contextlib.suppress(ImportError):
        import xarray as xr

        out += [(cls, n, lambda _, w=f"{cls.__name__}.{n}": _refuse(w))
                for cls in (xr.Dataset, xr.DataArray) for n in ("to_zarr", "to_netcdf")]
    return out


@contextlib.contextmanager
def refused_writes() -> Iterator[None]:
    """Inside, dask's, xarray's and zarr's writers raise :class:`WritesError` (restored on
    the way out: the tune trials build the pipeline in the user's own process)."""
    saved: list[tuple[Any, str, Any]] = []
    try:
        for owner, name, make in _targets():
            real = owner.__dict__.get(name) if isinstance(owner, type) else getattr(
                owner, name, None)
            if real is not None:
                saved.append((owner, name, real))
                setattr(owner, name, make(real))
        yield
    finally:
        for owner, name, real in reversed(saved):
            setattr(owner, name, real)


def check_no_store_layers(layer_names: Iterable[str]) -> None:
    """Refuse a graph holding a store layer (a writer the calls above did not catch)."""
    for name in layer_names:
        if str(name).startswith(STORE_LAYERS):
            raise _refusal(f"dask.array.store (the graph's layer {str(name)[:40]!r})")
