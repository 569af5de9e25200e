"""Pure: the memory an in-graph rechunk holds while it gathers input chunks into its own.

A pipeline that rechunks (``x.rechunk({0: -1})`` to make time whole, a map-to-time-series
transpose) cannot finish one new chunk until every input chunk it overlaps has been read,
and dask's task-based rechunk keeps each of those input chunks alive (its pieces are views)
until every new chunk that uses it is assembled. A sub-array sample of 3 chunks per axis
gathers 3 of them; the whole array gathers all. So the held bytes are a property of the
chunk *shape*, computed here from dask's own rechunk plan
(:func:`dask.array.rechunk.plan_rechunk`, the stages ``x.rechunk`` would run): for each
stage, the input region one new chunk overlaps plus that new chunk (a concatenated copy),
plus the chunks it already made that wait for the next stage's first region; the largest
stage is what one worker holds for each region it assembles at once.

rechunk_transpose (128 x 512 x 512 float32, time made whole and the map cut in 64 x 64
tiles): with input chunks of 1-22 time steps dask rechunks in two stages, through one
whole-array chunk: 128 MiB of inputs + its 128 MiB copy = 256 MiB a worker, as observed
(256 MiB per 1-thread worker, 256 MiB in the threaded process); with 32-128 time steps, one
stage: 128 + 2 MiB (observed 138-154 MiB). The sub-array samples had said 13-65 MiB. As
float64 (a 256 MiB cube, above dask's 128 MiB chunk-size limit) dask goes through two
64-step halves: one half made and waiting while the other's inputs and copy are built,
384 MiB (observed 384 MiB in a threaded process).
Modelled, not measured: the plan's explanation says so.
"""

from __future__ import annotations

import bisect
import functools
import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from dask.array.core import normalize_chunks
from dask.array.rechunk import plan_rechunk

from chunkpilot.core.growth import chunk_counts
from chunkpilot.units import format_bytes


@dataclass(frozen=True, slots=True)
class GatherTarget:
    """The chunking an in-graph (task-based) rechunk imposes, in input axes."""

    whole_axes: tuple[int, ...]
    """Axes the rechunk makes one chunk."""
    lengths: tuple[tuple[int, int], ...] = ()
    """(axis, chunk length) it imposes on other axes; axes absent keep the input's chunks."""

    def chunks(self, shape: Sequence[int], chunk: Sequence[int]) -> tuple[int, ...]:
        """The rechunk's target chunk shape for input chunks ``chunk``."""
        set_to = dict(self.lengths)
        return tuple(n if i in self.whole_axes else min(n, set_to.get(i, c))
                     for i, (n, c) in enumerate(zip(shape, chunk, strict=True)))

    def count(self, shape: Sequence[int], chunk: Sequence[int]) -> int:
        """How many chunks the rechunk makes of the whole array at input chunks ``chunk``:
        the tasks that share the work downstream of it."""
        return math.prod(chunk_counts(shape, self.chunks(shape, chunk)))

    def to_dict(self) -> dict[str, Any]:
        return {"whole_axes": list(self.whole_axes), "lengths": [list(p) for p in self.lengths]}

    @classmethod
    def from_dict(cls, d: dict[str, Any] | None) -> GatherTarget | None:
        if not d:
            return None
        return cls(tuple(d["whole_axes"]), tuple((int(a), int(n)) for a, n in d["lengths"]))


@dataclass(frozen=True, slots=True)
class Gather:
    """What the rechunk holds at one input chunk shape."""

    stages: tuple[tuple[int, ...], ...]
    """Largest chunk of each chunking the rechunk produces, in order (the last: its target)."""
    stage_bytes: int
    """The largest stage's held bytes: its input region for one new chunk, that new chunk,
    and its chunks already made that wait for the next stage."""
    regions: int
    """How many such regions the array holds (1: every new chunk needs the same inputs)."""

    def held_bytes(self, threads: int) -> int:
        """What a worker holds assembling as many regions at once as it has threads."""
        return self.stage_bytes * max(1, min(threads, self.regions))


