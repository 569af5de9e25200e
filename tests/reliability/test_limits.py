"""What a user may ask a LocalCluster for is bounded by the machine (issue 17, item 2).

The CLI cases (``--workers 10000``, ``--workers 99999999999999999999``, ...) are rows of
tests/test_bad_inputs.py."""

from __future__ import annotations

import pytest

import chunkpilot
from chunkpilot.cluster.limits import (
    MAX_THREADS_PER_CORE,
    MAX_WORKERS_PER_CORE,
    MIN_WORKER_BYTES,
    MachineLimits,
    check_request,
    machine_limits,
)
from chunkpilot.errors import ResourceLimitError

GiB = 2**30
HUGE = 99999999999999999999


@pytest.mark.parametrize(
    ("limits", "workers", "why"),
    [(MachineLimits(4, 64 * GiB, 2**20), MAX_WORKERS_PER_CORE * 4, "cores"),
     (MachineLimits(64, 2 * GiB, 2**20), 2 * GiB // MIN_WORKER_BYTES, "memory"),
     (MachineLimits(64, 64 * GiB, 512), (512 - 256) // 32, "open files"),
     (MachineLimits(1, 100 * 2**20, 100), 1, "never below one")],
    ids=lambda v: v if isinstance(v, str) else None)
def test_max_workers_is_the_tightest_machine_bound(limits, workers, why) -> None:
    assert limits.max_workers == workers, why


def test_this_machine() -> None:
    m = machine_limits()
    assert m.cores >= 1 and m.memory_bytes > 0 and m.open_files > 0
    assert m.max_threads == MAX_THREADS_PER_CORE * m.cores
    check_request("local", workers=m.max_workers, threads_per_worker=1)  # the maximum is allowed


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [({"workers": 10_000}, r"workers \(--workers\) at most \d+"),
     ({"workers": HUGE}, r"workers \(--workers\) at most \d+.*Got 99999999999999999999"),
     ({"threads_per_worker": HUGE}, r"threads_per_worker \(--threads-per-worker\) at most"),
     ({"workers": 2, "threads_per_worker": "max"}, r"workers x threads_per_worker"),
     ({"workers": 2, "memory_limit": "1000TiB"}, r"workers x memory_limit")],
    ids=["10000-workers", "huge-workers", "huge-threads", "workers-x-threads", "workers-x-mem"])
def test_api_refuses_more_than_the_machine(kwargs, match) -> None:
    if kwargs.get("threads_per_worker") == "max":
        kwargs["threads_per_worker"] = machine_limits().max_threads
    with pytest.raises(ResourceLimitError, match=match):
        chunkpilot.advise(small_array(), **kwargs)


def small_array():
    import dask.array as da

    return da.zeros((64, 64), chunks=32)


def test_workers_times_memory_above_the_machine() -> None:
    m = machine_limits()
    per = max(MIN_WORKER_BYTES, m.memory_bytes // 2 + 2**20)
    with pytest.raises(ResourceLimitError, match=r"--workers x --memory-limit"):
        chunkpilot.check(small_array(), workers=2, memory_limit=per)


def test_remote_schedulers_are_not_bounded_here() -> None:
    check_request("tcp://127.0.0.1:1", workers=HUGE)  # refused later, for another reason
    check_request("threads", threads_per_worker=HUGE)
