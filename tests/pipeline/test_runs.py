"""``pipeline.runs``: the scaling measurement keeps the warm threaded run."""

from __future__ import annotations

import time

from chunkpilot.pipeline.runs import SCALING_RUNS, scaling


def test_the_scaling_run_keeps_the_fastest_threaded_run():
    """The first threaded run starts the pool (and its threads' malloc arenas): slower for
    reasons a worker that has been running does not pay."""
    calls = []

    def get_threads(dsk, sinks, num_workers):
        calls.append(num_workers)
        time.sleep(0.2 if len(calls) == 1 else 0.02)

    out = scaling({}, [], 2, 0.05, get_threads)
    assert calls == [2] * SCALING_RUNS
    assert 0.02 <= out["threaded_wall_seconds"] < 0.2
    assert out["threads"] == 2 and out["sync_wall_seconds"] == 0.05
