"""The pipeline read split on a real store: map-stored planes read into time series."""

from __future__ import annotations

import dask.array as da
import numpy as np
import zarr

import chunkpilot
from chunkpilot.pipeline.runs import ReadClock, read_share


def to_time_series(x):
    return x.rechunk({0: -1, 1: 16, 2: 16}).std(axis=0).sum()


def _split_samples(tmp_path, storage_chunks, pipeline):
    """Advise ``pipeline`` on a (64, 256, 256) cube stored in ``storage_chunks``: the plan
    and its samples whose chunks split a storage chunk's plane tile."""
    path = tmp_path / "cube.zarr"
    z = zarr.create_array(str(path), shape=(64, 256, 256), chunks=storage_chunks, dtype="f4")
    z[:] = np.random.default_rng(0).standard_normal((64, 256, 256), dtype="f4")
    plan = chunkpilot.advise(str(path), pipeline=pipeline, scheduler="threads",
                             threads_per_worker=2, seed=1)
    samples = [s for s in plan.to_dict()["measured"]["samples"] if s["seconds"]]
    tile = storage_chunks[1:]
    split = [s for s in samples if s["shape"][1] < tile[0] or s["shape"][2] < tile[1]]
    assert split, samples  # the samples did split storage chunks
    for s in split:  # the read of its own bytes: at most its share of the chunks it touched
        assert s["read_seconds"] is not None and 0 < s["read_seconds"] <= s["seconds"], s
    return plan, split


def test_samples_of_split_planes_keep_only_their_own_read(tmp_path):
    """Every sample chunk (whole time axis, a tile of each plane) reads all the one-plane
    storage chunks it touches; the samples the planner fits keep the read of their own bytes
    only (``read_seconds`` set, from the real ``from-zarr`` layer's time)."""
    plan, split = _split_samples(tmp_path, (1, 256, 256), to_time_series)
    for s in split:  # what follows the reads keeps its time: its share of the smaller total grows
        assert s["downstream_share"] is not None and 0 < s["downstream_share"] <= 1, s
    assert any("ran after the pipeline's rechunk" in n for n in plan.notes), plan.notes


def spectrum_along_time(x):
    return abs(da.fft.rfft(x.rechunk({0: -1}), axis=0)).sum()


def test_reads_dask_fused_into_the_computation_are_split_too(tmp_path):
    """With time whole in the chunks, the rechunk is a no-op and dask fuses each store read
    into the rfft and the sum: no ``from-zarr`` layer times it, so the sandbox times the
    reads themselves. Samples smaller than a (16, 128, 128) storage chunk per plane decode
    whole storage chunks; they keep only their own bytes' read."""
    _split_samples(tmp_path, (16, 128, 128), spectrum_along_time)  # 1 MiB: (64, 64, 64)


def test_timed_reads_add_up_the_time_inside_each_read():
    clock = ReadClock()
    a = clock.wrap(np.arange(12.0).reshape(3, 4))
    assert (a.shape, a.ndim, a.dtype) == ((3, 4), 2, np.float64)
    np.testing.assert_array_equal(a[1:, :2], [[4.0, 5.0], [8.0, 9.0]])
    assert clock.seconds > 0
    assert read_share(0.0, 1.0) is None and read_share(0.25, 1.0) == 0.25
