"""Record what a computation does on a ``distributed.Client``: task stream, memory, restarts."""

from __future__ import annotations

import contextvars
import logging
import threading
import time
from collections.abc import Callable, Iterable
from typing import Any, TypeVar

from dask.utils import key_split
from distributed import Client, Future
from distributed.scheduler import KilledWorker

from chunkpilot.cluster.connect import check_client, check_connected, scheduler_address
from chunkpilot.cluster.resources import memory_fractions
from chunkpilot.core.observations import (
    MemoryRecord,
    Observation,
    TaskRecord,
    WorkerInfo,
    error_fields,
)
from chunkpilot.errors import InvalidArgumentError, SchedulerLostError

__all__ = ["Collector", "observe"]

logger = logging.getLogger(__name__)

T = TypeVar("T")

#: Bound every scheduler call: a collector must never be what hangs (a busy scheduler answers
#: ``identity`` in milliseconds; 30 s means it is gone).
RPC_TIMEOUT_S = 30.0
#: After cancelling a timed-out computation, wait this long for ``run()`` to return before
#: giving up on it: cancelled futures normally raise within a second, but a busy event loop
#: on a loaded machine can take several.
CANCEL_GRACE_S = 10.0


class Collector:
    """Poll a cluster while work runs and turn what it saw into an :class:`Observation`.

    Shared by :func:`observe` and :func:`chunkpilot.commands.watch.watch`. It stores raw records:
    interpretation lives in :mod:`chunkpilot.core.diagnose`.

    Memory comes from the scheduler's ``identity`` handler (the per-worker ``metrics`` that
    back the dashboard's memory bars), not ``run_on_scheduler``: a built-in handler needs no
    chunkpilot on a remote scheduler. Managed memory lags by one heartbeat (0.5 s on small
    clusters), which is fine for a diagnosis.

    Parameters
    ----------
    client
        The client the computation runs through.
    interval_s
        Seconds between memory samples.
    timeout_s
        Cancel the futures this client created after this many seconds; ``None`` for never.
    """

    def __init__(
        self, client: Client, *, interval_s: float = 0.1, timeout_s: float | None = None
    ) -> None:
        if not interval_s > 0:
            raise InvalidArgumentError(f"Expected interval_s > 0. Got {interval_s!r} instead.")
        if timeout_s is not None and not timeout_s > 0:
            raise InvalidArgumentError(f"Expected timeout_s > 0. Got {timeout_s!r} instead.")
        self.client = check_client(client, running=False)
        self.address = scheduler_address(client)
        self.interval_s = float(interval_s)
        self.timeout_s = timeout_s
        self.timed_out = False
        self._samples: list[tuple[float, dict[str, Any]]] = []
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._t0 = 0.0
        self._m0 = 0.0
        self._stream_index = 0
        self._keys_before: set[Any] = set()

    def start(self) -> None:
        """Mark the start and begin sampling memory in a background thread."""
        client = self.client
        try:
            self._stream_index = self._rpc("get_task_stream_index")
        except SchedulerLostError:
            raise
        except (OSError, TimeoutError) as e:  # distributed's CommClosedError is an OSError
            raise SchedulerLostError(f"Expected the dask scheduler at {self.address} to "
                                     f"answer. Got {type(e).__name__}: {e}") from e
        self._keys_before = set(client.futures)
        self._t0 = time.time()
        self._m0 = time.monotonic()
        self._sample()
        self._thread = threading.Thread(target=self._poll, name="chunkpilot-observe", daemon=True)
        self._thread.start()

    def _poll(self) -> None:
        while not self._stop.wait(self.interval_s):
            self._sample()
            elapsed = time.monotonic() - self._m0
            if self.timeout_s is not None and elapsed > self.timeout_s and not self.timed_out:
                self.timed_out = True
                self.cancel()

    def _rpc(self, handler: str, **kwargs: Any) -> Any:
        """Call a built-in scheduler handler (no pickled code: works on remote schedulers)."""
        check_connected(self.client, self.address)
        method = getattr(self.client.scheduler, handler)
        return self.client.sync(  # type: ignore[no-untyped-call]
            method, callback_timeout=RPC_TIMEOUT_S, **kwargs
        )

    def _sample(self) -> None:
        try:
            ident = self._rpc("identity")
        except Exception as e:  # the cluster may be restarting or closing; keep polling
            logger.debug("memory sample failed: %r", e)
            return
        self._samples.append((time.time() - self._t0, ident.get("workers", {})))

    def cancel(self) -> None:
        """Cancel every future this client created since :meth:`start`."""
        client = self.client
        keys = [k for k in list(client.futures) if k not in self._keys_before]
        try:
            futures: list[Future[Any]] = [Future(k, client) for k in keys]
            client.cancel(futures, force=True, reason="chunkpilot timeout")  # type: ignore[no-untyped-call]
        except Exception as e:
            logger.warning("could not cancel timed-out computation: %r", e)

    def stop(self, exc: BaseException | None = None) -> Observation:
        """Stop sampling and collect the task stream and events into an :class:`Observation`.

        Parameters
        ----------
        exc
            The exception the computation ended with, if any; it is recorded, not raised.
        """
        wall = time.monotonic() - self._m0
        self._stop.set()
        if self._thread is not None:
            self._thread.join(RPC_TIMEOUT_S + self.interval_s)
        self._sample()
        msgs = _quiet(lambda: self._rpc("get_task_stream", start_index=self._stream_index), [])
        events = _quiet(lambda: self._rpc("events"), {})
        tasks = tuple(_task_records(msgs, self._t0))
        memory, workers, polled_pauses = _memory_records(self._samples)
        restarts, event_pauses = _count_events(events, self._t0)
        memory = _add_kill_samples(memory, events, self._t0)
        if self.timed_out and exc is None:
            exc = TimeoutError(f"cancelled after {self.timeout_s} s")
        return Observation(
            wall_seconds=wall, tasks=tasks, memory=memory, workers=workers,
            restarts=restarts,
            pauses=max(polled_pauses, event_pauses),
            killed_worker=isinstance(exc, KilledWorker),
            erred_tasks=len({t.key for t in tasks if t.status != "OK"}),
            **error_fields(exc),
            timed_out=self.timed_out,
            **memory_fractions(),
        )


