"""What planning a pipeline found (``plan.pipeline``), as a frozen value, and its sentences."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

from chunkpilot.core.growth import chunk_counts
from chunkpilot.core.selfproduct import (
    SELF_PRODUCT_OVERHEAD,
    contraction_length,
    product_work,
    self_product_cost,
    self_share,
)
from chunkpilot.pipeline.graph import GraphProfile
from chunkpilot.units import format_bytes


@dataclass(frozen=True, slots=True)
class PipelineFindings:
    """Graph structure and measurements behind a pipeline plan (``plan.pipeline``)."""

    family: str
    """Chunk family the plan came from: ``"no-rechunk"`` or ``"split"``."""
    family_reason: str
    """Why that family was tried."""
    families_tried: tuple[tuple[str, str], ...]
    """(family, outcome) for every family measured or skipped."""
    analysis_chunk: tuple[int, ...]
    """Input chunks of the structural analysis (storage-like, split on every axis)."""
    analysis: GraphProfile
    """The full-size graph at ``analysis_chunk``."""
    graph: GraphProfile | None
    """The full-size graph at the recommended chunks."""
    auto_graph: GraphProfile | None
    """The full-size graph at dask's auto chunks."""
    estimated_tasks: int
    """Tasks of the whole graph at the recommended chunks (scaled from small graphs)."""
    auto_estimated_tasks: int | None
    """The same at dask's auto chunks."""
    tasks_per_chunk: float
    """Tasks executed per input chunk after dask's graph optimization (measured)."""
    per_layer: tuple[tuple[str, int, float, int], ...]
    """(operation, tasks, seconds, largest task peak bytes), from the largest measurement."""
    thread_efficiency: float | None = None
    """Parallel efficiency of a threaded run of the measured sub-array, when measured."""
    layout_advice: str | None = None
    """Worker-layout advice when the work does not scale with threads."""
    memory_correction: float = 1.0
    """Factor applied to the memory slope for a blow-up only the full-size graph shows."""
    dask_warnings: tuple[str, ...] = ()
    """Warnings dask gave while building the pipeline at the recommended chunks."""
    full_axes: tuple[int, ...] = ()
    """Axes the pipeline needs at their full length (``pipeline.extent``): its samples and
    tune's trial region span them whole."""

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        for k in ("analysis", "graph", "auto_graph"):
            g = getattr(self, k)
            d[k] = g.to_dict() if g is not None else None
        return d


def _axes(axes: Any) -> str:
    return ", ".join(str(a) for a in axes)


def fixed_rechunk_targets(r: PipelineFindings, shape: tuple[int, ...]
                          ) -> list[tuple[int, int]]:
    """In-graph rechunk targets that input chunks of that length would make unnecessary: the
    same at the analysis chunking and at the plan's (a target that follows the input, as
    xarray's rolling window pads each chunk to 1024 + 4 = 1028, moves with it), and no
    longer than the axis."""
    seen = r.analysis.rechunk_targets
    if r.graph is not None and r.graph.input_chunk != r.analysis.input_chunk:
        seen = tuple(t for t in seen if t in r.graph.rechunk_targets)
    return [(s, n) for s, n in seen if n < shape[s]]


