"""xarray input: real (time, lat, lon) datasets in netCDF4 (h5netcdf) and zarr, plans by dim."""

from __future__ import annotations

import json
import sys

import dask.array as da
import numpy as np
import pytest

xr = pytest.importorskip("xarray")
pytest.importorskip("h5netcdf")

from chunkpilot.commands.advise import advise  # noqa: E402
from chunkpilot.errors import InvalidArgumentError, MissingDependencyError  # noqa: E402
from chunkpilot.sources.xarray import describe_xarray, storage_chunks_of  # noqa: E402

MiB = 2**20
SHAPE = (96, 32, 64)  # time, lat, lon
STORAGE = (24, 16, 32)
FAST = {"scheduler": "threads", "threads_per_worker": 2, "memory_limit": "1GiB"}


def make_dataset() -> xr.Dataset:
    rng = np.random.default_rng(0)
    return xr.Dataset(
        {
            "tas": (("time", "lat", "lon"), rng.standard_normal(SHAPE, dtype="float32")),
            "pr": (("time", "lat", "lon"), rng.random(SHAPE)),
            "station": (("time",), np.array(["x"] * SHAPE[0], dtype=object)),
        },
        coords={"time": np.arange(SHAPE[0]), "lat": np.linspace(-90, 90, SHAPE[1]),
                "lon": np.linspace(0, 360, SHAPE[2], endpoint=False)},
    )


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """The same dataset as netCDF4 (gzip, chunked) and zarr, both with storage chunks STORAGE."""
    d = tmp_path_factory.mktemp("xr")
    ds = make_dataset().drop_vars("station")
    enc = {v: {"chunksizes": STORAGE, "zlib": True, "complevel": 4} for v in ("tas", "pr")}
    ds.to_netcdf(d / "clim.nc", engine="h5netcdf", encoding=enc)
    ds.to_zarr(d / "clim.zarr", encoding={v: {"chunks": STORAGE} for v in ("tas", "pr")},
               consolidated=False, mode="w")
    return d / "clim.nc", d / "clim.zarr"


@pytest.fixture
def nc(files):
    with xr.open_dataset(files[0], engine="h5netcdf", chunks={}) as ds:
        yield ds


