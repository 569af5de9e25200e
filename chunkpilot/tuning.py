"""``tune``: short trials on a real distributed cluster, diagnosed, until the plan converges.

Starts from the advised plan, runs the work on a fixed representative region with the
candidate chunks, diagnoses each run like the dashboard, refits the cost model from what
the cluster showed (observed peaks and task times beat the sandbox profile), and moves
to the neighbour the diagnosis points to. Timing differences inside the noise are ties:
the smaller peak (the safer plan) wins.
"""

from __future__ import annotations

import contextlib
import dataclasses
import math
import os
import statistics
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from chunkpilot.api import (
    _one_name,
    advise,
    build_work,
    check_func,
    check_pipeline,
    check_timeout,
    scheduler_client,
)
from chunkpilot.diagnose import diagnose
from chunkpilot.errors import InvalidArgumentError, StoreReadError, TuningError
from chunkpilot.model import CostModel, LinearFit
from chunkpilot.observations import Observation, Trial, Verdict
from chunkpilot.observe import observe
from chunkpilot.plan import Plan, candidate_shapes, check_smallest_block, evaluate
from chunkpilot.shapes import regular_chunks
from chunkpilot.sources import describe, dask_auto_shape
from chunkpilot.trials import (
    pipeline_collections,
    source_array,
    trial_collection,
    trial_region,
)
from chunkpilot.types import ArraySpec, Resources
from chunkpilot.units import format_bytes

#: Wall times closer than this are within the noise of a shared machine: a tie.
NOISE_FRACTION = 0.10
#: Trial region: enough data that a chunk twice the plan's still gives each thread 2 rounds.
REGION_ROUNDS = 8
#: The unobserved warm-up run never takes longer than this.
WARM_UP_TIMEOUT_S = 60.0
#: Candidate steps (in the planner's sqrt(2) ladder) to move when a verdict points a way.
STEP = 2


@dataclass(frozen=True, slots=True)
class TuneResult:
    """The tuned chunks, every trial that led there, and the final diagnosis."""

    plan: Plan
    """The advised starting plan (its explanation stays valid for the model it had)."""
    chunk_shape: tuple[int, ...]
    """Regular chunk length per axis chosen after the trials."""
    trials: tuple[Trial, ...]
    """Every trial in the order run (``label`` says why it ran)."""
    verdicts: tuple[Verdict, ...]
    """Diagnosis of the chosen chunks' best trial."""
    region: tuple[tuple[int, int], ...]
    """The region of the array the trials ran on (start, stop per axis)."""
    report: str | None = None
    """Path of the HTML report, when one was written."""

    @property
    def chunks(self) -> tuple[tuple[int, ...], ...]:
        return regular_chunks(self.plan.spec.shape, self.chunk_shape)

    def to_dict(self) -> dict[str, Any]:
        return {
            "chunks": list(self.chunk_shape),
            "chunks_full": [list(c) for c in self.chunks],
            "advised_chunks": list(self.plan.chunk_shape),
            "region": [list(r) for r in self.region],
            "trials": [trial_summary(t) for t in self.trials],
            "verdict": [v.to_dict() for v in self.verdicts],
            "report": self.report,
            "plan": self.plan.to_dict(),
        }


def trial_summary(t: Trial) -> dict[str, Any]:
    """The numbers of one trial, as the CLI's ``--json`` lists them."""
    o = t.observation
    return {
        "label": t.label,
        "chunks": [max(ax) for ax in t.chunks],
        "wall_seconds": o.wall_seconds,
        "task_count": o.compute_task_count,
        "peak_worker_memory_bytes": o.peak_process_bytes,
        "spilled_bytes": o.peak_spilled_bytes,
        "restarts": o.restarts,
        "error": o.error,
        "verdicts": [v.kind for v in t.verdicts],
    }


def _failed(o: Observation) -> bool:
    return bool(o.restarts or o.killed_worker or o.error or o.timed_out or o.erred_tasks)


