"""A pipeline's cost model from its sub-array measurements, scaled to the whole array.

Each measurement ran the pipeline on a sub-array of a few chunks per axis. Per input chunk,
its time and peak memory are what the planner's model takes, with two corrections the
sub-array cannot show by itself: the scheduler runs as many tasks as the *whole* graph has
(``TaskGrowth``: they grow with the chunk count for contractions), and a contraction does
more work per input chunk on the whole array, in proportion to those tasks (``x @ x.T``: a
row block meets every other row block, not only the two or three of the sub-array).
"""

from __future__ import annotations

import dataclasses
import statistics
from collections.abc import Sequence

from chunkpilot.core.model import CostModel, Sample, fit_cost_model
from chunkpilot.pipeline.analysis import Analysis
from chunkpilot.pipeline.measure import Measurement
from chunkpilot.types import ArraySpec


def work_scale(m: Measurement, spec: ArraySpec, an: Analysis) -> float:
    """How much more work one input chunk does on the whole array than in ``m``'s sub-array
    (1 unless the graph contracts: then the ratio of tasks per input chunk)."""
    if not an.graph.contraction_axes or m.graph is None:
        return 1.0
    whole = an.growth.per_input_chunk(spec.shape, m.chunk)
    return max(1.0, whole / max(m.graph.tasks_per_input_chunk, 1e-9))


def _scaled(s: Sample, factor: float) -> Sample:
    if factor == 1.0 or s.seconds is None:
        return s
    return dataclasses.replace(s, seconds=s.seconds * factor,
                               runs_seconds=tuple(r * factor for r in s.runs_seconds))


def pipeline_model(ms: Sequence[Measurement], spec: ArraySpec, an: Analysis, *,
                   overhead_seconds_per_task: float, overhead_measured: bool,
                   baseline_bytes: int) -> CostModel:
    """The planner's cost model, per input chunk: all its tasks' time and the run's peak."""
    ok = [m for m in ms if m.sample.ok]
    top = max(ok, key=lambda m: m.sample.nbytes)
    samples = [_scaled(m.sample, work_scale(m, spec, an)) if m.sample.ok else m.sample
               for m in ms]
    model = fit_cost_model(samples, overhead_seconds_per_task=overhead_seconds_per_task,
                           overhead_measured=overhead_measured, baseline_bytes=baseline_bytes,
                           output_ratio=top.output_ratio)
    fractions = [m.tasks_per_chunk / m.graph.tasks_per_input_chunk
                 for m in ok if m.graph is not None and m.graph.tasks_per_input_chunk > 0]
    growth = dataclasses.replace(
        an.growth, executed_fraction=min(1.0, statistics.median(fractions)) if fractions else 1.0)
    return dataclasses.replace(model, tasks_per_chunk=max(top.tasks_per_chunk, 1.0),
                               task_growth=growth)
