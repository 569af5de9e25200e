"""Frozen value objects that flow through the pipeline: array, work, resources.

They validate at construction so the pure core (``model``, ``plan``) never sees
nonsense. All sizes are ints in bytes and carry the unit in the field name.
"""

from __future__ import annotations

import math
import re
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from chunkpilot.dtypes import check_dtype
from chunkpilot.errors import InvalidArgumentError, InvalidArgumentTypeError

Chunks = tuple[tuple[int, ...], ...]
#: Where sample blocks come from: ``{"kind": "zarr"|"hdf5"|"numpy"|"synthetic", ...}``.
SourceRef = dict[str, Any]

#: distributed's own defaults for ``distributed.worker.memory.{target,spill,pause,terminate}``;
#: the configured values are read once, at the edge (``cluster.resources.memory_fractions``).
DEFAULT_MEMORY_FRACTIONS = {"target_fraction": 0.6, "spill_fraction": 0.7,
                            "pause_fraction": 0.8, "terminate_fraction": 0.95}


def _check_shape(shape: Any, name: str) -> tuple[int, ...]:
    try:
        out = tuple(int(s) for s in shape)
    except (TypeError, ValueError) as e:
        raise InvalidArgumentTypeError(f"Expected {name} as a tuple of ints. Got {shape!r}.") from e
    if any(s < 0 for s in out):
        raise InvalidArgumentError(f"Expected non-negative lengths in {name}. Got {out}.")
    return out


@dataclass(frozen=True, slots=True)
class ArraySpec:
    """What we know about the input array, without its data."""

    shape: tuple[int, ...]
    """Array shape."""
    dtype: str
    """numpy dtype string, e.g. ``"float64"``."""
    storage_chunks: tuple[int, ...] | None = None
    """Read unit of the store (zarr/HDF5 chunks); ``None`` for in-memory or contiguous data."""
    shards: tuple[int, ...] | None = None
    """zarr v3 shard shape (write unit), when the store is sharded."""
    current_chunks: Chunks | None = None
    """Dask chunks the source already has (a dask array), if any."""
    dims: tuple[str, ...] | None = None
    """Dimension names (xarray), if any."""
    source: str = "synthetic"
    """Where the data lives: ``"zarr:PATH"``, ``"numpy"``, ``"dask"``, ``"synthetic"``."""
    name: str | None = None
    """The array's path inside the source (a zarr group's array, an HDF5 dataset), if any."""
    itemsize: int = field(init=False)
    """Bytes per element, derived from ``dtype``."""
    nbytes: int = field(init=False)
    """Bytes of the whole array, derived."""
    stored_chunk_nbytes: int = field(init=False)
    """Bytes one storage chunk decodes to, as stored: zarr and HDF5 keep whole chunks past
    an array's edge, so a (4000, 4000) chunk of a (100, 100) array decodes 122 MiB, though
    ``storage_chunks`` is cut to the shape; 0 without storage chunks. Derived."""

    def __post_init__(self) -> None:
        shape = _check_shape(self.shape, "shape")
        dt = check_dtype(self.dtype)
        object.__setattr__(self, "shape", shape)
        object.__setattr__(self, "dtype", dt.str if dt.names else dt.name)
        if len(shape) == 0:
            raise InvalidArgumentError("Expected an array with at least one axis. Got a 0-d array.")
        if any(s == 0 for s in shape):
            raise InvalidArgumentError(
                f"Expected an array with data. Got shape {shape} with a zero-length axis."
            )
        object.__setattr__(self, "stored_chunk_nbytes", 0)
        for name in ("storage_chunks", "shards"):
            val = getattr(self, name)
            if val is not None:
                val = _check_shape(val, name)
                if len(val) != len(shape) or any(c <= 0 for c in val):
                    raise InvalidArgumentError(
                        f"Expected {name} with {len(shape)} positive lengths. Got {val}."
                    )
                if name == "storage_chunks":
                    object.__setattr__(self, "stored_chunk_nbytes", math.prod(val) * dt.itemsize)
                object.__setattr__(self, name, tuple(map(min, val, shape)))
        if self.current_chunks is not None:
            cc = tuple(tuple(int(c) for c in ax) for ax in self.current_chunks)
            if len(cc) != len(shape) or any(sum(ax) != s for ax, s in zip(cc, shape, strict=True)):
                raise InvalidArgumentError(f"current_chunks {cc} do not cover shape {shape}.")
            object.__setattr__(self, "current_chunks", cc)
        if self.dims is not None:
            dims = tuple(str(d) for d in self.dims)
            if len(dims) != len(shape):
                raise InvalidArgumentError(f"Expected {len(shape)} dims. Got {dims}.")
            object.__setattr__(self, "dims", dims)
        object.__setattr__(self, "itemsize", dt.itemsize)
        object.__setattr__(self, "nbytes", dt.itemsize * math.prod(shape))

    @property
    def ndim(self) -> int:
        return len(self.shape)

    def to_dict(self) -> dict[str, Any]:
        return {k: v for k, v in asdict(self).items()
                if k not in ("itemsize", "nbytes", "stored_chunk_nbytes")}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> ArraySpec:
        d = dict(d)
        for k in ("shape", "storage_chunks", "shards", "dims"):
            if d.get(k) is not None:
                d[k] = tuple(d[k])
        if d.get("current_chunks") is not None:
            d["current_chunks"] = tuple(tuple(ax) for ax in d["current_chunks"])
        return cls(**d)