def refit(model: CostModel, obs: Observation, task_bytes: int, res: Resources) -> CostModel:
    """Scale the model so it predicts what the cluster showed for ``task_bytes`` blocks."""
    compute = [r.stop_s - r.start_s for r in obs.tasks if r.action == "compute"]
    time = model.time
    if compute and not _failed(obs):
        seen = statistics.median(compute)
        predicted = max(model.task_seconds(task_bytes), 1e-9)
        time = LinearFit(time.fixed * seen / predicted, time.slope * seen / predicted, time.r2)
    memory = model.memory
    peak = obs.peak_process_bytes
    if peak and not _failed(obs):
        per_task = (peak - model.baseline_bytes) / res.threads_per_worker - task_bytes
        excess = per_task - model.task_peak_bytes(task_bytes)
        if excess > 0:  # only ever raise the estimate; the dominant term takes the excess
            if memory.slope * task_bytes >= memory.fixed:  # (tiny blocks must not blow up
                memory = LinearFit(memory.fixed, memory.slope + excess / task_bytes, memory.r2)
            else:  # the per-byte multiplier with a fixed cost they happen to show)
                memory = LinearFit(memory.fixed + excess, memory.slope, memory.r2)
    max_ok = model.max_ok_bytes
    if _failed(obs) and (obs.restarts or obs.killed_worker):
        max_ok = min(max_ok or task_bytes, task_bytes)
    return dataclasses.replace(model, time=time, memory=memory, max_ok_bytes=max_ok)


def _ladder(plan: Plan) -> list[tuple[int, ...]]:
    shapes = candidate_shapes(plan.spec, plan.work)
    return sorted(shapes, key=lambda c: math.prod(c))


def _neighbour(ladder: list[tuple[int, ...]], current: tuple[int, ...], steps: int) -> tuple[int, ...] | None:
    if current not in ladder:
        ladder = sorted([*ladder, current], key=lambda c: math.prod(c))
    i = ladder.index(current) + steps
    return ladder[i] if 0 <= i < len(ladder) else None


def _direction(verdicts: tuple[Verdict, ...]) -> int:
    """-1 for smaller, +1 for bigger, 0 to stay. Memory trouble beats everything; tiny
    tasks beat "idle threads at the end" (tiny chunks can show both)."""
    kinds = {v.kind for v in verdicts}
    memory_trouble = "failed" in kinds or "spill_bound" in kinds
    for v in verdicts:
        if v.kind == "too_big":
            ev = v.evidence_dict()
            memory_trouble |= bool(
                (ev.get("peak_memory_fraction") or 0) > (ev.get("target_fraction") or 0.6)
                or ev.get("spilled_bytes") or ev.get("pauses") or ev.get("restarts")
                or ev.get("killed_worker"))
    if memory_trouble:
        return -1
    if "too_small" in kinds:
        return +1
    return -1 if "too_big" in kinds else 0


def tune(
    source: Any,
    func: Callable[[Any], Any] | None = None,
    *,
    pipeline: Callable[[Any], Any] | None = None,
    client: Any = None,
    scheduler: str = "local",
    array: str | None = None,
    variable: str | None = None,
    workers: int | None = None,
    threads_per_worker: int | None = None,
    memory_limit: Any = None,
    keep_whole: Any = (),
    depth: Any = None,
    drop_axis: Any = (),
    profile_timeout: float = 60.0,
    max_trials: int = 5,
    trial_timeout: float = 120.0,
    whole: bool = False,
    compare_auto: bool = False,
    report: str | None = None,
    plan: Plan | None = None,
    on_trial: Callable[[Trial], None] | None = None,
) -> TuneResult:
    """Advise, then run trials on a real cluster and adjust the chunks until healthy.

    Without ``client``, a LocalCluster of processes is started (dashboard on 127.0.0.1)
    for ``scheduler="local"``, or the scheduler address is connected; either is closed
    at the end, even on error or Ctrl-C. Every trial has ``trial_timeout`` seconds.
    """
    if isinstance(max_trials, bool) or not isinstance(max_trials, int) or max_trials < 1:
        raise InvalidArgumentError(f"Expected max_trials >= 1. Got {max_trials!r} instead.")
    if scheduler == "threads" and client is None:
        raise InvalidArgumentError("Expected a distributed scheduler for tune ('local' or an "
                                   "address). Got 'threads': tuning reads the cluster's dashboard.")
    func = check_func(func)
    if pipeline is not None:
        check_pipeline(func, pipeline)
    trial_timeout = check_timeout(trial_timeout, "trial_timeout")
    if report is not None:
        check_report_path(report)
    array = _one_name(array, variable)
    spec, ref = describe(source, array=array)
    work = build_work(spec, keep_whole, depth, drop_axis)
    opts = dict(workers=workers, threads_per_worker=threads_per_worker, memory_limit=memory_limit)
    refuse = lambda res: check_smallest_block(spec, work, res)  # noqa: E731
    with _cluster(scheduler, client, opts, refuse) as (c, res):
        if plan is None:
            plan = advise(source, func, pipeline=pipeline, array=array, client=c,
                          keep_whole=keep_whole, depth=depth,
                          drop_axis=drop_axis, profile_timeout=profile_timeout)
        target = REGION_ROUNDS * res.total_threads * plan.chosen.task_bytes
        region = trial_region(spec, work, plan.chunk_shape, spec.nbytes if whole else target)
        runner = _Runner(c, source, ref, spec, func, plan, region, trial_timeout, on_trial, array,
                         pipeline)
        runner.warm_up(plan.chunk_shape)
        if compare_auto:
            runner.run(dask_auto_shape(spec), "dask auto")
        chosen = _search(runner, plan, res, max_trials)
        best = runner.best_trial(chosen)
        result = TuneResult(plan, chosen, tuple(runner.trials), best.verdicts if best else (),
                            tuple((s.start, s.stop) for s in region))
    if report is not None:
        from chunkpilot.report.html import write_report

        path = write_report(report, title="chunkpilot tune report", plan=plan.to_dict(),
                            trials=result.trials,
                            notes=[f"Tuned chunks: {chosen} (advised {plan.chunk_shape})."])
        result = dataclasses.replace(result, report=str(path))
    return result


