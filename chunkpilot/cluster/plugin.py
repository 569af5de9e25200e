"""``ClusterWatch``: a scheduler plugin that diagnoses every computation a cluster runs.

Cost on the scheduler: each transition is one or two comparisons, and O(1) dict and array
appends for a finished task; worker memory is read from the heartbeats the scheduler already
has (no RPCs); a computation's diagnosis runs on a helper thread when it ends. Memory is
bounded: per computation by :class:`~chunkpilot.cluster.recording.Limits`, and only the last
``chunkpilot.cluster-watch.max-computations`` results are kept. The plugin never raises into
the scheduler: the first error is logged and the plugin switches itself off.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

from distributed.diagnostics.plugin import SchedulerPlugin
from distributed.metrics import time
from tornado.ioloop import PeriodicCallback

from chunkpilot.cluster.dashboard import NAME, add_routes
from chunkpilot.cluster.graph_arrays import array_chunks
from chunkpilot.cluster.recording import (
    MAX_ARRAYS,
    Limits,
    Recording,
    analyse,
    group_done,
    kept_event,
)
from chunkpilot.cluster.resources import memory_fractions
from chunkpilot.core.computations import ComputationSummary, warning_line

__all__ = ["NAME", "ClusterWatch"]

logger = logging.getLogger(__name__)

#: Task-stream entries (in units of ``max_tasks``) of finished computations waiting for their
#: diagnosis; beyond, new computations are counted as dropped, not kept.
MAX_PENDING_RECORDINGS = 4
_ACTIVE = frozenset({"processing", "waiting", "queued", "no-worker"})
_DONE = frozenset({"memory", "erred", "released", "forgotten"})


def _log_like_distributed() -> None:
    """Send our log lines where the scheduler's go, formatted the same: ``dask scheduler``
    configures the ``distributed`` logger only, so ours would print bare otherwise."""
    ours = logging.getLogger("chunkpilot")
    if ours.handlers or logging.getLogger().handlers:
        return
    for handler in logging.getLogger("distributed").handlers:
        ours.addHandler(handler)


class ClusterWatch(SchedulerPlugin):
    """Record and diagnose every computation on the scheduler it is added to.

    Enable it with ``dask scheduler --preload chunkpilot.plugin``,
    ``client.register_plugin(chunkpilot.ClusterWatch())`` or
    ``chunkpilot.watch(client, always=True)``; see the results at ``/chunkpilot`` on the
    scheduler's dashboard, ``/chunkpilot/api/v1/computations`` or ``chunkpilot watch ADDRESS``.

    Parameters left ``None`` are read from dask config on the scheduler: see
    :class:`~chunkpilot.cluster.recording.Limits` (``chunkpilot.cluster-watch.max-computations``,
    ``max-tasks``, ``max-samples``, ``max-bars``, ``interval``, ``warn-min-seconds``).
    """

    name = NAME
    idempotent = True

    def __init__(self, *, max_computations: int | None = None, max_tasks: int | None = None,
                 max_bars: int | None = None, interval: str | float | None = None) -> None:
        self._overrides = {"max_computations": max_computations, "max_tasks": max_tasks,
                           "max_bars": max_bars, "interval_s": interval}
        Limits.from_config(**self._overrides)  # bad values fail here, not on the scheduler
        self.enabled = False
        """Recording; ``False`` before :meth:`start` and after an error switched it off."""
        self.error: str | None = None
        """The error that switched the plugin off, as ``"where: Type: message"``."""
        self.results: deque[tuple[ComputationSummary, bytes]] = deque()
        """The last computations: summary, and a thinned observation for the pictures
        (packed: see :func:`~chunkpilot.cluster.recording.unpack`)."""
        self.dropped = 0
        """Computations not diagnosed because the helper thread was behind."""
        self._by_group: dict[str, Recording] = {}
        self._open: dict[str, Recording] = {}
        self.page_path: str | None = None
        """Path of the page on the scheduler's HTTP server (after its dashboard prefix)."""

    async def start(self, scheduler: Any) -> None:
        try:
            self._start(scheduler)
        except Exception as e:
            self._fail("start", e)

    def _start(self, scheduler: Any) -> None:
        self.limits = Limits.from_config(**self._overrides)
        self.results = deque(maxlen=self.limits.max_computations)
        self.scheduler = scheduler
        self.fractions = memory_fractions()
        self._last_seen: dict[str, float] = {}
        self._pending = 0  # task-stream entries (+1 per computation) awaiting diagnosis
        self._loop = asyncio.get_running_loop()
        self._executor = ThreadPoolExecutor(1, thread_name_prefix="chunkpilot-watch")
        self._tick_pc = PeriodicCallback(self._tick, self.limits.interval_s * 1000)
        self.enabled = True
        _log_like_distributed()
        self._tick_pc.start()
        self.page_path = add_routes(scheduler)

    async def close(self) -> None:
        self._stop()

    def _stop(self) -> None:
        self.enabled = False
        if pc := getattr(self, "_tick_pc", None):
            pc.stop()
        if ex := getattr(self, "_executor", None):
            ex.shutdown(wait=False, cancel_futures=True)
        self._by_group, self._open = {}, {}

    def _fail(self, where: str, e: BaseException) -> None:
        """Log the first error once and switch off; the scheduler carries on without us."""
        try:
            if self.error is None:
                self.error = f"{where}: {type(e).__name__}: {e}"[:500]
                logger.error("chunkpilot ClusterWatch failed in %s and switched itself off; "
                             "the scheduler is not affected", where, exc_info=e)
            self._stop()
        except Exception:  # never raise into the scheduler, whatever happened
            self.enabled = False

    # -- hooks the scheduler calls ---------------------------------------------------------

    def update_graph(self, scheduler: Any, *, client: str = "", tasks: Any = (),
                     **kwargs: Any) -> None:
        if not self.enabled:
            return
        try:
            self._graph(scheduler, client, tasks)
        except Exception as e:
            self._fail("update_graph", e)

    def transition(self, key: Any, start: str, finish: str, *args: Any, **kwargs: Any) -> None:
        if finish not in _DONE or start not in _ACTIVE or not self._by_group or not self.enabled:
            return
        try:
            self._done(key, start, finish, kwargs)
        except Exception as e:
            self._fail("transition", e)

    def log_event(self, topic: str, msg: Any) -> None:
        if not self._open or not self.enabled:
            return
        try:
            self._event(topic, msg)
        except Exception as e:
            self._fail("log_event", e)

    # -- recording -------------------------------------------------------------------------

    def _graph(self, scheduler: Any, client: str, keys: Any) -> None:
        """A new graph: its new task groups make a new recording (one per compute/persist)."""
        tasks, new, sample, last = scheduler.tasks, {}, {}, None
        for key in keys:
            ts = tasks.get(key)
            if ts is None or ts.group is last:  # a group's keys mostly come together
                continue
            tg = last = ts.group
            name = tg.name
            if name in new or name in self._by_group or ts.state in ("memory", "erred"):
                continue
            new[name] = tg
            sample[name] = (key, ts.prefix.name)
        if not new:
            return
        now = time()
        rec = Recording(uuid.uuid4().hex[:12], str(client), now, self.limits)
        rec.groups = new
        for name, (key, prefix) in sample.items():
            if len(rec.arrays) < MAX_ARRAYS and (chunks := array_chunks(tasks, key, prefix)):
                rec.arrays[name] = chunks
        for name in new:
            self._by_group[name] = rec
        self._open[rec.id] = rec
        rec.add_memory(now, self._heartbeats(scheduler, force=True))
        self._loop.call_soon(self._check, rec)  # a graph of finished tasks ends at once

    def _done(self, key: Any, start: str, finish: str, kwargs: dict[str, Any]) -> None:
        ts = self.scheduler.tasks.get(key)
        if ts is None:
            return
        tg = ts.group
        rec = self._by_group.get(tg.name)
        if rec is None:
            return
        if start == "processing" and finish in ("memory", "erred"):
            rec.add_task(ts.prefix.name, finish == "memory", kwargs)
        if finish == "released":  # its worker died (it waits again, once this stimulus is
            # handled) or the client let go: look once the scheduler has settled, not now
            self._loop.call_soon(self._check, rec)
        elif group_done(tg):
            rec.groups.pop(tg.name, None)
            if not rec.groups:
                self._finish(rec)

    def _event(self, topic: str, msg: Any) -> None:
        if (kept := kept_event(topic, msg)) is not None:
            now = time()
            for rec in self._open.values():
                rec.add_event(topic, now, kept)

    def _heartbeats(self, scheduler: Any, *, force: bool = False) -> dict[str, Any]:
        """Workers' metrics from heartbeats the scheduler has not shown us yet."""
        out = {}
        for addr, ws in scheduler.workers.items():
            if force or self._last_seen.get(addr) != ws.last_seen:
                self._last_seen[addr] = ws.last_seen
                out[addr] = ws.identity()
        if len(self._last_seen) > 2 * len(scheduler.workers) + 16:  # forget departed workers
            self._last_seen = {a: self._last_seen[a] for a in scheduler.workers}
        return out

    def _tick(self) -> None:
        """Every interval while something runs: new heartbeats; computations that ended
        without a transition saying so (e.g. cancelled); ended ones whose workers have all
        reported their memory since (heartbeats lag), which go to the diagnosis."""
        if not self._open or not self.enabled:
            return
        try:
            idents = self._heartbeats(self.scheduler)
            now = time()
            for rec in list(self._open.values()):
                if idents:
                    rec.add_memory(now, idents)
                if rec.ended is None:
                    self._check(rec)
                elif now - rec.ended > 3 * self.limits.interval_s or all(
                        ws.last_seen >= rec.ended for ws in self.scheduler.workers.values()):
                    self._diagnose(rec)
        except Exception as e:
            self._fail("heartbeat", e)

    def _check(self, rec: Recording) -> None:
        try:
            for name, tg in list(rec.groups.items()):
                if group_done(tg):
                    del rec.groups[name]
            if not rec.groups and rec.ended is None:
                self._finish(rec)
        except Exception as e:
            self._fail("check", e)

    def _finish(self, rec: Recording) -> None:
        """The computation ended: stop recording its tasks; diagnose it once the workers'
        next heartbeats show the memory it left (see :meth:`_tick`)."""
        rec.ended = time()
        rec.wall_seconds = rec.ended - rec.t0
        self._by_group = {k: r for k, r in self._by_group.items() if r is not rec}

    def _diagnose(self, rec: Recording) -> None:
        """Diagnose an ended computation on the helper thread."""
        del self._open[rec.id]
        bars = len(rec.start)
        if self._pending and self._pending + bars > MAX_PENDING_RECORDINGS * self.limits.max_tasks:
            self.dropped += 1
            return
        self._pending += bars + 1
        fut = self._executor.submit(analyse, rec, self.fractions)
        fut.add_done_callback(lambda f: self._hand_back(f, bars + 1))

    def _hand_back(self, fut: Future[tuple[ComputationSummary, bytes]], size: int) -> None:
        """On the helper thread: pass the result to the event loop (unless it has closed)."""
        if not self._loop.is_closed():
            self._loop.call_soon_threadsafe(self._store, fut, size)

    def _store(self, fut: Future[tuple[ComputationSummary, bytes]], size: int) -> None:
        self._pending -= size
        if fut.cancelled() or not self.enabled:
            return
        try:
            summary, packed = fut.result()
            self.results.append((summary, packed))
            if line := warning_line(summary, min_wall_seconds=self.limits.warn_min_seconds):
                logger.warning(line)
        except Exception as e:
            self._fail("diagnosis", e)

    # -- reading ---------------------------------------------------------------------------

    def payload(self, **kwargs: Any) -> dict[str, Any]:
        """The JSON document of the API (and of the ``chunkpilot_computations`` handler)."""
        return {"version": 1, "enabled": self.enabled, "error": self.error,
                "dropped": self.dropped, "recording": len(self._open),
                "page_path": self.page_path,
                "computations": [s.to_dict() for s, _ in reversed(self.results)]}
