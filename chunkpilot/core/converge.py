"""Pure rules of tuning: refit the model from a trial, which way to move, what to pick.

``tune`` (the shell) runs trials; these functions only read numbers and verdicts.
"""

from __future__ import annotations

import dataclasses
import math
import statistics
from collections.abc import Mapping, Sequence

from chunkpilot.core.model import CostModel, LinearFit
from chunkpilot.core.observations import Observation
from chunkpilot.core.plan import Plan, candidate_shapes
from chunkpilot.core.policy import NOISE_FRACTION
from chunkpilot.core.verdicts import Verdict
from chunkpilot.types import ArraySpec, Resources, WorkSpec

#: Candidate steps (in the planner's sqrt(2) ladder) to move when a verdict points a way.
STEP = 2

Shape = tuple[int, ...]


def refit(model: CostModel, obs: Observation, task_bytes: int, res: Resources) -> CostModel:
    """Scale the model so it predicts what the cluster showed for ``task_bytes`` blocks."""
    compute = [r.stop_s - r.start_s for r in obs.tasks if r.action == "compute"]
    time = model.time
    if compute and not obs.failed:
        seen = statistics.median(compute)
        predicted = max(model.task_seconds(task_bytes), 1e-9)
        time = LinearFit(time.fixed * seen / predicted, time.slope * seen / predicted, time.r2)
    memory = model.memory
    peak = obs.peak_process_bytes
    if peak and not obs.failed:
        per_task = (peak - model.baseline_bytes) / res.threads_per_worker - task_bytes
        excess = per_task - model.task_peak_bytes(task_bytes)
        if excess > 0:  # only ever raise the estimate; the dominant term takes the excess
            if memory.slope * task_bytes >= memory.fixed:  # (tiny blocks must not blow up
                memory = LinearFit(memory.fixed, memory.slope + excess / task_bytes, memory.r2)
            else:  # the per-byte multiplier with a fixed cost they happen to show)
                memory = LinearFit(memory.fixed + excess, memory.slope, memory.r2)
    max_ok = model.max_ok_bytes
    if obs.restarts or obs.killed_worker:
        max_ok = min(max_ok or task_bytes, task_bytes)
    return dataclasses.replace(model, time=time, memory=memory, max_ok_bytes=max_ok)


def ladder(plan: Plan) -> list[Shape]:
    """The planner's candidate shapes, smallest block first: the steps tuning moves along."""
    return sorted(candidate_shapes(plan.spec, plan.work), key=math.prod)


def neighbour(steps_ladder: Sequence[Shape], current: Shape, steps: int) -> Shape | None:
    """The shape ``steps`` rungs away from ``current`` (negative: smaller), if any."""
    rungs = list(steps_ladder)
    if current not in rungs:
        rungs = sorted([*rungs, current], key=math.prod)
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


def pick(walls: Mapping[Shape, float], itemsize: int, noise_fraction: float = NOISE_FRACTION,
         ) -> Shape:
    """Fastest shape that ran cleanly; inside the noise, the smaller (safer) one.

    ``walls`` maps every shape that ran cleanly to its best wall time (non-empty).
    """
    best = min(walls.values())
    ties = [c for c, w in walls.items() if w <= best * (1 + noise_fraction)]
    return min(ties, key=lambda c: math.prod(c) * itemsize)


def trial_region(spec: ArraySpec, work: WorkSpec, chunk: Shape, target_bytes: int) -> tuple[slice, ...]:
    """A leading slab of the array holding about ``target_bytes``, in whole chunks of ``chunk``.

    The slab is cut along the splittable axis with the most chunks, so the trial keeps
    the plan's chunk shape; the whole array when it is small.
    """
    if spec.nbytes <= target_bytes:
        return tuple(slice(0, n) for n in spec.shape)
    free = [i for i in range(spec.ndim) if i not in work.keep_whole] or [0]
    axis = max(free, key=lambda i: math.ceil(spec.shape[i] / chunk[i]))
    per_unit = spec.nbytes / spec.shape[axis]
    length = max(chunk[axis], int(target_bytes / per_unit) // chunk[axis] * chunk[axis])
    return tuple(slice(0, min(n, length)) if i == axis else slice(0, n)
                 for i, n in enumerate(spec.shape))
