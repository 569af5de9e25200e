"""Pure: pool this machine's recent scheduler-overhead probes into one estimate.

One probe of dask's threaded scheduler moves by up to 1.4x between runs a few seconds apart
on a shared machine (the host's own noise; nothing this process can see), and the planner's
overhead rule moves the chunk size one for one with it. The overhead is a property of the
machine, the Python and the dask version, not of the input, so recent probes on the same
setup are pooled: the median of the last few is what the planner uses, and every plan says
how many it pooled and what its own probe read. Once the pool is full and its newest probe
is recent, a run uses the pool without probing again (:func:`reuse_pool`): one probe per
setup per reuse window instead of one per run (1.2-2 s of every advise).
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import dataclass

from chunkpilot.errors import InvalidArgumentError


@dataclass(frozen=True, slots=True)
class ProbeRecord:
    """One probe's result and when it ran."""

    seconds_per_task: float
    """The probe's per-task overhead estimate."""
    at_unix_s: float
    """When it ran (seconds since the epoch)."""


@dataclass(frozen=True, slots=True)
class PooledOverhead:
    """The overhead the planner uses, and what it was pooled from."""

    seconds_per_task: float
    """Median of the pooled probes (this run's included)."""
    this_run_seconds_per_task: float | None
    """What this run's own probe read (``None``: reused, this run did not probe)."""
    probes: int
    """How many probes were pooled (1: this run's only)."""
    newest_age_seconds: float = 0.0
    """How long ago the newest pooled probe ran (0: this run's)."""

    @property
    def reused(self) -> bool:
        """Whether the pool was used without probing in this run."""
        return self.this_run_seconds_per_task is None


def pool_probes(history: Sequence[ProbeRecord], new: ProbeRecord, *, keep: int,
                max_age_s: float) -> tuple[PooledOverhead, tuple[ProbeRecord, ...]]:
    """The median of ``new`` and the most recent ``keep - 1`` records of ``history`` no older
    than ``max_age_s``, and the records to keep for next time (``new`` last).

    Examples
    --------
    >>> old = [ProbeRecord(1e-4, 0.0), ProbeRecord(2e-4, 50.0)]
    >>> pooled, kept = pool_probes(old, ProbeRecord(4e-4, 100.0), keep=5, max_age_s=3600)
    >>> pooled.seconds_per_task, pooled.probes, len(kept)
    (0.0002, 3, 3)
    """
    if keep < 1:
        raise InvalidArgumentError(f"Expected at least one probe to keep. Got {keep!r} instead.")
    recent = _recent(history, new.at_unix_s, max_age_s)[-(keep - 1):] if keep > 1 else []
    kept = (*recent, new)
    median = statistics.median(r.seconds_per_task for r in kept)
    return PooledOverhead(median, new.seconds_per_task, len(kept)), kept


def _recent(history: Sequence[ProbeRecord], now_unix_s: float,
            max_age_s: float) -> list[ProbeRecord]:
    """Valid records no older than ``max_age_s`` (none from the future), oldest first."""
    return sorted((r for r in history if 0 <= now_unix_s - r.at_unix_s <= max_age_s
                   and r.seconds_per_task > 0), key=lambda r: r.at_unix_s)


def reuse_pool(history: Sequence[ProbeRecord], now_unix_s: float, *, keep: int,
               max_age_s: float, reuse_s: float) -> PooledOverhead | None:
    """The median of the ``keep`` most recent probes when there are that many and the newest
    is no older than ``reuse_s``: what a new probe would be pooled into, so it need not run;
    ``None`` when this run should probe (pooling off, too few probes, or none recent).

    Examples
    --------
    >>> h = [ProbeRecord(s, t) for s, t in ((1e-4, 0), (3e-4, 10), (2e-4, 20))]
    >>> reuse_pool(h, 50.0, keep=3, max_age_s=3600, reuse_s=60)
    PooledOverhead(seconds_per_task=0.0002, this_run_seconds_per_task=None, probes=3, \
newest_age_seconds=30.0)
    >>> reuse_pool(h, 500.0, keep=3, max_age_s=3600, reuse_s=60) is None  # newest too old
    True
    """
    recent = _recent(history, now_unix_s, max_age_s)[-keep:] if keep > 1 else []
    if reuse_s <= 0 or len(recent) < keep or now_unix_s - recent[-1].at_unix_s > reuse_s:
        return None
    median = statistics.median(r.seconds_per_task for r in recent)
    return PooledOverhead(median, None, len(recent), now_unix_s - recent[-1].at_unix_s)


#: A probe stops once it has this many repeats ...
SETTLED_MIN_REPEATS = 4
#: ... and its estimate moved by at most this fraction over its last two repeats. Twelve
#: repeats of the threaded probe, recorded ten times on a quiet machine and six under a busy
#: neighbour: stopping by this rule took 4-7 repeats and its estimates spread 1.037x (1.042x
#: loaded) where all twelve spread 1.018x (1.045x); runs are pooled on top (median).
SETTLED_FRACTION = 0.02


def probe_settled(estimates: Sequence[float]) -> bool:
    """Whether a probe's running estimates (one after each repeat, each from the fastest runs
    so far) have settled: the minimum only ever drops, so two repeats that moved it less
    than ``SETTLED_FRACTION`` mean the fast runs have been found."""
    if len(estimates) < SETTLED_MIN_REPEATS:
        return False
    now, before = estimates[-1], estimates[-3]
    return abs(now - before) <= SETTLED_FRACTION * max(abs(now), 1e-12)
