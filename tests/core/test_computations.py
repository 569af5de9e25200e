"""core.computations: the cluster watch's summaries, chunk reading, thinning and log line."""

from __future__ import annotations

import json

import pytest

from chunkpilot.core.computations import (
    ArrayChunks,
    ComputationSummary,
    GroupTime,
    block_shape,
    decimate,
    group_times,
    thin,
    warning_line,
)
from chunkpilot.core.diagnose import diagnose
from chunkpilot.core.observations import MemoryRecord, Observation, TaskRecord, WorkerInfo
from chunkpilot.core.verdicts import Verdict
from chunkpilot.errors import InvalidArgumentError

A, B = "tcp://10.0.0.1:1", "tcp://10.0.0.2:1"
TOO_SMALL = Verdict("too_small", "tiny", {"tasks": 900}, "Use fewer, larger chunks.")
FAILED = Verdict("failed", "it raised", {"erred_tasks": 1}, "Fix the code.")


def _summary(**kw):
    base = dict(id="abc", started_at=1.7e9, wall_seconds=3.0, tasks=900, threads=2,
                groups=(GroupTime("sum", 600, 1.5), GroupTime("ones", 300, 0.5)),
                arrays=(ArrayChunks("ones", (600,), (100,), 800),), verdicts=(TOO_SMALL,),
                client="Client-1")
    return ComputationSummary(**{**base, **kw})


@pytest.mark.parametrize(
    ("args", "ndim", "shapes", "expected"),
    [
        ([object(), (slice(0, 10), slice(20, 40, None))], 2, False, (10, 20)),  # getter
        ([(10, 20)], 2, True, (10, 20)),  # ones_like((10, 20))
        ([(10, 20)], 2, False, None),  # ints, but the task is not known to create blocks
        ([(1, 0)], 3, True, None),  # wrong length
        ([(slice(0, 10, 2),)], 1, False, None),  # strided: not a block
        ([(slice(None, 10),)], 1, False, None),  # open slice
        ([(True, 2)], 2, True, None),  # bools are not lengths
        (["a", [10, 20], {"x": 1}], 2, True, None),  # nothing shaped like a block
    ],
    ids=["slices", "shape", "shape-not-trusted", "ndim", "strided", "open", "bool", "none"],
)
def test_block_shape(args, ndim, shapes, expected):
    assert block_shape(args, ndim, shapes=shapes) == expected


def test_block_shape_takes_numpy_ints():
    np = pytest.importorskip("numpy")
    assert block_shape([(np.int64(5), np.int32(7))], 2, shapes=True) == (5, 7)


def test_summary_json_round_trip():
    s = _summary(verdicts=(TOO_SMALL, FAILED), truncated=True)
    d = json.loads(json.dumps(s.to_dict()))
    assert d["dominant_group"] == "sum" and d["mischunked"] is True
    assert ComputationSummary.from_dict(d) == s
    with pytest.raises(InvalidArgumentError, match="unknown"):
        ComputationSummary.from_dict({**d, "code": "x = secret()"})


@pytest.mark.parametrize(
    ("verdicts", "wall", "expected"),
    [((TOO_SMALL,), 3.0, True), ((FAILED,), 3.0, False), ((TOO_SMALL,), 0.2, False),
     ((Verdict("healthy", "ok"),), 3.0, False)],
    ids=["mis-chunked", "failed-only", "too-short", "healthy"],
)
def test_warning_line(verdicts, wall, expected):
    line = warning_line(_summary(verdicts=verdicts, wall_seconds=wall))
    assert (line is not None) == expected
    if expected:
        assert "\n" not in line
        assert "abc" in line and "too_small" in line and "Use fewer, larger chunks." in line


def test_warning_threshold_is_adjustable():
    assert warning_line(_summary(wall_seconds=0.2), min_wall_seconds=0.0) is not None


def test_group_times_rank_by_compute_time():
    tasks = (TaskRecord("a1", "load", A, 1, "compute", 0, 1),
             TaskRecord("a2", "load", A, 1, "compute", 1, 2),
             TaskRecord("b1", "sum", A, 1, "compute", 2, 5),
             TaskRecord("b1", "sum", A, 1, "transfer", 1.5, 2))
    assert group_times(Observation(5.0, tasks)) == (GroupTime("sum", 1, 3.0),
                                                    GroupTime("load", 2, 2.0))


def test_thin_keeps_memory_peaks_and_spreads_bars():
    tasks = tuple(TaskRecord(f"k{i}", "f", A, 1, "compute", i, i + 0.5) for i in range(1000))
    memory = tuple(MemoryRecord(i / 10, w, 0, (900 if i == 333 else 100) * 2**20, 0)
                   for i in range(1000) for w in (A, B))
    obs = Observation(100.0, tasks, memory, (WorkerInfo(A, 1, 2**30), WorkerInfo(B, 1, 2**30)))
    small = thin(obs, max_bars=100, max_samples=50)
    assert len(small.tasks) == 100
    assert small.tasks[-1].start_s >= 990  # the whole run, not its first tenth
    assert len(small.memory) <= 60
    assert small.peak_process_bytes == obs.peak_process_bytes == 900 * 2**20
    assert {v.kind for v in diagnose(small)} == {v.kind for v in diagnose(obs)}
    assert decimate(memory[:10], 50) == memory[:10]
    with pytest.raises(InvalidArgumentError, match="max_bars"):
        thin(obs, max_bars=0, max_samples=1)


def test_array_chunks_checks_axes():
    with pytest.raises(InvalidArgumentError, match="one chunk length per axis"):
        ArrayChunks("x", (2, 3), (10,))
