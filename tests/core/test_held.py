"""A worker's held band (``chunkpilot.core.held``): measured law, once per worker, refit, replay."""

from __future__ import annotations

import dataclasses
import math

import pytest

from chunkpilot.core.converge import refit
from chunkpilot.core.evaluate import IN_FLIGHT_EXTRA_BLOCKS, evaluate
from chunkpilot.core.held import HeldGrowth, band_bytes, band_exponent, frontier_exponent
from chunkpilot.core.linefit import LinearFit
from chunkpilot.core.model import Sample, fit_cost_model
from chunkpilot.core.observations import MemoryRecord, Observation
from chunkpilot.core.plan import make_plan
from chunkpilot.core.plan_inputs import plan_inputs
from chunkpilot.core.replay import replan
from chunkpilot.types import ArraySpec, Resources, WorkSpec

MiB = 2**20
SPEC = ArraySpec((8192, 4096), "float64")
THREADS = Resources(1, 2, 16 * 2**30, scheduler="threads")
LOCAL = Resources(2, 1, 4 * 2**30)


def _samples(q: float = 0.5) -> list[Sample]:
    """Runs over 9 chunks (small blocks) and 4 (the largest, a capped sub-array) that peak at
    3.5 blocks x chunks ** q; the largest single task at 2 blocks."""
    return [Sample(b, (1,), 1e-3 * b / MiB, int(3.5 * b * n ** q), chunks_run=n,
                   task_peak_bytes=2 * b) for b, n in ((MiB, 9), (4 * MiB, 9), (32 * MiB, 4))]


def _model(q: float = 0.5, **kw):
    return fit_cost_model(_samples(q), overhead_seconds_per_task=1e-4, held_exponent=q, **kw)


def test_samples_over_different_chunk_counts_fit_one_line_per_chunk():
    m = _model()
    assert m.held == HeldGrowth(0.5, m.held.task)
    assert m.memory.slope == pytest.approx(3.5) and m.memory.fixed == pytest.approx(0, abs=1)
    assert m.held.task.slope == pytest.approx(2.0)
    assert band_bytes(MiB, 9, 0.5) == pytest.approx(3 * MiB)


def test_without_the_exponent_or_the_chunk_counts_the_peaks_are_per_task():
    raw = fit_cost_model(_samples(), overhead_seconds_per_task=1e-4)
    assert raw.held is None and raw.memory.slope > 5  # 10.5 blocks per byte at 9 chunks
    some = [dataclasses.replace(_samples()[0], chunks_run=None), *_samples()[1:]]
    assert fit_cost_model(some, overhead_seconds_per_task=1e-4, held_exponent=0.5).held is None


@pytest.mark.parametrize(("res", "busy"), [(THREADS, 2), (LOCAL, 1)])
def test_a_worker_holds_the_band_of_its_own_chunks_once(res, busy):
    """256 chunks of 1 MiB: the threaded scheduler's one process runs all of them on 2
    threads and holds one band for them; each of 2 LocalCluster workers, its half."""
    m, chunk = _model(), (256, 512)
    e = evaluate(chunk, SPEC, WorkSpec(2), res, m)
    b = e.task_bytes
    worker = 3.5 * b * (256 / res.workers) ** 0.5 + (busy - 1) * 2 * b
    assert e.peak_bytes_per_task == pytest.approx(worker / busy, rel=1e-3)
    assert e.peak_bytes_per_worker == pytest.approx(
        worker + res.threads_per_worker * IN_FLIGHT_EXTRA_BLOCKS * b, rel=1e-3)


def test_one_chunk_peaks_at_one_chunks_run_and_a_thread_has_nothing_to_do():
    m = _model()
    e = evaluate((8192, 4096), SPEC, WorkSpec(2), THREADS, m)
    assert e.peak_bytes_per_task == pytest.approx(m.memory(e.task_bytes), rel=1e-3)


def test_the_band_grows_with_the_measured_exponent_only():
    flat, grows = _model(0.0), _model(0.5)
    small = (256, 512)
    e = evaluate(small, SPEC, WorkSpec(2), THREADS, flat)  # one chunk's run + a task, 2 threads
    assert e.peak_bytes_per_task == pytest.approx((3.5 + 2) * e.task_bytes / 2, rel=1e-3)
    assert evaluate(small, SPEC, WorkSpec(2), THREADS, grows).peak_bytes_per_task > \
        5 * evaluate(small, SPEC, WorkSpec(2), THREADS, flat).peak_bytes_per_task


def test_a_runs_fixed_part_does_not_grow_with_the_band():
    """Runs that share a fixed 2 MiB (the graph's, the interpreter's): a worker that runs 64
    chunks holds 8 x one chunk's band, plus the 2 MiB once."""
    samples = [Sample(b, (1,), 1e-3, int(2 * MiB + 3 * b * n ** 0.5), chunks_run=n,
                      task_peak_bytes=2 * b) for b, n in ((MiB, 9), (4 * MiB, 6), (8 * MiB, 4))]
    m = fit_cost_model(samples, overhead_seconds_per_task=1e-4, held_exponent=0.5)
    assert m.memory.fixed == pytest.approx(2 * MiB, rel=1e-6)
    assert m.held.worker_bytes(m.memory, MiB, 64, 1) == pytest.approx(2 * MiB + 24 * MiB)


