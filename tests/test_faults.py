"""Faults: crashes and OOMs in the sandbox, a worker killed mid-trial, Ctrl-C, damaged stores.

Real subprocesses and real LocalClusters throughout. No durations are asserted: 30 s
(or more) is a generous timeout for "promptly", not a measurement.
"""

from __future__ import annotations

import contextlib
import ctypes
import dataclasses
import logging
import os
import re
import signal
import subprocess
import threading
import time
from pathlib import Path
from typing import Any

import dask.array as da
import numpy as np
import psutil
import pytest
import zarr

import chunkpilot
from chunkpilot.core.evaluate import evaluate
from chunkpilot.core.model import CostModel, LinearFit
from chunkpilot.core.plan import make_plan
from chunkpilot.errors import SampleFailedWarning, StoreReadError
from chunkpilot.sources.describe import describe
from chunkpilot.types import Resources, WorkSpec
from tests.helpers.cli_runs import CLI
from tests.helpers.processes import alive as _alive
from tests.helpers.processes import wait_for as _wait_for

MiB = 2**20
#: Generous bound for "exits promptly" after Ctrl-C (a timeout, not a timing assertion).
PROMPT_S = 30


# --- a function that fails only on larger blocks: a finding, and the plan steers around ---

def _hungry_when_big(block: np.ndarray) -> np.ndarray:
    """Fine up to 4 MiB; beyond that it wants 100x the block (more than the memory limit)."""
    if block.nbytes > 4 * MiB:
        junk = np.ones(block.size * 100)
        return junk[: block.size].reshape(block.shape)
    return block * 2


def _segfault_when_big(block: np.ndarray) -> np.ndarray:
    if block.nbytes > 4 * MiB:
        ctypes.string_at(0)
    return block * 2


@pytest.mark.parametrize(
    ("func", "finding"),
    [
        (_hungry_when_big, r"Finding: the function needs more than 512\.00 MiB per block of "),
        (_segfault_when_big, r"Finding: the function fails on a block of .*SIGSEGV"),
    ],
    ids=["oom-on-big-blocks", "segfault-on-big-blocks"],
)
def test_failure_on_big_blocks_is_a_finding_and_the_plan_steers_around_it(func, finding):
    x = da.zeros((4096, 4096), chunks=(4096, 4096))  # 128 MiB, synthetic samples
    with pytest.warns(SampleFailedWarning, match="failed"):
        plan = chunkpilot.advise(x, func, scheduler="threads", threads_per_worker=2,
                                 memory_limit="512MiB")
    failed = [s for s in plan.model.samples if not s.ok]
    assert failed, plan.model.samples
    smallest_failure = min(s.nbytes for s in failed)
    assert smallest_failure > 4 * MiB
    assert plan.model.max_ok_bytes is not None and plan.model.max_ok_bytes <= smallest_failure
    # the plan stays at or below the largest size that ran, and says why
    ran = max(s.nbytes for s in plan.model.samples if s.ok and s.nbytes < smallest_failure)
    assert plan.chosen.task_bytes <= ran < smallest_failure
    assert any(re.search(finding, n) for n in plan.notes), plan.notes
    assert re.search(finding, plan.explain())  # the finding is part of the explanation
    assert plan.to_dict()["measured"]["samples"]


# --- a damaged store: missing chunks are fill values, truncated chunks a StoreReadError ---

