"""Pipelines with a fixed-shape operand (``x @ w``, ``x - climatology``) build on the whole
array but not on a sub-array cut along that operand's axes: chunkpilot finds those axes and
measures them at their full length, in advise and in tune's trial region. Pipelines that
need an axis in one chunk (a gufunc's core dimension) get it kept whole."""

from __future__ import annotations

import dask.array as da
import numpy as np
import pytest
import zarr

import chunkpilot
from chunkpilot.errors import ProfilingError
from chunkpilot.pipeline.extent import cut_builds, one_chunk_builds
from chunkpilot.types import ArraySpec

W = np.random.default_rng(1).random((512, 8))
W_WIDE = np.random.default_rng(3).random((4096, 8))
CLIM = np.random.default_rng(2).random((96, 128)).astype("f4")


def project(x):
    return (x @ W).sum()


def anomaly(x):
    return (x - CLIM).std(axis=0)


def sorted_rows(x):  # a gufunc over a core dimension: dask refuses it in several chunks
    return da.apply_gufunc(lambda a: np.sort(a, axis=-1)[..., :4], "(t)->(k)", x,
                           output_sizes={"k": 4}).sum()


def broken(x):
    raise RuntimeError("this pipeline never builds")


def _store(path, shape, chunks, dtype):
    z = zarr.open_array(str(path), mode="w", shape=shape, chunks=chunks, dtype=dtype)
    z[:] = np.random.default_rng(0).random(shape).astype(dtype)
    return str(path)


def test_the_probe_cuts_every_axis_one_at_a_time():
    builds = cut_builds(ArraySpec((1024, 512, 8), "float64"), (128, 64, 8))
    assert builds == [((1024, 512, 8), (128, 64, 8)), ((384, 512, 8), (128, 64, 8)),
                      ((1024, 192, 8), (128, 64, 8)), ((1024, 512, 4), (128, 64, 8))]
    # an axis of length 1 cannot be cut
    assert len(cut_builds(ArraySpec((1, 512), "float64"), (1, 64))) == 2


@pytest.mark.parametrize(("pipeline", "shape", "chunks", "dtype", "full"), [
    (project, (2048, 512), (128, 128), "f8", (1,)),
    (anomaly, (64, 96, 128), (8, 32, 32), "f4", (1, 2)),
])
def test_axes_a_fixed_shape_operand_needs_are_measured_whole(tmp_path, pipeline, shape,
                                                             chunks, dtype, full):
    path = _store(tmp_path / "a.zarr", shape, chunks, dtype)
    plan = chunkpilot.advise(path, scheduler="threads", workers=1, threads_per_worker=2,
                             memory_limit="2GiB", pipeline=pipeline)
    assert plan.pipeline.full_axes == full
    assert any("at its full length" in n for n in plan.notes)
    x = da.from_zarr(path, chunks=plan.chunks)
    expected = pipeline(np.asarray(zarr.open_array(path, mode="r")[:]))
    np.testing.assert_allclose(np.asarray(pipeline(x).compute(scheduler="sync")), expected,
                               rtol=1e-5)


def test_the_probe_puts_one_split_axis_in_one_chunk_at_a_time():
    assert one_chunk_builds(ArraySpec((1024, 512, 8), "float64"), (128, 64, 8)) == [
        ((1024, 512, 8), (1024, 64, 8)), ((1024, 512, 8), (128, 512, 8))]


def test_an_axis_a_gufunc_needs_in_one_chunk_is_kept_whole(tmp_path):
    path = _store(tmp_path / "a.zarr", (2048, 512), (256, 128), "f4")
    plan = chunkpilot.advise(path, scheduler="threads", workers=1, threads_per_worker=2,
                             memory_limit="2GiB", pipeline=sorted_rows)
    assert plan.work.keep_whole == (1,) and plan.chunk_shape[1] == 512
    assert any("in one chunk" in n and "Core dimension" in n for n in plan.notes)
    result = chunkpilot.tune(path, scheduler="threads", workers=1, threads_per_worker=2,
                             memory_limit="2GiB", pipeline=sorted_rows, max_trials=2, plan=plan)
    assert all(t.chunk_shape[1] == 512 for t in result.trials)
    assert not any(t.observation.error for t in result.trials)


def test_a_pipeline_that_fails_on_the_whole_array_still_says_why(tmp_path):
    path = _store(tmp_path / "a.zarr", (512, 512), (128, 128), "f8")
    with pytest.raises(ProfilingError, match="never builds"):
        chunkpilot.advise(path, scheduler="threads", memory_limit="2GiB", pipeline=broken)


def project_wide(x):
    return (x @ W_WIDE).sum()


def test_tune_keeps_the_operands_axis_whole_in_its_trial_region(tmp_path):
    """Chunks that split the operand's axis: the trial region and the warm-up's corner of it
    span that axis whole. (The rules themselves: ``tests/core/test_converge.py``,
    ``chunkpilot.cluster.trials.warm_up_region``.)"""
    path = _store(tmp_path / "a.zarr", (1024, 4096), (256, 256), "f8")
    result = chunkpilot.tune(path, scheduler="threads", workers=1, threads_per_worker=2,
                             memory_limit="2GiB", pipeline=project_wide, max_trials=2)
    assert result.plan.pipeline.full_axes == (1,)
    assert result.plan.chunk_shape[1] < 4096  # the columns are split into chunks
    assert result.region[1] == (0, 4096)
    assert result.trials and not any(t.observation.error for t in result.trials)


def fft_rows(x):  # dask's error for a split FFT axis runs over several lines
    return da.fft.fft(x, axis=0)


def test_a_multi_line_dask_error_is_quoted_on_one_line():
    # hunt: the quoted error kept dask's newlines and broke the explanation into bullets
    x = da.zeros((2048, 512), chunks=(256, 128), dtype="f8")
    plan = chunkpilot.advise(x, scheduler="threads", memory_limit="2GiB", pipeline=fft_rows)
    (need,) = [n for n in plan.notes if "in one chunk" in n]
    assert "\n" not in need and "has a single chunk" in need, need
    assert plan.chunk_shape[0] == 2048
