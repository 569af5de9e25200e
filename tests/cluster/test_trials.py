"""``cluster.trials``: the same work on one region with different chunks, one Trial each,
on the threaded scheduler (the executor tune uses for ``scheduler="threads"``)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from chunkpilot.cluster.trials import ThreadsExecutor, TrialRunner
from chunkpilot.sources.describe import describe
from chunkpilot.types import WorkSpec

pytestmark = pytest.mark.timing  # measured time or CPU: runs alone (tests/helpers/timing_gate.py)

REGION = (slice(0, 512), slice(0, 512))


def _double(block):
    return block * 2


def _boom(block):
    raise ValueError("boom")


def _runner(func, min_seconds: float = 0.0) -> tuple[TrialRunner, np.ndarray]:
    """One run per trial unless ``min_seconds`` asks short trials to repeat."""
    x = np.random.default_rng(0).standard_normal((512, 512))
    _, ref = describe(x)
    return TrialRunner(ThreadsExecutor(2, 2**30), x, ref, WorkSpec(2), REGION, func=func,
                       timeout_s=60, min_seconds=min_seconds), x


def test_every_trial_is_kept_by_shape_and_timed_from_its_first_task():
    runner, _ = _runner(_double)
    runner.warm_up((128, 128))
    assert runner.trials == []  # the warm-up is not a trial
    a = runner.run((128, 128), "a")
    b = runner.run((256, 256), "b")
    a2 = runner.run((128, 128), "a again")
    assert runner.trials == [a, b, a2]
    assert a.chunks == ((128,) * 4, (128,) * 4) and b.chunks == ((256,) * 2, (256,) * 2)
    assert not a.observation.failed and len(a.observation.tasks) >= 16
    assert len(runner.walls((128, 128))) == 2 and 0 < runner.wall((128, 128)) < math.inf
    assert runner.best_trial((128, 128)) in (a, a2)
    assert runner.best_trial((64, 64)) is None


def test_a_short_trial_runs_again_and_keeps_its_median_run_as_one_trial():
    """A 512x512 doubling takes milliseconds, far under 10 s: each trial runs its work
    ``MAX_TRIAL_RUNS`` times, counts once, and its time is the median of those runs."""
    from chunkpilot.core.converge import MAX_TRIAL_RUNS
    from chunkpilot.core.metrics import active_seconds

    runner, _ = _runner(_double, min_seconds=10.0)
    a = runner.run((128, 128), "a")
    assert runner.trials == [a] and len(a.runs_active_s) == MAX_TRIAL_RUNS
    assert runner.walls((128, 128)) == list(a.runs_active_s)
    assert active_seconds(a.observation) == sorted(a.runs_active_s)[MAX_TRIAL_RUNS // 2]
    assert len(a.observation.tasks) >= 16  # one run's tasks, not seven runs' together
    b = runner.run((128, 128), "a again")
    assert len(runner.walls((128, 128))) == 2 * MAX_TRIAL_RUNS and b is runner.trials[-1]


def test_a_short_trial_that_fails_stops_at_its_first_run():
    runner, _ = _runner(_boom, min_seconds=10.0)
    t = runner.run((128, 128), "boom")
    assert t.observation.failed and t.runs_active_s == () and runner.walls((128, 128)) == []


def test_a_function_that_raises_is_a_failed_trial_not_an_exception():
    runner, _ = _runner(_boom)
    t = runner.run((128, 128), "boom")
    assert t.observation.failed and "boom" in (t.observation.error or "")
    assert (128, 128) in runner.failed
    assert runner.wall((128, 128)) == math.inf and runner.best_trial((128, 128)) is t
    assert [v.kind for v in t.verdicts] == ["failed"]  # no idle-time verdict from a stopped run


def test_a_trial_reduces_its_blocks_through_a_tree_as_a_sum_would():
    """The per-block numbers are summed by dask's tree reduction, not gathered one by one:
    the scheduler then places the blocks as it does under the user's ``.sum()``."""
    import dask.array as da

    from chunkpilot.cluster.work import trial_collection

    x = da.ones((64, 8), chunks=(4, 8))
    out = trial_collection(x, _double, WorkSpec(2))
    assert out.ndim == 0 and float(out.compute(scheduler="sync")) == 2 * 64 * 8
    layers = {name.rsplit("-", 1)[0] for name in out.__dask_graph__().layers}
    assert "sum-aggregate" in layers and "sum-partial" in layers


def test_a_trial_whose_chunks_are_shorter_than_the_depth_runs_as_map_overlap_would():
    """Hunt 13: tune --compare-auto --depth 1=7000 on auto's 5000-long chunks ended in an
    internal error ("Dimension 1 has 4 blocks, adjust_chunks specified with 8 blocks"):
    map_overlap rechunks chunks shorter than the depth, and the summaries declared the
    input's grid. Every element counted once per block that holds it, halos included."""
    import dask.array as da

    from chunkpilot.cluster.work import trial_collection

    x = da.ones((40, 400), chunks=(40, 50))
    out = trial_collection(x, None, WorkSpec(2, depth=(0, 70)))
    got = float(out.compute(scheduler="sync"))
    blocks = da.overlap.overlap(x, depth={0: 0, 1: 70}, boundary="none", allow_rechunk=True)
    assert got == sum(b.size for b in blocks.blocks.ravel()) > x.size  # halos counted


def test_a_client_warm_up_runs_on_every_worker_even_when_the_region_is_one_chunk():
    """A one-chunk warm-up left to the scheduler warmed one worker of two, and the other ran
    the first trial cold; each worker now runs it, pinned, under keys of its own."""
    import os

    import distributed

    from chunkpilot.cluster.trials import ClientExecutor

    def mark(block):  # by value (a closure), so the workers need not import this module
        os.environ["CHUNKPILOT_WARMED"] = "yes"
        return block

    x = np.ones((64, 64))
    _, ref = describe(x)
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  memory_limit="512MiB", dashboard_address="127.0.0.1:0",
                                  ) as cluster, distributed.Client(cluster) as client:
        runner = TrialRunner(ClientExecutor(client), x, ref, WorkSpec(2),
                             (slice(0, 64), slice(0, 64)), func=mark, timeout_s=60)
        runner.warm_up((64, 64))  # the whole region is one chunk
        warmed = client.run(lambda: os.environ.get("CHUNKPILOT_WARMED"))
        assert runner.trials == [] and not client.futures
    assert list(warmed.values()) == ["yes", "yes"]
