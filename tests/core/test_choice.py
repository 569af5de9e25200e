"""The overhead edge: where the first chunk meeting the overhead target lies between two rungs
of the candidate ladder, the plan does not depend on where the rungs fell.

The fixture is real: the stored inputs of five ``advise`` runs of one input
(``tests/commands/test_stability.py`` in a CI run; loads 0.00-0.02 cores). Three plans were
overhead-bound at 100-120 rows; two, whose 27-32 MB sample ran slower than the 8 MB one,
chose 37 and 52 rows, because the first rung meeting the 1 % target (148 rows) was predicted
just outside the tie band while the edge (~115 rows) was inside it.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from chunkpilot.core.candidates import candidate_shapes
from chunkpilot.core.evaluate import evaluate
from chunkpilot.core.policy import TARGET_OVERHEAD_FRACTION
from chunkpilot.core.replay import replan

RUNS = json.loads((Path(__file__).parent.parent / "data" / "five_advises.json").read_text())
PLANS = [replan(inputs) for inputs in RUNS["inputs"]]


def test_five_stored_advises_agree_within_one_and_a_half():
    rows = [p.chunk_shape[0] for p in PLANS]
    assert max(rows) / min(rows) <= 1.5, rows


@pytest.mark.parametrize("plan", PLANS[3:], ids=["slow-mid-sample", "fast-8MB-sample"])
def test_a_pick_over_the_target_moves_to_the_edge_that_still_ties(plan):
    c = plan.chosen
    assert plan.binding_constraint == "overhead"
    assert c.overhead_fraction <= TARGET_OVERHEAD_FRACTION
    fastest = min(e.wall_seconds for e in _ladder(plan))
    assert c.wall_seconds <= fastest * (1 + plan.tie_band_fraction)
    # between two rungs: the one below is over the target
    smaller = [e for e in _ladder(plan) if e.task_bytes < c.task_bytes]
    assert max(smaller, key=lambda e: e.task_bytes).overhead_fraction > TARGET_OVERHEAD_FRACTION
    # and no rung of the ladder met the target within the band (else the tie rule took it)
    assert not [e for e in _ladder(plan) if e.overhead_fraction <= TARGET_OVERHEAD_FRACTION
                and e.wall_seconds <= fastest * (1 + plan.tie_band_fraction)
                and e.task_bytes < 1.5 * c.task_bytes]


def test_the_plan_says_it_is_bound_by_overhead_at_the_edge():
    text = PLANS[3].explain()
    assert "Bound by overhead" in text and f"{PLANS[3].chosen.overhead_fraction:.1%}" in text


def _ladder(plan):
    """The rungs the tie rule chose among (before any bisection)."""
    return [evaluate(s, plan.spec, plan.work, plan.resources, plan.model)
            for s in candidate_shapes(plan.spec, plan.work)]
