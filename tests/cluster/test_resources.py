"""Resources the way dask sees them: cgroup-aware defaults, LocalCluster's memory_limit
spellings, dask's scheduler names, and a running cluster's own settings."""

from __future__ import annotations

import dask
import dask.system
import distributed
import pytest
from distributed import system

from chunkpilot.cluster.resources import from_client, resolve_resources, scheduler_name
from chunkpilot.core.model import CostModel, LinearFit
from chunkpilot.core.plan import make_plan
from chunkpilot.errors import InvalidArgumentError, InvalidArgumentTypeError
from chunkpilot.types import ArraySpec, WorkSpec

GiB, MiB = 2**30, 2**20


@pytest.fixture
def small_box(monkeypatch):
    """A 4-core container with a 2 GiB cgroup limit, as distributed and dask read it."""
    monkeypatch.setattr(system, "MEMORY_LIMIT", 2 * GiB)
    monkeypatch.setattr(dask.system, "CPU_COUNT", 4)


def test_defaults_follow_the_container_limit(small_box):
    res = resolve_resources("processes")
    assert (res.workers, res.threads_per_worker) == (4, 1)  # LocalCluster's own split of 4 cores
    assert res.memory_limit_bytes == 2 * GiB // 4  # "auto": the limit shared by threads
    threads = resolve_resources("threads")
    assert threads.threads_per_worker == 4 and threads.memory_limit_bytes <= 2 * GiB


def test_plan_respects_the_container_limit(small_box):
    """A hungry function (10x its block) on a 20 GiB array: the plan fits 60% of 512 MiB."""
    res = resolve_resources("processes")
    spec = ArraySpec((50_000, 50_000), "float64")
    model = CostModel(LinearFit(1e-3, 5e-9, 1.0), LinearFit(0, 10.0, 1.0), 1e-3,
                      baseline_bytes=100 * MiB)
    plan = make_plan(spec, WorkSpec(2), res, model)
    assert plan.chosen.peak_bytes_per_worker <= 0.6 * 512 * MiB
    assert plan.chosen.task_bytes < 512 * MiB / 10


@pytest.mark.parametrize(
    ("memory_limit", "expected"),
    [("auto", 512 * MiB), (0.5, GiB), ("0.5", GiB), (1, 2 * GiB), ("1GiB", GiB),
     (300 * MiB, 300 * MiB)],
    ids=["auto", "fraction", "fraction-text", "one-is-all", "size", "bytes"],
)
def test_memory_limit_as_local_cluster_takes_it(small_box, memory_limit, expected):
    res = resolve_resources("processes", memory_limit=memory_limit)
    assert res.memory_limit_bytes == expected


def test_memory_limit_above_the_container_is_refused(small_box):
    with pytest.raises(InvalidArgumentError, match=r"at most this machine's memory \(2\.00 GiB"):
        resolve_resources("processes", memory_limit="3GiB")


@pytest.mark.parametrize("memory_limit", ["1.5", 1.5, "2", 64])
def test_a_bare_number_that_is_neither_a_fraction_nor_a_size_asks_for_its_unit(
        small_box, memory_limit):
    """dask's parse_bytes reads "1.5" as 1 byte: a missing unit, said as one."""
    with pytest.raises(InvalidArgumentError, match=r"write its unit \('(1\.5|2|64)GiB'\?\)"):
        resolve_resources("processes", memory_limit=memory_limit)


@pytest.mark.parametrize(
    ("given", "name"),
    [("threads", "threads"), ("threading", "threads"), ("processes", "processes"),
     ("multiprocessing", "processes"), ("local", "processes"), ("synchronous", "synchronous"),
     ("sync", "synchronous"), ("single-threaded", "synchronous"),
     ("tcp://127.0.0.1:8786", "tcp://127.0.0.1:8786")],
)
def test_dask_scheduler_names(given, name):
    assert scheduler_name(given) == name


def test_synchronous_is_one_thread_in_this_process(small_box):
    res = resolve_resources("synchronous")
    assert (res.workers, res.threads_per_worker, res.distributed) == (1, 1, False)
    with pytest.raises(InvalidArgumentError, match="threads_per_worker=1 with the synchronous"):
        resolve_resources("sync", threads_per_worker=2)
    with pytest.raises(InvalidArgumentTypeError, match="Got int 3"):
        resolve_resources(3)


@pytest.fixture(scope="module")
def cluster():
    """Workers started with their own memory thresholds, unlike this process's config."""
    with dask.config.set({"distributed.worker.memory.target": 0.45,
                          "distributed.worker.memory.spill": 0.55,
                          "distributed.worker.memory.pause": 0.75}):
        lc = distributed.LocalCluster(n_workers=2, threads_per_worker=2, processes=True,
                                      memory_limit="300MiB", dashboard_address="127.0.0.1:0",
                                      host="127.0.0.1")
    with lc, distributed.Client(lc) as client:
        yield client


@pytest.mark.cluster
def test_a_running_cluster_reports_its_workers_own_settings(cluster):
    assert dask.config.get("distributed.worker.memory.target") == 0.6  # the client's differs
    address = cluster.scheduler.address
    for res in (resolve_resources(address), resolve_resources(cluster),
                from_client(cluster, address)):
        assert (res.workers, res.threads_per_worker) == (2, 2)
        assert res.memory_limit_bytes == 300 * MiB
        assert (res.target_fraction, res.spill_fraction, res.pause_fraction) == (0.45, 0.55, 0.75)
    with pytest.raises(InvalidArgumentError, match="read from the running cluster"):
        resolve_resources(cluster, memory_limit="1GiB")


def test_the_default_cluster_fits_the_open_file_limit(monkeypatch):
    """No --workers: the LocalCluster chunkpilot would start is sized down to what the open
    file limit allows (each worker holds sockets and files), not refused later by the OS."""
    import dataclasses

    from chunkpilot.cluster import limits, resources

    real = limits.machine_limits()
    tight = dataclasses.replace(real, cores=8, open_files=limits.FDS_RESERVED
                                + limits.FDS_PER_WORKER)  # room for one worker
    monkeypatch.setattr(resources, "machine_limits", lambda: tight)
    monkeypatch.setattr(resources.dask.system, "CPU_COUNT", 8)
    res = resources.resolve_resources("processes", memory_limit="1GiB")
    assert res.workers == 1 and res.threads_per_worker >= 1
    assert resources.resolve_resources("processes", workers=2, memory_limit="1GiB").workers == 2
