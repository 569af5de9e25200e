"""One workload on each scheduler, end to end: data, advise, tune, the ladder, the rounds,
the predictions at every shape, peaks on threads; one JSON file per workload.

Nothing is summarised here: the JSON keeps every run of every round, the advised plan with
its inputs (every profiling sample and the overhead probe) and every tune trial, so
:mod:`benchmarks.score` and :mod:`benchmarks.replay` can recompute everything offline.
"""

from __future__ import annotations

import contextlib
import json
import math
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import cloudpickle
import numpy as np

import benchmarks.functions
import benchmarks.s3_read
import benchmarks.timing
from benchmarks.contenders import advise_mode, run_advise, run_tune
from benchmarks.ladder import FULL_MIN_BYTES, QUICK_MIN_BYTES, ladder, spec_work
from benchmarks.peaks import threads_peaks
from benchmarks.provenance import environment, git_state, load_1min
from benchmarks.rounds import RoundPlan, run_rounds
from benchmarks.stats import seed_for
from benchmarks.timing import ClusterExecutor, ThreadsExecutor
from benchmarks.workloads import DataSource, Workload

# workers and chunkpilot's sandbox get these functions by value: no import of `benchmarks`
cloudpickle.register_pickle_by_value(benchmarks.functions)
cloudpickle.register_pickle_by_value(benchmarks.s3_read)
cloudpickle.register_pickle_by_value(benchmarks.timing)

#: Version of the results layout (see docs/benchmarks.md, "Results files").
FORMAT = "chunkpilot-bench/2"
Log = Callable[[str], None]


@dataclass(frozen=True)
class Settings:
    """Everything a run was asked for (stored in every results file)."""

    quick: bool
    rounds: int
    seed: int
    keep_fastest: int = 6
    slow_factor: float = 2.5
    advise_mode: str = "auto"
    allow_dirty: bool = False

    @property
    def min_bytes(self) -> int:
        return QUICK_MIN_BYTES if self.quick else FULL_MIN_BYTES

    @property
    def run_timeout_s(self) -> float:
        return 60.0 if self.quick else 300.0

    @property
    def trial_timeout_s(self) -> float:
        return 60.0 if self.quick else 120.0

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "min_bytes": self.min_bytes, "run_timeout_s": self.run_timeout_s}


@contextlib.contextmanager
def _executor(scheduler: str, wl: Workload, quick: bool) -> Iterator[Any]:
    if scheduler == "threads":
        with ThreadsExecutor() as ex:
            yield ex
    else:
        with ClusterExecutor(wl.memory_limit(quick)) as ex:
            yield ex


def _auto_shape(wl: Workload, src: DataSource) -> tuple[int, ...]:
    ndim = len(wl.full.shape)
    return tuple(max(c) for c in src.open(wl.auto_chunks(ndim)).chunks)


def predicted(plan: Any, shape: tuple[int, ...]) -> dict[str, Any] | None:
    """The advised plan's model at ``shape`` (``core.evaluate.evaluate``)."""
    if plan is None:
        return None
    from chunkpilot.core.evaluate import evaluate

    return evaluate(shape, plan.spec, plan.work, plan.resources, plan.model).to_dict()


