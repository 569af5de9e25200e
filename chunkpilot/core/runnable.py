"""Pure: whether another chunking than the plan's would run, so that a wall time is
predicted for it; one rule for every place that prices one (dask auto's and the current
chunks' lines, the plan table, the JSON).

A chunking gets no predicted wall time when it would not finish (its peak past the nanny's
terminate threshold, or past the memory limit on threads), when its blocks are bigger than
the largest the function ran below a failed sample (``core.failed``), or when it splits an
axis that must stay whole (``keep_whole``, or an axis a pipeline raised on when split: an
FFT's). A number for any of those would be a time for work that fails.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from chunkpilot.core.failed import beyond_ran, failed_words
from chunkpilot.units import format_bytes

if TYPE_CHECKING:
    from chunkpilot.core.evaluate import Evaluation
    from chunkpilot.core.plan import Plan
    from chunkpilot.types import Resources


def memory_fit(peak_bytes: int, res: Resources) -> tuple[str, bool]:
    """(words, would finish) for a peak per worker: under the target; above it (spills);
    past pause; past the nanny's terminate threshold, or the memory limit on threads (the
    work would not finish: workers killed, or the process out of memory)."""
    limit = res.memory_limit_bytes
    if peak_bytes <= res.memory_budget_bytes:
        return "within the target", True
    if not res.distributed:
        if peak_bytes > limit:
            return (f"over the {format_bytes(limit)} memory limit: it would run out of "
                    "memory"), False
        return "ABOVE the target", True
    if peak_bytes > res.terminate_fraction * limit:
        return (f"over {res.terminate_fraction:.0%} of the {format_bytes(limit)} limit, "
                "where the nanny restarts a worker: workers would be killed (KilledWorker)"), False
    if peak_bytes > res.pause_fraction * limit:
        return "ABOVE the pause threshold: workers would pause and spill", True
    return "ABOVE the target: workers would spill to disk", True


def split_whole_axes(plan: Plan, chunk_shape: tuple[int, ...]) -> list[int | str]:
    """The axes (dim names where known) that must stay whole and ``chunk_shape`` splits."""
    dims, shape = plan.spec.dims, plan.spec.shape
    return [dims[a] if dims else a for a in plan.work.keep_whole if chunk_shape[a] < shape[a]]


def no_wall_reason(plan: Plan, e: Evaluation, *, whole_axes: bool = True) -> str | None:
    """Why ``e`` gets no predicted wall time (module doc), in words; ``None``: it gets one.
    ``whole_axes=False`` for dask auto's shape: it keeps whole the axes the user and the
    pipeline need whole by construction, and may split one a pipeline family keeps whole
    by choice (its in-graph rechunk then runs), which still runs."""
    fit, finishes = memory_fit(e.peak_bytes_per_worker, plan.resources)
    if not finishes:
        return fit
    if beyond_ran(plan.model, e.task_bytes):
        return f"its {failed_words(plan.model, e.task_bytes)}"
    split = split_whole_axes(plan, e.chunk_shape) if whole_axes else []
    if split:
        return f"it splits axes {split}, which must stay whole"
    return None
