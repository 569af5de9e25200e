"""Five real ``advise`` runs on the same synthetic input give chunk sizes within 1.5x."""

from __future__ import annotations

import dask.array as da
import numpy as np
import pytest

import chunkpilot


def sin_cos(b):
    return np.sin(b) ** 2 + np.cos(b)


@pytest.mark.slow
def test_five_advise_runs_agree_within_one_and_a_half():
    x = da.zeros((20_000, 20_000), chunks=(1000, 1000))  # 3.2 GB, never materialised
    plans = [chunkpilot.advise(x, sin_cos, scheduler="threads", threads_per_worker=2, seed=7)
             for _ in range(5)]
    sizes = [p.chosen.task_bytes for p in plans]
    assert max(sizes) / min(sizes) <= 1.5, [p.chunk_shape for p in plans]
    assert all("runs_seconds" in s for p in plans for s in p.to_dict()["measured"]["samples"])
