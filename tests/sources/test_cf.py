"""Packed netCDF / xarray-zarr variables are planned at the dtype xarray decodes them to.

A variable stored as int16 with ``scale_factor`` / ``add_offset`` / ``_FillValue`` opens as
float in xarray, and the "How to apply" line opens it with xarray: a plan sized for int16
was 4x over once applied (hunt 6).
"""

from __future__ import annotations

import numpy as np
import pytest

xr = pytest.importorskip("xarray")

from chunkpilot.report.apply import how_to_apply  # noqa: E402
from chunkpilot.sources.cf import decoded_dtype  # noqa: E402
from chunkpilot.sources.describe import describe  # noqa: E402
from chunkpilot.sources.readers import source_array  # noqa: E402

SHAPE = (24, 8, 16)


@pytest.fixture(scope="module")
def stores(tmp_path_factory):
    """``tos``: float64 data packed as int16 (scale 0.01, offset 290, fill) in netCDF and zarr."""
    d = tmp_path_factory.mktemp("cf")
    rng = np.random.default_rng(0)
    tos = 290 + rng.standard_normal(SHAPE)
    ds = xr.Dataset({"tos": (("time", "lat", "lon"), tos),
                     "tas": (("time", "lat", "lon"), tos.astype("float32"))})
    packed = {"dtype": "int16", "scale_factor": 0.01, "add_offset": 290.0, "_FillValue": -32767}
    ds.to_netcdf(d / "c.nc", engine="h5netcdf", encoding={"tos": packed})
    ds.to_zarr(d / "c.zarr", encoding={"tos": packed}, consolidated=False, mode="w")
    return d / "c.nc", d / "c.zarr"


@pytest.mark.parametrize("kind", ["nc", "zarr"])
def test_a_packed_variable_is_planned_and_sampled_as_xarray_opens_it(stores, kind):
    path = stores[0] if kind == "nc" else stores[1]
    opened = (xr.open_dataset(path, engine="h5netcdf") if kind == "nc"
              else xr.open_zarr(path, consolidated=False))
    spec, ref = describe(str(path), array="tos")
    assert opened["tos"].dtype == np.float64  # what the apply line gives the user
    assert np.dtype(spec.dtype) == opened["tos"].dtype
    assert ref["astype"] == "float64"
    if kind == "nc":
        assert "cast to float64" in ref["notes"][0]
    block = source_array(None, ref, (12, 8, 16)).compute()
    assert block.dtype == np.float64 and block.shape == SHAPE
    line = how_to_apply(spec, (12, 8, 16), "tos")[-1]
    assert "xr.open_" in line  # the line that opens it decoded
    plain, plain_ref = describe(str(path), array="tas")  # nothing to decode: as stored
    assert plain.dtype == "float32" and "astype" not in plain_ref


def test_decoded_dtype_follows_xarray():
    f32 = {"scale_factor": np.float32(0.1), "add_offset": np.float32(1.0)}
    assert decoded_dtype("int16", f32) == np.float32
    assert decoded_dtype("int32", f32) == np.float64  # int32 needs float64 (xarray's rule)
    assert decoded_dtype("int16", {"_FillValue": np.int16(-1)}) == np.float32  # masked: NaN
    assert decoded_dtype("float32", {"_FillValue": np.float32(-1)}) == np.float32
    assert decoded_dtype("int16", {"scale_factor": np.array([0.5], dtype="f4")}) == np.float32
    assert decoded_dtype("int16", {"long_name": "x"}) == np.int16


def test_an_xarray_zarr_store_without_the_suffix_is_opened_with_open_zarr(stores, tmp_path):
    """The apply line chose ``open_zarr`` by the ``.zarr`` suffix alone: a store named
    otherwise got ``xr.open_dataset``, which fails on it."""
    from chunkpilot.sources.xarray import describe_xarray

    plain = tmp_path / "store_noext"
    xr.open_zarr(stores[1], consolidated=False).to_zarr(plain, consolidated=False, mode="w")
    with xr.open_zarr(plain, consolidated=False) as ds:
        spec, _ = describe_xarray(ds, "tas")
    line = how_to_apply(spec, (12, 8, 16))[0]
    assert line.startswith("ds = xr.open_zarr("), line
    nc_spec, _ = describe_xarray(xr.open_dataset(stores[0], engine="h5netcdf", chunks={}), "tas")
    assert how_to_apply(nc_spec, (12, 8, 16))[0].startswith("ds = xr.open_dataset(")


def test_times_and_booleans_are_planned_as_xarray_decodes_them(tmp_path):
    """Hunt 15: int32 days with CF time units, and int8 flags xarray stores with dtype: bool,
    were planned and sampled as stored (the units and dtype attributes were not passed to
    xarray's decoding): a function subtracting a datetime64 failed on the int32 sample."""
    t = np.datetime64("2000-01-01") + np.arange(np.prod(SHAPE)).reshape(SHAPE).astype("m8[D]")
    ds = xr.Dataset({"when": (("time", "lat", "lon"), t.astype("M8[ns]")),
                     "flag": (("time", "lat", "lon"), np.arange(np.prod(SHAPE)).reshape(
                         SHAPE) % 2 == 0)})
    ds.to_netcdf(tmp_path / "t.nc", engine="h5netcdf",
                 encoding={"when": {"dtype": "int32", "units": "days since 2000-01-01"}})
    opened = xr.open_dataset(tmp_path / "t.nc", engine="h5netcdf")
    for name in ("when", "flag"):
        spec, ref = describe(str(tmp_path / "t.nc"), array=name)
        assert np.dtype(spec.dtype) == opened[name].dtype, (name, spec.dtype)
        block = source_array(None, ref, (12, 8, 16)).compute()
        assert block.dtype == opened[name].dtype
