"""The parallelism rule (>= 2 chunks per thread) gives way only to a clearly faster plan."""

from __future__ import annotations

import dataclasses

from chunkpilot.core.choice import choose
from chunkpilot.core.evaluate import evaluate
from chunkpilot.core.growth import TaskGrowth
from chunkpilot.core.model import CostModel, LinearFit, Sample, fit_cost_model
from chunkpilot.core.plan import make_plan
from chunkpilot.core.policy import MIN_CHUNKS_PER_THREAD
from chunkpilot.types import ArraySpec, Resources, WorkSpec

MiB = 2**20
SPEC = ArraySpec((8192, 4096), "float32", storage_chunks=(512, 512))
RES = Resources(2, 2, 2048 * MiB)


def _plan(fixed_s: float, per_mib_s: float):
    model = CostModel(LinearFit(fixed_s, per_mib_s / MiB, 1.0), LinearFit(8 * MiB, 1.05, 1.0),
                      4e-3)
    return make_plan(SPEC, WorkSpec(2), RES, model)


def test_a_fixed_cost_per_block_is_not_split_into_two_rounds():
    """Hunt: time.sleep(0.2) per block on 2 x 2 threads was held to 8 chunks (2 rounds,
    0.84 s measured) where 4 chunks ran in 0.47 s; the model predicted so, the rule
    overrode it."""
    plan = _plan(0.2, 1e-4)
    assert plan.chosen.task_count == RES.total_threads, plan.chosen
    assert plan.binding_constraint != "parallelism"


def test_work_in_proportion_to_bytes_keeps_two_chunks_per_thread():
    plan = _plan(0.0, 2.4e-3)
    assert plan.chosen.parallel_units >= MIN_CHUNKS_PER_THREAD * RES.total_threads


def test_a_contractions_block_products_are_what_keeps_threads_busy():
    """matmul ((x @ x.T).sum(), 4096 x 4096, 2 workers x 1 thread; benchmark run at 5708b0f):
    2 chunks of 2048 x 4096 run 4 block products, two per thread. Counting chunks, the
    parallelism rule held the plan to 4 chunks of 2048 x 2048, 1.20x slower. Per-block work
    still needs its chunks."""
    spec, res = ArraySpec((4096, 4096), "float64"), Resources(2, 1, 64 * 2**30, "local")
    samples = [Sample(b, (1,), 0.02 * b / MiB, 3 * b) for b in (MiB, 4 * MiB, 8 * MiB)]
    plain = fit_cost_model(samples, overhead_seconds_per_task=1e-3)
    products = dataclasses.replace(plain, contraction_units=TaskGrowth((2, 1), 4, (2.0, 1.0)))
    for m, winner in ((products, (2048, 4096)), (plain, (2048, 2048))):
        small, big = (evaluate(c, spec, WorkSpec(2), res, m) for c in ((2048, 2048), (2048, 4096)))
        assert big.task_count == 2
        assert big.parallel_units == (4 if m is products else 2)
        faster = dataclasses.replace(big, wall_seconds=small.wall_seconds / 2)  # clearly,
        assert choose([small, faster], res, spec,  # but beyond the samples' reach
                      reach_bytes=m.tie_reach_bytes).chosen.chunk_shape == winner
