"""How big a sample is worth measuring: the memory rule, the time budget and a URL's fetch."""

import math

import pytest

from chunkpilot.core.budget import fetch_within, largest_worth_measuring
from chunkpilot.core.model import Sample
from chunkpilot.types import Resources

MiB = 2**20


def test_fetch_within_solves_the_measured_fetch_line_for_the_budget():
    assert fetch_within({}, 1.0) == math.inf  # nothing fetched: no bound
    # 0.2 s + 0.1 s per MiB: a 1 s budget allows 8 MiB
    assert fetch_within({MiB: 0.3, 4 * MiB: 0.6}, 1.0) == pytest.approx(8 * MiB)
    assert fetch_within({MiB: 0.3, 4 * MiB: 0.6}, 0.1) < MiB  # below what is measured


def _samples(seconds_per_mib: float, peak_per_byte: float) -> list[Sample]:
    return [Sample(n * MiB, (n * MiB // 8,), seconds_per_mib * n, int(peak_per_byte * n * MiB))
            for n in (1, 4)]


def test_a_sample_is_worth_measuring_up_to_the_time_budget():
    """0.1 s per MiB and a 0.5 s budget: 5 MiB, whatever the (roomy) memory allows."""
    res = Resources(1, 2, 64 * 1024 * MiB, "threads")
    top = largest_worth_measuring(_samples(0.1, 2.0), res, 0, time_budget_s=0.5,
                                  max_bytes=math.inf)
    assert top == pytest.approx(5 * MiB, rel=1e-6)


def test_a_sample_is_worth_measuring_only_as_big_as_the_memory_rule_could_allow():
    """Fast, but each block peaks at 10x its size on 2 threads under 60 % of 1 GiB: blocks
    over ~25 MiB could never be planned, so no sample bigger than that is measured."""
    res = Resources(1, 2, 1024 * MiB, "threads")
    top = largest_worth_measuring(_samples(0.001, 10.0), res, 0, time_budget_s=0.5,
                                  max_bytes=math.inf)
    # 2 threads x (10 b + 1 block in flight) = 22 b <= 0.6 GiB
    assert top == pytest.approx(0.6 * 1024 * MiB / 22, rel=1e-3)
    capped = largest_worth_measuring(_samples(0.001, 10.0), res, 0, time_budget_s=0.5,
                                     max_bytes=8 * MiB)
    assert capped == 8 * MiB


def test_fetches_that_did_not_grow_with_size_still_bound_the_next_one():
    # the full suite once timed the 1 kiB fetch slower than the 4 kiB one: the negative
    # slope read as "unbounded" and the budget-bound profile grew to the whole array
    noisy = {1024: 0.02, 4096: 0.01}
    assert fetch_within(noisy, 1e-6) == 4096
    assert fetch_within(noisy, 1.0) == math.inf  # latency well within the budget
