"""The benchmark data: zarr arrays of seeded values written on the fly (normal noise, or a
smooth field that compresses like climate data), for the local stores and the S3 one."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

MiB = 2**20


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
