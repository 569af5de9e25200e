"""Block products of an array with its own transpose (``chunkpilot.core.selfproduct``):
numpy's SYRK runs them at half the work, and the share of them depends on the chunking."""

from __future__ import annotations

import dataclasses

import pytest

from chunkpilot.core.evaluate import evaluate
from chunkpilot.core.growth import TaskGrowth
from chunkpilot.core.model import Sample, fit_cost_model
from chunkpilot.core.plan import make_plan
from chunkpilot.core.plan_inputs import plan_inputs
from chunkpilot.core.replay import replan
from chunkpilot.core.selfproduct import product_work, self_product_cost, self_share
from chunkpilot.types import ArraySpec, Resources, WorkSpec

MiB = 2**20
SPEC = ArraySpec((4096, 4096), "float64")
THREADS = Resources(1, 2, 64 * 2**30, "threads")


def _model(axes: tuple[int, ...] = ()):
    samples = [Sample(b, (1,), 0.02 * b / MiB, 3 * b) for b in (MiB, 4 * MiB, 8 * MiB)]
    m = fit_cost_model(samples, overhead_seconds_per_task=0.0)
    return dataclasses.replace(m, contraction_units=TaskGrowth((2, 1), 4, (2.0, 1.0)),
                               self_product_axes=axes)


@pytest.mark.parametrize(("counts", "axes", "share", "work"), [
    ((4, 2), (0,), 0.25, 0.875),  # 4 row blocks: the 4 diagonal output blocks of 16
    ((1, 8), (0,), 1.0, 0.5),     # one row block: every product is a self-product
    ((4, 2), (1,), 0.5, 0.75),    # x.T @ x pairs column blocks
    ((4, 2), (), 0.0, 1.0),       # no self-products: general products only
])
def test_share_and_work_follow_the_chunks_along_the_paired_axis(counts, axes, share, work):
    assert self_share(counts, axes) == pytest.approx(share)
    assert product_work(counts, axes) == pytest.approx(work)


def test_the_planner_prices_self_products_at_each_candidate_chunking():
    """One 4096 x 4096 chunk is all self-product (half the work); two row blocks half of
    them; a graph without self-products is priced as before."""
    plain, gram = _model(), _model((0,))
    for chunk, factor in (((4096, 4096), 0.5), ((2048, 4096), 0.75), ((1024, 4096), 0.875)):
        e0, e1 = (evaluate(chunk, SPEC, WorkSpec(2), THREADS, m) for m in (plain, gram))
        assert e1.seconds_per_task == pytest.approx(factor * e0.seconds_per_task)
        assert e1.wall_seconds < e0.wall_seconds


def test_self_product_axes_survive_the_stored_plan_inputs():
    plan = make_plan(SPEC, WorkSpec(2), THREADS, _model((0,)))
    again = replan(plan_inputs(plan))
    assert again.model.self_product_axes == (0,)
    assert again.chunk_shape == plan.chunk_shape


@pytest.mark.parametrize(("length", "cost"), [
    (None, 0.5),    # unknown: half the multiply-adds
    (4096, 0.549),  # float64 2048 x 4096 ran 0.56x a general product here
    (1024, 0.695),  # 1024 x 1024: 0.69x
    (256, 1.0),     # a short contraction saves nothing (capped at a general product)
])
def test_a_self_products_cost_shrinks_to_half_with_the_contraction_length(length, cost):
    assert self_product_cost(length) == pytest.approx(cost, abs=1e-3)


def test_the_planner_prices_a_self_product_by_its_chunks_contraction_length():
    """With the contraction axis known, a single 4096 x 4096 chunk (contraction of 4096)
    costs 0.55 of general products, 2048 x 1024 chunks (length 1024, a quarter of the
    products self-products) 1 - 0.25 x 0.305; unknown, half as before."""
    plain = _model()
    known = dataclasses.replace(_model((0,)), contraction_axes=(1,))
    for chunk, factor in (((4096, 4096), 0.5 + 200 / 4096),
                          ((1024, 1024), 1 - 0.25 * (0.5 - 200 / 1024))):
        e0, e1 = (evaluate(chunk, SPEC, WorkSpec(2), THREADS, m) for m in (plain, known))
        assert e1.seconds_per_task == pytest.approx(factor * e0.seconds_per_task)
    again = replan(plan_inputs(make_plan(SPEC, WorkSpec(2), THREADS, known)))
    assert again.model.contraction_axes == (1,)
