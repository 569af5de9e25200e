"""A per-block function's samples from a store at a URL (``measure.profile``,
``measure.blocks.job_source``, ``measure.inputs``): a region is read from the URL once; a
sample inside a region already read is cut from that region's local copy, with the same
values, and makes no request (a request counted by the proxy in front of the S3 server)."""

from __future__ import annotations

import time

import numpy as np
import pytest

from chunkpilot.measure.blocks import contains, job_source, sample_region
from chunkpilot.measure.inputs import from_url, load_block
from chunkpilot.measure.profile import profile_function
from chunkpilot.sources.array_readers import read_remote_region
from chunkpilot.sources.describe import describe
from chunkpilot.types import Resources, WorkSpec
from tests.helpers import data

MiB = 2**20
#: Seconds a call sleeps per MiB: the profile's per-call budget (0.5 s) then stops at ~5 MiB,
#: so after its 1 and 4 MiB samples it fills in below (a quarter of the smallest), inside
#: both of their regions.
SLEEP_PER_MIB_S = 0.1


def slow(block: np.ndarray) -> np.ndarray:
    time.sleep(SLEEP_PER_MIB_S * block.nbytes / MiB)
    return block + 1


@pytest.fixture(scope="module")
def store(s3_sample, delayed_s3, tmp_path_factory):
    """A 16 MiB float32 array (256 x 256 storage chunks) on S3, reached through a proxy."""
    local = data.make_random_zarr(tmp_path_factory.mktemp("big") / "big.zarr", (2048, 2048),
                                  (256, 256), "f4")
    s3_sample.upload(local, "big.zarr")
    end = delayed_s3(0.0)
    return end, describe(s3_sample.url("big.zarr"), storage_options=end.storage_options)


def test_a_sample_inside_a_region_read_before_makes_no_request(store):
    end, (spec, ref) = store
    seen: list[tuple[tuple[int, ...], int]] = []
    before = end.proxy.requests
    prof = profile_function(slow, spec, WorkSpec(2), Resources(1, 1, 2**31, "threads"), ref,
                            env={}, baseline_guess_bytes=0,
                            on_sample=lambda s: seen.append((s.shape, end.proxy.requests)))
    assert all(s.ok for s in prof.samples), [s.error for s in prof.samples]
    read: list[tuple[tuple[int, int], ...]] = []  # regions read so far
    cut = 0
    for shape, after in seen:
        region = sample_region(spec, shape)
        made = after - before
        before = after
        if region in read:  # measured again: its own copy
            assert made == 0, (shape, made)
        elif any(contains(r, region) for r in read):
            assert made == 0, (shape, made)  # cut from a bigger region's copy
            cut += 1
        else:
            assert made > 0, (shape, made)
        read.append(region)
    assert cut >= 1, seen  # the fill-in below the 1 MiB sample


def test_a_cut_block_holds_the_values_a_read_gets(store, tmp_path):
    _, (spec, ref) = store
    outer, inner = sample_region(spec, (1024, 1024)), sample_region(spec, (256, 512))
    copy = str(tmp_path / "outer.npy")
    slices = tuple(slice(a, b) for a, b in inner)
    big = job_source(ref, outer, str(tmp_path), 0, str(tmp_path))
    assert from_url(big)
    np.save(copy, load_block(big, tuple(slice(a, b) for a, b in outer), (), "float32"))
    small = job_source(ref, inner, str(tmp_path), 0, str(tmp_path), {outer: copy})
    assert small["within"] == {"path": copy, "start": [a for a, _ in outer]}
    assert not from_url(small)
    np.testing.assert_array_equal(load_block(small, slices, (), "float32"),
                                  read_remote_region(ref, slices))
    # a region not held by any copy is read from the URL
    elsewhere = ((0, 256), (0, 256))
    assert "within" not in job_source(ref, elsewhere, str(tmp_path), 0, str(tmp_path),
                                      {outer: copy})
