"""Overhead probes on the real threaded scheduler and a real 2-worker LocalCluster."""

from __future__ import annotations

import contextlib
import json
import threading

import psutil
import pytest

from chunkpilot.cluster.connect import local_cluster
from chunkpilot.measure.overhead import (
    distributed_setup,
    measure_scheduler,
    worker_baseline_bytes,
)
from chunkpilot.measure.overhead_probe import _graph, _run, probe_overhead
from chunkpilot.measure.probe_history import FILE_NAME, ProbeHistory
from chunkpilot.types import Resources

pytestmark = pytest.mark.timing  # measured time or CPU: runs alone (tests/helpers/timing_gate.py)


def test_threads_probe_gives_a_small_positive_cost():
    seconds = probe_overhead("threads", blocks=200, repeats=2)
    # a sanity bound, not a timing assertion: 50 ms per empty task is broken
    assert 0 < seconds < 0.05


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


def test_threads_probe_runs_in_a_fresh_process_not_the_callers():
    """The caller's own threads must not move the estimate (issue 18): the probe of dask's
    threaded scheduler runs in a child process, seen here while it runs."""
    seen: set[str] = set()
    done = threading.Event()

    def watch() -> None:
        me = psutil.Process()
        while not done.is_set():
            for child in me.children(recursive=True):
                with contextlib.suppress(psutil.Error):
                    seen.add(" ".join(child.cmdline()))
            done.wait(0.02)

    watcher = threading.Thread(target=watch)
    watcher.start()
    try:
        probe = measure_scheduler(Resources(1, 2, 2**30, "threads"))
    finally:
        done.set()
        watcher.join()
    assert probe.measured and 0 < probe.overhead_seconds_per_task < 0.05
    assert any("chunkpilot.measure.overhead_probe" in cmd for cmd in seen), seen


def test_probe_counts_the_tasks_dask_actually_runs():
    _, tasks = _run(_graph(64), {"scheduler": "sync"})
    # 64 fused ones+add blocks, then a split_every=8 tree: 8 partial sums and a final one
    assert tasks >= 64 + 8 + 1


def test_the_probe_stops_repeating_once_its_estimate_settled(monkeypatch):
    """At most ``repeats`` repeats; as soon as ``probe_settled`` says so, no more (each
    repeat runs the big and the one-block graph)."""
    from chunkpilot.measure import overhead_probe

    runs: list[int] = []
    real_run = overhead_probe._run
    monkeypatch.setattr(overhead_probe, "_run",
                        lambda g, kw: runs.append(1) or real_run(g, kw))
    monkeypatch.setattr(overhead_probe, "probe_settled", lambda est: len(est) >= 3)
    probe_overhead("synchronous", blocks=50, repeats=12)
    assert len(runs) == 1 + 3 * 2  # the warm-up, then three repeats of two runs
    runs.clear()
    monkeypatch.setattr(overhead_probe, "probe_settled", lambda est: False)
    probe_overhead("synchronous", blocks=50, repeats=5)
    assert len(runs) == 1 + 5 * 2


@pytest.mark.beside_others  # counts probes and their reuse; asserts no time
@pytest.mark.cluster
def test_local_cluster_probes_are_pooled_then_reused(tmp_path):
    """A distributed probe (1-2 s of every advise) is pooled with the recent probes of the same
    cluster setup and, once the pool is full and fresh, reused; the worker baseline is
    still read from this cluster's workers."""
    h = ProbeHistory(tmp_path, 2, 86400.0, reuse_s=3600.0)
    res = Resources(2, 1, 512 * 2**20, "local")
    with local_cluster(res) as client:
        setup = distributed_setup(client)
        assert "on this machine, 2 workers x 1 threads" in setup
        first = measure_scheduler(res, client, history=h)
        second = measure_scheduler(res, client, history=h)
        third = measure_scheduler(res, client, history=h)
    assert [p.pooled.probes for p in (first, second, third)] == [1, 2, 2]
    assert not first.pooled.reused and not second.pooled.reused and third.pooled.reused
    assert third.overhead_seconds_per_task == second.overhead_seconds_per_task
    assert (third.worker_baseline_bytes or 0) > 20 * 2**20
    saved = json.loads((tmp_path / FILE_NAME).read_text())
    assert [k for k in saved if setup in k] and len(saved) == 1


def test_an_in_process_cluster_is_another_setup():
    from distributed import Client, LocalCluster

    with LocalCluster(n_workers=1, threads_per_worker=2, processes=False,
                      dashboard_address=None) as cluster, Client(cluster) as client:
        assert "in this process, 1 worker x 2 threads" in distributed_setup(client)