def check_report_path(path: Any) -> None:
    """Refuse a report path that cannot be written, before any work is done."""
    parent = os.path.dirname(os.path.abspath(os.fspath(path)))
    if os.path.isdir(path) or not os.path.isdir(parent) or not os.access(parent, os.W_OK):
        raise InvalidArgumentError(
            f"Expected a report path (a file) in an existing, writable directory. Got "
            f"{os.fspath(path)!r} instead."
        )


@contextlib.contextmanager
def _cluster(scheduler: str, client: Any, opts: dict[str, Any],
             refuse: Callable[[Resources], None]) -> Iterator[tuple[Any, Resources]]:
    from chunkpilot.resources import from_client, resolve_resources

    if client is not None:
        res = from_client(client, "client")
        refuse(res)
        yield client, res
        return
    res = resolve_resources(scheduler, **opts)
    refuse(res)  # before a LocalCluster starts
    with scheduler_client(res) as c:
        yield c, res


class _Runner:
    """Runs trials on one client and keeps them; recovers the cluster after a failure."""

    def __init__(self, client: Any, source: Any, ref: dict[str, Any], spec: ArraySpec,
                 func: Any, plan: Plan, region: tuple[slice, ...], timeout: float,
                 on_trial: Callable[[Trial], None] | None, array: str | None = None,
                 pipeline: Callable[[Any], Any] | None = None) -> None:
        self.client, self.source, self.ref, self.spec = client, source, ref, spec
        self.func, self.plan, self.region, self.timeout = func, plan, region, timeout
        self.on_trial, self.array, self.pipeline = on_trial, array, pipeline
        self.trials: list[Trial] = []
        self.walls: dict[tuple[int, ...], list[float]] = {}
        self.failed: set[tuple[int, ...]] = set()
        self.n_workers = len(client.scheduler_info().get("workers", {}))

    def run(self, chunk: tuple[int, ...], label: str) -> Trial:
        x = source_array(self.source, self.ref, chunk, self.array)[self.region]
        if self.pipeline is not None:
            ys = pipeline_collections(self.pipeline(x))
            run = lambda: self.client.gather(self.client.compute(ys))  # noqa: E731
        else:
            y = trial_collection(x, self.func, self.plan.work)
            run = lambda: self.client.compute(y).result()  # noqa: E731
        _, obs = observe(self.client, run, timeout_s=self.timeout)
        if obs.error and obs.error.startswith(StoreReadError.__name__ + ":"):
            raise StoreReadError(obs.error.partition(": ")[2])  # a damaged store: stop tuning
        trial = Trial(label, x.chunks, obs, diagnose(obs))
        self.trials.append(trial)
        if _failed(obs):
            self.failed.add(chunk)
            self._recover()
        else:
            self.walls.setdefault(chunk, []).append(obs.wall_seconds)
        if self.on_trial is not None:
            self.on_trial(trial)
        return trial

    def warm_up(self, chunk: tuple[int, ...]) -> None:
        """One unobserved run on a few chunks: workers import the function's modules, open
        the store and fault in their allocator, so the first trial is not timed cold."""
        x = source_array(self.source, self.ref, chunk, self.array)[self.region]
        n = max(1, self.n_workers)
        small = x[tuple(slice(0, min(length, c[0] * (n if i == 0 else 1)))
                        for i, (length, c) in enumerate(zip(x.shape, x.chunks)))]
        from distributed import wait

        futures: list[Any] = []
        with contextlib.suppress(Exception):  # a failing warm-up is the first trial's finding
            colls = (pipeline_collections(self.pipeline(small)) if self.pipeline is not None
                     else [trial_collection(small, self.func, self.plan.work)])
            futures = self.client.compute(colls)
            wait(futures, timeout=min(self.timeout, WARM_UP_TIMEOUT_S))
        with contextlib.suppress(Exception):
            self.client.cancel(futures, force=True)
        self._recover()  # a warm-up that killed a worker must not shortchange the first trial

    def _recover(self) -> None:
        """Bring the cluster back to its worker count after restarts or a KilledWorker."""
        with contextlib.suppress(Exception):
            self.client.cancel(list(self.client.futures), force=True)
        with contextlib.suppress(Exception):
            self.client.wait_for_workers(self.n_workers, timeout=60)

    def wall(self, chunk: tuple[int, ...]) -> float:
        return min(self.walls[chunk]) if chunk in self.walls else math.inf

    def best_trial(self, chunk: tuple[int, ...]) -> Trial | None:
        mine = [t for t in self.trials if tuple(max(a) for a in t.chunks) == chunk
                or t.label.endswith(str(chunk))]
        ok = [t for t in mine if not _failed(t.observation)]
        return min(ok or mine, key=lambda t: t.observation.wall_seconds) if (ok or mine) else None


