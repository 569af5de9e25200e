"""Time the per-task overhead of dask's scheduler on a graph of near-empty tasks.

Also the entry point of a fresh process for the threaded and synchronous schedulers
(``python -m chunkpilot.measure.overhead_probe JOB RESULT``): the caller's own threads (a
Jupyter kernel's, an open Client's event loop, a progress bar's) compete for the GIL with
the scheduler's and moved the estimate by up to 2x between identical runs, so the plan moved
with them. A fresh interpreter measures the scheduler, not the state of the caller.
"""

from __future__ import annotations

import json
import pickle
import sys
import time
from typing import Any

import dask
import dask.array as da

#: Input blocks per probe run: with the reduction ~2.3 tasks each (~0.5 s a run on
#: distributed at 1 ms a task).
PROBE_BLOCKS = 200
#: Timed repeats after one warm-up; the lower quartile is kept (the estimate anchors the
#: planner's tie rule, so it must not move with a busy neighbour, whose bursts only ever add
#: time to a repeat: nine repeats, ~1 s on threads).
PROBE_REPEATS = 9


def _graph(blocks: int) -> Any:
    """``blocks`` one-element blocks, an elementwise step, a sum: real tasks, tiny data."""
    return (da.ones((blocks,), chunks=1) + 1).sum(split_every=8)


def _run(graph: Any, kwargs: dict[str, Any]) -> tuple[float, int]:
    (optimized,) = dask.optimize(graph)
    tasks = len(optimized.__dask_graph__())
    t0 = time.perf_counter()
    dask.compute(graph, **kwargs)
    return time.perf_counter() - t0, tasks


def probe_overhead(scheduler: Any = "threads", *, blocks: int = PROBE_BLOCKS,
                   repeats: int = PROBE_REPEATS, num_workers: int | None = None) -> float:
    """Seconds per near-empty in-graph task on ``scheduler`` (``"threads"``,
    ``"synchronous"`` or a Client), in this process: each run's wall time minus a one-block
    run's, over the extra tasks; the lower quartile of the repeats."""
    kwargs: dict[str, Any] = {"scheduler": scheduler}
    if scheduler == "threads" and num_workers:
        kwargs["num_workers"] = num_workers
    _run(_graph(min(blocks, 50)), kwargs)  # warm-up: imports, connections
    per_task = []
    for _ in range(repeats):  # results are not kept: every run computes every task again
        big, n_big = _run(_graph(blocks), kwargs)
        one, n_one = _run(_graph(1), kwargs)
        per_task.append(max(big - one, 1e-9) / max(n_big - n_one, 1))
    return sorted(per_task)[len(per_task) // 4]


def main() -> None:
    """Probe the scheduler named in the pickled job (argv[1]); write JSON to argv[2]."""
    with open(sys.argv[1], "rb") as f:
        job = pickle.load(f)
    seconds = probe_overhead(job["scheduler"], num_workers=job.get("num_workers"))
    with open(sys.argv[2], "w") as f:
        json.dump({"ok": True, "seconds_per_task": seconds}, f)


if __name__ == "__main__":
    main()
