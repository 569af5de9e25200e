"""Edge: start LocalClusters bound to 127.0.0.1 and connect to scheduler addresses, safely."""

from __future__ import annotations

import contextlib
import inspect
import logging
import re
from collections.abc import Iterator
from typing import Any

from distributed import Client, LocalCluster

from chunkpilot.errors import SchedulerError
from chunkpilot.types import Resources

#: Addresses we accept for a running scheduler.
ADDRESS_RE = re.compile(r"^(tcp|tls|ucx|ws|wss)://(\[[0-9a-fA-F:]+\]|[A-Za-z0-9._-]+):(\d{1,5})$")
#: How long to wait for a scheduler to answer before calling it unreachable.
CONNECT_TIMEOUT_S = 10


def is_address(scheduler: str) -> bool:
    """True for ``tcp://host:port``-like strings (not ``threads``/``local``)."""
    return "://" in scheduler


def check_address(address: str) -> str:
    """Validate a scheduler address's form, or raise :class:`SchedulerError`."""
    m = ADDRESS_RE.match(address.strip())
    if not m or not 0 < int(m.group(3)) < 65536:
        raise SchedulerError(
            f"Expected a scheduler address like 'tcp://127.0.0.1:8786'. Got {address!r} instead."
        )
    return address.strip()


@contextlib.contextmanager
def connect(address: str, *, timeout_s: float | None = None) -> Iterator[Any]:
    """A ``distributed.Client`` to a running scheduler; closed on exit."""
    timeout_s = CONNECT_TIMEOUT_S if timeout_s is None else timeout_s
    address = check_address(address)
    try:
        client = Client(address, timeout=f"{timeout_s}s", set_as_default=False)
    except (OSError, TimeoutError) as e:
        raise SchedulerError(
            f"Expected a reachable dask scheduler at {address}. Got no answer within "
            f"{timeout_s:.0f} s ({type(e).__name__}). Is the scheduler running?"
        ) from e
    try:
        yield client
    finally:
        client.close()


@contextlib.contextmanager
def local_cluster(res: Resources, **kwargs: Any) -> Iterator[Any]:
    """A ``LocalCluster`` of worker processes sized as ``res``, dashboard on 127.0.0.1; always closed."""
    kwargs.setdefault("dashboard_address", "127.0.0.1:0")
    kwargs.setdefault("silence_logs", logging.CRITICAL)  # worker chatter; our verdicts say it
    # quiet the "port in use" and closing chatter; our own output says what matters
    for name in ("distributed.scheduler", "distributed.nanny", "distributed.worker",
                 "distributed.core", "distributed.http.proxy"):
        logging.getLogger(name).setLevel(logging.ERROR)
    cluster = LocalCluster(
        n_workers=res.workers,
        threads_per_worker=res.threads_per_worker,
        memory_limit=res.memory_limit_bytes,
        processes=True,
        host="127.0.0.1",
        **kwargs,
    )
    try:
        client = Client(cluster, set_as_default=False)
        try:
            yield client
        finally:
            client.close()
    finally:
        cluster.close()


@contextlib.contextmanager
def scheduler_client(res: Resources, client: Any = None) -> Iterator[Any]:
    """The client that will run the work: the user's, a connection, a fresh LocalCluster, or
    ``None`` for the threaded scheduler."""
    if client is not None or not res.distributed:
        yield client
    elif is_address(res.scheduler):
        with connect(res.scheduler) as c:
            yield c
    else:
        with local_cluster(res) as c:
            yield c


def workers_of(client: Any) -> list[dict[str, Any]]:
    """The scheduler's view of its workers: nthreads and memory_limit for each."""
    info = client.scheduler_info(n_workers=-1) if _takes_n_workers(client) else client.scheduler_info()
    return list(info.get("workers", {}).values())


def _takes_n_workers(client: Any) -> bool:
    return "n_workers" in inspect.signature(client.scheduler_info).parameters
