"""The planner's candidate chunk shapes: aligned, evened out, from the smallest a plan may use
to the whole array, a ``CANDIDATE_STEP`` apart in bytes (pure)."""

from __future__ import annotations

import math

from chunkpilot.core.policy import CANDIDATE_STEP, MIN_CANDIDATE_BYTES
from chunkpilot.core.shapes import candidate_shape, min_lengths
from chunkpilot.types import ArraySpec, WorkSpec

__all__ = ["candidate_shapes", "smallest_candidate"]


def smallest_candidate(spec: ArraySpec, work: WorkSpec) -> tuple[int, bool]:
    """The smallest candidate's bytes, and whether the axes' own minimum lengths (kept whole,
    overlap depth) set it rather than the 16 KiB floor (or the whole array's size)."""
    lengths = math.prod(min_lengths(spec, work)) * spec.itemsize
    return max(MIN_CANDIDATE_BYTES, lengths), lengths >= min(MIN_CANDIDATE_BYTES, spec.nbytes)


def candidate_shapes(spec: ArraySpec, work: WorkSpec) -> list[tuple[int, ...]]:
    """Aligned, evened-out chunk shapes from tiny to the whole array (deduplicated)."""
    smallest = smallest_candidate(spec, work)[0]
    n_steps = max(1, math.ceil(math.log(max(spec.nbytes / smallest, 1.0), CANDIDATE_STEP)) + 1)
    seen: dict[tuple[int, ...], None] = {}
    for k in range(n_steps + 1):
        seen.setdefault(candidate_shape(spec, work, min(spec.nbytes, smallest * CANDIDATE_STEP**k)))
    seen.setdefault(tuple(spec.shape))  # aligned steps can stop short of it (400 rows, 40 a
    # storage chunk: the whole array's target gave 320 rows, evened out to 200)
    return list(seen)
