"""Frozen records of what a computation did on a cluster: tasks, memory, workers, trials.

Raw records only, plus the one rule for a failed run (:attr:`Observation.failed`);
interpretation lives in :mod:`chunkpilot.core.diagnose`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields
from typing import Any

from chunkpilot.core.verdicts import Verdict
from chunkpilot.errors import InvalidArgumentError
from chunkpilot.types import DEFAULT_MEMORY_FRACTIONS, Chunks

__all__ = [
    "FlatRecord",
    "MemoryRecord",
    "Observation",
    "TaskRecord",
    "Trial",
    "WorkerInfo",
]

def _check_finite(obj: object, *names: str) -> None:
    for name in names:
        v = getattr(obj, name)
        if v is not None and not math.isfinite(v):
            raise InvalidArgumentError(f"Expected a finite {name}. Got {v!r} instead.")


def known_fields(cls: type, d: dict[str, Any]) -> dict[str, Any]:
    """``d`` unchanged when every key is a field of the dataclass ``cls``; a clear error names
    the unknown ones (a record file from another version, a typo)."""
    names = {f.name for f in fields(cls)}
    unknown = set(d) - names
    if unknown:
        raise InvalidArgumentError(
            f"Expected {cls.__name__} fields {sorted(names)}. Got unknown {sorted(unknown)}."
        )
    return d


class FlatRecord:
    """``to_dict`` / ``from_dict`` for a frozen dataclass of plain fields (a JSON object)."""

    __slots__ = ()

    def to_dict(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in fields(self)}  # type: ignore[arg-type]

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Any:
        return cls(**known_fields(cls, d))


@dataclass(frozen=True, slots=True)
class TaskRecord(FlatRecord):
    """One bar of the task stream: a worker thread doing one action for one task."""

    key: str
    """The task key as a string, e.g. ``"('sum-abc', 3)"``."""
    group: str
    """Task prefix name as the dashboard shows it, e.g. ``"sum"``, ``"ones_like"``."""
    worker: str
    """Address of the worker that ran it."""
    thread: int
    """Thread id on that worker (one row of the dashboard task stream)."""
    action: str
    """``"compute"``, ``"transfer"``, ``"disk-read"``, ``"disk-write"`` or ``"deserialize"``."""
    start_s: float
    """Start, in seconds since the observation began."""
    stop_s: float
    """Stop, in seconds since the observation began."""
    nbytes: int | None = None
    """Size of the task's result in bytes, when the scheduler reported it."""
    status: str = "OK"
    """``"OK"``, or ``"error"`` when the task raised."""

    def __post_init__(self) -> None:
        _check_finite(self, "start_s", "stop_s")
        if self.stop_s < self.start_s:
            raise InvalidArgumentError(
                f"Expected stop_s >= start_s. Got {self.start_s} > {self.stop_s} for {self.key}."
            )

    @property
    def duration_s(self) -> float:
        """Seconds between start and stop."""
        return self.stop_s - self.start_s


@dataclass(frozen=True, slots=True)
class MemoryRecord(FlatRecord):
    """One sample of one worker's memory bar: managed + unmanaged = process memory (RSS)."""

    time_s: float
    """Sample time, in seconds since the observation began."""
    worker: str
    """Worker address."""
    managed_bytes: int
    """Bytes of task results held in RAM (solid part of the dashboard bar)."""
    unmanaged_bytes: int
    """Process memory minus managed: interpreter, temporaries, fragmentation (lighter part)."""
    spilled_bytes: int
    """Bytes of task results spilled to disk (grey part)."""
    status: str = "running"
    """Worker status at the sample: ``"running"``, ``"paused"``, ``"closing"``, ..."""

    def __post_init__(self) -> None:
        _check_finite(self, "time_s")

    @property
    def process_bytes(self) -> int:
        """Process memory (RSS) of the worker: managed plus unmanaged."""
        return self.managed_bytes + self.unmanaged_bytes


@dataclass(frozen=True, slots=True)
class WorkerInfo(FlatRecord):
    """A worker seen during the observation."""

    address: str
    """Worker address, e.g. ``"tcp://127.0.0.1:40123"``."""
    nthreads: int
    """Threads the worker runs tasks on."""
    memory_limit_bytes: int | None
    """The worker's memory limit; ``None`` when it has none."""


def error_fields(exc: BaseException | None) -> dict[str, str | None]:
    """An :class:`Observation`'s ``error`` (``"Type: message"``) and ``error_type`` for the
    exception a run ended with (both ``None`` when it worked)."""
    if exc is None:
        return {"error": None, "error_type": None}
    return {"error": f"{type(exc).__name__}: {exc}", "error_type": type(exc).__name__}


