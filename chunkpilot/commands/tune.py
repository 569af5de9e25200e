"""``chunkpilot.tune``: short trials on a real cluster, diagnosed, until the plan converges.

Starts from the advised plan, runs the work on a fixed representative region with the
candidate chunks (``cluster.trials``), diagnoses each run like the dashboard, refits the
cost model from what the cluster showed and moves the way the diagnosis points
(``core.converge``). Timing differences inside the noise are ties: the smaller chunk wins.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from chunkpilot.cluster.connect import scheduler_client
from chunkpilot.cluster.trials import TrialRunner
from chunkpilot.commands.options import AdviseOptions, check_timeout, prepare
from chunkpilot.commands.outputs import check_output_path, code_files
from chunkpilot.commands.planning import advise_job
from chunkpilot.core.converge import (
    NOISE_FRACTION,
    STEP,
    direction,
    ladder,
    neighbour,
    pick,
    refit,
    trial_region,
)
from chunkpilot.core.evaluate import check_smallest_block, evaluate
from chunkpilot.core.observations import Trial
from chunkpilot.core.plan import Plan
from chunkpilot.core.shapes import regular_chunks
from chunkpilot.core.verdicts import Verdict
from chunkpilot.errors import InvalidArgumentError, SchedulerLostError, TuningError
from chunkpilot.report.html import write_report
from chunkpilot.sources.describe import dask_auto_shape
from chunkpilot.types import Resources
from chunkpilot.units import format_bytes

#: Trial region: enough data that a chunk twice the plan's still gives each thread 2 rounds.
REGION_ROUNDS = 8

Shape = tuple[int, ...]


@dataclass(frozen=True, slots=True)
class TuneResult:
    """The tuned chunks, every trial that led there, and the final diagnosis."""

    plan: Plan
    """The advised starting plan (its explanation stays valid for the model it had)."""
    chunk_shape: Shape
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
        "chunks": list(t.chunk_shape),
        "wall_seconds": o.wall_seconds,
        "task_count": o.compute_task_count,
        "peak_worker_memory_bytes": o.peak_process_bytes,
        "spilled_bytes": o.peak_spilled_bytes,
        "restarts": o.restarts,
        "error": o.error,
        "verdicts": [v.kind for v in t.verdicts],
    }


def tune(
    source: Any,
    func: Callable[[Any], Any] | None = None,
    *,
    max_trials: int = 5,
    trial_timeout: float = 120.0,
    whole: bool = False,
    compare_auto: bool = False,
    report: str | None = None,
    overwrite: bool = False,
    plan: Plan | None = None,
    on_trial: Callable[[Trial], None] | None = None,
    **options: Any,
) -> TuneResult:
    """Advise, then run trials on a real cluster and adjust the chunks until healthy.

    ``options`` are :func:`chunkpilot.advise`'s (``client``, ``scheduler``, ``workers``,
    ``memory_limit``, ``keep_whole``, ``pipeline``, ...). Without ``client``, a LocalCluster of
    processes is started (dashboard on 127.0.0.1) for ``scheduler="local"``, or the scheduler
    address is connected; either is closed at the end, even on error or Ctrl-C. Every trial
    has ``trial_timeout`` seconds; at most ``max_trials`` run. ``report`` is refused up front
    when it is inside the source, a directory, or an existing file that is not a previous
    chunkpilot report (unless ``overwrite=True``).
    """
    opts = AdviseOptions.from_kwargs(func, options)
    if isinstance(max_trials, bool) or not isinstance(max_trials, int) or max_trials < 1:
        raise InvalidArgumentError(f"Expected max_trials >= 1. Got {max_trials!r} instead.")
    if opts.scheduler == "threads" and opts.client is None:
        raise InvalidArgumentError("Expected a distributed scheduler for tune ('local' or an "
                                   "address). Got 'threads': tuning reads the cluster's dashboard.")
    trial_timeout = check_timeout(trial_timeout, "trial_timeout")
    job = prepare(source, opts)
    if report is not None:  # before any cluster or sandbox starts (issue 17)
        check_output_path(report, overwrite=overwrite,
                          sources=[source, job.ref, *code_files(opts.func, opts.pipeline)])
    res = opts.resources()
    check_smallest_block(job.spec, job.work, res)  # before a LocalCluster starts
    runner: TrialRunner | None = None
    try:
        with scheduler_client(res, opts.client) as client:
            if plan is None:
                plan = advise_job(job, res, client)
            target = REGION_ROUNDS * res.total_threads * plan.chosen.task_bytes
            region = trial_region(job.spec, job.work, plan.chunk_shape,
                                  job.spec.nbytes if whole else target)
            runner = TrialRunner(client, source, job.ref, plan.work, region, func=opts.func,
                                 pipeline=opts.pipeline, array=opts.name,
                                 timeout_s=trial_timeout, on_trial=on_trial)
            runner.warm_up(plan.chunk_shape)
            if compare_auto:
                runner.run(dask_auto_shape(job.spec), "dask auto")
            chosen = _search(runner, plan, res, max_trials)
            best = runner.best_trial(chosen)
            result = TuneResult(plan, chosen, tuple(runner.trials),
                                best.verdicts if best else (),
                                tuple((s.start, s.stop) for s in region))
    except SchedulerLostError as e:  # issue 17: keep the trials that finished, and report them
        e.trials = tuple(runner.trials) if runner is not None else ()
        if report is not None and plan is not None:
            e.report = str(write_report(report, title="chunkpilot tune report (stopped)",
                                        plan=plan, trials=e.trials, notes=[f"Stopped: {e}"]))
        raise
    if report is not None:
        path = write_report(report, title="chunkpilot tune report", plan=plan,
                            trials=result.trials,
                            notes=[f"Tuned chunks: {chosen} (advised {plan.chunk_shape})."])
        result = dataclasses.replace(result, report=str(path))
    return result


def _search(runner: TrialRunner, plan: Plan, res: Resources, max_trials: int) -> Shape:
    """Follow the diagnosis while it points a way, then compare the healthy neighbours."""
    rungs = ladder(plan)
    model, current = plan.model, plan.chunk_shape
    tried: list[Shape] = []

    def predict(chunk: Shape) -> Any:
        return evaluate(chunk, plan.spec, plan.work, res, model)

    def run(chunk: Shape, why: str) -> Trial:
        nonlocal model
        tried.append(chunk)
        t = runner.run(chunk, f"{why} {chunk}")
        model = refit(model, t.observation, predict(chunk).task_bytes, res)
        return t

    def fits(chunk: Shape) -> bool:
        return predict(chunk).peak_bytes_per_worker <= res.memory_budget_bytes

    last = run(current, "advised")
    # 1. follow the verdicts: too big -> smaller, too small -> bigger
    while len(tried) < max_trials:
        d = -1 if current in runner.failed else direction(last.verdicts)
        if d == 0:
            break
        nxt = neighbour(rungs, current, d * STEP)
        if nxt is None or nxt in tried or (d > 0 and not fits(nxt)):
            break
        last = run(nxt, "smaller" if d < 0 else "bigger")
        if nxt in runner.failed or (current not in runner.failed and runner.wall(nxt)
                                    > runner.wall(current) * (1 + NOISE_FRACTION)):
            break  # that way got worse
        current = nxt
    # 2. healthy (or stuck): hill-climb; smaller first (more rounds rarely hurt memory),
    #    keep going while each step is clearly faster, else try the other side once
    for d in (-1, +1):
        moved = False
        while len(tried) < max_trials:
            nxt = neighbour(rungs, current, d * STEP)
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
    clean = {c: runner.wall(c) for c in tried if c not in runner.failed}
    if not clean:
        raise TuningError(
            f"Expected at least one trial to finish without worker restarts or errors. Got "
            f"failures for every chunk shape tried ({sorted(set(tried))}); the smallest block "
            f"was {format_bytes(min(math.prod(c) for c in tried) * plan.spec.itemsize)}."
        )
    return pick(clean, plan.spec.itemsize)
