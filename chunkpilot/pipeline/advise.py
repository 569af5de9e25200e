"""The pipeline shell: analyse the graph, measure chunk families, plan, verify at full size.

1. Build the pipeline's graph (sandboxed, on placeholders) at a storage-like chunking
   split on every axis, plus small graphs with more chunks along each axis (task growth).
2. Derive chunk families from it (``rules.families``) and measure each on sub-arrays of
   the real data; fit the same ``CostModel`` the per-block path uses; plan with the pure
   planner; keep the family with the best predicted wall time.
3. Build the full-size graph at the recommended (and dask auto) chunks to check rechunks,
   blow-ups the sub-arrays could not show, and the graph-size caps.
"""

from __future__ import annotations

import dataclasses
import math
import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from dask.system import CPU_COUNT

from chunkpilot.core.model import Sample, scale_memory
from chunkpilot.core.plan import Plan, make_plan
from chunkpilot.core.policy import DEFAULT_POLICY, Policy
from chunkpilot.core.shapes import align_units, min_lengths, shape_for_bytes
from chunkpilot.errors import (
    GraphSizeWarning,
    GraphTooLargeError,
    IntermediateBlowupWarning,
    NoFeasiblePlanError,
    ProfilingError,
)
from chunkpilot.measure.sandbox import pickle_func
from chunkpilot.pipeline.findings import PipelineFindings, blowup_warnings, pipeline_notes
from chunkpilot.pipeline.graph import GraphProfile
from chunkpilot.pipeline.measure import (
    SMALL_CHUNK_BYTES,
    Measurement,
    PipelineSandbox,
    measure_family,
)
from chunkpilot.pipeline.rules import (
    GraphLimits,
    estimate_tasks,
    families,
    fit_task_exponents,
    layout_advice,
    pipeline_model,
)
from chunkpilot.types import ArraySpec, Resources, WorkSpec

#: At most this many chunks per axis in the structural analysis graph.
ANALYSIS_CHUNKS_PER_AXIS = 8
#: Chunks per axis of the small graphs that measure how task counts grow.
GROWTH_BASE, GROWTH_MORE = 3, 6
#: Rescale memory when the full-size blow-up exceeds the measured one by more than this.
BLOWUP_SLACK = 1.5


@dataclass(frozen=True, slots=True)
class Analysis:
    """The graph at the analysis chunking and how its task count grows per axis."""

    chunk: tuple[int, ...]
    graph: GraphProfile
    base_counts: tuple[int, ...]
    base_tasks: int
    exponents: tuple[float, ...]

    def tasks(self, spec: ArraySpec, chunk: tuple[int, ...]) -> int:
        return estimate_tasks(self.base_counts, self.base_tasks, self.exponents, spec.shape, chunk)


def analysis_chunk(spec: ArraySpec, work: WorkSpec) -> tuple[int, ...]:
    """The smallest allowed chunk, grown to a storage chunk and to <= 8 chunks per axis."""
    return tuple(
        min(n, max(low, u, math.ceil(n / ANALYSIS_CHUNKS_PER_AXIS)))
        for n, low, u in zip(spec.shape, min_lengths(spec, work), align_units(spec), strict=True)
    )


Builds = list[tuple[tuple[int, ...], tuple[int, ...]]]


def analysis_builds(spec: ArraySpec, work: WorkSpec) -> Builds:
    """(shape, chunk) of the graphs to analyse: the full array at the analysis chunking, a
    small array of ``GROWTH_BASE`` chunks per axis, and that grown along each axis in turn."""
    chunk = analysis_chunk(spec, work)
    base = tuple(min(n, GROWTH_BASE * c) for n, c in zip(spec.shape, chunk, strict=True))
    grown = [tuple(GROWTH_MORE * c if j == i else b
                   for j, (b, c) in enumerate(zip(base, chunk, strict=True)))
             for i, (n, c) in enumerate(zip(spec.shape, chunk, strict=True))
             if n >= GROWTH_MORE * c]
    return [(spec.shape, chunk), (base, chunk)] + [(g, chunk) for g in grown]


