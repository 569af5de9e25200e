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

from chunkpilot.core.evaluate import Evaluation
from chunkpilot.core.model import CostModel
from chunkpilot.core.policy import DEFAULT_POLICY, MAX_TIE_BAND, MIN_MEASURED_NOISE, Policy


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
