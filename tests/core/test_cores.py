"""Pure: a call that kept several cores busy alone (``Sample.cores_busy``) runs slower on a
worker whose threads are all busy, and the plan says so (``core.cores``)."""

from __future__ import annotations

import pytest

from chunkpilot.core.cores import busy_slowdown, cores_at, cores_sentence
from chunkpilot.core.evaluate import evaluate
from chunkpilot.core.model import Sample, fit_cost_model
from chunkpilot.core.plan import make_plan
from chunkpilot.types import ArraySpec, Resources, WorkSpec

MiB = 2**20
SPEC = ArraySpec((4096, 4096), "float64")  # 128 MiB
THREADS = Resources(1, 2, 8 * 2**30, "threads")


def _model(cores: float | None):
    """Linear work, 10 ms a MiB alone; every call kept ``cores`` busy (None: not timed)."""
    samples = [Sample(mib * MiB, (128 * mib, 1024), 0.01 * mib, 3 * mib * MiB,
                      runs_seconds=(0.01 * mib,) * 3, cores_busy=cores) for mib in (1, 4, 16)]
    return fit_cost_model(samples, overhead_seconds_per_task=2e-4)


def test_cores_are_interpolated_in_log_bytes_and_held_beyond_the_samples():
    s = [Sample(MiB, (1,), 0.1, MiB, cores_busy=1.0),
         Sample(4 * MiB, (1,), 0.1, MiB, cores_busy=2.0),
         Sample(16 * MiB, (1,), 0.1, MiB, cores_busy=None)]
    assert cores_at(s, MiB / 2) == 1.0 and cores_at(s, 64 * MiB) == 2.0
    assert cores_at(s, 2 * MiB) == pytest.approx(1.5)
    assert cores_at(s[2:], MiB) == 1.0  # none timed: one core


@pytest.mark.parametrize(("cores", "at_once", "threads", "factor"), [
    (2.0, 2, 2, 2.0),   # two busy threads on two cores: one each
    (2.0, 1, 2, 1.0),   # a lone task keeps both
    (1.0, 8, 8, 1.0),   # a single-threaded call is not slowed
    (1.5, 4, 2, 3.0),   # more tasks than threads cannot happen in evaluate, but the law holds
    (0.6, 2, 2, 1.0),   # waiting on I/O: CPU under wall, never faster than measured
    (1.08, 2, 2, 1.0),  # under MULTICORE_MIN: single-threaded, within a sample's spread
    (1.2, 2, 2, 1.2),
])
def test_busy_slowdown(cores, at_once, threads, factor):
    assert busy_slowdown(cores, at_once, threads) == pytest.approx(factor)


def test_a_multicore_call_is_priced_at_one_core_per_busy_thread():
    """The same samples, once timed at 2 cores busy: a shape with many chunks is predicted
    2x slower a task (both threads busy); the whole array in one task is not slowed."""
    one, two = _model(None), _model(2.0)
    many = (512, 4096)
    assert evaluate(many, SPEC, WorkSpec(2), THREADS, two).seconds_per_task == pytest.approx(
        2 * evaluate(many, SPEC, WorkSpec(2), THREADS, one).seconds_per_task)
    whole = (4096, 4096)
    assert evaluate(whole, SPEC, WorkSpec(2), THREADS, two).seconds_per_task == pytest.approx(
        evaluate(whole, SPEC, WorkSpec(2), THREADS, one).seconds_per_task)


def test_the_plan_says_when_busy_threads_slow_its_tasks():
    plan = make_plan(SPEC, WorkSpec(2), THREADS, _model(1.8))
    assert "kept 1.80 cores busy" in plan.explain()
    assert "1.80x slower" in plan.explain()
    assert "cores busy" not in make_plan(SPEC, WorkSpec(2), THREADS, _model(1.0)).explain()
    assert cores_sentence(1.02, 2, 2) is None
