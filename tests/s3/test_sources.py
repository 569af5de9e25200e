"""Sources by URL (issue 14, item 1): zarr v3 / sharded groups / netCDF4 on a real S3 server
(moto) and over HTTP; what the sandbox child and the workers read; storage options that never
show their secrets."""

from __future__ import annotations

import math
import pickle
import warnings
from pathlib import Path

import numpy as np
import pytest
import xarray as xr
import zarr

from chunkpilot.errors import InvalidArgumentError
from chunkpilot.measure import profile
from chunkpilot.measure.inputs import load_block
from chunkpilot.measure.profile import profile_function
from chunkpilot.measure.sandbox import sandbox_pool
from chunkpilot.sources.array_readers import read_remote_region
from chunkpilot.sources.describe import describe
from chunkpilot.sources.readers import source_array
from chunkpilot.sources.storage_options import (
    StorageOptions,
    display_url,
    parse_storage_option_args,
)
from chunkpilot.types import Resources, WorkSpec
from tests.helpers import data
from tests.helpers.s3server import FAKE_KEY, FAKE_SECRET

EXPECTED = data.expected()
REGION = (slice(8, 40), slice(16, 33))


def _no_secret(*texts: object) -> None:
    for t in texts:
        assert FAKE_SECRET not in str(t) and FAKE_SECRET not in repr(t), t


@pytest.mark.parametrize(
    ("name", "array", "kind", "storage", "shards", "dims"),
    [
        (data.ZARR_NAME, None, "zarr", data.CHUNKS, None, None),
        (data.ZARR_GROUP_NAME, "t", "zarr", (8, 8), (32, 16), ("y", "x")),
        (data.NC_NAME, None, "hdf5", data.CHUNKS, None, ("y", "x")),
    ],
    ids=["zarr-v3", "zarr-v3-sharded-group", "netcdf4"],
)
def test_describe_and_read_s3(s3_sample, name, array, kind, storage, shards, dims):
    url = s3_sample.url(name)
    spec, ref = describe(url, array=array, storage_options=s3_sample.storage_options)
    assert (spec.shape, spec.storage_chunks, spec.shards, spec.dims) == (
        data.SHAPE, storage, shards, dims)
    assert spec.source == f"{kind}:{url}"
    assert ref["kind"] == "remote" and ref["format"] == kind and ref["url"] == url
    # the workers' reader (trials) and the sandbox child's loader read the same bytes
    x = source_array(None, ref, (24, 20))
    assert x.chunks[0][0] == 24
    np.testing.assert_array_equal(x.compute(scheduler="threads"), EXPECTED)
    np.testing.assert_array_equal(read_remote_region(ref, REGION), EXPECTED[REGION])
    child_ref = pickle.loads(pickle.dumps(ref))  # what the sandbox job file carries
    block = load_block(child_ref, REGION, (32, 17), spec.dtype)
    np.testing.assert_array_equal(block, EXPECTED[REGION])
    _no_secret(spec, ref, x.name, x.dask)


def test_describe_http_sources(http_sample):
    for url, kind in ((http_sample.zarr_url, "zarr"), (http_sample.nc_url, "hdf5")):
        spec, ref = describe(url)
        assert spec.source == f"{kind}:{url}" and spec.storage_chunks == data.CHUNKS
        np.testing.assert_array_equal(read_remote_region(ref, REGION), EXPECTED[REGION])
        np.testing.assert_array_equal(source_array(None, ref, (32, 32)).compute(), EXPECTED)


def test_open_zarr_array_and_xarray_dataset_keep_their_url(s3_sample):
    """An array / Dataset opened from a URL is sampled from that URL, not copied in memory."""
    opts = s3_sample.storage_options
    z = zarr.open_array(s3_sample.zarr_url, mode="r", storage_options=opts)
    spec, ref = describe(z)
    assert ref["kind"] == "remote" and ref["url"] == s3_sample.zarr_url
    np.testing.assert_array_equal(read_remote_region(ref, REGION), EXPECTED[REGION])
    ds = xr.open_zarr(s3_sample.group_url, storage_options=opts, consolidated=False)
    spec, ref = describe(ds, array="t", storage_options=opts)
    assert spec.source == f"xarray:{s3_sample.group_url}" and spec.shards == (32, 16)
    assert ref["kind"] == "remote" and ref["array"] == "t"
    np.testing.assert_array_equal(read_remote_region(ref, REGION), EXPECTED[REGION])


def test_file_url_is_a_local_path(sample_dir: dict[str, Path]):
    path = sample_dir[data.ZARR_NAME]
    spec, ref = describe(path.as_uri())
    assert ref["kind"] == "zarr" and spec.storage_chunks == data.CHUNKS


