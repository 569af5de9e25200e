"""Measuring the GIL: a ticker thread in-process, and a real LocalCluster's wait."""

from __future__ import annotations

import time

import numpy as np
import pytest

from chunkpilot.measure.gil import gil_share, probe_gil_wait
from chunkpilot.measure.profile import profile_function
from chunkpilot.types import ArraySpec, Resources, WorkSpec


def _spin(seconds: float = 0.08) -> None:
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        pass


def test_a_pure_python_loop_holds_the_gil_and_a_sleep_does_not():
    assert gil_share(_spin) > 0.6
    assert gil_share(lambda: time.sleep(0.08)) < 0.3


def rows_loop(block: np.ndarray) -> np.ndarray:
    """A recursive filter along each row in pure Python (holds the GIL)."""
    out = np.empty_like(block)
    for i in range(block.shape[0]):
        acc = 0.0
        row = block[i].tolist()
        for j, v in enumerate(row):
            acc = 0.9 * acc + 0.1 * v
            row[j] = acc
        out[i] = row
    return out


def test_profiling_reports_the_gil_share_of_the_users_function():
    spec = ArraySpec((512, 4096), "float32")
    prof = profile_function(rows_loop, spec, WorkSpec(2, keep_whole=(1,)),
                            Resources(1, 1, 2 * 2**30, "threads"), {"kind": "synthetic"},
                            env={}, baseline_guess_bytes=0)
    assert prof.gil_share is not None and prof.gil_share > 0.6


@pytest.mark.cluster
def test_a_gil_holding_task_waits_on_a_real_worker_and_advise_charges_it():
    import dask.array as da
    from distributed import Client, LocalCluster

    import chunkpilot

    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                      memory_limit="1GiB", dashboard_address="127.0.0.1:0",
                      host="127.0.0.1") as cluster, Client(cluster) as client:
        wait = probe_gil_wait(client)
        plan = chunkpilot.advise(da.zeros((512, 4096), dtype="float32", chunks=(64, 4096)),
                                 rows_loop, keep_whole=(1,), client=client)
    assert wait > 0.002  # ~10 ms on this machine: several switch intervals per task
    charged = plan.to_dict()["model"]["gil_wait_seconds_per_task"]
    assert charged > 0.002
    assert any("held the GIL" in n for n in plan.notes), plan.notes
    assert plan.chosen.seconds_per_task > charged
