"""The pipeline read split on a real store: map-stored planes read into time series."""

from __future__ import annotations

import numpy as np
import zarr

import chunkpilot


def to_time_series(x):
    return x.rechunk({0: -1, 1: 16, 2: 16}).std(axis=0).sum()


def test_samples_of_split_planes_keep_only_their_own_read(tmp_path):
    """Every sample chunk (whole time axis, a tile of each plane) reads all the one-plane
    storage chunks it touches; the samples the planner fits keep the read of their own bytes
    only (``read_seconds`` set, from the real ``from-zarr`` layer's time)."""
    path = tmp_path / "cube.zarr"
    z = zarr.create_array(str(path), shape=(64, 256, 256), chunks=(1, 256, 256), dtype="f4")
    z[:] = np.random.default_rng(0).standard_normal((64, 256, 256), dtype="f4")
    plan = chunkpilot.advise(str(path), pipeline=to_time_series, scheduler="threads",
                             threads_per_worker=2, seed=1)
    samples = [s for s in plan.to_dict()["measured"]["samples"] if s["seconds"]]
    assert samples
    split = [s for s in samples if s["shape"][1] < 256 or s["shape"][2] < 256]
    assert split, samples  # the samples did split planes
    for s in split:  # the read of its own bytes: at most its share of the planes it touched
        assert s["read_seconds"] is not None and 0 < s["read_seconds"] <= s["seconds"], s
        # what follows the reads keeps its time: its share of the smaller total grows
        assert s["downstream_share"] is not None and 0 < s["downstream_share"] <= 1, s
    assert any("ran after the pipeline's rechunk" in n for n in plan.notes), plan.notes
