"""Edge: start LocalClusters bound to 127.0.0.1 and connect to scheduler addresses, safely."""

from __future__ import annotations

import contextlib
import inspect
import logging
import os
import re
import shutil
import signal
import tempfile
from collections.abc import Iterator
from multiprocessing import resource_tracker
from typing import Any

import dask.config
from distributed import Client, LocalCluster

from chunkpilot import config, interrupts
from chunkpilot.cluster.identify import identify
from chunkpilot.cluster.mainguard import refuse_in_worker_start, start_failed
from chunkpilot.errors import (
    InvalidArgumentError,
    InvalidArgumentTypeError,
    SchedulerError,
    SchedulerLostError,
    UnsupportedProtocolError,
)
from chunkpilot.types import Resources
from chunkpilot.units import format_bytes

#: Addresses we accept for a running scheduler (the protocol is checked separately).
ADDRESS_RE = re.compile(r"^([a-z][a-z0-9+.-]*)://(\[[0-9a-fA-F:]+\]|[A-Za-z0-9._-]+):(\d{1,5})$")
#: Protocols a plain client connects with; ``tls``/``wss`` also need credentials in config.
PLAIN_PROTOCOLS = ("tcp", "ws")
TLS_PROTOCOLS = ("tls", "wss")
#: distributed's loggers in this process (scheduler, nannies): quiet while our cluster runs.
QUIET_LOGGERS = ("distributed.scheduler", "distributed.nanny", "distributed.worker",
                 "distributed.core", "distributed.http.proxy", "distributed.comm",
                 "distributed.batched", "distributed.client", "asyncio")
#: Signals the cluster's worker processes never see: a terminal's Ctrl-C or hang-up reaches
#: the whole process group, and chunkpilot closes the workers itself (no KeyboardInterrupt
#: tracebacks from every worker). SIGTERM stays: the nanny stops stuck workers with it.
WORKER_BLOCKED_SIGNALS = frozenset({signal.SIGINT, signal.SIGHUP})
#: The smallest memory limit a worker of our LocalCluster gets: an idle worker holds 60-160
#: MiB (interpreter, numpy, dask, distributed), and its nanny pauses it at 80 % and restarts
#: it at 95 % of the limit. At 100 MB workers died while idle (KilledWorker in the overhead
#: probe, "internal error"); at 30 MB advise hung.
MIN_LOCAL_WORKER_BYTES = 256 * 2**20


def is_address(scheduler: str) -> bool:
    """True for ``tcp://host:port``-like strings (not ``threads``/``local``)."""
    return "://" in scheduler


def check_address(address: str) -> str:
    """Validate a scheduler address's form and protocol, or raise :class:`SchedulerError`."""
    m = ADDRESS_RE.match(address.strip())
    if not m or not 0 < int(m.group(3)) < 65536:
        raise SchedulerError(
            f"Expected a scheduler address like 'tcp://127.0.0.1:8786'. Got {address!r} instead."
        )
    protocol = m.group(1)
    if protocol in TLS_PROTOCOLS and not _tls_configured():
        raise UnsupportedProtocolError(
            f"Expected TLS credentials in dask's config (distributed.comm.tls.client.cert/key "
            f"and ca-file) for a {protocol}:// scheduler. Got none for {address!r}: configure "
            "them, or use a tcp:// address."
        )
    if protocol not in PLAIN_PROTOCOLS + TLS_PROTOCOLS:
        raise UnsupportedProtocolError(
            f"Expected a tcp://, ws://, tls:// or wss:// scheduler address. Got {protocol}:// "
            f"in {address!r}, which chunkpilot cannot connect with"
            + (" (ucx needs the distributed-ucxx package)." if protocol == "ucx" else ".")
        )
    return address.strip()


def _tls_configured() -> bool:
    from distributed.security import Security

    try:
        return Security().get_connection_args("client").get("ssl_context") is not None
    except Exception:  # unreadable certificate files: not usable either
        return False


