"""tune's search policy (``commands.tune._search``) on scripted trial times: which shapes it
runs, in what order, and what it keeps. The cluster side of trials is tested on real
clusters (``tests/cluster/test_trials.py``, ``test_tune.py``); here only the decisions."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

from chunkpilot.commands.tune import _search
from chunkpilot.core.converge import ladder
from chunkpilot.core.model import CostModel, LinearFit
from chunkpilot.core.observations import Observation, TaskRecord, Trial, WorkerInfo
from chunkpilot.core.plan import make_plan
from chunkpilot.core.verdicts import Verdict
from chunkpilot.types import ArraySpec, Resources, WorkSpec

MiB = 2**20
RES = Resources(1, 2, 8 * 1024 * MiB)

Shape = tuple[int, ...]


class ScriptedRunner:
    """``TrialRunner``'s interface with each shape's run times given in advance (one per run,
    in order), every run healthy."""

    def __init__(self, times: Mapping[Shape, Sequence[float]]) -> None:
        self.times = {c: list(t) for c, t in times.items()}
        self.trials: list[Trial] = []
        self.by_shape: dict[Shape, list[Trial]] = {}
        self.failed: set[Shape] = set()

    def run(self, chunk: Shape, label: str, expected_s: float | None = None) -> Trial:
        t = self.times[chunk].pop(0)
        obs = Observation(wall_seconds=t, workers=(WorkerInfo("w", 2, 8 * 1024 * MiB),),
                          tasks=(TaskRecord("('f', 0)", "f", "w", 1, "compute", 0.0, t),))
        trial = Trial(label, tuple((c,) for c in chunk), obs, (Verdict("healthy", "ok", {}),))
        self.trials.append(trial)
        self.by_shape.setdefault(chunk, []).append(trial)
        return trial

    def walls(self, chunk: Shape) -> list[float]:
        return [t.observation.wall_seconds for t in self.by_shape.get(chunk, ())]

    def wall(self, chunk: Shape) -> float:
        runs = sorted(self.walls(chunk))
        return runs[(len(runs) - 1) // 2] if runs else math.inf


def _plan():
    model = CostModel(LinearFit(1e-3, 4e-3 / MiB, 1.0), LinearFit(4 * MiB, 3.0, 1.0), 1e-3)
    return make_plan(ArraySpec((8192, 8192), "float64"), WorkSpec(2), RES, model)


def _rungs(plan) -> tuple[list[Shape], int]:
    """The ladder tune walks (the advised shape inserted when off it) and the advised rung."""
    rungs = ladder(plan)
    if plan.chunk_shape not in rungs:
        rungs = sorted([*rungs, plan.chunk_shape], key=math.prod)
    return rungs, rungs.index(plan.chunk_shape)


def _script(plan, times_by_offset: Mapping[int, Sequence[float]]) -> dict[Shape, list[float]]:
    rungs, k = _rungs(plan)
    return {rungs[k + d]: list(t) for d, t in times_by_offset.items()}


def test_a_close_call_two_rungs_apart_runs_the_rung_between_and_keeps_it_when_faster():
    """fft_time on threads: the advised shape and two rungs smaller timed within the noise,
    two rungs bigger clearly slower; the benchmark timed the rung between them 1.22x faster
    than the shape tune kept, which it had never run."""
    plan = _plan()
    rungs, k = _rungs(plan)
    runner = ScriptedRunner(_script(plan, {0: [0.74], -2: [0.79], +2: [1.13], -1: [0.63]}))
    chosen = _search(runner, plan, RES, max_trials=5, noise=0.10)
    assert [t.label.split()[0] for t in runner.trials] == ["advised", "smaller", "bigger",
                                                          "between"]
    assert runner.trials[-1].chunk_shape == rungs[k - 1]
    assert chosen == rungs[k - 1]


def test_the_rung_between_that_is_slower_is_not_kept_and_the_close_call_is_repeated():
    plan = _plan()
    runner = ScriptedRunner(_script(plan, {0: [0.74, 0.72], -2: [0.79, 0.85], +2: [1.13],
                                           -1: [0.90]}))
    chosen = _search(runner, plan, RES, max_trials=6, noise=0.10)
    assert [t.label.split()[0] for t in runner.trials] == ["advised", "smaller", "bigger",
                                                          "between", "repeat", "repeat"]
    assert chosen == plan.chunk_shape  # medians 0.73 against 0.82


def test_trials_left_run_the_rungs_next_to_the_fastest_and_keep_a_faster_one():
    """matmul on threads: the advised shape beat two rungs smaller and two rungs bigger (not a
    close call), and tune stopped after 3 of 5 trials at 1.20x the oracle, one rung up."""
    plan = _plan()
    rungs, k = _rungs(plan)
    runner = ScriptedRunner(_script(plan, {0: [1.41], -2: [1.62], +2: [1.95], -1: [1.55],
                                           +1: [1.25]}))
    chosen = _search(runner, plan, RES, max_trials=5, noise=0.10)
    assert [t.label.split()[0] for t in runner.trials] == ["advised", "smaller", "bigger",
                                                          "neighbour", "neighbour"]
    assert [t.chunk_shape for t in runner.trials[-2:]] == [rungs[k - 1], rungs[k + 1]]
    assert chosen == rungs[k + 1]


def test_the_rungs_next_to_the_fastest_wait_for_the_trial_budget():
    plan = _plan()
    runner = ScriptedRunner(_script(plan, {0: [1.41], -2: [1.62], +2: [1.95], -1: [1.30]}))
    chosen = _search(runner, plan, RES, max_trials=4, noise=0.10)
    assert [t.label.split()[0] for t in runner.trials] == ["advised", "smaller", "bigger",
                                                          "neighbour"]
    assert chosen == _rungs(plan)[0][_rungs(plan)[1] - 1]
    runner = ScriptedRunner(_script(plan, {0: [1.41], -2: [1.62], +2: [1.95]}))
    assert _search(runner, plan, RES, max_trials=3, noise=0.10) == plan.chunk_shape
    assert len(runner.trials) == 3


def test_the_neighbour_on_the_side_that_ran_faster_further_on_goes_first():
    """fft_time on threads: two rungs smaller was fastest, four rungs smaller and the advised
    shape slower; the one trial left runs the rung towards the faster of them (the oracle)."""
    plan = _plan()
    rungs, k = _rungs(plan)
    runner = ScriptedRunner(_script(plan, {0: [0.812], -2: [0.736], -4: [0.884], +2: [1.178],
                                           -1: [0.70], -3: [0.60]}))
    chosen = _search(runner, plan, RES, max_trials=5, noise=0.10)
    assert [t.label.split()[0] for t in runner.trials] == ["advised", "smaller", "smaller",
                                                          "bigger", "neighbour"]
    assert runner.trials[-1].chunk_shape == rungs[k - 1]
    assert chosen == rungs[k - 1]


def test_a_shape_run_before_the_search_is_not_run_again_nor_counted():
    """The demo's dask auto reference was the shape two rungs bigger: the search ran it a
    second time as its "bigger" step (a whole trial of the slowest shape, and one trial of
    the budget). Its trial is reused; the budget still runs both neighbours."""
    plan = _plan()
    rungs, k = _rungs(plan)
    runner = ScriptedRunner(_script(plan, {0: [1.41], -2: [1.62], +2: [1.95], -1: [1.55],
                                           +1: [1.25]}))
    runner.run(rungs[k + 2], "dask auto")
    chosen = _search(runner, plan, RES, max_trials=5, noise=0.10)
    assert [t.label.split()[0] for t in runner.trials] == ["dask", "advised", "smaller",
                                                          "neighbour", "neighbour"]
    assert len(runner.by_shape[rungs[k + 2]]) == 1
    assert chosen == rungs[k + 1]


def test_a_faster_reference_run_the_walk_never_reached_is_kept():
    """Hunt 18: the demo kept (512, 512) at 579 ms while dask auto's reference, run cleanly
    on the same region before the search, took 289 ms (issue 13: a pick never ignores a
    clearly faster measured shape)."""
    plan = _plan()
    rungs, k = _rungs(plan)
    far = rungs[-1]  # never reached by the walk below
    runner = ScriptedRunner({**_script(plan, {0: [1.41], -2: [1.62], +2: [1.95], -1: [1.55],
                                              +1: [1.45]}), far: [0.70]})
    runner.run(far, "dask auto")
    chosen = _search(runner, plan, RES, max_trials=5, noise=0.10)
    assert [c for c in runner.by_shape if len(runner.by_shape[c]) > 1] == []
    assert chosen == far
