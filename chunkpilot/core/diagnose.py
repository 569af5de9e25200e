"""Turn an Observation into verdicts about the chunk size, with the numbers behind them."""

from __future__ import annotations

from chunkpilot.core.errortext import error_summary
from chunkpilot.core.metrics import (
    DISK_ACTIONS,
    busy_seconds,
    chunk_tail_share,
    cluster_threads,
    disk_share,
    first_task_start,
    idle_tail_share,
    median_task_seconds,
    memory_ramp,
    overhead_share,
    peak_memory_fraction,
    root_lead,
    thread_time,
    thread_utilisation,
    transfer_share,
    unmanaged_growth,
)
from chunkpilot.core.observations import Observation
from chunkpilot.core.verdicts import Evidence, Verdict
from chunkpilot.types import DEFAULT_MEMORY_FRACTIONS
from chunkpilot.units import format_bytes, format_seconds, plural

__all__ = ["diagnose"]

#: Dask's rule of thumb: a task costs the scheduler about 1 ms, so tasks should run >= 100 ms.
TOO_SMALL_TASK_S = 0.1
#: ... and "too small" only when that overhead shows: threads idle between tasks this much,
#: or gaps over the end tail keep threads under HEALTHY_UTILISATION (32 KiB tasks: 47 % busy).
TOO_SMALL_OVERHEAD_SHARE = 0.4
#: Threads idle at the end for this share of thread time means too few chunks to share out.
IDLE_TAIL_SHARE_MAX = 0.2
#: Unmanaged memory grew by at least this share of the limit (below, it is just noise) ...
UNMANAGED_MIN_LIMIT_SHARE = 0.2
#: ... and by at least this multiple of managed memory: dask's own data is not the problem.
UNMANAGED_TO_MANAGED_MIN = 1.0
#: Red transfer bars over this share of busy time: workers wait on each other's data.
TRANSFER_SHARE_MAX = 0.3
#: Orange disk bars over this share of busy time: the run is dominated by spilling.
DISK_SHARE_MAX = 0.2
#: ... and transfers or disk must also fill this share of all thread time: with tiny tasks,
#: a few ms of transfer outweigh the compute, but the run was waiting on overhead, not data.
IO_MIN_THREAD_SHARE = 0.1
#: Root (load) tasks finished this share of the run ahead of their consumers ...
ROOT_LEAD_MIN = 0.25
#: ... while managed memory climbed by this share of the cluster's memory limit.
MEMORY_RAMP_MIN = 0.2
#: Below this share of compute between the first task and the last, a run is not healthy.
HEALTHY_UTILISATION = 0.8
#: Compare peaks with this fraction when ``distributed.worker.memory.target`` is disabled.
DEFAULT_TARGET_FRACTION = DEFAULT_MEMORY_FRACTIONS["target_fraction"]


def _r(x: float) -> float:
    """Four significant digits: evidence is for reading, not for recomputing."""
    return float(f"{float(x):.4g}")


def _too_big(obs: Observation) -> Verdict | None:
    target = obs.target_fraction or DEFAULT_TARGET_FRACTION
    # a failed run's stream stops early: its idle end says nothing of the chunk size
    peak, tail = peak_memory_fraction(obs), 0.0 if obs.errored else chunk_tail_share(obs)
    spilled = obs.peak_spilled_bytes
    disk_s = busy_seconds(obs, DISK_ACTIONS)
    why: list[str] = []
    fixes: list[str] = []
    if peak > target:
        why.append(f"worker memory peaked at {peak:.0%} of its limit, above the {target:.0%} "
                   "target (the dashboard's memory bar turns orange there)")
    # A disk bar alone is not spilling ("disk-write" is logged for any store > 5 ms, e.g. a
    # busy GIL): without spilled bytes in a heartbeat, disk time must be a real share.
    if spilled:
        why.append(f"workers spilled {format_bytes(spilled)} to disk (grey in the memory bar, "
                   "orange bars in the task stream)")
    elif disk_s >= IO_MIN_THREAD_SHARE * thread_time(obs) and disk_s > 0:
        why.append(f"workers spent {format_seconds(disk_s)} writing to or reading from disk "
                   "(orange bars in the task stream)")
    if obs.pauses:
        why.append(f"workers paused {plural(obs.pauses, 'time')} because memory passed the pause "
                   "threshold (red memory bar, the task stream stops)")
    if obs.restarts:
        terminate = obs.terminate_fraction or DEFAULT_MEMORY_FRACTIONS["terminate_fraction"]
        why.append(f"{plural(obs.restarts, 'worker process', 'worker processes')} died or "
                   f"{'was' if obs.restarts == 1 else 'were'} restarted (the nanny restarts "
                   f"a worker above {terminate:.0%} of its limit)")
    if obs.killed_worker:
        why.append("the computation failed with KilledWorker: workers kept dying on a task")
    if why:
        fixes.append("Use smaller chunks (halve the largest axis) or give each thread more "
                     "memory (fewer threads per worker, or a larger memory limit).")
    if tail > IDLE_TAIL_SHARE_MAX:
        why.append(f"threads sat idle for {tail:.0%} of thread time with no chunk left to "
                   "run (empty rows at the end, or the start, of the task stream)")
        fixes.append("Use more, smaller chunks: at least 2-4 chunks per worker thread.")
    if not why:
        return None
    evidence = Evidence(peak_memory_fraction=_r(peak), target_fraction=_r(target),
                   spilled_bytes=spilled, disk_seconds=_r(disk_s), pauses=obs.pauses,
                   restarts=obs.restarts, killed_worker=obs.killed_worker,
                   idle_tail_share=_r(tail), threads=cluster_threads(obs))
    return Verdict("too_big", "Chunks are too big for this cluster: " + "; ".join(why) + ".",
                   evidence, " ".join(fixes))


