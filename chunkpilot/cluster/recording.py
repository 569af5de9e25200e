"""What the cluster watch records for one computation, compactly, and what it turns into.

A :class:`Recording` lives on the scheduler's event loop while its computation runs:
columns of numbers (no per-task objects), capped in size. When the computation ends,
:func:`analyse` (on a helper thread) builds the same :class:`Observation` the client-side
collector builds, runs the one diagnosis, and keeps a thinned copy for the pictures.
"""

from __future__ import annotations

import json
import re
import zlib
from array import array
from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any

import dask.config
from dask.utils import parse_timedelta

from chunkpilot.cluster.observe import _add_kill_samples, _count_events, _memory_records
from chunkpilot.core.computations import (
    WARN_MIN_WALL_SECONDS,
    ArrayChunks,
    ComputationSummary,
    decimate,
    group_times,
    thin,
)
from chunkpilot.core.diagnose import diagnose
from chunkpilot.core.metrics import cluster_threads
from chunkpilot.core.observations import MemoryRecord, Observation, TaskRecord, WorkerInfo
from chunkpilot.errors import InvalidArgumentError

__all__ = ["CONFIG", "Limits", "Recording", "analyse", "group_done", "kept_event", "pack",
           "unpack"]

#: dask config section read on the scheduler (``DASK_CHUNKPILOT__CLUSTER_WATCH__...``).
CONFIG = "chunkpilot.cluster-watch"
#: Array-like groups described per computation; scheduler events kept per computation.
MAX_ARRAYS = 32
MAX_EVENTS = 1000
_TYPE_NAME = re.compile(r"[A-Za-z_][\w.]*")


def group_done(tg: Any) -> bool:
    """``TaskGroup.done`` without its loop: nothing waiting, queued or processing."""
    states = tg.states
    return not (states.get("processing") or states.get("waiting") or states.get("queued")
                or states.get("no-worker"))


def kept_event(topic: str, msg: Any) -> dict[str, Any] | None:
    """The part of a scheduler event that counts a pause, a death or a memory restart
    (what :func:`chunkpilot.cluster.observe._count_events` reads); ``None`` for the rest."""
    if not isinstance(msg, dict):
        return None
    action = msg.get("action")
    if topic == "all" and action == "remove-worker":
        return {"action": action, "expected": bool(msg.get("expected"))}
    if topic == "worker-restart-memory" and "worker" in msg:
        return {"worker": str(msg["worker"]), "rss": int(msg.get("rss", 0))}
    if action == "worker-status-change" and msg.get("status") == "paused":
        return {"action": action, "status": "paused"}
    return None


@dataclass(frozen=True, slots=True)
class Limits:
    """How much the watch keeps (memory stays bounded whatever runs), and when it warns."""

    max_computations: int = 100
    """Finished computations kept (summary and pictures); older ones are dropped."""
    max_tasks: int = 10_000
    """Task-stream entries recorded per computation; later ones are counted, not kept, and
    the verdicts judge the window recorded. This bounds the diagnosis's time as well as the
    memory (the diagnosis costs about 10 us per entry)."""
    max_samples: int = 2_000
    """Worker memory samples kept per computation; more are merged, keeping peaks."""
    max_bars: int = 2_000
    """Task-stream entries kept for the pictures after the diagnosis."""
    interval_s: float = 0.5
    """Seconds between looks at new heartbeats (and at computations that ended quietly)."""
    warn_min_seconds: float = WARN_MIN_WALL_SECONDS
    """Shorter computations get verdicts but no warning in the scheduler log."""

    def __post_init__(self) -> None:
        for f in fields(self):
            v = getattr(self, f.name)
            if isinstance(v, bool) or not isinstance(v, (int, float)) or v < 0 or (
                    f.name.startswith("max") and (v < 1 or v != int(v))) or (
                    f.name == "interval_s" and v <= 0):
                raise InvalidArgumentError(
                    f"Expected {f.name} as a number > 0 (an int for max_*). Got {v!r} instead.")

    @classmethod
    def from_config(cls, **overrides: Any) -> Limits:
        """``overrides`` not ``None``, else dask config ``chunkpilot.cluster-watch.*`` (read
        on the scheduler), else the defaults."""
        values = {}
        for f in fields(cls):
            v = overrides.get(f.name)
            if v is None:
                key = f.name.removesuffix("_s").replace("_", "-")
                v = dask.config.get(f"{CONFIG}.{key}", f.default)
            values[f.name] = parse_timedelta(v) if f.name == "interval_s" else v
        return cls(**values)


