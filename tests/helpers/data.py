"""Small sample inputs written locally, then uploaded (S3) or served (HTTP) by the fixtures.

The values are ``arange`` reshaped, so a reader can check it got the right bytes back:
``expected(shape)[i, j] == i * shape[1] + j``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

SHAPE = (64, 48)
CHUNKS = (16, 16)
ZARR_NAME = "data.zarr"  # a bare zarr v3 array (zarr.json at the store root)
ZARR_GROUP_NAME = "group.zarr"  # a zarr v3 group with a sharded array "t"
NC_NAME = "data.nc"  # netCDF4 (HDF5) with variable "t" over dims ("y", "x")


def expected(shape: tuple[int, ...] = SHAPE) -> Any:
    import numpy as np

    return np.arange(int(np.prod(shape)), dtype="float32").reshape(shape)


def make_zarr_v3(path: str | Path, shape: tuple[int, ...] = SHAPE,
                 chunks: tuple[int, ...] = CHUNKS) -> Path:
    """A compressed (zarr's default zstd) float32 zarr v3 array at ``path``."""
    import zarr

    z = zarr.create_array(str(path), shape=shape, chunks=chunks, dtype="float32",
                          zarr_format=3, overwrite=True)
    z[...] = expected(shape)
    return Path(path)


def make_random_zarr(path: str | Path, shape: tuple[int, ...], chunks: tuple[int, ...],
                     dtype: str = "f8", seed: int = 0) -> str:
    """A zarr array of seeded standard-normal values (what the pipelines' tests run on)."""
    import numpy as np
    import zarr

    z = zarr.open_array(str(path), mode="w", shape=shape, chunks=chunks, dtype=dtype)
    z[:] = np.random.default_rng(seed).standard_normal(shape)
    return str(path)


def make_zarr_v3_group(path: str | Path, shape: tuple[int, ...] = SHAPE,
                       chunks: tuple[int, ...] = (8, 8),
                       shards: tuple[int, ...] = (32, 16)) -> Path:
    """A zarr v3 group with a sharded array ``t`` (dims y, x) that xarray can open."""
    import xarray as xr

    ds = xr.Dataset({"t": (("y", "x"), expected(shape))})
    ds.to_zarr(str(path), mode="w", zarr_format=3, consolidated=False,
               encoding={"t": {"chunks": chunks, "shards": shards}})
    return Path(path)


def make_netcdf4(path: str | Path, shape: tuple[int, ...] = SHAPE,
                 chunks: tuple[int, ...] = CHUNKS) -> Path:
    """A netCDF4 file written with h5netcdf: variable ``t``, chunked, zlib-compressed."""
    import xarray as xr

    ds = xr.Dataset({"t": (("y", "x"), expected(shape))},
                    attrs={"title": "chunkpilot test data"})
    ds.to_netcdf(str(path), engine="h5netcdf", format="NETCDF4",
                 encoding={"t": {"chunksizes": chunks, "zlib": True, "complevel": 1}})
    return Path(path)


def make_all(directory: str | Path) -> dict[str, Path]:
    """Write the three samples into ``directory``; returns {name: local path}."""
    d = Path(directory)
    d.mkdir(parents=True, exist_ok=True)
    return {
        ZARR_NAME: make_zarr_v3(d / ZARR_NAME),
        ZARR_GROUP_NAME: make_zarr_v3_group(d / ZARR_GROUP_NAME),
        NC_NAME: make_netcdf4(d / NC_NAME),
    }
