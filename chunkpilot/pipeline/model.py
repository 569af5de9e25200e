"""A pipeline's cost model from its sub-array measurements, scaled to the whole array.

Each measurement ran the pipeline on a sub-array of a few chunks per axis. Per input chunk,
its time and peak memory are what the planner's model takes, with corrections the sub-array
cannot show by itself: the scheduler runs as many tasks as the *whole* graph has
(``TaskGrowth``: they grow with the chunk count for contractions); a contraction does more
work per input chunk on the whole array, in proportion to those tasks (``x @ x.T``: a row
block meets every other row block, not only the two or three of the sub-array); and it holds
more shared operand blocks, measured as how the peak grows from a sub-array of 3 chunks per
axis to one of 6 (``memory_growth``), carried to the whole array's chunk count. The input's
read is set apart (``read_split``): a chunk that splits storage chunks reads and decodes each
one it touches, a cost of the chunk's *shape*, not of its bytes. So is what a task-based
rechunk in the graph holds while it gathers input chunks (``gather_target``, ``core.gather``).
"""

from __future__ import annotations

import dataclasses
import math
import statistics
from collections.abc import Sequence

from chunkpilot.core.gather import GatherTarget
from chunkpilot.core.held import frontier_exponent
from chunkpilot.core.model import CostModel, Sample, fit_cost_model
from chunkpilot.pipeline.analysis import Analysis
from chunkpilot.pipeline.graph import GraphProfile
from chunkpilot.pipeline.measure import Measurement, read_split
from chunkpilot.types import ArraySpec


def work_scale(m: Measurement, spec: ArraySpec, an: Analysis) -> float:
    """How much more work one input chunk does on the whole array than in ``m``'s sub-array
    (1 unless the graph contracts: then the ratio of tasks per input chunk)."""
    if not an.graph.contraction_axes or m.graph is None:
        return 1.0
    whole = an.growth.per_input_chunk(spec.shape, m.chunk)
    return max(1.0, whole / max(m.graph.tasks_per_input_chunk, 1e-9))


def memory_growth(narrow: Measurement, wide: Measurement) -> float:
    """Exponent ``q`` of peak memory against the number of input chunks (0: streaming, each
    chunk's memory freed as it goes; 1: everything held, as shared operands are)."""
    a, b = narrow.sample.peak_bytes, wide.sample.peak_bytes
    if not (a and b and narrow.graph and wide.graph):
        return 0.0
    n0, n1 = narrow.graph.input_chunks, wide.graph.input_chunks
    if n1 <= n0 or b <= a:
        return 0.0
    return min(1.0, math.log(b / a) / math.log(n1 / n0))


def _scaled(s: Sample, seconds_factor: float, peak_factor: float = 1.0) -> Sample:
    if s.seconds is None or (seconds_factor == 1.0 and peak_factor == 1.0):
        return s
    return dataclasses.replace(
        s, seconds=s.seconds * seconds_factor,
        runs_seconds=tuple(r * seconds_factor for r in s.runs_seconds),
        peak_bytes=int((s.peak_bytes or 0) * peak_factor))


def peak_scale(m: Measurement, spec: ArraySpec, q: float) -> float:
    """How much more a contraction holds on the whole array than in ``m``'s sub-array: the
    measured growth carried to the whole array's chunk count, but never more than holding
    every input chunk besides the sub-array's own working set."""
    if q <= 0 or m.graph is None or not m.sample.peak_bytes:
        return 1.0
    whole = math.prod(math.ceil(n / c) for n, c in zip(spec.shape, m.chunk, strict=True))
    sub = max(m.graph.input_chunks, 1)
    grown = (whole / sub) ** q
    held_all = 1.0 + max(whole - sub, 0) * m.graph.input_chunk_bytes / m.sample.peak_bytes
    return max(1.0, min(grown, held_all))


def gather_target(g: GraphProfile) -> GatherTarget | None:
    """The chunks the graph's task-based rechunk gathers the input into, if it has one (a
    peer-to-peer rechunk streams through disk instead: not this rule)."""
    if not g.rechunk_layers or g.p2p_layers or not (g.whole_axes or g.rechunk_targets):
        return None
    return GatherTarget(g.whole_axes, g.rechunk_targets)


def holds_band(an: Analysis) -> bool:
    """Whether the pipeline holds input chunks for their neighbours (a ``map_overlap``) and
    is no contraction: its peak grows with the chunks a worker runs (``core.held``)."""
    return any(an.graph.overlap_depth) and not an.graph.contraction_axes


def _held_sample(m: Measurement) -> Sample:
    """``m``'s sample with the chunks its run held and its largest task's peak."""
    if m.graph is None or not m.sample.ok:
        return m.sample
    top = max((peak for _, _, _, peak in m.per_layer), default=None)
    return dataclasses.replace(m.sample, chunks_run=m.graph.input_chunks, task_peak_bytes=top)


def pipeline_model(ms: Sequence[Measurement], spec: ArraySpec, an: Analysis, *,
                   overhead_seconds_per_task: float, overhead_measured: bool,
                   baseline_bytes: int, memory_growth_exponent: float = 0.0) -> CostModel:
    """The planner's cost model, per input chunk: all its tasks' time and the run's peak
    (a contraction's carried to the whole array; an overlap's held band per worker)."""
    ok = [m for m in ms if m.sample.ok]
    top = max(ok, key=lambda m: m.sample.nbytes)
    overlap_axes = sum(d > 0 for d in an.graph.overlap_depth)
    q = min(memory_growth_exponent, frontier_exponent(overlap_axes))
    band = holds_band(an) and q > 0
    carried = memory_growth_exponent if an.graph.contraction_axes else 0.0
    samples = [read_split(m, spec, _scaled(_held_sample(m) if band else m.sample,
                                           work_scale(m, spec, an),
                                           peak_scale(m, spec, carried)))
               if m.sample.ok else m.sample for m in ms]
    model = fit_cost_model(samples, overhead_seconds_per_task=overhead_seconds_per_task,
                           overhead_measured=overhead_measured, baseline_bytes=baseline_bytes,
                           output_ratio=top.output_ratio,
                           held_exponent=q if band else None)
    fractions = [m.tasks_per_chunk / m.graph.tasks_per_input_chunk
                 for m in ok if m.graph is not None and m.graph.tasks_per_input_chunk > 0]
    growth = dataclasses.replace(
        an.growth, executed_fraction=min(1.0, statistics.median(fractions)) if fractions else 1.0)
    return dataclasses.replace(model, tasks_per_chunk=max(top.tasks_per_chunk, 1.0),
                               task_growth=growth, contraction_units=an.units,
                               gather=gather_target(an.graph))
