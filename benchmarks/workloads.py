"""The benchmark workloads: data made on the fly in zarr stores, the dask computation
(:mod:`benchmarks.functions`), and how the same work is described to chunkpilot.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks import functions as f
from benchmarks import s3_read as s3
from benchmarks.data import make_store
from chunkpilot.examples import hungry_filter

MiB = 2**20


@dataclass(frozen=True)
class DataSource:
    """Where a workload's data lives: a local store path or a URL with its fsspec options."""

    url: str
    storage_options: dict[str, Any] | None = None

    def kwargs(self) -> dict[str, Any]:
        """``storage_options=`` for chunkpilot and dask, when the data is remote."""
        return {"storage_options": self.storage_options} if self.storage_options else {}

    def open(self, chunks: Any) -> Any:
        """The data as a dask array with ``chunks``."""
        import dask.array as da

        return da.from_zarr(self.url, chunks=chunks, **self.kwargs())


# --- the workload table --------------------------------------------------------------------

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
    func: Callable[[Any], Any] | None
    """Per-block function for ``--advise-mode func``; ``None``: only ``pipeline=`` is honest."""
    expressed_as: str
    """How the workload is described to chunkpilot, honestly."""
    keep_whole: tuple[int, ...] = ()
    depth: int | None = None
    pipeline: bool = False
    """Not a single per-block function: ``build`` goes to ``advise(pipeline=...)``."""
    compressed: bool = False
    data_kind: str = "normal"
    cluster_memory: str = "4GiB"
    """Memory limit of each of the 2 LocalCluster workers."""
    quick_cluster_memory: str = "1GiB"
    remote: bool = False
    """The data sits on a local S3 server behind a delaying proxy (:mod:`benchmarks.s3_read`)."""
    schedulers: tuple[str, ...] = ("threads", "local")
    """Schedulers this workload runs on (a subset of the run's)."""
    est_best_seconds: tuple[float, float] = (1.0, 1.5)
    """Guessed wall of the fastest shape at full size on (threads, local): the duration
    estimate's only input (earlier runs scaled by array bytes; new workloads timed small)."""

    def size(self, quick: bool) -> Size:
        return self.quick if quick else self.full

    def memory_limit(self, quick: bool) -> str:
        return self.quick_cluster_memory if quick else self.cluster_memory

    def make_data(self, directory: Path, quick: bool) -> Path:
        s = self.size(quick)
        return make_store(directory / f"{self.name}.zarr", s.shape, self.dtype, s.storage,
                          self.compressed, self.data_kind)

    @contextlib.contextmanager
    def data(self, directory: Path, quick: bool) -> Iterator[DataSource]:
        """The workload's data for the run: a store in ``directory``, or (remote) an S3
        bucket served, behind its delaying proxy, until the block ends."""
        if not self.remote:
            yield DataSource(str(self.make_data(directory, quick)))
            return
        from benchmarks.s3_read import S3ReadSize, S3ReadStore

        s = self.size(quick)
        with S3ReadStore(size=S3ReadSize(s.shape, s.storage)) as store:
            yield DataSource(store.url, store.storage_options)

    def auto_chunks(self, ndim: int) -> Any:
        """What a dask user writes for automatic chunks: ``"auto"``, whole axes kept -1."""
        if not self.keep_whole:
            return "auto"
        return {i: (-1 if i in self.keep_whole else "auto") for i in range(ndim)}

    def nbytes(self, quick: bool) -> int:
        return int(np.prod(self.size(quick).shape)) * np.dtype(self.dtype).itemsize


