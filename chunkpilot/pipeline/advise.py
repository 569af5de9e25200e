"""The pipeline shell: analyse the graph, measure chunk families, plan, verify.

1. Build the pipeline's graph (sandboxed, on placeholders) at a storage-like chunking
   split on every axis, plus small graphs with more chunks along each axis (task growth,
   ``pipeline.analysis``).
2. Derive chunk families from it (``rules.families``) and measure each on sub-arrays of
   the real data; fit the same ``CostModel`` the per-block path uses (work per chunk and
   task counts scaled to the whole array by the task growth); plan with the pure planner;
   keep the family with the best predicted wall time.
3. Check the plan against its graph (``pipeline.verify``): the task cap, rechunks and
   blow-ups the sub-arrays could not show; at a cost independent of the array's size.
"""

from __future__ import annotations

import dataclasses
import warnings
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from dask.system import CPU_COUNT

from chunkpilot.core.budget import SUBARRAY_RUN_BUDGET_S
from chunkpilot.core.evaluate import downstream_note
from chunkpilot.core.gather import gather, gather_note
from chunkpilot.core.model import Sample
from chunkpilot.core.plan import Plan, make_plan
from chunkpilot.core.policy import DEFAULT_POLICY, Policy
from chunkpilot.core.shapes import dask_auto_shape as auto_shape
from chunkpilot.core.taskcap import GraphLimits, task_warning
from chunkpilot.errors import (
    GraphSizeWarning,
    IntermediateBlowupWarning,
    NoFeasiblePlanError,
    ProfilingError,
)
from chunkpilot.measure.environ import EnvOverrides
from chunkpilot.measure.sandbox import pickle_func
from chunkpilot.measure.time_budget import TimeBudget
from chunkpilot.pipeline.analysis import Analysis, analysis_builds, analysis_from
from chunkpilot.pipeline.extent import AxisNeed, find_axis_need
from chunkpilot.pipeline.family import measure_family
from chunkpilot.pipeline.findings import (
    PipelineFindings,
    blowup_warnings,
    oom_hint,
    pipeline_notes,
)
from chunkpilot.pipeline.measure import Measurement, PipelineSandbox
from chunkpilot.pipeline.model import (
    growth_run_seconds,
    growth_skipped_note,
    holds_band,
    memory_growth,
    pipeline_model,
    resized_note,
)
from chunkpilot.pipeline.rules import families, layout_advice
from chunkpilot.pipeline.subarray import CHUNKS_PER_AXIS, nominal_chunks, subarray_region
from chunkpilot.pipeline.verify import verify
from chunkpilot.types import ArraySpec, Resources, WorkSpec


def _scaling_threads(res: Resources) -> int:
    return max(1, min(res.threads_per_worker, CPU_COUNT))


