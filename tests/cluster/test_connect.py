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