WORKLOADS: tuple[Workload, ...] = (
    Workload(
        "ufunc_reduce", "sin^2 + cos*x + exp(-x^2), then a full sum (2-D float64)",
        Size((8192, 4096), (512, 512)), Size((1024, 1024), (128, 128)), "float64",
        f.ufunc_reduce, f.ufunc_chain, "pipeline=", pipeline=True,
        est_best_seconds=(0.65, 0.9)),
    Workload(
        "time_reduce", "std along time of a (time, y, x) float32 cube",
        Size((256, 512, 1024), (64, 128, 128)), Size((64, 128, 256), (16, 32, 32)), "float32",
        f.time_reduce, f.time_std, "pipeline=", pipeline=True, est_best_seconds=(0.45, 0.7)),
    Workload(
        "overlap_filter", "map_overlap gaussian_filter(sigma=2), depth 8, then a sum",
        Size((8192, 4096), (512, 512)), Size((1024, 1024), (128, 128)), "float64",
        f.overlap_filter, f.smooth, "pipeline=", depth=f.OVERLAP_DEPTH, pipeline=True,
        est_best_seconds=(0.5, 0.8)),
    Workload(
        "matmul", "(x @ x.T).sum() of a square float64 matrix",
        Size((4096, 4096), (512, 512)), Size((768, 768), (128, 128)), "float64",
        f.matmul, f.gram_block, "pipeline=", pipeline=True, est_best_seconds=(1.0, 1.4)),
    Workload(
        "fft_time", "per-pixel power spectrum (rfft along time, time kept whole), then a sum",
        Size((512, 512, 256), (128, 64, 64)), Size((128, 64, 128), (32, 16, 16)), "float32",
        f.fft_time, f.power_spectrum, "func=power_spectrum, keep_whole=(0,)", keep_whole=(0,),
        est_best_seconds=(0.45, 0.7)),
    Workload(
        "hungry", "chunkpilot.examples.hungry_filter (~6x temporaries) under 1 GiB per worker",
        Size((8192, 4096), (256, 256)), Size((1024, 1024), (64, 64)), "float64",
        f.hungry, hungry_filter, "func=hungry_filter", cluster_memory="1GiB",
        quick_cluster_memory="512MiB", est_best_seconds=(0.4, 0.65)),
    Workload(
        "zarr_read", "compressed zarr (zstd, storage chunks 4 x 360 x 720) read + log, then a sum",
        Size((128, 720, 1440), (4, 360, 720)), Size((32, 90, 180), (4, 45, 90)), "float32",
        f.zarr_read, f.log_positive, "func=log_positive on the store path (reads measured)",
        compressed=True, data_kind="smooth", est_best_seconds=(0.9, 1.5)),
    Workload(
        "rechunk_transpose",
        "map chunks (1, y, x) -> time-series chunks (t, y/8, x/8) via x.rechunk, std along "
        "time, then a sum (float32 cube)",
        Size((128, 512, 512), (1, 512, 512)), Size((32, 128, 128), (1, 128, 128)), "float32",
        f.rechunk_transpose, None, "pipeline= (no per-block equivalent)", pipeline=True,
        est_best_seconds=(0.5, 1.5)),
    Workload(
        "gil_loop",
        "map_blocks of a pure-Python recursive filter over each row (holds the GIL), then a "
        "sum (float32)",
        Size((2048, 4096), (64, 4096)), Size((256, 1024), (32, 1024)), "float32",
        f.gil_loop, f.ewm_rows, "func=ewm_rows, keep_whole=(1,)", keep_whole=(1,),
        est_best_seconds=(0.9, 0.5)),
    Workload(
        "s3_read",
        "compressed zarr v3 on a local S3 server (moto) 20 ms away through a delaying proxy, "
        "storage chunks 128 x 128 (~30 KiB objects): read + log, then a sum",
        Size((2048, 2048), (128, 128)), Size((1024, 1024), (128, 128)), "float32",
        s3.build, s3.per_block,
        "func=per_block on the s3:// URL (reads MODELLED from a store probe)",
        compressed=True, remote=True, schedulers=("local",), cluster_memory="1GiB",
        quick_cluster_memory="1GiB", est_best_seconds=(2.0, 2.0)),
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
