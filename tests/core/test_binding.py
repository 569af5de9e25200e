"""The binding constraint a plan names: what stopped a bigger chunk, in words that match the
numbers next to them."""

from __future__ import annotations

from chunkpilot.core.model import Sample, fit_cost_model
from chunkpilot.core.plan import make_plan
from chunkpilot.types import ArraySpec, Resources, WorkSpec

MiB = 2**20


def test_a_pick_where_bigger_chunks_are_predicted_slower_says_so_not_overhead():
    """Work per byte growing with the block (bytes^1.6) beats a 40 % overhead share: the
    explanation said "bound by overhead ... bigger chunks would gain less than 5 %" at 29 %
    overhead, contradicting its own numbers."""
    samples = [Sample(b * MiB, (b * MiB // 8,), 2e-3 * b**1.6, 3 * b * MiB) for b in (1, 4, 16, 64)]
    m = fit_cost_model(samples, overhead_seconds_per_task=2e-3)
    plan = make_plan(ArraySpec((2**27,), "float64"), WorkSpec(1), Resources(1, 2, 8 * 2**30), m)
    assert plan.binding_constraint == "speed" and plan.chosen.overhead_fraction > 0.1
    assert plan.next_larger.wall_seconds > plan.chosen.wall_seconds
    line = plan.explain().splitlines()[1]
    assert line.startswith("Bound by speed") and "overhead" in line and "gain less" not in line
