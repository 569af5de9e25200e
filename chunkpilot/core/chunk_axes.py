"""Pure: per-axis facts of a chunking that ``check`` and the planner read: whether an axis
is regular, its largest and smallest chunk, its ragged chunks and how often it reads each
storage chunk. Each is O(chunks per axis) in C or numpy (a 10**7-chunk store in
milliseconds)."""

from __future__ import annotations

import math

import numpy as np

from chunkpilot.core.growth import chunk_counts
from chunkpilot.core.policy import RAGGED_FRACTION
from chunkpilot.types import ArraySpec, Chunks


def is_regular(ax: tuple[int, ...]) -> bool:
    """All chunks equal but a last one that is no bigger (``normalize_chunks`` of a shape)."""
    return len(ax) < 2 or (ax[-1] <= ax[0] and ax.count(ax[0]) >= len(ax) - 1)


def extent(ax: tuple[int, ...]) -> tuple[int, int]:
    """(largest, smallest) chunk of an axis; a regular axis needs no max()/min() pass."""
    if not ax:
        return 0, 0
    return (ax[0], ax[-1]) if is_regular(ax) else (max(ax), min(ax))


def _reads(starts: np.ndarray, lengths: np.ndarray | int, unit: int) -> np.ndarray:
    """Storage chunks of length ``unit`` each dask chunk touches."""
    return (starts + lengths - 1) // unit - starts // unit + 1


def axis_reads(chunks: tuple[int, ...], unit: int) -> tuple[int, int]:
    """(storage chunks read along one axis summed over dask chunks, most touched by one chunk).

    Vectorised, and for regular chunks only one period of the chunk/storage pattern
    (``unit / gcd(chunk, unit)`` chunks) is looked at: a 10**7-chunk axis costs milliseconds.
    """
    if not chunks:
        return 0, 0
    if is_regular(chunks):
        c, n, last = chunks[0], len(chunks), chunks[-1]
        full = n - 1  # chunks of length c before the last one
        period = unit // math.gcd(c, unit)
        vals = _reads(np.arange(min(period, full), dtype=np.int64) * c, c, unit)
        q, r = divmod(full, period) if full >= period else (0, full)
        total = int(q * vals.sum() + vals[:r].sum()) if full else 0
        tail = int(_reads(np.int64(full * c), last, unit))
        return total + tail, max(int(vals.max()) if full else 0, tail)
    lengths = np.fromiter(chunks, dtype=np.int64, count=len(chunks))
    reads = _reads(np.cumsum(lengths) - lengths, lengths, unit)
    return int(reads.sum()), int(reads.max())


def ragged(ax: tuple[int, ...], fraction: float = RAGGED_FRACTION) -> tuple[int, int]:
    """(how many chunks are under ``fraction`` of the axis's largest, the smallest)."""
    top, low = extent(ax)
    if len(ax) < 2 or low >= fraction * top:
        return 0, low
    if is_regular(ax):  # only the last chunk can be small
        return 1, low
    lengths = np.fromiter(ax, dtype=np.int64, count=len(ax))
    return int(np.count_nonzero(lengths < fraction * top)), low


def read_amplification(spec: ArraySpec, chunks: Chunks) -> tuple[float, int]:
    """(mean reads per storage chunk, most storage chunks one dask chunk touches)."""
    if spec.storage_chunks is None:
        return 1.0, 1
    reads = [axis_reads(ax, s) for ax, s in zip(chunks, spec.storage_chunks, strict=True)]
    stored = math.prod(chunk_counts(spec.shape, spec.storage_chunks))
    return math.prod(r for r, _ in reads) / stored, math.prod(m for _, m in reads)
