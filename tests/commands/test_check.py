"""``check``: the pure problem finder, then real netCDF / zarr / dask inputs, then the CLI."""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
from pathlib import Path

import dask.array as da
import numpy as np
import pytest

from chunkpilot.cli_options import parse_chunks_option
from chunkpilot.commands.check import check
from chunkpilot.core.given_chunks import normalize_given_chunks
from chunkpilot.errors import InvalidArgumentError, StoreNotFoundError
from chunkpilot.types import ArraySpec
from tests.core.test_lint import BIG
from tests.helpers.cli_runs import run_forked

MiB, GiB = 2**20, 2**30
CHUNKPILOT = str(Path(sys.executable).with_name("chunkpilot"))


@pytest.mark.parametrize(
    ("text", "value"),
    [("auto", "auto"), ("24", 24), ("24,-1,40", (24, -1, 40)),
     ("time=24,lat=-1", {"time": 24, "lat": -1}), ("0=5", {0: 5}), (None, None)],
)
def test_parse_chunks_option(text, value):
    assert parse_chunks_option(text) == value


@pytest.mark.parametrize("text", ["a,b", "", "=3", "time=x"])
def test_parse_chunks_option_rejects(text):
    with pytest.raises(InvalidArgumentError, match="Expected --chunks"):
        parse_chunks_option(text)


def test_given_chunks_by_dim_name_default_to_whole():
    assert normalize_given_chunks({"lat": 1000}, BIG) == ((4000,), (1000, 1000), (1000,))
    with pytest.raises(InvalidArgumentError, match="Expected chunks for shape"):
        normalize_given_chunks((10, 10), BIG)


def test_dims_left_out_keep_their_chunks_as_in_xarray():
    """``xr.open_zarr(p, chunks={"time": 24})`` keeps the storage chunks of lat and lon, and
    ``ds.chunk({"time": 24})`` the current ones; only dask's axis form makes them whole."""
    from tests.core.test_lint import STORED

    by_name = normalize_given_chunks({"time": 1000}, STORED)
    assert by_name == ((1000,) * 4, (500,) * 4, (500, 500))
    assert normalize_given_chunks({0: 1000}, STORED) == ((1000,) * 4, (2000,), (1000,))
    current = dataclasses.replace(STORED, current_chunks=((4000,), (1000, 1000), (250,) * 4))
    assert normalize_given_chunks({"time": 1000}, current)[1:] == ((1000, 1000), (250,) * 4)


# --- real inputs ---

SHAPE, STORAGE = (96, 32, 64), (24, 16, 32)
SMALL = {"workers": 1, "threads_per_worker": 2, "memory_limit": "1GiB", "scheduler": "threads"}


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    xr = pytest.importorskip("xarray")
    pytest.importorskip("h5netcdf")
    d = tmp_path_factory.mktemp("check")
    rng = np.random.default_rng(0)
    ds = xr.Dataset({"tas": (("time", "lat", "lon"), rng.standard_normal(SHAPE, dtype="f4"))})
    ds.to_netcdf(d / "t.nc", engine="h5netcdf", encoding={"tas": {"chunksizes": STORAGE}})
    ds.to_zarr(d / "t.zarr", encoding={"tas": {"chunks": STORAGE}}, consolidated=False)
    return d / "t.nc", d / "t.zarr"


@pytest.mark.parametrize(
    ("chunks", "memory_limit", "expected"),
    [
        ({"time": 1, "lat": 4, "lon": 4}, "1GiB", {"tiny_chunks", "storage_misaligned"}),
        ({"time": 20, "lat": 12}, "1GiB", {"tiny_chunks", "storage_misaligned"}),
        (-1, "1MiB", {"exceeds_memory"}),  # the whole 768 kB array as one chunk, 1 MiB workers
        (-1, "1GiB", set()),  # a small array in one chunk is right
    ],
    ids=["tiny", "misaligned", "bigger-than-memory", "good"],
)
@pytest.mark.parametrize("kind", ["netcdf", "zarr"])
def test_check_files(files, kind, chunks, memory_limit, expected):
    path = files[0] if kind == "netcdf" else files[1]
    report = check(path, chunks=chunks, **{**SMALL, "memory_limit": memory_limit})
    (result,) = report.results
    assert result.name in (None, "tas") and result.spec.dims == ("time", "lat", "lon")
    assert {p.code for p in result.problems} == expected and report.ok == (not expected)