def check_client(client: Any, *, running: bool = True) -> Any:
    """A (``running``) ``distributed.Client``, or a clear error (wrong type, closed)."""
    if not isinstance(client, Client):
        raise InvalidArgumentTypeError(
            f"Expected a distributed.Client. Got {type(client).__name__} instead.")
    if running and client.status != "running":
        raise SchedulerError(
            f"Expected a running distributed.Client. Got one whose status is {client.status!r} "
            "(closed, or never connected): pass an open client.")
    return client


def scheduler_address(client: Any) -> str:
    """The address a client talks to, even after it lost the connection."""
    address = getattr(getattr(client, "scheduler", None), "address", None)
    address = address or getattr(client, "_start_arg", None)  # what it was created with
    return address if isinstance(address, str) else "its scheduler"


def check_connected(client: Any, address: str) -> None:
    """Raise :class:`SchedulerLostError` when ``client`` lost its scheduler (died, closed,
    network gone): distributed then has it reconnecting or closed."""
    status = client.status
    if status != "running" or client.scheduler is None:
        raise SchedulerLostError(
            f"Expected the dask scheduler at {address} to stay reachable. Got the connection "
            f"lost (client {status!r}): the scheduler died, was closed or the network went away.")


@contextlib.contextmanager
def connect(address: str, *, timeout_s: float | None = None) -> Iterator[Any]:
    """A ``distributed.Client`` to a running scheduler; closed on exit."""
    timeout_s = config.connect_timeout_s() if timeout_s is None else timeout_s
    address = check_address(address)
    identify(address, timeout_s)  # bounded: Client's own handshake may wait forever
    try:
        client = Client(address, timeout=f"{timeout_s}s", set_as_default=False)
    except (OSError, TimeoutError) as e:
        raise SchedulerError(
            f"Expected a reachable dask scheduler at {address}. Got no answer within "
            f"{timeout_s:.0f} s ({type(e).__name__}). Is the scheduler running?"
        ) from e
    except Exception as e:  # e.g. a comm that cannot be built: one clear line, not a traceback
        raise SchedulerError(
            f"Expected to connect to the dask scheduler at {address}. Got "
            f"{type(e).__name__}: {e}"
        ) from e
    # a lost scheduler is our one error line, not a log of reconnect attempts
    with quiet_logs(("distributed.client", "distributed.core", "distributed.comm")):
        try:
            yield client
        except SchedulerLostError:
            raise
        except Exception:  # whatever distributed raised when its scheduler went away
            if client.status != "running":
                check_connected(client, address)
            raise
        finally:
            with contextlib.suppress(Exception):  # a scheduler gone must not mask the error
                client.close()


@contextlib.contextmanager
def quiet_logs(names: tuple[str, ...] = QUIET_LOGGERS, level: int = logging.CRITICAL
               ) -> Iterator[None]:
    """Raise these loggers' levels for the block, then restore them (no global side effect)."""
    loggers = [logging.getLogger(n) for n in names]
    before = [lg.level for lg in loggers]
    for lg in loggers:
        lg.setLevel(max(lg.getEffectiveLevel(), level))
    try:
        yield
    finally:
        for lg, old in zip(loggers, before, strict=True):
            lg.setLevel(old)


@contextlib.contextmanager
def _signals_blocked(signals: frozenset[int]) -> Iterator[None]:
    """Block ``signals`` in this thread; threads (and processes) started meanwhile inherit
    the mask: the cluster's event-loop thread, and from it every worker process it spawns,
    restarts included. A signal that arrives meanwhile is delivered when the block ends."""
    old = signal.pthread_sigmask(signal.SIG_BLOCK, signals)
    # multiprocessing's resource tracker (started on the first spawn) inherits the mask, so a
    # hang-up cannot kill it (it ignores only SIGINT/SIGTERM itself); starting it *unblocks*
    # SIGINT/SIGTERM in this thread (bpo-33613), hence blocking again
    resource_tracker.ensure_running()
    signal.pthread_sigmask(signal.SIG_BLOCK, signals)
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, old)


