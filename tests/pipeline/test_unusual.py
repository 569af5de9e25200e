"""advise(pipeline=...) on pipelines whose dask graph constrains the chunks in ways the
suite's workloads do not (found by advising 16 out-of-suite pipelines on a zarr cube): each
plan must be one dask can build, and then computes the same result as the original chunks."""

from __future__ import annotations

import math

import dask
import dask.array as da
import numpy as np
import pandas as pd
import pytest
import xarray as xr

import chunkpilot
from chunkpilot.errors import ProfilingError
from tests.helpers.data import make_random_zarr

SHAPE = (128, 128, 128)  # float32: 8 MiB


def fft_time(x):
    """dask's FFT needs its axis in one chunk."""
    return abs(da.fft.fft(x, axis=0)).sum(axis=0)


def coarsen_4(x):
    """``da.coarsen`` needs every chunk a multiple of its factors."""
    return da.coarsen(np.mean, x, {0: 4, 1: 4, 2: 4}).sum()


def topk_time(x):
    return da.topk(x, 5, axis=0).sum(axis=0)


def monthly_mean(x):
    a = xr.DataArray(x, dims=("time", "y", "x"),
                     coords={"time": pd.date_range("2000-01-01", periods=x.shape[0])})
    return a.resample(time="MS").mean().data


def two_results(x):
    return x.mean(axis=0), x.std(axis=(1, 2))


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    return make_random_zarr(tmp_path_factory.mktemp("unusual") / "cube.zarr", SHAPE,
                            (16, 32, 32), dtype="f4")


@pytest.mark.parametrize("pipeline", [fft_time, coarsen_4, topk_time, monthly_mean,
                                      two_results], ids=lambda f: f.__name__)
def test_the_plan_builds_and_computes_what_the_storage_chunks_compute(store, pipeline):
    plan = chunkpilot.advise(store, pipeline=pipeline, scheduler="threads",
                             threads_per_worker=2, memory_limit="2GiB")
    if pipeline is fft_time:
        assert plan.chunk_shape[0] == SHAPE[0]
    if pipeline is coarsen_4:
        assert all(c % 4 == 0 for c in plan.chunk_shape)
    planned = pipeline(da.from_zarr(store, chunks=plan.chunks))
    reference = pipeline(da.from_zarr(store, chunks=(128, 32, 32)))
    got, want = dask.compute(planned, reference, scheduler="threads")
    for g, w in zip(got if isinstance(got, tuple) else (got,),
                    want if isinstance(want, tuple) else (want,), strict=True):
        np.testing.assert_allclose(g, w, rtol=1e-3, atol=1e-4)  # float32 summation order


def test_a_pipeline_that_gathers_an_axis_is_only_sampled_with_that_axis_whole(store):
    """A percentile along time gathers time into one chunk; a sample split along time,
    gathered inside its sub-array, measured what no plan of the family chosen runs (7 of a
    17 s advise on a 256x512x512 cube): the graph is analysed before the first sample."""
    shapes = []
    plan = chunkpilot.advise(store, pipeline=lambda x: da.nanpercentile(
                                 x.rechunk({0: -1}), 90, axis=0),
                             scheduler="threads", threads_per_worker=2, memory_limit="2GiB",
                             on_sample=lambda s: shapes.append(s.shape))
    assert plan.pipeline.family == "no-rechunk" and plan.chunk_shape[0] == SHAPE[0]
    assert len(shapes) >= 2 and all(s[0] == SHAPE[0] for s in shapes), shapes


def refuses(x):
    def check(b):
        raise MemoryError("my kernel takes at most 1,000 elements")
    return x.map_blocks(check, dtype=x.dtype).sum()


def test_a_memory_error_the_pipeline_raises_itself_is_its_message_not_our_memory_cap(store):
    # before: "... Got oom: MemoryError instead." (the sandbox's cap, the user's words lost);
    # the rule is measure.memory.memory_error_result, shared with the per-block sandbox
    with pytest.raises(ProfilingError,
                       match="exception: MemoryError: my kernel takes at most 1,000 elements"):
        chunkpilot.advise(store, pipeline=refuses, scheduler="threads", threads_per_worker=2,
                          memory_limit="2GiB")


def small_chunks_only(x):
    if x.nbytes / x.npartitions > 48 * 2**20:
        raise ValueError("my kernel takes chunks of at most 48 MiB")
    return (x + 1).sum()


