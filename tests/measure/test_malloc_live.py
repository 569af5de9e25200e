"""What malloc had in use while a run went (``measure.malloc_live``): real allocations, and a
real pipeline sandbox with glibc's default thresholds against dask workers' fixed ones."""

from __future__ import annotations

import numpy as np
import pytest

from chunkpilot.measure.malloc_live import LivePeak, dynamic_thresholds
from chunkpilot.measure.sandbox import pickle_func
from chunkpilot.pipeline.measure import PipelineSandbox
from chunkpilot.types import ArraySpec

MiB = 2**20

pytestmark = [pytest.mark.skipif(not dynamic_thresholds(), reason="needs glibc's mallinfo2"),
              pytest.mark.timing]


def test_the_peak_is_what_was_held_at_once():
    with LivePeak() as live:
        held = [np.ones(16 * MiB // 8) for _ in range(3)]  # 48 MiB at once
        live.mark()  # as a task's callback does: the sampler alone can miss a 15 ms peak
        del held    # under load (the full suite once read 32 MiB)
        for _ in range(3):  # then 16 MiB at a time, three times
            np.ones(16 * MiB // 8).sum()
    assert 44 * MiB < live.increment_bytes < 56 * MiB


def test_fixed_thresholds_in_the_environment_are_seen(monkeypatch):
    monkeypatch.setenv("MALLOC_TRIM_THRESHOLD_", "65536")
    assert not dynamic_thresholds()


def chain_sum(x):
    return (np.sin(x) ** 2 + np.cos(x) * x + np.exp(-x * x)).sum()


def test_a_threads_sandbox_peak_matches_a_workers_not_its_kept_blocks(tmp_path):
    """The threaded scheduler's sandbox runs with glibc's default thresholds: its RSS peak
    counted the blocks malloc kept for reuse (9.5 blocks per chunk reading this store, where
    a process with dask workers' fixed thresholds peaks at 4.4); what malloc had in use is
    the same in both."""
    import zarr

    path = str(tmp_path / "a.zarr")
    z = zarr.create_array(path, shape=(1536, 1536), chunks=(256, 256), dtype="f8")
    z[:] = np.random.default_rng(0).standard_normal((1536, 1536))
    spec, src = ArraySpec((1536, 1536), "float64"), {"kind": "zarr", "path": path, "array": None}
    block = 512 * 512 * 8

    def peak(env: dict[str, str]) -> tuple[float, float]:
        box = PipelineSandbox(pickle_func(chain_sum) or b"", spec, src, env, 2**30, 60.0)
        r = box.run({"mode": "measure", "source": src, "region": [[0, 1536], [0, 1536]],
                     "chunks": [512, 512], "threads": 1, "builds": [], "repeat_seconds": 0.1,
                     "min_warm_runs": 1, "max_repeats": 0})
        assert r.get("ok"), r
        return r["peak_bytes"] / block, r["rss_peak_bytes"] / block

    threads, threads_rss = peak({})
    workers, workers_rss = peak({"MALLOC_TRIM_THRESHOLD_": "65536"})
    assert workers == workers_rss  # fixed thresholds: the RSS peak is exact, kept as is
    assert threads <= threads_rss
    assert threads == pytest.approx(workers, rel=0.15), (threads, threads_rss, workers)
