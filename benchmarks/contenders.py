"""chunkpilot's two contenders on one workload x scheduler: ``advise`` and ``tune``.

Both get the same description of the work: ``pipeline=`` for whole pipelines, else
``func=`` with ``keep_whole`` / ``depth``. ``tune`` runs on the scheduler it is scored on:
on the threaded rows it is asked for ``scheduler="threads"``; while chunkpilot refuses that
(:class:`chunkpilot.errors.InvalidArgumentError` naming threads) it runs on an in-process
LocalCluster with the same threads, and the row says so.
"""

from __future__ import annotations

import contextlib
import time
import warnings
from collections.abc import Callable, Iterator
from typing import Any

from benchmarks.workloads import DataSource, Workload

#: tune's trial budget (the issue's target: at most 5 trials).
MAX_TRIALS = 5
#: How the tune of a threaded row ran when chunkpilot could not tune on threads.
TUNE_FALLBACK = "tuned on an in-process LocalCluster, scored on threads"

Log = Callable[[str], None]


def advise_mode(wl: Workload, requested: str) -> str:
    """``pipeline`` for workloads that are not one per-block function, unless ``func`` is
    requested and the workload has an honest per-block function."""
    if not wl.pipeline:
        return "func"
    if requested == "func" and wl.func is not None:
        return "func"
    return "pipeline"


def how(wl: Workload, mode: str) -> dict[str, Any]:
    """The keyword arguments that describe the work to advise/tune."""
    if mode == "pipeline":  # chunkpilot finds halos and whole axes itself
        return {"pipeline": wl.build}
    return {"func": wl.func, "keep_whole": wl.keep_whole, "depth": wl.depth}


def _call(fn: Callable[[], Any]) -> tuple[Any, float, str | None, list[str], Exception | None]:
    """(result, seconds, error text, warnings, exception) of ``fn()``; never raises."""
    t0 = time.perf_counter()
    exc: Exception | None = None
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            out = fn()
        except Exception as e:
            out, exc = None, e
    msgs = sorted({f"{w.category.__name__}: {w.message}"[:300] for w in caught})
    err = f"{type(exc).__name__}: {exc}"[:500] if exc else None
    return out, time.perf_counter() - t0, err, msgs, exc


def plan_dict(plan: Any) -> dict[str, Any] | None:
    if plan is None:
        return None
    try:
        return plan.to_dict()
    except Exception as e:  # a report bug must not lose the benchmark
        return {"chunks": list(plan.chunk_shape), "to_dict_error": f"{type(e).__name__}: {e}"}


def run_advise(wl: Workload, src: DataSource, ex: Any, mode: str, log: Log) -> tuple[dict, Any]:
    """advise on the executor's scheduler: (JSON record, plan or None)."""
    import chunkpilot

    plan, secs, err, warns, _ = _call(
        lambda: chunkpilot.advise(src.url, **how(wl, mode), **src.kwargs(),
                                  **ex.advise_kwargs()))
    log(f"  advise ({mode}): {plan.chunk_shape if plan else err} in {secs:.1f} s")
    return {"seconds": secs, "error": err, "warnings": warns, "mode": mode,
            "plan": plan_dict(plan)}, plan


@contextlib.contextmanager
def _inprocess_cluster(threads: int, memory_limit: int) -> Iterator[Any]:
    from distributed import Client, LocalCluster

    with LocalCluster(n_workers=1, threads_per_worker=threads, processes=False,
                      memory_limit=memory_limit, dashboard_address="127.0.0.1:0") as cluster, \
            Client(cluster, set_as_default=False) as client:
        yield client


def run_tune(wl: Workload, src: DataSource, ex: Any, plan: Any, mode: str, trial_timeout_s: float,
             log: Log) -> dict[str, Any]:
    """tune from the advised plan on the executor's scheduler (see the module docstring)."""
    import chunkpilot
    from chunkpilot.errors import InvalidArgumentError

    if plan is None:
        return {"seconds": 0.0, "error": "no plan to tune", "result": None, "ran_on": None}
    kw = {"plan": plan, "max_trials": MAX_TRIALS, "trial_timeout": trial_timeout_s,
          **how(wl, mode), **src.kwargs()}
    ran_on, note = ex.kind, None
    res, secs, err, warns, exc = _call(
        lambda: chunkpilot.tune(src.url, **kw, **ex.advise_kwargs()))
    if ex.kind == "threads" and isinstance(exc, InvalidArgumentError) and "thread" in str(exc):
        ran_on, note = "in-process LocalCluster", TUNE_FALLBACK
        threads = ex.advise_kwargs()["threads_per_worker"]
        with _inprocess_cluster(threads, plan.resources.memory_limit_bytes) as client:
            res, more, err, warns, _ = _call(
                lambda: chunkpilot.tune(src.url, client=client, **kw))
        secs += more
    log(f"  tune on {ran_on}: {res.chunk_shape if res else err} in {secs:.1f} s")
    if ex.kind == "local" and res is not None and any(t.observation.restarts
                                                      for t in res.trials):
        ex.recreate()  # tune waited its workers back; measure from fresh ones
    result = res.to_dict() if res else None
    if result is not None:  # the starting plan is the advised one, stored with advise
        result.pop("plan", None)
    return {"seconds": secs, "error": err, "warnings": warns, "mode": mode, "ran_on": ran_on,
            "note": note, "result": result,
            "chunk_shape": list(res.chunk_shape) if res else None}
