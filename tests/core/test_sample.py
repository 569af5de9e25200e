"""``core.sample``: a sample's time from its warm runs, and stored samples read back."""

from __future__ import annotations

import pytest

from chunkpilot.core.sample import Sample, largest_ran_below, typical_seconds


def test_two_runs_keep_the_faster_not_their_mean():
    """A burst only ever slows a run: of two, the faster stands for the sample (the mean of
    an einsum sub-array's 122 and 58 ms a chunk would price it 1.55x the quiet run)."""
    assert typical_seconds([0.122, 0.058]) == 0.058
    assert typical_seconds([0.058, 0.122]) == 0.058


def test_three_or_more_runs_take_the_lower_median():
    assert typical_seconds([0.5, 0.1, 0.2]) == 0.2
    assert typical_seconds([4.0, 1.0, 2.0, 3.0]) == 2.0  # of the two middle runs, the lower
    assert typical_seconds([7.0]) == 7.0
    with pytest.raises(ValueError, match="at least one run"):
        typical_seconds([])


def test_a_stored_sample_with_a_field_this_version_lacks_still_loads():
    """Archived benchmark runs keep fields of experiments that were reverted (they are
    replayed to judge the next rule): reading them back drops what Sample no longer has."""
    d = Sample(2**20, (256, 512), 0.01, 3 * 2**20, runs_seconds=(0.01, 0.012)).to_dict()
    d["threads_busy_factor"] = 1.4
    back = Sample.from_dict(d)
    assert back.seconds == 0.01 and back.runs_seconds == (0.01, 0.012)


def test_a_failure_keeps_its_kind_as_a_field_and_old_records_gain_it():
    s = Sample(2**20, (256, 512), error="MemoryError: 8 GiB", error_kind="oom")
    assert not s.ok and s.failure == "oom: MemoryError: 8 GiB"
    assert Sample.from_dict(s.to_dict()) == s
    old = {k: v for k, v in s.to_dict().items() if k != "error_kind"}
    old["error"] = "timeout: timed out after 60 s"  # how failures were stored before the field
    back = Sample.from_dict(old)
    assert (back.error_kind, back.error) == ("timeout", "timed out after 60 s")
    assert Sample(1, (1,), 0.1, 1).failure is None


def test_largest_ran_below_ignores_failures_and_samples_at_or_above_the_failure():
    ran = [Sample(2**20, (1,), 0.1, 1), Sample(2**22, (1,), 0.2, 1),
           Sample(2**24, (1,), 0.3, 1)]
    failed = [Sample(2**23, (1,), error="ValueError: big", error_kind="exception")]
    assert largest_ran_below(ran + failed, 2**23) == 2**22
    assert largest_ran_below(ran, 2**20) is None
    assert largest_ran_below(failed, 2**30) is None
