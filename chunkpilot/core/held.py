"""Pure: memory a worker holds that grows with the number of chunks it runs.

A ``map_overlap`` keeps input chunks in memory until every neighbour has taken its edges
from them, so a run over more chunks holds a wider band of them at once. Measured on
overlap_filter (gaussian filter, depth 8), one synchronous process over ``n`` input chunks
peaked at about ``c * n ** 0.5`` blocks (``c`` ~3.7: 3 blocks for one chunk, 61 for 256),
and dask's threaded scheduler (one process, two threads, all ``n`` chunks) at the same;
each of a LocalCluster's two workers (``n / 2`` chunks each) at the law for ``n / 2``.
So the band lives once per worker, shared by its threads, and grows with the chunks that
worker runs, not with the array. A contraction holds shared operand blocks the same way,
once per worker, but every block meets every other: matmul (``(x @ x.T).sum()``, 4096 x
4096) held about as much in each of two LocalCluster workers as in the threaded
scheduler's one process (84 and 113 blocks at 64 chunks, 166 and 183 at 128), so its band
counts all the chunks (``shared``). The exponent is measured (a sub-array twice as wide per
axis, ``pipeline.advise``); the runs' peaks are fitted as ``fixed + slope * b * n ** q``
(the fixed part, the graph's and the interpreter's, does not grow with the band).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

from chunkpilot.core.linefit import LinearFit, fit_line


@dataclass(frozen=True, slots=True)
class HeldGrowth:
    """A worker's peak as its chunks' held band plus each further busy thread's task."""

    exponent: float
    """``q``: a run over ``n`` input chunks peaks at ``n ** q`` times one chunk's (0: each
    chunk's memory is freed as it goes; 1: every chunk is held)."""
    task: LinearFit
    """The largest single task's peak against block bytes: what each busy thread beyond the
    first adds (the first one's task is inside the band's law)."""
    shared: bool = False
    """Every worker meets every chunk (a contraction: each block is multiplied with every
    other), so its band counts the whole array's chunks, not its own share of them."""

    def chunks_per_worker(self, chunk_count: int, workers: int) -> int:
        """The chunks whose band a worker holds: its share, or all of them when shared."""
        return chunk_count if self.shared else math.ceil(chunk_count / max(workers, 1))

    def busy_threads(self, threads_per_worker: int, chunks_per_worker: int) -> int:
        """A worker's threads that run one of its chunks at once."""
        return max(1, min(threads_per_worker, chunks_per_worker))

    def worker_bytes(self, run: LinearFit, task_bytes: int, chunks_per_worker: int,
                     busy_threads: int) -> float:
        """Peak above baseline of a worker that runs ``chunks_per_worker`` input chunks of
        ``task_bytes``, ``busy_threads`` at once; ``run`` is the runs' peak against
        :func:`band_bytes` (a fixed part, e.g. the graph's own, that does not grow). The
        band is at least its largest task: matmul's band, fitted through sub-arrays that
        freed partial products as they went, held 147 MiB at one 128 MiB chunk, whose one
        product holds its input and its 128 MiB output (262 MiB measured)."""
        task = max(self.task(task_bytes), 0.0)
        band = max(run(band_bytes(task_bytes, chunks_per_worker, self.exponent)), task)
        return band + max(busy_threads - 1, 0) * task

    def to_dict(self) -> dict[str, Any]:
        return {"exponent": self.exponent, "task": asdict(self.task), "shared": self.shared}


def frontier_exponent(overlap_axes: int) -> float:
    """The most the band can grow: dask works through the grid of chunks and holds the
    boundary between the chunks done and those to come, ``n ** ((d - 1) / d)`` chunks of a
    ``d``-axis grid (constant for a chain of chunks, ``sqrt(n)`` for a 2-D grid). The
    sub-arrays' measured exponent comes out a little above it (overlap_filter: 0.55-0.56
    from 9 to 36 chunks), and carried to 256 chunks that priced them 1.5 x what they held."""
    d = max(int(overlap_axes), 1)
    return (d - 1) / d


def band_bytes(nbytes: float, chunks: float | None, exponent: float) -> float:
    """What a run over ``chunks`` input chunks of ``nbytes`` holds grows as: ``nbytes *
    chunks ** exponent`` (the x of the runs' peak line: ``peak = fixed + slope * x``)."""
    return nbytes * max(chunks or 1, 1) ** exponent


def band_exponent(runs: Sequence[tuple[float, float, float]]) -> float:
    """The exponent ``q`` that best fits ``peak = fixed + slope * bytes * chunks ** q`` through
    ``runs`` of (block bytes, input chunks, peak bytes), in relative error, 0 to 1 by 0.01.
    Fitted jointly because the fixed part hides the growth of small runs: matmul's 1 MiB
    pair (30 MiB over 9 chunks, fixed ~20 MiB) alone read 0.86 and 1.0 on two advises, where
    the whole array held 1.4-1.9 blocks per chunk from 1 to 128 chunks (q = 1)."""
    ok = [(b, n, p) for b, n, p in runs if b > 0 and n > 0 and p > 0]
    if len({n for _, n, _ in ok}) < 2:
        return 0.0

    def misfit(q: float) -> float:
        line = fit_line([band_bytes(b, n, q) for b, n, _ in ok], [p for _, _, p in ok])
        return sum((line(band_bytes(b, n, q)) / p - 1) ** 2 for b, n, p in ok)

    return min((i / 100 for i in range(101)), key=misfit)
