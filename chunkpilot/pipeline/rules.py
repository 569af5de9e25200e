"""Pure rules that turn a pipeline's graph and measurements into planning inputs and advice.

Which chunk families to measure (keep an axis whole so an in-graph rechunk disappears),
the pipeline cost model, and the worker-layout verdict from the
one-thread vs many-threads run. Ints, tuples, frozen values.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from chunkpilot.core.shapes import min_lengths
from chunkpilot.pipeline.graph import GraphProfile
from chunkpilot.types import ArraySpec, Resources, WorkSpec
from chunkpilot.units import format_bytes

#: Below this one-thread wall time a scaling run is too short to judge.
MIN_SCALING_SECONDS = 0.3
#: Parallel efficiency under which the work "does not scale with threads".
MIN_THREAD_EFFICIENCY = 0.6
#: An axis-whole family is skipped when its smallest chunk needs more than this share of
#: a thread's memory budget (the pipeline multiplies it further).
WHOLE_AXIS_BUDGET_SHARE = 0.25


@dataclass(frozen=True, slots=True)
class Family:
    """A family of input chunk shapes to measure and plan, and why."""

    label: str
    """``"no-rechunk"`` or ``"split"``."""
    work: WorkSpec
    """Axes kept whole and overlap depth for this family."""
    reason: str
    """One sentence for the explanation."""


def families(spec: ArraySpec, work: WorkSpec, graph: GraphProfile, res: Resources) -> list[Family]:
    """Families to try, best guess first; the plain split family always comes last."""
    depth = tuple(max(a, b) for a, b in zip(work.depth, graph.overlap_depth, strict=True))
    base = dataclasses.replace(work, depth=depth)  # keeps any other field (drop_axis)
    budget = res.memory_budget_bytes / res.threads_per_worker
    out: list[Family] = []

    def add(label: str, axes: set[int], reason: str) -> None:
        fam = dataclasses.replace(base, keep_whole=tuple(sorted(set(work.keep_whole) | axes)))
        smallest = math.prod(min_lengths(spec, fam)) * spec.itemsize
        if smallest <= WHOLE_AXIS_BUDGET_SHARE * budget:
            out.append(Family(label, fam, reason))

    whole = set(graph.whole_axes) - set(work.keep_whole)
    if whole:
        add("no-rechunk", whole,
            f"The pipeline rechunks axis {_axes(whole)} into one chunk; input chunks with "
            f"{'that axis' if len(whole) == 1 else 'those axes'} whole make that rechunk a no-op.")
    out.append(Family("split", base, "Input chunks split along every axis not kept whole."))
    return out


def _axes(axes: Any) -> str:
    return ", ".join(str(a) for a in sorted(axes))


def _scaled_speedup(scaling: Mapping[str, Any] | None) -> tuple[int, float] | None:
    """(threads, one-thread wall over their wall) of a scaling run; ``None`` when not
    measured or the one-thread run was too short to judge."""
    if not scaling or scaling["sync_wall_seconds"] < MIN_SCALING_SECONDS:
        return None
    wall = max(float(scaling["threaded_wall_seconds"]), 1e-9)
    return int(scaling["threads"]), float(scaling["sync_wall_seconds"]) / wall


def thread_speedup(scaling: Mapping[str, Any] | None) -> float | None:
    """How much faster two threads ran the sub-array than one (``CostModel.thread_speedup``'s
    meaning: 2 = fully parallel), from a run on k threads, each added thread adding the same
    (``None``: not measured, or the one-thread run too short to judge)."""
    got = _scaled_speedup(scaling)
    if got is None or got[0] < 2:
        return None
    k, whole = got
    return max(1.0 + (whole - 1.0) / (k - 1), 1e-3)


def layout_advice(
    scaling: Mapping[str, Any] | None, res: Resources, uses_blas: bool = False
) -> tuple[float | None, str | None]:
    """(parallel efficiency, advice) from one run on one thread and one on several.

    ``uses_blas``: the graph contracts (matmul/tensordot), so with BLAS thread pools not
    pinned to 1 a poor scaling is blamed on them even when the cores cannot show it.
    """
    got = _scaled_speedup(scaling)
    if scaling is None or got is None:
        return None, None
    threads, whole = got
    efficiency = whole / threads
    if efficiency >= MIN_THREAD_EFFICIENCY:
        return efficiency, None
    wall = max(float(scaling["threaded_wall_seconds"]), 1e-9)
    busy = float(scaling["threaded_cpu_seconds"]) / wall  # cores kept busy on average
    procs = res.workers * res.threads_per_worker
    each = format_bytes(res.memory_limit_bytes // max(res.threads_per_worker, 1))
    layout = f"{procs} worker processes x 1 thread (memory_limit {each} each)"
    head = (f"Work does not scale with threads: {threads} threads ran at {efficiency:.0%} parallel "
            f"efficiency ({busy:.1f} cores busy).")
    env = scaling.get("blas_env") or {}
    pinned = bool(scaling.get("blas_pinned")) or any(
        env.get(k) == "1" for k in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS"))
    if busy > threads * 1.3 or (uses_blas and not pinned):
        return efficiency, (f"{head} BLAS/OpenMP threads oversubscribe the cores; set "
                            "OMP_NUM_THREADS=1 (and OPENBLAS/MKL_NUM_THREADS=1) for workers, "
                            f"or use {layout}.")
    if busy < 1 + (threads - 1) * 0.3:
        return efficiency, (f"{head} It holds the GIL (pure-Python code); use more processes with "
                            f"fewer threads: {layout}.")
    return efficiency, (f"{head} Threads contend (memory bandwidth or locks); prefer {layout}, "
                        "with OMP_NUM_THREADS=1.")
