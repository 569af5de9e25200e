"""Run one workload on each scheduler: advise, tune, dask auto and the grid, measured together.

The candidate chunk shapes (grid, auto, advised, tuned; duplicates measured once) are run in
rounds: a warm-up round, then ``repeats`` rounds, each shape once per round, so a change of
machine load hits every shape alike. Shapes that failed, or whose warm-up took more than
:data:`SLOW_FACTOR` x the fastest, are not repeated (their warm-up time stands).
"""

from __future__ import annotations

import contextlib
import inspect
import json
import math
import os
import statistics
import tempfile
import time
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import cloudpickle
import numpy as np
from dask.array.core import PerformanceWarning

import benchmarks.timing
import benchmarks.workloads
from benchmarks.environment import environment
from benchmarks.grid import grid
from benchmarks.peaks import threads_peaks
from benchmarks.timing import ClusterExecutor, RunRecord, ThreadsExecutor
from benchmarks.workloads import Workload

# workers and chunkpilot's sandbox get these functions by value: no import of `benchmarks`
cloudpickle.register_pickle_by_value(benchmarks.workloads)
cloudpickle.register_pickle_by_value(benchmarks.timing)

#: Shapes slower than this x the fastest warm-up are timed once (clearly not the oracle).
SLOW_FACTOR = 3.0
#: tune's trial budget (the issue's target: at most 5 trials).
MAX_TRIALS = 5

Log = Callable[[str], None]


def _settings(quick: bool) -> dict[str, Any]:
    return {"min_bytes": 256 * 1024 if quick else 2 * 2**20, "max_points": 3 if quick else 8,
            "run_timeout_s": 60.0 if quick else 300.0, "trial_timeout_s": 60.0 if quick else 120.0}


@contextlib.contextmanager
def _executor(scheduler: str, wl: Workload, quick: bool) -> Iterator[Any]:
    if scheduler == "threads":
        with ThreadsExecutor() as ex:
            yield ex
    else:
        with ClusterExecutor(wl.memory_limit(quick)) as ex:
            yield ex


@contextlib.contextmanager
def _tune_client(ex: Any, plan: Any) -> Iterator[Any]:
    """tune needs a distributed client: the cluster itself, or for the threaded scheduler an
    in-process LocalCluster of one worker with the same threads (the nearest equivalent)."""
    if ex.kind != "threads":
        yield ex.client
        return
    from distributed import Client, LocalCluster

    with LocalCluster(n_workers=1, threads_per_worker=ex.advise_kwargs()["threads_per_worker"],
                      processes=False, memory_limit=plan.resources.memory_limit_bytes,
                      dashboard_address="127.0.0.1:0") as cluster, \
            Client(cluster, set_as_default=False) as client:
        yield client


def _call(fn: Callable[[], Any]) -> tuple[Any, float, str | None, list[str]]:
    """(result, seconds, error, warnings) of ``fn()``; errors are recorded, not raised."""
    t0 = time.perf_counter()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            out, err = fn(), None
        except Exception as e:
            out, err = None, f"{type(e).__name__}: {e}"[:500]
    msgs = sorted({f"{w.category.__name__}: {w.message}"[:300] for w in caught})
    return out, time.perf_counter() - t0, err, msgs


def _takes(function: str, parameter: str) -> bool:
    import chunkpilot

    return parameter in inspect.signature(getattr(chunkpilot, function)).parameters


def has_pipeline() -> bool:
    """Whether the installed chunkpilot takes ``advise(..., pipeline=fn)`` (issue 5)."""
    return _takes("advise", "pipeline")


def advise_mode(wl: Workload, requested: str) -> str:
    """``pipeline`` for workloads that are not one per-block function (when available)."""
    if requested == "func" or not wl.pipeline:
        return "func"
    if not has_pipeline():
        if requested == "pipeline":
            raise ValueError("Expected chunkpilot.advise to take pipeline=. It does not yet.")
        return "func"
    return "pipeline"


