"""Five real ``advise`` runs on the same synthetic input give chunk sizes within 1.5x.

The plans rest on timings (the samples and the scheduler-overhead probe). On a quiet machine
they must agree: the chosen size moves one for one with the probe, which is why the probe
keeps its fastest runs on fresh thread pools and recent probes of the same setup are pooled
(``chunkpilot.probe.history``). When other processes keep the machine busy while the runs
measure (more than half a core on average, counted from the machine's CPU time minus this
process tree's), the samples themselves move (by 30 % and more under two busy neighbours on
two cores) and so may the plan: that outcome is reported as an expected failure with the
numbers, never as a pass. So is a run whose own samples say the machine was not quiet: a plan
whose tie band reached its cap (``MAX_TIE_BAND``, 25 %: the samples near its chunks spread
that widely between their warm runs). Five quiet runs here gave bands of 15 % each and sizes
within 1.14x; a disturbed one (no other process busy) gave two capped bands and 1.51x.
"""

from __future__ import annotations

import json

import dask
import dask.array as da
import numpy as np
import pytest

import chunkpilot
from chunkpilot.core.policy import MAX_TIE_BAND
from tests.helpers.load import ForeignLoad

pytestmark = pytest.mark.timing  # measured time or CPU: runs alone (tests/helpers/timing_gate.py)

#: Other processes' average busy cores above which a run did not measure on a quiet machine.
QUIET_CORES = 0.5


def sin_cos(b):
    return np.sin(b) ** 2 + np.cos(b)


@pytest.mark.slow
def test_five_advise_runs_agree_within_one_and_a_half(tmp_path):
    """A new user's five runs: the probe history starts empty and pools their own probes."""
    x = da.zeros((20_000, 20_000), chunks=(1000, 1000))  # 3.2 GB, never materialised
    plans, loads = [], []
    with dask.config.set({"chunkpilot.probe.cache-dir": str(tmp_path)}):
        for _ in range(5):
            load = ForeignLoad().start()
            plans.append(chunkpilot.advise(x, sin_cos, scheduler="threads",
                                           threads_per_worker=2, seed=7))
            loads.append(round(load.cores(), 2))
    assert all("runs_seconds" in s for p in plans for s in p.to_dict()["measured"]["samples"])
    sizes = [p.chosen.task_bytes for p in plans]
    evidence = [(p.chunk_shape, p.binding_constraint, round(p.chosen.overhead_fraction, 4),
                 round(p.tie_band_fraction, 3),
                 round(p.to_dict()["measured"]["overhead_seconds_per_task"] * 1e6),
                 [n for n in p.notes if "probes of the same setup" in n],
                 [(s["bytes"], round(s["seconds"] * 1e3, 1), round(s["spread_fraction"], 3))
                  for s in p.to_dict()["measured"]["samples"]])
                for p in plans]
    # every plan with its replay inputs (``core.replay.replan``): a failure can be re-planned
    kept = tmp_path / "plans.json"
    kept.write_text(json.dumps([p.to_dict() for p in plans]))
    assert all(e[5] for e in evidence[1:]), evidence  # runs 2-5 pooled the earlier probes
    capped = [e[3] for e in evidence if e[3] >= MAX_TIE_BAND]
    if max(sizes) / min(sizes) > 1.5 and (max(loads) > QUIET_CORES or capped):
        pytest.xfail(f"other processes kept {max(loads):.1f} cores busy while measuring, and "
                     f"{len(capped)} plan(s)' samples spread to the tie band's cap "
                     "(shape, binding, overhead share, tie band, overhead us, pooled, "
                     f"sample ms): {evidence}")
    for e in evidence:  # shown in full under "Captured stdout" (the message is shortened)
        print(e)
    assert max(sizes) / min(sizes) <= 1.5, (evidence, loads, str(kept))
