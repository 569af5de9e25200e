"""``chunkpilot.tune``: short trials on a real cluster, diagnosed, until the plan converges.

Starts from the advised plan, runs the work on a fixed representative region with the
candidate chunks (``cluster.trials``), diagnoses each run like the dashboard, refits the
cost model from what the cluster showed and moves the way the diagnosis points
(``core.converge``). When the two fastest shapes are timed within the noise, the rung
between them runs if they are two apart; two still within the noise are run once more, in
the other order; trials left run the untried rungs next to the fastest; then the fastest
median wins.
"""

from __future__ import annotations

import dataclasses
import logging
import math
from collections.abc import Callable
from typing import Any

from chunkpilot import config
from chunkpilot.cluster.connect import scheduler_client
from chunkpilot.cluster.resources import IN_PROCESS, scheduler_name
from chunkpilot.cluster.trials import ClientExecutor, Executor, ThreadsExecutor, TrialRunner
from chunkpilot.commands.options import AdviseOptions, check_timeout, prepare, renamed
from chunkpilot.commands.outputs import check_output_path, code_files
from chunkpilot.commands.planning import advise_job
from chunkpilot.commands.tuned import TuneResult, trial_summary
from chunkpilot.core.converge import (
    STEP,
    between,
    close_call,
    direction,
    keep_walking,
    ladder,
    neighbour,
    next_rungs,
    pick,
    refit,
    region_bytes,
    trial_region,
)
from chunkpilot.core.evaluate import check_smallest_block, evaluate
from chunkpilot.core.observations import Trial
from chunkpilot.core.plan import Plan
from chunkpilot.core.shapes import dask_auto_shape
from chunkpilot.errors import InvalidArgumentError, SchedulerLostError, TuningError
from chunkpilot.report.html import write_report
from chunkpilot.types import ArraySpec, Resources, WorkSpec
from chunkpilot.units import format_bytes

__all__ = ["TuneResult", "trial_summary", "tune"]

logger = logging.getLogger(__name__)

Shape = tuple[int, ...]


