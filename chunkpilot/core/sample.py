"""Pure: one profiling sample of the user's work on one block (what the model is fitted to)."""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import asdict, dataclass, fields
from typing import Any


def typical_seconds(runs: Sequence[float]) -> float:
    """A sample's time from its warm runs: the lower median (of two, the faster). Their noise
    is one-sided: a run meets a neighbour's burst or faults memory in again and only ever
    takes longer (an einsum's 32 MiB sub-array, one process: 57, 57, 81, 59 ms a chunk, and
    108, 62, 57, 55 in the next), so of two middle runs the lower is the one to trust;
    ``statistics.median`` of two is their mean, half a burst.

    Examples
    --------
    >>> typical_seconds([0.122, 0.058]), typical_seconds([3.0, 1.0, 2.0, 9.0])
    (0.058, 2.0)
    """
    if not runs:
        raise ValueError("typical_seconds needs at least one run")
    return sorted(runs)[(len(runs) - 1) // 2]


@dataclass(frozen=True, slots=True)
class Sample:
    """One profiling run of the user's function on one block, in a fresh process."""

    nbytes: int
    """Bytes of the input block given to the function (including any overlap halo)."""
    shape: tuple[int, ...]
    """Shape of that block."""
    seconds: float | None = None
    """Wall time of the function call (:func:`typical_seconds` of its warm runs, or the
    cold run alone); ``None`` when it failed."""
    peak_bytes: int | None = None
    """Peak memory of a warm call above the process's memory at its start, input block
    included (the median of the warm calls'; the first call's where they cannot be read)."""
    error: str | None = None
    """Why the sample failed, in the sandbox's words (``MemoryError: ...``, ``timed out
    after 60 s``), or ``None``."""
    error_kind: str | None = None
    """Which way it failed (``measure.sandbox``: ``exception``, ``oom``, ``timeout``,
    ``crash``, ``output``, ``read``); ``None`` with ``error`` only in records older than it."""
    runs_seconds: tuple[float, ...] = ()
    """Every warm call's wall time (the first, cold call left out); ``seconds`` is their
    :func:`typical_seconds`."""
    read_seconds: float | None = None
    """Of ``seconds``, the time spent reading the block from its store (``None``: in memory)."""
    slower_seconds: float | None = None
    """When the block was measured twice (a small block, or a bump: ``core.timecurve.bumps``):
    the slower of the two medians (``seconds`` is the faster); ``None`` when measured once."""
    gil_share: float | None = None
    """Share of a call during which it held the GIL (``measure.gil``), timed on the first
    sample long enough to tell; ``None``: not timed (calls too short or too long to tell).
    With one thread per worker it is recorded but not priced (docs/DESIGN.md)."""
    pair_seconds: float | None = None
    """Wall time of two calls started together in two threads of one process (median of
    rounds); timed only when the function holds the GIL, else ``None``."""
    downstream_share: float | None = None
    """Of ``seconds``, the share spent in a pipeline's tasks downstream of the tasks that
    read input chunks (an in-graph rechunk's merges and what follows them: they run on the
    rechunk's chunks, not on the input's); ``None``: not split (per-block work)."""
    chunks_run: float | None = None
    """Input chunks (of ``nbytes`` each) of the pipeline run whose peak ``peak_bytes`` is,
    when that peak grows with them (``core.held``); fractional when the array's edge cut
    the run's last chunks short; ``None``: a per-block or per-task peak."""
    task_peak_bytes: int | None = None
    """The largest single task's peak in that run (``None``: not recorded)."""
    peak_basis_bytes: int | None = None
    """The bytes ``peak_bytes`` scales with, when more than ``nbytes``: a pipeline whose
    in-graph rechunk gathers input chunks into bigger ones (``core.gather.peak_basis_bytes``);
    ``None``: ``nbytes``."""
    cold_extra_seconds: float | None = None
    """How much longer the first (cold) call took than a warm one: it also faulted in fresh
    memory for its temporaries, as a worker's first task of a computation does
    (``core.coldstart``); ``None``: not recorded (pipeline samples, older samples, or no
    warm call)."""
    cores_busy: float | None = None
    """CPU time over wall time of a warm call run alone (median): the cores it kept busy.
    Above 1 when the call works in threads (zarr decodes a block's storage chunks at once),
    which a busy worker's task cannot; ``None``: not timed (older samples)."""

    @property
    def ok(self) -> bool:
        return self.error is None and self.seconds is not None and self.peak_bytes is not None

    @property
    def failure(self) -> str | None:
        """``kind: error`` for messages (``oom: MemoryError ...``), ``None`` when it ran."""
        if self.error is None or self.error_kind is None:
            return self.error
        return f"{self.error_kind}: {self.error}"

    @property
    def spread_fraction(self) -> float:
        """Range of the warm runs (slowest - fastest) over their median, the single slowest
        left out of three or more: one run that met a neighbour's burst or faulted memory in
        again (zarr_read's 112-plane sample: 1.00, 1.00, 1.97) does not move the median the
        sample stands for; 0 with fewer than 2."""
        runs = self.runs_seconds
        if len(runs) < 2 or not self.seconds:
            return 0.0
        kept = sorted(runs)[:-1] if len(runs) >= 3 else runs
        return (max(kept) - min(kept)) / statistics.median(runs)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["bytes"] = d.pop("nbytes")
        d["shape"] = list(self.shape)
        d["runs_seconds"] = list(self.runs_seconds)
        d["spread_fraction"] = self.spread_fraction
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Sample:
        d = dict(d)
        d.pop("spread_fraction", None)  # derived
        known = {f.name for f in fields(cls)} | {"bytes"}
        d = {k: v for k, v in d.items() if k in known}  # fields of reverted experiments
        d["nbytes"] = d.pop("bytes")
        d["shape"] = tuple(d["shape"])
        d["runs_seconds"] = tuple(d.get("runs_seconds") or ())
        if d.get("error") and "error_kind" not in d:  # a record from before the field
            d["error_kind"], _, d["error"] = str(d["error"]).partition(": ")
        return cls(**d)


def largest_ran_below(samples: Sequence[Sample], failed_bytes: int) -> int | None:
    """The biggest sample that ran smaller than ``failed_bytes`` (``None``: none did): with
    the smallest failure above it, the two ends of the sizes where a function's limit is
    unknown (``CostModel.block_limit_bytes``, ``measure.failures.narrow_limit``)."""
    return max((s.nbytes for s in samples if s.ok and s.nbytes < failed_bytes), default=None)
