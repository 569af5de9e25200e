"""Edge: work out the resources that will run the computation, the way dask sees them.

Defaults come from ``distributed.system.MEMORY_LIMIT`` and ``dask.system.CPU_COUNT`` (both
honour cgroup limits and CPU affinity: Slurm, Kubernetes, Binder), ``memory_limit`` takes
what ``LocalCluster`` takes (``"4GiB"``, ``"auto"``, a fraction such as ``0.5``), and a
running cluster is asked for its workers' own limits, threads and memory thresholds.
"""

from __future__ import annotations

import logging
from typing import Any

import dask.config
import dask.system
import psutil
from distributed import system

from chunkpilot.cluster.connect import check_address, connect, is_address, workers_of
from chunkpilot.cluster.limits import check_request, machine_limits
from chunkpilot.errors import InvalidArgumentError, InvalidArgumentTypeError, SchedulerError
from chunkpilot.types import DEFAULT_MEMORY_FRACTIONS, Resources
from chunkpilot.units import SizeLike, format_bytes, parse_size

logger = logging.getLogger(__name__)

#: dask's scheduler names (``dask.base.named_schedulers``) -> what chunkpilot plans for.
#: ``"local"`` is chunkpilot's older name for a LocalCluster of processes.
SCHEDULER_NAMES = {
    "threads": "threads", "threading": "threads",
    "processes": "processes", "multiprocessing": "processes", "local": "processes",
    "synchronous": "synchronous", "sync": "synchronous", "single-threaded": "synchronous",
}
#: Single-process schedulers: one worker, no distributed memory manager.
IN_PROCESS = ("threads", "synchronous")


def is_client(value: Any) -> bool:
    """A ``distributed.Client`` (or anything that answers like one)."""
    return callable(getattr(value, "scheduler_info", None)) and hasattr(value, "run")


def scheduler_name(scheduler: Any) -> str:
    """dask's name for ``scheduler`` in its canonical spelling, or the address itself."""
    if not isinstance(scheduler, str):
        raise InvalidArgumentTypeError(
            "Expected scheduler as 'threads', 'processes', 'synchronous', a distributed Client "
            f"or an address. Got {type(scheduler).__name__} {scheduler!r} instead.")
    if is_address(scheduler):
        return check_address(scheduler)
    name = SCHEDULER_NAMES.get(scheduler.strip().lower())
    if name is None:
        raise InvalidArgumentError(
            "Expected scheduler 'threads', 'processes', 'synchronous', a distributed Client or "
            f"an address like 'tcp://127.0.0.1:8786'. Got {scheduler!r} instead.")
    return name


def memory_fractions(*, disabled: float | None = None) -> dict[str, float | None]:
    """``distributed.worker.memory.*`` from this process's dask config. A threshold set to
    ``False`` is disabled: it reads as ``disabled``."""
    mem = dask.config.get("distributed.worker.memory", default={}) or {}
    out: dict[str, float | None] = {}
    for name, default in DEFAULT_MEMORY_FRACTIONS.items():
        v = mem.get(name.removesuffix("_fraction"), default)
        out[name] = float(v) if v not in (None, False) else disabled
    return out


def _planning(fractions: dict[str, float | None]) -> dict[str, float]:
    """Thresholds to plan with: a disabled one plans as distributed's default would."""
    return {k: v if v is not None else DEFAULT_MEMORY_FRACTIONS[k] for k, v in fractions.items()}


def _positive_int(value: Any, name: str) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidArgumentTypeError(f"Expected {name} as an int. Got {value!r} instead.")
    if value <= 0:
        raise InvalidArgumentError(f"Expected {name} greater than zero. Got {value} instead.")
    return value


#: A memory limit given as a bare number below this many bytes is a missing unit, not a size
#: (``--memory-limit 2`` meant 2 GiB; no Python process runs in 1 MiB).
BARE_BYTES_FLOOR = 2**20


def parse_memory_limit(value: Any, threads_per_worker: int) -> int:
    """``memory_limit`` as LocalCluster takes it: bytes, ``"4GiB"``, ``"auto"`` (this machine's
    memory shared by threads) or a fraction ``<= 1`` of ``distributed.system.MEMORY_LIMIT``."""
    total = system.MEMORY_LIMIT
    if isinstance(value, str) and value.strip().lower() == "auto":
        return int(total * min(1.0, threads_per_worker / dask.system.CPU_COUNT))
    number: Any = value
    if isinstance(value, str):
        try:
            number = float(value)
        except ValueError:
            number = value
    if isinstance(number, (int, float)) and not isinstance(number, bool) and 0 < number <= 1:
        return int(number * total)  # LocalCluster reads any number <= 1 as a fraction
    if isinstance(number, (int, float)) and not isinstance(number, bool) and (
            1 < number < BARE_BYTES_FLOOR):
        raise InvalidArgumentError(
            f"Expected memory_limit as a fraction of this machine's memory at most 1 (0.5), a "
            f"size with its unit ('4GiB') or a number of bytes. Got {value!r} instead, which "
            f"would be {int(number)} bytes: write its unit ('{value}GiB'?).")
    # a number that is not a fraction is parsed as given ("-1" is echoed as "-1", not -1.0)
    limit = parse_size(value if isinstance(value, str) else number, name="memory_limit")
    if limit > total:
        raise InvalidArgumentError(
            f"Expected memory_limit at most this machine's memory ({format_bytes(total)}, "
            f"{total} bytes, as distributed.system.MEMORY_LIMIT sees it). Got {limit} bytes "
            "instead.")
    return limit


