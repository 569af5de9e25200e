"""Tuning on real clusters: tiny chunks move up, huge chunks move down, addresses work."""

from __future__ import annotations

import dataclasses
import json
import logging
import math
import os
import socket
import subprocess
import sys
import time

import cloudpickle
import dask
import numpy as np
import pytest
import zarr

from chunkpilot.commands.tune import tune
from chunkpilot.core.evaluate import evaluate
from chunkpilot.core.model import CostModel, LinearFit
from chunkpilot.core.plan import make_plan
from chunkpilot.examples import elementwise, hungry_filter
from chunkpilot.sources.describe import describe
from chunkpilot.types import Resources, WorkSpec
from tests.helpers.cli_runs import CLI

pytestmark = pytest.mark.cluster
MiB = 2**20
cloudpickle.register_pickle_by_value(sys.modules[__name__])  # test functions go to workers by value


def _store(tmp_path_factory, storage_chunks):
    path = tmp_path_factory.mktemp("tune") / "x.zarr"
    z = zarr.create_array(str(path), shape=(2048, 2048), chunks=storage_chunks, dtype="float64")
    z[:] = np.random.default_rng(1).standard_normal((2048, 2048))
    return path


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    return _store(tmp_path_factory, (64, 64))


@pytest.fixture(scope="module")
def coarse_store(tmp_path_factory):
    """The same data in 256 x 256 storage chunks, for tests that profile and do not need
    ``store``'s small ones: reading 64 x 64 storage chunks took ~4.5 s of every advise."""
    return _store(tmp_path_factory, (256, 256))


def _forced_plan(store, chunk, res, mult=7.0):
    """A plan that starts from a deliberately bad chunk shape (as a user's guess would)."""
    spec, _ = describe(store)
    model = CostModel(LinearFit(1e-3, 5e-9, 1.0), LinearFit(20 * MiB, mult, 1.0), 1e-3,
                      baseline_bytes=100 * MiB)
    plan = make_plan(spec, WorkSpec(2), res, model)
    return dataclasses.replace(plan, chosen=evaluate(chunk, spec, WorkSpec(2), res, model))


@pytest.mark.timing  # diagnoses and regions follow measured times
def test_too_small_start_is_diagnosed_and_moves_bigger(store, caplog):
    caplog.set_level(logging.INFO, logger="chunkpilot")
    res = Resources(2, 1, 2048 * MiB, "local")
    plan = _forced_plan(store, (64, 64), res, mult=2.0)  # 1024 tasks of 32 KiB
    result = tune(str(store), elementwise, workers=2, threads_per_worker=1, memory_limit="2GiB",
                  plan=plan, max_trials=4, whole=True)
    first = result.trials[0]
    assert "too_small" in {v.kind for v in first.verdicts}, first.verdicts
    assert math.prod(result.chunk_shape) > 64 * 64
    assert len(result.trials) <= 4
    assert "Dashboard: http://127.0.0.1:" in caplog.text  # the LocalCluster tune started


def hungry_and_slow(block):
    """hungry_filter's temporaries, held for a moment on the whole-array block so memory
    sampling cannot miss them; smaller blocks hold them briefly (the test asserts nothing of
    their memory: 0.3 s a block there was ~8 s of this test run alone)."""
    out = hungry_filter(block)
    held = [block * 1.0 for _ in range(3)]
    time.sleep(0.5 if block.nbytes > 8 * MiB else 0.05)
    return out + held[0] * 0


