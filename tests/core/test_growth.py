"""``core.growth``: a pipeline's task count from small graphs, for any chunking."""

from __future__ import annotations

import pytest

from chunkpilot.core.growth import TaskGrowth, estimate_tasks, fit_task_exponents


def test_elementwise_and_contraction_exponents():
    assert fit_task_exponents((3, 3), 9, [(0, 6, 18), (1, 6, 18)]) == (1.0, 1.0)
    assert fit_task_exponents((3, 3), 90, [(0, 6, 360), (1, 6, 180)]) == (2.0, 1.0)
    # an axis not grown keeps the elementwise default; wild growth is capped
    assert fit_task_exponents((3, 3), 9, [(0, 6, 9 * 2**5)]) == (3.0, 1.0)


def test_estimate_scales_from_the_small_graph():
    assert estimate_tasks((3, 3), 90, (2.0, 1.0), (600, 600), (100, 100)) == 720
    assert estimate_tasks((2,), 4, (1.0,), (10**12,), (10**6,)) == 2 * 10**6


def test_task_growth_counts_executed_and_per_chunk_tasks():
    g = TaskGrowth((2, 2), 8, (2.0, 1.0), executed_fraction=0.5)
    assert g.built((100, 100), (10, 10)) == 8 * 25 * 5
    assert g.executed((100, 100), (10, 10)) == pytest.approx(500)
    assert g.per_input_chunk((100, 100), (10, 10)) == pytest.approx(10.0)
    assert g.per_input_chunk((100, 100), (50, 50)) == pytest.approx(2.0)
