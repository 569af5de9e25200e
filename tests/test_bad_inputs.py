"""Bad input matrix: every case through the Python API and the CLI (real subprocesses).

Each case must end in a specific ``chunkpilot.errors`` exception (library) and in exactly one
line on stderr with exit code 2 and no traceback (CLI), and leave no temporary files behind.
Decisions recorded here (and in docs/errors.md):

* A memory limit that cannot hold one storage chunk (or the smallest block ``keep_whole``
  allows) per thread, input plus one in flight, is refused *before* any profiling or cluster
  start with :class:`NoFeasiblePlanError` (reading any part of a storage chunk decodes it all).
* A chunk file that is missing reads as fill values (zarr's rule, so advice still works); a
  truncated or corrupt chunk is a :class:`StoreReadError`, in profiling and in tune.
* What a function must return: a numpy array whose ndim is the block's minus ``drop_axis``
  (what ``map_blocks`` assumes). Lengths may change (keepdims reductions, spectra).
"""

from __future__ import annotations

import re
import shlex
import tempfile
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import dask
import numpy as np
import pytest
import zarr

import chunkpilot
from chunkpilot.errors import (
    FunctionLoadError,
    InvalidArgumentError,
    InvalidArgumentTypeError,
    InvalidSizeError,
    NoFeasiblePlanError,
    OutputPathError,
    ProfilingError,
    ResourceLimitError,
    SchedulerError,
    StoreNotFoundError,
    StoreReadError,
    UnsupportedDtypeError,
    UnsupportedProtocolError,
)
from chunkpilot.loader import load_callable
from tests.helpers.cli_runs import run_forked
from tests.helpers.processes import FAST_CONNECT_ENV

#: CLI cases run concurrently (forked processes: see cli_results).
CLI_PARALLEL = 4

USER_FUNCS = """\
import ctypes, time
import numpy as np
def ok(b): return b * 2
def boom(b): raise RuntimeError("user bug")
def wrong_type(b): return "not an array"
def wrong_ndim(b): return b.sum(axis=0)
def scalar(b): return b.sum()
def hang(b):
    time.sleep(600)
    return b
def unbounded(b):
    hoard = []
    while True:
        hoard.append(np.ones(2**24))
def huge(b): return np.ones(2**42)
def segfault(b): ctypes.string_at(0)
def rolling(x): return x.rolling(time=3).mean()
NOT_CALLABLE = 3
"""