class Recording:
    """One computation being recorded: appended to on the event loop, O(1) per task."""

    def __init__(self, rid: str, client: str, t0: float, limits: Limits) -> None:
        self.id, self.client, self.t0, self.limits = rid, client, t0, limits
        self.groups: dict[str, Any] = {}
        """Open task groups (name -> the scheduler's TaskGroup); dropped when it ends."""
        self.arrays: dict[str, ArrayChunks] = {}
        self.wall_seconds = 0.0
        self.ended: float | None = None
        """When its last task group finished; ``None`` while it runs."""
        self.finished = 0
        self.erred = 0
        self.error_types: dict[str, int] = {}
        self.killed_worker = False
        self.truncated = False
        self.memory: list[MemoryRecord] = []
        self.workers: dict[str, WorkerInfo] = {}
        self.events: dict[str, list[tuple[float, dict[str, Any]]]] = {}
        self._nevents = 0
        self._names: dict[str, int] = {}
        self._hosts: dict[str, int] = {}
        self._actions: dict[str, int] = {}
        self.seq, self.name_i, self.host_i = array("l"), array("i"), array("i")
        self.thread, self.action_i, self.ok = array("q"), array("b"), array("b")
        self.start, self.stop, self.nbytes = array("d"), array("d"), array("q")

    def add_task(self, prefix: str, ok: bool, kwargs: Mapping[str, Any]) -> None:
        """A task finished (``ok``) or erred: keep its task-stream entries as columns. They
        are on the scheduler's clock already: each worker adds its offset to the scheduler
        (``Worker.scheduler_delay``) before it reports them, so adding the scheduler's
        ``WorkerState.time_delay`` again shifted a skewed worker's bars twice (5 s ahead: a
        start-up of -3.05 s)."""
        self.finished += 1
        if not ok:
            self.erred += 1
            text = kwargs.get("exception_text")  # repr(exception): keep its type name only
            name = _TYPE_NAME.match(str(text)) if text else None
            kind = name.group(0)[:80] if name else "KilledWorker" if text is None else "Error"
            self.killed_worker |= text is None and kwargs.get("cause") is not None
            self.error_types[kind] = self.error_types.get(kind, 0) + 1
        startstops = kwargs.get("startstops") or ()
        if len(self.start) + len(startstops) > self.limits.max_tasks:
            self.truncated = True
            return
        names, hosts, actions = self._names, self._hosts, self._actions
        worker = str(kwargs.get("worker", ""))
        n = names.setdefault(prefix, len(names))
        h = hosts.setdefault(worker, len(hosts))
        thread = int(kwargs.get("thread") or 0)
        nbytes = kwargs.get("nbytes")
        for ss in startstops:
            action = ss["action"]
            self.seq.append(self.finished)
            self.name_i.append(n)
            self.host_i.append(h)
            self.thread.append(thread)
            self.action_i.append(actions.setdefault(action, len(actions)))
            self.ok.append(ok)
            self.start.append(ss["start"] - self.t0)
            self.stop.append(max(ss["stop"], ss["start"]) - self.t0)
            self.nbytes.append(nbytes if action == "compute" and nbytes is not None else -1)

    def add_memory(self, now: float, idents: Mapping[str, Mapping[str, Any]]) -> None:
        """A heartbeat's worth of worker metrics (``WorkerState.identity()`` per worker)."""
        records, workers, _ = _memory_records([(now - self.t0, dict(idents))])
        self.memory.extend(records)
        for w in workers:
            self.workers.setdefault(w.address, w)
        if len(self.memory) > self.limits.max_samples:
            self.memory = list(decimate(self.memory, self.limits.max_samples // 2))

    def add_event(self, topic: str, t: float, msg: dict[str, Any]) -> None:
        """A scheduler event that counts a pause, a death or a memory restart."""
        if self._nevents < MAX_EVENTS:
            self._nevents += 1
            self.events.setdefault(topic, []).append((t, msg))

    def tasks(self) -> tuple[TaskRecord, ...]:
        """The recorded task-stream entries as records (called off the event loop)."""
        names = list(self._names)
        hosts = list(self._hosts)
        actions = list(self._actions)
        return tuple(
            TaskRecord(f"{names[self.name_i[i]]}#{self.seq[i]}", names[self.name_i[i]],
                       hosts[self.host_i[i]], self.thread[i], actions[self.action_i[i]],
                       self.start[i], self.stop[i],
                       None if self.nbytes[i] < 0 else self.nbytes[i],
                       "OK" if self.ok[i] else "error")
            for i in range(len(self.start)))


def observation(rec: Recording, fractions: Mapping[str, float | None]) -> Observation:
    """The recording as the Observation every diagnosis in chunkpilot reads."""
    tasks = rec.tasks()
    wall = rec.wall_seconds
    if rec.truncated and tasks:  # judge the window the records cover, not the whole run
        wall = max(t.stop_s for t in tasks)
    restarts, pauses = _count_events(rec.events, rec.t0)
    error = None
    if rec.error_types:
        kind, _ = max(rec.error_types.items(), key=lambda kv: kv[1])
        error = f"{kind}: {rec.erred} task(s) erred (messages are not recorded)"
    return Observation(
        wall_seconds=max(wall, 0.0), tasks=tasks,
        memory=_add_kill_samples(tuple(rec.memory), rec.events, rec.t0),
        workers=tuple(rec.workers.values()), restarts=restarts, pauses=pauses,
        killed_worker=rec.killed_worker, erred_tasks=rec.erred, error=error,
        **fractions)  # type: ignore[arg-type]


def pack(obs: Observation) -> bytes:
    """An observation as compressed JSON: kept for the pictures without keeping thousands of
    objects alive (every one of them would be walked by each garbage collection)."""
    return zlib.compress(json.dumps(obs.to_dict(), separators=(",", ":")).encode(), 6)


def unpack(blob: bytes) -> Observation:
    """The observation :func:`pack` stored."""
    return Observation.from_dict(json.loads(zlib.decompress(blob)))


def analyse(rec: Recording, fractions: Mapping[str, float | None]
            ) -> tuple[ComputationSummary, bytes]:
    """Diagnose a finished recording: its summary, and a thinned, packed observation."""
    obs = observation(rec, fractions)
    bytes_by_name: dict[str, list[int]] = {}
    for t in obs.tasks:
        if t.nbytes is not None:
            bytes_by_name.setdefault(t.group, []).append(t.nbytes)
    arrays = tuple(
        ArrayChunks(a.name, a.blocks, a.chunk_shape,
                    sum(b) // len(b) if (b := bytes_by_name.get(a.name)) else None)
        for a in rec.arrays.values())
    summary = ComputationSummary(
        # the whole run's wall time, as documented, even when only a window was recorded
        id=rec.id, started_at=rec.t0, wall_seconds=max(rec.wall_seconds, 0.0), tasks=rec.finished,
        threads=cluster_threads(obs), groups=group_times(obs), arrays=arrays,
        verdicts=diagnose(obs), client=rec.client, truncated=rec.truncated)
    return summary, pack(thin(obs, max_bars=rec.limits.max_bars, max_samples=500))