def _chunkpilot(wl: Workload, path: Path, ex: Any, st: dict[str, Any], mode: str,
                log: Log) -> dict[str, Any]:
    import chunkpilot

    opts = {"keep_whole": wl.keep_whole, "depth": wl.depth}
    if mode == "pipeline":  # the whole computation: chunkpilot finds halos and whole axes itself
        how: dict[str, Any] = {"pipeline": wl.build}
    else:
        how = {"func": wl.func, **opts}
    plan, secs, err, warns = _call(lambda: chunkpilot.advise(str(path), **how,
                                                             **ex.advise_kwargs()))
    out: dict[str, Any] = {"advise": {"seconds": secs, "error": err, "warnings": warns,
                                      "mode": mode, "plan": _plan_dict(plan)}, "plan": plan}
    log(f"  advise ({mode}): {plan.chunk_shape if plan else err} in {secs:.1f} s")
    if plan is None:
        out["tune"] = {"seconds": 0.0, "error": "no plan to tune", "result": None}
        return out
    tune_how = how  # tune took only per-block functions before issue 5 reached it
    if mode == "pipeline" and not _takes("tune", "pipeline"):
        tune_how = {"func": wl.func, **opts}
    with _tune_client(ex, plan) as client:
        res, secs, err, warns = _call(lambda: chunkpilot.tune(
            str(path), client=client, plan=plan, max_trials=MAX_TRIALS,
            trial_timeout=st["trial_timeout_s"], **tune_how))
    out["tune"] = {"seconds": secs, "error": err, "warnings": warns,
                   "mode": "pipeline" if "pipeline" in tune_how else "func",
                   "result": res.to_dict() if res else None,
                   "chunk_shape": list(res.chunk_shape) if res else None}
    log(f"  tune ({out['tune']['mode']}): {res.chunk_shape if res else err} in {secs:.1f} s")
    if ex.kind == "local" and res is not None and any(t.observation.restarts for t in res.trials):
        ex.recreate()  # tune waited its workers back; start the measurements from fresh ones
    return out


def _plan_dict(plan: Any) -> dict[str, Any] | None:
    if plan is None:
        return None
    try:
        return plan.to_dict()
    except Exception as e:  # a report bug must not lose the benchmark
        return {"chunks": list(plan.chunk_shape), "to_dict_error": f"{type(e).__name__}: {e}"}


def _auto_shape(wl: Workload, path: Path) -> tuple[int, ...]:
    import dask.array as da

    x = da.from_zarr(str(path))
    y = da.from_zarr(str(path), chunks=wl.auto_chunks(x.ndim))
    return tuple(max(c) for c in y.chunks)


def _measure(wl: Workload, path: Path, ex: Any, shapes: list[tuple[int, ...]], repeats: int,
             st: dict[str, Any], log: Log) -> dict[tuple[int, ...], list[RunRecord]]:
    import dask.array as da

    runs: dict[tuple[int, ...], list[RunRecord]] = {s: [] for s in shapes}

    def once(shape: tuple[int, ...]) -> RunRecord:
        with warnings.catch_warnings():  # dask's matmul says it splits chunks: known, every run
            warnings.simplefilter("ignore", PerformanceWarning)
            y = wl.build(da.from_zarr(str(path), chunks=shape))
        rec = ex.run(y, st["run_timeout_s"])
        runs[shape].append(rec)
        log(f"  {shape}: {rec.wall_seconds:.2f} s"
            + (f"  FAILED {rec.failure[:120]}" if rec.failed and rec.failure else ""))
        return rec

    for s in shapes:
        once(s)  # warm-up round
    ok = [runs[s][0].wall_seconds for s in shapes if not runs[s][0].failed]
    fastest = min(ok, default=math.inf)
    keep = [s for s in shapes if not runs[s][0].failed
            and runs[s][0].wall_seconds <= SLOW_FACTOR * fastest]
    for _ in range(repeats):
        for s in keep:
            if not any(r.failed for r in runs[s]):
                once(s)
    return runs


def _summarise(records: list[RunRecord]) -> dict[str, Any]:
    timed = records[1:] or records[:1]  # after the warm-up; a shape run once keeps its one time
    good = [r for r in timed if not r.failed]

    def med(vals: list[Any]) -> Any:
        vals = [v for v in vals if v is not None]
        return statistics.median(vals) if vals else None

    return {
        "wall_seconds": med([r.wall_seconds for r in good]) if good else None,
        "failed": any(r.failed for r in records),
        "failures": [r.failure for r in records if r.failed],
        "restarts": sum(r.restarts for r in records),
        "spilled_bytes": max(r.spilled_bytes for r in records),
        "repeats_timed": len(timed),
        "task_group": next((r.task_group for r in reversed(records) if r.task_group), None),
        "task_count": max(r.task_count for r in records),
        "task_seconds": med([r.task_seconds for r in good]),
        "peak_increment_bytes": med([r.peak_increment_bytes for r in good]),
        "threads_per_process": records[0].threads_per_process,
        "runs": [r.to_dict() for r in records],
    }


def _predicted(plan: Any, shape: tuple[int, ...]) -> dict[str, Any] | None:
    """What the advised plan's cost model predicts for ``shape`` (read-only use of plan.py)."""
    if plan is None:
        return None
    from chunkpilot.core.evaluate import evaluate

    e = evaluate(shape, plan.spec, plan.work, plan.resources, plan.model)
    return {"task_bytes": e.task_bytes, "task_count": e.task_count,
            "seconds_per_task": e.seconds_per_task, "peak_bytes_per_task": e.peak_bytes_per_task,
            "peak_bytes_per_worker": e.peak_bytes_per_worker, "wall_seconds": e.wall_seconds,
            "baseline_bytes": plan.model.baseline_bytes, "fits_memory": e.fits_memory}


