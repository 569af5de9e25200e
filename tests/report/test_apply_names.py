"""The line that applies a plan names the array inside its source (``report.apply``)."""

from __future__ import annotations

import zarr

from chunkpilot.report.apply import how_to_apply
from chunkpilot.sources.describe import describe
from chunkpilot.types import ArraySpec


def test_an_array_found_in_a_group_is_opened_with_its_component(tmp_path):
    """hunt5: a group's only array, found without --array, was applied as
    ``da.from_zarr('g.zarr', ...)``, which opens the group, not the array."""
    g = zarr.open_group(str(tmp_path / "g.zarr"), mode="w")
    g.create_array("sub/tas", shape=(64, 32), chunks=(16, 16), dtype="f4")
    spec, _ = describe(tmp_path / "g.zarr")
    (line,) = how_to_apply(spec, (32, 32))
    assert line == f"x = da.from_zarr({str(tmp_path / 'g.zarr')!r}, component='sub/tas', " \
                   "chunks=(32, 32))"


def test_a_netcdf_variable_in_a_group_is_opened_with_its_group():
    """hunt5: ``xr.open_dataset(path, chunks=...)`` opened the root group, which had no
    variables; the variable lived in ``/model/run1``."""
    spec = ArraySpec((8, 4), "f4", source="hdf5:m.nc", dims=("t", "x"), name="model/run1/tas")
    assert how_to_apply(spec, (2, 4)) == [
        "ds = xr.open_dataset('m.nc', group='model/run1', chunks={'t': 2, 'x': 4})"]
    top = ArraySpec((8, 4), "f4", source="hdf5:m.nc", dims=("t", "x"), name="tas")
    assert how_to_apply(top, (2, 4)) == ["ds = xr.open_dataset('m.nc', chunks={'t': 2, 'x': 4})"]


def _run_lines(lines: list[str]) -> dict:
    """Execute apply lines as a user would paste them (their opened objects returned)."""
    import warnings

    import dask.array as da
    import xarray as xr

    scope = {"da": da, "xr": xr}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # consolidated metadata missing: xarray's warning
        for line in lines:
            exec(line, scope)  # noqa: S102 - the lines under test
    return scope


def test_every_apply_line_opens_the_variable_it_was_planned_for(tmp_path):
    """Hunt 16: a zarr variable in a nested group got ``xr.open_zarr(path, chunks=...)``
    (an empty Dataset: no group=); a Dataset opened with ``group=`` got a line without it (and
    synthetic samples: the variable was looked up at the file's root); a lone zarr array
    with dimension names got ``xr.open_zarr`` (ContainsArrayError) and a plan for its
    decoded dtype while ``da.from_zarr`` reads it as stored."""
    import numpy as np
    import xarray as xr

    tas = xr.Dataset({"tas": (("time", "x"), np.ones((40, 30), "f4"))})
    tas.to_zarr(tmp_path / "n.zarr", group="model/run1", consolidated=False, mode="w")
    tas.to_netcdf(tmp_path / "g.nc", group="model/run1", engine="h5netcdf")
    packed = {"dtype": "int16", "scale_factor": 0.5, "_FillValue": -1}
    tas.to_zarr(tmp_path / "p.zarr", encoding={"tas": packed}, consolidated=False, mode="w")
    cases = [
        describe(tmp_path / "n.zarr", array="model/run1/tas")[0],
        describe(xr.open_dataset(tmp_path / "g.nc", group="model/run1", chunks={}), array="tas")[0],
        describe(xr.open_zarr(tmp_path / "n.zarr", group="model/run1", consolidated=False),
                 array="tas")[0],
        describe(tmp_path / "p.zarr" / "tas")[0],  # the array itself, not its group
    ]
    for spec in cases:
        scope = _run_lines(how_to_apply(spec, (20, 30)))
        opened = [scope[k]["tas"] if k == "ds" else scope[k] for k in ("x", "ds") if k in scope]
        assert opened, spec
        for a in opened:
            assert a.shape == (40, 30) and a.chunks == ((20, 20), (30,)), (spec, a)
            assert np.dtype(a.dtype) == np.dtype(spec.dtype), (spec, a.dtype)
    assert cases[1].name == cases[2].name == "model/run1/tas"
    assert cases[3].dtype == "int16"