@contextlib.contextmanager
def local_cluster(res: Resources, **kwargs: Any) -> Iterator[Any]:
    """A ``LocalCluster`` of worker processes sized as ``res``, dashboard on 127.0.0.1, a task
    that kills its worker retried ``chunkpilot.cluster.allowed-failures`` times; always
    closed. Scratch space lives in a ``chunkpilot-cluster-*`` temp dir removed on exit;
    distributed's loggers are quiet only while the cluster lives; workers never receive the
    terminal's SIGINT/SIGHUP (chunkpilot shuts them down itself)."""
    refuse_in_worker_start()
    if res.memory_limit_bytes < MIN_LOCAL_WORKER_BYTES:
        raise InvalidArgumentError(
            f"Expected a memory limit of at least {format_bytes(MIN_LOCAL_WORKER_BYTES)} per "
            f"worker for a LocalCluster (an idle dask worker holds 60-160 MiB, and its nanny "
            f"restarts it at 95 % of the limit). Got {format_bytes(res.memory_limit_bytes)}. "
            "Give workers more memory, or use the threaded scheduler.")
    scratch = tempfile.mkdtemp(prefix="chunkpilot-cluster-")
    interrupts.remove_after_interrupt(scratch)  # half-started workers may write there late
    kwargs.setdefault("dashboard_address", "127.0.0.1:0")
    kwargs.setdefault("silence_logs", logging.CRITICAL)  # worker chatter; our verdicts say it
    kwargs.setdefault("local_directory", scratch)
    kwargs.setdefault("scheduler_kwargs", {"local_directory": scratch,
                                           "allowed_failures": config.allowed_failures()})
    try:
        with nanny_environ_kept(), quiet_logs(), contextlib.ExitStack() as stack:
            with _signals_blocked(WORKER_BLOCKED_SIGNALS):
                try:
                    cluster = LocalCluster(
                        n_workers=res.workers,
                        threads_per_worker=res.threads_per_worker,
                        memory_limit=res.memory_limit_bytes,
                        processes=True,
                        host="127.0.0.1",
                        **kwargs,
                    )
                except Exception as e:  # an unguarded script, most likely: say so
                    raise start_failed(e) from e
                stack.callback(_close, cluster)  # before a held-back Ctrl-C is delivered
            client = Client(cluster, set_as_default=False)
            stack.callback(_close, client)
            yield client
    except BaseException:
        shutil.rmtree(scratch, ignore_errors=True)
        raise
    shutil.rmtree(scratch, ignore_errors=True)
    interrupts.forget(scratch)


@contextlib.contextmanager
def nanny_environ_kept() -> Iterator[None]:
    """Put back, once the cluster is closed, the variables its Nannies set in this process's
    ``os.environ`` for their workers (``distributed.nanny.pre-spawn-environ``: a fixed malloc
    trim threshold, one BLAS thread): the user's later subprocesses, and chunkpilot's own
    sandboxes for the threaded scheduler, must not inherit a worker's settings."""
    keys = dask.config.get("distributed.nanny.pre-spawn-environ", default={}) or {}
    before = {k: os.environ.get(k) for k in keys}
    try:
        yield
    finally:
        for k, v in before.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def _close(thing: Any) -> None:
    """Close a client or cluster; a second Ctrl-C or a dying worker must not stop the rest."""
    with contextlib.suppress(Exception):
        thing.close()


@contextlib.contextmanager
def scheduler_client(res: Resources, client: Any = None) -> Iterator[Any]:
    """The client that will run the work: the user's, a connection, a fresh LocalCluster, or
    ``None`` for the threaded scheduler."""
    if client is not None:
        yield check_client(client)
    elif not res.distributed:
        yield None
    elif is_address(res.scheduler):
        with connect(res.scheduler) as c:
            yield c
    else:
        with local_cluster(res) as c:
            yield c


def workers_of(client: Any) -> list[dict[str, Any]]:
    """The scheduler's view of its workers: nthreads and memory_limit for each."""
    check_client(client)
    try:
        info = (client.scheduler_info(n_workers=-1) if _takes_n_workers(client)
                else client.scheduler_info())
    except Exception as e:
        raise SchedulerError(
            f"Expected the scheduler at {getattr(client.scheduler, 'address', '?')} to answer. "
            f"Got {type(e).__name__}: {e}") from e
    return list(info.get("workers", {}).values())


def _takes_n_workers(client: Any) -> bool:
    return "n_workers" in inspect.signature(client.scheduler_info).parameters
