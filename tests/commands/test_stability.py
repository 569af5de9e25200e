"""Five real ``advise`` runs on the same synthetic input give chunk sizes within 1.5x.

The plans rest on timings (the samples and the scheduler-overhead probe). On a quiet machine
they must agree. When other processes keep the machine busy while the runs measure (more
than half a core on average, counted from the machine's CPU time minus this process tree's),
the samples themselves move (by 30 % and more under two busy neighbours on two cores) and
so may the plan: that outcome is reported as an expected failure with the numbers, never
as a pass.
"""

from __future__ import annotations

import dask.array as da
import numpy as np
import pytest

import chunkpilot
from tests.helpers.load import ForeignLoad

#: Other processes' average busy cores above which a run did not measure on a quiet machine.
QUIET_CORES = 0.5


def sin_cos(b):
    return np.sin(b) ** 2 + np.cos(b)


@pytest.mark.slow
@pytest.mark.xfail(strict=False, reason=(
    "KNOWN OPEN (issue 18): in a clean-clone CI run on a quiet machine (other processes 0.01 "
    "cores) one of five runs chose 209 rows where the others chose 74-105: its 7.6 MiB sample "
    "ran 28 ms instead of ~21.5 and the adaptive sample sizes then differed (32/133 MiB "
    "instead of 37/180), which moved the plan 2x. One noisy sample still decides. Still run: "
    "an XPASS shows when it holds."))
def test_five_advise_runs_agree_within_one_and_a_half():
    x = da.zeros((20_000, 20_000), chunks=(1000, 1000))  # 3.2 GB, never materialised
    plans, loads = [], []
    for _ in range(5):
        load = ForeignLoad().start()
        plans.append(chunkpilot.advise(x, sin_cos, scheduler="threads", threads_per_worker=2,
                                       seed=7))
        loads.append(round(load.cores(), 2))
    assert all("runs_seconds" in s for p in plans for s in p.to_dict()["measured"]["samples"])
    sizes = [p.chosen.task_bytes for p in plans]
    evidence = [(p.chunk_shape, round(p.to_dict()["measured"]["overhead_seconds_per_task"] * 1e6),
                 [round(s["seconds"] * 1e3, 1) for s in p.to_dict()["measured"]["samples"]])
                for p in plans]
    if max(sizes) / min(sizes) > 1.5 and max(loads) > QUIET_CORES:
        pytest.xfail(f"other processes kept {max(loads):.1f} cores busy while measuring "
                     f"(shape, overhead us, sample ms): {evidence}")
    assert max(sizes) / min(sizes) <= 1.5, (evidence, loads)
