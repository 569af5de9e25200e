"""Pure: a tie is a difference inside the noise of the samples a prediction rests on
(``core.ties``), not inside a distant sample's."""

from __future__ import annotations

import pytest

from chunkpilot.core.model import Sample, fit_cost_model
from chunkpilot.core.plan import make_plan, search
from chunkpilot.core.policy import MAX_TIE_BAND, MIN_MEASURED_NOISE
from chunkpilot.core.ties import noise_near, tie_band
from chunkpilot.types import ArraySpec, Resources, WorkSpec

MiB = 2**20


def _model(spreads: dict[int, float]):
    """Linear work (4 ms a MiB); the sample at each MiB key spread that much over 5 runs."""
    samples = [Sample(mib * MiB, (mib, 1024, 128), 4e-3 * mib, 3 * mib * MiB,
                      runs_seconds=tuple(4e-3 * mib * f for f in (1 - sp / 2, 1, 1, 1 + sp / 2,
                                                                   1 + sp / 2)))
               for mib, sp in spreads.items()]
    return fit_cost_model(samples, overhead_seconds_per_task=2e-3)


def test_the_noise_is_the_bracketing_samples_spread():
    m = _model({1: 0.3, 8: 0.02, 32: 0.04, 112: 0.06})
    assert noise_near(m, 64 * MiB) == pytest.approx(0.06)
    assert noise_near(m, 16 * MiB) == pytest.approx(0.04)
    assert noise_near(m, 512 * MiB) == pytest.approx(0.06)  # past the samples: the nearest
    assert noise_near(m, MiB // 2) == pytest.approx(0.3)
    assert tie_band(m, at_bytes=64 * MiB) == pytest.approx(MIN_MEASURED_NOISE)  # the floor
    assert tie_band(m) == pytest.approx(MAX_TIE_BAND)  # every sample's: the widest, capped


def test_a_jittery_small_sample_does_not_widen_the_band_of_a_large_chunk():
    """zarr_read on a LocalCluster: a 17 ms sample of 1.3 MiB spread 24 % and the band around
    the best shape, 32 MiB chunks, took it; now the band is the floor, and only shapes
    within it tie."""
    spec = ArraySpec((128, 1024, 2048), "float32")  # 1 GiB
    m = _model({1: 0.24, 8: 0.02, 32: 0.03, 112: 0.03})
    choice, evals = search(spec, WorkSpec(3), Resources(2, 1, 4 * 2**30, "tcp://x:1"), m)
    assert choice.tie_band_fraction == pytest.approx(MIN_MEASURED_NOISE)
    assert choice.chosen.wall_seconds <= choice.best_wall_seconds * (1 + MIN_MEASURED_NOISE)


def _nanmedian_like_plan(seconds_per_mib: float, overhead_seconds: float):
    """A (time, y, x) cube on 16 x 128 x 128 storage chunks, time whole, linear work sampled
    at 0.25, 1 and 4 MiB (as nanmedian along time was), on 2 threads."""
    spec = ArraySpec((256, 512, 512), "float32", storage_chunks=(16, 128, 128))
    samples = [Sample(int(mib * MiB), (256, 32, int(32 * mib)), seconds_per_mib * mib,
                      3 * int(mib * MiB), runs_seconds=(seconds_per_mib * mib,) * 3)
               for mib in (0.25, 1, 4)]
    model = fit_cost_model(samples, overhead_seconds_per_task=overhead_seconds)
    return make_plan(spec, WorkSpec(3, keep_whole=(0,)), Resources(1, 2, 4 * 2**30, "threads"),
                     model)


def test_the_explanation_says_ties_past_the_samples_reach_are_not_preferred():
    """nanmedian on a store of 128 x 128 tiles, sampled up to 4 MiB: the aligned 16 MiB tile
    tied with the 4 MiB one but lay beyond the tie rule's reach; the explanation said no tie
    was aligned. It names the reach instead."""
    plan = _nanmedian_like_plan(0.0125, 2e-4)
    assert plan.tie_count > 1 and plan.chosen.task_bytes <= 4 * MiB
    text = plan.explain()
    assert "none up to 4.00 MiB was aligned" in text
    assert "ties above 4.00 MiB (the largest sample: extrapolated)" in text


def test_the_reach_is_not_named_where_overhead_still_counts():
    """When every tie spends over 1 % in overhead, the fallback (within 5 % of the fastest)
    has no reach: the sentence names that rule, not the reach."""
    plan = _nanmedian_like_plan(4e-4, 2e-3)
    assert plan.tie_count > 1 and plan.chosen.overhead_fraction > 0.01
    text = plan.explain()
    assert "among those within 5% of the fastest" in text and "ties above" not in text
