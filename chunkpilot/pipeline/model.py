"""A pipeline's cost model from its sub-array measurements, scaled to the whole array.

Each measurement ran the pipeline on a sub-array of a few chunks per axis. Per input chunk,
its time and peak memory are what the planner's model takes, with corrections the sub-array
cannot show by itself: the scheduler runs as many tasks as the *whole* graph has
(``TaskGrowth``: they grow with the chunk count for contractions); a contraction does more
work per input chunk on the whole array, in proportion to those tasks (``x @ x.T``: a row
block meets every other row block, not only the two or three of the sub-array). What a
contraction (shared operand blocks) or an overlap (neighbours' input chunks) holds grows
with the chunks a worker runs, measured as how the peak grows from a sub-array of 3 chunks
per axis to one of 6 (``memory_growth``) and priced once per worker (``core.held``). The input's
read is set apart (``read_split``): a chunk that splits storage chunks reads and decodes each
one it touches, a cost of the chunk's *shape*, not of its bytes. So is what a task-based
rechunk in the graph holds while it gathers input chunks (``gather_target``, ``core.gather``),
and the samples' peak is fitted against the chunks that rechunk made of their input (``_based``:
the work after it runs on those; ``core.gather.peak_basis_bytes``).
"""

from __future__ import annotations

import dataclasses
import math
import statistics
from collections.abc import Sequence

from chunkpilot.core.budget import SUBARRAY_RUN_BUDGET_S
from chunkpilot.core.gather import GatherTarget, peak_basis_bytes
from chunkpilot.core.held import band_exponent, frontier_exponent
from chunkpilot.core.model import CostModel, Sample, fit_cost_model
from chunkpilot.core.selfproduct import contraction_length, product_work
from chunkpilot.pipeline.analysis import Analysis
from chunkpilot.pipeline.graph import GraphProfile
from chunkpilot.pipeline.measure import Measurement, read_split
from chunkpilot.pipeline.rules import thread_speedup
from chunkpilot.types import ArraySpec
from chunkpilot.units import format_bytes


def work_scale(m: Measurement, spec: ArraySpec, an: Analysis) -> float:
    """How much more work one input chunk does on the whole array than in ``m``'s sub-array
    (1 unless the graph contracts: then the ratio of tasks per input chunk), in general
    block products: the sub-array's self-products ran at part cost (``core.selfproduct``;
    the planner prices the whole array's at each candidate chunk)."""
    if not an.graph.contraction_axes or m.graph is None:
        return 1.0
    whole = an.growth.per_input_chunk(spec.shape, m.chunk)
    ran = product_work(m.graph.input_grid, an.graph.self_product_axes,
                       contraction_length(m.chunk, an.graph.contraction_axes))
    return max(1.0, whole / max(m.graph.tasks_per_input_chunk, 1e-9)) / ran


def memory_growth(ms: Sequence[Measurement]) -> float:
    """Exponent ``q`` of peak memory against the number of input chunks (0: streaming, each
    chunk's memory freed as it goes; 1: everything held, as shared operands are), fitted
    through every run (``core.held.band_exponent``): ``ms`` hold runs over two chunk counts."""
    return band_exponent([(m.sample.nbytes, m.chunks_held, m.sample.peak_bytes)
                          for m in ms if m.sample.ok and m.graph and m.sample.peak_bytes])


def _scaled(s: Sample, seconds_factor: float) -> Sample:
    if s.seconds is None or seconds_factor == 1.0:
        return s
    return dataclasses.replace(
        s, seconds=s.seconds * seconds_factor,
        runs_seconds=tuple(r * seconds_factor for r in s.runs_seconds))


def gather_target(g: GraphProfile, ms: Sequence[Measurement] = ()) -> GatherTarget | None:
    """The chunks the graph's task-based rechunk gathers the input into, if it has one (a
    peer-to-peer rechunk streams through disk instead: not this rule). ``None`` too when
    every measured run's graph, at the chunks planned among, has no rechunk: dask's
    ``nanmedian`` rechunks only input split along its axis, so with that axis whole there is
    nothing to gather (on a 256 x 512 x 512 float32 cube its 4 MiB chunks were priced at
    264 MiB a worker for a 256 MiB gather; a threaded process held 54 MiB)."""
    if not g.rechunk_layers or g.p2p_layers or not (g.whole_axes or g.rechunk_targets):
        return None
    runs = [m.graph for m in ms if m.sample.ok and m.graph is not None]
    if runs and not any(r.rechunk_layers for r in runs):
        return None
    return GatherTarget(g.whole_axes, g.rechunk_targets)


def growth_run_seconds(narrow: Measurement, wide_chunks: float) -> float | None:
    """What the run over ``wide_chunks`` input chunks of ``narrow``'s size should take: its
    cold run scaled by the chunk count (``None``: the cold run was not timed)."""
    if narrow.cold_seconds is None:
        return None
    return narrow.cold_seconds * wide_chunks / max(narrow.chunks_held, 1.0)


