"""Sub-array measurements in a real pipeline sandbox (``pipeline.measure``): how many runs."""

from __future__ import annotations

import time

import numpy as np

from chunkpilot.measure.sandbox import pickle_func
from chunkpilot.pipeline.measure import SUBARRAY_TIME_BUDGET_S, PipelineSandbox
from chunkpilot.types import ArraySpec, WorkSpec

SPEC = ArraySpec((64, 64), "float64")
#: Per input chunk: a 3 x 3 sub-array runs ~1.5x the time budget.
CHUNK_SLEEP_S = SUBARRAY_TIME_BUDGET_S * 1.5 / 9


def _slow(block: np.ndarray) -> np.ndarray:
    time.sleep(CHUNK_SLEEP_S)
    return block


def slow_sum(x):
    return x.map_blocks(_slow, dtype=x.dtype).sum()


def _box() -> PipelineSandbox:
    return PipelineSandbox(pickle_func(slow_sum) or b"", SPEC, {"kind": "synthetic"}, {},
                           2**30, 60.0)


def test_a_sub_array_over_the_budget_runs_once_warm_after_its_cold_run():
    """Its cold run alone took longer than the budget: one warm run, not two (matmul's
    1024 x 1024 sample, 1.6 s a run); the threads comparison reuses the warm run."""
    m = _box().measure(SPEC, WorkSpec(2), (16, 16), threads=2)
    assert m.sample.ok, m.sample.error
    assert len(m.sample.runs_seconds) == 1
    assert m.sample.seconds >= CHUNK_SLEEP_S
    assert m.scaling is not None and m.scaling["sync_wall_seconds"] >= 9 * CHUNK_SLEEP_S


def test_a_peak_only_measurement_runs_cold_only():
    m = _box().measure(SPEC, WorkSpec(2), (16, 16), warm=False)
    assert m.sample.ok, m.sample.error
    assert m.sample.runs_seconds == ()
    assert m.sample.seconds >= CHUNK_SLEEP_S and m.sample.peak_bytes is not None


def test_a_measurement_carried_to_another_family_keeps_its_warm_runs():
    """``rebase`` re-sizes the sample to the family's halo; its warm runs and read time are
    still the measurement's (they set the spread behind the tie band): dropping them showed
    the first sample of every pipeline advise as "over 0 warm runs"."""
    from chunkpilot.core.sample import Sample
    from chunkpilot.pipeline.measure import Measurement, rebase

    runs = (0.010, 0.012, 0.011)
    m = Measurement(Sample(16 * 16 * 8, (16, 16), 0.011, 4096, runs_seconds=runs,
                           read_seconds=0.002), (16, 16), None)
    out = rebase(m, SPEC, WorkSpec(2, depth=(2, 2)))
    assert out is not None
    assert out.sample.shape == (20, 20) and out.sample.nbytes == 20 * 20 * 8
    assert out.sample.runs_seconds == runs and out.sample.read_seconds == 0.002
    assert out.sample.spread_fraction > 0
