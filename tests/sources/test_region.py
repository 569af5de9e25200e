"""``sources.region``: a region of a stored array, read inside the array-like so its dask
graph fuses the reads as the whole array's does (real zarr stores in tmp_path)."""

from __future__ import annotations

import pickle

import dask.array as da
import numpy as np
import pytest
import zarr

from chunkpilot.sources.readers import source_array
from chunkpilot.sources.region import RegionView, concrete_region, region_array


class CountingReader:
    """An array-like over a numpy array that counts its reads."""

    def __init__(self, data: np.ndarray) -> None:
        self.data, self.shape, self.dtype, self.ndim = data, data.shape, data.dtype, data.ndim
        self.reads = 0

    def __getitem__(self, key):
        self.reads += 1
        return self.data[key]


def _store(tmp_path, shape=(48, 40, 40), chunks=(8, 20, 20)):
    data = np.random.default_rng(0).random(shape).astype("f4")
    z = zarr.create_array(tmp_path / "a.zarr", shape=shape, chunks=chunks, dtype="f4")
    z[:] = data
    return z, data


def test_region_view_reads_the_region_with_slices_integers_and_negative_indices(tmp_path):
    z, data = _store(tmp_path)
    cut = (slice(8, 40), slice(None), slice(5, 33))
    view, want = RegionView(z, cut), data[8:40, :, 5:33]
    assert view.shape == want.shape and view.ndim == 3 and view.dtype == np.float32
    np.testing.assert_array_equal(view[:, :, :], want)
    np.testing.assert_array_equal(view[3:9, 0:40, 20:], want[3:9, 0:40, 20:])
    np.testing.assert_array_equal(view[-1, 2, -3:], want[-1, 2, -3:])
    np.testing.assert_array_equal(view[0:0, :, :], want[0:0])
    np.testing.assert_array_equal(view[3:9:2, :, ::3], want[3:9:2, :, ::3])
    # negative steps, on an array-like that takes them (zarr and h5py refuse them)
    flip = RegionView(data, cut)
    np.testing.assert_array_equal(flip[::-1, 5:1:-2, ::3], want[::-1, 5:1:-2, ::3])
    edge = RegionView(data, (slice(0, 48), slice(None), slice(None)))  # a region from 0
    np.testing.assert_array_equal(edge[::-1, 0, 0], data[::-1, 0, 0])
    np.testing.assert_array_equal(pickle.loads(pickle.dumps(view))[1:4], want[1:4])


def test_concrete_region_refuses_strided_slices():
    with pytest.raises(ValueError, match="contiguous"):
        concrete_region((slice(0, 10, 2),), (10,))


def test_region_array_matches_the_sliced_values_with_ragged_chunks(tmp_path):
    z, data = _store(tmp_path)
    cut = (slice(4, 45), slice(0, 40), slice(7, 40))
    x = region_array(z, (8, 16, 16), cut, name="from-zarr")
    assert x.shape == (41, 40, 33) and x.name.startswith("from-zarr-")
    np.testing.assert_array_equal(x.compute(scheduler="sync"), data[4:45, :, 7:40])


def _tensordot_reads(x: da.Array, reader: CountingReader) -> int:
    reader.reads = 0
    da.tensordot(x, x, axes=([1, 2], [1, 2])).sum().compute(scheduler="sync")
    return reader.reads


def test_a_region_fuses_its_reads_into_a_contraction_as_the_whole_array_does():
    """dask fuses the store read into each block product of a tensordot on a whole array
    (every product re-reads its blocks); a slice layer kept the sub-array's reads apart,
    one per chunk, so a sample of 3 x 3 x 3 chunks ran a different, cheaper graph."""
    reader = CountingReader(np.random.default_rng(1).random((64, 48, 48)).astype("f4"))
    chunks, cut = (8, 16, 16), (slice(0, 24), slice(0, 48), slice(0, 48))
    whole_reads = _tensordot_reads(da.from_array(reader, chunks=chunks), reader)
    products = 8 * 8 * 3 * 3  # output blocks x contracted blocks
    assert whole_reads == 2 * products  # the premise: reads fused into every product
    sliced = _tensordot_reads(da.from_array(reader, chunks=chunks)[cut], reader)
    assert sliced == 3 * 3 * 3  # the old way: one read per chunk of the sub-array
    region = _tensordot_reads(region_array(reader, chunks, cut, name="array"), reader)
    assert region == 2 * (3 * 3 * 3 * 3)  # as the whole array: both blocks per product


def test_source_array_cuts_a_trial_region_inside_the_reader(tmp_path):
    z, data = _store(tmp_path)
    ref = {"kind": "zarr", "path": str(tmp_path / "a.zarr")}
    cut = (slice(0, 16), slice(0, 40), slice(0, 20))
    x = source_array(None, ref, (8, 20, 20), None, cut)
    layers = x.__dask_graph__().layers
    assert not any(k.startswith("getitem") for k in layers)  # no slice layer
    np.testing.assert_array_equal(x.compute(scheduler="sync"), data[:16, :, :20])
    whole = source_array(None, ref, (8, 20, 20))
    np.testing.assert_array_equal(whole.compute(scheduler="sync"), data)
