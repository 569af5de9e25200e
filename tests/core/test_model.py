"""The cost model (``core.model``): fits, the time curve it uses, failures and noise."""

from __future__ import annotations

import dataclasses

import pytest

from chunkpilot.core.growth import TaskGrowth
from chunkpilot.core.model import Sample, fit_cost_model, fit_line, scale_memory

MiB = 2**20


def _samples(seconds_per_mib: float = 0.01, fixed_s: float = 0.002) -> list[Sample]:
    return [Sample(n * MiB, (n,), fixed_s + seconds_per_mib * n, 3 * n * MiB + 100,
                   runs_seconds=(fixed_s + seconds_per_mib * n,) * 3) for n in (1, 4, 16)]


def test_fit_line_keeps_intercept_and_slope_non_negative():
    assert fit_line([1, 2, 3], [5, 4, 3]).slope == 0.0  # falling cost is noise: flat
    down = fit_line([10, 20, 30], [1, 25, 50])  # negative intercept: through the origin
    assert down.fixed == 0.0 and down.slope > 0
    assert fit_line([4], [8]).slope == pytest.approx(2.0)
    with pytest.raises(ValueError):
        fit_line([], [])


def test_task_seconds_follow_the_samples_and_never_fall_with_size():
    m = fit_cost_model(_samples(), overhead_seconds_per_task=1e-3)
    for s in _samples():  # through every median
        assert m.task_seconds(s.nbytes) == pytest.approx(s.seconds, rel=1e-9)
    sizes = [2**k for k in range(10, 32)]
    times = [m.task_seconds(b) for b in sizes]
    assert times == sorted(times)
    # beyond the largest sample: at least linear in bytes
    assert m.task_seconds(64 * MiB) >= 4 * m.task_seconds(16 * MiB) * 0.999


def test_small_blocks_keep_their_measured_cost_not_a_line_intercept():
    """A least-squares line through big samples overstates small ones (its intercept):
    the curve goes through the small sample's own median instead."""
    samples = [Sample(MiB, (1,), 0.008, MiB, runs_seconds=(0.008,) * 3),
               Sample(64 * MiB, (64,), 0.9, 64 * MiB, runs_seconds=(0.9,) * 3),
               Sample(128 * MiB, (128,), 1.3, 128 * MiB, runs_seconds=(1.3,) * 3)]
    m = fit_cost_model(samples, overhead_seconds_per_task=1e-3)
    assert m.time(MiB) > 0.05  # the line's intercept: ten times the measured cost
    assert m.task_seconds(MiB) == pytest.approx(0.008)


def test_peak_memory_is_a_line_and_failures_cap_the_block():
    failed = Sample(64 * MiB, (64,), error="MemoryError")
    m = fit_cost_model([*_samples(), failed], overhead_seconds_per_task=1e-3)
    assert m.memory_multiplier == pytest.approx(3.0)
    assert m.task_peak_bytes(8 * MiB) == pytest.approx(24 * MiB + 100, rel=1e-6)
    assert m.max_ok_bytes == 64 * MiB
    assert m.block_limit_bytes == 16 * MiB  # the largest that ran: between, nothing is known
    assert fit_cost_model(_samples(), overhead_seconds_per_task=1e-3).max_ok_bytes is None
    assert fit_cost_model(_samples(), overhead_seconds_per_task=1e-3).block_limit_bytes is None
    with pytest.raises(ValueError):
        fit_cost_model([failed], overhead_seconds_per_task=1e-3)
    assert scale_memory(m, 2.0).memory_multiplier == pytest.approx(6.0)


def test_noise_fraction_is_the_widest_spread_of_warm_runs():
    def runs(s, *factors):
        return dataclasses.replace(s, runs_seconds=tuple(s.seconds * f for f in factors))

    noisy = [runs(s, 0.9, 1.0, 1.1, 1.0) for s in _samples()]
    assert fit_cost_model(noisy, overhead_seconds_per_task=1e-3).noise_fraction == \
        pytest.approx(0.1)  # the slowest of three or more runs is left out
    # one sample whose runs met a burst (issue 18): its range, not the others', is the noise
    burst = [noisy[0], runs(noisy[1], 0.95, 1.0, 1.0, 1.55, 1.6), *noisy[2:]]
    assert fit_cost_model(burst, overhead_seconds_per_task=1e-3).noise_fraction == \
        pytest.approx(0.6)
    # ... but not a single slow run (faulting memory in again, a neighbour's blip)
    blip = [noisy[0], runs(noisy[1], 0.95, 1.0, 1.0, 1.55), *noisy[2:]]
    assert fit_cost_model(blip, overhead_seconds_per_task=1e-3).noise_fraction == \
        pytest.approx(0.1)
    assert fit_cost_model(_samples(), overhead_seconds_per_task=1e-3).noise_fraction == 0.0


def test_scheduler_tasks_use_the_growth_of_a_pipeline():
    m = fit_cost_model(_samples(), overhead_seconds_per_task=1e-3)
    assert m.scheduler_tasks((100, 100), (10, 10), 100) == 100
    grown = dataclasses.replace(m, task_growth=TaskGrowth((2, 2), 8, (2.0, 1.0), 0.5))
    # 8 * (10/2)**2 * (10/2) built, half of them run
    assert grown.scheduler_tasks((100, 100), (10, 10), 100) == pytest.approx(500)


def test_samples_and_model_round_trip_through_json_dicts():
    s = _samples()[1]
    assert Sample.from_dict(s.to_dict()) == s
    d = fit_cost_model(_samples(), overhead_seconds_per_task=1e-3).to_dict()
    assert d["overhead_seconds_per_task"] == 1e-3 and len(d["samples"]) == 3
