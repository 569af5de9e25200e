"""Pure rules of tuning: refit the model from a trial, which way to move, what to pick.

``tune`` (the shell) runs trials; these functions only read numbers and verdicts.
"""

from __future__ import annotations

import dataclasses
import math
import statistics
from collections.abc import Mapping, Sequence

from chunkpilot.core.candidates import candidate_shapes
from chunkpilot.core.metrics import median_task_seconds, peak_rise_bytes
from chunkpilot.core.model import CostModel, LinearFit
from chunkpilot.core.observations import Observation
from chunkpilot.core.plan import Plan
from chunkpilot.core.policy import NOISE_FRACTION
from chunkpilot.core.reruns import MIN_TRIAL_SECONDS
from chunkpilot.core.verdicts import Verdict
from chunkpilot.types import ArraySpec, Resources, WorkSpec

#: Repeated trials never narrow the noise band below this.
MIN_NOISE_FRACTION = 0.02
#: Candidate steps (in the planner's sqrt(2) ladder) to move when a verdict points a way.
STEP = 2
#: Trial region: enough data that a chunk twice the plan's still gives each thread 2 rounds.
REGION_ROUNDS = 8
Shape = tuple[int, ...]


def refit(model: CostModel, obs: Observation, task_bytes: int, res: Resources, *,
          predicted_peak_bytes: int | None = None) -> CostModel:
    """Scale the model so it predicts what the cluster showed for ``task_bytes`` blocks.

    Time: every sample is scaled by the observed/predicted task time (``median_task_seconds``,
    time-weighted: a reduction's bookkeeping tasks do not count). Memory: the
    run's own rise above its first sample (a previous trial's leftovers do not count) only
    ever raises the estimate over ``predicted_peak_bytes`` (the task peak the plan predicted
    at the trial's shape; by default the model's at these bytes). A worker's held band
    (``core.held``) is raised in proportion. Workers dying at a size cap the block size."""
    observed = median_task_seconds(obs)  # the tasks doing the work, not the bookkeeping
    time, samples = model.time, model.samples
    if observed > 0 and not obs.failed:
        f = observed / max(model.task_seconds(task_bytes), 1e-9)
        time = LinearFit(time.fixed * f, time.slope * f, time.r2)
        samples = tuple(dataclasses.replace(
            s, seconds=s.seconds * f, runs_seconds=tuple(r * f for r in s.runs_seconds))
            if s.seconds is not None else s for s in samples)
    memory = model.memory
    rise = peak_rise_bytes(obs)
    if rise and not obs.failed:
        per_task = rise / res.threads_per_worker - task_bytes
        predicted = (model.task_peak_bytes(task_bytes) if predicted_peak_bytes is None
                     else predicted_peak_bytes)
        excess = per_task - predicted
        if excess > 0 and model.held is not None:  # a held band: the whole line, in proportion
            f = per_task / max(predicted, 1)
            memory = LinearFit(memory.fixed * f, memory.slope * f, memory.r2)
        elif excess > 0:  # only ever raise the estimate; the dominant term takes the excess
            if memory.slope * task_bytes >= memory.fixed:  # (tiny blocks must not blow up
                memory = LinearFit(memory.fixed, memory.slope + excess / task_bytes, memory.r2)
            else:  # the per-byte multiplier with a fixed cost they happen to show)
                memory = LinearFit(memory.fixed + excess, memory.slope, memory.r2)
    max_ok = model.max_ok_bytes
    if obs.restarts or obs.killed_worker:
        max_ok = min(max_ok or task_bytes, task_bytes)
    return dataclasses.replace(model, time=time, memory=memory, max_ok_bytes=max_ok,
                               samples=samples)


def ladder(plan: Plan) -> list[Shape]:
    """The planner's candidate shapes, smallest block first: the steps tuning moves along."""
    return sorted(candidate_shapes(plan.spec, plan.work), key=math.prod)


def only_shape_note(plan: Plan) -> str | None:
    """The sentence for a plan with one possible chunk shape (``None`` otherwise): trials
    cannot move it, so a verdict asking for other chunks (too big, idle threads) has no
    fix here."""
    if len(candidate_shapes(plan.spec, plan.work)) > 1:
        return None
    why = ("every axis is kept whole" if len(plan.work.keep_whole) == plan.spec.ndim
           else "the array is no bigger than the smallest chunk a plan may use")
    return (f"Only one chunk shape is possible ({why}): no trial can move it, and a verdict's "
            "fix that asks for other chunks cannot be followed.")


