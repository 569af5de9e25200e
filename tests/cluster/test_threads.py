"""Observing dask's threaded scheduler: the task stream and memory a diagnosis needs."""

from __future__ import annotations

import time

import dask.array as da
import numpy as np
import pytest

from chunkpilot.cluster.threads import observe_threads
from chunkpilot.core.diagnose import diagnose
from chunkpilot.core.metrics import cluster_threads, thread_utilisation

pytestmark = pytest.mark.timing  # measured time or CPU: runs alone (tests/helpers/timing_gate.py)

GiB = 2**30


def test_a_threaded_run_gives_one_row_per_pool_thread_and_memory_samples():
    x = da.ones((2000, 2000), chunks=(250, 2000))
    y = x.map_blocks(lambda b: np.sin(b) + 1).sum()
    obs = observe_threads([y], num_workers=2, memory_limit_bytes=8 * GiB, timeout_s=60)
    assert not obs.failed and obs.executor == "threads"
    compute = [t for t in obs.tasks if t.action == "compute"]
    assert len({t.key for t in compute}) >= 8 + 1  # 8 blocks and at least one sum
    assert {t.worker for t in compute} == {"threads"} and cluster_threads(obs) == 2
    assert obs.memory and obs.memory[0].process_bytes > 0
    assert 0 < thread_utilisation(obs) <= 1


def test_tiny_tasks_on_threads_are_diagnosed_too_small():
    x = da.ones((20000,), chunks=5)  # 4000 tasks of 5 elements
    obs = observe_threads([(x + 1).sum()], num_workers=2, memory_limit_bytes=8 * GiB,
                          timeout_s=60)
    assert "too_small" in {v.kind for v in diagnose(obs)}


def test_a_run_past_its_time_limit_is_stopped_and_recorded():
    def slow(b):
        time.sleep(0.2)
        return b

    x = da.ones((40,), chunks=1).map_blocks(slow)
    obs = observe_threads([x.sum()], num_workers=2, memory_limit_bytes=8 * GiB, timeout_s=0.5)
    assert obs.timed_out and obs.failed
    assert "failed" in {v.kind for v in diagnose(obs)}


def test_a_run_past_the_memory_limit_is_stopped_before_the_os_steps_in():
    x = da.ones((4000, 4000), chunks=(500, 4000)).map_blocks(lambda b: b * 2)
    obs = observe_threads([x.sum()], num_workers=1, memory_limit_bytes=50 * 2**20,
                          timeout_s=60)  # the test process alone is above 50 MiB
    assert obs.failed and "MemoryError" in (obs.error or "")
    assert "too_big" in {v.kind for v in diagnose(obs)}
