"""``cluster.trials``: the same work on one region with different chunks, one Trial each,
on the threaded scheduler (the executor tune uses for ``scheduler="threads"``)."""

from __future__ import annotations

import math
import time

import numpy as np
import pytest

from chunkpilot.cluster.trials import ThreadsExecutor, TrialRunner
from chunkpilot.commands.tuned import trial_summary
from chunkpilot.core.observations import Trial
from chunkpilot.sources.describe import describe
from chunkpilot.types import WorkSpec

pytestmark = pytest.mark.timing  # measured time or CPU: runs alone (tests/helpers/timing_gate.py)

REGION = (slice(0, 512), slice(0, 512))


def _double(block):
    return block * 2


def _boom(block):
    raise ValueError("boom")


_SLEPT: list[int] = []


def _slow_first_run(block):
    """Doubles; the first call on data in this process sleeps a second (a run the host
    slowed; dask's call on an empty block, for the output's type, does not count)."""
    if block.size and not _SLEPT:
        _SLEPT.append(1)
        time.sleep(1.0)
    return block * 2


def _always_slow(block):
    if block.size:
        time.sleep(0.2)
    return block * 2


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
    ``MAX_TRIAL_RUNS`` times, counts once, and its time is the median of those runs (the
    first trial's first run set aside: ``core.reruns.FIRST_TRIAL_RUNS``)."""
    from chunkpilot.core.metrics import active_seconds
    from chunkpilot.core.reruns import MAX_TRIAL_RUNS

    runner, _ = _runner(_double, min_seconds=10.0)
    a = runner.run((128, 128), "a")
    assert runner.trials == [a] and len(a.runs_active_s) == MAX_TRIAL_RUNS - 1
    assert len(a.outlier_runs_s) == 1
    b = runner.run((128, 128), "a again")
    assert len(b.runs_active_s) == MAX_TRIAL_RUNS and b.outlier_runs_s == ()
    assert runner.walls((128, 128)) == [*a.runs_active_s, *b.runs_active_s]
    assert active_seconds(b.observation) == sorted(b.runs_active_s)[MAX_TRIAL_RUNS // 2]
    assert len(b.observation.tasks) >= 16  # one run's tasks, not seven runs' together
    assert b is runner.trials[-1]


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


def test_a_surprisingly_slow_run_runs_again_and_is_set_aside_when_the_re_run_was_faster():
    """A first run the model said would take 50 ms took over a second: it runs once more, the
    re-run is the trial's time and the slow run is kept apart, shown, not counted."""
    _SLEPT.clear()
    runner, _ = _runner(_slow_first_run)
    runner.run((128, 128), "first")  # the first trial sets its first run aside anyway
    _SLEPT.clear()
    t = runner.run((256, 256), "surprise", expected_s=0.05)
    assert len(t.outlier_runs_s) == 1 and t.outlier_runs_s[0] >= 1.0
    assert len(t.runs_active_s) == 1 and t.runs_active_s[0] < t.outlier_runs_s[0] / 1.5
    assert runner.walls((256, 256)) == list(t.runs_active_s)
    assert trial_summary(t)["outlier_runs_seconds"] == list(t.outlier_runs_s)
    assert Trial.from_dict(t.to_dict()) == t  # a saved report keeps it
    # nothing expected (or a run as slow as expected): one run, nothing set aside
    again = runner.run((256, 256), "as expected", expected_s=10.0)
    assert again.runs_active_s == () and again.outlier_runs_s == ()


def test_a_shape_slow_on_every_run_keeps_both_runs():
    runner, _ = _runner(_always_slow)
    runner.run((128, 128), "first")  # the first trial sets its first run aside anyway
    t = runner.run((256, 256), "slow", expected_s=0.01)
    assert len(t.runs_active_s) == 2 and t.outlier_runs_s == ()
    assert all(s >= 0.2 for s in runner.walls((256, 256)))