def _with_rungs(steps_ladder: Sequence[Shape], shapes: Sequence[Shape]) -> list[Shape]:
    """The ladder with ``shapes`` off it (the advised one) added as rungs where they fall."""
    rungs = list(steps_ladder)
    off = [c for c in dict.fromkeys(shapes) if c not in rungs]
    return sorted([*rungs, *off], key=math.prod) if off else rungs


def neighbour(steps_ladder: Sequence[Shape], current: Shape, steps: int) -> Shape | None:
    """The shape ``steps`` rungs away from ``current`` (negative: smaller), if any."""
    rungs = _with_rungs(steps_ladder, [current])
    i = rungs.index(current) + steps
    return rungs[i] if 0 <= i < len(rungs) else None


def direction(verdicts: Sequence[Verdict]) -> int:
    """-1 for smaller, +1 for bigger, 0 to stay. Memory trouble beats everything; tiny
    tasks beat "idle threads at the end" (tiny chunks can show both)."""
    kinds = {v.kind for v in verdicts}
    memory_trouble = "failed" in kinds or "spill_bound" in kinds or any(
        v.kind == "too_big" and v.evidence.memory_trouble for v in verdicts)
    if memory_trouble:
        return -1
    if "too_small" in kinds:
        return +1
    return -1 if "too_big" in kinds else 0


def measured_noise(runs: Mapping[Shape, Sequence[float]],
                   default: float = NOISE_FRACTION) -> float:
    """Run-to-run noise of these trials: the largest half-range of a repeated shape, relative
    to its median (at least ``MIN_NOISE_FRACTION``); ``default`` when none repeated."""
    spreads = [(max(r) - min(r)) / 2 / statistics.median(r) for r in runs.values() if len(r) > 1]
    return max(max(spreads), MIN_NOISE_FRACTION) if spreads else default


def close_call(runs: Mapping[Shape, Sequence[float]],
               noise_fraction: float = NOISE_FRACTION) -> tuple[Shape, Shape] | None:
    """The two fastest shapes when they are within the measured noise of each other."""
    ranked = sorted((c for c in runs if runs[c]), key=lambda c: statistics.median(runs[c]))
    if len(ranked) < 2:
        return None
    a, b = ranked[0], ranked[1]
    fast, slow = statistics.median(runs[a]), statistics.median(runs[b])
    return (a, b) if slow <= fast * (1 + measured_noise(runs, noise_fraction)) else None


def between(steps_ladder: Sequence[Shape], a: Shape, b: Shape) -> Shape | None:
    """The rung halfway between ``a`` and ``b`` when they are two rungs apart, else ``None``.

    The walk moves ``STEP`` (2) rungs at a time, so the two fastest shapes of a close call are
    often two rungs apart with the rung between them never run: on the stored trials of 13
    full benchmark runs that was 125 rows, where the benchmark timed the middle rung 0.975x
    the shape tune kept (geometric mean; 0.77-1.37x); picked against the kept one by a trial
    with 10 % noise, 0.967x (simulated). A discrete line search narrows its bracket there.

    Examples
    --------
    >>> between([(1,), (2,), (4,), (8,)], (4,), (1,)), between([(1,), (2,), (4,)], (1,), (2,))
    ((2,), None)
    >>> between([(1,), (2,), (8,)], (2,), (3,)), between([(1,), (2,), (8,)], (2,), (8,))
    (None, None)
    """
    rungs = _with_rungs(steps_ladder, [a, b])  # as :func:`neighbour` walks from off it
    i, j = sorted((rungs.index(a), rungs.index(b)))
    return rungs[i + 1] if j - i == 2 else None