def advise_pipeline(
    pipeline: Callable[[Any], Any], spec: ArraySpec, ref: Mapping[str, Any], work: WorkSpec,
    res: Resources, *, overhead_seconds_per_task: float, overhead_measured: bool,
    baseline_bytes: int, env: EnvOverrides, timeout_s: float = 60.0,
    limits: GraphLimits | None = None, compare_auto: bool = True,
    notes: tuple[str, ...] = (), on_sample: Callable[[Sample], None] | None = None,
    seed: int = 0,
    policy: Policy = DEFAULT_POLICY, budget: TimeBudget | None = None,
) -> Plan:
    """Plan the input chunks of ``pipeline`` (``fn(x) -> dask collections``) on ``spec``;
    ``compare_auto``: price dask's ``chunks="auto"`` too (whole along the axes kept whole,
    those the pipeline turned out to need included); ``budget``: advise's time, which the
    optional runs (the largest samples, the memory-growth run) keep within."""
    limits = limits or GraphLimits()
    box = PipelineSandbox(pickle_func(pipeline) or b"", spec, ref, env, res.memory_limit_bytes,
                          timeout_s, seed)
    box, work, an, needs = _start(box, spec, work)
    if budget is not None and holds_band(an):  # the largest sample leaves time for it
        budget = dataclasses.replace(budget, reserve_s=lambda ms: _growth_reserve(box, spec, ms))
    dask_auto_shape = auto_shape(spec, work.keep_whole) if compare_auto else None
    measured: list[Measurement] = []  # a family reuses another's samples that fit its rules
    tried: list[tuple[str, str]] = []
    best: tuple[Any, Plan, list[Measurement], list[str]] | None = None
    error: Exception | None = None
    seen: list[Sample] = []

    def record(s: Sample) -> None:
        seen.append(s)
        if on_sample is not None:
            on_sample(s)

    for fam in families(spec, work, an.graph, res):
        if fam.label == "split" and best is not None and best[0].label == "no-rechunk":
            tried.append((fam.label, "skipped: the no-rechunk family fits"))
            continue
        try:
            family_notes: list[str] = []
            ms = measure_family(box, spec, fam.work, res, baseline_guess_bytes=baseline_bytes,
                                threads=_scaling_threads(res), on_sample=record,
                                done=measured, budget=budget, notes=family_notes)
            known = {d.chunk for d in measured}
            measured += [m for m in ms if m.chunk not in known]
            q, growth_note = _memory_growth(box, spec, fam.work, an, ms, on_sample, budget)
            family_notes += [growth_note] if growth_note else []
            model = pipeline_model(
                ms, spec, an, overhead_seconds_per_task=overhead_seconds_per_task,
                overhead_measured=overhead_measured, baseline_bytes=baseline_bytes,
                memory_growth_exponent=q)
            plan = make_plan(spec, fam.work, res, model, dask_auto_shape=dask_auto_shape,
                             policy=policy, warn_tasks=limits.warn_tasks)
        except (ProfilingError, NoFeasiblePlanError) as e:
            error = e
            tried.append((fam.label, f"no plan: {e}"))
            continue
        tried.append((fam.label, f"chunks {plan.chunk_shape}, predicted wall "
                                 f"{plan.chosen.wall_seconds:.3g} s"))
        if best is None or _better(plan, best[1], policy.tie_tolerance):
            best = (fam, plan, ms, family_notes)
    if best is None:
        assert error is not None  # the split family always runs
        first = min(seen, key=lambda s: s.nbytes, default=None)
        hint = None if first is None or first.error_kind != "oom" or any(
            s.ok for s in seen) else oom_hint(an.graph, first.nbytes, res.memory_limit_bytes)
        if isinstance(error, ProfilingError) and hint is not None:
            raise ProfilingError(f"{error} {hint}") from error
        raise error
    fam, plan, ms, fam_notes = best
    checked = verify(box, an, plan, ms, limits, dask_auto_shape)
    plan, graph, auto_graph = checked.plan, checked.graph, checked.auto_graph
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
        thread_efficiency=eff, layout_advice=advice, memory_correction=checked.memory_correction,
        dask_warnings=checked.dask_warnings, full_axes=box.full_axes,
    )
    extra = [n.note(spec) for n in needs] + list(checked.notes) + pipeline_notes(
        report, plan.work.depth, plan.chunk_shape, plan.spec.shape)
    extra += fam_notes
    resized = resized_note(ms, spec.itemsize)
    if resized is not None:
        extra.append(resized)
    held = gather(tuple(spec.shape), plan.chunk_shape, plan.model.gather, spec.itemsize)
    if held is not None:
        extra.append(gather_note(held, res.threads_per_worker))
    spread = downstream_note(plan.chosen, spec, plan.model)
    if spread is not None:
        extra.append(spread)
    for text in blowup_warnings(report, limits.blowup_factor, spec.shape):
        extra.append(text)
        warnings.warn(text, IntermediateBlowupWarning, stacklevel=3)
    too_many = task_warning(report.estimated_tasks, plan.binding_constraint, limits)
    if too_many is not None:
        extra.append(too_many)
        warnings.warn(too_many, GraphSizeWarning, stacklevel=3)
    return dataclasses.replace(plan, notes=tuple(notes) + tuple(extra), pipeline=report)


