"""Edge: bound what a user may ask a LocalCluster for by what this machine can run.

``--workers 10000`` once started 244 processes, ran the machine out of memory and left
orphans. A local cluster is refused up front when it asks for more worker processes or
threads than the machine's cores, open-file limit or memory can carry; the message names the
option and its maximum. Remote clusters (``--scheduler tcp://...``) are the user's to size.
"""

from __future__ import annotations

import resource
from dataclasses import dataclass
from typing import Any

import dask.system
import distributed.system

from chunkpilot.cluster.connect import check_client
from chunkpilot.errors import ResourceLimitError
from chunkpilot.units import format_bytes, parse_size

#: Worker processes per core: a LocalCluster rarely gains beyond one process per core; two
#: leaves room for I/O-bound work without letting a typo start thousands of processes.
MAX_WORKERS_PER_CORE = 2
#: Threads (workers x threads per worker) per core.
MAX_THREADS_PER_CORE = 8
#: Memory one worker process needs to exist at all (interpreter, numpy, dask, distributed).
MIN_WORKER_BYTES = 256 * 2**20
#: File descriptors this process holds per worker (nanny pipes, queues, comms), measured ~12.
FDS_PER_WORKER = 32
#: File descriptors kept for everything else (stores, sandboxes, the dashboard, clients).
FDS_RESERVED = 256


@dataclass(frozen=True, slots=True)
class MachineLimits:
    """The most a LocalCluster may ask of this machine, and why."""

    cores: int
    """``dask.system.CPU_COUNT`` (affinity and cgroup quota aware)."""
    memory_bytes: int
    """``distributed.system.MEMORY_LIMIT`` (cgroup and rlimit aware)."""
    open_files: int
    """The soft RLIMIT_NOFILE of this process."""

    @property
    def max_workers(self) -> int:
        by_cores = MAX_WORKERS_PER_CORE * self.cores
        by_memory = self.memory_bytes // MIN_WORKER_BYTES
        by_files = (self.open_files - FDS_RESERVED) // FDS_PER_WORKER
        return max(1, min(by_cores, by_memory, by_files))

    @property
    def max_threads(self) -> int:
        return max(1, MAX_THREADS_PER_CORE * self.cores)

    def describe(self) -> str:
        return (f"{self.cores} core(s), {format_bytes(self.memory_bytes)} of memory, "
                f"{self.open_files} open files")


def machine_limits() -> MachineLimits:
    """What this machine offers a LocalCluster."""
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    files = soft if soft != resource.RLIM_INFINITY else 2**20
    return MachineLimits(int(dask.system.CPU_COUNT), int(distributed.system.MEMORY_LIMIT),
                         int(files))


def _count(value: Any) -> int | None:
    """A positive int to bound; anything else is left to the option's own validation."""
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        return None
    return value


def check_request(scheduler: Any, *, workers: Any = None, threads_per_worker: Any = None,
                  memory_limit: Any = None, client: Any = None) -> None:
    """Refuse a client that is not a running ``distributed.Client``, and a LocalCluster
    bigger than this machine can run: :class:`ResourceLimitError` naming the option."""
    if client is not None:
        check_client(client)
        return
    if scheduler not in ("processes", "local"):  # only a LocalCluster we would start
        return
    m = machine_limits()
    n, t = _count(workers), _count(threads_per_worker)
    if n is not None and n > m.max_workers:
        raise ResourceLimitError(
            f"Expected workers (--workers) at most {m.max_workers} for a LocalCluster on this "
            f"machine ({m.describe()}; at most {MAX_WORKERS_PER_CORE} per core and "
            f"{format_bytes(MIN_WORKER_BYTES)} each). Got {n} instead.")
    if t is not None and t > m.max_threads:
        raise ResourceLimitError(
            f"Expected threads_per_worker (--threads-per-worker) at most {m.max_threads} on "
            f"this machine ({m.cores} core(s), at most {MAX_THREADS_PER_CORE} threads per "
            f"core). Got {t} instead.")
    if n is not None and t is not None and n * t > m.max_threads:
        raise ResourceLimitError(
            f"Expected workers x threads_per_worker (--workers x --threads-per-worker) at most "
            f"{m.max_threads} on this machine ({m.cores} core(s), at most "
            f"{MAX_THREADS_PER_CORE} threads per core). Got {n} x {t} = {n * t} instead.")
    try:
        limit = parse_size(memory_limit, name="memory_limit") if memory_limit is not None else None
    except Exception:  # a malformed size: resolve_resources says so precisely
        return
    if n is not None and limit is not None and n * limit > m.memory_bytes:
        raise ResourceLimitError(
            f"Expected workers x memory_limit (--workers x --memory-limit) at most this "
            f"machine's {format_bytes(m.memory_bytes)}. Got {n} x {format_bytes(limit)} = "
            f"{format_bytes(n * limit)} instead: lower --memory-limit or --workers.")