def next_rungs(steps_ladder: Sequence[Shape], best: Shape, tried: Sequence[Shape],
               runs: Mapping[Shape, Sequence[float]]) -> list[Shape]:
    """The rungs right next to ``best`` that no trial has run, the more promising first: the
    side whose shape one rung further on ran faster (``runs``: clean times), the smaller
    on a tie. With trials left, the last look around the fastest shape: the walk moves
    ``STEP`` rungs, so the fastest shape's own neighbours often never run. Over the stored
    trials of 14 full benchmark runs (118 rows with budget left; ``python -m
    benchmarks.neighbours --runs 15``: the newest run, with this step, leaves no budget),
    running them with the trials left and keeping the fastest simulates to 1.010x the
    oracle where the kept shape scored 1.034x (one trial each with 5 % noise; 1.019x at
    10 %), better in 11 of the 14 runs and at most 0.006 worse in the others; smaller side
    first instead, 1.021x (1.030x). matmul on threads kept 2048x2048 at 1.20x, the oracle
    2048x4096 one rung up.

    Examples
    --------
    >>> next_rungs([(1,), (2,), (4,), (8,)], (4,), [(4,), (8,), (1,)], {})
    [(2,)]
    >>> next_rungs([(1,), (2,), (3,), (4,), (5,)], (3,), [(1,), (3,), (5,)],
    ...            {(1,): [2.0], (3,): [1.0], (5,): [1.5]})
    [(4,), (2,)]
    >>> next_rungs([(1,), (4,)], (4,), [(4,), (3,)], {})
    []
    """
    rungs = _with_rungs(steps_ladder, [best, *tried])
    i = rungs.index(best)

    def further(j: int) -> float:
        k = 2 * j - i
        r = runs.get(rungs[k]) if 0 <= k < len(rungs) else None
        return statistics.median(r) if r else math.inf

    near = [j for j in (i - 1, i + 1) if 0 <= j < len(rungs) and rungs[j] not in tried]
    return [rungs[j] for j in sorted(near, key=further)]


def pick(runs: Mapping[Shape, Sequence[float]], itemsize: int) -> Shape:
    """The fastest shape by median clean time (the smaller chunk only on an exact tie).

    Close calls were run once more before this (:func:`close_call`), so the medians are the
    best evidence there is; taking the smaller chunk whenever two lay within the noise band
    gave up speed the trials had shown: on the stored trials of seven full benchmark runs
    (``python -m benchmarks replay``) it scored 1.021-1.067x the oracle where the fastest
    median scores 1.014-1.042x, better in every run. Every shape here ran cleanly under the
    memory rule.

    ``runs`` maps every shape that ran cleanly to its clean times (non-empty).
    """
    medians = {c: statistics.median(r) for c, r in runs.items() if r}
    return min(medians, key=lambda c: (medians[c], math.prod(c) * itemsize))


def keep_walking(start: float, here: float, new: float, noise_fraction: float
                 ) -> tuple[bool, bool]:
    """(go on, clearly better): a hill-climbing step to a shape timed at ``new`` seconds from
    one at ``here``, having set out from ``start``. The walk goes on while each step is
    faster at all: a flat stretch of the curve is not its minimum (matmul on a LocalCluster:
    1024x2048 ran 3 % faster than 1024x1024, inside the noise; the benchmark timed
    2048x2048 13 % faster again). It is *clearly* better, so the other side need not be
    tried, once it beats the start by more than the noise.

    Examples
    --------
    >>> keep_walking(2.60, 2.60, 2.51, 0.10)
    (True, False)
    >>> keep_walking(2.60, 2.51, 2.05, 0.10)
    (True, True)
    >>> keep_walking(2.60, 2.05, 2.10, 0.10)
    (False, False)
    """
    faster = new < here
    return faster, faster and new < start * (1 - noise_fraction)


def region_bytes(task_bytes: int, seconds_per_task: float, threads: int,
                 min_seconds: float = MIN_TRIAL_SECONDS) -> int:
    """Bytes of the trial region for a plan: ``REGION_ROUNDS`` rounds of its chunks on every
    thread, and at least ``min_seconds`` of work at its predicted speed
    (``chunkpilot.tune.min-trial-seconds``)."""
    rounds = REGION_ROUNDS * threads * task_bytes
    if seconds_per_task <= 0:
        return rounds
    return max(rounds, int(min_seconds * threads * task_bytes / seconds_per_task))


def trial_region(spec: ArraySpec, work: WorkSpec, chunk: Shape, target_bytes: int,
                 full_axes: Sequence[int] = ()) -> tuple[slice, ...]:
    """A leading slab of the array holding about ``target_bytes``, in whole chunks of ``chunk``.

    The slab is cut along the splittable axis with the most chunks, so the trial keeps
    the plan's chunk shape; the whole array when it is small, or when every axis is kept
    whole or needed at its full length by the pipeline (``full_axes``).
    """
    free = [i for i in range(spec.ndim) if i not in work.keep_whole and i not in full_axes]
    if spec.nbytes <= target_bytes or not free:
        return tuple(slice(0, n) for n in spec.shape)
    axis = max(free, key=lambda i: math.ceil(spec.shape[i] / chunk[i]))
    per_unit = spec.nbytes / spec.shape[axis]
    length = max(chunk[axis], int(target_bytes / per_unit) // chunk[axis] * chunk[axis])
    return tuple(slice(0, min(n, length)) if i == axis else slice(0, n)
                 for i, n in enumerate(spec.shape))