@pytest.fixture(scope="module")
def damaged(tmp_path_factory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("damaged")
    out = {}
    for name in ("missing", "truncated"):
        path = d / f"{name}.zarr"
        z = zarr.create_array(str(path), shape=(512, 512), chunks=(64, 64), dtype="float64")
        z[:] = np.random.default_rng(0).standard_normal((512, 512))
        out[name] = path
    for p in (out["missing"] / "c").rglob("*"):
        if p.is_file() and p.parent.name in ("0", "1"):  # some chunks gone
            p.unlink()
    first = out["truncated"] / "c" / "0" / "0"  # only the first chunk: trials read it, the
    first.write_bytes(first.read_bytes()[:10])  # profiler's centre samples do not
    return out


def test_missing_chunks_read_as_fill_values(damaged):
    """zarr's rule: an absent chunk is the fill value. The store is valid; advice works."""
    plan = chunkpilot.advise(str(damaged["missing"]), scheduler="threads")
    assert plan.chunks and all(s.ok for s in plan.model.samples)


def _plan_for(path: Path, chunk: tuple[int, ...], res: Resources):
    """A plan without profiling (tune then only runs trials)."""
    spec, _ = describe(str(path))
    model = CostModel(LinearFit(1e-3, 5e-9, 1.0), LinearFit(10 * MiB, 2.0, 1.0), 1e-3,
                      baseline_bytes=100 * MiB)
    plan = make_plan(spec, WorkSpec(2), res, model)
    return dataclasses.replace(plan, chosen=evaluate(chunk, spec, WorkSpec(2), res, model))


@pytest.mark.cluster
def test_truncated_chunk_in_a_trial_is_a_store_read_error(damaged):
    res = Resources(1, 1, 1024 * MiB, "local")
    plan = _plan_for(damaged["truncated"], (128, 128), res)
    with pytest.raises(StoreReadError, match=r"truncated\.zarr.*corrupt or truncated"):
        chunkpilot.tune(str(damaged["truncated"]), workers=1, threads_per_worker=1,
                        memory_limit="1GiB", plan=plan, whole=True, max_trials=2)


def test_truncated_chunk_in_profiling_is_a_store_read_error(damaged, tmp_path):
    """The centre samples miss chunk (0, 0), so truncate every chunk for the profiler."""
    import shutil

    path = tmp_path / "all-truncated.zarr"
    shutil.copytree(damaged["missing"].parent / "truncated.zarr", path)
    for p in (path / "c").rglob("*"):
        if p.is_file():
            p.write_bytes(p.read_bytes()[:10])
    with pytest.raises(StoreReadError, match="corrupt or truncated"):
        chunkpilot.advise(str(path), scheduler="threads")


# --- a worker killed in the middle of a tuning trial ---------------------------------------

@pytest.mark.cluster
def test_worker_killed_during_a_trial_is_survived(tmp_path):
    from distributed import Client, LocalCluster

    from chunkpilot.loader import load_callable

    # loaded from a FILE.py, as --func does: workers cannot import that module by name
    (tmp_path / "slowblock.py").write_text(
        "import time\ndef slow_block(b):\n    time.sleep(0.05)\n    return b\n")
    slow_block = load_callable(f"{tmp_path / 'slowblock.py'}:slow_block")
    path = tmp_path / "x.zarr"
    z = zarr.create_array(str(path), shape=(1024, 1024), chunks=(64, 64), dtype="float64")
    z[:] = 1.0
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, memory_limit="1GiB",
                      host="127.0.0.1", dashboard_address="127.0.0.1:0",
                      silence_logs=logging.CRITICAL) as cluster, \
            Client(cluster, set_as_default=False) as client:
        pids = client.run(os.getpid)
        killed: list[int] = []
        stop = threading.Event()

        def n_tasks(dask_scheduler=None) -> int:
            return len(dask_scheduler.tasks)

        def killer() -> None:  # kill one worker as soon as the first trial is running
            while not stop.is_set():
                busy = [w for w, keys in client.processing().items() if keys]
                # the trial has hundreds of tasks; tune's warm-up run only a handful
                if busy and client.run_on_scheduler(n_tasks) > 50:
                    killed.append(pids[busy[0]])
                    os.kill(pids[busy[0]], signal.SIGKILL)
                    return
                time.sleep(0.02)

        t = threading.Thread(target=killer, daemon=True)
        t.start()
        try:
            res = Resources(2, 1, 1024 * MiB, "local")
            plan = _plan_for(path, (64, 64), res)  # 256 tasks of 50 ms: a few seconds
            trials: list[Any] = []
            result = chunkpilot.tune(str(path), slow_block, client=client, plan=plan,
                                     whole=True, max_trials=3, trial_timeout_s=120,
                                     on_trial=trials.append)
        except Exception:
            print([(t.label, t.observation.restarts, t.observation.error, t.observation.erred_tasks,
                    t.observation.timed_out, t.observation.killed_worker) for t in trials])
            raise
        finally:
            stop.set()
            t.join(5)
        assert killed, "the killer never saw a running trial"
        first = result.trials[0].observation
        assert first.restarts >= 1 or first.error, first  # the kill is recorded
        assert len(result.trials) >= 2  # and tuning went on
        assert any(not t.observation.error for t in result.trials[1:]), result.trials
        assert result.chunk_shape
        client.wait_for_workers(2, timeout=60)  # the cluster is whole again
        assert len(client.scheduler_info()["workers"]) == 2
        assert client.submit(sum, [1, 2]).result(timeout=60) == 3


