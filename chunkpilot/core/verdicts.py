"""Verdicts of a diagnosis and their typed evidence: frozen values, JSON round-trips."""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any, Literal

from chunkpilot.errors import InvalidArgumentError

__all__ = ["VERDICT_KINDS", "Evidence", "Verdict", "VerdictKind"]

VerdictKind = Literal[
    "too_small",
    "too_big",
    "unmanaged_memory",
    "transfer_bound",
    "input_overproduction",
    "spill_bound",
    "idle_threads",
    "failed",
    "healthy",
]
VERDICT_KINDS: tuple[str, ...] = VerdictKind.__args__  # type: ignore[attr-defined]


@dataclass(frozen=True, slots=True)
class Evidence:
    """The numbers behind a verdict, units in the names; ``None`` where a verdict has none."""

    peak_memory_fraction: float | None = None
    """Highest process memory of any worker, as a share of its limit."""
    target_fraction: float | None = None
    """``distributed.worker.memory.target`` the peak is compared with."""
    spilled_bytes: int | None = None
    """Most bytes any worker held spilled to disk."""
    disk_seconds: float | None = None
    """Thread-seconds spent reading or writing spilled data."""
    pauses: int | None = None
    """Times a worker paused on memory."""
    restarts: int | None = None
    """Worker processes that died or were restarted."""
    killed_worker: bool | None = None
    """The computation ended with ``KilledWorker``."""
    idle_tail_share: float | None = None
    """Share of thread time idle after each thread's last task."""
    threads: int | None = None
    """Worker threads in the cluster."""
    median_task_seconds: float | None = None
    """Median compute time of one task."""
    overhead_share: float | None = None
    """Share of thread time spent in gaps between tasks."""
    tasks: int | None = None
    """Compute tasks observed."""
    thread_utilisation: float | None = None
    """Share of thread time spent computing, from the first task to the last."""
    startup_seconds: float | None = None
    """Seconds from submitting the work to its first task starting."""
    unmanaged_growth_bytes: int | None = None
    """Largest rise of unmanaged memory on a worker."""
    managed_bytes: int | None = None
    """Managed memory on that worker at the time."""
    memory_limit_bytes: int | None = None
    """That worker's memory limit."""
    transfer_share: float | None = None
    """Share of busy time fetching data from other workers."""
    transfer_seconds: float | None = None
    """Thread-seconds of those transfers."""
    disk_share: float | None = None
    """Share of busy time reading or writing spilled data."""
    root_lead_share: float | None = None
    """How far (share of the run) loading tasks finished ahead of their consumers."""
    memory_ramp_share: float | None = None
    """Rise of cluster-wide managed memory, as a share of the cluster's limit."""
    error: str | None = None
    """The exception the computation ended with."""
    timed_out: bool | None = None
    """The computation was cancelled on timeout."""
    erred_tasks: int | None = None
    """Tasks that raised."""

    @property
    def memory_trouble(self) -> bool:
        """Memory, not time, is the problem: over the target, spilled, paused, or workers died."""
        over = (self.peak_memory_fraction or 0.0) > (self.target_fraction or 1.0)
        return bool(over or self.spilled_bytes or self.pauses or self.restarts
                    or self.killed_worker)

    def items(self) -> list[tuple[str, Any]]:
        """``(name, value)`` of every number present, in field order."""
        return [(f.name, getattr(self, f.name)) for f in fields(self)
                if getattr(self, f.name) is not None]

    def to_dict(self) -> dict[str, Any]:
        return dict(self.items())

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Evidence:
        names = {f.name for f in fields(cls)}
        unknown = set(d) - names
        if unknown:
            raise InvalidArgumentError(
                f"Expected evidence fields among {sorted(names)}. Got unknown {sorted(unknown)}."
            )
        return cls(**d)


@dataclass(frozen=True, slots=True)
class Verdict:
    """What a diagnosis concluded, with the numbers that led there and what to do."""

    kind: VerdictKind
    """One of :data:`VERDICT_KINDS`."""
    message: str
    """What happened, in words, as the dashboard would have shown it."""
    evidence: Evidence = Evidence()
    """The numbers behind the verdict (a dict of its fields is accepted and converted)."""
    fix: str = ""
    """What to change next time."""

    def __post_init__(self) -> None:
        if self.kind not in VERDICT_KINDS:
            raise InvalidArgumentError(
                f"Expected a verdict kind in {VERDICT_KINDS}. Got {self.kind!r} instead."
            )
        if isinstance(self.evidence, dict):
            object.__setattr__(self, "evidence", Evidence.from_dict(self.evidence))
        elif not isinstance(self.evidence, Evidence):
            raise InvalidArgumentError(
                f"Expected evidence as an Evidence or a dict. Got {type(self.evidence).__name__}."
            )

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "message": self.message,
                "evidence": self.evidence.to_dict(), "fix": self.fix}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Verdict:
        names = {f.name for f in fields(cls)}
        if set(d) - names:
            raise InvalidArgumentError(
                f"Expected Verdict fields {sorted(names)}. Got unknown {sorted(set(d) - names)}."
            )
        ev = d.get("evidence") or {}
        if isinstance(ev, list):  # files written before evidence was typed: (name, value) pairs
            ev = dict(ev)
        return cls(d["kind"], d["message"], Evidence.from_dict(ev), d.get("fix", ""))
