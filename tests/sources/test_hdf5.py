"""HDF5 / netCDF4 files read with h5py: layout, compression, dims, and real sample blocks."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

h5py = pytest.importorskip("h5py")

from chunkpilot.commands.advise import advise  # noqa: E402
from chunkpilot.errors import (  # noqa: E402
    InvalidArgumentError,
    MissingDependencyError,
    StoreNotFoundError,
    StoreReadError,
)
from chunkpilot.measure.inputs import load_block  # noqa: E402
from chunkpilot.sources.describe import describe  # noqa: E402
from chunkpilot.sources.hdf5 import import_h5py, looks_like_hdf5  # noqa: E402

CHUNKPILOT = str(Path(sys.executable).with_name("chunkpilot"))


@pytest.fixture(scope="module")
def h5(tmp_path_factory) -> Path:
    """Chunked+gzip, chunked+lzf+shuffle, contiguous, nested, a string dataset and a scalar."""
    path = tmp_path_factory.mktemp("h5") / "data.h5"
    rng = np.random.default_rng(0)
    with h5py.File(path, "w") as f:
        f.create_dataset("gz", data=rng.standard_normal((256, 128)), chunks=(64, 32),
                         compression="gzip", compression_opts=4)
        f.create_dataset("lzf", data=np.arange(4096, dtype="i4").reshape(64, 64), chunks=(16, 64),
                         compression="lzf", shuffle=True)
        f.create_dataset("flat", data=np.zeros((100, 10), "f4"))
        f.create_dataset("grp/inner", data=np.ones((50,), "u2"), chunks=(10,))
        f.create_dataset("names", data=np.array([b"a", b"b"]))
        f.create_dataset("scalar", data=3.0)
    return path


@pytest.mark.parametrize(
    ("name", "shape", "dtype", "storage", "compression"),
    [
        ("gz", (256, 128), "float64", (64, 32), "gzip 4"),
        ("lzf", (64, 64), "int32", (16, 64), "shuffle+lzf"),
        ("flat", (100, 10), "float32", None, None),  # contiguous layout: no storage chunks
        ("/grp/inner", (50,), "uint16", (10,), None),  # nested, leading slash accepted
    ],
    ids=["gzip", "lzf-shuffle", "contiguous", "nested"],
)
def test_describe_layout_and_compression(h5, name, shape, dtype, storage, compression):
    spec, ref = describe(h5, array=name)
    assert (spec.shape, spec.dtype, spec.storage_chunks) == (shape, dtype, storage)
    assert ref["kind"] == "hdf5" and ref["compression"] == compression
    assert spec.source == f"hdf5:{h5}" and ref["array"] == name.strip("/")


@pytest.mark.parametrize(
    ("make", "name", "error", "match"),
    [
        (lambda p, h5: h5, None, InvalidArgumentError, r"--variable NAME.*'flat', 'grp/inner'"),
        (lambda p, h5: h5, "nope", InvalidArgumentError, "Got 'nope' instead"),
        (lambda p, h5: h5, "grp", InvalidArgumentError, "Got 'grp' instead"),  # a group
        (lambda p, h5: p / "missing.nc", None, StoreNotFoundError, "does not exist"),
        (lambda p, h5: _write(p / "old.nc", b"CDF\x01" + bytes(60)), None, StoreReadError,
         "netCDF3"),
        (lambda p, h5: _write(p / "junk.h5", b"not an hdf5 file"), None, StoreReadError,
         "without the HDF5 signature"),
        (lambda p, h5: _mkdir(p / "dir.h5"), None, StoreNotFoundError, "Got a directory"),
    ],
    ids=["needs-name", "unknown-name", "group-not-dataset", "missing", "netcdf3", "junk",
         "directory"],
)
def test_bad_hdf5_sources(tmp_path, h5, make, name, error, match):
    with pytest.raises(error, match=match):
        describe(make(tmp_path, h5), array=name)


def _write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


def _mkdir(path: Path) -> Path:
    path.mkdir()
    return path


def test_an_open_h5py_dataset_is_refused_with_the_path_and_name_to_pass(h5):
    with h5py.File(h5, "r") as f, pytest.raises(TypeError, match=(
            r"Got h5py.Dataset instead. For an HDF5 dataset, pass its file and name: "
            rf"advise\('{h5}', array='/grp/inner', ...\)")):
        describe(f["grp/inner"])
    spec, _ = describe(h5, array="/grp/inner")  # what it says works
    assert spec.shape == (50,)


def test_signature_detection_without_suffix(tmp_path, h5):
    plain = tmp_path / "data.bin"
    plain.write_bytes(h5.read_bytes())
    assert looks_like_hdf5(plain) and not looks_like_hdf5(tmp_path)
    spec, _ = describe(plain, array="gz")
    assert spec.storage_chunks == (64, 32)


def test_netcdf4_dims_come_from_dimension_scales(tmp_path):
    xr = pytest.importorskip("xarray")
    pytest.importorskip("h5netcdf")
    ds = xr.Dataset({"tas": (("time", "lat", "lon"), np.zeros((8, 4, 6), "f4"))})
    ds.to_netcdf(tmp_path / "t.nc", engine="h5netcdf",
                 encoding={"tas": {"chunksizes": (4, 4, 3), "zlib": True}})
    spec, ref = describe(tmp_path / "t.nc")  # the only data variable: no name needed
    assert spec.dims == ("time", "lat", "lon") and spec.storage_chunks == (4, 4, 3)
    assert ref["array"] == "tas" and ref["compression"].startswith("gzip")


@pytest.mark.parametrize("astype", [None, "float32"], ids=["raw", "decoded"])
def test_child_reads_blocks_from_hdf5(h5, astype):
    src = {"kind": "hdf5", "path": str(h5), "array": "gz", "astype": astype}
    block = load_block(src, (slice(64, 128), slice(0, 32)), (64, 32), "float64")
    with h5py.File(h5, "r") as f:
        expected = f["gz"][64:128, 0:32]
    np.testing.assert_array_equal(block, expected.astype(astype or expected.dtype))
    assert block.dtype == np.dtype(astype or "float64")


def test_advise_on_hdf5_reads_real_compressed_blocks(h5):
    plan = advise(h5, variable="gz", scheduler="threads", threads_per_worker=2,
                  memory_limit="1GiB")
    assert plan.spec.storage_chunks == (64, 32)
    assert all(c % s == 0 or s % c == 0 for c, s in zip(plan.chunk_shape, (64, 32), strict=True))
    assert not any("synthetic" in n for n in plan.notes)
    assert any("gzip 4" in n and "decompression" in n for n in plan.notes)


def test_missing_h5py_gives_install_hint(monkeypatch):
    monkeypatch.setitem(sys.modules, "h5py", None)
    with pytest.raises(MissingDependencyError, match=r'pip install "chunkpilot\[hdf5\]"'):
        import_h5py()


def test_cli_advise_netcdf_variable_keep_whole_by_name(tmp_path):
    xr = pytest.importorskip("xarray")
    pytest.importorskip("h5netcdf")
    rng = np.random.default_rng(1)
    ds = xr.Dataset({v: (("time", "lat", "lon"), rng.random((64, 32, 32), dtype="f4"))
                     for v in ("tas", "pr")})
    ds.to_netcdf(tmp_path / "c.nc", engine="h5netcdf",
                 encoding={"tas": {"chunksizes": (16, 16, 16), "zlib": True}})
    r = subprocess.run(
        [CHUNKPILOT, "advise", str(tmp_path / "c.nc"), "--variable", "tas", "--keep-whole",
         "time", "--scheduler", "threads", "--memory-limit", "1GiB", "--json"],
        capture_output=True, text=True, timeout=240, env={**os.environ, "PYTHONWARNINGS": "ignore"})
    assert r.returncode == 0, r.stderr
    d = json.loads(r.stdout)
    assert d["chunks_by_dim"]["time"] == 64 and d["storage_chunks"] == [16, 16, 16]
    assert d["source"].startswith("hdf5:") and d["rechunk_advice"] is None


def test_an_empty_dataset_is_not_data_and_a_contiguous_one_is_not_decompressed(tmp_path):
    """hunt5: a zero-length dataset beside the data stopped describe and check; a contiguous
    dataset's note said its load "includes HDF5 decompression"."""
    with h5py.File(tmp_path / "f.h5", "w") as f:
        f.create_dataset("data", data=np.zeros((100, 10), "f4"))
        f.create_dataset("empty", shape=(0, 10), dtype="f4")
    spec, ref = describe(tmp_path / "f.h5")
    assert ref["array"] == "data" and spec.name == "data"
    assert "decompression" not in ref["notes"][0] and "contiguous" in ref["notes"][0]
