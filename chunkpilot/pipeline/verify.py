"""Check a pipeline plan against its graph at the planned chunks, at any array size.

Under the task cap or re-planned with bigger chunks (and said so); the graph at the planned
chunks built whole only while that is cheap, else on a sub-array of a few chunks per axis
(said so); a blow-up the measured sub-arrays could not show rescales the memory model; a
check that could not run is said, never skipped silently.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass

from chunkpilot.core.gather import peak_basis_bytes
from chunkpilot.core.model import scale_memory
from chunkpilot.core.plan import Plan, make_plan
from chunkpilot.core.taskcap import GraphLimits, within_task_cap
from chunkpilot.errors import PipelineBuildError
from chunkpilot.pipeline.analysis import Analysis
from chunkpilot.pipeline.graph import GraphProfile
from chunkpilot.pipeline.measure import Measurement, PipelineSandbox
from chunkpilot.pipeline.subarray import sub_shape
from chunkpilot.types import ArraySpec

#: Build the whole array's graph at the planned chunks only up to this many tasks ...
FULL_GRAPH_MAX_TASKS = 50_000
#: ... above, on a sub-array of this many chunks per axis (structure shows there too).
VERIFY_CHUNKS_PER_AXIS = 8
#: Rescale memory when the checked graph's blow-up exceeds the measured one by more than this.
BLOWUP_SLACK = 1.5

Shape = tuple[int, ...]


@dataclass(frozen=True, slots=True)
class Verified:
    """The plan after the check, the graphs it looked at, and what it did."""

    plan: Plan
    """The plan, re-planned if the task cap or a blow-up required it."""
    graph: GraphProfile | None
    """The graph at the planned chunks (``None`` when the check could not run)."""
    auto_graph: GraphProfile | None
    """The graph at dask's auto chunks, when under the cap."""
    memory_correction: float
    """Factor applied to the memory slope for a blow-up only the checked graph shows."""
    dask_warnings: tuple[str, ...]
    """Warnings dask gave while building the pipeline at the planned chunks."""
    notes: tuple[str, ...]
    """Sentences for the explanation: re-plans, sub-array checks, checks that could not run."""


def _said(e: PipelineBuildError) -> str:
    """What the build raised, without its closing period (it goes inside a sentence)."""
    return e.cause.rstrip(".")


def priced_growth(plan: Plan, spec: ArraySpec) -> float:
    """How much more than the samples' the memory model already grows the plan's peak for
    its rechunk's bigger chunks (``core.gather.peak_basis_bytes``; 1 at most as big): that
    blow-up is priced, not one the sub-arrays missed."""
    m, e = plan.model, plan.chosen
    sampled = max(((s.peak_basis_bytes or s.nbytes) / s.nbytes for s in m.samples if s.ok),
                  default=1.0)
    at_plan = peak_basis_bytes(m.gather, spec.shape, e.chunk_shape, e.task_bytes,
                               spec.itemsize) / max(e.task_bytes, 1)
    return max(1.0, at_plan / sampled)


def check_shape(spec: ArraySpec, chunk: Shape, an: Analysis, full_axes: Sequence[int] = ()
                ) -> Shape:
    """The array shape to build the pipeline on: whole while cheap, else a sub-array (whole
    along the axes the pipeline needs at full length, ``pipeline.extent``)."""
    if an.tasks(spec, chunk) <= FULL_GRAPH_MAX_TASKS:
        return spec.shape
    return sub_shape(spec.shape, chunk, VERIFY_CHUNKS_PER_AXIS, full_axes)


def verify(box: PipelineSandbox, an: Analysis, plan: Plan, ms: Sequence[Measurement],
           limits: GraphLimits, auto: Shape | None) -> Verified:
    """Check ``plan`` against its graph (rules: module doc)."""
    spec = plan.spec
    plan, notes = within_task_cap(plan, lambda c: an.tasks(spec, c), limits)
    shapes = [plan.chunk_shape]
    if auto is not None and an.tasks(spec, auto) <= limits.max_tasks:
        shapes.append(auto)
    try:
        graphs = box.graphs([(check_shape(spec, c, an, box.full_axes), c) for c in shapes])
    except PipelineBuildError as e:
        try:  # which failed? dask's auto chunks alone must not discard the plan's check
            graphs = box.graphs([(check_shape(spec, shapes[0], an, box.full_axes),
                                  shapes[0])]) if len(shapes) > 1 else ()
        except PipelineBuildError:
            graphs = ()
        if not graphs:
            notes.append(f"The graph at these chunks could not be checked ({_said(e)}); the "
                         "plan rests on the sub-array measurements alone.")
            return Verified(plan, None, None, 1.0, (), tuple(notes))
        notes.append(f"dask chunks='auto' {auto} cannot run this pipeline: building it there "
                     f"raised {_said(e)}.")
        plan = dataclasses.replace(plan, dask_auto=None)
    (graph, said), auto_graph = graphs[0], (graphs[1][0] if len(graphs) > 1 else None)
    seen = max((m.graph.blowup for m in ms if m.graph is not None), default=1.0)
    seen *= priced_growth(plan, spec)
    correction = 1.0
    if graph.blowup > max(seen, 1.0) * BLOWUP_SLACK:
        correction = graph.blowup / max(seen, 1.0)
        plan = make_plan(spec, plan.work, plan.resources, scale_memory(plan.model, correction),
                         dask_auto_shape=auto if plan.dask_auto else None, notes=plan.notes,
                         policy=plan.policy, warn_tasks=limits.warn_tasks)
        plan, more = within_task_cap(plan, lambda c: an.tasks(spec, c), limits)
        notes += more
        ((graph, said),) = box.graphs([(check_shape(spec, plan.chunk_shape, an, box.full_axes),
                                        plan.chunk_shape)])
    sub = check_shape(spec, plan.chunk_shape, an, box.full_axes)
    if sub != spec.shape:
        notes.append(f"The graph at these chunks (~{an.tasks(spec, plan.chunk_shape):,} tasks) "
                     f"was checked on a sub-array {sub} of {VERIFY_CHUNKS_PER_AXIS} chunks per "
                     "axis: building it whole would cost as much as the array is large.")
    return Verified(plan, graph, auto_graph, correction, said, tuple(notes))
