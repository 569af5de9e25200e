"""chunkpilot's own LocalCluster (``cluster.connect.local_cluster``), on real worker processes."""

from __future__ import annotations

import os

import dask
import pytest
from distributed import KilledWorker

from chunkpilot.cluster.connect import local_cluster
from chunkpilot.types import Resources

pytestmark = pytest.mark.cluster

RES = Resources(1, 1, 512 * 2**20, "local")


def _allowed(dask_scheduler) -> int:
    return dask_scheduler.allowed_failures


def _die(_: int) -> None:
    os._exit(1)


def test_a_task_that_kills_its_worker_is_retried_as_configured():
    """distributed retries such a task 3 times; chunkpilot's cluster once (each retry of a
    too-big trial costs a worker restart and the whole task again), and the key is read."""
    with local_cluster(RES) as client:
        assert client.run_on_scheduler(_allowed) == 1
    with dask.config.set({"chunkpilot.cluster.allowed-failures": 0}), \
            local_cluster(RES) as client:
        assert client.run_on_scheduler(_allowed) == 0
        with pytest.raises(KilledWorker, match="on 1 different workers"):
            client.submit(_die, 1).result(timeout=60)


def _worker_env() -> dict[str, str | None]:
    return {k: os.environ.get(k) for k in ("MALLOC_TRIM_THRESHOLD_", "OMP_NUM_THREADS")}


def test_the_nannies_settings_leave_this_process_with_the_cluster(monkeypatch):
    """A Nanny sets a worker's MALLOC_TRIM_THRESHOLD_ and OMP_NUM_THREADS in the *parent's*
    ``os.environ`` before it spawns (distributed documents it): chunkpilot's cluster puts
    back what was there once it is closed, so the user's later subprocesses (and threaded
    sandboxes) do not run with a worker's malloc."""
    monkeypatch.delenv("MALLOC_TRIM_THRESHOLD_", raising=False)
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    workers = {"MALLOC_TRIM_THRESHOLD_": "65536", "OMP_NUM_THREADS": "1"}
    with local_cluster(RES) as client:
        assert client.run(_worker_env).popitem()[1] == workers
        assert _worker_env() == workers  # what distributed does to the parent
    assert _worker_env() == {"MALLOC_TRIM_THRESHOLD_": None, "OMP_NUM_THREADS": None}
