"""Pure: a worker's first task of a computation pays for memory its process does not hold
yet; the samples' cold calls measure it and the wall time counts it once (``core.coldstart``)."""

from __future__ import annotations

import pytest

from chunkpilot.core.coldstart import cold_points, cold_sentence, first_task_extra_seconds
from chunkpilot.core.evaluate import evaluate
from chunkpilot.core.explain import explanation_lines
from chunkpilot.core.model import Sample, fit_cost_model
from chunkpilot.core.plan import make_plan
from chunkpilot.types import ArraySpec, Resources, WorkSpec

MiB = 2**20
SPEC = ArraySpec((128, 720, 1440), "float32")  # 506 MiB, zarr_read's cube
RES = Resources(2, 1, 4 * 2**30, "tcp://127.0.0.1:1")


def _samples(cold: dict[int, float | None]) -> list[Sample]:
    """Linear work (4 ms a MiB) and 7x temporaries at blocks of ``cold``'s MiB keys, each
    with that cold-call extra (zarr_read's samples: 0 s up to 8 MiB, 0.75 s at 119 MiB)."""
    return [Sample(mib * MiB, (mib, 360, 720), 4e-3 * mib, 7 * mib * MiB,
                   runs_seconds=(4e-3 * mib,) * 3, cold_extra_seconds=extra)
            for mib, extra in cold.items()]


ZARR_READ = {1: 0.003, 8: 0.004, 36: 0.13, 119: 0.75}


def test_the_set_up_is_taken_off_and_the_gap_never_shrinks_with_the_block():
    points = cold_points(_samples({1: 0.2, 8: 0.5, 16: 0.3, 64: 1.2}))
    assert [round(e, 6) for _, e in points] == [0.0, 0.3, 0.3, 1.0]


@pytest.mark.parametrize("cold", [{}, {8: 0.5}, {1: None, 8: None, 64: 0.7}])
def test_without_two_recorded_cold_calls_nothing_is_added(cold):
    assert first_task_extra_seconds(_samples(cold), 64 * MiB) == 0.0


def test_the_gap_is_interpolated_by_bytes_and_grows_in_proportion_past_the_largest():
    s = _samples({1: 0.0, 9: 0.4, 17: 0.8})
    assert first_task_extra_seconds(s, 5 * MiB) == pytest.approx(0.2)
    assert first_task_extra_seconds(s, 34 * MiB) == pytest.approx(1.6)
    assert first_task_extra_seconds(s, MiB // 2) == 0.0


def test_the_first_round_pays_it_once_whatever_the_task_count():
    """The same samples with and without their cold calls: the wall differs by exactly the
    first task's extra at each shape; a task's own time does not change."""
    cold = fit_cost_model(_samples(ZARR_READ), overhead_seconds_per_task=2e-3)
    warm = fit_cost_model(_samples(dict.fromkeys(ZARR_READ)), overhead_seconds_per_task=2e-3)
    for chunk in [(8, 360, 720), (128, 360, 720)]:
        a = evaluate(chunk, SPEC, WorkSpec(3), RES, cold)
        b = evaluate(chunk, SPEC, WorkSpec(3), RES, warm)
        assert a.seconds_per_task == pytest.approx(b.seconds_per_task)
        extra = first_task_extra_seconds(cold.samples, a.task_bytes)
        assert a.wall_seconds - b.wall_seconds == pytest.approx(extra)
    assert first_task_extra_seconds(cold.samples, 126 * MiB) > 0.7


def test_a_costly_cold_start_moves_the_plan_to_smaller_chunks_and_is_said():
    """zarr_read on a LocalCluster: without the first tasks' extra, 128-plane chunks tie with
    32-plane ones and the tie rule takes them (they ran 1.6x the best shape); with it they
    are predicted slower and a smaller chunk is chosen, with the reason in the plan."""
    cold = make_plan(SPEC, WorkSpec(3), RES, fit_cost_model(
        _samples(ZARR_READ), overhead_seconds_per_task=2e-3))
    warm = make_plan(SPEC, WorkSpec(3), RES, fit_cost_model(
        _samples(dict.fromkeys(ZARR_READ)), overhead_seconds_per_task=2e-3))
    assert cold.chosen.task_bytes < warm.chosen.task_bytes
    said = [line for line in explanation_lines(cold) if "first task" in line
            and not line.startswith("Predicted wall time")]  # (its parts name it too)
    assert len(said) == (1 if cold_sentence(cold.model.samples, cold.chosen.task_bytes,
                                            cold.chosen.wall_seconds) else 0)
    big = evaluate((128, 360, 720), SPEC, WorkSpec(3), RES, cold.model)
    assert cold_sentence(cold.model.samples, big.task_bytes, big.wall_seconds) is not None
    assert cold_sentence(warm.model.samples, big.task_bytes, big.wall_seconds) is None