def test_a_pipeline_that_fails_only_at_dask_auto_chunks_keeps_its_own_check():
    """Hunt: the plan's graph and auto's were built in one job; auto's failure discarded
    both ("could not be checked") and auto was still priced as if it ran."""
    x = da.zeros((4096, 8192), dtype="f4", chunks=(512, 8192))  # auto: one 128 MiB chunk
    plan = chunkpilot.advise(x, pipeline=small_chunks_only, scheduler="threads",
                             threads_per_worker=2, memory_limit="2GiB")
    text = plan.explain()
    assert plan.pipeline.graph is not None and "could not be checked" not in text
    assert plan.dask_auto is None and "would pick" not in text
    assert ("dask chunks='auto' (4096, 8192) cannot run this pipeline: building it there "
            "raised ValueError: my kernel takes chunks of at most 48 MiB.") in text


def rolling_mean(x):
    return xr.DataArray(x, dims=("t", "s")).rolling(t=5).mean().data


def test_a_rechunk_that_follows_the_input_chunks_is_not_advised_away():
    """Hunt: xarray's rolling pads each chunk by the window (1024 -> 1028) and rechunks; the
    plan said "input chunks of 1028 along it would make that rechunk unnecessary", and
    they do not (the padding moves with them; on a 2048-long axis it even said 2052)."""
    x = da.zeros((2048, 1024), chunks=(256, 256), dtype="f4")
    plan = chunkpilot.advise(x, scheduler="threads", memory_limit="1GiB",
                             pipeline=rolling_mean)
    assert not [n for n in plan.notes if "make that rechunk unnecessary" in n], plan.notes


def gram(x):
    return x.T @ x


def test_a_pipeline_whose_contraction_block_alone_outgrows_memory_says_which_step():
    """Hunt 10: ``x.T @ x`` with its output axis whole makes a (6000, 6000) partial product
    from any input chunk; the first sample ran out of memory and the error said only "Got
    oom", with nothing pointing at the matmul or at keep_whole."""
    x = da.zeros((20000, 6000), chunks=(1000, 1000))
    with pytest.raises(ProfilingError) as e:
        chunkpilot.advise(x, pipeline=gram, scheduler="threads", memory_limit="256MiB",
                          keep_whole=(1,))
    msg = str(e.value)
    assert "Got oom" in msg
    assert "a partial product of 274.66 MiB from matmul" in msg, msg
    assert "fewer keep_whole= axes" in msg


def centred(x):
    return x - x.mean().compute()


def test_a_pipeline_that_computes_while_built_is_refused_on_a_huge_array_and_noted_on_a_small():
    """Hunt 10: a ``.compute()`` inside the pipeline ran a whole pass over the full-size
    placeholder at every graph build: 40 s of advise for a 1.28 TB virtual array, no word
    said, and the pass was missing from the predictions."""
    from chunkpilot.errors import PipelineBuildError

    huge = da.zeros((100_000, 100_000), chunks=(1000, 1000))  # 74.51 GiB, never computed
    with pytest.raises(PipelineBuildError, match=r"computes while it is built .* whole "
                                                 r"74\.51 GiB array"):
        chunkpilot.advise(huge, pipeline=centred, scheduler="threads")
    small = da.zeros((2048, 2048), chunks=(256, 256))
    plan = chunkpilot.advise(small, pipeline=centred, scheduler="threads")
    assert [n for n in plan.notes if "computed 1 time(s) while being built" in n], plan.notes


def column_sums(x):
    return (x * 2 + 1).sum(axis=0)


@pytest.mark.timeout(120)  # a guard against work that grows with the array, not a speed claim
def test_a_ten_terabyte_virtual_array_is_advised_from_sub_arrays_only():
    """Issue 13: advise's cost must not grow with the array. 1.25M chunks of 10 TB: the
    full-size graph is never built (minutes and GiB), the check runs on a sub-array and
    says so, and the plan's chunks fit the array."""
    from chunkpilot.errors import GraphSizeWarning

    x = da.zeros((1_250_000, 1_000_000), chunks=(1000, 1000))
    with pytest.warns(GraphSizeWarning, match="above 100,000"):  # 10 TB: chunks are many
        plan = chunkpilot.advise(x, pipeline=column_sums, scheduler="threads")
    assert [n for n in plan.notes if "was checked on a sub-array" in n
            and "building it whole would cost as much as the array is large" in n], plan.notes
    assert all(0 < c <= n for c, n in zip(plan.chunk_shape, x.shape, strict=True))
    assert plan.chosen.task_count == math.prod(
        math.ceil(n / c) for c, n in zip(plan.chunk_shape, x.shape, strict=True))
