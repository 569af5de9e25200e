"""Pure: ``chunks=`` as users give them to dask (an int, a tuple per axis, ``"auto"``, a dict
by axis or dimension name) -> the full chunks of an array, or a clear error. A dict by
dimension name reads as xarray reads it: dimensions left out keep their chunks."""

from __future__ import annotations

from typing import Any

import numpy as np
from dask.array.core import normalize_chunks

from chunkpilot.core.chunk_axes import extent
from chunkpilot.errors import InvalidArgumentError, InvalidArgumentTypeError
from chunkpilot.types import ArraySpec, Chunks

__all__ = ["normalize_given_chunks"]


def normalize_given_chunks(chunks: Any, spec: ArraySpec) -> Chunks:
    """``chunks=`` as dask takes it (int, tuple, ``"auto"``, dict by axis or dim) -> full chunks."""
    given = chunks
    if isinstance(chunks, bool) or chunks is None:
        raise InvalidArgumentTypeError(
            f"Expected chunks as an int, a tuple per axis, 'auto' or a dict by dimension. Got "
            f"{given!r} instead.")
    if isinstance(chunks, dict):
        dims = spec.dims or ()
        unknown = [k for k in chunks if not (k in dims or (isinstance(k, int) and not
                                                          isinstance(k, bool) and
                                                          -spec.ndim <= k < spec.ndim))]
        if unknown:
            keys = (f"dimensions {list(dims)} or axes 0..{spec.ndim - 1}" if dims else
                    f"axes 0..{spec.ndim - 1} (the array has no dimension names)")
            raise InvalidArgumentError(f"Expected chunks keyed by {keys}. Got {unknown!r} instead.")
        axes = [dims.index(k) if k in dims else k % spec.ndim for k in chunks]
        if len(set(axes)) != len(axes):  # {0: 5, -2: 6} or {"time": 5, 0: 6}
            raise InvalidArgumentError(
                f"Expected each axis at most once in chunks. Got {given!r}, which names axis "
                f"{next(a for a in axes if axes.count(a) > 1)} twice.")
        chunks = dict(zip(axes, chunks.values(), strict=True))
        # {} keeps every axis's chunks too, as x.rechunk({}) and ds.chunk({}) do: the dict a
        # variable gets when none of the dims named for a Dataset is its own
        keep = _unnamed_axes(spec) if not given or any(isinstance(k, str) for k in given) else {}
        chunks = {i: chunks.get(i, keep.get(i, -1)) for i in range(spec.ndim)}
    chunks = _clamped(chunks, spec.shape)
    positive = InvalidArgumentError(
        f"Expected positive chunk lengths (or -1 for a whole axis) for shape {spec.shape}. "
        f"Got {given!r} instead."
    )
    try:
        out = normalize_chunks(chunks, spec.shape, dtype=np.dtype(spec.dtype),
                               previous_chunks=spec.storage_chunks)
    except ZeroDivisionError as e:  # a zero length
        raise positive from e
    except (ValueError, TypeError, KeyError) as e:
        raise InvalidArgumentError(
            f"Expected chunks for shape {spec.shape} (an int, a tuple per axis, 'auto' or a dict "
            f"by dimension). Got {given!r} instead: {e}"
        ) from e
    # one C-level pass per axis: a store of 10**7 chunks is checked in well under a second
    if any(extent(ax)[1] <= 0 for ax in out if ax) or tuple(map(sum, out)) != spec.shape:
        raise positive
    return out


def _unnamed_axes(spec: ArraySpec) -> dict[int, Any]:
    """Chunks by dimension name follow xarray, not dask: a dimension left out keeps the
    array's current chunks (``ds.chunk``), else its storage chunks (``open_dataset`` and
    ``open_zarr`` use the backend's preferred chunks), else it is whole, as in dask."""
    if spec.current_chunks is not None:
        return dict(enumerate(spec.current_chunks))
    if spec.storage_chunks is not None:
        return dict(enumerate(spec.storage_chunks))
    return {}


def _clamped(chunks: Any, shape: tuple[int, ...]) -> Any:
    """Lengths beyond an axis mean the whole axis (as dask reads them), even past int64."""
    def clamp(v: Any, n: int) -> Any:
        return min(v, n) if isinstance(v, int) and not isinstance(v, bool) and v > n else v

    if isinstance(chunks, int) and not isinstance(chunks, bool):
        return tuple(clamp(chunks, n) for n in shape) if chunks > min(shape, default=0) else chunks
    if isinstance(chunks, dict):
        return {i: clamp(v, shape[i]) if isinstance(i, int) and 0 <= i < len(shape) else v
                for i, v in chunks.items()}
    if isinstance(chunks, (tuple, list)) and len(chunks) == len(shape):
        return tuple(clamp(v, n) for v, n in zip(chunks, shape, strict=True))
    return chunks