# --- Ctrl-C during profiling (during tuning: tests/reliability/test_signals.py) -------------

SLOW_FUNCS = """\
import time
def very_slow(b):
    time.sleep(120)
    return b
"""


@pytest.fixture(scope="module")
def slow_store(tmp_path_factory) -> tuple[Path, Path]:
    d = tmp_path_factory.mktemp("sigint")
    path = d / "s.zarr"
    z = zarr.create_array(str(path), shape=(512, 512), chunks=(128, 128), dtype="float64")
    z[:] = 1.0
    funcs = d / "slowfuncs.py"
    funcs.write_text(SLOW_FUNCS)
    return path, funcs


def _descendants(pid: int) -> list[psutil.Process]:
    with contextlib.suppress(psutil.Error):
        return psutil.Process(pid).children(recursive=True)
    return []


def _mentions(p: psutil.Process, needle: str) -> bool:
    with contextlib.suppress(psutil.Error):
        return needle in " ".join(p.cmdline())
    return False


def _interrupt_and_check(proc: subprocess.Popen, tmp: Path) -> str:
    """Ctrl-C as a terminal sends it (to the whole process group); check nothing survives."""
    family = _descendants(proc.pid)
    assert family, "the CLI had no child processes when interrupted"
    os.killpg(proc.pid, signal.SIGINT)
    try:
        _, err = proc.communicate(timeout=PROMPT_S)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate()
        pytest.fail(f"the CLI did not exit within {PROMPT_S} s of Ctrl-C")
    assert proc.returncode == 130, err[-3000:]
    assert "chunkpilot: interrupted" in err
    assert _wait_for(lambda: not any(_alive(p) for p in family), 15), [
        (p.pid, p.cmdline()) for p in family if _alive(p)]
    # the sandbox's argv names its job file under this test's TMPDIR
    strays = [p for p in psutil.process_iter() if _mentions(p, str(tmp)) and _alive(p)]
    assert not strays, strays
    leftovers = [p.name for p in (tmp / "tmp").iterdir() if p.name.startswith("chunkpilot-")]
    assert not leftovers, leftovers
    return err


def _start(args: list[str], tmp: Path) -> subprocess.Popen:
    (tmp / "tmp").mkdir(exist_ok=True)
    (tmp / "markers").mkdir(exist_ok=True)
    env = {**os.environ, "TMPDIR": str(tmp / "tmp"), "PYTHONWARNINGS": "ignore",
           "CHUNKPILOT_TEST_MARKERS": str(tmp / "markers")}
    return subprocess.Popen([*CLI, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env=env, cwd=tmp, start_new_session=True)


def test_ctrl_c_during_profiling(slow_store, tmp_path):
    path, funcs = slow_store
    proc = _start(["advise", str(path), "--func", f"{funcs}:very_slow", "--scheduler", "threads",
                   "--profile-timeout", "300"], tmp_path)
    try:
        started = _wait_for(lambda: any(_mentions(p, "chunkpilot.measure.child")
                                        for p in _descendants(proc.pid)), 60)
        assert started, "profiling never started"
        _interrupt_and_check(proc, tmp_path)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.communicate()
