"""observe() on real LocalClusters: tiny chunks, huge chunks, timeouts and errors are recorded."""

from __future__ import annotations

import time

import dask
import dask.array as da
import distributed
import numpy as np
import pytest

from chunkpilot.cluster.observe import Collector, observe
from chunkpilot.core.diagnose import diagnose
from chunkpilot.errors import InvalidArgumentError

pytestmark = pytest.mark.timing  # measured time or CPU: runs alone (tests/helpers/timing_gate.py)

CLUSTER = dict(threads_per_worker=1, processes=True, dashboard_address="127.0.0.1:0")
ACTIONS = {"compute", "transfer", "disk-read", "disk-write", "deserialize"}


@pytest.fixture(scope="module", autouse=True)
def _resource_tracker():
    """Start multiprocessing's resource tracker up front: the first spawned worker starts it
    and it outlives every cluster, which the leak check would blame on that test."""
    from multiprocessing import resource_tracker

    resource_tracker.ensure_running()


@pytest.fixture(scope="module")
def client():
    with distributed.LocalCluster(n_workers=1, memory_limit="1GiB", **CLUSTER) as cluster, \
            distributed.Client(cluster) as c:
        yield c


def _kinds(obs):
    return {v.kind for v in diagnose(obs)}


@pytest.mark.cluster
def test_tiny_chunks_are_too_small(client):
    x = da.ones((1000 * 100,), chunks=100)  # 1000 chunks of 800 bytes
    result, obs = observe(client, lambda: (x + 1).sum().compute(), timeout_s=120)
    assert result == 2 * 1000 * 100
    assert obs.error is None
    assert not obs.timed_out
    assert len({t.key for t in obs.tasks if t.action == "compute"}) >= 1000
    assert {t.action for t in obs.tasks} <= ACTIONS
    assert all(-1 < t.start_s <= t.stop_s < obs.wall_seconds + 1 for t in obs.tasks)
    (worker,) = obs.workers
    assert (worker.nthreads, worker.memory_limit_bytes) == (1, 2**30)
    assert obs.memory
    assert all(m.worker == worker.address for m in obs.memory)
    assert all(m.unmanaged_bytes > 0 for m in obs.memory)  # the interpreter itself
    kinds = _kinds(obs)
    assert "too_small" in kinds
    assert "healthy" not in kinds


@pytest.mark.cluster
def test_client_compute_result_style(client):
    y = da.ones((4, 4), chunks=2)
    result, obs = observe(client, lambda: client.compute(y.sum()).result(), timeout_s=60)
    assert result == 16
    assert {t.group for t in obs.tasks} & {"sum", "sum-aggregate", "sum-partial", "ones_like"}


def _sleepy(block):
    time.sleep(0.5)
    return block


@pytest.mark.cluster
def test_timeout_cancels_and_returns(client):
    x = da.ones((40,), chunks=1).map_blocks(_sleepy)  # 20 s of work on one thread
    result, obs = observe(client, lambda: x.sum().compute(), timeout_s=1.5)
    assert result is None
    assert obs.timed_out
    assert obs.error.startswith("TimeoutError")
    assert sum(t.group == "_sleepy" for t in obs.tasks) < 40  # cancelled before finishing
    assert "failed" in _kinds(obs)
    # the cluster is still usable afterwards
    assert client.submit(sum, [1, 2]).result(timeout=60) == 3


def _fail(block):
    raise ValueError("bad block")


@pytest.mark.cluster
def test_user_error_is_recorded_not_raised(client):
    x = da.ones((4,), chunks=2).map_blocks(_fail, dtype=np.float64, meta=np.array(()))
    result, obs = observe(client, lambda: x.sum().compute(), timeout_s=60)
    assert result is None
    assert obs.error.startswith("ValueError: bad block")
    assert obs.erred_tasks >= 1
    assert not obs.killed_worker
    assert any(t.status == "error" for t in obs.tasks)


def _temporaries(block):
    """Three chunk-sized temporaries alive at once, like a naive anomaly calculation."""
    a = block + 1
    b = a * 2
    c = b - block
    time.sleep(0.2)  # hold them long enough for the nanny's 100 ms memory monitor
    return c.sum(keepdims=True)


@pytest.mark.cluster
def test_huge_chunks_under_tight_memory_are_too_big():
    n = 200 * 2**20 // 8  # 200 MiB float64 chunks on a 400 MiB worker
    x = da.ones((3 * n,), chunks=n).map_blocks(_temporaries, chunks=(1,), dtype=np.float64)
    # fail the task on the first worker death instead of retrying three times
    with dask.config.set({"distributed.scheduler.allowed-failures": 0}), \
            distributed.LocalCluster(n_workers=1, memory_limit="400MiB", **CLUSTER) as cluster, \
            distributed.Client(cluster) as c:
        result, obs = observe(c, lambda: x.sum().compute(), timeout_s=120)
    assert result is None
    assert obs.killed_worker or obs.restarts or obs.pauses
    assert obs.error is not None  # recorded, not raised
    kinds = _kinds(obs)
    assert "too_big" in kinds
    assert "healthy" not in kinds


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [({"interval_s": 0}, "interval_s > 0"), ({"timeout_s": -1}, "timeout_s > 0")],
    ids=["zero-interval", "negative-timeout"],
)
def test_collector_rejects_bad_arguments(kwargs, match):
    with pytest.raises(InvalidArgumentError, match=match):
        Collector(object(), **kwargs)  # type: ignore[arg-type]
