"""The structure of a pipeline's graph, from graphs built on placeholders in a sandbox.

The whole array at a coarse chunking (<= 8 chunks per axis: rechunks, overlaps, blow-ups and
contractions show there), and a small array with a few more chunks along each axis in turn
(how the task count grows). Nothing here builds the full-size graph at the planned chunks:
planning costs the same whatever the array's size.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from chunkpilot.core.growth import TaskGrowth, chunk_counts, fit_task_exponents
from chunkpilot.core.shapes import align_units, min_lengths
from chunkpilot.pipeline.graph import GraphProfile
from chunkpilot.pipeline.subarray import sub_shape
from chunkpilot.types import ArraySpec, WorkSpec

#: At most this many chunks per axis in the structural analysis graph.
ANALYSIS_CHUNKS_PER_AXIS = 8
#: Chunks per axis of the small graphs that measure how task counts grow.
GROWTH_BASE, GROWTH_MORE = 3, 6


@dataclass(frozen=True, slots=True)
class Analysis:
    """The graph at the analysis chunking and how its task count grows per axis."""

    chunk: tuple[int, ...]
    """Input chunks of the structural analysis graph (storage-like, <= 8 per axis)."""
    graph: GraphProfile
    """The whole array's graph at that chunking."""
    growth: TaskGrowth
    """How the task count grows with the number of input chunks (from small graphs)."""
    units: TaskGrowth | None = None
    """How a contraction's block products grow with them (``None``: the graph does not
    contract): the tasks that share its work (``CostModel.contraction_units``)."""

    def tasks(self, spec: ArraySpec, chunk: tuple[int, ...]) -> int:
        """Tasks of the whole array's graph at ``chunk`` (before optimization)."""
        return self.growth.built(spec.shape, chunk)


def analysis_chunk(spec: ArraySpec, work: WorkSpec) -> tuple[int, ...]:
    """The smallest allowed chunk, grown to a storage chunk and to <= 8 chunks per axis."""
    return tuple(
        min(n, max(low, u, math.ceil(n / ANALYSIS_CHUNKS_PER_AXIS)))
        for n, low, u in zip(spec.shape, min_lengths(spec, work), align_units(spec), strict=True)
    )


Builds = list[tuple[tuple[int, ...], tuple[int, ...]]]


def analysis_builds(spec: ArraySpec, work: WorkSpec, full_axes: tuple[int, ...] = ()) -> Builds:
    """(shape, chunk) of the graphs to analyse: the full array at the analysis chunking, a
    small array of ``GROWTH_BASE`` chunks per axis, and that grown along each axis in turn
    (not along ``full_axes``, whole in every graph: their task exponent stays 1)."""
    chunk = analysis_chunk(spec, work)
    base = sub_shape(spec.shape, chunk, GROWTH_BASE, full_axes)
    grown = [tuple(GROWTH_MORE * c if j == i else b
                   for j, (b, c) in enumerate(zip(base, chunk, strict=True)))
             for i, (n, c) in enumerate(zip(spec.shape, chunk, strict=True))
             if n >= GROWTH_MORE * c and i not in full_axes]
    return [(spec.shape, chunk), (base, chunk)] + [(g, chunk) for g in grown]


def analysis_from(builds: Builds, built: Any) -> Analysis:
    """Interpret the graphs of :func:`analysis_builds`."""
    (_, chunk), (base, _) = builds[0], builds[1]
    full, small, *grown = (g for g, _ in built)
    counts = chunk_counts(base, chunk)
    grow = [next(i for i, (s, b) in enumerate(zip(shape, base, strict=True)) if s != b)
            for shape, _ in builds[2:]]
    def growth(tasks: Callable[[GraphProfile], int]) -> TaskGrowth:
        more = [(i, GROWTH_MORE, tasks(g)) for i, g in zip(grow, grown, strict=True)]
        return TaskGrowth(counts, tasks(small), fit_task_exponents(counts, tasks(small), more))

    units = growth(lambda g: g.contraction_tasks) if small.contraction_tasks else None
    return Analysis(chunk, full, growth(lambda g: g.tasks), units)