def analysis_from(builds: Builds, built: Any) -> Analysis:
    """Interpret the graphs of :func:`analysis_builds`."""
    (_, chunk), (base, _) = builds[0], builds[1]
    full, small, *grown = (g for g, _ in built)
    counts = tuple(math.ceil(b / c) for b, c in zip(base, chunk, strict=True))
    grow = [next(i for i, (s, b) in enumerate(zip(shape, base, strict=True)) if s != b)
            for shape, _ in builds[2:]]
    exps = fit_task_exponents(counts, small.tasks,
                              [(i, GROWTH_MORE, g.tasks) for i, g in zip(grow, grown, strict=True)])
    return Analysis(chunk, full, counts, small.tasks, exps)


def _scaling_threads(res: Resources) -> int:
    return max(1, min(res.threads_per_worker, CPU_COUNT))


def advise_pipeline(
    pipeline: Callable[[Any], Any], spec: ArraySpec, ref: Mapping[str, Any], work: WorkSpec,
    res: Resources, *, overhead_seconds_per_task: float, overhead_measured: bool,
    baseline_bytes: int, env: Mapping[str, str], timeout_s: float = 60.0,
    limits: GraphLimits | None = None, dask_auto_shape: tuple[int, ...] | None = None,
    notes: tuple[str, ...] = (), on_sample: Callable[[Sample], None] | None = None,
    policy: Policy = DEFAULT_POLICY,
) -> Plan:
    """Plan the input chunks of ``pipeline`` (``fn(x) -> dask collections``) on ``spec``."""
    limits = limits or GraphLimits()
    box = PipelineSandbox(pickle_func(pipeline) or b"", spec, ref, env, res.memory_limit_bytes,
                          timeout_s)
    # the first measurement also builds the analysis graphs: one sandbox start less
    builds = analysis_builds(spec, work)
    chunk0 = shape_for_bytes(spec, work, min(SMALL_CHUNK_BYTES[0], spec.nbytes / 8))
    first = box.measure(spec, work, chunk0, builds=builds)
    if on_sample is not None:
        on_sample(first.sample)
    an = analysis_from(builds, first.builds or box.graphs(builds))
    tried: list[tuple[str, str]] = []
    best: tuple[Any, Plan, list[Measurement]] | None = None
    error: Exception | None = None
    for fam in families(spec, work, an.graph, res):
        if fam.label == "split" and best is not None and best[0].label == "no-rechunk":
            tried.append((fam.label, "skipped: the no-rechunk family fits"))
            continue
        try:
            ms = measure_family(box, spec, fam.work, res, baseline_guess_bytes=baseline_bytes,
                                threads=_scaling_threads(res), on_sample=on_sample, done=[first])
            ok = [m for m in ms if m.sample.ok]
            top = max(ok, key=lambda m: m.sample.nbytes)
            model = pipeline_model(
                [m.sample for m in ms], top.tasks_per_chunk,
                overhead_seconds_per_task=overhead_seconds_per_task,
                overhead_measured=overhead_measured, baseline_bytes=baseline_bytes,
                output_ratio=top.output_ratio)
            plan = make_plan(spec, fam.work, res, model, dask_auto_shape=dask_auto_shape,
                             policy=policy)
        except (ProfilingError, NoFeasiblePlanError) as e:
            error = e
            tried.append((fam.label, f"no plan: {e}"))
            continue
        tried.append((fam.label, f"chunks {plan.chunk_shape}, predicted wall "
                                 f"{plan.chosen.wall_seconds:.3g} s"))
        if best is None or _better(plan, best[1], policy.tie_tolerance):
            best = (fam, plan, ms)
    if best is None:
        assert error is not None  # the split family always runs
        raise error
    fam, plan, ms = best
    plan, graph, auto_graph, correction, said = _verify(box, spec, an, plan, ms, limits,
                                                       dask_auto_shape)
    ok = [m for m in ms if m.sample.ok]
    top = max(ok, key=lambda m: m.sample.nbytes)
    scaled = [m for m in ms if m.scaling]
    eff, advice = layout_advice(scaled[0].scaling if scaled else None, res,
                                uses_blas=bool(an.graph.contraction_axes))
    report = PipelineFindings(
        family=fam.label, family_reason=fam.reason, families_tried=tuple(tried),
        analysis_chunk=an.chunk, analysis=an.graph, graph=graph, auto_graph=auto_graph,
        estimated_tasks=max(an.tasks(spec, plan.chunk_shape), graph.tasks if graph else 0),
        auto_estimated_tasks=(max(an.tasks(spec, dask_auto_shape), auto_graph.tasks)
                              if auto_graph is not None and dask_auto_shape else None),
        tasks_per_chunk=plan.model.tasks_per_chunk, per_layer=top.per_layer,
        thread_efficiency=eff, layout_advice=advice, memory_correction=correction,
        dask_warnings=said,
    )
    extra = pipeline_notes(report, plan.work.depth, plan.chunk_shape)
    for text in blowup_warnings(report, limits.blowup_factor, spec.shape):
        extra.append(text)
        warnings.warn(text, IntermediateBlowupWarning, stacklevel=3)
    if report.estimated_tasks > limits.warn_tasks:
        extra.append(f"The graph has ~{report.estimated_tasks:,} tasks at these chunks, above "
                     f"{limits.warn_tasks:,}: the scheduler's own overhead will show. Give "
                     "workers more memory so chunks can grow, or split the computation.")
        warnings.warn(extra[-1], GraphSizeWarning, stacklevel=3)
    return dataclasses.replace(plan, notes=tuple(notes) + tuple(extra), pipeline=report)