def growth_skipped_note(seconds: float, narrow: Measurement, wide_chunks: float,
                        advise_budget_s: float | None = None) -> str:
    """Why the memory-growth run was not made: over the run budget, or (``advise_budget_s``)
    past what was left of advise's time budget."""
    over = (f"over the {SUBARRAY_RUN_BUDGET_S:g} s budget" if advise_budget_s is None else
            f"past what was left of advise's {advise_budget_s:g} s time budget "
            "(chunkpilot.advise.time-budget)")
    return (f"How peak memory grows with the chunks a worker runs (shared operand blocks, "
            f"overlap neighbours) was not measured: the sub-array of {wide_chunks:g} chunks "
            f"that measures it would run ~{seconds:.1f} s ({narrow.cold_seconds:.1f} s cold at "
            f"{narrow.chunks_held:g}), {over}; peak memory "
            "is priced per chunk as the samples held it (modelled).")


def resized_note(ms: Sequence[Measurement], itemsize: int) -> str | None:
    """The plan's words when the run budget made a sample smaller (``core.budget``); not
    when the size that fits still rounded to the planned chunk (rechunk_transpose's
    whole-plane chunks: 3.5 MiB fits, the chunk is 4 MiB)."""
    m = next((m for m in ms if m.planned_bytes
              and math.prod(m.chunk) * itemsize < m.planned_bytes), None)
    if m is None or m.planned_bytes is None:
        return None
    return (f"The {format_bytes(int(m.planned_bytes))} sample was measured at "
            f"{format_bytes(m.sample.nbytes)}: the smaller samples' sub-arrays (cold) put its "
            f"run over the {SUBARRAY_RUN_BUDGET_S:g} s budget, so chunks past the largest "
            "sample are extrapolated further (modelled).")


def _paired(m: Measurement, s: Sample) -> Sample:
    """``s`` with the time two of its chunks take at once on two threads of one process
    (``Sample.pair_seconds``), from the sub-array's threaded run: the planner prices tasks
    sharing a process's threads with it (``CostModel.thread_slowdown``). A histogram of a
    zarr cube ran 2 threads 1.03x as fast as one, each task 1.8-1.9x its time alone at 1-32
    MiB chunks, where the cores its reads kept busy alone (1.12) priced 1.12x."""
    speedup = thread_speedup(m.scaling)
    if speedup is None or not s.seconds:
        return s
    return dataclasses.replace(s, pair_seconds=2 * s.seconds / speedup)


def holds_band(an: Analysis) -> bool:
    """Whether the pipeline's peak grows with the chunks a worker runs (``core.held``): a
    contraction holds shared operand blocks, a ``map_overlap`` input chunks for their
    neighbours."""
    return bool(an.graph.contraction_axes) or any(an.graph.overlap_depth)


def _based(m: Measurement, spec: ArraySpec, target: GatherTarget | None, s: Sample) -> Sample:
    """``s`` with the bytes its peak scales with (``core.gather.peak_basis_bytes``), at its
    sub-array: there the rechunk gathered only the sub-array's input chunks."""
    if target is None or m.graph is None or not m.graph.input_grid or not s.ok:
        return s
    sub = tuple(min(n, g * c) for n, g, c in zip(spec.shape, m.graph.input_grid, m.chunk,
                                                 strict=True))
    basis = peak_basis_bytes(target, sub, m.chunk, s.nbytes, spec.itemsize)
    return dataclasses.replace(s, peak_basis_bytes=basis) if basis > s.nbytes else s


def _held_sample(m: Measurement) -> Sample:
    """``m``'s sample with the chunks its run held and its largest task's peak."""
    if m.graph is None or not m.sample.ok:
        return m.sample
    top = max((peak for _, _, _, peak in m.per_layer), default=None)
    return dataclasses.replace(m.sample, chunks_run=m.chunks_held, task_peak_bytes=top)


def pipeline_model(ms: Sequence[Measurement], spec: ArraySpec, an: Analysis, *,
                   overhead_seconds_per_task: float, overhead_measured: bool,
                   baseline_bytes: int, memory_growth_exponent: float = 0.0) -> CostModel:
    """The planner's cost model, per input chunk: all its tasks' time and the run's peak
    (a contraction's or an overlap's as the band a worker holds, ``core.held``)."""
    ok = [m for m in ms if m.sample.ok]
    top = max(ok, key=lambda m: m.sample.nbytes)
    contraction = bool(an.graph.contraction_axes)
    q = memory_growth_exponent if contraction else min(
        memory_growth_exponent, frontier_exponent(sum(d > 0 for d in an.graph.overlap_depth)))
    band = holds_band(an) and q > 0
    gather = gather_target(an.graph, ok)
    samples = [_paired(m, read_split(m, spec, _scaled(
        _held_sample(m) if band else _based(m, spec, gather, m.sample), work_scale(m, spec, an))))
               if m.sample.ok else m.sample for m in ms]
    model = fit_cost_model(samples, overhead_seconds_per_task=overhead_seconds_per_task,
                           overhead_measured=overhead_measured, baseline_bytes=baseline_bytes,
                           output_ratio=top.output_ratio,
                           held_exponent=q if band else None, held_shared=contraction)
    fractions = [m.tasks_per_chunk / m.graph.tasks_per_input_chunk
                 for m in ok if m.graph is not None and m.graph.tasks_per_input_chunk > 0]
    growth = dataclasses.replace(
        an.growth, executed_fraction=min(1.0, statistics.median(fractions)) if fractions else 1.0)
    return dataclasses.replace(model, tasks_per_chunk=max(top.tasks_per_chunk, 1.0),
                               task_growth=growth, contraction_units=an.units,
                               gather=gather,
                               self_product_axes=an.graph.self_product_axes,
                               contraction_axes=an.graph.contraction_axes)
