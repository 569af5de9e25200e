"""Numbers read off an Observation, as the dashboard shows them: utilisation, gaps, shares.

Pure functions of the raw records; :mod:`chunkpilot.core.diagnose` turns them into verdicts.
"""

from __future__ import annotations

import statistics
from collections import defaultdict

from chunkpilot.core.observations import Observation, Trial

#: Task-stream actions of spilling (orange bars in the dashboard).
DISK_ACTIONS = ("disk-read", "disk-write")
#: Roots need to be several for "running ahead" to mean anything.
MIN_ROOT_TASKS = 4


def busy_seconds(obs: Observation, actions: tuple[str, ...] | None = None) -> float:
    """Thread-seconds spent in ``actions`` (all actions when ``None``)."""
    return sum(t.duration_s for t in obs.tasks if actions is None or t.action in actions)


def cluster_threads(obs: Observation) -> int:
    """Most worker threads alive at once (from memory samples), else all workers' threads."""
    nthreads = {w.address: w.nthreads for w in obs.workers}
    per_time: dict[float, int] = defaultdict(int)
    for m in obs.memory:
        per_time[m.time_s] += nthreads.get(m.worker, 1)
    rows = len({(t.worker, t.thread) for t in obs.tasks})
    return max(max(per_time.values(), default=0) or sum(nthreads.values()), rows, 1)


def first_task_start(obs: Observation) -> float:
    """Seconds from submitting the work to its first task starting (the start-up gap)."""
    return min((t.start_s for t in obs.tasks), default=0.0)


def active_seconds(obs: Observation) -> float:
    """Seconds from the first task's start to the last task's stop (the wall time without the
    start-up gap and the result's trip back); the whole wall time when no task was recorded."""
    if not obs.tasks:
        return obs.wall_seconds
    return max(t.stop_s for t in obs.tasks) - first_task_start(obs)


def trial_runs_seconds(trial: Trial) -> tuple[float, ...]:
    """Active seconds of every run of ``trial``'s work: its repeats when a short trial ran
    more than once, else its one observation's."""
    return trial.runs_active_s or (active_seconds(trial.observation),)


def thread_time(obs: Observation) -> float:
    """Thread-seconds available between the first task and the last: active span x threads."""
    return active_seconds(obs) * cluster_threads(obs)


def thread_utilisation(obs: Observation) -> float:
    """Share of thread-time (first task to last, x threads) spent computing."""
    tt = thread_time(obs)
    return busy_seconds(obs, ("compute",)) / tt if tt > 0 else 0.0


def idle_tail_share(obs: Observation, *, per_thread_cap_s: float = float("inf")) -> float:
    """Share of thread-time that threads sat idle at their ends while others worked: after
    their last task, and before their first (a thread that ran nothing: the whole span),
    each thread's idle ends at most ``per_thread_cap_s``. The start counts as the end does:
    one chunk on two threads left the other idle until the result's tiny finalize task ran
    on it, and that read as "gaps between tasks: use bigger chunks" (hunt 18)."""
    tt = thread_time(obs)
    if not obs.tasks or tt <= 0:
        return 0.0
    first: dict[tuple[str, int], float] = {}
    last: dict[tuple[str, int], float] = {}
    for t in obs.tasks:
        row = (t.worker, t.thread)
        first[row] = min(first.get(row, t.start_s), t.start_s)
        last[row] = max(last.get(row, 0.0), t.stop_s)
    start, end = min(first.values()), max(last.values())
    idle_rows = max(cluster_threads(obs) - len(last), 0)
    ends = [end - last[r] + first[r] - start for r in last] + [active_seconds(obs)] * idle_rows
    return sum(min(x, per_thread_cap_s) for x in ends) / tt


def chunk_tail_share(obs: Observation) -> float:
    """The idle tail that too few chunks explain: a thread waits for the others' last chunks
    at most one task long, so each thread's idle end counts up to the longest task. A longer
    wait (13 tasks of 9 ms all run by one of two workers) is the scheduler placing tiny tasks,
    not big chunks.

    >>> from chunkpilot.core.observations import TaskRecord, WorkerInfo
    >>> one = tuple(TaskRecord(f"k{i}", "f", "w1", 0, "compute", i / 100, i / 100 + 0.009)
    ...             for i in range(13))
    >>> obs = Observation(0.13, one, (), (WorkerInfo("w1", 1, 2**30), WorkerInfo("w2", 1, 2**30)))
    >>> round(idle_tail_share(obs), 2), round(chunk_tail_share(obs), 3)
    (0.5, 0.035)
    """
    longest = max((t.duration_s for t in obs.tasks), default=0.0)
    return idle_tail_share(obs, per_thread_cap_s=longest)


def overhead_share(obs: Observation) -> float:
    """Share of thread-time idle but not in the end tail: scheduling gaps between tasks."""
    tt = thread_time(obs)
    if tt <= 0:
        return 0.0
    return max(0.0, 1.0 - busy_seconds(obs) / tt - idle_tail_share(obs))


def transfer_share(obs: Observation) -> float:
    """Share of busy thread-time spent fetching data from other workers."""
    busy = busy_seconds(obs)
    return busy_seconds(obs, ("transfer",)) / busy if busy > 0 else 0.0


def disk_share(obs: Observation) -> float:
    """Share of busy thread-time spent reading or writing spilled data."""
    busy = busy_seconds(obs)
    return busy_seconds(obs, DISK_ACTIONS) / busy if busy > 0 else 0.0