def test_describe_netcdf_variable_reads_storage_and_current_chunks(nc, files):
    spec, ref = describe_xarray(nc, "tas")
    assert spec.dims == ("time", "lat", "lon") and spec.shape == SHAPE
    assert spec.storage_chunks == STORAGE
    assert spec.current_chunks == tuple((c,) * (n // c)
                                        for n, c in zip(SHAPE, STORAGE, strict=True))
    assert spec.source == f"xarray:{files[0]}"
    assert ref["kind"] == "hdf5" and ref["array"] == "tas" and "astype" not in ref


def test_describe_zarr_dataset_uses_the_dataset_source(files):
    with xr.open_zarr(files[1], consolidated=False) as ds:
        spec, ref = describe_xarray(ds, "pr")
    assert spec.storage_chunks == STORAGE and spec.dtype == "float64"
    assert ref == {"kind": "zarr", "path": str(files[1]), "array": "pr", "notes": ref["notes"]}


@pytest.mark.parametrize(
    ("make", "storage", "kind"),
    [
        # transposed: storage chunks follow the dims (preferred_chunks is keyed by name)
        (lambda ds: ds.tas.transpose("lon", "lat", "time"), STORAGE[::-1], "synthetic"),
        # a subset starts somewhere unknown inside the storage grid: no alignment, no file
        (lambda ds: ds.tas.isel(time=slice(5, 50)), None, "synthetic"),
        # loaded, but the file is still there and unchanged: samples still come from the file
        (lambda ds: ds.tas.load(), STORAGE, "hdf5"),
        # in memory only: samples are cut from memory
        (lambda ds: xr.DataArray(np.ones((40, 30)), dims=("y", "x")), None, "numpy"),
        # dask-backed, no file at all
        (lambda ds: xr.DataArray(da.zeros((40, 30), chunks=10), dims=("y", "x")), None,
         "synthetic"),
    ],
    ids=["transposed", "subset", "loaded", "in-memory", "dask-only"],
)
def test_describe_derived_arrays(nc, make, storage, kind):
    spec, ref = describe_xarray(make(nc))
    assert spec.storage_chunks == storage and ref["kind"] == kind


def test_several_files_combined_are_rechunked_in_memory_not_reopened(files, tmp_path):
    """``open_mfdataset`` keeps the first file's path and per-file shape in the encoding: the
    apply line re-opened that one file (half the time steps) and ``check`` named it. A
    subset (``isel``) is the same case: neither is re-opened by path."""
    from chunkpilot.report.apply import how_to_apply

    full = make_dataset().drop_vars("station")
    paths = [tmp_path / "p1.nc", tmp_path / "p2.nc"]
    full.isel(time=slice(0, 48)).to_netcdf(paths[0], engine="h5netcdf")
    full.isel(time=slice(48, None)).to_netcdf(paths[1], engine="h5netcdf")
    with xr.open_mfdataset(paths, engine="h5netcdf") as mf:
        spec, _ = describe_xarray(mf, "tas")
    assert spec.shape == SHAPE and spec.source == "xarray"
    assert how_to_apply(spec, (96, 16, 32)) == ["ds = ds.chunk({'time': 96, 'lat': 16, 'lon': 32})"]
    with xr.open_dataset(files[0], engine="h5netcdf", chunks={}) as ds:
        sub, _ = describe_xarray(ds.tas.isel(time=slice(5, 50)))
        whole, _ = describe_xarray(ds, "tas")
    assert sub.source == "xarray" and whole.source == f"xarray:{files[0]}"


@pytest.mark.parametrize(("steps", "storage"), [((48, 48), STORAGE), ((36, 36, 24), STORAGE),
                                               ((50, 46), None)],
                         ids=["two-files-on-the-grid", "three-files-on-the-grid", "off-grid"])
def test_several_files_keep_their_storage_grid_when_every_file_starts_on_it(
        tmp_path, steps, storage):
    """Files of 48 (or 36, 36, 24) time steps in storage chunks of 24 (or 12: 36 is 3 of
    them) joined along time: every file starts on the grid, which then holds for the whole
    array (before: no storage chunks at all, so plans split them). Files of 50 and 46 steps:
    the second starts at 50, inside a storage chunk, and the grid is not claimed."""
    full, paths, start = make_dataset().drop_vars("station"), [], 0
    along_time = 12 if len(steps) == 3 else STORAGE[0]
    for i, n in enumerate(steps):
        paths.append(tmp_path / f"part{i}.nc")
        full.isel(time=slice(start, start + n)).to_netcdf(
            paths[-1], engine="h5netcdf",
            encoding={"tas": {"chunksizes": (along_time, *STORAGE[1:])}})
        start += n
    with xr.open_mfdataset(paths, engine="h5netcdf") as mf:
        spec, _ = describe_xarray(mf, "tas")
        advised = advise(mf.tas, lambda b: b * 2, **FAST) if storage else None
    expected = None if storage is None else (along_time, *STORAGE[1:])
    assert spec.shape == SHAPE and spec.source == "xarray"
    assert spec.storage_chunks == expected
    if advised is not None:  # the plan is aligned to the files' grid on every axis
        assert all(c % s == 0 or c == n for c, s, n in
                   zip(advised.chunk_shape, expected, SHAPE, strict=True))


def test_a_subset_has_no_storage_grid(files):
    with xr.open_dataset(files[0], engine="h5netcdf", chunks={}) as ds:
        assert storage_chunks_of(ds.tas) == STORAGE
        assert storage_chunks_of(ds.tas.isel(time=slice(5, 50))) is None  # starts mid-chunk
        assert storage_chunks_of(ds.tas.isel(lat=slice(0, 16))) is None


@pytest.mark.parametrize(
    ("variable", "match"),
    [(None, r"variable=NAME.*\['tas', 'pr'\]"), ("nope", "Got 'nope' instead")],
    ids=["dataset-needs-a-name", "unknown-variable"],
)
def test_describe_bad_variable(variable, match):
    with pytest.raises(InvalidArgumentError, match=match):
        describe_xarray(make_dataset(), variable)


def test_describe_dataarray_with_other_name():
    with pytest.raises(InvalidArgumentError, match="'pr'"):
        describe_xarray(make_dataset().tas, "pr")
    # hunt 12: "Expected variable=None or None for this DataArray"
    with pytest.raises(InvalidArgumentError, match="variable=None for this unnamed DataArray"):
        describe_xarray(make_dataset().tas.rename(None), "foo")


def test_encoding_chunks_used_when_no_preferred_chunks():
    a = xr.DataArray(np.zeros((10, 8)), dims=("y", "x"))
    a.encoding["chunks"] = (5, 4)
    assert storage_chunks_of(a) == (5, 4)


def test_advise_netcdf_dataarray_by_dim_name(nc, files):
    plan = advise(nc.tas, keep_whole="time", depth={"lat": 2}, **FAST)
    by_dim = plan.chunks_by_dim
    assert list(by_dim) == ["time", "lat", "lon"] and by_dim["time"] == SHAPE[0]
    assert plan.work.depth == (0, 2, 0)
    # aligned with the HDF5 chunks
    for c, s, n in zip(plan.chunk_shape, STORAGE, SHAPE, strict=True):
        assert c % s == 0 or s % c == 0 or c == n
    assert nc.chunk(by_dim).tas.chunks == plan.chunks  # ready for ds.chunk(...)
    assert any(f"cut from the file {files[0]}" in n for n in plan.notes)
    d = json.loads(json.dumps(plan.to_dict()))
    assert d["chunks_by_dim"] == by_dim and d["current_chunks"][0] == [24, 24, 24, 24]
    assert d["rechunk_advice"]["action"] == "reopen"  # file-backed: re-open, don't rechunk
    assert any(line.startswith("Re-open the source") for line in d["explanation"])


def test_advise_whole_dataset_agrees_on_dims(files):
    with xr.open_zarr(files[1], consolidated=False) as ds:
        dp = advise(ds, keep_whole=("time",), **FAST)
        assert set(dp.plans) == {"tas", "pr"}
        assert dp.chunks_by_dim["time"] == SHAPE[0]
        assert all(v.agreed.fits_memory for v in dp.variables)
        chunked = ds.chunk(dp.chunks_by_dim)
        assert chunked.tas.chunks == chunked.pr.chunks
        json.dumps(dp.to_dict())
        assert dp.explain().startswith("Agreed chunks")


@pytest.mark.parametrize(
    ("kw", "match"),
    [({"keep_whole": 0}, "dimension names"), ({"keep_whole": ("depth",)}, "'depth'"),
     ({"depth": {"level": 2}}, "'level'")],
    ids=["axis-number", "unknown-dim", "unknown-depth-dim"],
)
def test_dataset_axes_must_be_dim_names(kw, match):
    with pytest.raises(InvalidArgumentError, match=match):
        advise(make_dataset(), **kw, **FAST)


def test_missing_xarray_gives_install_hint(monkeypatch):
    from chunkpilot.sources.xarray import import_xarray

    monkeypatch.setitem(sys.modules, "xarray", None)
    with pytest.raises(MissingDependencyError, match=r'pip install "chunkpilot\[xarray\]"'):
        import_xarray()


# --- pure parts: agreeing on dims, rechunk cost (synthetic models, no profiling) ---




def test_a_datasets_variables_share_one_probe_of_the_scheduler(files, monkeypatch):
    """One probe per Dataset (1.5-2.5 s each), not one per variable: every variable's plan
    rests on the same measured overhead."""
    from chunkpilot.commands import planning

    calls = []
    real = planning.measure_scheduler
    monkeypatch.setattr(planning, "measure_scheduler",
                        lambda *a, **k: calls.append(a) or real(*a, **k))
    with xr.open_zarr(files[1], consolidated=False) as ds:
        dp = advise(ds, keep_whole=("time",), **FAST)
    assert len(dp.plans) == 2 and len(calls) == 1
    overheads = {p.to_dict()["measured"]["overhead_seconds_per_task"] for p in dp.plans.values()}
    assert len(overheads) == 1 and next(iter(overheads)) > 0


def _parts(tmp_path, steps, storage=STORAGE, engine="h5netcdf", storages=None):
    """``make_dataset()``'s tas cut along time into files of ``steps`` steps."""
    full, paths, start = make_dataset()[["tas"]], [], 0
    tmp_path.mkdir(parents=True, exist_ok=True)
    for i, n in enumerate(steps):
        part, chunks = full.isel(time=slice(start, start + n)), (storages or {}).get(i, storage)
        if engine == "zarr":
            paths.append(tmp_path / f"part{i}.zarr")
            part.to_zarr(paths[-1], encoding={"tas": {"chunks": chunks}}, consolidated=False)
        else:
            paths.append(tmp_path / f"part{i}.nc")
            part.to_netcdf(paths[-1], engine="h5netcdf", encoding={"tas": {"chunksizes": chunks}})
        start += n
    return paths


def test_a_combined_array_rechunked_transposed_or_cut_claims_no_grid(tmp_path):
    """Files of 50 and 46 steps (the second starts inside a storage chunk): rechunked to 24
    or 96 steps their dask chunks no longer show the files, and the first file's grid was
    claimed; a cut back to one file's shape was taken for that file (its path, its samples);
    a transpose paired the file's lengths with the wrong axes."""
    with xr.open_mfdataset(_parts(tmp_path, (50, 46)), engine="h5netcdf") as mf:
        for derived in (mf.tas.chunk({"time": 24}), mf.tas.chunk({"time": -1}),
                        mf.tas.transpose("lon", "lat", "time")):
            assert storage_chunks_of(derived) is None
    with xr.open_mfdataset(_parts(tmp_path / "on", (48, 48)), engine="h5netcdf") as mf:
        assert storage_chunks_of(mf.tas) == STORAGE
        spec, ref = describe_xarray(mf.tas.isel(time=slice(40, 88)))  # one file's shape
    assert spec.storage_chunks is None and spec.source == "xarray" and "path" not in ref


def test_files_with_other_storage_chunks_than_the_first_claim_no_grid(tmp_path):
    paths = _parts(tmp_path, (48, 48), storages={1: (24, 8, 32)})
    with xr.open_mfdataset(paths, engine="h5netcdf") as mf:
        assert storage_chunks_of(mf.tas) is None  # its lat chunks of 8 show the second file's


def test_zarr_records_no_shape_and_its_subsets_and_joins_are_still_told_apart(tmp_path):
    paths = _parts(tmp_path, (50, 46), engine="zarr")
    with xr.open_mfdataset(paths, engine="zarr", consolidated=False) as mf:
        assert "original_shape" not in mf.tas.encoding
        assert storage_chunks_of(mf.tas) is None
    with xr.open_zarr(paths[0], consolidated=False) as one:
        assert storage_chunks_of(one.tas) == STORAGE
        spec, ref = describe_xarray(one.tas.isel(time=slice(5, 50)))
    assert spec.storage_chunks is None and spec.source == "xarray" and "path" not in ref
