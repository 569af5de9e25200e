"""Describing inputs: numpy, dask, zarr arrays and stores on disk (opened read-only)."""

from __future__ import annotations

import dask.array as da
import numpy as np
import pytest
import zarr

from chunkpilot.errors import (
    InvalidArgumentError,
    InvalidArgumentTypeError,
    StoreNotFoundError,
    UnsupportedDtypeError,
)
from chunkpilot.sources.describe import dask_auto_shape, describe


def test_numpy_and_dask(tmp_path):
    spec, ref = describe(np.zeros((10, 20), "f4"))
    assert spec.shape == (10, 20) and spec.dtype == "float32" and ref["kind"] == "numpy"
    spec, ref = describe(da.zeros((100, 10), chunks=(25, 10)))
    assert spec.current_chunks == ((25,) * 4, (10,)) and ref["kind"] == "synthetic"


def test_zarr_store_group_and_shards(tmp_path):
    g = zarr.open_group(str(tmp_path / "g.zarr"), mode="w")
    g.create_array("a", shape=(100, 100), chunks=(10, 20), dtype="i2")
    g.create_array("b", shape=(64, 64), chunks=(8, 8), shards=(32, 32), dtype="f8")
    with pytest.raises(InvalidArgumentError, match=r"--array NAME.*\['a', 'b'\]"):
        describe(tmp_path / "g.zarr")
    spec, ref = describe(tmp_path / "g.zarr", array="b")
    assert spec.storage_chunks == (8, 8) and spec.shards == (32, 32)
    assert ref == {"kind": "zarr", "path": str(tmp_path / "g.zarr"), "array": "b"}
    with pytest.raises(InvalidArgumentError, match="'nope'"):
        describe(tmp_path / "g.zarr", array="nope")


@pytest.mark.parametrize(
    ("make", "error", "match"),
    [
        (lambda p: p / "missing.zarr", StoreNotFoundError, "does not exist"),
        (lambda p: p, StoreNotFoundError, "no zarr metadata"),  # a plain directory
        (lambda p: np.array(["a", "b"]), UnsupportedDtypeError, "fixed item size"),
        (lambda p: np.zeros((0, 3)), InvalidArgumentError, "zero-length axis"),
        (lambda p: [1, 2, 3], InvalidArgumentTypeError, "Got list instead"),
    ],
    ids=["missing-path", "not-a-store", "string-dtype", "empty-axis", "a-list"],
)
def test_bad_sources(tmp_path, make, error, match):
    with pytest.raises(error, match=match):
        describe(make(tmp_path))


def test_dask_auto_shape_respects_storage_chunks(tmp_path):
    z = zarr.create_array(str(tmp_path / "a.zarr"), shape=(20000, 20000), chunks=(1000, 1000),
                          dtype="f8")
    spec, _ = describe(z)
    shape = dask_auto_shape(spec)
    assert all(c % 1000 == 0 for c in shape)


def test_an_open_zarr_group_is_described_like_its_path(tmp_path):
    # hunt: a zarr Group object raised "AttributeError: 'Group' object has no attribute
    # 'dtype'", and array= with it was refused
    g = zarr.open_group(str(tmp_path / "g.zarr"), mode="w")
    for name in ("pres", "temp"):
        g.create_array(name, shape=(64, 32), chunks=(16, 16), dtype="f4")
    with pytest.raises(InvalidArgumentError, match=r"holds arrays \['pres', 'temp'\]"):
        describe(g)
    spec, ref = describe(g, array="temp")
    assert spec.shape == (64, 32) and spec.storage_chunks == (16, 16)
    assert ref["kind"] == "zarr" and ref["array"] == "temp"
    assert describe(str(tmp_path / "g.zarr"), array="temp") == (spec, ref)


def test_a_dask_array_of_unknown_chunk_sizes_says_how_to_know_them():
    x = da.ones(100, chunks=10)
    with pytest.raises(InvalidArgumentError, match=r"unknown \(nan\) sizes along axis 0.*"
                                                   r"compute_chunk_sizes"):
        describe(x[x > 0])


def test_a_text_dtype_is_refused_for_what_it_is():
    # hunt: '<U10' was refused as "bytes per element are unknown"; its size is fixed
    with pytest.raises(UnsupportedDtypeError, match=r"<U10 instead: text \(strings or bytes\)"):
        describe(np.array(["abcdefghij"]))


def test_a_nested_array_is_named_by_its_path_and_found_when_it_is_the_only_data(tmp_path):
    """hunt5: ``--array group/sub/array`` was refused and the group called empty; an xarray
    store's scalar ``crs`` beside ``tas`` made ``tas`` need naming."""
    g = zarr.open_group(str(tmp_path / "g.zarr"), mode="w")
    g.create_array("model/run1/tas", shape=(64, 32), chunks=(16, 16), dtype="f4")
    g.create_array("crs", shape=(), dtype="i4")  # 0-d: not data to chunk
    g.create_array("empty", shape=(0, 3), chunks=(1, 3), dtype="f4")
    spec, ref = describe(tmp_path / "g.zarr")
    assert ref["array"] == "model/run1/tas" and spec.name == "model/run1/tas"
    assert describe(tmp_path / "g.zarr", array="/model/run1/tas")[0] == spec
    with pytest.raises(InvalidArgumentError, match="0-d"):
        describe(tmp_path / "g.zarr", array="crs")  # named: described, and refused as 0-d
    with pytest.raises(InvalidArgumentError, match=r"\['crs', 'empty', 'model/run1/tas'\]"):
        describe(tmp_path / "g.zarr", array="nope")
    only = zarr.open_group(str(tmp_path / "c.zarr"), mode="w")
    only.create_array("crs", shape=(), dtype="i4")
    with pytest.raises(InvalidArgumentError, match=r"data array .* Got only \['crs'\]"):
        describe(tmp_path / "c.zarr")