def median_task_seconds(obs: Observation) -> float:
    """Compute time of the tasks that carry the work: each task group's plain median, and of
    those the time-weighted median (half of all compute time is in groups whose typical
    task is this long or shorter); 0 when nothing computed. A plain median over all tasks
    counts a reduction's bookkeeping tasks, which outnumber the chunks (7 chunks of 200 ms
    under a tree sum read as a 327 us "median task"); a time-weighted median over tasks is
    one stalled task's (on a loaded machine two tree-sum tasks of 600 took 250 ms each, and
    600 tasks of 40 us read as 240 ms tasks, not too small).

    >>> from chunkpilot.core.observations import TaskRecord
    >>> work = [TaskRecord(f"f-{i}", "f", "w", 0, "compute", 0.0, 0.2) for i in range(7)]
    >>> sums = [TaskRecord(f"s-{i}", "s", "w", 0, "compute", 0.2, 0.2003) for i in range(12)]
    >>> round(median_task_seconds(Observation(wall_seconds=1.0, tasks=(*work, *sums))), 3)
    0.2
    >>> tiny = [TaskRecord(f"a-{i}", "a", "w", 0, "compute", 0.0, 4e-5) for i in range(600)]
    >>> stalled = [TaskRecord(f"s-{i}", "s", "w", 0, "compute", 0.0, 0.25 if i < 2 else 1e-4)
    ...            for i in range(20)]
    >>> median_task_seconds(Observation(wall_seconds=1.0, tasks=(*tiny, *stalled)))
    0.0001
    """
    groups: dict[str, list[float]] = defaultdict(list)
    for t in obs.tasks:
        if t.action == "compute":
            groups[t.group].append(t.duration_s)
    typical = sorted((statistics.median(ds), sum(ds)) for ds in groups.values())
    total = sum(w for _, w in typical)
    if total <= 0:
        return statistics.median([m for m, _ in typical]) if typical else 0.0
    running = 0.0
    for m, w in typical:
        running += w
        if running >= total / 2:
            return m
    return typical[-1][0]


def peak_memory_fraction(obs: Observation) -> float:
    """Highest process memory (managed + unmanaged) of any worker, as a share of its limit."""
    limits = {w.address: w.memory_limit_bytes or 0 for w in obs.workers}
    return max(
        (m.process_bytes / limits[m.worker] for m in obs.memory if limits.get(m.worker)),
        default=0.0,
    )


def unmanaged_growth(obs: Observation) -> tuple[int, int, int]:
    """Largest rise of unmanaged memory over a worker's first sample.

    Returns ``(growth_bytes, managed_bytes_then, memory_limit_bytes)``.
    """
    limits = {w.address: w.memory_limit_bytes or 0 for w in obs.workers}
    base: dict[str, int] = {}
    best = (0, 0, 0)
    for m in obs.memory:
        growth = m.unmanaged_bytes - base.setdefault(m.worker, m.unmanaged_bytes)
        if growth > best[0]:
            best = (growth, m.managed_bytes, limits.get(m.worker, 0))
    return best


def memory_ramp(obs: Observation) -> float:
    """Rise of cluster-wide managed memory from the first sample to its peak, as a share of
    the cluster's memory limit."""
    limit = sum(w.memory_limit_bytes or 0 for w in obs.workers)
    managed: dict[float, int] = defaultdict(int)
    for m in obs.memory:
        managed[m.time_s] += m.managed_bytes + m.spilled_bytes
    if not managed or not limit:
        return 0.0
    series = [managed[t] for t in sorted(managed)]
    return max(0, max(series) - series[0]) / limit


def root_lead(obs: Observation) -> float:
    """How far (share of the run) root tasks finished ahead of everything else, by median."""
    compute = [t for t in obs.tasks if t.action == "compute"]
    if not compute:
        return 0.0
    root = min(compute, key=lambda t: t.start_s).group
    roots = [t.stop_s for t in compute if t.group == root]
    rest = [t.stop_s for t in compute if t.group != root]
    end = max(t.stop_s for t in compute)
    if len(roots) < MIN_ROOT_TASKS or not rest or end <= 0:
        return 0.0
    return max(0.0, (statistics.median(rest) - statistics.median(roots)) / end)


def peak_rise_bytes(obs: Observation) -> int:
    """Largest rise of a worker's process memory above its first sample in this observation:
    the run's own footprint, whatever an earlier run left behind."""
    first: dict[str, int] = {}
    best = 0
    for m in obs.memory:
        base = first.setdefault(m.worker, m.process_bytes)
        best = max(best, m.process_bytes - base)
    return best


def host_of(address: str) -> str:
    """The host part of a worker address (``tcp://10.0.0.5:40123`` -> ``10.0.0.5``)."""
    return address.split("://")[-1].rsplit(":", 1)[0]


def worker_slots(obs: Observation) -> dict[str, int]:
    """Worker address -> row. A worker first seen after another on the same host was last
    seen takes that one's row: the nanny restarted it under a new port."""
    seen: dict[str, list[float]] = {}
    for t, addr in [(m.time_s, m.worker) for m in obs.memory] + \
                   [(x, r.worker) for r in obs.tasks for x in (r.start_s, r.stop_s)]:
        span = seen.setdefault(addr, [t, t])
        span[0], span[1] = min(span[0], t), max(span[1], t)
    for w in obs.workers:  # known but never seen at work: never anyone's predecessor
        seen.setdefault(w.address, [0.0, float("inf")])
    slots: dict[str, int] = {}
    holders: list[tuple[str, float]] = []  # per row: host, when its latest worker was last seen
    for addr, (first, end) in sorted(seen.items(), key=lambda kv: (kv[1][0], kv[0])):
        host = host_of(addr)
        free = [i for i, (h, stop) in enumerate(holders) if h == host and stop < first]
        if free:
            slots[addr] = max(free, key=lambda i: holders[i][1])
            holders[slots[addr]] = (host, end)
        else:
            slots[addr] = len(holders)
            holders.append((host, end))
    return slots