def pipeline_notes(r: PipelineFindings, depth: tuple[int, ...], chunk: tuple[int, ...],
                   shape: tuple[int, ...]) -> list[str]:
    """Sentences for ``plan.explain()``, most important first."""
    g, a = r.graph, r.analysis
    notes = [f"Pipeline planned per input chunk: {r.family_reason}"]
    if r.family == "no-rechunk" and g is not None:
        notes.append("Verified: at these chunks the graph has no rechunk layer, so the pipeline's "
                     "rechunk is a no-op." if not g.rechunk_layers else
                     f"The graph still rechunks ({', '.join(g.rechunk_layers)}); its cost is "
                     "in the measurements.")
    elif g is not None and g.rechunk_layers:
        notes.append(f"The graph rechunks ({', '.join(g.rechunk_layers)}) at these chunks; the "
                     "rechunk's time is in the measurements, and so is its memory unless it "
                     "gathers input chunks (then see below).")
    for s, n in fixed_rechunk_targets(r, shape):
        notes.append(f"An in-graph rechunk sets axis {s} to chunks of {n}; input chunks of {n} "
                     "along it would make that rechunk unnecessary.")
    if any(depth):
        with_halo = math.prod(c + 2 * d for c, d in zip(chunk, depth, strict=True))
        halo = with_halo / math.prod(chunk) - 1
        notes.append(f"Overlap depth {depth}: every chunk is at least that long, and the halo "
                     f"adds {halo:.0%} to each task's input (included in the numbers above).")
    if a.contraction_axes:
        hot = [p for p in r.per_layer if p[0].startswith(a.contraction_layers)]
        peak = f"; its largest task peaked at {format_bytes(max(p[3] for p in hot))}" if hot else ""
        part = ""
        if g is not None and g.contraction_bytes:
            ratio = g.contraction_bytes / g.input_chunk_bytes
            part = (f"; at these chunks each partial product is "
                    f"{format_bytes(g.contraction_bytes)} ({ratio:.1f}x the input chunk)")
        notes.append(f"Contraction ({', '.join(a.contraction_layers)}) over input axis "
                     f"{_axes(a.contraction_axes)} is the memory hot spot: partial products are "
                     f"held until summed, and the measured peaks include them{part}{peak}.")
    if a.self_product_axes:
        counts = chunk_counts(shape, chunk)
        k = contraction_length(chunk, a.contraction_axes)
        notes.append(
            f"The contraction pairs blocks with their own transposes along input axis "
            f"{_axes(a.self_product_axes)} (x @ x.T): numpy computes those products with "
            f"BLAS's SYRK, at {self_product_cost(k):.0%} of a general product's work for a "
            f"contraction of {k} elements (modelled: half, plus {SELF_PRODUCT_OVERHEAD:.0f} / "
            f"length); at these chunks {self_share(counts, a.self_product_axes):.0%} of the "
            f"block products, so the work is "
            f"{product_work(counts, a.self_product_axes, k):.2f}x that of general products.")
    if r.per_layer:
        total = sum(p[2] for p in r.per_layer) or 1.0
        slow = max(r.per_layer, key=lambda p: p[2])
        big = max(r.per_layer, key=lambda p: p[3])
        notes.append(f"Measured: most time in {slow[0]} ({slow[2] / total:.0%}); the largest "
                     f"task is {big[0]} ({format_bytes(big[3])}); {r.tasks_per_chunk:.1f} tasks "
                     "per input chunk after optimization on the measured sub-array.")
    if g is not None:
        notes.append(f"Graph at these chunks: ~{r.estimated_tasks:,} tasks as built (before "
                     "dask's optimization fuses some); largest intermediate "
                     f"chunk {format_bytes(g.largest_intermediate_bytes)} from "
                     f"{g.largest_intermediate_layer or 'the input'} "
                     f"({g.blowup:.1f}x the input chunk).")
    if r.auto_graph is not None and r.auto_estimated_tasks is not None:
        ag = r.auto_graph
        notes.append(f"At dask auto chunks {ag.input_chunk}: ~{r.auto_estimated_tasks:,} tasks "
                     "as built, "
                     f"largest intermediate {format_bytes(ag.largest_intermediate_bytes)} "
                     f"({ag.blowup:.1f}x the input chunk)"
                     + (f", rechunks ({', '.join(ag.rechunk_layers)})" if ag.rechunk_layers else "")
                     + ".")
    if r.memory_correction > 1:
        notes.append(f"The full-size graph's largest intermediate is {r.memory_correction:.1f}x "
                     "what the measured sub-arrays showed; the memory model was scaled by that.")
    if r.layout_advice:
        notes.append(r.layout_advice)
    if r.dask_warnings:
        notes.append("Building the pipeline at these chunks: "
                     + "; ".join(r.dask_warnings))
    return notes


def blowup_warnings(r: PipelineFindings, factor: float, shape: tuple[int, ...]) -> list[str]:
    """Texts for ``IntermediateBlowupWarning``: blow-ups at the plan, or hidden and avoided."""
    out = []
    g, a = r.graph, r.analysis
    if g is not None and g.blowup >= factor:
        out.append(
            f"{g.largest_intermediate_layer} turns each "
            f"{format_bytes(g.input_chunk_bytes)} input chunk into a "
            f"{format_bytes(g.largest_intermediate_bytes)} intermediate chunk ({g.blowup:.0f}x) "
            "even at the recommended chunks; the plan's memory model includes it. To shrink it, "
            "change that step (smaller window, reshape(..., merge_chunks=False), or rechunk "
            "before it)."
        )
    if a.hidden_whole_axes:
        kept = set()
        if g is not None:
            kept = {i for i, (c, n) in enumerate(zip(g.input_chunk, shape, strict=True)) if c == n}
        avoided = set(a.hidden_whole_axes) <= kept
        out.append(
            f"reshape merges input axis {_axes(a.hidden_whole_axes)} into one chunk: with chunks "
            f"split along it (e.g. {r.analysis_chunk}) its hidden rechunk builds intermediate "
            f"chunks {a.blowup:.0f}x the input chunk, growing with the number of chunks along that "
            "axis. " + ("The recommended chunks keep that axis whole, which avoids it; keep them, "
                        "or call reshape(..., merge_chunks=False)." if avoided else
                        "The recommended chunks cannot keep it whole; call "
                        "reshape(..., merge_chunks=False) or give workers more memory.")
        )
    return out


def oom_hint(g: GraphProfile, failed_bytes: int, memory_limit_bytes: int) -> str | None:
    """What to look at when no sample of a pipeline ran and the smallest (``failed_bytes`` of
    input) ran out of memory: a contraction's partial product or an intermediate that alone
    takes half the memory limit (``x.T @ x`` with its output axis whole makes an (n, n)
    block from any input chunk along the summed axis); ``None`` when neither does."""
    half = memory_limit_bytes / 2
    if g.contraction_bytes > half:
        what = (f"a partial product of {format_bytes(g.contraction_bytes)} from "
                f"{', '.join(g.contraction_layers)} at input chunks {g.input_chunk} (its size "
                "follows the axes it does not sum over, not the summed one)")
    elif g.blowup >= 2 and g.blowup * failed_bytes > half:
        what = (f"{g.largest_intermediate_layer}'s intermediate chunks, {g.blowup:.0f}x the "
                f"input chunk ({format_bytes(int(g.blowup * failed_bytes))} at these)")
    else:
        return None
    return (f"The graph makes {what}, against a {format_bytes(memory_limit_bytes)} memory "
            "limit per worker: that step, not the input chunks, ran out of memory. Split an "
            "axis it keeps whole (fewer keep_whole= axes), change that step, or give workers "
            "more memory.")