def test_a_file_url_is_percent_decoded_and_may_name_localhost(tmp_path: Path):
    """Hunt 16: ``file://localhost/tmp/x`` was read as ``/localhost/tmp/x`` and
    ``file:///tmp/a%20b.zarr`` was not decoded (RFC 8089 allows both)."""
    path = tmp_path / "a b ü.zarr"
    zarr.create_array(str(path), shape=(16, 8), chunks=(4, 8), dtype="f4")
    assert path.as_uri() != f"file://{path}"  # percent-encoded
    for url in (path.as_uri(), "file://localhost" + path.as_uri().removeprefix("file://")):
        spec, ref = describe(url)
        assert ref["path"] == str(path) and spec.storage_chunks == (4, 8)
    with pytest.raises(InvalidArgumentError, match="on this machine"):
        describe("file://otherhost" + path.as_uri().removeprefix("file://"))


def test_storage_options_never_show_secrets():
    opts = StorageOptions({"key": FAKE_KEY, "secret": FAKE_SECRET, "anon": False,
                           "endpoint_url": "http://127.0.0.1:9",
                           "client_kwargs": {"aws_session_token": FAKE_SECRET}})
    for text in (repr(opts), str(opts), str(opts.redacted()), repr([opts]), repr({"o": opts})):
        _no_secret(text)
        assert "http://127.0.0.1:9" in text or "endpoint" not in text
    assert opts.as_dict()["secret"] == FAKE_SECRET  # fsspec still gets them
    assert pickle.loads(pickle.dumps(opts)) == opts
    assert opts.redact(f"bad signature for {FAKE_SECRET}!") == "bad signature for ***!"
    assert display_url("https://user:pw@host/x.nc?X-Amz-Signature=abc") == "https://host/x.nc?***"


@pytest.mark.parametrize(
    ("args", "anon", "expected"),
    [
        (["endpoint_url=http://h:1"], False, {"endpoint_url": "http://h:1"}),
        ([], True, {"anon": True}),
        (["max_concurrency=1", "secret=123", "use_ssl=false"], False,
         {"max_concurrency": 1, "secret": "123", "use_ssl": False}),  # a credential stays text
        (["client_kwargs.region_name=us-west-2"], False,
         {"client_kwargs": {"region_name": "us-west-2"}}),
        (['config_kwargs={"retries": {"max_attempts": 1}}'], False,
         {"config_kwargs": {"retries": {"max_attempts": 1}}}),
        ([], False, None),
    ],
)
def test_parse_storage_option_args(args, anon, expected):
    assert parse_storage_option_args(args, anon) == expected


@pytest.mark.parametrize("bad", ["noequals", "=x", "a..b=1", 'j={"x": '])
def test_parse_storage_option_args_refuses(bad):
    with pytest.raises(InvalidArgumentError, match="Expected --storage-option"):
        parse_storage_option_args([bad])


def test_url_mistakes_are_clear(sample_dir: dict[str, Path]):
    with pytest.raises(InvalidArgumentError, match="Expected a URL as a string.*'s3://b/x.zarr'"):
        describe(Path("s3://b/x.zarr"))  # pathlib drops a slash
    with pytest.raises(InvalidArgumentError, match="storage_options only with a URL"):
        describe(str(sample_dir[data.ZARR_NAME]), storage_options={"anon": True})


def test_a_remote_block_measured_twice_is_read_from_the_store_once(s3_sample, tmp_path):
    """The sandbox's second measurement of a block loads the first one's local copy: the
    16 MiB sample of the s3_read benchmark took 2.5 s to read through a 20 ms proxy."""
    url = s3_sample.url(data.ZARR_NAME)
    spec, ref = describe(url, storage_options=s3_sample.storage_options)
    src = {**pickle.loads(pickle.dumps(ref)), "cache": str(tmp_path / "block.npy")}
    first = load_block(src, REGION, (32, 17), spec.dtype)
    assert (tmp_path / "block.npy").exists()
    gone = {**src, "url": url.replace(url.split("/")[2], "no-such-bucket")}
    again = load_block(gone, REGION, (32, 17), spec.dtype)  # never reaches the store
    np.testing.assert_array_equal(first, EXPECTED[REGION])
    np.testing.assert_array_equal(again, first)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["block.npy"]