def test_check_xarray_current_chunks_and_dataset(files):
    xr = pytest.importorskip("xarray")
    with xr.open_dataset(files[0], engine="h5netcdf") as ds:
        ds = ds.chunk({"time": 5})
        report = check(ds, **SMALL)
        (r,) = report.results
        assert r.name == "tas" and r.chunks_origin == "current dask chunks"
        assert {p.code for p in r.problems} >= {"storage_misaligned", "ragged_chunks"}
        good = check(ds.tas.chunk(dict(zip(ds.tas.dims, SHAPE, strict=True))), **SMALL)
        assert good.ok, good.lines()


def test_chunks_by_dimension_skip_the_variables_without_that_dimension(tmp_path):
    """The README's ``check climate.nc --chunks time=1`` on a file with a 2-D variable too: a
    name a variable lacks is left out for it (as ``Dataset.chunk`` does); one no variable has
    is still an error."""
    xr = pytest.importorskip("xarray")
    pytest.importorskip("h5netcdf")
    ds = xr.Dataset({"tas": (("time", "lat", "lon"), np.zeros(SHAPE, "f4")),
                     "orog": (("lat", "lon"), np.zeros(SHAPE[1:], "f4"))})
    ds.to_netcdf(tmp_path / "c.nc", engine="h5netcdf")
    report = check(tmp_path / "c.nc", chunks={"time": 1}, **SMALL)
    shapes = {r.name: r.chunk_shape for r in report.results}
    assert shapes == {"tas": (1, 32, 64), "orog": (32, 64)}
    with pytest.raises(InvalidArgumentError, match=r"Got \['tiem'\]"):
        check(tmp_path / "c.nc", chunks={"tiem": 1}, **SMALL)
    with pytest.raises(InvalidArgumentError, match="has no dimension names"):
        normalize_given_chunks({"time": 1}, ArraySpec((4, 4), "f4"))


def test_check_store_defaults_to_storage_chunks(files):
    (r,) = check(source=files[1], **SMALL).results
    assert r.chunks_origin.startswith("storage chunks") and max(r.chunks[0]) == STORAGE[0]
    d = r.to_dict()  # one vocabulary: chunk_shape per axis, chunks = dask's full chunks
    assert d["chunk_shape"] == list(r.chunk_shape) == [max(ax) for ax in d["chunks"]]
    assert d["chunks_by_dim"] == dict(zip(("time", "lat", "lon"), r.chunk_shape, strict=True))
    assert d["suggested_chunk_shape"] == list(r.suggested_chunk_shape)
    assert d["suggested_chunks_by_dim"] == dict(zip(("time", "lat", "lon"),
                                                    r.suggested_chunk_shape, strict=True))


def test_check_dask_array_bigger_than_worker_memory():
    x = da.zeros((20000, 20000), chunks=(10000, 10000))  # 800 MB chunks, never computed
    report = check(x, workers=2, threads_per_worker=2, memory_limit="1GiB")
    assert [p.code for p in report.problems] == ["exceeds_memory"]
    assert report.problems[0].severity == "error"
    d = json.loads(json.dumps(report.to_dict()))
    assert d["ok"] is False and d["errors"] == 1


# --- CLI ---

def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([CHUNKPILOT, "check", *args], capture_output=True, text=True,
                          timeout=120, env={**os.environ, "PYTHONWARNINGS": "ignore"})


LIMITS = ("--workers", "1", "--threads-per-worker", "2", "--memory-limit", "1GiB",
          "--scheduler", "threads")


def test_cli_exit_codes(files, tmp_path):
    nc = str(files[0])
    clean = run(nc, "--chunks", "-1", *LIMITS)  # the installed console script
    assert clean.returncode == 0, clean.stderr
    assert "OK: no problems found" in clean.stdout
    # the rest as console runs forked after one import (~2 s of imports each, shared)
    bad_inputs = {"missing": ["/nonexistent/x.nc"], "chunks": [nc, "--chunks", "a,b"],
                  "variable": [nc, "--variable", "nope"]}
    runs = run_forked({"problems": ["check", nc, "--variable", "tas", "--chunks",
                                    "time=1,lat=4,lon=4", *LIMITS, "--json"],
                       **{k: ["check", *a, *LIMITS] for k, a in bad_inputs.items()}},
                      tmp_path, env={"PYTHONWARNINGS": "ignore"})
    bad, _ = runs["problems"]
    assert bad.returncode == 1, bad.stderr
    d = json.loads(bad.stdout)
    assert {p["code"] for p in d["results"][0]["problems"]} == {"tiny_chunks", "storage_misaligned"}
    for k in bad_inputs:
        r, _ = runs[k]
        assert r.returncode == 2 and r.stderr.count("\n") == 1, (k, r.stderr)
        assert r.stderr.startswith("chunkpilot: error: Expected")


