"""Pure: memory a worker holds that grows with the number of chunks it runs.

A ``map_overlap`` keeps input chunks in memory until every neighbour has taken its edges
from them, so a run over more chunks holds a wider band of them at once. Measured on
overlap_filter (gaussian filter, depth 8), one synchronous process over ``n`` input chunks
peaked at about ``c * n ** 0.5`` blocks (``c`` ~3.7: 3 blocks for one chunk, 61 for 256),
and dask's threaded scheduler (one process, two threads, all ``n`` chunks) at the same;
each of a LocalCluster's two workers (``n / 2`` chunks each) at the law for ``n / 2``.
So the band lives once per worker, shared by its threads, and grows with the chunks that
worker runs, not with the array. The exponent is measured (a sub-array twice as wide per
axis, ``pipeline.advise``); the runs' peaks are fitted as ``fixed + slope * b * n ** q``
(the fixed part, the graph's and the interpreter's, does not grow with the band).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from chunkpilot.core.linefit import LinearFit


@dataclass(frozen=True, slots=True)
class HeldGrowth:
    """A worker's peak as its chunks' held band plus each further busy thread's task."""

    exponent: float
    """``q``: a run over ``n`` input chunks peaks at ``n ** q`` times one chunk's (0: each
    chunk's memory is freed as it goes; 1: every chunk is held)."""
    task: LinearFit
    """The largest single task's peak against block bytes: what each busy thread beyond the
    first adds (the first one's task is inside the band's law)."""

    def worker_bytes(self, run: LinearFit, task_bytes: int, chunks_per_worker: int,
                     busy_threads: int) -> float:
        """Peak above baseline of a worker that runs ``chunks_per_worker`` input chunks of
        ``task_bytes``, ``busy_threads`` at once; ``run`` is the runs' peak against
        :func:`band_bytes` (a fixed part, e.g. the graph's own, that does not grow)."""
        band = run(band_bytes(task_bytes, chunks_per_worker, self.exponent))
        return band + max(busy_threads - 1, 0) * max(self.task(task_bytes), 0.0)

    def to_dict(self) -> dict[str, Any]:
        return {"exponent": self.exponent, "task": asdict(self.task)}


def frontier_exponent(overlap_axes: int) -> float:
    """The most the band can grow: dask works through the grid of chunks and holds the
    boundary between the chunks done and those to come, ``n ** ((d - 1) / d)`` chunks of a
    ``d``-axis grid (constant for a chain of chunks, ``sqrt(n)`` for a 2-D grid). The
    sub-arrays' measured exponent comes out a little above it (overlap_filter: 0.55-0.56
    from 9 to 36 chunks), and carried to 256 chunks that priced them 1.5 x what they held."""
    d = max(int(overlap_axes), 1)
    return (d - 1) / d


def band_bytes(nbytes: float, chunks: int | None, exponent: float) -> float:
    """What a run over ``chunks`` input chunks of ``nbytes`` holds grows as: ``nbytes *
    chunks ** exponent`` (the x of the runs' peak line: ``peak = fixed + slope * x``)."""
    return nbytes * max(chunks or 1, 1) ** exponent
