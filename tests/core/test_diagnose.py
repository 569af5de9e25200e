"""diagnose(): every verdict reachable from hand-built observations; saved real runs judged."""

from __future__ import annotations

import pathlib
from dataclasses import replace

import pytest

from chunkpilot.core import diagnose as dg
from chunkpilot.core import metrics as mt
from chunkpilot.core.observations import (
    MemoryRecord,
    Observation,
    TaskRecord,
    WorkerInfo,
)
from chunkpilot.core.verdicts import VERDICT_KINDS
from chunkpilot.report.records import load_observation

DATA = pathlib.Path(__file__).parent.parent / "data"
GiB = 2**30
A, B = "tcp://10.0.0.1:1", "tcp://10.0.0.2:1"


def _tasks(*rows):
    """rows: (group, worker, thread, action, start_s, stop_s)."""
    return tuple(TaskRecord(f"('{g}', {i})", g, w, th, act, s, e)
                 for i, (g, w, th, act, s, e) in enumerate(rows))


def _back_to_back(group, worker, thread, n, seconds, start=0.0, gap=0.01, action="compute"):
    return [(group, worker, thread, action, start + i * (seconds + gap),
             start + i * (seconds + gap) + seconds) for i in range(n)]


def _memory(worker, points):
    """points: (time_s, managed_bytes, unmanaged_bytes, spilled_bytes)."""
    return tuple(MemoryRecord(t, worker, m, u, s) for t, m, u, s in points)


def _flat_memory(worker, wall, unmanaged=150 * 2**20):
    return _memory(worker, [(t / 10 * wall, 2**20, unmanaged, 0) for t in range(11)])


# Two workers x 1 thread, 8 x 0.5 s tasks each, memory low: nothing to complain about.
HEALTHY = Observation(
    wall_seconds=4.2,
    tasks=_tasks(*_back_to_back("f", A, 1, 8, 0.5), *_back_to_back("f", B, 1, 8, 0.5)),
    memory=_flat_memory(A, 4.2) + _flat_memory(B, 4.2),
    workers=(WorkerInfo(A, 1, 2 * GiB), WorkerInfo(B, 1, 2 * GiB)),
)
ONE_WORKER = replace(HEALTHY, tasks=_tasks(*_back_to_back("f", A, 1, 8, 0.5)),
                     memory=_flat_memory(A, 4.2), workers=(WorkerInfo(A, 1, 2 * GiB),))


def _with_memory(points):
    return replace(ONE_WORKER, memory=_memory(A, points))


