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
