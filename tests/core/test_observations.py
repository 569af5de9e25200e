"""Observation value objects: validation, equality, JSON round-trips, purity."""

from __future__ import annotations

import dataclasses
import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from chunkpilot.core.observations import (
    MemoryRecord,
    Observation,
    TaskRecord,
    Trial,
    WorkerInfo,
)
from chunkpilot.core.verdicts import VERDICT_KINDS, Verdict
from chunkpilot.errors import ChunkpilotError, InvalidArgumentError
from chunkpilot.report.records import load_observation, load_trials, save_observation, save_trials

W = "tcp://127.0.0.1:40001"


def _obs(**kw) -> Observation:
    base = dict(
        wall_seconds=2.5,
        tasks=(
            TaskRecord("('x-1', 0)", "x", W, 11, "compute", 0.1, 0.35, nbytes=800),
            TaskRecord("('x-1', 1)", "x", W, 11, "transfer", 0.4, 0.45),
            TaskRecord("('y-2', 0)", "y", W, 11, "compute", 0.5, 0.9, status="error"),
        ),
        memory=(MemoryRecord(0.0, W, 0, 120_000_000, 0),
                MemoryRecord(0.1, W, 800, 130_000_000, 5, "paused")),
        workers=(WorkerInfo(W, 2, 2**30),),
        restarts=1, pauses=2, killed_worker=True, erred_tasks=1,
        error="KilledWorker: boom", timed_out=False, target_fraction=None,
    )
    base.update(kw)
    return Observation(**base)


def test_observation_round_trips_through_json_exactly():
    obs = _obs()
    again = Observation.from_dict(json.loads(json.dumps(obs.to_dict())))
    assert again == obs
    assert hash(again.tasks) == hash(obs.tasks)


def test_save_and_load_observation(tmp_path):
    obs = _obs()
    assert load_observation(save_observation(obs, tmp_path / "o.json")) == obs


def test_trial_round_trip(tmp_path):
    trial = Trial("plan", [[100, 100, 50], [7]], _obs(),
                  [Verdict("too_big", "m", {"peak_memory_fraction": 0.9, "pauses": 2}, "fix")])
    assert trial.chunks == ((100, 100, 50), (7,))
    assert load_trials(save_trials([trial], tmp_path / "t.json")) == (trial,)


@given(
    st.lists(st.tuples(st.floats(0, 1e6), st.floats(0, 1e3), st.integers(0, 2**40)),
             max_size=20),
    st.floats(0, 1e6),
)
def test_round_trip_property(rows, wall):
    tasks = tuple(TaskRecord(f"k{i}", "g", W, i, "compute", s, s + d, nbytes=n)
                  for i, (s, d, n) in enumerate(rows))
    obs = Observation(wall_seconds=wall, tasks=tasks)
    assert Observation.from_dict(json.loads(json.dumps(obs.to_dict()))) == obs


@pytest.mark.parametrize(
    ("make", "match"),
    [
        # stop before start is a collector bug, refuse it
        (lambda: TaskRecord("k", "g", W, 1, "compute", 2.0, 1.0), "stop_s >= start_s"),
        # NaN would break equality after a JSON round-trip
        (lambda: TaskRecord("k", "g", W, 1, "compute", float("nan"), 1.0), "finite start_s"),
        (lambda: Observation(wall_seconds=-1.0), "wall_seconds >= 0"),
        (lambda: Observation(wall_seconds=float("inf")), "finite wall_seconds"),
        (lambda: Verdict("too_large", "m"), "verdict kind"),
        (lambda: Observation.from_dict({"wall_seconds": 1.0, "bogus": 1}), "unknown"),
    ],
    ids=["stop-before-start", "nan-time", "negative-wall", "inf-wall", "bad-kind", "unknown-key"],
)
def test_invalid_values_raise(make, match):
    with pytest.raises(InvalidArgumentError, match=match):
        make()
    assert issubclass(InvalidArgumentError, ChunkpilotError)


def test_values_are_frozen_and_slotted():
    obs = _obs()
    with pytest.raises(dataclasses.FrozenInstanceError):
        obs.wall_seconds = 3.0  # type: ignore[misc]
    assert not hasattr(obs, "__dict__")


def test_verdict_evidence_is_typed_and_hashable():
    v = Verdict("healthy", "ok", {"thread_utilisation": 0.9, "tasks": 4})
    assert v.evidence.thread_utilisation == 0.9 and v.evidence.tasks == 4
    assert v.evidence.to_dict() == {"tasks": 4, "thread_utilisation": 0.9}
    hash(v)
    assert "healthy" in VERDICT_KINDS
    with pytest.raises(InvalidArgumentError, match="unknown"):
        Verdict("healthy", "ok", {"a": 1})


def test_memory_record_process_bytes():
    assert MemoryRecord(0.0, W, 10, 20, 99).process_bytes == 30


def test_derived_peaks_and_task_count():
    from chunkpilot.core.observations import MemoryRecord, Observation, TaskRecord

    obs = Observation(
        wall_seconds=1.0,
        tasks=(TaskRecord("a", "g", "w", 0, "compute", 0.0, 0.1),
               TaskRecord("a", "g", "w", 0, "transfer", 0.1, 0.2),
               TaskRecord("b", "g", "w", 0, "compute", 0.2, 0.3)),
        memory=(MemoryRecord(0.1, "w", 10, 20, 0), MemoryRecord(0.2, "w", 5, 40, 7)),
    )
    assert obs.peak_process_bytes == 45
    assert obs.peak_spilled_bytes == 7
    assert obs.compute_task_count == 2
