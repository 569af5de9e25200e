"""Which array a task group is, read off the scheduler's graph: its block grid and, where
the tasks state it, its block shape (for the cluster watch's "chunks" column).

Runs on the scheduler's event loop: a few dict lookups per axis, no graph walk.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from typing import Any

from dask._task_spec import DataNode, Task, TaskRef

from chunkpilot.core.computations import ArrayChunks, block_shape

__all__ = ["CREATORS", "array_chunks"]

#: Task functions whose tuple-of-int arguments are the shape of the block they create.
CREATORS = frozenset({"_broadcast_trick_inner", "_apply_random", "ones_like", "zeros_like",
                      "empty_like", "full_like", "ones", "zeros", "empty", "full"})

def array_chunks(tasks: Mapping[Any, Any], key: Any, prefix: str) -> ArrayChunks | None:
    """Block grid (and block shape, where the graph states it) of the group of ``key``.

    ``tasks`` is the scheduler's ``{key: TaskState}``; a few dict lookups per axis
    (doubling, then bisecting, along each axis from block ``(0, ..., 0)``).
    """
    if type(key) is not tuple or len(key) < 2 or not all(type(i) is int for i in key[1:]):
        return None
    name, ndim = key[0], len(key) - 1
    zero = (name,) + (0,) * ndim
    if zero not in tasks:
        return None
    blocks = []
    for axis in range(ndim):
        def has(i: int, axis: int = axis) -> bool:
            return (name,) + (0,) * axis + (i,) + (0,) * (ndim - axis - 1) in tasks
        lo, hi = 0, 1
        while has(hi):
            lo, hi = hi, hi * 2
        while hi - lo > 1:
            mid = (lo + hi) // 2
            lo, hi = (mid, hi) if has(mid) else (lo, mid)
        blocks.append(lo + 1)
    return ArrayChunks(prefix, tuple(blocks), _shape(getattr(tasks[zero], "run_spec", None), ndim))


def _shape(spec: Any, ndim: int, bound: Mapping[Any, Any] | None = None
           ) -> tuple[int, ...] | None:
    """Block shape from a task's literal arguments; for a fused task (``_execute_subgraph``),
    from the tasks inside it, whose arguments it passes in by name."""
    if not isinstance(spec, Task):
        return None
    func = spec.func
    while isinstance(func, functools.partial):
        func = func.func
    args = [_literal(a, bound) for a in spec.args]
    name = getattr(func, "__name__", "")
    shape = block_shape(args, ndim, shapes=name in CREATORS)
    if shape is not None or bound is not None or name != "_execute_subgraph" or len(args) < 3:
        return shape
    inner, _, names, *deps = args
    if not isinstance(inner, dict) or not isinstance(names, tuple):
        return None
    bound = dict(zip(names, deps, strict=False))
    return next((s for t in inner.values() if (s := _shape(t, ndim, bound)) is not None), None)


def _literal(arg: Any, bound: Mapping[Any, Any] | None) -> Any:
    if isinstance(arg, TaskRef) and bound is not None:
        arg = bound.get(arg.key)
    return arg.value if isinstance(arg, DataNode) else arg
