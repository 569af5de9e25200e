"""Plans, trials and a tune result built from recorded observations, for the report tests."""

from __future__ import annotations

import pathlib

from chunkpilot.commands.tune import TuneResult
from chunkpilot.core.diagnose import diagnose
from chunkpilot.core.model import CostModel, LinearFit
from chunkpilot.core.observations import (
    MemoryRecord,
    Observation,
    TaskRecord,
    Trial,
    WorkerInfo,
)
from chunkpilot.core.plan import Plan, make_plan
from chunkpilot.report.records import load_observation
from chunkpilot.types import ArraySpec, Resources, WorkSpec

DATA = pathlib.Path(__file__).parent.parent / "data"
A, B = "tcp://10.0.0.1:1", "tcp://10.0.0.2:1"
GiB = 2**30
MiB = 2**20


def obs() -> Observation:
    """Two workers, six load tasks each, then a transfer and a mean: 8 s."""
    tasks = []
    for j, w in enumerate((A, B)):
        for i in range(6):
            key = f"('load-1', {6 * j + i})"
            tasks.append(TaskRecord(key, "load", w, 7, "compute", i, i + 0.9))
        tasks.append(TaskRecord(f"('mean-2', {j})", "mean", w, 7, "transfer", 6.0, 6.4))
        tasks.append(TaskRecord(f"('mean-2', {j})", "mean", w, 7, "compute", 6.4, 7.5))
    memory = tuple(MemoryRecord(t / 2, w, int(0.3 * GiB * t / 16), int(0.2 * GiB), 0)
                   for t in range(17) for w in (A, B))
    return Observation(wall_seconds=8.0, tasks=tuple(tasks), memory=memory,
                       workers=(WorkerInfo(A, 1, GiB), WorkerInfo(B, 1, GiB)))


def plan(source: str = "zarr:<my>.zarr", auto: tuple[int, ...] | None = (1000, 1000),
         dims: tuple[str, ...] | None = None) -> Plan:
    """A real plan (the report takes a Plan): a 1000 x 1000 float64 store on 2 x 1 GiB."""
    model = CostModel(LinearFit(1e-3, 2e-3 / MiB, 1.0), LinearFit(4 * MiB, 3.0, 1.0), 1e-3,
                      baseline_bytes=100 * MiB)
    spec = ArraySpec((1000, 1000), "float64", storage_chunks=(250, 250), source=source,
                     dims=dims)
    return make_plan(spec, WorkSpec(2), Resources(2, 1, GiB), model, dask_auto_shape=auto,
                     notes=("Samples & models <checked>.",))


def trials() -> list[Trial]:
    """A hand-built trial, a too-small one and one that killed its worker (recorded runs)."""
    out = [Trial("hand-built", ((500, 500), (1000,)), obs(), diagnose(obs()))]
    for name in ("obs_too_small.json", "obs_too_big_killed.json"):
        o = load_observation(DATA / name)
        out.append(Trial(name.removesuffix(".json"), ((100,) * 300,), o, diagnose(o)))
    return out


def tune_result(p: Plan | None = None) -> TuneResult:
    """What tune returns after the sample trials, the hand-built one chosen."""
    p = p or plan()
    ts = tuple(trials())
    return TuneResult(p, (500, 1000), ts, ts[0].verdicts, ((0, 1000), (0, 1000)),
                      report="/tmp/report.html")