def tune(
    source: Any,
    func: Callable[[Any], Any] | None = None,
    *,
    max_trials: int | None = None,
    trial_timeout_s: float | str | None = None,
    whole: bool = False,
    compare_auto: bool = False,
    report: str | None = None,
    overwrite: bool = False,
    plan: Plan | None = None,
    on_trial: Callable[[Trial], None] | None = None,
    **options: Any,
) -> TuneResult:
    """Advise, then run trials on a real cluster and adjust the chunks until healthy.

    ``options`` are :func:`chunkpilot.advise`'s (``scheduler``, ``workers``, ``memory_limit``,
    ``keep_whole``, ``pipeline``, ...). ``scheduler`` is a Client, an address (connected),
    ``"processes"`` (a LocalCluster of worker processes is started, dashboard on 127.0.0.1,
    its link logged at INFO; closed at the end, even on error or Ctrl-C), or ``"threads"``:
    trials on dask's threaded scheduler in this process (task stream timed in its thread
    pool, process memory sampled). ``"synchronous"`` is refused: one thread has nothing to
    tune. Every trial has ``trial_timeout_s`` seconds (default: dask config
    ``chunkpilot.tune.trial-timeout``); at most ``max_trials`` run, repeats of close calls
    included (``chunkpilot.tune.max-trials``). A trial shorter than
    ``chunkpilot.tune.min-trial-seconds`` (a small array) runs its work 3-7 times, while it
    has taken less than that, and counts once: its median is its time, its spread the noise.
    ``report`` is refused up front when it is inside the source, a directory, or an existing
    file that is not a previous chunkpilot report (unless ``overwrite=True``).
    """
    options = renamed(options)
    if "trial_timeout_s" in options:  # the older spelling trial_timeout=
        if trial_timeout_s is not None:
            raise InvalidArgumentError("Expected trial_timeout_s or trial_timeout, not both.")
        trial_timeout_s = options.pop("trial_timeout_s")
    opts = AdviseOptions.from_kwargs(func, options)
    max_trials = config.max_trials() if max_trials is None else max_trials
    if isinstance(max_trials, bool) or not isinstance(max_trials, int) or max_trials < 1:
        raise InvalidArgumentError(f"Expected max_trials >= 1. Got {max_trials!r} instead.")
    name = scheduler_name(opts.scheduler) if opts.client is None else "client"
    if name in IN_PROCESS and name != "threads":
        raise InvalidArgumentError(
            "Expected a scheduler for tune with threads to tune ('threads', 'processes', a "
            f"Client or an address). Got {opts.scheduler!r}: one thread has nothing to tune.")
    min_trial_s = config.min_trial_seconds()  # read before any cluster starts
    trial_timeout = (config.trial_timeout_s() if trial_timeout_s is None
                     else check_timeout(trial_timeout_s, "trial_timeout_s"))
    job = prepare(source, opts)
    if plan is not None:
        check_plan_fits(plan, job.spec, job.work)
    if report is not None:  # before any cluster or sandbox starts (issue 17)
        report = check_output_path(
            report, overwrite=overwrite,
            sources=[source, job.ref, *code_files(opts.func, opts.pipeline)])
    res = opts.resources()
    check_smallest_block(job.spec, job.work, res)  # before a LocalCluster starts
    runner: TrialRunner | None = None
    try:
        with scheduler_client(res, opts.client) as client:
            if client is not None:
                logger.info("Dashboard: %s", client.dashboard_link)
            if plan is None:
                plan = advise_job(job, res, client)
            target = region_bytes(plan.chosen.task_bytes, plan.chosen.seconds_per_task,
                                  res.total_threads, min_trial_s)
            full_axes = plan.pipeline.full_axes if plan.pipeline else ()
            region = trial_region(job.spec, plan.work, plan.chunk_shape,
                                  job.spec.nbytes if whole else target, full_axes)
            executor: Executor = (
                ThreadsExecutor(res.threads_per_worker, res.memory_limit_bytes)
                if client is None else ClientExecutor(client))
            runner = TrialRunner(executor, source, job.ref, plan.work, region, func=opts.func,
                                 pipeline=opts.pipeline, array=opts.name,
                                 timeout_s=trial_timeout, on_trial=on_trial,
                                 min_seconds=min_trial_s,
                                 full_axes=full_axes)
            runner.warm_up(plan.chunk_shape)
            if compare_auto:
                runner.run(dask_auto_shape(job.spec, plan.work.keep_whole), "dask auto")
            chosen = _search(runner, plan, res, max_trials, config.policy().noise_fraction,
                             region_spec(job.spec, region))
            best = runner.best_trial(chosen)
            result = TuneResult(plan, chosen, tuple(runner.trials),
                                best.verdicts if best else (),
                                tuple((s.start, s.stop) for s in region))
    except (SchedulerLostError, TuningError) as e:  # keep the trials that ran, report them
        e.trials = tuple(runner.trials) if runner is not None else ()
        if report is not None and plan is not None:
            e.report = str(write_report(report, title="chunkpilot tune report (stopped)",
                                        plan=plan, trials=e.trials, notes=[f"Stopped: {e}"]))
        raise
    if report is not None:
        path = write_report(report, title="chunkpilot tune report", plan=plan,
                            trials=result.trials,
                            notes=[f"Tuned chunks: {chosen} (advised {plan.chunk_shape})."],
                            apply_shape=tuple(chosen))
        result = dataclasses.replace(result, report=str(path))
    return result


def check_plan_fits(plan: Plan, spec: ArraySpec, work: WorkSpec) -> None:
    """Refuse a ``plan=`` made for another array or other options: its chunks, region and
    ladder would be tuned against the wrong shape or split an axis ``keep_whole`` names."""
    got = (plan.spec.shape, plan.spec.dtype)
    if got != (spec.shape, spec.dtype):
        raise InvalidArgumentError(
            f"Expected plan= made for this source ({spec.shape} {spec.dtype}). Got a plan for "
            f"{got[0]} {got[1]}: advise this source, then tune with that plan.")
    missing = sorted(set(work.keep_whole) - set(plan.work.keep_whole))
    same = (plan.work.depth, plan.work.drop_axis) == (work.depth, work.drop_axis)
    if missing or not (same or plan.pipeline is not None):  # a pipeline's depth is its graph's
        raise InvalidArgumentError(
            f"Expected plan= made with these options (keep_whole={list(work.keep_whole)}, "
            f"depth={list(work.depth)}, drop_axis={list(work.drop_axis)}). Got a plan made with "
            f"keep_whole={list(plan.work.keep_whole)}, depth={list(plan.work.depth)}, "
            f"drop_axis={list(plan.work.drop_axis)}: advise with the same options.")


def region_spec(spec: ArraySpec, region: tuple[slice, ...]) -> ArraySpec:
    """The trial region as an array of its own, to predict a trial's time."""
    return dataclasses.replace(spec, shape=tuple(s.stop - s.start for s in region),
                               current_chunks=None)


