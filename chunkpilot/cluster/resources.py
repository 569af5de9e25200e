"""Edge: work out the resources that will run the computation (machine, config, cluster)."""

from __future__ import annotations

import os
from typing import Any

import dask.config
import psutil

from chunkpilot.cluster.connect import check_address, connect, is_address, workers_of
from chunkpilot.cluster.limits import check_request
from chunkpilot.errors import InvalidArgumentError, InvalidArgumentTypeError, SchedulerError
from chunkpilot.types import DEFAULT_MEMORY_FRACTIONS, Resources
from chunkpilot.units import SizeLike, parse_size

SCHEDULERS = ("threads", "local")


def memory_fractions(*, disabled: float | None = None) -> dict[str, float | None]:
    """``distributed.worker.memory.*`` from dask config (the one place it is read). A
    threshold set to ``False`` is disabled: it reads as ``disabled``."""
    mem = dask.config.get("distributed.worker.memory", default={}) or {}
    out: dict[str, float | None] = {}
    for name, default in DEFAULT_MEMORY_FRACTIONS.items():
        v = mem.get(name.removesuffix("_fraction"), default)
        out[name] = float(v) if v not in (None, False) else disabled
    return out


def _planning_fractions() -> dict[str, float]:
    """Thresholds to plan with: a disabled one plans as distributed's default would."""
    got = memory_fractions()
    return {k: v if v is not None else DEFAULT_MEMORY_FRACTIONS[k] for k, v in got.items()}


def _positive_int(value: Any, name: str) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidArgumentTypeError(f"Expected {name} as an int. Got {value!r} instead.")
    if value <= 0:
        raise InvalidArgumentError(f"Expected {name} greater than zero. Got {value} instead.")
    return value


def _cpu_count() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def resolve_resources(
    scheduler: str = "local",
    *,
    workers: int | None = None,
    threads_per_worker: int | None = None,
    memory_limit: SizeLike | None = None,
    client: Any = None,
) -> Resources:
    """Resources from explicit options, else from this machine as LocalCluster would choose."""
    if not isinstance(scheduler, str):
        raise InvalidArgumentTypeError(f"Expected scheduler as a string. Got {scheduler!r}.")
    check_request(scheduler, workers=workers, threads_per_worker=threads_per_worker,
                  memory_limit=memory_limit, client=client)  # issue 17: bound by the machine
    workers = _positive_int(workers, "workers")
    threads_per_worker = _positive_int(threads_per_worker, "threads_per_worker")
    limit = parse_size(memory_limit, name="memory_limit") if memory_limit is not None else None
    if limit is not None and limit > psutil.virtual_memory().total:
        raise InvalidArgumentError(
            f"Expected memory_limit at most this machine's memory "
            f"({psutil.virtual_memory().total} bytes). Got {limit} bytes instead."
        )
    if client is not None:
        return from_client(client, str(getattr(client.scheduler, "address", "client")))
    if is_address(scheduler):
        check_address(scheduler)
        if any(v is not None for v in (workers, threads_per_worker, limit)):
            raise InvalidArgumentError(
                "Expected no --workers/--threads-per-worker/--memory-limit with a scheduler "
                "address: they are read from the running cluster."
            )
        with connect(scheduler) as c:
            return from_client(c, scheduler)
    if scheduler not in SCHEDULERS:
        raise InvalidArgumentError(
            f"Expected scheduler 'threads', 'local' or an address like 'tcp://127.0.0.1:8786'. "
            f"Got {scheduler!r} instead."
        )
    cores = _cpu_count()
    if scheduler == "threads":
        if workers not in (None, 1):
            raise InvalidArgumentError(
                f"Expected workers=1 with the threaded scheduler (one process). Got {workers}."
            )
        threads = threads_per_worker or cores
        mem = limit or psutil.virtual_memory().available
        return Resources(1, threads, mem, "threads", **_planning_fractions())
    if workers is None and threads_per_worker is None:
        from distributed.deploy.utils import nprocesses_nthreads

        workers, threads_per_worker = nprocesses_nthreads(cores)
    elif workers is None:
        workers = max(1, cores // threads_per_worker)  # type: ignore[operator]
    elif threads_per_worker is None:
        threads_per_worker = max(1, -(-cores // workers))
    mem = limit or psutil.virtual_memory().total // workers
    return Resources(workers, threads_per_worker, mem, "local", **_planning_fractions())


def from_client(client: Any, scheduler: str) -> Resources:
    """Read workers, threads and the smallest memory limit from a running cluster."""
    ws = workers_of(client)
    if not ws:
        raise SchedulerError(f"Expected at least one worker on {scheduler}. Got none.")
    threads = min(int(w.get("nthreads", 1)) for w in ws)
    limits = [int(w.get("memory_limit") or 0) for w in ws]
    mem = min(v for v in limits if v > 0) if any(limits) else psutil.virtual_memory().total
    return Resources(len(ws), threads, mem, scheduler, **_planning_fractions())
