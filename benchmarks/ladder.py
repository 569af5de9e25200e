"""The shapes searched for the oracle: chunkpilot's own candidate ladder (√2 steps of
storage-aligned, evened-out shapes up to and including the whole array; axes kept whole stay
whole), from about 1 MiB up.

Reusing :func:`chunkpilot.core.plan.candidate_shapes` means the oracle searches exactly the
shapes the planner chooses among (above the floor), so "the planner picked a worse rung" and
"the best shape is off the ladder" are told apart.
"""

from __future__ import annotations

import math

from chunkpilot.core.candidates import candidate_shapes
from chunkpilot.types import ArraySpec, WorkSpec

MiB = 2**20
#: Smallest block of the ladder (full runs): below it every workload is overhead-bound.
FULL_MIN_BYTES = 1 * MiB
#: Quick runs have 1-8 MiB arrays.
QUICK_MIN_BYTES = 64 * 1024
#: A rung this close to the floor still counts (storage alignment moves sizes a little).
SLACK = 0.9


def spec_work(shape: tuple[int, ...], storage: tuple[int, ...], dtype: str,
              keep_whole: tuple[int, ...] = (), depth: int | None = None
              ) -> tuple[ArraySpec, WorkSpec]:
    """The planner's view of a benchmark array (``depth`` applies to every axis)."""
    spec = ArraySpec(tuple(shape), dtype, storage_chunks=tuple(storage))
    work = WorkSpec(len(shape), tuple(keep_whole), (depth,) * len(shape) if depth else ())
    return spec, work


def ladder(spec: ArraySpec, work: WorkSpec, min_bytes: int) -> list[tuple[int, ...]]:
    """The planner's candidates of at least ``min_bytes`` (one shape per block size, the
    first the planner lists), smallest first; never empty (the whole array stays)."""
    out: dict[int, tuple[int, ...]] = {}
    for s in candidate_shapes(spec, work):
        b = math.prod(s) * spec.itemsize
        if b >= SLACK * min_bytes:
            out.setdefault(b, tuple(s))
    if not out:
        return [tuple(spec.shape)]
    return [out[b] for b in sorted(out)]
