"""Pure: what to do about the chunks a source already has: keep, re-open, or rechunk.

``x.rechunk(plan.chunks)`` cuts every old chunk where the new boundaries fall and
concatenates the pieces: about one task per piece of the overlay of both grids plus one per
new chunk, and data moves between workers. Re-opening a file-backed source with the new
chunks costs nothing extra: each task just reads its own region. The extra task count is
priced with the measured overhead per task; data movement is reported in bytes, not seconds
(no bandwidth is measured).
"""

from __future__ import annotations

import dataclasses
import itertools
import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from chunkpilot.core.chunk_axes import is_regular
from chunkpilot.core.evaluate import Evaluation, evaluate
from chunkpilot.core.failed import beyond_ran, failed_words
from chunkpilot.core.runnable import no_wall_reason, split_whole_axes
from chunkpilot.types import Chunks
from chunkpilot.units import format_bytes, format_seconds, plural

if TYPE_CHECKING:
    from chunkpilot.core.plan import Plan

#: ``ArraySpec.source`` prefixes of file-backed sources that can be re-opened with new chunks.
REOPENABLE = ("zarr:", "hdf5:", "xarray:")


@dataclass(frozen=True, slots=True)
class RechunkAdvice:
    """The current chunks next to the plan, with the cost of changing them."""

    action: str
    """``"keep"`` (current chunks are as good), ``"reopen"`` (re-open the file with the
    plan's chunks) or ``"rechunk"`` (``x.rechunk(plan.chunks)``)."""
    current_chunk_shape: tuple[int, ...]
    """Largest current chunk per axis."""
    current: Evaluation
    """Predictions for the current chunks under the plan's measured model."""
    rechunk_tasks: int
    """Tasks ``x.rechunk(plan.chunks)`` would add (pieces of both grids + new chunks)."""
    rechunk_overhead_seconds: float
    """Those tasks times the overhead per task (a lower bound: data movement not included)."""
    rechunk_moved_bytes: int
    """Bytes that change chunk (the whole array when any axis is re-cut); over the network on
    distributed, in memory on threads."""
    reason: str
    """One sentence with the numbers."""
    current_runs: bool = True
    """Whether the current chunks would run (``core.runnable``); when not, no wall time."""

    def to_dict(self) -> dict[str, Any]:
        return {
            "action": self.action,
            "current_chunk_shape": list(self.current_chunk_shape),
            "current_task_count": self.current.task_count,
            "current_peak_bytes_per_worker": self.current.peak_bytes_per_worker,
            "current_fits_memory": self.current.fits_memory,
            "current_wall_seconds": self.current.wall_seconds if self.current_runs else None,
            "rechunk_tasks": self.rechunk_tasks,
            "rechunk_overhead_seconds": self.rechunk_overhead_seconds,
            "rechunk_moved_bytes": self.rechunk_moved_bytes,
            "reason": self.reason,
        }


def _edges(chunks: tuple[int, ...]) -> set[int]:
    """Chunk boundaries along one axis (linear: a 10**6-row array has 500k chunks of 2)."""
    return {0, *itertools.accumulate(chunks)}


def rechunk_task_count(old: Chunks, new: Chunks) -> int:
    """Pieces of the overlay of both grids (a getitem each) plus one concatenation per new chunk."""
    pieces = math.prod(len(_edges(a) | _edges(b)) - 1 for a, b in zip(old, new, strict=True))
    return pieces + math.prod(len(b) for b in new)


def _moved_bytes(old: Chunks, new: Chunks, nbytes: int) -> int:
    return 0 if tuple(old) == tuple(new) else nbytes