def run_scheduler(wl: Workload, path: Path, scheduler: str, *, quick: bool, repeats: int,
                  mode: str, log: Log) -> dict[str, Any]:
    """Everything measured for one workload on one scheduler (JSON-ready)."""
    st = _settings(quick)
    size = wl.size(quick)
    itemsize = np.dtype(wl.dtype).itemsize
    t0 = time.perf_counter()
    with _executor(scheduler, wl, quick) as ex:
        cp = _chunkpilot(wl, path, ex, st, mode, log)
        plan = cp.pop("plan")
        roles: dict[str, tuple[int, ...] | None] = {
            "auto": _auto_shape(wl, path),
            "advise": tuple(plan.chunk_shape) if plan else None,
            "tune": tuple(cp["tune"]["chunk_shape"]) if cp["tune"].get("chunk_shape") else None,
        }
        grid_shapes = grid(size.shape, size.storage, itemsize, keep_whole=wl.keep_whole,
                           depth=wl.depth or 0, min_bytes=st["min_bytes"],
                           max_points=st["max_points"])
        shapes = list(dict.fromkeys([*grid_shapes, *(s for s in roles.values() if s)]))
        runs = _measure(wl, path, ex, shapes, repeats, st, log)
        recreated = getattr(ex, "recreated", 0)
    measured = {s: {"chunk_shape": list(s), "block_bytes": math.prod(s) * itemsize,
                    **_summarise(runs[s]), "predicted": _predicted(plan, s)} for s in shapes}
    clean = [s for s in grid_shapes if not measured[s]["failed"]]
    oracle = min(clean, key=lambda s: measured[s]["wall_seconds"]) if clean else None
    if scheduler == "threads":  # in-process peaks are hidden by arena reuse: a fresh process
        mem_shapes = list(dict.fromkeys(s for s in [oracle, *roles.values()] if s))
        log(f"  peak memory of {len(mem_shapes)} shapes in a fresh process")
        peaks = threads_peaks(wl.name, path, mem_shapes, 20 * st["run_timeout_s"])
        for s in shapes:
            measured[s]["peak_increment_bytes_inprocess"] = measured[s]["peak_increment_bytes"]
            measured[s]["peak_increment_bytes"] = peaks.get(s)
    t_oracle = measured[oracle]["wall_seconds"] if oracle else None
    out: dict[str, Any] = {
        "scheduler": scheduler, "oracle": list(oracle) if oracle else None,
        "oracle_seconds": t_oracle, "grid": [list(s) for s in grid_shapes],
        "roles": {k: list(v) if v else None for k, v in roles.items()},
        "ratios": {}, **cp, "cluster_recreated": recreated,
        "measured": [measured[s] for s in shapes],
        "seconds_total": time.perf_counter() - t0,
    }
    for role, s in roles.items():
        m = measured.get(s) if s else None
        ok = m is not None and not m["failed"] and t_oracle
        out["ratios"][role] = m["wall_seconds"] / t_oracle if ok else None
    return out


def run_workload(wl: Workload, *, quick: bool, repeats: int, schedulers: tuple[str, ...],
                 out_dir: Path, log: Log, mode: str = "auto") -> Path:
    """Make the data, run every scheduler, write ``<out_dir>/<name>.json``; return its path."""
    doc: dict[str, Any] = {"workload": wl.name, "description": wl.description,
                           "expressed_as": wl.expressed_as, "dtype": wl.dtype,
                           "advise_mode": advise_mode(wl, mode),
                           "shape": list(wl.size(quick).shape),
                           "storage_chunks": list(wl.size(quick).storage),
                           "keep_whole": list(wl.keep_whole), "depth": wl.depth,
                           "cluster_memory_limit": wl.memory_limit(quick),
                           "environment": environment(quick, repeats), "schedulers": {}}
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix=f"chunkpilot-bench-{wl.name}-") as tmp:
        log(f"[{wl.name}] writing data")
        path = wl.make_data(Path(tmp), quick)
        doc["data_seconds"] = time.perf_counter() - t0
        for sched in schedulers:
            log(f"[{wl.name}/{sched}]")
            doc["schedulers"][sched] = run_scheduler(wl, path, sched, quick=quick,
                                                     repeats=repeats,
                                                     mode=doc["advise_mode"], log=log)
    doc["seconds_total"] = time.perf_counter() - t0
    doc["environment"]["load_average_end"] = list(os.getloadavg())
    out_dir.mkdir(parents=True, exist_ok=True)
    dest = out_dir / f"{wl.name}.json"
    dest.write_text(json.dumps(doc, indent=1, default=str) + "\n")
    return dest