def _start(box: PipelineSandbox, spec: ArraySpec, work: WorkSpec
           ) -> tuple[PipelineSandbox, WorkSpec, Analysis, list[AxisNeed]]:
    """The graph analysis, built on placeholders before anything runs: the families it
    gives decide what the first sample is (nanpercentile along a whole axis: the split
    family's 1 MiB sample, which its graph rechunks into one 27 MiB block, took 7 s of a
    17 s advise and served no plan). A pipeline that fails to build is probed for the axes
    it needs whole (``pipeline.extent``) and started again with them, at most once per kind."""
    needs: list[AxisNeed] = []
    while True:
        builds = analysis_builds(spec, work, box.full_axes)
        try:
            return box, work, analysis_from(builds, box.graphs(builds)), needs
        except ProfilingError as e:
            need = find_axis_need(box, spec, builds[0][1], e)
            if any(n.full_length == need.full_length for n in needs):
                raise  # that kind was applied already: something else is wrong
        needs.append(need)
        if need.full_length:
            box = dataclasses.replace(box, full_axes=need.axes)
        else:
            work = dataclasses.replace(work, keep_whole=work.keep_whole + need.axes)


def _growth_run(box: PipelineSandbox, spec: ArraySpec, ms: Sequence[Measurement]
                ) -> tuple[Measurement | None, float, float | None]:
    """The memory-growth run for ``ms``: the smallest measured chunk on a sub-array twice as
    wide per axis, its chunks and predicted seconds (``None``: no run to measure from)."""
    ok = [m for m in ms if m.sample.ok and m.graph is not None]
    if not ok:
        return None, 0.0, None
    narrow = min(ok, key=lambda m: m.sample.nbytes)
    region = subarray_region(spec, narrow.chunk, 2 * CHUNKS_PER_AXIS, box.full_axes)
    wide_chunks = nominal_chunks(region, narrow.chunk, spec.shape)
    return narrow, wide_chunks, growth_run_seconds(narrow, wide_chunks)


def _growth_reserve(box: PipelineSandbox, spec: ArraySpec, ms: Sequence[Measurement]) -> float:
    """Seconds the memory-growth run will take after ``ms`` (0 when it would be skipped)."""
    seconds = _growth_run(box, spec, ms)[2] or 0.0
    return seconds if seconds <= SUBARRAY_RUN_BUDGET_S else 0.0


def _memory_growth(box: PipelineSandbox, spec: ArraySpec, work: WorkSpec, an: Analysis,
                   ms: list[Measurement], on_sample: Callable[[Sample], None] | None,
                   budget: TimeBudget | None = None) -> tuple[float, str | None]:
    """For a contraction or an overlap, how peak memory grows with the number of input
    chunks (and a note when it was not measured): the smallest measured chunk once more on
    a sub-array twice as wide per axis, run once (its peak is the cold run's; matmul's took
    1.4 s a run), unless that run is predicted over ``SUBARRAY_RUN_BUDGET_S`` or what is
    left of ``budget``."""
    if not holds_band(an):
        return 0.0, None
    narrow, wide_chunks, seconds = _growth_run(box, spec, ms)
    if narrow is None:
        return 0.0, None
    if seconds is not None and seconds > SUBARRAY_RUN_BUDGET_S:
        return 0.0, growth_skipped_note(seconds, narrow, wide_chunks)
    if seconds is not None and budget is not None and seconds > budget.left_s():
        return 0.0, growth_skipped_note(seconds, narrow, wide_chunks, budget.budget_s)
    wide = box.measure(spec, work, narrow.chunk, per_axis=2 * CHUNKS_PER_AXIS, warm=False)
    if on_sample is not None:
        on_sample(wide.sample)
    ok = [m for m in ms if m.sample.ok and m.graph is not None]
    return (memory_growth([*ok, wide]) if wide.sample.ok else 0.0), None


def _better(a: Plan, b: Plan, tie: float) -> bool:
    """Lower predicted wall time wins; within the tie tolerance, lower peak per worker."""
    if a.chosen.wall_seconds < b.chosen.wall_seconds * (1 - tie):
        return True
    return (a.chosen.wall_seconds <= b.chosen.wall_seconds * (1 + tie)
            and a.chosen.peak_bytes_per_worker < b.chosen.peak_bytes_per_worker)