def _write_inputs(d: Path) -> None:
    """Every kind of bad (and one good) input, small enough to profile in a second."""
    import h5py

    a = zarr.create_array(str(d / "a.zarr"), shape=(256, 256), chunks=(64, 64), dtype="float32")
    a[:] = np.random.default_rng(0).standard_normal((256, 256), dtype="float32")
    big = zarr.create_array(str(d / "bigchunk.zarr"), shape=(512, 512), chunks=(512, 512),
                            dtype="float64")  # one 2 MiB storage chunk
    big[:] = 1.0
    g = zarr.open_group(str(d / "g.zarr"), mode="w")
    for name in ("a", "b"):
        g.create_array(name, shape=(64, 64), chunks=(16, 16), dtype="f4")
    zarr.open_group(str(d / "empty_group.zarr"), mode="w")
    zarr.create_array(str(d / "empty.zarr"), shape=(0, 10), chunks=(5, 5), dtype="f4")
    zarr.create_array(str(d / "scalar.zarr"), shape=(), dtype="f4")
    with warnings.catch_warnings():  # zarr warns that its string dtype is not in the v3 spec
        warnings.simplefilter("ignore")
        s = zarr.create_array(str(d / "str.zarr"), shape=(10,), chunks=(5,), dtype=str)
        s[:] = "x"
    _copy_store(d / "a.zarr", d / "corrupt.zarr")
    (d / "corrupt.zarr" / "zarr.json").write_text("{not json")
    _copy_store(d / "a.zarr", d / "trunc.zarr")
    for p in (d / "trunc.zarr" / "c").rglob("*"):
        if p.is_file():
            p.write_bytes(p.read_bytes()[: p.stat().st_size // 2])
    (d / "notastore").mkdir()
    (d / "text.txt").write_text("hello")
    with h5py.File(d / "x.nc", "w") as f:
        f.create_dataset("t", data=np.zeros((64, 64), "f4"), chunks=(16, 16))
        f.create_dataset("s", data=np.array([b"ab", b"cd"]))
    with h5py.File(d / "gz.nc", "w") as f:
        f.create_dataset("t", data=np.random.default_rng(2).standard_normal((128, 128)),
                         chunks=(32, 32), compression="gzip")
    raw = (d / "gz.nc").read_bytes()
    (d / "half.nc").write_bytes(raw[: len(raw) // 2])  # cut short: the header says more
    with h5py.File(d / "gz.nc", "r") as f:  # every compressed chunk overwritten
        ds = f["t"]
        spans = [ds.id.get_chunk_info(i) for i in range(ds.id.get_num_chunks())]
    bad = bytearray(raw)
    for c in spans:
        bad[c.byte_offset: c.byte_offset + c.size] = b"\xff" * c.size
    (d / "badchunks.nc").write_bytes(bytes(bad))
    (d / "gz.nc").unlink()
    (d / "garbage.nc").write_bytes(b"garbage" * 100)
    (d / "cdf3.nc").write_bytes(b"CDF\x01" + b"\0" * 100)
    (d / "userfuncs.py").write_text(USER_FUNCS)
    (d / "syntax.py").write_text("def f(:\n")
    (d / "importboom.py").write_text("raise RuntimeError('import boom')\n")
    (d / "exits.py").write_text("import sys\nsys.exit(0)\n")
    (d / "hardexit.py").write_text("import os\nos._exit(0)\n")
    (d / "stops.py").write_text("class Stop(BaseException):\n    pass\nraise Stop('halt')\n")
    (d / "pkg.py").mkdir()  # a directory named like a module file
    with warnings.catch_warnings():  # zarr warns that structured dtypes are not in the v3 spec
        warnings.simplefilter("ignore")
        zarr.create_array(str(d / "struct.zarr"), shape=(16, 16), chunks=(8, 8),
                          dtype=[("a", "f4"), ("b", "i4")])


def _copy_store(src: Path, dst: Path) -> None:
    import shutil

    shutil.copytree(src, dst)


@dataclass(frozen=True)
class Case:
    """One bad input: the CLI words, the same request through the API, what must come out."""

    id: str
    cli: str
    """CLI arguments; ``{d}`` is the inputs directory."""
    api: Callable[[Path], Any]
    """The same request through the library, given the inputs directory."""
    error: type[Exception]
    """The exception the library must raise (the CLI must exit 2 for it)."""
    match: str
    """Regex both the exception message and the CLI's stderr line must contain."""
    cli_match: str | None = None
    """When the CLI words it differently (click parses before the library sees it)."""


def advise(d: Path, path: str = "a.zarr", func: Any = None, **kw: Any) -> Any:
    kw.setdefault("scheduler", "threads")
    return chunkpilot.advise(str(d / path), func, **kw)


def fn(d: Path, name: str) -> Any:
    return load_callable(f"{d / 'userfuncs.py'}:{name}")


T = "--scheduler threads"
A = "advise {d}/a.zarr " + T

CASES = [
    # --- sizes and resources -------------------------------------------------------------
    Case("size-unit-gigs", A + " --memory-limit '4 gigs'",
         lambda d: advise(d, memory_limit="4 gigs"), InvalidSizeError, "memory_limit like '4GiB'"),
    Case("size-negative", A + " --memory-limit -1GiB",
         lambda d: advise(d, memory_limit="-1GiB"), InvalidSizeError, "memory_limit"),
    Case("size-zero", A + " --memory-limit 0",
         lambda d: advise(d, memory_limit="0"), InvalidSizeError, "greater than zero"),
    Case("size-empty", A + " --memory-limit ''",
         lambda d: advise(d, memory_limit=""), InvalidSizeError, "empty string"),
    Case("size-above-machine", A + " --memory-limit 1000TiB",
         lambda d: advise(d, memory_limit="1000TiB"), InvalidArgumentError,
         "at most this machine's memory"),
    Case("workers-zero", "advise {d}/a.zarr --workers 0",
         lambda d: advise(d, workers=0, scheduler="local"), InvalidArgumentError,
         "workers greater than zero"),
    Case("workers-negative", "advise {d}/a.zarr --workers -3",
         lambda d: advise(d, workers=-3, scheduler="local"), InvalidArgumentError,
         "workers greater than zero"),
    Case("threads-zero", "advise {d}/a.zarr --threads-per-worker 0",
         lambda d: advise(d, threads_per_worker=0, scheduler="local"), InvalidArgumentError,
         "threads_per_worker greater than zero"),
    Case("threads-negative", A + " --threads-per-worker -2",
         lambda d: advise(d, threads_per_worker=-2), InvalidArgumentError,
         "threads_per_worker greater than zero"),
    Case("workers-on-threaded-scheduler", A + " --workers 2",
         lambda d: advise(d, workers=2), InvalidArgumentError, "workers=1 with the threaded"),
    Case("workers-not-a-number", "advise {d}/a.zarr --workers two",
         lambda d: advise(d, workers="two", scheduler="local"), InvalidArgumentTypeError,
         "workers as an int", cli_match="'two' is not a valid integer"),
    Case("memory-below-one-storage-chunk", "advise {d}/bigchunk.zarr " + T +
         " --threads-per-worker 1 --memory-limit 3MiB",
         lambda d: advise(d, "bigchunk.zarr", threads_per_worker=1, memory_limit="3MiB"),
         NoFeasiblePlanError, r"one storage chunk \(512, 512\): 2\.00 MiB.*Got 4\.00 MiB"),
    Case("memory-below-kept-whole-block", A + " --threads-per-worker 1 --memory-limit 600KiB "
         "--keep-whole 0 --keep-whole 1",
         lambda d: advise(d, threads_per_worker=1, memory_limit="600KiB", keep_whole=(0, 1)),
         NoFeasiblePlanError, r"smallest block \(256, 256\): 256\.00 kiB"),
    # --- paths and stores ----------------------------------------------------------------
    Case("path-missing", "advise {d}/nope.zarr " + T,
         lambda d: advise(d, "nope.zarr"), StoreNotFoundError, "does not exist"),
    Case("dir-not-a-store", "advise {d}/notastore " + T,
         lambda d: advise(d, "notastore"), StoreNotFoundError, "no zarr metadata"),
    Case("file-not-a-store", "advise {d}/text.txt " + T,
         lambda d: advise(d, "text.txt"), StoreNotFoundError, "no zarr metadata"),
    Case("corrupt-metadata", "advise {d}/corrupt.zarr " + T,
         lambda d: advise(d, "corrupt.zarr"), StoreReadError, "readable zarr store.*JSONDecode"),
    Case("truncated-chunks", "advise {d}/trunc.zarr " + T,
         lambda d: advise(d, "trunc.zarr"), StoreReadError, "corrupt or truncated"),
    Case("array-not-in-group", "advise {d}/g.zarr --array zz " + T,
         lambda d: advise(d, "g.zarr", array="zz"), InvalidArgumentError, r"\['a', 'b'\].*'zz'"),
    Case("group-needs-array-name", "advise {d}/g.zarr " + T,
         lambda d: advise(d, "g.zarr"), InvalidArgumentError, "array name .array= / --array NAME"),
    Case("empty-group", "advise {d}/empty_group.zarr " + T,
         lambda d: advise(d, "empty_group.zarr"), InvalidArgumentError,
         "data array .* in the group at .*Got no arrays"),
    Case("array-name-on-plain-array", A + " --array x",
         lambda d: advise(d, array="x"), InvalidArgumentError,
         "Expected a group for array= / --array 'x'"),
    Case("zero-length-axis", "advise {d}/empty.zarr " + T,
         lambda d: advise(d, "empty.zarr"), InvalidArgumentError, "zero-length axis"),
    Case("zero-d-array", "advise {d}/scalar.zarr " + T,
         lambda d: advise(d, "scalar.zarr"), InvalidArgumentError, "at least one axis"),
    Case("string-dtype-zarr", "advise {d}/str.zarr " + T,
         lambda d: advise(d, "str.zarr"), UnsupportedDtypeError, "fixed item size"),
    Case("string-dtype-netcdf", "advise {d}/x.nc --variable s " + T,
         lambda d: advise(d, "x.nc", variable="s"), UnsupportedDtypeError, "fixed item size"),
    Case("netcdf-variable-missing", "advise {d}/x.nc --variable nope " + T,
         lambda d: advise(d, "x.nc", variable="nope"), InvalidArgumentError, "Got 'nope'"),
    Case("netcdf-missing", "advise {d}/nope.nc " + T,
         lambda d: advise(d, "nope.nc"), StoreNotFoundError, "does not exist"),
    Case("netcdf-garbage", "advise {d}/garbage.nc " + T,
         lambda d: advise(d, "garbage.nc"), StoreReadError, "HDF5 signature"),
    Case("netcdf-truncated-file", "advise {d}/half.nc " + T,
         lambda d: advise(d, "half.nc"), StoreReadError, "readable HDF5 file.*truncated file"),
    Case("netcdf-corrupt-chunks", "advise {d}/badchunks.nc " + T,
         lambda d: advise(d, "badchunks.nc"), StoreReadError, "corrupt or truncated"),
    Case("netcdf3-classic", "advise {d}/cdf3.nc " + T,
         lambda d: advise(d, "cdf3.nc"), StoreReadError, "netCDF3 classic"),
    # --- axes ----------------------------------------------------------------------------
    Case("keep-whole-out-of-range", A + " --keep-whole 2",
         lambda d: advise(d, keep_whole=2), InvalidArgumentError, r"keep_whole axis in range"),
    Case("keep-whole-unknown-dim", A + " --keep-whole time",
         lambda d: advise(d, keep_whole="time"), InvalidArgumentError,
         "keep_whole as axis numbers: this array has no dimension names"),
    Case("depth-out-of-range", A + " --depth 5:2",
         lambda d: advise(d, depth={5: 2}), InvalidArgumentError, "depth axis in range"),
    Case("depth-repeated-axis", A + " --depth 0:5 --depth 0:6",
         lambda d: advise(d, depth={0: 5, -2: 6}), InvalidArgumentError, "axis at most once",
         cli_match="each axis once in --depth"),
    Case("depth-unknown-dim", A + " --depth time:2",
         lambda d: advise(d, depth={"time": 2}), InvalidArgumentError,
         "depth as axis numbers: this array has no dimension names"),
    Case("depth-negative", A + " --depth -1",
         lambda d: advise(d, depth=-1), InvalidArgumentError, "non-negative int depth"),
    Case("depth-malformed", A + " --depth x:y",
         lambda d: advise(d, depth="x:y"), InvalidArgumentTypeError, "depth as an int",
         cli_match="integer for --depth. Got 'y'"),
    Case("drop-axis-out-of-range", A + " --drop-axis 3",
         lambda d: advise(d, drop_axis=3), InvalidArgumentError, "drop_axis axis in range"),
    # --- the user's function ---------------------------------------------------------------
    Case("func-missing-module", A + " --func no_such_module_xyz:f",
         lambda d: advise(d, func=load_callable("no_such_module_xyz:f")), FunctionLoadError,
         "importable module 'no_such_module_xyz'"),
    Case("func-missing-file", A + " --func {d}/nofile.py:f",
         lambda d: advise(d, func=load_callable(f"{d}/nofile.py:f")), FunctionLoadError,
         "nofile.py'. It does not exist"),
    Case("func-missing-attribute", A + " --func {d}/userfuncs.py:nope",
         lambda d: advise(d, func=fn(d, "nope")), FunctionLoadError, "to define 'nope'"),
    Case("func-not-callable", A + " --func {d}/userfuncs.py:NOT_CALLABLE",
         lambda d: advise(d, func=fn(d, "NOT_CALLABLE")), FunctionLoadError,
         "to be callable. Got int"),
    Case("func-two-colons", A + " --func {d}/userfuncs.py:ok:extra",
         lambda d: advise(d, func=load_callable(f"{d}/userfuncs.py:ok:extra")), FunctionLoadError,
         "Expected one colon"),
    Case("pipeline-uses-xarray-methods", A + " --pipeline {d}/userfuncs.py:rolling",
         lambda d: advise(d, pipeline=fn(d, "rolling")), ProfilingError,
         r"no attribute 'rolling'.*wrap it: xr.DataArray"),
    Case("func-no-colon", A + " --func userfuncs",
         lambda d: advise(d, func=load_callable("userfuncs")), FunctionLoadError, "MODULE:FUNC"),
    Case("func-syntax-error", A + " --func {d}/syntax.py:f",
         lambda d: advise(d, func=load_callable(f"{d}/syntax.py:f")), FunctionLoadError,
         "SyntaxError"),
    Case("func-import-raises", A + " --func {d}/importboom.py:f",
         lambda d: advise(d, func=load_callable(f"{d}/importboom.py:f")), FunctionLoadError,
         "RuntimeError: import boom"),
    Case("func-raises", A + " --func {d}/userfuncs.py:boom",
         lambda d: advise(d, func=fn(d, "boom")), ProfilingError, "RuntimeError: user bug"),
    Case("func-returns-wrong-type", A + " --func {d}/userfuncs.py:wrong_type",
         lambda d: advise(d, func=fn(d, "wrong_type")), ProfilingError, "numpy array. Got str"),
    Case("func-returns-wrong-ndim", A + " --func {d}/userfuncs.py:wrong_ndim",
         lambda d: advise(d, func=fn(d, "wrong_ndim")), ProfilingError,
         r"2-d block.*drop_axis=.*Got shape \(\d+,\)"),
    Case("func-returns-scalar", A + " --func {d}/userfuncs.py:scalar",
         lambda d: advise(d, func=fn(d, "scalar")), ProfilingError, r"2-d block.*Got shape \(\)"),
    Case("func-hangs", A + " --func {d}/userfuncs.py:hang --profile-timeout 1",
         lambda d: advise(d, func=fn(d, "hang"), profile_timeout_s=1), ProfilingError,
         "timed out after 1.00 s"),
    Case("func-allocates-without-bound", A + " --memory-limit 400MiB "
         "--func {d}/userfuncs.py:unbounded",
         lambda d: advise(d, func=fn(d, "unbounded"), memory_limit="400MiB"), ProfilingError,
         "oom: .*give workers more memory"),
    Case("func-allocates-too-much-at-once", A + " --memory-limit 400MiB "
         "--func {d}/userfuncs.py:huge",
         lambda d: advise(d, func=fn(d, "huge"), memory_limit="400MiB"), ProfilingError,
         "oom: MemoryError"),
    Case("func-segfaults", A + " --func {d}/userfuncs.py:segfault",
         lambda d: advise(d, func=fn(d, "segfault")), ProfilingError, "SIGSEGV"),
    Case("profile-timeout-zero", A + " --profile-timeout 0",
         lambda d: advise(d, profile_timeout_s=0), InvalidArgumentError,
         "as a positive number of seconds"),
    # --- schedulers ----------------------------------------------------------------------
    Case("scheduler-unreachable", "advise {d}/a.zarr --scheduler tcp://127.0.0.1:1",
         lambda d: advise(d, scheduler="tcp://127.0.0.1:1"), SchedulerError,
         "reachable dask scheduler at tcp://127.0.0.1:1"),
    Case("scheduler-address-no-port", "advise {d}/a.zarr --scheduler tcp://127.0.0.1",
         lambda d: advise(d, scheduler="tcp://127.0.0.1"), SchedulerError,
         "address like 'tcp://127.0.0.1:8786'"),
    Case("scheduler-port-out-of-range", "advise {d}/a.zarr --scheduler tcp://127.0.0.1:99999",
         lambda d: advise(d, scheduler="tcp://127.0.0.1:99999"), SchedulerError, "address like"),
    Case("scheduler-unknown-name", "advise {d}/a.zarr --scheduler bogus",
         lambda d: advise(d, scheduler="bogus"), InvalidArgumentError, "Got 'bogus'"),
    Case("scheduler-address-with-workers", "advise {d}/a.zarr --scheduler tcp://127.0.0.1:1 "
         "--workers 2", lambda d: advise(d, scheduler="tcp://127.0.0.1:1", workers=2),
         InvalidArgumentError, "read from the running cluster"),
    # --- check ---------------------------------------------------------------------------
    Case("check-path-missing", "check {d}/nope.zarr",
         lambda d: chunkpilot.check(str(d / "nope.zarr")), StoreNotFoundError, "does not exist"),
    Case("check-corrupt-store", "check {d}/corrupt.zarr",
         lambda d: chunkpilot.check(str(d / "corrupt.zarr")), StoreReadError, "readable zarr"),
    Case("check-chunks-zero", "check {d}/a.zarr --chunks 0",
         lambda d: chunkpilot.check(str(d / "a.zarr"), chunks=0), InvalidArgumentError,
         "positive chunk lengths"),
    Case("check-chunks-negative", "check {d}/a.zarr --chunks=-5",
         lambda d: chunkpilot.check(str(d / "a.zarr"), chunks=-5), InvalidArgumentError,
         "positive chunk lengths"),
    Case("check-chunks-unknown-dim", "check {d}/a.zarr --chunks x=5",
         lambda d: chunkpilot.check(str(d / "a.zarr"), chunks={"x": 5}), InvalidArgumentError,
         r"keyed by axes 0..1 \(the array has no dimension names\). Got \['x'\]"),
    Case("check-chunks-wrong-ndim", "check {d}/a.zarr --chunks 1,2,3",
         lambda d: chunkpilot.check(str(d / "a.zarr"), chunks=(1, 2, 3)), InvalidArgumentError,
         r"chunks for shape \(256, 256\)"),
    Case("check-chunks-garbage", "check {d}/a.zarr --chunks a,b",
         lambda d: chunkpilot.check(str(d / "a.zarr"), chunks="a,b"), InvalidArgumentError,
         r"chunks for shape \(256, 256\)", cli_match="--chunks like 24,-1,40"),
    Case("check-workers-zero", "check {d}/a.zarr --workers 0",
         lambda d: chunkpilot.check(str(d / "a.zarr"), workers=0), InvalidArgumentError,
         "workers greater than zero"),
    Case("check-size-unit", "check {d}/a.zarr --memory-limit 4gigs",
         lambda d: chunkpilot.check(str(d / "a.zarr"), memory_limit="4gigs"), InvalidSizeError,
         "memory_limit like"),
    Case("check-array-not-in-group", "check {d}/g.zarr --array zz",
         lambda d: chunkpilot.check(str(d / "g.zarr"), array="zz"), InvalidArgumentError, "'zz'"),
    # --- tune and demo: refused before any cluster starts ------------------------------------
    Case("tune-max-trials-zero", "tune {d}/a.zarr --max-trials 0",
         lambda d: chunkpilot.tune(str(d / "a.zarr"), max_trials=0), InvalidArgumentError,
         "max_trials >= 1"),
    Case("tune-trial-timeout-zero", "tune {d}/a.zarr --trial-timeout 0",
         lambda d: chunkpilot.tune(str(d / "a.zarr"), trial_timeout_s=0), InvalidArgumentError,
         "as a positive number of seconds"),
    Case("tune-unknown-scheduler", "tune {d}/a.zarr --scheduler nope",
         lambda d: chunkpilot.tune(str(d / "a.zarr"), scheduler="nope"), InvalidArgumentError,
         "Expected scheduler"),
    Case("tune-synchronous-scheduler", "tune {d}/a.zarr --scheduler sync",
         lambda d: chunkpilot.tune(str(d / "a.zarr"), scheduler="synchronous"),
         InvalidArgumentError, "tune"),
    Case("tune-report-dir-missing", "tune {d}/a.zarr --report {d}/no/such/dir/r.html",
         lambda d: chunkpilot.tune(str(d / "a.zarr"), report=str(d / "no/such/dir/r.html")),
         InvalidArgumentError, "existing, writable directory"),
    Case("tune-memory-below-one-storage-chunk", "tune {d}/bigchunk.zarr --workers 1 "
         "--threads-per-worker 1 --memory-limit 3MiB",
         lambda d: chunkpilot.tune(str(d / "bigchunk.zarr"), workers=1, threads_per_worker=1,
                                   memory_limit="3MiB"), NoFeasiblePlanError, "one storage chunk"),
    # before: workers died while idle (an internal error, exit 1) at 100 MB; 30 MB hung
    Case("local-cluster-memory-too-small", "advise {d}/a.zarr --workers 1 --memory-limit 100MB",
         lambda d: chunkpilot.advise(str(d / "a.zarr"), workers=1, memory_limit="100MB"),
         InvalidArgumentError, "at least 256.00 MiB per worker for a LocalCluster"),
    Case("tune-path-missing", "tune {d}/nope.zarr",
         lambda d: chunkpilot.tune(str(d / "nope.zarr")), StoreNotFoundError, "does not exist"),
    Case("demo-dir-is-a-file", "demo --quick --dir {d}/text.txt",
         lambda d: _demo(d / "text.txt"), InvalidArgumentError, "--dir as a directory"),
    Case("demo-report-dir-missing", "demo --quick --report {d}/no/such/dir/r.html",
         lambda d: _demo(None, report=str(d / "no/such/dir/r.html")), InvalidArgumentError,
         "existing, writable directory"),
    # --- issue 17: outputs, bounds, parsing, protocols, user code, dtypes --------------------
    Case("tune-report-overwrites-the-input", "tune {d}/a.zarr --report {d}/a.zarr/zarr.json",
         lambda d: chunkpilot.tune(str(d / "a.zarr"), report=str(d / "a.zarr/zarr.json")),
         OutputPathError, "inside the input"),
    Case("tune-report-empty", "tune {d}/a.zarr --report ''",
         lambda d: chunkpilot.tune(str(d / "a.zarr"), report=""), OutputPathError,
         "report as a file path"),
    Case("tune-report-proc", "tune {d}/a.zarr --report /proc/x.html",
         lambda d: chunkpilot.tune(str(d / "a.zarr"), report="/proc/x.html"), OutputPathError,
         "cannot be created"),
    Case("tune-report-a-directory", "tune {d}/a.zarr --report {d}/notastore",
         lambda d: chunkpilot.tune(str(d / "a.zarr"), report=str(d / "notastore")),
         OutputPathError, "existing directory"),
    Case("tune-report-a-user-file", "tune {d}/a.zarr --report {d}/text.txt",
         lambda d: chunkpilot.tune(str(d / "a.zarr"), report=str(d / "text.txt")),
         OutputPathError, "not a chunkpilot report"),
    Case("workers-10000", "tune {d}/a.zarr --workers 10000",
         lambda d: chunkpilot.tune(str(d / "a.zarr"), workers=10000), ResourceLimitError,
         r"workers \(--workers\) at most \d+"),
    Case("workers-huge", "advise {d}/a.zarr --workers 99999999999999999999",
         lambda d: advise(d, workers=99999999999999999999, scheduler="local"),
         ResourceLimitError, r"--workers\) at most .*Got 99999999999999999999"),
    Case("threads-huge", "check {d}/a.zarr --threads-per-worker 99999999999999999999",
         lambda d: chunkpilot.check(str(d / "a.zarr"), threads_per_worker=99999999999999999999),
         ResourceLimitError, r"--threads-per-worker\) at most"),
    Case("check-chunks-empty-item", "check {d}/a.zarr --chunks 5,,5",
         lambda d: chunkpilot.check(str(d / "a.zarr"), chunks=(5, None, 5)),
         InvalidArgumentError, "chunks", cli_match="without empty items"),
    Case("check-chunks-trailing-comma", "check {d}/a.zarr --chunks 5,",
         lambda d: chunkpilot.check(str(d / "a.zarr"), chunks="5,"), InvalidArgumentError,
         "chunks", cli_match="without empty items"),
    Case("check-chunks-repeated-dim", "check {d}/a.zarr --chunks 0=5,0=6",
         lambda d: chunkpilot.check(str(d / "a.zarr"), chunks={0: 5, -2: 6}),
         InvalidArgumentError, "at most once", cli_match="each dimension once"),
    Case("check-chunks-same-axis-twice", "check {d}/a.zarr --chunks 0=5,-2=6",
         lambda d: chunkpilot.check(str(d / "a.zarr"), chunks={0: 5, -2: 6}),
         InvalidArgumentError, "names axis 0 twice"),
    Case("depth-larger-than-the-array", A + " --depth 1000",
         lambda d: advise(d, depth=1000), InvalidArgumentError,
         r"depth at most the axis length \(256\)"),
    Case("depth-huge", A + " --depth 0:99999999999999999999",
         lambda d: advise(d, depth={0: 99999999999999999999}), InvalidArgumentError,
         r"depth at most the axis length"),
    Case("keep-whole-fraction", A + " --keep-whole 0.5",
         lambda d: advise(d, keep_whole=0.5), InvalidArgumentTypeError, "keep_whole",
         cli_match="keep_whole as axis numbers: this array has no dimension names"),
    Case("drop-axis-bool", A + " --drop-axis 1.0",
         lambda d: advise(d, drop_axis=[True]), InvalidArgumentTypeError, "drop_axis",
         cli_match="drop_axis as axis numbers"),
    Case("structured-dtype", "advise {d}/struct.zarr " + T,
         lambda d: advise(d, "struct.zarr"), UnsupportedDtypeError, "structured dtype"),
    Case("check-structured-dtype", "check {d}/struct.zarr",
         lambda d: chunkpilot.check(str(d / "struct.zarr")), UnsupportedDtypeError,
         "select one"),
    Case("scheduler-tls-without-credentials", "advise {d}/a.zarr --scheduler tls://127.0.0.1:1",
         lambda d: advise(d, scheduler="tls://127.0.0.1:1"), UnsupportedProtocolError,
         "TLS credentials"),
    Case("scheduler-ucx", "tune {d}/a.zarr --scheduler ucx://127.0.0.1:1",
         lambda d: chunkpilot.tune(str(d / "a.zarr"), scheduler="ucx://127.0.0.1:1"),
         UnsupportedProtocolError, "ucx needs the distributed-ucxx package"),
    Case("scheduler-unknown-protocol", "advise {d}/a.zarr --scheduler udp://127.0.0.1:1",
         lambda d: advise(d, scheduler="udp://127.0.0.1:1"), UnsupportedProtocolError,
         "Got udp://"),
    Case("func-sys-exit-at-import", A + " --func {d}/exits.py:f",
         lambda d: advise(d, func=load_callable(f"{d}/exits.py:f")), FunctionLoadError,
         r"sys\.exit\(0\) at import"),
    Case("func-os-exit-at-import", A + " --func {d}/hardexit.py:f",
         lambda d: advise(d, func=load_callable(f"{d}/hardexit.py:f")), FunctionLoadError,
         r"os\._exit\(0\) at import"),
    Case("func-base-exception-at-import", A + " --func {d}/stops.py:f",
         lambda d: advise(d, func=load_callable(f"{d}/stops.py:f")), FunctionLoadError,
         "Stop: halt"),
    Case("func-directory-as-file", A + " --func {d}/pkg.py:f",
         lambda d: advise(d, func=load_callable(f"{d}/pkg.py:f")), FunctionLoadError,
         "Got a directory"),
    Case("demo-dir-inside-a-store", "demo --quick --dir {d}/a.zarr/sub",
         lambda d: _demo(d / "a.zarr" / "sub"), OutputPathError, "outside the inputs and zarr"),
    Case("demo-report-proc", "demo --quick --report /proc/demo.html",
         lambda d: _demo(None, report="/proc/demo.html"), OutputPathError, "cannot be created"),
]


def _demo(directory: Path | None, report: str = "r.html") -> None:
    from chunkpilot.commands.demo import run_demo

    run_demo(str(directory) if directory else None, quick=True, report=report)


@pytest.fixture(scope="module")
def inputs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("bad-inputs")
    _write_inputs(d)
    return d


@pytest.fixture
def private_dirs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, Path]:
    """A private temp dir and cwd, so 'nothing left behind' is not confused by other runs."""
    tmp, cwd = tmp_path / "tmp", tmp_path / "cwd"
    tmp.mkdir()
    cwd.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(tmp))
    monkeypatch.chdir(cwd)
    return tmp, cwd


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_api(case: Case, inputs: Path, private_dirs: tuple[Path, Path],
             monkeypatch: pytest.MonkeyPatch) -> None:
    # an unreachable scheduler is refused after chunkpilot.cluster.connect-timeout (10 s)
    with dask.config.set({"chunkpilot.cluster.connect-timeout": "2s"}), \
            pytest.raises(case.error, match=case.match):
        case.api(inputs)
    for d in private_dirs:
        assert list(d.iterdir()) == [], f"left behind in {d}"


@pytest.fixture(scope="module")
def cli_results(inputs: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """Run every CLI case once: the real console entry point, each case in its own process
    with its own cwd and TMPDIR, forked from one interpreter that imported the CLI
    (``tests/helpers/cli_fork.py``), a few at a time."""
    return run_forked({c.id: shlex.split(c.cli.format(d=inputs)) for c in CASES},
                      tmp_path_factory.mktemp("cli-runs"), parallel=CLI_PARALLEL,
                      env=FAST_CONNECT_ENV)


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_cli(case: Case, cli_results: dict[str, Any]) -> None:
    r, root = cli_results[case.id]
    assert r.returncode == 2, (r.stdout[-1000:], r.stderr[-3000:])
    assert "Traceback" not in r.stderr, r.stderr[-3000:]
    lines = r.stderr.splitlines()
    assert len(lines) == 1, r.stderr[-3000:]
    assert lines[0].startswith("chunkpilot: error: ")
    assert re.search(case.cli_match or case.match, lines[0]), lines[0]
    for sub in ("tmp", "cwd"):
        assert list((root / sub).iterdir()) == [], f"left behind in {sub}"


def test_matrix_size() -> None:
    assert len(CASES) >= 40
    assert len({c.id for c in CASES}) == len(CASES)
