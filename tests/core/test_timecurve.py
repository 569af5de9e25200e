"""``core.timecurve``: the monotone log-log curve through the samples' medians."""

from __future__ import annotations

import math

import pytest

from chunkpilot.core.timecurve import DOWN_EXPONENT_RANGE, UP_EXPONENT_RANGE, TimeCurve, isotonic


def test_isotonic_pools_violators_and_respects_weights():
    assert isotonic([1.0, 3.0, 2.0, 4.0], [1, 1, 1, 1]) == [1.0, 2.5, 2.5, 4.0]
    assert isotonic([3.0, 1.0], [3, 1]) == [2.5, 2.5]
    assert isotonic([1.0, 2.0, 3.0], [1, 1, 1]) == [1.0, 2.0, 3.0]


def test_through_interpolates_in_log_log_and_is_monotone():
    c = TimeCurve.through([(1000, 1.0, 3), (4000, 2.0, 3), (2000, 3.0, 3)])  # 2000 is an outlier
    assert c(1000) <= c(2000) <= c(4000)
    power = TimeCurve.through([(100, 1.0, 1), (10_000, 100.0, 1)])  # exponent 1
    assert power(1000) == pytest.approx(10.0)


def test_extrapolation_exponents_are_clamped():
    steep = TimeCurve.through([(100, 1.0, 1), (200, 100.0, 1)])
    assert steep.up_exponent == UP_EXPONENT_RANGE[1]
    flat = TimeCurve.through([(100, 1.0, 1), (200, 1.0, 1)])
    assert flat.up_exponent == UP_EXPONENT_RANGE[0]  # at least linear beyond the samples
    assert flat.down_exponent == DOWN_EXPONENT_RANGE[0]  # a fixed cost below them
    assert flat(10) == pytest.approx(1.0)
    assert flat(400) == pytest.approx(2.0)


def test_repeated_sizes_are_weighted_by_their_runs():
    c = TimeCurve.through([(100, 1.0, 3), (100, 5.0, 1), (1000, 10.0, 1)])
    assert c(100) == pytest.approx(2.0)  # (1*3 + 5*1) / 4
    assert math.isfinite(c(0))


def test_bumps_flag_a_sample_slower_per_byte_than_its_neighbours():
    from chunkpilot.core.timecurve import BUMP_FRACTION, bumps

    line = [(2**k, 2**k * 1e-9) for k in range(20, 28, 2)]  # constant per-byte cost
    assert bumps(line) == []
    inflated = [line[0], (line[1][0], line[1][1] * (1 + BUMP_FRACTION * 1.5)), *line[2:]]
    assert bumps(inflated) == [1]
    just_inside = [line[0], (line[1][0], line[1][1] * (1 + BUMP_FRACTION * 0.5)), *line[2:]]
    assert bumps(just_inside) == []
    small_fixed_cost = [(b, t + 5e-3) for b, t in line]  # per-byte time falls with size
    assert bumps(small_fixed_cost) == []
    assert bumps(line[:2]) == []  # the ends are never bumps


def test_a_contractions_curve_grows_linearly_beyond_its_samples():
    """Samples 7 % steeper than linear (noise) are carried on linearly when the range says so."""
    points = [(100, 1.0, 1), (200, 2.1, 1)]
    assert TimeCurve.through(points).up_exponent > 1.05
    linear = TimeCurve.through(points, up_range=(1.0, 1.0))
    assert linear.up_exponent == 1.0
    assert linear(1600) == pytest.approx(2.1 * 8)
    assert linear(150) == TimeCurve.through(points)(150)  # between samples: unchanged


def test_a_bigger_block_is_not_cheaper_per_byte_than_a_fixed_cost_explains():
    from chunkpilot.core.timecurve import steady_rates

    sleepy = [0.2 + 1e-9 * b for b in (1e6, 1e7, 1e8)]  # a fixed 0.2 s: per-byte time falls
    assert steady_rates([1e6, 1e7, 1e8], sleepy, [1, 1, 1]) == pytest.approx(sleepy)
    fast_big = TimeCurve.through([(10**6, 3e-3, 7), (4 * 10**7, 0.12, 7), (2 * 10**8, 0.39, 3)])
    per_byte = [fast_big(b) / b for b in (4 * 10**7, 2 * 10**8, 4 * 10**8)]
    assert per_byte[1] >= per_byte[0] - 3e-3 / 4e7  # at most the fixed cost spread thinner
    assert per_byte[2] >= per_byte[1] * 0.999  # and at least linear beyond