def normalize_axes(axes: Any, ndim: int, dims: tuple[str, ...] | None,
                   name: str) -> tuple[int, ...]:
    """Turn axis numbers (negative allowed) or dimension names into sorted axis numbers."""
    if axes is None:
        return ()
    if isinstance(axes, (int, str, np.integer)) and not isinstance(axes, bool):
        axes = (axes,)
    if not isinstance(axes, (tuple, list, set, frozenset, range)):
        raise InvalidArgumentTypeError(
            f"Expected {name} as an axis number, a dimension name or a list of them. Got "
            f"{axes!r} instead.")
    return tuple(sorted({_axis_index(a, ndim, dims, name) for a in axes}))


def is_axis_number(text: str) -> bool:
    """Whether ``text`` spells an axis number (``"2"``, ``"-1"``), not a dimension name:
    ASCII digits only (``"²".isdigit()`` is true and ``int("²")`` raises).

    >>> is_axis_number("-1"), is_axis_number("²"), is_axis_number("time")
    (True, False, False)
    """
    return re.fullmatch(r"-?[0-9]+", text.strip()) is not None


def _axis_index(a: Any, ndim: int, dims: tuple[str, ...] | None, name: str) -> int:
    if isinstance(a, str) and not is_axis_number(a):
        if dims is None or a not in dims:
            if not dims:
                raise InvalidArgumentError(
                    f"Expected {name} as axis numbers: this array has no dimension names. "
                    f"Got {a!r} instead.")
            raise InvalidArgumentError(
                f"Expected {name} to name a dimension of {list(dims)}. Got {a!r} instead."
            )
        return dims.index(a)
    if isinstance(a, bool) or not isinstance(a, (int, str, np.integer)):  # 0.5 is not axis 0
        raise InvalidArgumentTypeError(f"Expected {name} as an axis number. Got {a!r}.")
    i = int(a)
    if not -ndim <= i < ndim:
        raise InvalidArgumentError(
            f"Expected {name} axis in range [{-ndim}, {ndim - 1}] for a {ndim}-d array. Got {i}."
        )
    return i % ndim


@dataclass(frozen=True, slots=True)
class WorkSpec:
    """How the chunks will be used: axes kept whole and overlap depth per axis."""

    ndim: int
    """Number of axes of the array this work runs on."""
    keep_whole: tuple[int, ...] = ()
    """Axes that must not be split (e.g. an FFT or a time-series fit along them)."""
    depth: tuple[int, ...] = ()
    """Overlap depth per axis, as ``map_overlap`` takes it; empty means no overlap."""
    drop_axis: tuple[int, ...] = ()
    """Axes the function's output lacks, as ``map_blocks(drop_axis=)`` declares them."""

    def __post_init__(self) -> None:
        depth = tuple(int(d) for d in self.depth) if self.depth else (0,) * self.ndim
        if len(depth) != self.ndim or any(d < 0 for d in depth):
            raise InvalidArgumentError(
                f"Expected depth as {self.ndim} non-negative ints. Got {self.depth!r}."
            )
        object.__setattr__(self, "depth", depth)
        kw = tuple(sorted(set(int(a) for a in self.keep_whole)))
        if any(not 0 <= a < self.ndim for a in kw):
            raise InvalidArgumentError(f"keep_whole axes {kw} out of range for {self.ndim}-d.")
        object.__setattr__(self, "keep_whole", kw)
        drop = tuple(sorted(set(int(a) for a in self.drop_axis)))
        if any(not 0 <= a < self.ndim for a in drop):
            raise InvalidArgumentError(f"drop_axis {drop} out of range for {self.ndim}-d.")
        object.__setattr__(self, "drop_axis", drop)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> WorkSpec:
        return cls(d["ndim"], tuple(d["keep_whole"]), tuple(d["depth"]), tuple(d["drop_axis"]))