def _too_small(obs: Observation) -> Verdict | None:
    median, overhead = median_task_seconds(obs), overhead_share(obs)
    n = sum(1 for t in obs.tasks if t.action == "compute")
    bind = thread_utilisation(obs) < HEALTHY_UTILISATION and overhead > idle_tail_share(obs)
    if not n or median >= TOO_SMALL_TASK_S or (overhead < TOO_SMALL_OVERHEAD_SHARE and not bind):
        return None
    factor = max(2, round(TOO_SMALL_TASK_S / max(median, 1e-6)))
    return Verdict(
        "too_small",
        f"Chunks are too small: the tasks doing the work computed for {format_seconds(median)} "
        f"(time-weighted median; dask wants >= {format_seconds(TOO_SMALL_TASK_S)}), and worker "
        f"threads spent {overhead:.0%} of their time between tasks on scheduling overhead for "
        f"{plural(n, 'task')}. The dashboard's task stream shows thin slivers with white gaps "
        "between them.",
        Evidence(median_task_seconds=_r(median), overhead_share=_r(overhead), tasks=n,
            thread_utilisation=_r(thread_utilisation(obs))),
        f"Use fewer, larger chunks: up to about {factor}x more elements per chunk, as memory "
        "allows, so each task runs 100 ms-1 s.",
    )


def _unmanaged(obs: Observation) -> Verdict | None:
    if obs.executor == "threads":  # no managed / unmanaged split without workers
        return None
    growth, managed, limit = unmanaged_growth(obs)
    if not limit or growth < max(UNMANAGED_MIN_LIMIT_SHARE * limit,
                                 UNMANAGED_TO_MANAGED_MIN * managed):
        return None
    return Verdict(
        "unmanaged_memory",
        f"Unmanaged memory (the lighter part of the dashboard's memory bar) grew by "
        f"{format_bytes(growth)} ({growth / limit:.0%} of the worker limit) while dask's own "
        f"managed data was {format_bytes(managed)}: memory dask does not track, such as "
        "temporaries inside your function or freed memory not yet returned to the OS.",
        Evidence(unmanaged_growth_bytes=growth, managed_bytes=managed, memory_limit_bytes=limit),
        "If it rises while tasks run, your function makes large temporary copies: use smaller "
        "chunks or fewer intermediates. If it stays high between tasks, set "
        "MALLOC_TRIM_THRESHOLD_=65536 for workers (distributed.nanny.pre-spawn-environ).",
    )


def _busy_elsewhere(obs: Observation, share: float, limit: float,
                    actions: tuple[str, ...]) -> float | None:
    """Seconds on ``actions`` when over ``limit`` of busy time and not a trifle, else None."""
    seconds = busy_seconds(obs, actions)
    if share <= limit or seconds < IO_MIN_THREAD_SHARE * thread_time(obs):
        return None
    return seconds


def _transfer(obs: Observation) -> Verdict | None:
    share = transfer_share(obs)
    if (seconds := _busy_elsewhere(obs, share, TRANSFER_SHARE_MAX, ("transfer",))) is None:
        return None
    return Verdict(
        "transfer_bound",
        f"Workers spent {share:.0%} of their busy time fetching data from each other (red "
        "bars in the dashboard's task stream) instead of computing.",
        Evidence(transfer_share=_r(share), transfer_seconds=_r(seconds)),
        "Chunk along the axes you reduce or combine over less, so each task needs fewer "
        "neighbours' chunks; or use fewer, bigger workers.",
    )


def _spill(obs: Observation) -> Verdict | None:
    share = disk_share(obs)
    if (seconds := _busy_elsewhere(obs, share, DISK_SHARE_MAX, DISK_ACTIONS)) is None:
        return None
    return Verdict(
        "spill_bound",
        f"Workers spent {share:.0%} of their busy time writing to or reading from disk "
        "(orange bars in the dashboard's task stream): memory is too tight for the data held.",
        Evidence(disk_share=_r(share), disk_seconds=_r(seconds)),
        "Use smaller chunks, more memory per worker, or a graph that keeps less data alive.",
    )


