"""The environment a profiling sandbox runs with: what the scheduler's workers would have.

distributed's workers start with ``distributed.nanny.pre-spawn-environ`` (one BLAS thread,
a fixed malloc trim threshold); the threaded scheduler runs in this process, whose malloc
was set up when it started. Kept apart from ``sandbox`` so the children (which must not
import the parent's machinery) and the pipeline's runs share the same names.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

import dask.config

from chunkpilot.measure.malloc_live import FIXED_THRESHOLD_ENV
from chunkpilot.types import Resources

#: A sandbox's environment over this process's (``None``: the variable unset).
EnvOverrides = Mapping[str, str | None]

#: One-thread BLAS/OpenMP pools for the threaded scheduler's sandbox: the child pins them to
#: one anyway (one per dask thread), but a pool started wider spins its idle threads for a
#: while after the pinning, CPU time a sample's ``cores_busy`` counted (2.2 cores for a
#: 3 ms numpy call in a fresh sandbox, 1.00 with the pool started at one thread).
BLAS_ONE_THREAD = {"OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1"}


def sandbox_env(res: Resources) -> dict[str, str | None]:
    """Environment a worker would run the function with (distributed pins BLAS threads and
    fixes malloc's thresholds); for the threaded scheduler, the malloc settings this process
    started with (``None``: unset), whatever a Nanny has since put in ``os.environ``."""
    if not res.distributed:
        return {**BLAS_ONE_THREAD, **thresholds_at_start()}
    env = dask.config.get("distributed.nanny.pre-spawn-environ", default={}) or {}
    return {k: str(v) for k, v in env.items()}


def thresholds_at_start(environ_path: str = "/proc/self/environ") -> dict[str, str | None]:
    """The malloc threshold variables as this process was started with them (``None``:
    unset), which is what its own malloc runs with: glibc reads them once, at start. A
    Nanny started in this process later sets ``MALLOC_TRIM_THRESHOLD_`` in ``os.environ``
    for its workers (distributed's ``pre-spawn-environ``, documented to "poison" the
    process running it), so a later sandbox for the threaded scheduler inherited a worker's
    malloc instead of this process's. Where the start-up environment cannot be read (not
    Linux), ``os.environ``'s values."""
    keys = (*FIXED_THRESHOLD_ENV, "GLIBC_TUNABLES")
    try:
        with open(environ_path, "rb") as f:
            items = f.read().split(b"\0")
    except OSError:
        return {k: os.environ.get(k) for k in keys}
    start = dict(item.decode(errors="replace").split("=", 1) for item in items if b"=" in item)
    return {k: start.get(k) for k in keys}
