"""Time the per-task overhead of dask's scheduler on a graph of near-empty tasks.

Also the entry point of a fresh process for the threaded and synchronous schedulers
(``python -m chunkpilot.measure.overhead_probe JOB RESULT``): the caller's own threads (a
Jupyter kernel's, an open Client's event loop, a progress bar's) compete for the GIL with
the scheduler's and moved the estimate by up to 2x between identical runs, so the plan moved
with them. A fresh interpreter measures the scheduler, not the state of the caller.
"""

from __future__ import annotations

import contextlib
import json
import pickle
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import dask
import dask.array as da
from dask.system import CPU_COUNT

from chunkpilot.core.probes import probe_settled

#: Input blocks per probe run on threads (with the reduction ~2.3 tasks each).
PROBE_BLOCKS = 200
#: At most this many timed repeats after one warm-up. The estimate anchors the planner's tie
#: rule, so it must not move between identical runs: a busy neighbour or the host's own noise
#: only ever adds time to a run, so each part keeps its fastest run (as ``timeit`` does). The
#: probe stops early once its estimate settles (``core.probes.probe_settled``: 4-7 repeats,
#: ~0.1 s each on threads, of at most twelve).
PROBE_REPEATS = 12
#: On distributed a task costs ~1.5 ms, so a run of 200 blocks took 0.7 s and the probe 3.8 s
#: of every advise. 100 blocks x 6 repeats: 1.5 s; over six interleaved probes on a 2-worker
#: LocalCluster it read 1.52-1.59 ms (200 x 9: 1.48-1.52 ms, 3 % lower: the one-block run's
#: fixed cost is spread over fewer tasks), max/min 1.04 (1.03). With every worker core busy
#: (``measure.busy``) a task costs 4-7 ms and a 100-block probe took 4-6 s, half of a first
#: advise on a new cluster (15 s in one benchmark row); 50 blocks read the same estimate in
#: less time (``python -m benchmarks.probe_size``; its numbers: docs/DESIGN.md).
DISTRIBUTED_PROBE_BLOCKS = 50
DISTRIBUTED_PROBE_REPEATS = 6
#: Blocks of the untimed first run (imports, connections, the workers' first tasks): on the
#: threaded scheduler 50, the count it had before the distributed probe was cut (cheap there:
#: ~25 ms); on distributed 20, as ``benchmarks.probe_size`` timed it. (Session 60 blamed a
#: 20-block threaded warm-up for the five-advise stability test's failures; the stored plans
#: showed the planner did it instead: ``core.choice.overhead_edge``.)
WARMUP_BLOCKS = 50
DISTRIBUTED_WARMUP_BLOCKS = 20


def _graph(blocks: int) -> Any:
    """``blocks`` one-element blocks, an elementwise step, a sum: real tasks, tiny data."""
    return (da.ones((blocks,), chunks=1) + 1).sum(split_every=8)


def _run(graph: Any, kwargs: dict[str, Any]) -> tuple[float, int]:
    (optimized,) = dask.optimize(graph)
    tasks = len(optimized.__dask_graph__())
    t0 = time.perf_counter()
    dask.compute(graph, **kwargs)
    return time.perf_counter() - t0, tasks


@contextlib.contextmanager
def _fresh_pool(kwargs: dict[str, Any], num_workers: int | None) -> Iterator[dict[str, Any]]:
    """For the threaded scheduler, a new thread pool (warmed up) for one repeat: where the
    OS places a pool's threads lasts as long as the pool and moved one process's estimate
    by up to 1.4x from the next one's; a new pool per repeat lets the fastest run find a
    good placement. Other schedulers run as given."""
    if kwargs["scheduler"] != "threads":
        yield kwargs
        return
    with ThreadPoolExecutor(num_workers or CPU_COUNT) as pool:
        run_kwargs = {**kwargs, "pool": pool}
        _run(_graph(8), run_kwargs)  # start the pool's threads outside the timed runs
        yield run_kwargs


def probe_overhead(scheduler: Any = "threads", *, blocks: int | None = None,
                   repeats: int | None = None, num_workers: int | None = None) -> float:
    """Seconds per near-empty in-graph task on ``scheduler`` (``"threads"``,
    ``"synchronous"`` or a Client), in this process: the fastest run of the graph minus the
    fastest run of its one-block version, over the extra tasks; at most ``repeats`` repeats,
    fewer once the estimate has settled."""
    kwargs: dict[str, Any] = {"scheduler": scheduler}
    local = isinstance(scheduler, str)
    if repeats is None:
        repeats = PROBE_REPEATS if local else DISTRIBUTED_PROBE_REPEATS
    if blocks is None:
        blocks = PROBE_BLOCKS if local else DISTRIBUTED_PROBE_BLOCKS
    warmup = WARMUP_BLOCKS if local else DISTRIBUTED_WARMUP_BLOCKS
    _run(_graph(min(blocks, warmup)), kwargs)  # warm-up: imports, connections
    bigs, ones, estimates = [], [], []
    for _ in range(repeats):  # results are not kept: every run computes every task again
        with _fresh_pool(kwargs, num_workers) as run_kwargs:
            big, n_big = _run(_graph(blocks), run_kwargs)
            one, n_one = _run(_graph(1), run_kwargs)
        bigs.append(big)
        ones.append(one)
        estimates.append(max(min(bigs) - min(ones), 1e-9) / max(n_big - n_one, 1))
        if probe_settled(estimates):
            break
    return estimates[-1]


def main() -> None:
    """Probe the scheduler named in the pickled job (argv[1]); write JSON to argv[2]."""
    with open(sys.argv[1], "rb") as f:
        job = pickle.load(f)
    seconds = probe_overhead(job["scheduler"], num_workers=job.get("num_workers"))
    with open(sys.argv[2], "w") as f:
        json.dump({"ok": True, "seconds_per_task": seconds}, f)


if __name__ == "__main__":
    main()
