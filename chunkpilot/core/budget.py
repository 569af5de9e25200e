"""Pure: how big a profiling sample is worth measuring, from the samples so far.

A bigger sample is only worth its time while the memory rule could still allow blocks that
big, it stays within a time budget, and (for a store at a URL) its fetch does too.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

from chunkpilot.core.evaluate import worker_peak_bytes
from chunkpilot.core.model import Sample, fit_line
from chunkpilot.types import Resources


def fetch_within(fetches: Mapping[int, float], budget_s: float) -> float:
    """The biggest block whose fetch from its URL the measured ones predict within
    ``budget_s`` (a line in bytes); unbounded when nothing was fetched."""
    if not fetches:
        return math.inf
    line = fit_line(list(fetches), list(fetches.values()))
    return (budget_s - line.fixed) / line.slope if line.slope > 0 else math.inf


def largest_worth_measuring(
    ok: list[Sample], res: Resources, baseline: int, *, time_budget_s: float, max_bytes: float
) -> float:
    """The biggest block the memory bound could allow, capped by a time budget and a size."""
    mem = fit_line([s.nbytes for s in ok], [s.peak_bytes or 0 for s in ok])
    t = fit_line([s.nbytes for s in ok], [s.seconds or 0.0 for s in ok])
    # the planner's memory rule, solved for the block size: fixed part + per-byte part x b
    fixed = worker_peak_bytes(baseline, int(mem.fixed), 0, res)
    per_byte = worker_peak_bytes(0, max(mem.slope, 1.0), 1, res)
    by_memory = (res.memory_budget_bytes - fixed) / per_byte
    by_time = (time_budget_s - t.fixed) / t.slope if t.slope > 0 else math.inf
    return max(0.0, min(by_memory, by_time, max_bytes))
