"""Inside a profiling sandbox: the block a preloaded sample hands to every call.

Synthetic data, a numpy array and a remote store's region are loaded once, before timing,
and every call gets that block. A function that writes into its input (``np.log(x,
out=x)``) would then see its own output on the next call (log of log: NaN, and a function
that rejects NaN failed "on a 16 kiB block"), where dask hands every task a block of its
own. So a strided probe of the block is compared after a call, and once a call has written
into it the block is loaded again (deterministically: seeded, or from a file) before each
later call, outside the timing. Functions that leave their input alone pay nothing.
"""

from __future__ import annotations

import os
from collections.abc import Callable

import numpy as np


def _copy(src: dict) -> tuple[str, list[int] | None] | None:
    """The local copy a URL's block is read from: its own (measured again), or that of a
    bigger region holding it (its path and that region's start); ``None``: the URL."""
    if src.get("cache") and os.path.exists(src["cache"]):
        return src["cache"], None
    if src.get("within"):
        return src["within"]["path"], src["within"]["start"]
    return None


def from_url(src: dict) -> bool:
    """Whether :func:`load_block` reads ``src`` from its URL (not from a local copy)."""
    return src["kind"] == "remote" and _copy(src) is None


def load_block(src: dict, region: tuple[slice, ...], shape: tuple[int, ...], dtype: str
               ) -> np.ndarray:
    """One sample's block from its source (a store, a file, a URL's cached region) or made
    up (seeded, so a block made again is the same)."""
    kind = src["kind"]
    if kind == "remote":  # a store at a URL: read once, before timing (the store probe models
        # the read per task); workers' readers do the same reads (sources.array_readers)
        copy = _copy(src)
        if copy is not None:  # read before: from local disk
            path, start = copy
            if start is None:
                return np.load(path)
            big = np.load(path, mmap_mode="r")  # only the part cut is read
            return np.array(big[tuple(slice(r.start - s, r.stop - s)
                                      for r, s in zip(region, start, strict=True))])
        from chunkpilot.sources.array_readers import read_remote_region

        block = np.asarray(read_remote_region(src, region), dtype=src.get("astype"))
        cache = src.get("cache")
        if cache:
            np.save(cache + ".part.npy", block)
            os.replace(cache + ".part.npy", cache)
        return block
    if kind == "zarr":
        import zarr

        z = zarr.open_array(src["path"], mode="r", path=src.get("array") or None)
        return np.asarray(z[region], dtype=src.get("astype"))
    if kind == "hdf5":  # read-only; the timed read includes HDF5 filter decompression
        import h5py

        with h5py.File(src["path"], "r") as f:
            return np.asarray(f[src["array"]][region], dtype=src.get("astype"))
    if kind == "npy":
        return np.load(src["path"])
    rng = np.random.default_rng(src.get("seed", 0))
    dt = np.dtype(dtype)
    if dt.kind == "f":
        if dt in (np.float32, np.float64):
            return rng.standard_normal(shape, dtype=dt)
        return rng.standard_normal(shape).astype(dt)
    if dt.kind == "c":
        return (rng.standard_normal(shape) + 1j * rng.standard_normal(shape)).astype(dt)
    if dt.kind == "b":
        return rng.random(shape) < 0.5
    if dt.kind in "iu":
        return rng.integers(0, 100, size=shape).astype(dt)
    return np.zeros(shape, dtype=dt)


class ReadError(Exception):
    """Reading the block from the store failed (corrupt or truncated chunk), not the function."""


def read_block(src: dict, region: tuple[slice, ...], shape: tuple[int, ...], dtype: str
               ) -> np.ndarray:
    """:func:`load_block`, a store's own errors raised as :class:`ReadError`."""
    try:
        return load_block(src, region, shape, dtype)
    except MemoryError:
        raise
    except Exception as e:  # codec / truncated-file errors: the store is damaged
        raise ReadError(f"{type(e).__name__}: {e}") from e


#: At most this many values are compared after a call.
PROBE_VALUES = 4096


def _probe(block: np.ndarray) -> bytes:
    flat = np.ravel(block)
    return flat[:: max(1, flat.size // PROBE_VALUES)].tobytes()


class Preloaded:
    """A block loaded before timing, loaded again before each call once one wrote into it."""

    def __init__(self, load: Callable[[], np.ndarray]) -> None:
        self._load = load
        self.block: np.ndarray | None = load()
        self._probe = _probe(self.block)
        self.writes = False
        """Whether a call was seen writing into its input."""

    @property
    def nbytes(self) -> int:
        return int(self.block.nbytes) if self.block is not None else 0

    def seen_after_call(self) -> None:
        """Note, after a call, whether it wrote into the block it was given."""
        if not self.writes and self.block is not None:
            self.writes = _probe(self.block) != self._probe

    def get(self) -> np.ndarray:
        """The block for the next call: the same one, or loaded again once a call wrote into
        it (call it outside the timing; the old block is freed first, so two never count
        against the sandbox's memory cap at once)."""
        if self.writes or self.block is None:
            self.block = None
            self.block = self._load()
        return self.block
