"""The benchmark workloads: data made on the fly in zarr stores, the dask computation, and
how the same work is described to chunkpilot (per-block function, ``keep_whole``, ``depth``).

Every computation ends in a small result (a sum or a 2-D map), so nothing big is shipped
back to the client and the wall time is the computation's own.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from chunkpilot.examples import hungry_filter

GiB = 2**30
MiB = 2**20


# --- per-block functions (numpy in, numpy out; ufuncs also work on dask arrays) -------------

def ufunc_chain(x: Any) -> Any:
    """An elementwise chain of transcendental ufuncs (works on numpy and dask arrays)."""
    return np.sin(x) ** 2 + np.cos(x) * x + np.exp(-x * x)


def time_std(block: np.ndarray) -> np.ndarray:
    """The per-block step of a standard deviation along time (axis 0)."""
    return block.std(axis=0, keepdims=True)


def smooth(block: np.ndarray, sigma: float = 2.0) -> np.ndarray:
    import scipy.ndimage

    return scipy.ndimage.gaussian_filter(block, sigma=sigma)


def gram_block(block: np.ndarray) -> np.ndarray:
    """One block product of ``x @ x.T`` (the work of one dask matmul task on square chunks)."""
    return block @ block.T


def power_spectrum(block: np.ndarray) -> np.ndarray:
    """Per-pixel power spectrum along time (axis 0 must be whole)."""
    return (np.abs(np.fft.rfft(block, axis=0)) ** 2).astype(block.dtype)


def log_positive(block: np.ndarray) -> np.ndarray:
    """Read-and-compute on a compressed store: log of the positive part, in float64."""
    b = block.astype(np.float64)
    return np.where(b > 0.5, np.log1p(np.abs(b)), 0.0)


# --- the dask computations, from the input array to a small result ---------------------------

def _ufunc_reduce(x: Any) -> Any:
    return ufunc_chain(x).sum()


def _time_reduce(x: Any) -> Any:
    return x.std(axis=0)


def _overlap_filter(x: Any) -> Any:
    return x.map_overlap(smooth, depth=OVERLAP_DEPTH, boundary="reflect", dtype=x.dtype).sum()


def _matmul(x: Any) -> Any:
    return (x @ x.T).sum()


def _fft_time(x: Any) -> Any:
    n_freq = x.shape[0] // 2 + 1
    return x.map_blocks(power_spectrum, chunks=((n_freq,), *x.chunks[1:]), dtype=x.dtype).sum()


def _hungry(x: Any) -> Any:
    return x.map_blocks(hungry_filter, dtype="f8").sum()


def _zarr_read(x: Any) -> Any:
    return x.map_blocks(log_positive, dtype="f8").sum()


#: Gaussian sigma 2 needs a halo of 4 sigma (scipy's default truncate) = 8 pixels.
OVERLAP_DEPTH = 8


# --- data --------------------------------------------------------------------------------------

def _fill(z: Any, kind: str, seed: int) -> None:
    """Write the array in slabs along axis 0 (a few storage chunks thick) from a seeded RNG."""
    rng = np.random.default_rng(seed)
    row_bytes = z.nbytes // z.shape[0]
    step = max(1, (64 * MiB) // (row_bytes * z.chunks[0])) * z.chunks[0]
    for start in range(0, z.shape[0], step):
        stop = min(z.shape[0], start + step)
        shape = (stop - start, *z.shape[1:])
        if kind == "smooth":  # a field that compresses: smooth waves plus rounded noise
            idx = np.indices(shape, dtype=np.float32)
            idx[0] += start
            wave = sum(np.sin(idx[i] / (7.0 + 5 * i)) for i in range(len(shape)))
            data = np.round(wave + 0.1 * rng.standard_normal(shape, dtype=np.float32), 2)
        else:
            data = rng.standard_normal(shape, dtype=np.float32)
        z[start:stop] = data.astype(z.dtype, copy=False)


def make_store(path: Path, shape: tuple[int, ...], dtype: str, storage: tuple[int, ...],
               compressed: bool, kind: str = "normal", seed: int = 0) -> Path:
    """A zarr array at ``path`` with the given storage chunks, filled with seeded data."""
    import zarr

    z = zarr.create_array(str(path), shape=shape, chunks=storage, dtype=dtype,
                          compressors="auto" if compressed else None, overwrite=True)
    _fill(z, kind, seed)
    return path


# --- the workload table --------------------------------------------------------------------------

@dataclass(frozen=True)
class Size:
    """Array shape and storage chunks for one mode (full or quick)."""

    shape: tuple[int, ...]
    storage: tuple[int, ...]


@dataclass(frozen=True)
class Workload:
    """One benchmark: the data, the dask computation, and chunkpilot's view of it."""

    name: str
    description: str
    full: Size
    quick: Size
    dtype: str
    build: Callable[[Any], Any]
    """Input dask array -> the collection computed (a small result)."""
    func: Callable[[Any], Any]
    """Per-block function given to chunkpilot (``advise``/``tune``)."""
    expressed_as: str
    """How the workload is described to chunkpilot, honestly."""
    keep_whole: tuple[int, ...] = ()
    depth: int | None = None
    pipeline: bool = False
    """Not a single per-block function: give ``build`` to ``advise(pipeline=...)`` when the
    installed chunkpilot has it (func/keep_whole/depth otherwise, and always for ``tune``)."""
    compressed: bool = False
    data_kind: str = "normal"
    cluster_memory: str = "4GiB"
    """Memory limit of each of the 2 LocalCluster workers."""
    quick_cluster_memory: str = "1GiB"
    tags: tuple[str, ...] = field(default=())

    def size(self, quick: bool) -> Size:
        return self.quick if quick else self.full

    def memory_limit(self, quick: bool) -> str:
        return self.quick_cluster_memory if quick else self.cluster_memory

    def make_data(self, directory: Path, quick: bool) -> Path:
        s = self.size(quick)
        return make_store(directory / f"{self.name}.zarr", s.shape, self.dtype, s.storage,
                          self.compressed, self.data_kind)

    def auto_chunks(self, ndim: int) -> Any:
        """What a dask user writes for automatic chunks: ``"auto"``, whole axes kept -1."""
        if not self.keep_whole:
            return "auto"
        return {i: (-1 if i in self.keep_whole else "auto") for i in range(ndim)}