def run_scheduler(wl: Workload, src: DataSource, scheduler: str, st: Settings,
                  log: Log) -> dict[str, Any]:
    """Everything measured for one workload on one scheduler (JSON-ready)."""
    size = wl.size(st.quick)
    spec, work = spec_work(size.shape, size.storage, wl.dtype, wl.keep_whole, wl.depth)
    rungs = ladder(spec, work, st.min_bytes)
    mode = advise_mode(wl, st.advise_mode)
    t0 = time.perf_counter()
    with _executor(scheduler, wl, st.quick) as ex:
        advise, plan = run_advise(wl, src, ex, mode, log)
        tune = run_tune(wl, src, ex, plan, mode, st.trial_timeout_s, log)
        roles = {"auto": _auto_shape(wl, src),
                 "advise": tuple(plan.chunk_shape) if plan else None,
                 "tune": tuple(tune["chunk_shape"]) if tune.get("chunk_shape") else None}
        if wl.remote:  # what from_zarr gives without chunks=: the store's own chunks
            roles["storage"] = tuple(size.storage)
        role_shapes = [s for s in roles.values() if s]
        shapes = list(dict.fromkeys([*rungs, *role_shapes]))
        rp = RoundPlan(st.rounds, seed_for(st.seed, wl.name, scheduler), st.keep_fastest,
                       st.slow_factor, st.run_timeout_s)
        rounds, pruned = run_rounds(wl, src, ex, shapes, rungs, role_shapes, rp, log)
        recreated = getattr(ex, "recreated", 0)
    peaks: dict[tuple[int, ...], Any] = {}
    if scheduler == "threads":  # in-process peaks hide in malloc arenas: a fresh process
        ok = [s for i, s in enumerate(shapes)
              if not any(r["failed"] for rd in rounds for r in rd["runs"] if r["shape"] == i)]
        log(f"  peak memory of {len(ok)} shapes in a fresh process")
        peaks = threads_peaks(wl.name, src, ok, 20 * st.run_timeout_s)
    records = []
    for s in shapes:
        records.append({
            "chunk_shape": list(s), "block_bytes": math.prod(s) * spec.itemsize,
            "input_chunks": math.prod(math.ceil(n / c) for n, c in zip(size.shape, s, strict=True)),
            "in_ladder": s in rungs, "roles": [r for r, v in roles.items() if v == s],
            "pruned": pruned.get(s), "predicted": predicted(plan, s),
            "peak_fresh_process_bytes": peaks.get(s)})
    return {"scheduler": scheduler, "seed": rp.seed, "ladder": [list(s) for s in rungs],
            "roles": {k: list(v) if v else None for k, v in roles.items()},
            "advise": advise, "tune": tune, "shapes": records, "rounds": rounds,
            "cluster_recreated": recreated, "seconds_total": time.perf_counter() - t0}


def run_workload(wl: Workload, st: Settings, schedulers: tuple[str, ...], out_dir: Path,
                 git: dict[str, Any], log: Log) -> Path:
    """Make the data, run every scheduler, write ``<out_dir>/<name>.json``; return its path."""
    size = wl.size(st.quick)
    doc: dict[str, Any] = {
        "format": FORMAT, "workload": wl.name, "description": wl.description,
        "expressed_as": wl.expressed_as, "dtype": wl.dtype, "shape": list(size.shape),
        "storage_chunks": list(size.storage), "itemsize": np.dtype(wl.dtype).itemsize,
        "keep_whole": list(wl.keep_whole), "depth": wl.depth,
        "cluster_memory_limit": wl.memory_limit(st.quick), "settings": st.to_dict(),
        "git": git, "environment": environment(), "schedulers": {}}
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix=f"chunkpilot-bench-{wl.name}-") as tmp:
        log(f"[{wl.name}] writing data")
        with wl.data(Path(tmp), st.quick) as src:
            doc["data_seconds"] = time.perf_counter() - t0
            for sched in (s for s in schedulers if s in wl.schedulers):
                log(f"[{wl.name}/{sched}]")
                doc["schedulers"][sched] = run_scheduler(wl, src, sched, st, log)
    doc["seconds_total"] = time.perf_counter() - t0
    doc["environment"]["load_average_end"] = load_1min()
    end = git_state()
    doc["git"]["changed_during_run"] = (end.get("commit") != git.get("commit")
                                        or end.get("diff_sha256") != git.get("diff_sha256"))
    out_dir.mkdir(parents=True, exist_ok=True)
    dest = out_dir / f"{wl.name}.json"
    dest.write_text(json.dumps(doc, indent=1, default=str) + "\n")
    return dest
