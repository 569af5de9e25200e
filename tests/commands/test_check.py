"""``check``: the pure problem finder, then real netCDF / zarr / dask inputs, then the CLI."""

from __future__ import annotations

import itertools
import json
import math
import os
import subprocess
import sys
from pathlib import Path

import dask.array as da
import numpy as np
import pytest

from chunkpilot.core.lint import (
    find_problems,
    read_amplification,
    suggest_chunk_shape,
    worthy_bytes,
)
from chunkpilot.cli_options import parse_chunks_option
from chunkpilot.commands.check import check, normalize_given_chunks
from chunkpilot.errors import InvalidArgumentError, StoreNotFoundError
from chunkpilot.core.shapes import regular_chunks
from chunkpilot.types import ArraySpec, Resources

MiB, GiB = 2**20, 2**30
CHUNKPILOT = str(Path(sys.executable).with_name("chunkpilot"))
LOCAL = Resources(2, 2, 4 * GiB, "local")  # distributed: ~1 ms a task
THREADS = Resources(1, 4, 8 * GiB, "threads")
BIG = ArraySpec((4000, 2000, 1000), "float64", dims=("time", "lat", "lon"), source="dask")
STORED = ArraySpec((4000, 2000, 1000), "float64", storage_chunks=(100, 500, 500),
                   dims=("time", "lat", "lon"), source="zarr:/data/big.zarr")


def codes(spec: ArraySpec, res: Resources, chunk: tuple[int, ...]) -> set[str]:
    return {p.code for p in find_problems(spec, res, regular_chunks(spec.shape, chunk))}


@pytest.mark.parametrize(
    ("spec", "res", "chunk", "expected"),
    [
        # 1 MiB chunks on distributed: tiny, and 64,000 tasks is under the task ceiling
        (BIG, LOCAL, (64, 2000, 1), {"tiny_chunks"}),
        # 8 kB chunks: tiny and 8 million tasks
        (BIG, LOCAL, (1, 1000, 1), {"tiny_chunks", "too_many_tasks"}),
        # 8 GB chunks on 4 GiB workers
        (BIG, LOCAL, (500, 2000, 1000), {"exceeds_memory"}),
        # aligned in time, straddling storage chunks in lat/lon
        (STORED, LOCAL, (200, 300, 300), {"storage_misaligned"}),
        # half a storage chunk: each storage chunk read twice
        (STORED, LOCAL, (50, 500, 500), {"storage_misaligned"}),
        # 4000 = 3 x 1300 + 100: a 100-long last chunk next to 1300-long ones
        (BIG, LOCAL, (1300, 10, 1000), {"ragged_chunks"}),
        # a 16 GB array in 2 chunks of 8 GB on 4 threads with plenty of memory
        (ArraySpec((2000, 1000, 1000), "float64"), Resources(1, 4, 200 * GiB, "threads"),
         (1000, 1000, 1000), {"too_few_chunks"}),
        # good: 200 MB / 160 MB chunks, aligned, many per thread, fit memory
        (STORED, LOCAL, (100, 500, 500), set()),
        (BIG, THREADS, (10, 2000, 1000), set()),
    ],
    ids=["tiny", "tiny-and-too-many", "too-big", "misaligned", "sub-storage", "ragged",
         "too-few", "good-stored", "good-threads"],
)
def test_find_problems(spec, res, chunk, expected):
    assert codes(spec, res, chunk) == expected


def test_problems_carry_numbers_and_a_fix():
    (p,) = find_problems(BIG, LOCAL, regular_chunks(BIG.shape, (500, 2000, 1000)))
    assert p.severity == "error" and "7.45 GiB" in p.message and "4.00 GiB" in p.message
    assert "rechunk to {'time'" in p.fix and dict(p.numbers)["chunk_bytes"] == 8 * 10**9
    (p,) = find_problems(STORED, LOCAL, regular_chunks(STORED.shape, (50, 500, 500)))
    assert "re-open the source with chunks=" in p.fix and "2.00 times" in p.message