def test_held_worker_bytes_adds_a_task_per_further_busy_thread():
    h, run = HeldGrowth(0.5, LinearFit(0.0, 2.0, 1.0)), LinearFit(0.0, 10.0, 1.0)
    assert h.worker_bytes(run, 1, 16, 1) == pytest.approx(40.0)
    assert h.worker_bytes(run, 1, 16, 3) == pytest.approx(44.0)
    assert h.worker_bytes(run, 1, 0, 1) == pytest.approx(10.0)


def test_a_band_holds_at_least_its_largest_task():
    """One 128 MiB chunk of x @ x.T: a band fitted at 18 MiB + 0.9 x the input held 137 MiB,
    the product itself holds input and output (2.05 x the block)."""
    h = HeldGrowth(1.0, LinearFit(0.0, 2.05, 1.0), shared=True)
    run = LinearFit(18 * MiB, 0.9, 1.0)
    assert h.worker_bytes(run, 128 * MiB, 1, 1) == pytest.approx(2.05 * 128 * MiB)
    assert h.worker_bytes(run, MiB, 128, 1) == pytest.approx(18 * MiB + 0.9 * 128 * MiB)


def test_refit_raises_the_band_in_proportion_never_lowers_it():
    m, res = _model(), LOCAL
    e = evaluate((1024, 1024), SPEC, WorkSpec(2), res, m)

    def obs(rise: int) -> Observation:
        base = 100 * MiB
        return Observation(wall_seconds=1.0, memory=(MemoryRecord(0.0, "w", 0, base, 0),
                                                     MemoryRecord(0.5, "w", 0, base + rise, 0)))

    per_task = 3 * e.peak_bytes_per_task  # what the trial showed, its queued block apart
    up = refit(m, obs((per_task + e.task_bytes) * res.threads_per_worker), e.task_bytes, res,
               predicted_peak_bytes=e.peak_bytes_per_task)
    assert up.memory.slope == pytest.approx(3 * m.memory.slope, rel=1e-6)
    assert up.held == m.held
    same = refit(m, obs(MiB), e.task_bytes, res, predicted_peak_bytes=e.peak_bytes_per_task)
    assert same.memory == m.memory


def test_the_exponent_is_stored_with_the_plan_and_replayed():
    plan = make_plan(SPEC, WorkSpec(2), THREADS, _model())
    again = replan(plan_inputs(plan))
    assert again.model.held == plan.model.held
    assert again.chunk_shape == plan.chunk_shape
    assert again.chosen.peak_bytes_per_worker == plan.chosen.peak_bytes_per_worker
    text = plan.explain()
    assert "holds input chunks for their neighbours" in text and "n^0.50" in text


@pytest.mark.parametrize(("axes", "cap"), [(0, 0.0), (1, 0.0), (2, 0.5), (3, 2 / 3)])
def test_the_band_grows_at_most_as_the_grids_frontier(axes, cap):
    assert frontier_exponent(axes) == pytest.approx(cap)


def test_a_contractions_band_counts_every_chunk_on_every_worker():
    """x @ x.T: every block meets every other, so each of 2 workers holds the band of all
    256 chunks (an overlap's worker, its 128)."""
    own, shared = _model(), dataclasses.replace(_model(), held=dataclasses.replace(
        _model().held, shared=True))
    assert shared.held.chunks_per_worker(256, 2) == 256
    assert own.held.chunks_per_worker(256, 2) == 128
    a = evaluate((256, 512), SPEC, WorkSpec(2), LOCAL, own)
    b = evaluate((256, 512), SPEC, WorkSpec(2), LOCAL, shared)
    assert b.peak_bytes_per_task == pytest.approx(a.peak_bytes_per_task * 2 ** 0.5, rel=1e-3)
    plan = make_plan(SPEC, WorkSpec(2), LOCAL, shared)
    assert replan(plan_inputs(plan)).model.held.shared
    assert "every block meets every other" in plan.explain()


def test_the_exponent_is_fitted_through_every_run_with_its_fixed_part():
    """A fixed 20 MiB hides the growth of 1 MiB runs: their pair alone reads 0.77 where the
    runs grow as chunks ** 1; with the larger runs, the joint fit finds 1 (and 0.5)."""
    def runs(q: float) -> list[tuple[int, int, int]]:
        return [(b, n, int(20 * MiB + 1.5 * b * n ** q))
                for b, n in ((MiB, 9), (4 * MiB, 9), (12 * MiB, 9), (MiB, 36))]

    a, b = runs(1.0)[0][2], runs(1.0)[3][2]
    assert math.log(b / a) / math.log(4) < 0.8
    assert band_exponent(runs(1.0)) == pytest.approx(1.0)
    assert band_exponent(runs(0.5)) == pytest.approx(0.5)
    assert band_exponent(runs(0.5)[:3]) == 0.0  # one chunk count: no growth to see