def _search(runner: _Runner, plan: Plan, res: Resources, max_trials: int) -> tuple[int, ...]:
    """Follow the diagnosis while it points a way, then compare the healthy neighbours."""
    ladder = _ladder(plan)
    budget = plan.resources.target_fraction * plan.resources.memory_limit_bytes
    model, current = plan.model, plan.chunk_shape
    tried: list[tuple[int, ...]] = []

    def run(chunk: tuple[int, ...], why: str) -> Trial:
        tried.append(chunk)
        t = runner.run(chunk, f"{why} {chunk}")
        nonlocal model
        model = refit(model, t.observation, _bytes(chunk), res)
        return t

    def _bytes(chunk: tuple[int, ...]) -> int:
        return evaluate(chunk, plan.spec, plan.work, res, model).task_bytes

    def fits(chunk: tuple[int, ...]) -> bool:
        return evaluate(chunk, plan.spec, plan.work, res, model).peak_bytes_per_worker <= budget

    last = run(current, "advised")
    # 1. follow the verdicts: too big -> smaller, too small -> bigger
    while len(tried) < max_trials:
        d = -1 if current in runner.failed else _direction(last.verdicts)
        if d == 0:
            break
        nxt = _neighbour(ladder, current, d * STEP)
        if nxt is None or nxt in tried or (d > 0 and not fits(nxt)):
            break
        last = run(nxt, "smaller" if d < 0 else "bigger")
        if nxt in runner.failed or (current not in runner.failed
                                    and runner.wall(nxt) > runner.wall(current) * (1 + NOISE_FRACTION)):
            break  # that way got worse
        current = nxt
    # 2. healthy (or stuck): hill-climb; smaller first (more rounds rarely hurt memory),
    #    keep going while each step is clearly faster, else try the other side once
    for d in (-1, +1):
        moved = False
        while len(tried) < max_trials:
            nxt = _neighbour(ladder, current, d * STEP)
            if nxt is None or nxt in tried or (d > 0 and not fits(nxt)):
                break
            run(nxt, "smaller" if d < 0 else "bigger")
            if nxt in runner.failed or runner.wall(nxt) >= runner.wall(current) * (1 - NOISE_FRACTION):
                break
            current, moved = nxt, True
        if moved:
            break
    # 3. close calls get one more measurement each while trials remain
    ranked = sorted({c for c in tried if c not in runner.failed}, key=runner.wall)
    if len(ranked) >= 2 and len(tried) < max_trials:
        a, b = ranked[0], ranked[1]
        if runner.wall(b) <= runner.wall(a) * (1 + NOISE_FRACTION):
            for c in (a, b)[: max_trials - len(tried)]:
                run(c, "repeat")
    return _pick(runner, tried, plan)


def _pick(runner: _Runner, tried: list[tuple[int, ...]], plan: Plan) -> tuple[int, ...]:
    """Fastest chunk that ran cleanly; inside the noise, the smaller (safer) one."""
    ok = sorted({c for c in tried if c not in runner.failed}, key=runner.wall)
    if not ok:
        raise TuningError(
            f"Expected at least one trial to finish without worker restarts or errors. Got "
            f"failures for every chunk shape tried ({sorted(set(tried))}); the smallest block "
            f"was {format_bytes(min(math.prod(c) for c in tried) * plan.spec.itemsize)}."
        )
    best = runner.wall(ok[0])
    ties = [c for c in ok if runner.wall(c) <= best * (1 + NOISE_FRACTION)]
    return min(ties, key=lambda c: math.prod(c))
