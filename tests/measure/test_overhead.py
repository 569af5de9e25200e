"""Overhead probes on the real threaded scheduler and a real 2-worker LocalCluster."""

from __future__ import annotations

import pytest

from chunkpilot.cluster.connect import local_cluster
from chunkpilot.measure.overhead import probe_overhead, worker_baseline_bytes
from chunkpilot.types import Resources


def test_threads_probe_gives_a_small_positive_cost():
    seconds = probe_overhead("threads", blocks=200, repeats=2)
    assert 0 < seconds < 0.05  # sanity bound, not a timing assertion: 50 ms per empty task is broken


@pytest.mark.cluster
def test_local_cluster_probe_and_worker_baseline():
    res = Resources(2, 1, 512 * 2**20, "local")
    with local_cluster(res) as client:
        assert client.scheduler.address.startswith("tcp://127.0.0.1:")
        assert all(w["memory_limit"] == res.memory_limit_bytes
                   for w in client.scheduler_info()["workers"].values())
        seconds = probe_overhead(client, blocks=200, repeats=2)
        base = worker_baseline_bytes(client)
    assert 0 < seconds < 0.5
    assert 20 * 2**20 < base < res.memory_limit_bytes


def test_probe_counts_the_tasks_dask_actually_runs():
    from chunkpilot.measure.overhead import _graph, _run

    _, tasks = _run(_graph(64), {"scheduler": "sync"})
    # 64 fused ones+add blocks, then a split_every=8 tree: 8 partial sums and a final one
    assert tasks >= 64 + 8 + 1