def test_check_rejects_conflicting_names_and_missing_paths(tmp_path):
    with pytest.raises(InvalidArgumentError, match="one name"):
        check(tmp_path, variable="a", array="b")
    with pytest.raises(StoreNotFoundError):
        check(tmp_path / "missing.zarr", **SMALL)


def test_a_store_is_checked_on_its_data_arrays_whatever_else_it_holds(tmp_path):
    """hunt5: an xarray store with a scalar ``crs`` (a common layout), a zero-length or a
    text array beside the data stopped the whole check ("a 0-d array"), naming none."""
    import zarr

    g = zarr.open_group(str(tmp_path / "s.zarr"), mode="w")
    g.create_array("model/tas", shape=(64, 32), chunks=(16, 16), dtype="f4")
    g.create_array("crs", shape=(), dtype="i4")
    g.create_array("empty", shape=(0, 3), chunks=(1, 3), dtype="f4")
    g.create_array("labels", shape=(4,), chunks=(4,), dtype=str)
    report = check(tmp_path / "s.zarr", **SMALL)
    assert [r.name for r in report.results] == ["model/tas"]


def test_a_file_of_coordinates_only_is_an_error_from_the_api_as_from_the_cli(tmp_path):
    """hunt5: ``check(ds)`` on a Dataset of coordinates only said ok with nothing checked,
    and the file's error called int64 coordinates "no numeric datasets"."""
    xr = pytest.importorskip("xarray")
    pytest.importorskip("h5netcdf")
    ds = xr.Dataset(coords={"time": np.arange(10), "x": np.arange(4)})
    ds.to_netcdf(tmp_path / "c.nc", engine="h5netcdf")
    with pytest.raises(InvalidArgumentError, match=r"data variable.*only \['time', 'x'\]"):
        check(ds, **SMALL)
    with pytest.raises(InvalidArgumentError, match=r"Got only \['time', 'x'\]; name one"):
        check(tmp_path / "c.nc", **SMALL)


def test_positional_chunks_that_fit_one_variable_of_several_name_the_other(tmp_path):
    """hunt5: ``--chunks 10,45,45`` on a file with ``tas`` and ``lat_bnds`` failed on
    lat_bnds without naming it."""
    xr = pytest.importorskip("xarray")
    pytest.importorskip("h5netcdf")
    ds = xr.Dataset({"tas": (("time", "lat", "lon"), np.zeros((20, 90, 90), "f4")),
                     "lat_bnds": (("lat", "nv"), np.zeros((90, 2), "f4"))})
    ds.to_netcdf(tmp_path / "m.nc", engine="h5netcdf")
    with pytest.raises(InvalidArgumentError, match=r"^lat_bnds: .*by dimension \(DIM=N\)"):
        check(tmp_path / "m.nc", chunks=(10, 45, 45), **SMALL)
    assert check(tmp_path / "m.nc", chunks={"time": 10}, **SMALL).results


def test_a_variable_without_any_named_dimension_keeps_its_own_chunks(tmp_path):
    """Hunt 12: ``--chunks time=24`` on a store whose ``orog(lat, lon)`` is stored in (10, 64)
    chunks checked orog as one whole chunk (the names it lacks left ``{}``, read as dask's
    "every axis whole"), and its tiny storage chunks got an OK; xarray keeps them."""
    xr = pytest.importorskip("xarray")
    ds = xr.Dataset({"tas": (("time", "lat", "lon"), np.zeros(SHAPE, "f4")),
                     "orog": (("lat", "lon"), np.zeros(SHAPE[1:], "f4"))})
    ds.to_zarr(tmp_path / "c.zarr", zarr_format=3, consolidated=False,
               encoding={"tas": {"chunks": (1, 32, 64)},
                         "orog": {"chunks": (8, 64)}})
    report = check(tmp_path / "c.zarr", chunks={"time": 2}, **SMALL)
    shapes = {r.name: r.chunk_shape for r in report.results}
    assert shapes == {"tas": (2, 32, 64), "orog": (8, 64)}
    opened = xr.open_zarr(tmp_path / "c.zarr", chunks={"time": 2}, consolidated=False)
    assert opened["orog"].data.chunksize == (8, 64)  # what xarray itself does
    from tests.core.test_lint import STORED

    assert normalize_given_chunks({}, STORED) == normalize_given_chunks(STORED.storage_chunks,
                                                                        STORED)
