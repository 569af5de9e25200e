"""A pipeline that writes is refused before anything touches disk (``pipeline.writes``)."""

from __future__ import annotations

import dask.array as da
import numpy as np
import pytest
import xarray as xr
import zarr
from dask.array.core import store as store_imported_early  # a writer the patch cannot reach

import chunkpilot
from chunkpilot.errors import PipelineBuildError
from chunkpilot.pipeline.writes import WritesError, refused_writes
from tests.reliability.conftest import snapshot


@pytest.fixture
def group(tmp_path):
    """An input array and an earlier result beside it in one group."""
    g = zarr.open_group(str(tmp_path / "grp.zarr"), mode="w")
    rng = np.random.default_rng(1)
    g.create_array("raw", shape=(512, 512), chunks=(128, 128), dtype="f4")[:] = \
        rng.standard_normal((512, 512), dtype="f4")
    g.create_array("result", shape=(512, 512), chunks=(128, 128), dtype="f4")[:] = 100.0
    return tmp_path / "grp.zarr"


def test_a_pipeline_writing_into_its_inputs_group_is_refused_and_nothing_changes(group, tmp_path):
    """Hunt 19: advise ran ``to_zarr(..., overwrite=True)`` on samples and zero-filled
    placeholders: the earlier result beside the input came out all zeros (and a pipeline
    writing over its input rewrote the input array); a plain ``to_zarr`` left a zero-filled
    store behind that made the user's own write fail later."""
    before = snapshot(group)

    def sibling(x):
        return da.to_zarr(x - x.mean(0), str(group), component="result", compute=False,
                          overwrite=True)

    def new_store(x):
        return (x * 2).to_zarr(str(tmp_path / "out.zarr"), compute=False)

    for pipeline in (sibling, new_store):
        with pytest.raises(PipelineBuildError, match=r"without writing it\. Got a call to "
                                                     r"(dask\.array|Array)\.to_zarr"):
            chunkpilot.advise(str(group), array="raw", pipeline=pipeline, scheduler="threads",
                              memory_limit="1GiB")
    assert snapshot(group) == before
    assert not (tmp_path / "out.zarr").exists()


def test_tune_with_a_plan_refuses_a_writing_pipeline_too(group, tmp_path):
    """``tune(plan=...)`` builds the pipeline for its trials without advising it first."""
    plan = chunkpilot.advise(str(group), array="raw", pipeline=lambda x: (x * 2).sum(),
                             scheduler="threads", memory_limit="1GiB")
    # hunt 19: the pipeline's runs hold BLAS to one thread as func= samples do; only func=
    # plans said so (a qr pipeline on threads, unpinned, ran 5-15x slower than planned)
    assert any("BLAS/OpenMP thread pools were held to one thread" in n for n in plan.notes)
    before = snapshot(group)
    with pytest.raises(PipelineBuildError, match="without writing it"):
        chunkpilot.tune(str(group), array="raw", plan=plan, scheduler="threads",
                        memory_limit="1GiB", max_trials=1,
                        pipeline=lambda x: x.to_zarr(str(tmp_path / "o.zarr"), compute=False))
    assert snapshot(group) == before and not (tmp_path / "o.zarr").exists()


def test_a_writer_imported_before_the_patch_is_caught_in_the_graph(group):
    def early(x):
        return store_imported_early(x, np.empty(x.shape, x.dtype), compute=False)

    with pytest.raises(PipelineBuildError, match="store-map"):
        chunkpilot.advise(str(group), array="raw", pipeline=early, scheduler="threads",
                          memory_limit="1GiB")


def test_every_writer_is_refused_inside_and_restored_outside(tmp_path):
    x = da.ones((4, 4), chunks=2)
    writers = [lambda: da.to_zarr(x, str(tmp_path / "a.zarr"), compute=False),
               lambda: x.store(np.empty((4, 4)), compute=False),
               lambda: xr.DataArray(x, dims=("y", "x"), name="v").to_netcdf(tmp_path / "b.nc"),
               lambda: zarr.open_array(str(tmp_path / "c.zarr"), mode="w", shape=(2,),
                                       dtype="f8")]
    real = (da.to_zarr, da.core.Array.store, xr.DataArray.to_netcdf, zarr.open_array)
    for write in writers:
        with refused_writes(), pytest.raises(WritesError):
            write()
    assert list(tmp_path.iterdir()) == []
    zarr.create_array(str(tmp_path / "r.zarr"), shape=(2,), dtype="f8", fill_value=3.0)
    with refused_writes():  # reading stays open, in zarr's default mode too
        assert zarr.open_array(str(tmp_path / "r.zarr"))[:].sum() == 6.0
    assert (da.to_zarr, da.core.Array.store, xr.DataArray.to_netcdf, zarr.open_array) == real
    writers[0]()  # restored: writes again
    assert (tmp_path / "a.zarr").exists()