def parse_depth(depth: Any, ndim: int, dims: tuple[str, ...] | None = None) -> tuple[int, ...]:
    """``8``, ``(8, 8, 0)``, ``{0: 8}`` or ``{"y": 8}`` (as map_overlap takes) -> per-axis ints."""
    if depth is None:
        return (0,) * ndim
    if isinstance(depth, bool):
        raise InvalidArgumentTypeError(f"Expected depth as an int, tuple or dict. Got {depth!r}.")
    if isinstance(depth, (int, np.integer)):
        items = dict.fromkeys(range(ndim), int(depth))
    elif isinstance(depth, dict):
        items = {_axis_index(k, ndim, dims, "depth"): v for k, v in depth.items()}
        if len(items) != len(depth):  # {0: 5, -2: 6} or {"y": 5, 0: 6}: one axis twice
            raise InvalidArgumentError(f"Expected each axis at most once in depth. Got {depth!r}.")
    elif isinstance(depth, (tuple, list)):
        if len(depth) != ndim:
            raise InvalidArgumentError(
                f"Expected depth with one value per axis ({ndim}). Got {depth!r}."
            )
        items = dict(enumerate(depth))
    else:
        raise InvalidArgumentTypeError(f"Expected depth as an int, tuple or dict. Got {depth!r}.")
    out = [0] * ndim
    for i, v in items.items():
        if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 0:
            raise InvalidArgumentError(f"Expected a non-negative int depth. Got {v!r} on axis {i}.")
        out[i] = int(v)
    return tuple(out)


def check_depth_fits(depth: tuple[int, ...], shape: tuple[int, ...],
                     dims: tuple[str, ...] | None = None) -> tuple[int, ...]:
    """Refuse an overlap depth longer than its axis (a halo bigger than the array)."""
    for i, (d, n) in enumerate(zip(depth, shape, strict=True)):
        if d > n:
            name = dims[i] if dims else i
            raise InvalidArgumentError(
                f"Expected depth at most the axis length ({n}) on axis {name!r}. Got {d} instead.")
    return depth


@dataclass(frozen=True, slots=True)
class Resources:
    """What will run the work: workers, threads, memory, scheduler kind."""

    workers: int
    """Number of worker processes (1 for the threaded scheduler)."""
    threads_per_worker: int
    """Threads per worker process."""
    memory_limit_bytes: int
    """Memory limit of each worker (for ``threads``: the machine's available memory)."""
    scheduler: str = "processes"
    """``"threads"``, ``"synchronous"``, ``"processes"`` (a LocalCluster of worker processes;
    older plans say ``"local"``) or a scheduler address such as ``tcp://host:port``."""
    target_fraction: float = DEFAULT_MEMORY_FRACTIONS["target_fraction"]
    """distributed.worker.memory.target: plan peak per worker under this share of the limit."""
    spill_fraction: float = DEFAULT_MEMORY_FRACTIONS["spill_fraction"]
    """distributed.worker.memory.spill."""
    pause_fraction: float = DEFAULT_MEMORY_FRACTIONS["pause_fraction"]
    """distributed.worker.memory.pause."""
    terminate_fraction: float = DEFAULT_MEMORY_FRACTIONS["terminate_fraction"]
    """distributed.worker.memory.terminate."""

    def __post_init__(self) -> None:
        for name in ("workers", "threads_per_worker", "memory_limit_bytes"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, (int, np.integer)):
                raise InvalidArgumentTypeError(f"Expected {name} as an int. Got {v!r} instead.")
            if v <= 0:
                raise InvalidArgumentError(f"Expected {name} greater than zero. Got {v} instead.")
            object.__setattr__(self, name, int(v))
        if not 0 < self.target_fraction <= 1:
            raise InvalidArgumentError(
                f"Expected memory target fraction in (0, 1]. Got {self.target_fraction}."
            )

    @property
    def total_threads(self) -> int:
        return self.workers * self.threads_per_worker

    @property
    def memory_budget_bytes(self) -> int:
        """The memory rule: peak memory per worker must stay under target x limit."""
        return int(self.target_fraction * self.memory_limit_bytes)

    @property
    def distributed(self) -> bool:
        """Runs on distributed workers (not dask's threaded or synchronous scheduler)."""
        return self.scheduler not in ("threads", "synchronous")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Resources:
        return cls(**d)
