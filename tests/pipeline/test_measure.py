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
