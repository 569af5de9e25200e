"""Pooling recent overhead probes: the median of the last few of the same setup."""

from __future__ import annotations

import pytest

from chunkpilot.core.probes import ProbeRecord, pool_probes, probe_settled, reuse_pool
from chunkpilot.errors import InvalidArgumentError


def test_median_of_the_most_recent_probes_this_one_included():
    history = [ProbeRecord(s, t) for s, t in ((9e-4, 0), (1e-4, 10), (2e-4, 20), (3e-4, 30))]
    pooled, kept = pool_probes(history, ProbeRecord(5e-4, 40), keep=3, max_age_s=100)
    assert [r.seconds_per_task for r in kept] == [2e-4, 3e-4, 5e-4]  # the 9e-4 is too old a slot
    assert pooled.seconds_per_task == 3e-4
    assert pooled.this_run_seconds_per_task == 5e-4 and pooled.probes == 3


def test_one_outlier_probe_does_not_move_the_pooled_value_far():
    history = [ProbeRecord(1.5e-4, t) for t in range(4)]
    pooled, _ = pool_probes(history, ProbeRecord(3e-4, 5), keep=5, max_age_s=100)
    assert pooled.seconds_per_task == 1.5e-4  # a 2x probe alone would have doubled the chunk


def test_stale_future_and_broken_records_are_not_pooled():
    history = [ProbeRecord(1e-4, 0), ProbeRecord(2e-4, 5000), ProbeRecord(0.0, 900),
               ProbeRecord(4e-4, 990)]
    pooled, kept = pool_probes(history, ProbeRecord(3e-4, 1000), keep=5, max_age_s=500)
    assert [r.seconds_per_task for r in kept] == [4e-4, 3e-4]
    assert pooled.probes == 2 and pooled.seconds_per_task == pytest.approx(3.5e-4)


def test_keep_one_is_this_runs_probe_alone():
    pooled, kept = pool_probes([ProbeRecord(1e-4, 0)], ProbeRecord(3e-4, 1), keep=1, max_age_s=10)
    assert (pooled.seconds_per_task, pooled.probes, len(kept)) == (3e-4, 1, 1)
    with pytest.raises(InvalidArgumentError, match="at least one probe"):
        pool_probes([], ProbeRecord(3e-4, 1), keep=0, max_age_s=10)


def test_a_probe_settles_when_two_repeats_moved_its_estimate_little():
    assert not probe_settled([3e-4, 2.6e-4, 2.6e-4])  # too few repeats to trust
    assert probe_settled([3e-4, 2.6e-4, 2.6e-4, 2.59e-4])  # 0.4 % over the last two
    assert not probe_settled([3e-4, 3e-4, 2.8e-4, 2.6e-4])  # still finding faster runs
    assert not probe_settled([3e-4, 2.8e-4, 2.6e-4, 2.6e-4])  # 7 % since two repeats ago
    assert probe_settled([3e-4, 2.8e-4, 2.6e-4, 2.6e-4, 2.6e-4])


def _records(*ages_and_seconds: tuple[float, float], now: float = 1000.0) -> list[ProbeRecord]:
    return [ProbeRecord(s, now - age) for age, s in ages_and_seconds]


def test_a_full_fresh_pool_stands_in_for_a_new_probe():
    h = _records((900, 9e-4), (300, 1e-4), (200, 3e-4), (100, 2e-4))
    got = reuse_pool(h, 1000.0, keep=3, max_age_s=3600, reuse_s=150)
    assert got is not None and got.reused
    assert (got.seconds_per_task, got.probes, got.newest_age_seconds) == (2e-4, 3, 100.0)


@pytest.mark.parametrize(("keep", "max_age_s", "reuse_s"), [
    (5, 3600, 150),   # four probes kept: the pool is not full, probe again
    (3, 3600, 50),    # the newest probe is older than the reuse window
    (3, 250, 150),    # only two probes young enough to be pooled at all
    (3, 3600, 0),     # reuse switched off
    (1, 3600, 150),   # pooling off
])
def test_a_pool_that_is_not_full_or_not_fresh_means_probe_again(keep, max_age_s, reuse_s):
    h = _records((900, 9e-4), (300, 1e-4), (200, 3e-4), (100, 2e-4))
    assert reuse_pool(h, 1000.0, keep=keep, max_age_s=max_age_s, reuse_s=reuse_s) is None


def test_records_from_the_future_or_broken_are_not_reused():
    h = _records((-50, 1e-4), (100, 0.0), (100, 2e-4))
    assert reuse_pool(h, 1000.0, keep=2, max_age_s=3600, reuse_s=600) is None