def _covering(old: tuple[int, ...], new: tuple[int, ...]) -> tuple[int, int]:
    """Along one axis: (longest stretch of ``old`` chunks one ``new`` chunk overlaps, most
    ``old`` chunks one ``new`` chunk overlaps)."""
    edges = list(itertools.accumulate(old, initial=0))
    widest, most, start = 0, 1, 0
    for c in new:
        stop = start + c
        lo = bisect.bisect_right(edges, start) - 1
        hi = bisect.bisect_left(edges, stop)
        widest, most = max(widest, edges[hi] - edges[lo]), max(most, hi - lo)
        start = stop
    return widest, most


@functools.lru_cache(maxsize=512)
def gather(shape: tuple[int, ...], chunk: tuple[int, ...], target: GatherTarget | None,
           itemsize: int) -> Gather | None:
    """The rechunk's stages and held bytes at input chunks ``chunk``; ``None`` without a
    rechunk (``target`` None) or when the input already has the target chunks (the rechunk
    only cuts: nothing is gathered)."""
    if target is None:
        return None
    old = normalize_chunks(chunk, shape)
    new = normalize_chunks(target.chunks(shape, chunk), shape)
    if all(_covering(o, n)[1] == 1 for o, n in zip(old, new, strict=True)):
        return None  # every new chunk is a piece of one input chunk: a cut, not a gather
    steps = [old, *plan_rechunk(old, new, itemsize)]
    # per stage: the input region one new chunk overlaps, and the new chunk (a copy)
    regions = [math.prod(_covering(p, q)[0] for p, q in zip(prev, nxt, strict=True))
               for prev, nxt in zip(steps, steps[1:], strict=False)]
    made = [math.prod(max(q) for q in nxt) for nxt in steps[1:]]
    worst, count = 0, 1
    for k, (region, new_chunk) in enumerate(zip(regions, made, strict=True)):
        # the chunks this stage already made wait for the next stage's first region
        following = regions[k + 1] if k + 1 < len(regions) else 0
        held = (region + new_chunk + max(0, following - new_chunk)) * itemsize
        if held > worst:
            worst, count = held, max(1, math.prod(shape) // max(region, following))
    return Gather(tuple(tuple(max(c) for c in s) for s in steps[1:]), worst, count)


def peak_basis_bytes(target: GatherTarget | None, shape: Sequence[int], chunk: Sequence[int],
                     task_bytes: int, itemsize: int) -> int:
    """The bytes a pipeline's per-task peak memory scales with at input chunks ``chunk``: the
    larger of its input chunk (``task_bytes``) and the chunk its in-graph rechunk makes of
    it, on which the work downstream of the rechunk runs. xarray's ``polyfit`` along time
    on a (730, 128, 256) float32 cube in (73, 64, 64) chunks gathers 10 of them into a
    (730, 64, 64) chunk and peaked at 28x its 1.14 MiB input chunk (2.8x the gathered one);
    at dask auto's one 91 MiB chunk the rechunk is a no-op and the run held ~200 MiB, where
    28x the input chunk had priced 2.6 GiB and refused it."""
    if target is None:
        return task_bytes
    return max(task_bytes, math.prod(target.chunks(shape, chunk)) * itemsize)


def gather_note(g: Gather, threads: int) -> str:
    """One sentence for ``plan.explain()``: what the rechunk holds at the plan's chunks."""
    via = " then ".join("x".join(str(n) for n in s) for s in g.stages)
    return (f"At these chunks the pipeline's rechunk gathers input chunks in {len(g.stages)} "
            f"stage(s) ({via}, dask's rechunk plan): a worker holds up to "
            f"{format_bytes(g.held_bytes(threads))} while assembling (modelled from that plan, "
            "not measured; the task peak above includes a thread's share).")
