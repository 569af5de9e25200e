"""Pure: how a pipeline's task count grows with its number of input chunks.

Fitted from a few small graphs (more chunks along one axis at a time), never from the
full-size graph, so planning costs the same for a megabyte and a petabyte: the full graph's
task count at any chunking is ``base_tasks * prod((n_i / base_i) ** p_i)`` for ``n_i``
chunks along axis ``i``. Elementwise work gives ``p = 1`` per axis; ``x @ x.T`` gives 2 on
the kept axis (every row block meets every other).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass


def chunk_counts(shape: Sequence[int], chunk: Sequence[int]) -> tuple[int, ...]:
    """Chunks per axis of ``shape`` cut into ``chunk`` (the last one ragged).

    Examples
    --------
    >>> chunk_counts((10, 4), (4, 4))
    (3, 1)
    """
    return tuple(math.ceil(s / c) for s, c in zip(shape, chunk, strict=True))


def fit_task_exponents(
    base_counts: tuple[int, ...], base_tasks: int, grown: Sequence[tuple[int, int, int]]
) -> tuple[float, ...]:
    """Per-axis exponents ``p`` of ``tasks ~ prod(n_i ** p_i)`` (``n_i`` chunks along axis i).

    ``grown`` holds ``(axis, chunks along it, tasks)`` from graphs built with more chunks
    along one axis. Elementwise work gives 1 per axis; ``x @ x.T`` gives 2 on the kept axis.

    Examples
    --------
    >>> fit_task_exponents((3, 3), 90, [(0, 6, 360), (1, 6, 180)])
    (2.0, 1.0)
    """
    p = [1.0] * len(base_counts)
    for axis, n, tasks in grown:
        if n > base_counts[axis] and tasks > 0 and base_tasks > 0:
            grow = math.log(tasks / base_tasks) / math.log(n / base_counts[axis])
            p[axis] = max(0.0, min(3.0, grow))
    return tuple(p)


def estimate_tasks(
    base_counts: tuple[int, ...], base_tasks: int, exponents: Sequence[float],
    shape: Sequence[int], chunk: Sequence[int],
) -> int:
    """Tasks of the pipeline on the full array with ``chunk``, scaled from a small graph.

    Examples
    --------
    >>> estimate_tasks((3, 3), 90, (2.0, 1.0), (600, 600), (100, 100))  # 90 * 2**2 * 2
    720
    """
    total = float(base_tasks)
    for b, p, n, c in zip(base_counts, exponents, shape, chunk, strict=True):
        total *= (math.ceil(n / c) / max(b, 1)) ** p
    return int(round(total))


@dataclass(frozen=True, slots=True)
class TaskGrowth:
    """A pipeline's tasks as a function of its input chunking (from small graphs)."""

    base_counts: tuple[int, ...]
    """Input chunks per axis of the small graph the growth is measured from."""
    base_tasks: int
    """Tasks of that graph (before dask's optimization)."""
    exponents: tuple[float, ...]
    """Per-axis exponent of tasks against chunks along that axis."""
    executed_fraction: float = 1.0
    """Tasks that run after dask's graph optimization, per task built (fusion < 1)."""

    def built(self, shape: Sequence[int], chunk: Sequence[int]) -> int:
        """Tasks of the graph built on ``shape`` with ``chunk`` chunks (before optimization)."""
        return estimate_tasks(self.base_counts, self.base_tasks, self.exponents, shape, chunk)

    def executed(self, shape: Sequence[int], chunk: Sequence[int]) -> float:
        """Tasks the scheduler runs on ``shape`` with ``chunk`` chunks."""
        return self.built(shape, chunk) * self.executed_fraction

    def per_input_chunk(self, shape: Sequence[int], chunk: Sequence[int]) -> float:
        """Tasks built per input chunk: grows with the chunk count for contractions."""
        n = math.prod(chunk_counts(shape, chunk))
        return self.built(shape, chunk) / max(n, 1)
