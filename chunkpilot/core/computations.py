"""What the cluster watch keeps per computation: a summary, its verdicts, thinned pictures.

Pure values and rules; the scheduler plugin (:mod:`chunkpilot.cluster.plugin`) fills them in.
Only key names, shapes, sizes and timings appear here: never task arguments, results,
exception messages or code.
"""

from __future__ import annotations

import math
import numbers
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, fields, replace
from typing import Any

from chunkpilot.core.observations import FlatRecord, MemoryRecord, Observation, known_fields
from chunkpilot.core.verdicts import Verdict
from chunkpilot.errors import InvalidArgumentError

__all__ = [
    "MISCHUNKED_KINDS",
    "WARN_MIN_WALL_SECONDS",
    "ArrayChunks",
    "ComputationSummary",
    "GroupTime",
    "block_shape",
    "decimate",
    "group_times",
    "thin",
    "warning_line",
]

#: Verdicts that mean "change the chunks" (``failed`` alone is about the code, not chunks).
MISCHUNKED_KINDS = frozenset({"too_small", "too_big", "unmanaged_memory", "transfer_bound",
                              "input_overproduction", "spill_bound"})
#: Computations shorter than this get verdicts but no log warning: nothing to win back.
WARN_MIN_WALL_SECONDS = 1.0


@dataclass(frozen=True, slots=True)
class ArrayChunks:
    """The block grid of one array-like task group, read off its keys ``(name, i, j, ...)``."""

    name: str
    """Task prefix of the group, e.g. ``"ones_like"``."""
    blocks: tuple[int, ...]
    """Blocks per axis (highest block index + 1)."""
    chunk_shape: tuple[int, ...] | None = None
    """Elements per axis of block ``(0, 0, ...)`` when the graph states it, else ``None``."""
    block_bytes: int | None = None
    """Mean size of one block's result, from the sizes workers reported."""

    def __post_init__(self) -> None:
        object.__setattr__(self, "blocks", tuple(int(b) for b in self.blocks))
        if self.chunk_shape is not None:
            object.__setattr__(self, "chunk_shape", tuple(int(c) for c in self.chunk_shape))
            if len(self.chunk_shape) != len(self.blocks):
                raise InvalidArgumentError(
                    f"Expected one chunk length per axis of {self.blocks}. "
                    f"Got {self.chunk_shape} instead."
                )

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "blocks": list(self.blocks),
                "chunk_shape": None if self.chunk_shape is None else list(self.chunk_shape),
                "block_bytes": self.block_bytes}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> ArrayChunks:
        d = dict(known_fields(cls, d))
        d["blocks"] = tuple(d["blocks"])
        if d.get("chunk_shape") is not None:
            d["chunk_shape"] = tuple(d["chunk_shape"])
        return cls(**d)


@dataclass(frozen=True, slots=True)
class GroupTime(FlatRecord):
    """Compute time of one task group (by prefix), as the dashboard's progress bars group it."""

    name: str
    """Task prefix, e.g. ``"sum"``."""
    tasks: int
    """Tasks of the group that computed."""
    compute_seconds: float
    """Thread-seconds they computed for."""


@dataclass(frozen=True, slots=True)
class ComputationSummary:
    """One computation the scheduler ran (the graph of one ``compute``/``persist``)."""

    id: str
    """Short unique id, used in the dashboard's links."""
    started_at: float
    """When the graph reached the scheduler, seconds since the epoch."""
    wall_seconds: float
    """From the graph reaching the scheduler to its last task finishing."""
    tasks: int
    """Tasks that finished computing (or erred)."""
    threads: int
    """Worker threads in the cluster while it ran."""
    groups: tuple[GroupTime, ...] = ()
    """Task groups by compute time, largest first."""
    arrays: tuple[ArrayChunks, ...] = ()
    """Array-like task groups and their chunks, where the keys show them."""
    verdicts: tuple[Verdict, ...] = ()
    """The diagnosis (:func:`chunkpilot.core.diagnose.diagnose`) of the computation."""
    client: str = ""
    """Id of the dask client that submitted it."""
    truncated: bool = False
    """More tasks ran than the watch records per computation: verdicts cover the first ones."""

    def __post_init__(self) -> None:
        if not math.isfinite(self.wall_seconds) or self.wall_seconds < 0:
            raise InvalidArgumentError(f"Expected wall_seconds >= 0. Got {self.wall_seconds}.")
        for name in ("groups", "arrays", "verdicts"):
            object.__setattr__(self, name, tuple(getattr(self, name)))

    @property
    def dominant_group(self) -> str | None:
        """The task group with the most compute time."""
        return self.groups[0].name if self.groups else None

    @property
    def mischunked(self) -> bool:
        """A verdict asks for different chunks."""
        return any(v.kind in MISCHUNKED_KINDS for v in self.verdicts)

    def to_dict(self) -> dict[str, Any]:
        d = {f.name: getattr(self, f.name) for f in fields(self)}
        d["groups"] = [g.to_dict() for g in self.groups]
        d["arrays"] = [a.to_dict() for a in self.arrays]
        d["verdicts"] = [v.to_dict() for v in self.verdicts]
        d["dominant_group"] = self.dominant_group
        d["mischunked"] = self.mischunked
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> ComputationSummary:
        d = {k: v for k, v in d.items() if k not in ("dominant_group", "mischunked")}
        d = dict(known_fields(cls, d))
        d["groups"] = tuple(GroupTime.from_dict(g) for g in d.get("groups", ()))
        d["arrays"] = tuple(ArrayChunks.from_dict(a) for a in d.get("arrays", ()))
        d["verdicts"] = tuple(Verdict.from_dict(v) for v in d.get("verdicts", ()))
        return cls(**d)


