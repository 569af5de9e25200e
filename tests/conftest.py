"""Shared fixtures: no test may leave a child process behind."""

from __future__ import annotations

import contextlib
import os
import time

import cloudpickle
import dask.config
import psutil
import pytest

import tests
from tests.helpers.timing_gate import TimingGate

# Functions defined in test modules reach sandboxes and workers by value, as a notebook's do.
# By reference, every sandbox first imported the test module (pytest and all it imports):
# ~1 s a sample, minutes over the suite. Users' own modules are untouched (by reference).
cloudpickle.register_pickle_by_value(tests)


def pytest_configure(config: pytest.Config) -> None:
    config.pluginmanager.register(TimingGate(), "chunkpilot-timing-gate")


def _is_helper(p: psutil.Process) -> bool:
    """multiprocessing's resource tracker / forkserver live for the whole session by design."""
    try:
        cmd = " ".join(p.cmdline())
    except psutil.Error:
        return False
    return "resource_tracker" in cmd or "forkserver" in cmd


def _children() -> set[int]:
    return {p.pid for p in psutil.Process().children(recursive=True) if not _is_helper(p)}


@pytest.fixture(scope="session", autouse=True)
def _resource_tracker():
    """Start multiprocessing's resource tracker up front: it outlives every cluster by design."""
    from multiprocessing import resource_tracker

    resource_tracker.ensure_running()


@pytest.fixture(autouse=True)
def no_leaked_processes():
    """Fail a test that leaves child processes (clusters, sandboxes) running."""
    before = _children()
    yield
    deadline = time.monotonic() + 15
    leaked = _children() - before
    while leaked and time.monotonic() < deadline:
        time.sleep(0.2)
        leaked = {p for p in leaked if psutil.pid_exists(p) and _alive(p)}
    if leaked:
        for pid in leaked:
            with contextlib.suppress(psutil.NoSuchProcess):
                psutil.Process(pid).kill()
        pytest.fail(f"test left child processes running: {sorted(leaked)}")


@pytest.fixture(autouse=True)
def _nanny_environ_put_back():
    """A Nanny started by a test (a plain LocalCluster) sets its workers' malloc and BLAS
    variables in this process's ``os.environ``; put them back (as chunkpilot's own clusters
    do), so a later test's sandboxes do not depend on which tests ran before it. Imported
    here, not at the top: imported while conftest loads, ``cluster.connect`` left the
    ``chunkpilot`` logger's records out of ``caplog`` in test_tune (cause not found)."""
    from chunkpilot.cluster.connect import nanny_environ_kept

    with nanny_environ_kept():
        yield


def _alive(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


@pytest.fixture(scope="session", autouse=True)
def _probe_history(tmp_path_factory):
    """Overhead probes are pooled in a directory of this session, never the user's cache
    (in this process through dask config, in CLI subprocesses through the environment)."""
    directory = str(tmp_path_factory.mktemp("probe-history"))
    os.environ["DASK_CHUNKPILOT__PROBE__CACHE_DIR"] = directory
    dask.config.set({"chunkpilot.probe.cache-dir": directory})
    yield directory


@pytest.fixture(scope="session", autouse=True)
def _dask_scratch(tmp_path_factory):
    """Clusters the tests start themselves (``dask scheduler`` processes, LocalClusters without
    a ``local_directory``) keep their scratch space in this session's directory: distributed's
    default, ``/tmp/dask-scratch-space``, stayed behind after the suite."""
    directory = str(tmp_path_factory.mktemp("dask-scratch"))
    os.environ["DASK_TEMPORARY_DIRECTORY"] = directory
    dask.config.set({"temporary-directory": directory})
    yield directory


@pytest.fixture(scope="session", autouse=True)
def _no_advise_time_budget():
    """Plans under test do not depend on how busy the machine is: advise's time budget
    (``chunkpilot.advise.time-budget``, 10 s by default) skips optional samples only when an
    advise runs long, and under the suite's own load on two cores most pipeline advises do.
    Off here (and in CLI subprocesses); ``tests/pipeline/test_family.py`` turns it on."""
    os.environ["DASK_CHUNKPILOT__ADVISE__TIME_BUDGET"] = "0"
    dask.config.set({"chunkpilot.advise.time-budget": 0})
    yield