def _quiet(fn: Callable[[], Any], default: Any) -> Any:
    try:
        return fn()
    except Exception as e:  # a dead cluster must not lose what we already recorded
        logger.warning("chunkpilot could not collect diagnostics: %r", e)
        return default


def _task_records(msgs: Iterable[dict[str, Any]], t0: float) -> Iterable[TaskRecord]:
    for msg in msgs:
        key = msg.get("key")
        for ss in msg.get("startstops", ()):
            yield TaskRecord(
                key=str(key),
                group=str(key_split(key)),
                worker=str(msg.get("worker", "")),
                thread=int(msg.get("thread") or 0),
                action=str(ss["action"]),
                start_s=float(ss["start"]) - t0,
                stop_s=max(float(ss["stop"]), float(ss["start"])) - t0,
                nbytes=msg.get("nbytes") if ss["action"] == "compute" else None,
                status="OK" if msg.get("status", "OK") == "OK" else "error",
            )


def _memory_records(
    samples: list[tuple[float, dict[str, Any]]],
) -> tuple[tuple[MemoryRecord, ...], tuple[WorkerInfo, ...], int]:
    """Split each worker's metrics the way ``WorkerState.memory`` does for the dashboard."""
    records: list[MemoryRecord] = []
    workers: dict[str, WorkerInfo] = {}
    last_status: dict[str, str] = {}
    pauses = 0
    for t, idents in samples:
        for addr, w in idents.items():
            m = w.get("metrics", {})
            process = int(m.get("memory", 0))
            spilled = m.get("spilled_bytes", {})
            managed = int(m.get("managed_bytes", 0)) - int(spilled.get("memory", 0))
            managed = min(process, max(0, managed))
            status = str(w.get("status", "running"))
            if status == "paused" and last_status.get(addr) != "paused":
                pauses += 1
            last_status[addr] = status
            records.append(MemoryRecord(t, addr, managed, process - managed,
                                        int(spilled.get("disk", 0)), status))
            limit = w.get("memory_limit") or None
            workers.setdefault(addr, WorkerInfo(addr, int(w.get("nthreads", 1)), limit))
    return tuple(records), tuple(workers.values()), pauses