def block_shape(args: Sequence[object], ndim: int, *, shapes: bool = False
                ) -> tuple[int, ...] | None:
    """Elements per axis of a block, from the literal arguments of the task that makes it.

    Dask array tasks that load a block name its extent as a tuple of slices
    (``getter(store, (slice(0, 10), slice(20, 40)))``); tasks that create one name its shape
    (``ones_like((10, 20))``). Only tuples of ``ndim`` entries are read, and shape tuples only
    when ``shapes`` (the caller knows the task creates blocks: a tuple of ints could be
    anything else, such as the axes of a transpose). Anything else gives ``None``.

    Examples
    --------
    >>> block_shape([object(), (slice(0, 10), slice(20, 40, None))], 2)
    (10, 20)
    >>> block_shape([(10, 20)], 2, shapes=True)
    (10, 20)
    >>> block_shape([(1, 0)], 2) is None
    True
    """
    for arg in args:
        if not isinstance(arg, tuple) or len(arg) != ndim or ndim == 0:
            continue
        if all(isinstance(s, slice) and _is_int(s.start) and _is_int(s.stop)
               and s.step in (None, 1) and s.stop >= s.start for s in arg):
            return tuple(int(s.stop) - int(s.start) for s in arg)  # type: ignore[union-attr]
        if shapes and all(_is_int(n) and n >= 0 for n in arg):  # type: ignore[operator]
            return tuple(int(n) for n in arg)  # type: ignore[call-overload]
    return None


def _is_int(n: object) -> bool:
    """Python or numpy integer, not bool."""
    return isinstance(n, numbers.Integral) and not isinstance(n, bool)


def group_times(obs: Observation) -> tuple[GroupTime, ...]:
    """Compute tasks and thread-seconds per task group, largest compute time first."""
    seconds: dict[str, float] = defaultdict(float)
    tasks: dict[str, set[str]] = defaultdict(set)
    for t in obs.tasks:
        if t.action == "compute":
            seconds[t.group] += t.duration_s
            tasks[t.group].add(t.key)
    out = (GroupTime(g, len(tasks[g]), round(s, 6)) for g, s in seconds.items())
    return tuple(sorted(out, key=lambda g: (-g.compute_seconds, g.name)))


def thin(obs: Observation, *, max_bars: int, max_samples: int) -> Observation:
    """A lighter copy for pictures: every k-th task bar, every k-th memory sample per worker.

    Peaks stay visible: of each run of memory samples dropped, the highest is kept.
    """
    if max_bars < 1 or max_samples < 1:
        raise InvalidArgumentError(
            f"Expected max_bars and max_samples >= 1. Got {max_bars} and {max_samples}."
        )
    tasks = obs.tasks
    if len(tasks) > max_bars:
        step = math.ceil(len(tasks) / max_bars)
        tasks = tasks[::step]
    return replace(obs, tasks=tasks, memory=decimate(obs.memory, max_samples))


def decimate(memory: Sequence[MemoryRecord], max_samples: int) -> tuple[MemoryRecord, ...]:
    """At most about ``max_samples`` memory samples, spread evenly over the workers; of each
    run of a worker's samples merged into one, the highest is kept, so peaks survive."""
    if len(memory) <= max_samples:
        return tuple(memory)
    per_worker: dict[str, list[MemoryRecord]] = defaultdict(list)
    for m in memory:
        per_worker[m.worker].append(m)
    budget = max(1, max_samples // len(per_worker))
    out: list[MemoryRecord] = []
    for ms in per_worker.values():
        step = math.ceil(len(ms) / budget)
        out.extend(max(ms[i:i + step], key=lambda m: m.process_bytes + m.spilled_bytes)
                   for i in range(0, len(ms), step))
    return tuple(sorted(out, key=lambda m: m.time_s))


def warning_line(summary: ComputationSummary, *,
                 min_wall_seconds: float = WARN_MIN_WALL_SECONDS) -> str | None:
    """The one log line for a mis-chunked computation, with its fix; ``None`` otherwise
    (also for computations shorter than ``min_wall_seconds``)."""
    if not summary.mischunked or summary.wall_seconds < min_wall_seconds:
        return None
    bad = [v for v in summary.verdicts if v.kind in MISCHUNKED_KINDS]
    group = f", mostly {summary.dominant_group!r}" if summary.dominant_group else ""
    fixes = " ".join(dict.fromkeys(v.fix for v in bad if v.fix))
    return (f"chunkpilot: computation {summary.id} ({summary.tasks} tasks in "
            f"{summary.wall_seconds:.1f} s{group}) is mis-chunked: "
            f"{', '.join(v.kind for v in bad)}. Fix: {fixes}")