CASES = [
    # id, observation, verdict kinds that must appear
    ("healthy", HEALTHY, {"healthy"}),
    # 1000 x 1 ms tasks, one every 5 ms: 80% of thread time is scheduling gaps
    ("too_small", replace(ONE_WORKER, wall_seconds=5.0,
                          tasks=_tasks(*_back_to_back("f", A, 1, 1000, 0.001, gap=0.004))),
     {"too_small"}),
    # process memory 1.4 GiB of 2 GiB = 70% > target 60%
    ("too_big/peak", _with_memory([(0, 0, 150e6, 0), (2, int(1.2 * GiB), int(0.2 * GiB), 0)]),
     {"too_big"}),
    ("too_big/spill", _with_memory([(0, 0, 150e6, 0), (2, 2**20, 150e6, 10 * 2**20)]),
     {"too_big"}),
    ("too_big/pause", replace(ONE_WORKER, pauses=1), {"too_big"}),
    ("too_big/restart", replace(ONE_WORKER, restarts=2), {"too_big"}),
    ("too_big/killed", replace(ONE_WORKER, killed_worker=True, error="KilledWorker: x"),
     {"too_big", "failed"}),
    # 3 x 1 s chunks on 2 threads: one thread idles for the last second (25% of thread time)
    ("too_big/idle-tail", replace(
        HEALTHY, wall_seconds=2.0,
        tasks=_tasks(*_back_to_back("f", A, 1, 2, 1.0, gap=0), *_back_to_back("f", B, 1, 1, 1.0))),
     {"too_big"}),
    # unmanaged grows by 650 MB (30% of 2 GiB) while managed stays at 1 MiB; peak 38% < target
    ("unmanaged", _with_memory([(0, 2**20, 150e6, 0), (2, 2**20, 800e6, 0), (4, 2**20, 160e6, 0)]),
     {"unmanaged_memory"}),
    # every 1 s compute needs 0.6 s of transfer
    ("transfer_bound", replace(HEALTHY, wall_seconds=6.6, tasks=_tasks(
        *_back_to_back("f", A, 1, 4, 1.0, gap=0.6), *_back_to_back("f", B, 1, 4, 1.0, gap=0.6),
        *_back_to_back("f", A, 1, 4, 0.6, start=1.0, gap=1.0, action="transfer"),
        *_back_to_back("f", B, 1, 4, 0.6, start=1.0, gap=1.0, action="transfer"))),
     {"transfer_bound"}),
    ("spill_bound", replace(ONE_WORKER, wall_seconds=6.0, tasks=_tasks(
        *_back_to_back("f", A, 1, 4, 1.0, gap=0.5),
        *_back_to_back("f", A, 1, 4, 0.5, start=1.0, gap=1.0, action="disk-write"))),
     {"spill_bound", "too_big"}),
    # 8 loads finish in the first half, 8 reducers in the second; managed climbs 25% of limit
    ("input_overproduction", replace(ONE_WORKER, wall_seconds=3.3, tasks=_tasks(
        *_back_to_back("load", A, 1, 8, 0.2, gap=0),
        *_back_to_back("mean", A, 1, 8, 0.2, start=1.6, gap=0)),
        memory=_memory(A, [(t / 10, int(0.5 * GiB * min(t, 16) / 16), 150e6, 0)
                           for t in range(0, 33)])),
     {"input_overproduction"}),
    # 0.5 s tasks with 0.3 s gaps: tasks are long enough (not too_small) but threads compute
    # only 62 % of the time, so the run is not healthy
    ("idle_threads", replace(HEALTHY, wall_seconds=6.5, tasks=_tasks(
        *_back_to_back("f", A, 1, 8, 0.5, gap=0.3), *_back_to_back("f", B, 1, 8, 0.5, gap=0.3))),
     {"idle_threads"}),
    ("failed/error", replace(HEALTHY, error="ValueError: bad input", erred_tasks=1), {"failed"}),
    ("failed/timeout", replace(HEALTHY, timed_out=True, error="TimeoutError: x"), {"failed"}),
]