def _search(runner: TrialRunner, plan: Plan, res: Resources, max_trials: int,
            noise: float, region: ArraySpec | None = None) -> Shape:
    """Follow the diagnosis while it points a way, then compare the healthy neighbours.
    A shape run before the search (dask auto's, the reference) is not run again when the
    search reaches it: its trial counts, and not against ``max_trials``. A trial far slower
    than the model predicts for the ``region`` runs again (``core.reruns``)."""
    rungs = ladder(plan)
    model, current = plan.model, plan.chunk_shape
    tried: list[Shape] = []
    before = {c: ts[-1] for c, ts in runner.by_shape.items() if ts}
    reused: list[Shape] = []

    def left() -> int:
        return max_trials - len(tried) + len(reused)

    def predict(chunk: Shape) -> Any:
        return evaluate(chunk, plan.spec, plan.work, res, model)

    def run(chunk: Shape, why: str) -> Trial:
        nonlocal model
        reuse = chunk in before and chunk not in tried
        if reuse:
            reused.append(chunk)
        tried.append(chunk)
        if reuse:
            t = before[chunk]
        else:  # the model's time for the region: a trial far slower runs again
            expected = (evaluate(chunk, region, plan.work, res, model).wall_seconds
                        if region is not None else None)
            t = runner.run(chunk, f"{why} {chunk}", expected)
        e = predict(chunk)
        model = refit(model, t.observation, e.task_bytes, res,
                      predicted_peak_bytes=e.peak_bytes_per_task)
        return t

    def fits(chunk: Shape) -> bool:
        return predict(chunk).peak_bytes_per_worker <= res.memory_budget_bytes

    def clean_runs() -> dict[Shape, list[float]]:
        """Every shape tried that ran cleanly, with its clean times."""
        return {c: w for c in dict.fromkeys(tried)
                if c not in runner.failed and (w := runner.walls(c))}

    last = run(current, "advised")
    # 1. follow the verdicts: too big -> smaller, too small -> bigger
    while left() > 0:
        d = -1 if current in runner.failed else direction(last.verdicts)
        if d == 0:
            break
        nxt = neighbour(rungs, current, d * STEP)
        if nxt is None or nxt in tried or (d > 0 and not fits(nxt)):
            break
        last = run(nxt, "smaller" if d < 0 else "bigger")
        if nxt in runner.failed or (current not in runner.failed and runner.wall(nxt)
                                    > runner.wall(current) * (1 + noise)):
            break  # that way got worse
        current = nxt
    # 2. healthy (or stuck): hill-climb; smaller first (more rounds rarely hurt memory),
    #    walking on while each step is faster; the other side is tried unless one step
    #    was clearly faster than where the climb began
    start = current
    for d in (-1, +1):
        here, clearly = start, False
        while left() > 0:
            nxt = neighbour(rungs, here, d * STEP)
            if nxt is None or nxt in tried or (d > 0 and not fits(nxt)):
                break
            run(nxt, "smaller" if d < 0 else "bigger")
            if nxt in runner.failed:
                break
            go_on, better = keep_walking(runner.wall(start), runner.wall(here),
                                         runner.wall(nxt), noise)
            if not go_on:
                break
            here, clearly = nxt, clearly or better
        if clearly:
            break
    # 3. a close call (within the measured noise) two rungs apart: the rung between them
    runs = clean_runs()
    pair = close_call(runs, noise)
    mid = between(rungs, *pair) if pair is not None else None
    if mid is not None and mid not in tried and left() > 0 and fits(mid):
        run(mid, "between")
        runs = clean_runs()
        pair = close_call(runs, noise)
    # 4. a close call is run once more, in alternating order
    if pair is not None and left() >= 2:
        for c in sorted(pair, key=tried.index, reverse=True):  # the other order this time
            run(c, "repeat")
        runs = clean_runs()
    # 5. trials left: the untried rungs right next to the fastest shape, the side whose
    #    shape one rung further on ran faster first
    if runs:
        for c in next_rungs(rungs, pick(runs, plan.spec.itemsize), tried, runs):
            if left() > 0 and fits(c):
                run(c, "neighbour")
        runs = clean_runs()
    # a reference run before the search (dask auto's) that the walk never reached is a
    # candidate too: a pick never ignores a clearly faster measured shape (the demo kept a
    # shape timed 2x slower than auto's, which ran cleanly on the same region)
    runs |= {c: w for c in before if c not in runs and c not in runner.failed and fits(c)
             and (w := runner.walls(c))}
    if not runs:
        why = next((t.observation.error for t in runner.trials if t.observation.error), None)
        raise TuningError(
            f"Expected at least one trial to finish without worker restarts or errors. Got "
            f"failures for every chunk shape tried ({sorted(set(tried))}); the smallest block "
            f"was {format_bytes(min(math.prod(c) for c in tried) * plan.spec.itemsize)}"
            + (f"; the first error: {' '.join(why.split())[:300]}." if why else ".")
        )
    return pick(runs, plan.spec.itemsize)