@dataclass(frozen=True, slots=True)
class Observation:
    """Everything recorded while one computation ran: raw records, no interpretation."""

    wall_seconds: float
    """Wall-clock seconds from submitting the work to getting its result (or giving up)."""
    tasks: tuple[TaskRecord, ...] = ()
    """Task-stream bars, in the order the scheduler recorded them."""
    memory: tuple[MemoryRecord, ...] = ()
    """Worker memory samples, in time order."""
    workers: tuple[WorkerInfo, ...] = ()
    """Every worker seen while observing (a restarted worker appears under its new address)."""
    restarts: int = 0
    """Worker processes that died or were restarted (e.g. "exceeded 95% memory budget")."""
    pauses: int = 0
    """Times a worker paused because its memory passed the pause fraction."""
    killed_worker: bool = False
    """The computation failed with ``KilledWorker``: workers kept dying running a task."""
    erred_tasks: int = 0
    """Tasks that raised an exception."""
    error: str | None = None
    """The exception the computation ended with, as ``"Type: message"``; ``None`` if it worked."""
    error_type: str | None = None
    """That exception's class name (``KilledWorker``, ``StoreReadError``); ``None`` if it
    worked, or in records older than it."""
    timed_out: bool = False
    """The computation ran past the time limit and was cancelled."""
    executor: str = "distributed"
    """``"distributed"`` (a cluster: managed/unmanaged split from workers) or ``"threads"``
    (dask's threaded scheduler: one process, whose memory dask does not split)."""
    target_fraction: float | None = DEFAULT_MEMORY_FRACTIONS["target_fraction"]
    """``distributed.worker.memory.target``: spill managed data above this share of the limit."""
    spill_fraction: float | None = DEFAULT_MEMORY_FRACTIONS["spill_fraction"]
    """``distributed.worker.memory.spill``: spill when process memory passes this share."""
    pause_fraction: float | None = DEFAULT_MEMORY_FRACTIONS["pause_fraction"]
    """``distributed.worker.memory.pause``: stop running tasks above this share."""
    terminate_fraction: float | None = DEFAULT_MEMORY_FRACTIONS["terminate_fraction"]
    """``distributed.worker.memory.terminate``: the nanny restarts the worker above this share."""

    def __post_init__(self) -> None:
        _check_finite(self, "wall_seconds")
        if self.wall_seconds < 0:
            raise InvalidArgumentError(f"Expected wall_seconds >= 0. Got {self.wall_seconds}.")
        for name in ("tasks", "memory", "workers"):
            object.__setattr__(self, name, tuple(getattr(self, name)))

    @property
    def errored(self) -> bool:
        """The computation gave no result: it raised or was cancelled on timeout."""
        return self.error is not None or self.timed_out

    @property
    def failed(self) -> bool:
        """The run cannot be trusted as a measurement: no result, erred tasks, KilledWorker,
        or worker processes that died or were restarted on the way."""
        return bool(self.errored or self.erred_tasks or self.killed_worker or self.restarts)

    @property
    def peak_process_bytes(self) -> int:
        """Highest process memory (managed + unmanaged) any worker reached."""
        return max((m.process_bytes for m in self.memory), default=0)

    @property
    def peak_spilled_bytes(self) -> int:
        """Most data any worker held spilled to disk."""
        return max((m.spilled_bytes for m in self.memory), default=0)

    @property
    def compute_task_count(self) -> int:
        """Distinct tasks that computed (transfers and disk I/O not counted)."""
        return len({t.key for t in self.tasks if t.action == "compute"})

    def to_dict(self) -> dict[str, Any]:
        d = {f.name: getattr(self, f.name) for f in fields(self)}
        for name in ("tasks", "memory", "workers"):
            d[name] = [r.to_dict() for r in d[name]]
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Observation:
        d = dict(known_fields(cls, d))
        d["tasks"] = tuple(TaskRecord.from_dict(r) for r in d.get("tasks", ()))
        d["memory"] = tuple(MemoryRecord.from_dict(r) for r in d.get("memory", ()))
        d["workers"] = tuple(WorkerInfo.from_dict(r) for r in d.get("workers", ()))
        if d.get("error") and "error_type" not in d:  # a record from before the field
            d["error_type"] = str(d["error"]).partition(":")[0]
        return cls(**d)


@dataclass(frozen=True, slots=True)
class Trial:
    """One chunking tried on the cluster: its chunks, what was observed and the diagnosis."""

    label: str
    """Short name, e.g. ``"plan"`` or ``"dask auto"``."""
    chunks: Chunks
    """Dask chunks per axis, e.g. ``((100, 100), (50,))``."""
    observation: Observation
    """What the run did."""
    verdicts: tuple[Verdict, ...] = ()
    """Diagnosis of the observation."""
    runs_active_s: tuple[float, ...] = ()
    """Active seconds (first task to last) of every run of the work in this trial, when it
    ran more than once (a short trial repeats itself, ``core.reruns.more_runs``); the
    observation is the median run. Empty: one run, the observation's. Outliers apart."""
    outlier_runs_s: tuple[float, ...] = ()
    """Active seconds of a run set aside: the first trial's first run, or one far slower than
    the model expected whose re-run was that much faster (``core.reruns.first_run_aside``)."""

    def __post_init__(self) -> None:
        object.__setattr__(self, "chunks", tuple(tuple(int(c) for c in ax) for ax in self.chunks))
        object.__setattr__(self, "verdicts", tuple(self.verdicts))
        object.__setattr__(self, "runs_active_s", tuple(float(s) for s in self.runs_active_s))
        object.__setattr__(self, "outlier_runs_s", tuple(float(s) for s in self.outlier_runs_s))

    @property
    def chunk_shape(self) -> tuple[int, ...]:
        """Largest chunk per axis: the regular chunk shape this trial ran."""
        return tuple(max(ax) for ax in self.chunks)

    def to_dict(self) -> dict[str, Any]:
        return {
            "label": self.label,
            "chunks": [list(ax) for ax in self.chunks],
            "observation": self.observation.to_dict(),
            "verdicts": [v.to_dict() for v in self.verdicts],
            "runs_active_s": list(self.runs_active_s),
            "outlier_runs_s": list(self.outlier_runs_s),
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Trial:
        d = known_fields(cls, d)
        return cls(
            label=d["label"],
            chunks=tuple(tuple(ax) for ax in d["chunks"]),
            observation=Observation.from_dict(d["observation"]),
            verdicts=tuple(Verdict.from_dict(v) for v in d.get("verdicts", ())),
            runs_active_s=tuple(d.get("runs_active_s", ())),
            outlier_runs_s=tuple(d.get("outlier_runs_s", ())),
        )