def resolve_resources(
    scheduler: Any = "processes",
    *,
    workers: int | None = None,
    threads_per_worker: int | None = None,
    memory_limit: SizeLike | None = None,
    client: Any = None,
) -> Resources:
    """Resources from explicit options, a running cluster, or this machine as dask sees it;
    a LocalCluster bigger than this machine can run is refused (``cluster.limits``)."""
    if is_client(scheduler):
        client, scheduler = scheduler, "processes"
    name = scheduler_name(scheduler)
    check_request(name, workers=workers, threads_per_worker=threads_per_worker,
                  memory_limit=memory_limit, client=client)
    workers = _positive_int(workers, "workers")
    threads_per_worker = _positive_int(threads_per_worker, "threads_per_worker")
    if client is not None or is_address(name):
        if any(v is not None for v in (workers, threads_per_worker, memory_limit)):
            raise InvalidArgumentError(
                "Expected no workers/threads_per_worker/memory_limit with a running cluster "
                "(a Client or a scheduler address): they are read from the running cluster.")
        if client is not None:
            res = from_client(client, str(getattr(client.scheduler, "address", "client")))
        else:
            with connect(name) as c:
                res = from_client(c, name)
    elif name in IN_PROCESS:
        res = _in_process(name, workers, threads_per_worker, memory_limit)
    else:
        res = _processes(workers, threads_per_worker, memory_limit)
    return res


def _in_process(name: str, workers: int | None, threads: int | None,
                memory_limit: SizeLike | None) -> Resources:
    """One process: the threaded pool (CPU_COUNT threads) or the synchronous scheduler."""
    if workers not in (None, 1):
        what = "threaded" if name == "threads" else "synchronous"
        raise InvalidArgumentError(
            f"Expected workers=1 with the {what} scheduler (one process). Got {workers}.")
    if name == "synchronous" and threads not in (None, 1):
        raise InvalidArgumentError(
            f"Expected threads_per_worker=1 with the synchronous scheduler. Got {threads}.")
    threads = threads or (dask.system.CPU_COUNT if name == "threads" else 1)
    if memory_limit is not None:
        mem = parse_memory_limit(memory_limit, threads)
    else:  # no limit is enforced: what this process may use, and what is free right now
        mem = min(system.MEMORY_LIMIT, psutil.virtual_memory().available)
    return Resources(1, threads, mem, name, **_planning(memory_fractions()))


def _processes(workers: int | None, threads: int | None,
               memory_limit: SizeLike | None) -> Resources:
    """A LocalCluster of worker processes, sized as LocalCluster would size it."""
    cores = dask.system.CPU_COUNT
    given_workers = workers
    if workers is None and threads is None:
        from distributed.deploy.utils import nprocesses_nthreads

        workers, threads = nprocesses_nthreads(cores)
    elif workers is None:
        workers = max(1, cores // threads)  # type: ignore[operator]
    elif threads is None:
        threads = max(1, -(-cores // workers))
    assert workers is not None and threads is not None
    if given_workers is None:  # a default never asks for more than this machine can run
        workers = max(1, min(workers, machine_limits().max_workers))
    mem = parse_memory_limit("auto" if memory_limit is None else memory_limit, threads)
    return Resources(workers, threads, mem, "processes", **_planning(memory_fractions()))


def worker_settings(client: Any) -> dict[str, dict[str, Any]]:
    """Each worker's own threads, memory limit and memory thresholds, read on the worker.

    The function travels by value (a closure, cloudpickled), so a remote cluster needs no
    chunkpilot installed to answer.
    """
    def read(dask_worker: Any) -> dict[str, Any]:
        import dask.config as config

        mm = getattr(dask_worker, "memory_manager", None)
        mem = config.get("distributed.worker.memory", default={}) or {}
        out = {"nthreads": int(getattr(dask_worker.state, "nthreads", 0) or 0),
               "memory_limit": getattr(mm, "memory_limit", None)}
        for key in ("target", "spill", "pause"):
            out[key] = getattr(mm, f"memory_{key}_fraction", mem.get(key))
        out["terminate"] = mem.get("terminate")  # the nanny's, read from the same config
        return out

    return dict(client.run(read))


def from_client(client: Any, scheduler: str) -> Resources:
    """Workers, the smallest thread count and memory limit, and the most cautious memory
    thresholds, as the running cluster's workers report them."""
    ws = workers_of(client)
    if not ws:
        raise SchedulerError(f"Expected at least one worker on {scheduler}. Got none.")
    try:
        settings = list(worker_settings(client).values())
    except Exception as e:  # an old or locked-down worker: fall back to the scheduler's view
        logger.warning("could not read the workers' memory settings (%r); using the "
                       "scheduler's view and this machine's dask config", e)
        settings = []
    threads = min(int(s.get("nthreads") or 0) for s in settings or ws) or 1
    limits = [int(s.get("memory_limit") or 0) for s in settings or ws]
    mem = min(v for v in limits if v > 0) if any(limits) else system.MEMORY_LIMIT
    fractions = memory_fractions()
    if settings:
        fractions = {}
        for name in DEFAULT_MEMORY_FRACTIONS:
            got = [s.get(name.removesuffix("_fraction")) for s in settings]
            on = [float(v) for v in got if v not in (None, False)]
            fractions[name] = min(on) if on else None
    return Resources(len(ws), threads, mem, scheduler, **_planning(fractions))
