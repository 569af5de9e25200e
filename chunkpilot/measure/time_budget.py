"""What is left of ``advise``'s time budget (``chunkpilot.advise.time-budget``) for the
measurements that are worth having but not needed: a pipeline family's bigger sizes and
memory-growth run (``pipeline.family``), a function's mid and largest samples
(``measure.profile``)."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class TimeBudget:
    """What is left of ``advise``'s time for optional runs: its end on the monotonic clock,
    less what later steps will need (``reserve_s`` of the measurements so far)."""

    budget_s: float
    """The whole budget (``chunkpilot.advise.time-budget``)."""
    end_s: float
    """``time.monotonic()`` at which advise should be done."""
    reserve_s: Callable[[Sequence[Any]], float] = lambda ms: 0.0
    """Seconds kept for later runs (a pipeline's memory-growth run), given the measurements."""

    @classmethod
    def start(cls, budget_s: float) -> TimeBudget | None:
        """A budget of ``budget_s`` from now; ``None`` (no budget) for 0."""
        return cls(budget_s, time.monotonic() + budget_s) if budget_s > 0 else None

    def left_s(self, ms: Sequence[Any] | None = None) -> float:
        """Seconds left now; with ``ms``, less what later steps keep after them."""
        return self.end_s - time.monotonic() - (self.reserve_s(ms) if ms is not None else 0.0)