def rechunk_advice(plan: Plan) -> RechunkAdvice | None:
    """Advice when the source has dask chunks; ``None`` when it has none."""
    spec, cur = plan.spec, plan.spec.current_chunks
    if cur is None:
        return None
    current = current_evaluation(plan)
    shape = current.chunk_shape  # the largest current chunk per axis
    new = plan.chunks
    tasks = 0 if tuple(cur) == tuple(new) else rechunk_task_count(cur, new)
    overhead = tasks * plan.model.overhead_seconds_per_task
    moved = _moved_bytes(cur, new, spec.nbytes)
    split_whole = split_whole_axes(plan, shape)
    saving = current.wall_seconds - plan.chosen.wall_seconds
    fmt = _fmt_chunks(plan)
    if tasks == 0:
        action, why = "keep", "The current chunks already match the plan."
    elif spec.source.startswith(REOPENABLE):
        action = "reopen"
        why = (f"Re-open the source with chunks={fmt} instead of rechunking: no extra tasks, "
               f"while x.rechunk would add {plural(tasks, 'task')} "
               f"(>= {format_seconds(overhead)} overhead) and "
               f"move {format_bytes(moved)}.")
    elif current.feasible and not split_whole and saving <= overhead:
        action = "keep"
        gain = (f"the plan would save {format_seconds(saving)}, less than" if saving > 0 else
                f"they are predicted no slower than the plan's ("
                f"{format_seconds(current.wall_seconds)} vs "
                f"{format_seconds(plan.chosen.wall_seconds)}), and a rechunk adds")
        why = (f"Keep the current chunks {shape}: {gain} the {format_seconds(overhead)} "
               f"overhead of {plural(tasks, 'rechunk task')}.")
    else:
        action = "rechunk"
        because = (f"axes {split_whole} are split but must stay whole" if split_whole
                   else f"their {failed_words(plan.model, current.task_bytes)}"
                   if beyond_ran(plan.model, current.task_bytes)
                   else "they do not fit the memory bound" if not current.fits_memory
                   else "they are smaller than the overlap depth" if not current.meets_depth
                   else f"the plan saves {format_seconds(saving)}, more than the rechunk overhead")
        why = (f"Rechunk the current chunks {shape} with x.rechunk({fmt}) because {because}: "
               f"adds {plural(tasks, 'task')} (>= {format_seconds(overhead)} overhead) and moves "
               f"{format_bytes(moved)}. "
               "Cheaper still: create the array with these chunks in the first place.")
    return RechunkAdvice(action, shape, current, tasks, overhead, moved, why,
                         current_runs=no_wall_reason(plan, current) is None)


def current_evaluation(plan: Plan) -> Evaluation:
    """The source's current chunks under the plan's model. Uneven ones (2000 chunks of one
    row and one of 2000: 2,001 tasks) were priced as a grid of their largest chunk (2
    tasks); they are priced as the even grid of as many chunks, with the largest chunk's
    memory, and never faster than that chunk's own task."""
    spec, cur = plan.spec, plan.spec.current_chunks
    assert cur is not None
    largest = tuple(max(ax) for ax in cur)
    big = evaluate(largest, spec, plan.work, plan.resources, plan.model)
    if all(is_regular(ax) for ax in cur):
        return big
    mean = tuple(math.ceil(n / len(ax)) for n, ax in zip(spec.shape, cur, strict=True))
    even = evaluate(mean, spec, plan.work, plan.resources, plan.model)
    depth_ok = all(min(ax) >= d or len(ax) == 1 for ax, d in zip(cur, plan.work.depth,
                                                                 strict=True))
    return dataclasses.replace(
        even, chunk_shape=largest, task_count=math.prod(len(ax) for ax in cur),
        task_bytes=big.task_bytes, peak_bytes_per_task=big.peak_bytes_per_task,
        peak_bytes_per_worker=max(big.peak_bytes_per_worker, even.peak_bytes_per_worker),
        fits_memory=big.fits_memory and even.fits_memory, meets_depth=depth_ok,
        wall_seconds=max(even.wall_seconds, big.seconds_per_task))


def _fmt_chunks(plan: Plan) -> str:
    by_dim = plan.chunks_by_dim
    return str(by_dim) if by_dim is not None else str(plan.chunk_shape)