def _count_events(events: dict[str, Any], t0: float) -> tuple[int, int]:
    """Count worker deaths and pauses the scheduler logged since ``t0``."""
    removed = sum(
        1 for t, e in events.get("all", ())
        if t >= t0 and e.get("action") == "remove-worker" and not e.get("expected", False)
    )
    memory_restarts = sum(1 for t, _ in events.get("worker-restart-memory", ()) if t >= t0)
    pauses = sum(
        1 for topic, evs in events.items() if topic.startswith(("tcp://", "tls://", "inproc://"))
        for t, e in evs
        if t >= t0 and e.get("action") == "worker-status-change" and e.get("status") == "paused"
    )
    return max(removed, memory_restarts), pauses


def _add_kill_samples(
    memory: tuple[MemoryRecord, ...], events: dict[str, Any], t0: float
) -> tuple[MemoryRecord, ...]:
    """Add the RSS the nanny saw when it killed a worker: polling is too slow to catch it."""
    extra: list[MemoryRecord] = []
    for t, e in events.get("worker-restart-memory", ()):
        if t < t0 or "rss" not in e:
            continue
        managed = next((m.managed_bytes for m in reversed(memory) if m.worker == e["worker"]), 0)
        rss = int(e["rss"])
        extra.append(MemoryRecord(t - t0, str(e["worker"]), min(managed, rss),
                                  rss - min(managed, rss), 0, "restarting"))
    return tuple(sorted(memory + tuple(extra), key=lambda m: m.time_s)) if extra else memory


def observe(
    client: Client, run: Callable[[], T], *, timeout_s: float, interval_s: float = 0.1
) -> tuple[T | None, Observation]:
    """Run ``run()`` through ``client`` and record what the cluster did.

    Parameters
    ----------
    client
        Client the computation goes through (``run`` calls ``.compute()`` or ``.result()``).
    run
        Zero-argument callable that triggers the computation and returns its result.
    timeout_s
        Cancel the computation after this many seconds; the call never hangs.
    interval_s
        Seconds between memory samples.

    Returns
    -------
    result, observation
        ``result`` is ``None`` when ``run`` raised or timed out. Exceptions such as
        ``KilledWorker`` are recorded in ``observation.error``, not raised.
    """
    collector = Collector(client, interval_s=interval_s, timeout_s=timeout_s)
    box: dict[str, Any] = {}

    def target() -> None:
        try:
            box["result"] = run()
        except BaseException as e:  # recorded, not raised: the caller wants an Observation
            box["exc"] = e

    collector.start()
    ctx = contextvars.copy_context()  # keep `with client.as_current()` in force in the thread
    thread = threading.Thread(target=ctx.run, args=(target,), name="chunkpilot-run", daemon=True)
    thread.start()
    try:
        thread.join(timeout_s + CANCEL_GRACE_S)
    except BaseException:  # Ctrl-C: stop the work and the sampler before the cluster closes
        collector.cancel()
        collector._stop.set()
        raise
    if thread.is_alive():  # cancelled but still not back: abandon the (daemon) thread
        collector.timed_out = True
    if collector.client.status != "running":  # a lost scheduler is not the chunks' failure
        collector._stop.set()
        check_connected(collector.client, collector.address)
    if "exc" in box:  # e.g. KilledWorker: stop the rest of the graph from killing more workers
        collector.cancel()
    exc = None if collector.timed_out else box.get("exc")
    obs = collector.stop(exc)
    return (None if "exc" in box or thread.is_alive() else box.get("result")), obs