def _overproduction(obs: Observation) -> Verdict | None:
    lead, ramp = root_lead(obs), memory_ramp(obs)
    if lead < ROOT_LEAD_MIN or ramp < MEMORY_RAMP_MIN:
        return None
    return Verdict(
        "input_overproduction",
        f"Loading tasks ran ahead of the tasks consuming them (their median finished "
        f"{lead:.0%} of the run earlier) and managed memory climbed by {ramp:.0%} of the "
        "cluster's limit: the dashboard's memory bars grow while the first task colour "
        "dominates the task stream.",
        Evidence(root_lead_share=_r(lead), memory_ramp_share=_r(ramp)),
        "Use smaller input chunks, lower distributed.scheduler.worker-saturation (e.g. 1.0), "
        "or process the inputs in batches.",
    )


def _failed(obs: Observation) -> Verdict | None:
    if not obs.errored:
        return None
    what = "timed out and was cancelled" if obs.timed_out else "failed"
    error = error_summary(obs.error)
    return Verdict(
        "failed",
        f"The computation {what}: {error}",
        Evidence(error=obs.error, timed_out=obs.timed_out, erred_tasks=obs.erred_tasks),
        "See the other verdicts; if none applies, fix the error in the computation itself.",
    )


def diagnose(obs: Observation) -> tuple[Verdict, ...]:
    """Judge a run's chunking from its observation; ``("healthy",)`` when nothing is wrong.

    Examples
    --------
    >>> diagnose(Observation(wall_seconds=1.0))[0].kind
    'healthy'
    """
    checks = (_failed, _too_big, _unmanaged, _spill, _overproduction, _transfer, _too_small,
              _idle_threads)[:4 if obs.errored else None]  # a stopped run: its memory only
    idle = not obs.tasks and not (obs.errored or obs.restarts or obs.pauses or obs.killed_worker)
    # nothing ran: memory the workers held before (an earlier computation's, their imports)
    # is not these chunks' doing (an empty watch block was told to halve its chunks)
    found = () if idle else tuple(v for check in checks if (v := check(obs)) is not None)
    if any(v.kind == "too_big" and v.evidence.idle_tail_share > IDLE_TAIL_SHARE_MAX
           for v in found):  # the idle end is explained (once, with one number) by too_big
        found = tuple(v for v in found if v.kind != "idle_threads")
    if found:
        return found
    target = obs.target_fraction or DEFAULT_TARGET_FRACTION
    use, peak = thread_utilisation(obs), peak_memory_fraction(obs)
    busy = (f"threads computed {use:.0%} of the time from the first task to the last" if obs.tasks
            else "no task was recorded (nothing to judge the chunks by)")
    start = (f"; start-up took {format_seconds(first_task_start(obs))} before the first task"
             if obs.tasks else "")
    return (Verdict(
        "healthy",
        f"No chunking problem: {busy}, memory peaked at {peak:.0%} of the limit (target "
        f"{target:.0%}), nothing spilled or restarted{start}.",
        Evidence(thread_utilisation=_r(use), peak_memory_fraction=_r(peak),
                 target_fraction=_r(target), startup_seconds=_r(first_task_start(obs)))),)


def _idle_threads(obs: Observation) -> Verdict | None:
    """Threads idle too often for "healthy", with no other verdict to explain it."""
    use = thread_utilisation(obs)
    if not any(t.action == "compute" for t in obs.tasks) or use >= HEALTHY_UTILISATION:
        return None
    gaps, tail, io = overhead_share(obs), idle_tail_share(obs), 1.0 - use
    few = chunk_tail_share(obs)  # the part of the tail one last chunk per thread explains
    moving = io - gaps - tail  # thread time in transfers and disk, not in compute
    if moving > max(gaps, tail):  # neither gaps nor an idle end: the data moved
        why, fix = (f"threads spent {moving:.0%} of thread time moving data (transfers "
                    "between workers, spilling to disk)", "See the transfer and spill "
                    "verdicts; chunks that match how the computation reads the data move less.")
    elif tail >= gaps and few >= tail - few:
        why, fix = (f"threads sat idle at the start or end for {tail:.0%} of thread time (too "
                    "few chunks to share out)", "Use more, smaller chunks: several per worker "
                    "thread.")
    elif tail >= gaps:
        why, fix = (f"threads sat idle for {tail:.0%} of thread time while others ran the "
                    "tasks, longer than any task lasted (tasks too short for the scheduler to "
                    "spread over the workers)", "Use bigger chunks: tasks of 100 ms or more.")
    else:
        why, fix = (f"gaps between tasks took {gaps:.0%} of thread time (scheduling, waiting "
                    "for inputs)", "Use bigger chunks, or check the task stream for slow "
                    "dependencies (reads, transfers) between the tasks.")
    return Verdict(
        "idle_threads",
        f"Threads computed only {use:.0%} of the time from the first task to the last "
        f"(healthy is at least {HEALTHY_UTILISATION:.0%}): {why}; {io:.0%} idle in all.",
        Evidence(thread_utilisation=_r(use), overhead_share=_r(gaps), idle_tail_share=_r(tail),
                 startup_seconds=_r(first_task_start(obs)), threads=cluster_threads(obs)),
        fix)
