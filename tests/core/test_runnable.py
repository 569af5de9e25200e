"""Which other chunkings get a predicted wall time: those that would finish, run sizes the
function ran, and keep whole the axes that must stay whole."""

from __future__ import annotations

from chunkpilot.core.explain import explanation_lines
from chunkpilot.core.rechunk import rechunk_advice
from chunkpilot.core.runnable import memory_fit, no_wall_reason, split_whole_axes
from chunkpilot.types import Resources
from tests.core.plans import synthetic_plan

MiB = 2**20


def test_memory_fit_words_per_threshold():
    res = Resources(2, 1, 512 * MiB)
    assert memory_fit(int(0.5 * 512 * MiB), res) == ("within the target", True)
    assert "ABOVE the target: workers would spill" in memory_fit(int(0.65 * 512 * MiB), res)[0]
    assert memory_fit(int(0.9 * 512 * MiB), res) == (
        "ABOVE the pause threshold: workers would pause and spill", True)
    assert not memory_fit(int(0.97 * 512 * MiB), res)[1]
    threads = Resources(1, 2, 512 * MiB, "threads")
    assert memory_fit(600 * MiB, threads) == (
        "over the 512.00 MiB memory limit: it would run out of memory", False)


def test_current_chunks_splitting_an_axis_that_must_stay_whole_get_no_wall_time():
    """Hunt 10: an FFT pipeline needs axis 1 whole; the current (512, 512) chunks, on which
    it raises, were quoted "predicted wall 220.25 ms (1.41x this plan)"."""
    plan = synthetic_plan((4096, 4096), ("y", "x"), current=((512,) * 8, (512,) * 8),
                          source="dask", keep=(1,))
    advice = rechunk_advice(plan)
    assert split_whole_axes(plan, advice.current_chunk_shape) == ["x"]
    assert no_wall_reason(plan, advice.current) == "it splits axes ['x'], which must stay whole"
    (line,) = [t for t in explanation_lines(plan) if t.startswith("Current chunks")]
    assert line.endswith("; it splits axes ['x'], which must stay whole: no wall time "
                         "predicted."), line
    assert "predicted wall" not in line
    assert advice.to_dict()["current_wall_seconds"] is None
    assert advice.action == "rechunk" and "['x'] are split but must stay whole" in advice.reason


def test_current_chunks_that_keep_whole_axes_whole_get_a_wall_time():
    plan = synthetic_plan((4096, 4096), ("y", "x"), current=((512,) * 8, (4096,)),
                          source="dask", keep=(1,))
    advice = rechunk_advice(plan)
    assert no_wall_reason(plan, advice.current) is None
    assert advice.to_dict()["current_wall_seconds"] == advice.current.wall_seconds > 0
    (line,) = [t for t in explanation_lines(plan) if t.startswith("Current chunks")]
    assert "predicted wall" in line