def _better(a: Plan, b: Plan, tie: float) -> bool:
    """Lower predicted wall time wins; within the tie tolerance, lower peak per worker."""
    if a.chosen.wall_seconds < b.chosen.wall_seconds * (1 - tie):
        return True
    return (a.chosen.wall_seconds <= b.chosen.wall_seconds * (1 + tie)
            and a.chosen.peak_bytes_per_worker < b.chosen.peak_bytes_per_worker)


def _check_size(an: Analysis, spec: ArraySpec, chunk: tuple[int, ...], limits: GraphLimits) -> int:
    tasks = an.tasks(spec, chunk)
    if tasks > limits.max_tasks:
        raise GraphTooLargeError(
            f"Expected a graph of at most {limits.max_tasks:,} tasks. Got ~{tasks:,} tasks for "
            f"input chunks {chunk} (the smallest that fit memory). Give workers more memory, "
            "process the array in pieces, or raise max_tasks."
        )
    return tasks


def _verify(
    box: PipelineSandbox, spec: ArraySpec, an: Analysis, plan: Plan, ms: list[Measurement],
    limits: GraphLimits, auto: tuple[int, ...] | None,
) -> tuple[Plan, GraphProfile | None, GraphProfile | None, float, tuple[str, ...]]:
    """Full-size graphs at the plan (and auto) chunks; rescale memory for unseen blow-ups."""
    _check_size(an, spec, plan.chunk_shape, limits)
    want_auto = auto is not None and an.tasks(spec, auto) <= limits.max_tasks
    shapes = [plan.chunk_shape] + ([auto] if want_auto and auto is not None else [])
    try:
        graphs = box.graphs([(spec.shape, c) for c in shapes])
    except ProfilingError:  # e.g. the pipeline computes eagerly: keep the measured plan
        return plan, None, None, 1.0, ()
    (graph, said), auto_graph = graphs[0], (graphs[1][0] if len(graphs) > 1 else None)
    seen = max((m.graph.blowup for m in ms if m.graph is not None), default=1.0)
    correction = 1.0
    if graph.blowup > max(seen, 1.0) * BLOWUP_SLACK:
        correction = graph.blowup / max(seen, 1.0)
        plan = make_plan(spec, plan.work, plan.resources, scale_memory(plan.model, correction),
                         dask_auto_shape=auto, policy=plan.policy)
        _check_size(an, spec, plan.chunk_shape, limits)
        ((graph, said),) = box.graphs([(spec.shape, plan.chunk_shape)])
    return plan, graph, auto_graph, correction, said
