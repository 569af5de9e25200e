"""Pure: how close two predicted wall times must be to count as a tie.

Predictions closer than the measurements' own noise are not known apart. The noise is the
run-to-run spread of the samples the fastest candidate's prediction rests on: the two whose
blocks bracket its block (or the nearest one, outside the samples). The spread of a 17 ms
sample of 1 MiB (timer and scheduler jitter, ±20-30 % over 7 runs) says nothing about a
prediction at 64 MiB that rests on samples of 32 and 112 MiB: zarr_read on a LocalCluster
took the widest spread of any sample, 25 %, and the tie rule then chose 128-plane chunks
predicted 16 % slower than 32-plane ones (1.60x the best shape measured; replayed over the
eight stored runs: five rows closer to the best, none further).
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from chunkpilot.core.evaluate import Evaluation
from chunkpilot.core.model import CostModel
from chunkpilot.core.policy import (
    DEFAULT_POLICY,
    MAX_TIE_BAND,
    MAX_TIE_REACH,
    MIN_MEASURED_NOISE,
    TARGET_OVERHEAD_FRACTION,
    TIE_TOLERANCE,
    Policy,
)
from chunkpilot.core.shapes import misaligned_axes
from chunkpilot.units import format_bytes

if TYPE_CHECKING:  # the type only: plan imports this module
    from chunkpilot.core.plan import Plan


def noise_near(model: CostModel, nbytes: int) -> float:
    """The widest spread of the samples bracketing ``nbytes`` (the nearest one outside
    them); 0 when none was run more than once."""
    timed = sorted((s.nbytes, s.spread_fraction) for s in model.samples
                   if s.ok and len(s.runs_seconds) > 1)
    near = [t for t in timed if t[0] <= nbytes][-1:] + [t for t in timed if t[0] >= nbytes][:1]
    return max((spread for _, spread in near), default=0.0)


def tie_band(model: CostModel, policy: Policy = DEFAULT_POLICY, measured_share: float = 1.0,
             at_bytes: int | None = None) -> float:
    """The band: the noise of the samples near ``at_bytes`` (every sample's when ``None``),
    never narrower than ``MIN_MEASURED_NOISE`` nor the policy's tie tolerance, never wider
    than ``MAX_TIE_BAND``. Only the ``measured_share`` of a task's time that came from the
    noisy samples carries their noise (an object store's modelled read time does not)."""
    noise = model.noise_fraction if at_bytes is None else noise_near(model, at_bytes)
    noisy = min(max(noise, MIN_MEASURED_NOISE, policy.tie_tolerance), MAX_TIE_BAND)
    return max(policy.tie_tolerance, noisy * min(max(measured_share, 0.0), 1.0))


def tie_band_for(evals: list[Evaluation], model: CostModel,
                 policy: Policy = DEFAULT_POLICY) -> float:
    """The band around the fastest feasible candidate of ``evals``."""
    feasible = [e for e in evals if e.feasible]
    if not feasible:
        return tie_band(model, policy)
    best = min(feasible, key=lambda e: e.wall_seconds)
    share = 1.0  # share of its task time the samples measured (object-store reads are modelled)
    if model.store is not None and best.seconds_per_task:
        share = model.task_seconds(best.task_bytes) / best.seconds_per_task
    return tie_band(model, policy, share, best.task_bytes)


def tie_sentence(plan: Plan) -> str | None:
    """How many shapes tied, within what band, and which the tie rule took (and why)."""
    if plan.tie_count <= 1:
        return None
    aligned = plan.spec.storage_chunks is not None and not misaligned_axes(plan.chunk_shape,
                                                                            plan.spec)
    cheap = plan.chosen.overhead_fraction <= TARGET_OVERHEAD_FRACTION
    reach = plan.model.tie_reach_bytes  # past it a prediction is extrapolated (cheap ties)
    within = f" up to {format_bytes(int(reach))}" if cheap and math.isfinite(reach) else ""
    rule = ("the one aligned with the storage chunks, then the smallest peak memory per worker"
            if aligned else f"the smallest peak memory per worker (none{within} was aligned "
            "with the storage chunks)" if plan.spec.storage_chunks is not None else
            "the smallest peak memory per worker")
    where = ("" if cheap else
             f", among those within {TIE_TOLERANCE:.0%} of the fastest (scheduler overhead is "
             f"over {TARGET_OVERHEAD_FRACTION:.0%} at every tie, so it still counts)")
    largest = ("the largest sample" if MAX_TIE_REACH == 1
               else f"{MAX_TIE_REACH:g}x the largest sample")
    beyond = (f"; ties above {format_bytes(int(reach))} ({largest}: extrapolated) are not "
              "preferred this way" if within else "")
    return (f"{plan.tie_count} shapes were predicted within {plan.tie_band_fraction:.0%} of the "
            "fastest (the run-to-run spread of the samples near it, on the measured part of a "
            "task): a tie. "
            f"The tie rule chose {rule}{where}{beyond}.")
