"""When a trial runs its work again, and which runs count (``core.reruns``)."""

from __future__ import annotations

import pytest

from chunkpilot.core.reruns import SURPRISE_FACTOR, first_run_aside, median_run, more_runs


@pytest.mark.parametrize(("runs", "spent", "expected"), [
    ([], 0.0, False), ([0.5], 0.6, False), ([0.49], 0.6, True), ([0.3, 0.3], 0.8, True),
    ([0.3, 0.1, 0.1], 0.5, False), ([0.1] * 3, 0.45, True), ([0.1] * 4, 0.7, False),
    ([0.01] * 3, 0.6, False), ([0.01] * 6, 0.1, True), ([0.01] * 7, 0.1, False)])
def test_only_a_short_trial_runs_again_three_times_and_while_it_took_under_the_minimum(
        runs, spent, expected):
    assert more_runs(runs, spent, 0.5) is expected


def test_the_median_run_is_the_lower_middle():
    assert median_run([0.3, 0.1, 0.2]) == 2 and median_run([0.4, 0.1, 0.3, 0.2]) == 3


def test_a_surprisingly_slow_run_runs_once_more_and_is_set_aside_when_that_was_faster():
    """time_reduce on a LocalCluster: a 64 MiB chunk's one trial run took 1.7 s where the
    model (and the benchmark's rounds, 0.8 s) said 0.8 s; tune never looked that way again."""
    assert more_runs([1.7], 1.8, 0.5, expected_s=0.8)
    assert not more_runs([1.7, 0.8], 2.6, 0.5, expected_s=0.8)  # once more only
    assert not more_runs([1.1], 1.2, 0.5, expected_s=0.8)  # within the factor: one run
    assert not more_runs([1.7], 1.8, 0.5)  # nothing expected: nothing is a surprise
    assert first_run_aside([1.7, 0.8], 0.8)
    # the re-run was as slow: the shape is slow, both count
    assert not first_run_aside([1.7, 1.6], 0.8)
    # a re-run only a little faster is no outlier either
    assert not first_run_aside([1.7, 1.7 / SURPRISE_FACTOR * 1.01], 0.8)


def test_a_short_trials_slow_runs_are_not_set_aside_unless_its_first_was_a_surprise():
    assert more_runs([0.3], 0.4, 0.5)  # short: runs again anyway
    assert not first_run_aside([0.05, 0.01, 0.02, 0.01])  # jitter of millisecond runs
    assert not first_run_aside([0.3, 0.01, 0.02], expected_s=0.5)  # not a surprise
    assert first_run_aside([0.9, 0.3, 0.31], expected_s=0.3)


def test_the_first_trial_runs_twice_and_sets_its_first_run_aside():
    """overlap_filter on a fresh LocalCluster: the first trial's first run took 1.2-1.7x its
    later runs, later trials' first runs did not; tune left the advised (best) shape."""
    assert more_runs([1.3], 1.4, 0.5, first_trial=True)  # long enough, and still again
    assert not more_runs([1.3, 1.0], 2.5, 0.5, first_trial=True)  # twice is enough
    assert not more_runs([1.3], 1.4, 0.5)  # a later trial: one run
    assert more_runs([0.1, 0.1], 0.3, 0.5, first_trial=True)  # short: the short-trial rule
    assert first_run_aside([1.3, 1.0], first_trial=True)
    assert first_run_aside([0.9, 1.0], first_trial=True)  # whichever was faster
    assert first_run_aside([0.1, 0.1, 0.1], 0.1, first_trial=True)
    assert not first_run_aside([1.3], first_trial=True)  # one run: nothing to set aside
    assert not first_run_aside([1.3, 1.0])  # a later trial: no surprise, both count
