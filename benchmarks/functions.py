"""What the workloads compute: per-block functions (numpy in, numpy out) and whole
pipelines (dask array in, a small dask result out).

Every pipeline ends in a small result (a sum or a 2-D map), so nothing big is shipped back
to the client and the wall time is the computation's own. Workers and chunkpilot's sandbox
get these functions by value (cloudpickle), so this module need not be importable there.
"""

from __future__ import annotations

import itertools
from typing import Any

import numpy as np

from chunkpilot.examples import hungry_filter

#: Gaussian sigma 2 needs a halo of 4 sigma (scipy's default truncate) = 8 pixels.
OVERLAP_DEPTH = 8
#: Time-series tiles of ``rechunk_transpose``: the map axes are cut into this many pieces.
TRANSPOSE_TILES = 8
#: Smoothing factor of the row filter in ``gil_loop``.
EWM_ALPHA = 0.1


# --- per-block functions ---------------------------------------------------------------------

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


def ewm_rows(block: np.ndarray) -> np.ndarray:
    """An exponentially weighted moving average along each row, in pure Python: a recursive
    filter that numpy cannot vectorise, so it holds the GIL for the whole block."""
    out = np.empty(block.shape, dtype=block.dtype)
    a, b = 1.0 - EWM_ALPHA, EWM_ALPHA
    for i in range(block.shape[0]):
        out[i] = list(itertools.accumulate(block[i].tolist(), lambda acc, v: a * acc + b * v))
    return out


# --- the dask computations, from the input array to a small result ---------------------------

def ufunc_reduce(x: Any) -> Any:
    return ufunc_chain(x).sum()


def time_reduce(x: Any) -> Any:
    return x.std(axis=0)


def overlap_filter(x: Any) -> Any:
    return x.map_overlap(smooth, depth=OVERLAP_DEPTH, boundary="reflect", dtype=x.dtype).sum()


def matmul(x: Any) -> Any:
    return (x @ x.T).sum()


def fft_time(x: Any) -> Any:
    n_freq = x.shape[0] // 2 + 1
    return x.map_blocks(power_spectrum, chunks=((n_freq,), *x.chunks[1:]), dtype=x.dtype).sum()


def hungry(x: Any) -> Any:
    return x.map_blocks(hungry_filter, dtype="f8").sum()


def zarr_read(x: Any) -> Any:
    return x.map_blocks(log_positive, dtype="f8").sum()


def rechunk_transpose(x: Any) -> Any:
    """Map chunks -> time-series chunks (time whole, map axes in ``TRANSPOSE_TILES`` tiles)
    with ``x.rechunk``, then a per-pixel statistic along time, summed."""
    tiles = {i: max(1, x.shape[i] // TRANSPOSE_TILES) for i in range(1, x.ndim)}
    ts = x.rechunk({0: -1, **tiles})
    return ts.std(axis=0).sum()


def gil_loop(x: Any) -> Any:
    return x.map_blocks(ewm_rows, dtype=x.dtype).sum()