WORKLOADS: tuple[Workload, ...] = (
    Workload(
        "ufunc_reduce", "sin^2 + cos*x + exp(-x^2), then a full sum (2-D float64)",
        Size((8192, 8192), (512, 512)), Size((1024, 1024), (128, 128)), "float64",
        _ufunc_reduce, ufunc_chain, "func=ufunc_chain (the sum's per-block step is not modelled)",
        pipeline=True),
    Workload(
        "time_reduce", "std along time of a (time, y, x) float32 cube",
        Size((512, 512, 1024), (64, 128, 128)), Size((64, 128, 256), (16, 32, 32)), "float32",
        _time_reduce, time_std,
        "func=time_std (the per-block std; the combine across time chunks is not modelled)",
        pipeline=True),
    Workload(
        "overlap_filter", "map_overlap gaussian_filter(sigma=2), depth 8, then a sum",
        Size((8192, 8192), (512, 512)), Size((1024, 1024), (128, 128)), "float64",
        _overlap_filter, smooth,
        f"func=smooth, depth={OVERLAP_DEPTH} (halo read, boundary reflect)",
        depth=OVERLAP_DEPTH, pipeline=True),
    Workload(
        "matmul", "(x @ x.T).sum() of a square float64 matrix",
        Size((4096, 4096), (512, 512)), Size((768, 768), (128, 128)), "float64",
        _matmul, gram_block,
        "func=gram_block (block @ block.T): one task's work, but dask runs n_row_chunks x more "
        "tasks than blocks", pipeline=True),
    Workload(
        "fft_time", "per-pixel power spectrum (rfft along time, time kept whole), then a sum",
        Size((512, 512, 512), (128, 64, 64)), Size((128, 64, 128), (32, 16, 16)), "float32",
        _fft_time, power_spectrum, "func=power_spectrum, keep_whole=(0,)", keep_whole=(0,)),
    Workload(
        "hungry", "chunkpilot.examples.hungry_filter (~6x temporaries) under 1 GiB per worker",
        Size((8192, 8192), (256, 256)), Size((1024, 1024), (64, 64)), "float64",
        _hungry, hungry_filter, "func=hungry_filter", cluster_memory="1GiB",
        quick_cluster_memory="512MiB"),
    Workload(
        "zarr_read", "compressed zarr (zstd, storage chunks 4 x 360 x 720) read + log, then a sum",
        Size((256, 720, 1440), (4, 360, 720)), Size((32, 90, 180), (4, 45, 90)), "float32",
        _zarr_read, log_positive, "func=log_positive on the store path (reads measured)",
        compressed=True, data_kind="smooth"),
)

BY_NAME = {w.name: w for w in WORKLOADS}


def select(names: list[str] | None) -> list[Workload]:
    """The workloads named (all when ``names`` is empty), or ValueError naming the unknown."""
    if not names:
        return list(WORKLOADS)
    unknown = [n for n in names if n not in BY_NAME]
    if unknown:
        raise ValueError(f"Expected workload names from {sorted(BY_NAME)}. Got {unknown} instead.")
    return [BY_NAME[n] for n in names]

