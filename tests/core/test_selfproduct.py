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
from chunkpilot.core.selfproduct import product_work, self_share
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
