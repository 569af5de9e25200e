"""Measure one chunk family of a pipeline: a few input chunk sizes, smallest first, up to
the largest worth a sub-array run (``core.budget``), each in the sandbox
(``pipeline.measure``); measurements already made that fit the family are reused."""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Sequence

from chunkpilot.core.budget import largest_worth_measuring
from chunkpilot.core.model import Sample
from chunkpilot.core.shapes import halo_shape, shape_for_bytes
from chunkpilot.errors import ProfilingError
from chunkpilot.pipeline.measure import (
    SUBARRAY_TIME_BUDGET_S,
    Measurement,
    PipelineSandbox,
    read_split,
)
from chunkpilot.pipeline.subarray import SUBARRAY_MAX_BYTES
from chunkpilot.types import ArraySpec, Resources, WorkSpec
from chunkpilot.units import format_bytes

MiB = 2**20
#: Input chunk sizes measured first; small enough to be safe for any pipeline.
SMALL_CHUNK_BYTES = (1 * MiB, 4 * MiB)


def rebase(m: Measurement, spec: ArraySpec, work: WorkSpec) -> Measurement | None:
    """``m`` as a sample of ``work``'s family (halo bytes per its depth), or ``None`` if its
    chunk breaks that family's rules (an axis not whole, a chunk under the depth)."""
    c = m.chunk
    if any(c[i] != spec.shape[i] for i in work.keep_whole) or any(
            ci < d and ci != n for ci, d, n in zip(c, work.depth, spec.shape, strict=True)):
        return None
    halo = halo_shape(spec, work, c)
    sample = dataclasses.replace(m.sample, nbytes=math.prod(halo) * spec.itemsize, shape=halo)
    return dataclasses.replace(m, sample=sample)  # its warm runs and read time kept


def measure_family(
    box: PipelineSandbox, spec: ArraySpec, work: WorkSpec, res: Resources, *,
    baseline_guess_bytes: int, threads: int = 1,
    on_sample: Callable[[Sample], None] | None = None, done: Sequence[Measurement] = (),
) -> list[Measurement]:
    """Measure at least three input chunk sizes of ``work``'s chunk family; raise if none runs.

    ``done`` holds measurements already made that fit this family (see :func:`rebase`).
    """
    out: list[Measurement] = [r for r in (rebase(m, spec, work) for m in done) if r is not None]
    seen: set[tuple[int, ...]] = {m.chunk for m in out}

    def measure(target: float, scale: bool = False, largest: bool = False) -> bool:
        chunk = shape_for_bytes(spec, work, target)
        near = [m for m in out if abs(math.log(math.prod(m.chunk) * spec.itemsize / target)) < 0.4]
        if chunk in seen or near:  # already measured (or as good as)
            return all(m.sample.ok for m in near + [m for m in out if m.chunk == chunk])
        seen.add(chunk)
        # the largest takes two warm runs: it anchors the curve past it
        m = box.measure(spec, work, chunk, threads if scale else 1,
                        over_budget_runs=2 if largest else 1, busy_threads=threads)
        out.append(m)
        if on_sample is not None:
            on_sample(m.sample)
        return m.sample.ok

    smalls = sorted({min(b, spec.nbytes / 8) for b in SMALL_CHUNK_BYTES})
    for i, b in enumerate(smalls):
        if not measure(b, scale=i == len(smalls) - 1):
            break
    # sizes follow the chunk's own work: a read of split storage chunks is a cost of its shape
    ok = [read_split(m, spec, m.sample) for m in out if m.sample.ok]
    if not ok:
        first = out[0].sample
        raise ProfilingError(
            f"Expected the pipeline to run on a sub-array of {format_bytes(first.nbytes)} input "
            f"chunks {out[0].chunk}. Got {first.error} instead."
        )
    sub_chunks = 2 ** spec.ndim  # the fewest chunks a big sub-array holds
    top = largest_worth_measuring(ok, res, baseline_guess_bytes,
                                  time_budget_s=SUBARRAY_TIME_BUDGET_S / sub_chunks,
                                  max_bytes=min(SUBARRAY_MAX_BYTES / sub_chunks, spec.nbytes / 4))
    biggest = max(s.nbytes for s in ok)
    if top > biggest * 1.5:  # a midpoint only when the fit would extrapolate far
        for b in ((math.sqrt(biggest * top), top) if top > 16 * biggest else (top,)):
            if not measure(b, largest=b == top):
                break
    if len([m for m in out if m.sample.ok]) < 3:
        measure(max(min(s.nbytes for s in ok) / 4, spec.itemsize))
    return sorted(out, key=lambda m: m.sample.nbytes)