# beside other tests: budgets of 1 us and none, which no measured fetch time can tip
def test_remote_samples_stop_growing_once_their_fetch_would_pass_the_budget(s3_sample,
                                                                            monkeypatch):
    """Each sample fetches its block from the URL once (through a slow store, 2.5 s for the
    s3_read benchmark's 16 MiB one): no bigger sample once the fetches measured so far
    predict one over ``SAMPLE_FETCH_BUDGET_S``; unbounded, the same profile measures more."""
    spec, ref = describe(s3_sample.url(data.ZARR_NAME), storage_options=s3_sample.storage_options)
    res = Resources(1, 1, 2 * 2**30, "threads")

    def sizes(budget_s: float) -> list[int]:
        monkeypatch.setattr(profile, "SAMPLE_FETCH_BUDGET_S", budget_s)
        with sandbox_pool():
            prof = profile_function(np.negative, spec, WorkSpec(spec.ndim), res, ref, env={},
                                    baseline_guess_bytes=0)
        return sorted(s.nbytes for s in prof.samples if s.ok)

    unbounded, bounded = sizes(math.inf), sizes(1e-6)
    assert max(bounded) < max(unbounded) == spec.nbytes, (bounded, unbounded)
    assert len(bounded) >= 3  # still three sizes: the fill-in below is always measured


def test_a_packed_variable_at_a_url_is_read_decoded(s3_bucket, tmp_path):
    """int16 + scale_factor/add_offset, as xarray writes it: planned and read as float64 over
    S3 too (netCDF through the HDF5 reader, zarr through zarr's), as ``xr.open_*`` gives it."""
    ds = xr.Dataset({"tos": (("y", "x"), 290 + np.random.default_rng(0).standard_normal((32, 16)))})
    packed = {"dtype": "int16", "scale_factor": 0.01, "add_offset": 290.0, "_FillValue": -32767}
    ds.to_netcdf(tmp_path / "p.nc", engine="h5netcdf", encoding={"tos": packed})
    ds.to_zarr(tmp_path / "p.zarr", encoding={"tos": packed}, consolidated=False, mode="w")
    for name, kind in (("p.nc", "hdf5"), ("p.zarr", "zarr")):
        url = s3_bucket.upload(tmp_path / name, f"packed/{name}")
        spec, ref = describe(url, array="tos", storage_options=s3_bucket.storage_options)
        assert (spec.dtype, ref["format"], ref["astype"]) == ("float64", kind, "float64")
        assert source_array(None, ref, (16, 16)).compute(scheduler="threads").dtype == np.float64
        child = pickle.loads(pickle.dumps(ref))  # what the sandbox job file carries
        block = load_block(child, (slice(0, 16), slice(0, 8)), (16, 8), spec.dtype)
        assert block.dtype == np.float64 and block.shape == (16, 8)


def test_a_groups_arrays_at_a_url_are_the_ones_a_local_copy_gives(s3_bucket, tmp_path):
    """Hunt 16: at a URL, check listed only a group's direct children and kept a 0-d ``crs``
    and text labels (then refused the whole group: "at least one axis"), and asked a
    netCDF file for --variable; on disk it checks every data array at any depth."""
    import chunkpilot
    from chunkpilot.sources.describe import remote_array_names
    from chunkpilot.sources.hdf5 import list_datasets
    from chunkpilot.sources.zarr import group_data_arrays

    rng = np.random.default_rng(0)
    ds = xr.Dataset({"tas": (("time", "lat"), rng.standard_normal((40, 30)).astype("f4")),
                     "crs": ((), np.int32(4326)),
                     "labels": (("time",), np.array([f"t{i}" for i in range(40)]))},
                    coords={"time": np.arange(40)})
    with warnings.catch_warnings():  # text in zarr v3: an unstable specification
        warnings.simplefilter("ignore")
        ds.to_zarr(tmp_path / "g.zarr", consolidated=False, mode="w")
    xr.Dataset({"pr": (("y", "x"), rng.standard_normal((20, 25)))}).to_zarr(
        tmp_path / "g.zarr", group="sub", consolidated=False, mode="a")
    ds[["tas"]].assign(orog=(("lat",), rng.standard_normal(30))).to_netcdf(
        tmp_path / "two.nc", engine="h5netcdf")
    local_zarr = sorted(group_data_arrays(zarr.open_group(tmp_path / "g.zarr", mode="r")))
    import h5py
    with h5py.File(tmp_path / "two.nc", "r") as f:
        local_nc = sorted(list_datasets(f))
    assert local_zarr == ["sub/pr", "tas"] and local_nc == ["orog", "tas"]
    opts = s3_bucket.storage_options
    zarr_url = s3_bucket.upload(tmp_path / "g.zarr", "names/g.zarr")
    nc_url = s3_bucket.upload(tmp_path / "two.nc", "names/two.nc")
    assert remote_array_names(zarr_url, opts) == local_zarr
    assert sorted(remote_array_names(nc_url, opts)) == local_nc
    report = chunkpilot.check(nc_url, storage_options=opts, scheduler="threads",
                              memory_limit="1GiB")
    assert sorted(r.name for r in report.results) == local_nc