def test_read_amplification_matches_brute_force():
    spec = ArraySpec((30, 20), "f8", storage_chunks=(7, 6))
    chunks = ((4, 11, 15), (5, 5, 10))
    reads, most = 0, 0
    edges = [np.cumsum((0,) + ax) for ax in chunks]
    for (a0, a1), (b0, b1) in itertools.product(zip(edges[0], edges[0][1:]),
                                                  zip(edges[1], edges[1][1:])):
        touched = {(i // 7, j // 6) for i in range(a0, a1) for j in range(b0, b1)}
        reads, most = reads + len(touched), max(most, len(touched))
    amp, touched_most = read_amplification(spec, chunks)
    assert amp == pytest.approx(reads / (math.ceil(30 / 7) * math.ceil(20 / 6)))
    assert touched_most == most


@pytest.mark.parametrize(
    ("spec", "res"),
    [(BIG, LOCAL), (STORED, LOCAL), (BIG, THREADS), (ArraySpec((300, 200), "float32"), LOCAL),
     (ArraySpec((10**6,), "int8"), THREADS), (ArraySpec((7, 5000, 3), "int16"), LOCAL)],
    ids=["big-local", "stored-local", "big-threads", "small", "1d", "odd"],
)
def test_suggested_shape_has_no_problems(spec, res):
    shape = suggest_chunk_shape(spec, res, 1e-3 if res.distributed else 1e-4)
    assert codes(spec, res, shape) == set()


def test_storage_chunks_too_big_for_memory_say_rewrite():
    res = Resources(1, 2, 256 * MiB, "threads")  # a 200 MB storage chunk cannot be loaded whole
    shape = suggest_chunk_shape(STORED, res, 1e-4)
    (p,) = find_problems(STORED, res, regular_chunks(STORED.shape, shape))
    assert p.code == "storage_misaligned" and "rewrite the store" in p.fix


def test_worthy_bytes_scales_with_overhead():
    assert worthy_bytes(1e-3) == pytest.approx(10 * worthy_bytes(1e-4), rel=1e-6)
    assert worthy_bytes(1e-3) == pytest.approx(100 * 1e-3 * 2**30)


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
        good = check(ds.tas.chunk(dict(zip(ds.tas.dims, SHAPE))), **SMALL)
        assert good.ok, good.lines()


def test_check_store_defaults_to_storage_chunks(files):
    (r,) = check(source=files[1], **SMALL).results
    assert r.chunks_origin.startswith("storage chunks") and max(r.chunks[0]) == STORAGE[0]
    d = r.to_dict()  # one vocabulary: chunk_shape per axis, chunks = dask's full chunks
    assert d["chunk_shape"] == list(r.chunk_shape) == [max(ax) for ax in d["chunks"]]
    assert d["chunks_by_dim"] == dict(zip(("time", "lat", "lon"), r.chunk_shape))
    assert d["suggested_chunk_shape"] == list(r.suggested_chunk_shape)
    assert d["suggested_chunks_by_dim"] == dict(zip(("time", "lat", "lon"),
                                                    r.suggested_chunk_shape))


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


def test_cli_exit_codes(files):
    nc = str(files[0])
    clean = run(nc, "--chunks", "-1", *LIMITS)
    assert clean.returncode == 0, clean.stderr
    assert "OK: no problems found" in clean.stdout
    bad = run(nc, "--variable", "tas", "--chunks", "time=1,lat=4,lon=4", *LIMITS, "--json")
    assert bad.returncode == 1, bad.stderr
    d = json.loads(bad.stdout)
    assert {p["code"] for p in d["results"][0]["problems"]} == {"tiny_chunks", "storage_misaligned"}
    for args in (["/nonexistent/x.nc"], [nc, "--chunks", "a,b"], [nc, "--variable", "nope"]):
        r = run(*args, *LIMITS)
        assert r.returncode == 2 and r.stderr.count("\n") == 1, (args, r.stderr)
        assert r.stderr.startswith("chunkpilot: error: Expected")


def test_check_rejects_conflicting_names_and_missing_paths(tmp_path):
    with pytest.raises(InvalidArgumentError, match="one name"):
        check(tmp_path, variable="a", array="b")
    with pytest.raises(StoreNotFoundError):
        check(tmp_path / "missing.zarr", **SMALL)