@pytest.mark.parametrize(("obs", "expected"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_verdicts(obs, expected):
    verdicts = dg.diagnose(obs)
    kinds = {v.kind for v in verdicts}
    assert expected <= kinds, [v.message for v in verdicts]
    if "healthy" in kinds:
        assert kinds == {"healthy"}
    for v in verdicts:
        assert v.message
        assert v.evidence.items()
        assert v.kind == "healthy" or v.fix


def test_healthy_cases_only_healthy():
    assert [v.kind for v in dg.diagnose(HEALTHY)] == ["healthy"]
    assert [v.kind for v in dg.diagnose(ONE_WORKER)] == ["healthy"]


def test_every_kind_is_reachable():
    reached = {v.kind for _, obs, _ in CASES for v in dg.diagnose(obs)}
    assert reached == set(VERDICT_KINDS)


def test_unmanaged_verdict_names_malloc_trim():
    (v,) = [v for v in dg.diagnose(CASES[8][1]) if v.kind == "unmanaged_memory"]
    assert "MALLOC_TRIM_THRESHOLD_" in v.fix
    assert v.evidence.unmanaged_growth_bytes == 650_000_000


def test_a_worker_left_idle_by_tiny_tasks_is_not_too_big():
    """13 tasks of 9 ms all run by one of two workers (a tune trial seen on a LocalCluster):
    the other worker's idle half is the scheduler placing tiny tasks, not too few chunks, so
    no "too_big" beside "too_small"; three 1 s chunks on two threads still are too few."""
    tiny = replace(HEALTHY, wall_seconds=0.2, tasks=_tasks(*_back_to_back("f", A, 1, 13, 0.009)),
                   memory=_flat_memory(A, 0.2) + _flat_memory(B, 0.2))
    assert mt.idle_tail_share(tiny) == pytest.approx(0.5)
    verdicts = {v.kind: v for v in dg.diagnose(tiny)}
    assert "too_big" not in verdicts and "idle_threads" in verdicts
    idle = verdicts["idle_threads"]
    assert "too few chunks" not in idle.message and "bigger chunks" in idle.fix
    few = dict((c[0], c[1]) for c in CASES)["too_big/idle-tail"]
    assert mt.chunk_tail_share(few) == pytest.approx(0.25)


def test_too_small_needs_gaps_not_just_short_tasks():
    # 1 ms tasks packed back to back: short, but threads never wait, so no verdict
    packed = replace(ONE_WORKER, wall_seconds=1.0,
                     tasks=_tasks(*_back_to_back("f", A, 1, 1000, 0.001, gap=0)))
    assert "too_small" not in {v.kind for v in dg.diagnose(packed)}


def test_tiny_tasks_with_two_stalled_bookkeeping_tasks_are_still_too_small():
    """Seen on a loaded machine (the watch test failed 2 runs in 5): 600 tasks of 40 us and
    a tree sum's 20 tasks, two of them stalled 250 ms by the load. The time-weighted median
    over tasks was a stalled task's (240 ms: not small), so only idle_threads was said."""
    rows = [*_back_to_back("add", A, 1, 300, 40e-6, gap=400e-6),
            *_back_to_back("add", B, 1, 300, 40e-6, gap=400e-6),
            *_back_to_back("sum", A, 1, 18, 100e-6, start=0.14, gap=400e-6),
            ("sum", A, 1, "compute", 0.2, 0.45), ("sum", B, 1, "compute", 0.2, 0.45)]
    obs = replace(HEALTHY, wall_seconds=0.5, tasks=_tasks(*rows))
    assert mt.median_task_seconds(obs) == pytest.approx(100e-6)
    assert "too_small" in {v.kind for v in dg.diagnose(obs)}


def test_chunks_of_200_ms_under_a_tree_sum_are_not_too_small():
    """Hunt: 7 chunks of 200 ms on 2 threads, then 12 sum tasks of 0.3 ms with waits for
    their inputs: the plain median task was a sum's (327 us) and tune called its own pick
    "too small, up to 305x more elements"; the tasks doing the work took 200 ms."""
    rows = [*_back_to_back("sleepy", A, 1, 4, 0.2, gap=0.0),
            *_back_to_back("sleepy", A, 2, 3, 0.2, gap=0.0)]
    rows += _back_to_back("sum", A, 1, 12, 0.0003, start=0.8, gap=0.02)
    obs = replace(ONE_WORKER, wall_seconds=1.1, tasks=_tasks(*rows),
                  workers=(WorkerInfo(A, 2, 2 * GiB),))
    assert mt.median_task_seconds(obs) == pytest.approx(0.2)
    assert "too_small" not in {v.kind for v in dg.diagnose(obs)}
    tiny = replace(obs, tasks=_tasks(*_back_to_back("f", A, 1, 40, 0.0003, gap=0.02)))
    (v,) = [v for v in dg.diagnose(tiny) if v.kind == "too_small"]  # truly tiny: still said
    assert "tasks doing the work computed for 300.00 us (time-weighted median" in v.message


def test_thresholds_are_module_constants(monkeypatch):
    # raising the bar makes the same gaps acceptable: the constant is what decides
    obs = CASES[1][1]
    monkeypatch.setattr(dg, "TOO_SMALL_OVERHEAD_SHARE", 0.95)
    assert "too_small" in {v.kind for v in dg.diagnose(obs)}  # gaps still keep threads idle
    monkeypatch.setattr(dg, "HEALTHY_UTILISATION", 0.0)
    assert "too_small" not in {v.kind for v in dg.diagnose(obs)}


def test_short_tasks_whose_gaps_keep_threads_idle_are_too_small_under_the_gap_bar():
    """1 ms tasks with 0.6 ms gaps: 37.5 % of thread time between tasks, under the 40 % bar,
    but threads compute only 62 % of the time: too small, not merely idle."""
    obs = replace(ONE_WORKER, wall_seconds=1.6,
                  tasks=_tasks(*_back_to_back("f", A, 1, 1000, 0.001, gap=0.0006)))
    assert 0.3 < dg.overhead_share(obs) < dg.TOO_SMALL_OVERHEAD_SHARE
    assert "too_small" in {v.kind for v in dg.diagnose(obs)}


@pytest.mark.parametrize(
    ("fn", "obs", "expected"),
    [
        (mt.cluster_threads, HEALTHY, 2),
        (mt.busy_seconds, HEALTHY, 8.0),
        (mt.thread_utilisation, HEALTHY, 8.0 / (2 * 4.07)),  # first task to last, not wall
        (mt.idle_tail_share, CASES[7][1], 0.25),  # 1 idle thread-second of 4
        (mt.overhead_share, CASES[7][1], 0.0),
        (mt.transfer_share, CASES[9][1], 2.4 / 6.4),
        (mt.disk_share, CASES[10][1], 2.0 / 6.0),
        (mt.median_task_seconds, HEALTHY, 0.5),
        (mt.peak_memory_fraction, CASES[2][1], 0.7),  # 1.4 GiB of 2 GiB
        (mt.memory_ramp, CASES[11][1], 0.25),  # 0.5 GiB of 2 GiB
        (mt.root_lead, CASES[11][1], 1.6 / 3.2),
        (mt.root_lead, HEALTHY, 0.0),  # a single group has nothing to run ahead of
    ],
    ids=["threads", "busy", "utilisation", "idle-tail", "overhead", "transfer", "disk",
         "median", "peak", "ramp", "root-lead", "root-lead-single-group"],
)
def test_helpers(fn, obs, expected):
    assert fn(obs) == pytest.approx(expected, rel=1e-6, abs=1e-9)


def test_healthy_states_its_numbers_and_ignores_the_start_up_gap():
    late = replace(HEALTHY, wall_seconds=5.2, tasks=tuple(
        replace(t, start_s=t.start_s + 1.0, stop_s=t.stop_s + 1.0) for t in HEALTHY.tasks))
    (v,) = dg.diagnose(late)  # a 1 s start-up gap is reported, not called idle threads
    assert v.kind == "healthy"
    assert v.evidence.startup_seconds == pytest.approx(1.0)
    assert f"{v.evidence.thread_utilisation:.0%}" in v.message and "start-up took" in v.message


def test_empty_observation_is_healthy():
    assert [v.kind for v in dg.diagnose(Observation(wall_seconds=0.0))] == ["healthy"]


@pytest.mark.parametrize(
    ("name", "expected", "absent"),
    [
        ("obs_too_small.json", "too_small", {"healthy", "too_big"}),
        ("obs_too_big_killed.json", "too_big", {"healthy", "too_small"}),
        ("obs_healthy.json", "healthy", set()),
    ],
)
def test_saved_real_observations(name, expected, absent):
    """Observations recorded on real LocalClusters by ``tests/data/make_observations.py``."""
    verdicts = dg.diagnose(load_observation(DATA / name))
    kinds = {v.kind for v in verdicts}
    assert expected in kinds, [v.message for v in verdicts]
    assert not kinds & absent
    if expected == "healthy":
        assert kinds == {"healthy"}


def test_killed_worker_message_names_the_task_group_in_whole_sentences():
    obs = load_observation(DATA / "obs_too_big_killed.json")
    failed = next(v for v in dg.diagnose(obs) if v.kind == "failed")
    assert "sum-bedf65a1" not in failed.message and "('" not in failed.message
    assert "task 'sum' (block 3) on 1 different workers" in failed.message
    assert failed.message.endswith("tcp://127.0.0.1:42837.")  # a whole sentence, not cut
    assert "..." not in failed.message
    assert failed.evidence.error == obs.error  # the raw error stays in the evidence


def test_a_few_slow_stores_are_not_spilling():
    # workers log "disk-write" for any store > 5 ms (a busy GIL): 3 x 10 ms of 8 s is no spill
    slow = replace(HEALTHY, tasks=HEALTHY.tasks + _tasks(
        *_back_to_back("f", A, 1, 3, 0.01, start=0.5, gap=1.0, action="disk-write")))
    assert [v.kind for v in dg.diagnose(slow)] == ["healthy"]


def test_a_run_without_tasks_does_not_quote_a_start_up_time():
    # hunt: an empty watch block said "start-up took 0.00 us before the first task"
    (v,) = dg.diagnose(Observation(wall_seconds=1.0))
    assert "no task was recorded" in v.message and "start-up" not in v.message


def test_memory_held_before_a_run_that_ran_nothing_is_not_the_chunks_doing():
    """Hunt 14: an empty watch block on a worker holding 62% of its limit (imports, an
    earlier computation) was told "Chunks are too big ... halve the largest axis"."""
    held = replace(ONE_WORKER, wall_seconds=0.5, tasks=(),
                   memory=_memory(A, [(0, 0, int(1.3 * GiB), 0), (0.5, 0, int(1.3 * GiB), 0)]))
    (v,) = dg.diagnose(held)
    assert v.kind == "healthy" and "no task was recorded" in v.message
    # a run that restarted a worker before any task finished is still judged
    died = replace(held, restarts=1)
    assert "too_big" in {v.kind for v in dg.diagnose(died)}


def test_idle_threads_that_moved_data_say_so_not_an_idle_end_of_zero():
    """Hunt 14: a spilling, transfer-bound run computed 26% of the time and was told
    "threads sat idle at the end for 0% of thread time (too few chunks to share out)"."""
    rows = []
    for w in (A, B):
        for i in range(10):
            rows += [("f", w, 1, "transfer", i * 1.0, i * 1.0 + 0.7),
                     ("f", w, 1, "compute", i * 1.0 + 0.7, i * 1.0 + 1.0)]
    obs = replace(HEALTHY, wall_seconds=10.0, tasks=_tasks(*rows))
    (v,) = [v for v in dg.diagnose(obs) if v.kind == "idle_threads"]
    assert "moving data" in v.message and "idle at the end" not in v.message, v.message


def test_an_idle_end_too_big_explains_is_not_said_twice():
    """Hunt 13: 3 chunks of 1 s on 2 threads got too_big ("idle for 49% ... waiting for the
    last chunks") and idle_threads ("idle at the end for 50%"): one cause, two numbers."""
    obs = replace(HEALTHY, wall_seconds=2.0, tasks=_tasks(
        *_back_to_back("f", A, 1, 2, 1.0, gap=0), *_back_to_back("f", B, 1, 1, 1.0)))
    kinds = [v.kind for v in dg.diagnose(obs)]
    assert "too_big" in kinds and "idle_threads" not in kinds, kinds


def test_one_chunk_whose_finalize_ran_on_the_other_thread_is_too_few_chunks_not_gaps():
    """Hunt 18: one chunk of 2 s on two threads, the result's tiny finalize on the second
    thread at the end: its idle start read as "gaps between tasks took 50% ... Use bigger
    chunks", the wrong way. An idle start is an idle end: too few chunks to share out."""
    obs = replace(HEALTHY, wall_seconds=2.1, tasks=_tasks(
        ("f", A, 1, "compute", 0.0, 2.0), ("finalize", B, 1, "compute", 2.0, 2.001)))
    assert mt.idle_tail_share(obs) > 0.45 and mt.overhead_share(obs) < 0.05
    verdicts = dg.diagnose(obs)
    assert "too_big" in [v.kind for v in verdicts], verdicts
    assert not any("bigger chunks" in (v.fix or "") for v in verdicts), verdicts