@pytest.mark.timing  # diagnoses and regions follow measured times
def test_too_big_start_is_diagnosed_and_moves_smaller(store, tmp_path):
    res = Resources(1, 1, 300 * MiB, "local")
    plan = _forced_plan(store, (2048, 2048), res)  # the whole 32 MiB array x ~7 in one task
    report = tmp_path / "r.html"
    result = tune(str(store), hungry_and_slow, workers=1, threads_per_worker=1,
                  memory_limit="300MiB", plan=plan, max_trials=4, whole=True, report=str(report),
                  trial_timeout_s=90)
    first = result.trials[0]
    assert "too_big" in {v.kind for v in first.verdicts}, first.verdicts
    assert math.prod(result.chunk_shape) < 2048 * 2048
    final = [t for t in result.trials if not (t.observation.restarts or t.observation.error)]
    assert final, "some trial must have run cleanly"
    assert report.exists() and "<html" in report.read_text()[:500].lower()
    applied = report.read_text().split('<pre class="apply">')[1].split("</pre>")[0]
    assert str(tuple(result.chunk_shape)) in applied, applied  # the tuned chunks, not advised
    d = result.to_dict()
    assert {"chunk_shape", "chunks", "chunks_by_dim", "advised_chunk_shape", "trials",
            "verdicts", "explanation", "report"} <= set(d)
    assert d["chunk_shape"] == list(result.chunk_shape)
    assert [sum(ax) for ax in d["chunks"]] == [2048, 2048]
    assert {"chunk_shape", "chunks", "wall_seconds", "task_count", "peak_worker_memory_bytes",
            "spilled_bytes", "restarts", "verdicts"} <= set(d["trials"][0])
    assert result.explain().startswith(f"Tuned chunks {result.chunk_shape}")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_tune_through_a_scheduler_address_with_cli(coarse_store, tmp_path):
    port = _free_port()
    address = f"tcp://127.0.0.1:{port}"
    env = {**os.environ, "PYTHONWARNINGS": "ignore"}
    dask_cli = [sys.executable, "-m", "distributed.cli.dask_scheduler"]
    sched = subprocess.Popen([*dask_cli, "--host", "127.0.0.1", "--port", str(port),
                              "--dashboard-address", "127.0.0.1:0"], env=env,
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    worker = subprocess.Popen([sys.executable, "-m", "distributed.cli.dask_worker", address,
                               "--nthreads", "1", "--memory-limit", "1GiB", "--host", "127.0.0.1",
                               "--no-dashboard"], env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        from distributed import Client

        with Client(address, timeout="30s") as c:
            c.wait_for_workers(1, timeout=60)
        r = subprocess.run([*CLI, "tune", str(coarse_store), "--scheduler", address,
                            "--max-trials", "2", "--json", "--report",
                            str(tmp_path / "addr.html")],
                           capture_output=True, text=True, timeout=300, env=env)
        assert r.returncode == 0, r.stderr[-2000:]
        d = json.loads(r.stdout)
        assert d["plan"]["scheduler"] == address
        assert d["plan"]["resources"]["workers"] == 1
        assert 1 <= len(d["trials"]) <= 2
        assert d["report"] and os.path.exists(d["report"])
    finally:
        for p in (worker, sched):
            p.terminate()
        for p in (worker, sched):
            try:
                p.wait(timeout=20)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
        time.sleep(0.5)


def test_tune_xarray_netcdf_by_dim_name(tmp_path):
    xr = pytest.importorskip("xarray")
    pytest.importorskip("h5netcdf")
    data = np.random.default_rng(0).standard_normal((64, 90, 180)).astype("f4")
    path = tmp_path / "clim.nc"
    xr.Dataset({"tas": (("time", "lat", "lon"), data)}).to_netcdf(
        path, engine="h5netcdf", encoding={"tas": {"chunksizes": (16, 45, 90), "zlib": True}})
    with xr.open_dataset(path, chunks={}, engine="h5netcdf") as ds:
        result = tune(ds, hungry_filter, variable="tas", keep_whole="time", workers=1,
                      threads_per_worker=2, memory_limit="1GiB", max_trials=2)
    assert result.chunk_shape[0] == 64  # time kept whole in every trial
    assert all(max(t.chunks[0]) == 64 for t in result.trials)
    assert result.plan.chunks_by_dim["time"] == 64
    assert not any(t.observation.error for t in result.trials)


def test_tune_on_the_threaded_scheduler(coarse_store):
    result = tune(str(coarse_store), elementwise, scheduler="threads", threads_per_worker=2,
                  memory_limit="4GiB", max_trials=3)
    assert result.trials and len(result.trials) <= 3
    assert all(t.observation.executor == "threads" for t in result.trials)
    assert all(t.observation.tasks for t in result.trials)
    assert result.plan.resources.scheduler == "threads"
    assert result.chunk_shape in {t.chunk_shape for t in result.trials}


@pytest.mark.timing  # diagnoses and regions follow measured times
def test_a_fast_plans_trials_cover_half_a_second_of_its_work(store):
    """A 512 KiB plan predicted at ~3.6 ms a task: 8 rounds on 2 threads are only 8 MiB (512
    of 2048 rows, ~30 ms of work); the 0.5 s floor asks for ~140 MiB, so the whole 32 MiB
    array is the trial region."""
    res = Resources(1, 2, 4096 * MiB, "threads")
    plan = _forced_plan(store, (256, 256), res, mult=2.0)
    result = tune(str(store), elementwise, scheduler="threads", threads_per_worker=2,
                  memory_limit="4GiB", plan=plan, max_trials=1)
    assert result.region == ((0, 2048), (0, 2048))
    assert all(sum(t.chunks[0]) == 2048 for t in result.trials)
    with dask.config.set({"chunkpilot.tune.min-trial-seconds": "1ms"}):  # 8 rounds alone
        result = tune(str(store), elementwise, scheduler="threads", threads_per_worker=2,
                      memory_limit="4GiB", plan=plan, max_trials=1)
    assert result.region == ((0, 512), (0, 2048))


def boom_in_trial(block):
    raise RuntimeError("boom in trial")


def test_every_trial_failing_still_writes_the_report_and_quotes_the_error(store, tmp_path):
    """Hunt 13: when every trial failed, tune raised TuningError with no report (docs/errors.md
    says to look at it), no --json document, and not the trials' own error."""
    from chunkpilot.errors import TuningError

    res = Resources(1, 2, 2048 * MiB, "threads")
    plan = _forced_plan(store, (256, 256), res)
    report = tmp_path / "failed.html"
    with pytest.raises(TuningError, match="the first error: .*boom in trial") as e:
        tune(str(store), boom_in_trial, scheduler="threads", threads_per_worker=2,
             memory_limit="2GiB", plan=plan, max_trials=2, report=report)
    assert e.value.trials and all(t.observation.failed for t in e.value.trials)
    assert e.value.report == str(report) and "boom in trial" in report.read_text()


def test_a_plan_for_another_array_or_other_options_is_refused(store, tmp_path):
    """Hunt 13: tune(plan=...) trusted the plan: keep_whole=(0,) with a plan made without it
    tuned (1000, 1500) chunks of a 4000-row axis; a plan for another array tuned its chunks
    on this one; a plan of another rank raised a bare ValueError from zip()."""
    from chunkpilot.errors import InvalidArgumentError

    res = Resources(1, 2, 2048 * MiB, "threads")
    plan = _forced_plan(store, (256, 256), res)
    kw = dict(scheduler="threads", threads_per_worker=2, memory_limit="2GiB", plan=plan)
    with pytest.raises(InvalidArgumentError, match=r"keep_whole=\[0\].*keep_whole=\[\]"):
        tune(str(store), elementwise, keep_whole=(0,), **kw)
    other = tmp_path / "other.zarr"
    zarr.create_array(str(other), shape=(512, 512, 2), chunks=(64, 64, 2), dtype="float64")
    with pytest.raises(InvalidArgumentError, match=r"this source \(\(512, 512, 2\) float64\)"):
        tune(str(other), elementwise, **kw)
