"""The planner's policy: thresholds that turn predictions into one choice.

Pure constants, shared by the planner, its explanation, ``check`` and the Dataset agreement,
so each threshold is written once. The tie bands users may tune (dask config
``chunkpilot.advise.tie-tolerance`` and ``chunkpilot.tune.noise-fraction``) travel as one
frozen :class:`Policy`, read at the edge (``chunkpilot.config``) and passed down.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from chunkpilot.errors import InvalidArgumentError

#: Keep every thread busy with some load balancing and room for read/compute overlap.
MIN_CHUNKS_PER_THREAD = 2
#: Predictions closer than this are always ties: prefer the aligned, then the smaller chunk.
TIE_TOLERANCE = 0.05
#: Samples whose runs spread more than this still widen the tie band only this far.
MAX_TIE_BAND = 0.25
#: The tie band is never narrower than this: a sample's warm runs share one process, its
#: caches and a minute of the machine's load, so their spread understates how far the same
#: shape moves between two ``advise`` calls (12 calls of one sin/cos function on a shared
#: 2-core VM: 2.92-3.60 ms per MB at its largest sample, runs within each call 9 % apart).
MIN_MEASURED_NOISE = 0.15
#: Ties are only called among chunks whose overhead share stays under this (~100x overhead
#: per task: dask's "tasks of 100 ms or more" on distributed, ~10 ms on threads).
TARGET_OVERHEAD_FRACTION = 0.01
#: The tie rule prefers a cheap tie only up to this multiple of the largest sample: beyond it
#: the prediction is extrapolated, and costs no sample reached show there (zarr_read on a
#: LocalCluster: 128 MiB chunks ran 3.4x the rate of samples up to 75 MiB, and the 1 % bar
#: took them over tied 64 MiB ones, 1.75x the best shape). A contraction's work is priced
#: linearly beyond its samples (``CostModel.contraction_units``) and is not held to it.
#: 1.0 since 2026-12-06 (was 1.5): zarr_read/local's 128-plane chunks of 127 MiB were within
#: 1.5x a 107 MiB sample and ran 1.65x the best shape; replay of 19 full runs: 7 picks moved,
#: every one better (zarr_read/local 1.53 -> 0.97, 1.35 -> 0.89, 1.65 -> 0.99, and an unscored
#: one to 0.86; gil_loop/threads 1.09 -> 1.07, 1.11 -> 1.10, 1.56 -> 1.48), none worse.
MAX_TIE_REACH = 1.0
#: The parallelism rule is dropped when obeying it would cost more than this in overhead.
MAX_OVERHEAD_FOR_PARALLELISM = 0.10
#: Two threads running the function less than this much faster than one (it holds the GIL):
#: the parallelism rule asks for chunks per worker process, not per thread.
MIN_THREAD_SPEEDUP = 1.25
#: Smallest block the search considers.
MIN_CANDIDATE_BYTES = 16 * 1024
#: Geometric step between candidate sizes (the planner's and tune's ladder).
CANDIDATE_STEP = math.sqrt(2)
#: An overhead-bound pick is refined between its rung and the one below by this many
#: bisections (to within 2 ** (1/32) of the size that meets the overhead target).
OVERHEAD_EDGE_BISECTIONS = 4
#: Graphs above this many tasks are warned about, and tied candidates under it preferred ...
WARN_TASKS = 100_000
#: ... and above this many re-planned with bigger chunks (``core.taskcap``).
MAX_TASKS_PER_GRAPH = 1_000_000
#: Measured wall times closer than this are within the noise of a shared machine: a tie.
NOISE_FRACTION = 0.10


@dataclass(frozen=True, slots=True)
class Policy:
    """The configurable tie bands of planning and tuning (defaults: the constants above)."""

    tie_tolerance: float = TIE_TOLERANCE
    """Predicted wall times closer than this share are ties: the smaller chunk wins."""
    noise_fraction: float = NOISE_FRACTION
    """Measured wall times closer than this share are within the noise: a tie."""

    def __post_init__(self) -> None:
        for name in ("tie_tolerance", "noise_fraction"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not 0 <= v < 1:
                raise InvalidArgumentError(
                    f"Expected {name} as a share in [0, 1). Got {v!r} instead.")
            object.__setattr__(self, name, float(v))


#: The policy with every default: what the pure functions use unless given another.
DEFAULT_POLICY = Policy()


# --- check (``core.lint``): no profile is run, so these rest on stated assumptions ----------
#: Above this many tasks per pass the scheduler is the bottleneck (dask's best-practice
#: ceiling; at ~1 ms a task on distributed that is 100 s of pure overhead).
MAX_TASKS = WARN_TASKS  # the same ceiling: advise warns above it, check flags it
#: Processing speed assumed without a profile (simple numpy work runs ~1-5 GB/s).
ASSUMED_BYTES_PER_SECOND = 2**30
#: A task is worth its overhead when it runs this many times longer (dask: tasks >= ~100 ms).
WORTHY_OVERHEAD_MULTIPLE = 100
#: "Far under" the overhead-worthy size means below this share of it.
TINY_FRACTION = 0.1
#: Storage chunks read more often than this on average are flagged.
MAX_READ_AMPLIFICATION = 1.1
#: A chunk under this share of the largest chunk along its axis is a tiny ragged chunk.
RAGGED_FRACTION = 0.25


@dataclass(frozen=True, slots=True)
class CheckThresholds:
    """The thresholds of ``check`` (dask config ``chunkpilot.check.*``, read at the edge)."""

    max_tasks: int = MAX_TASKS
    """More tasks than this per pass is an error: the scheduler is the bottleneck."""
    worthy_overhead_multiple: float = WORTHY_OVERHEAD_MULTIPLE
    """A task is worth its overhead when it runs this many times longer."""
    assumed_bytes_per_second: int = ASSUMED_BYTES_PER_SECOND
    """Processing speed assumed without a profile."""
    tiny_fraction: float = TINY_FRACTION
    """Chunks under this share of the overhead-worthy size are tiny."""
    max_read_amplification: float = MAX_READ_AMPLIFICATION
    """Storage chunks read more often than this on average are flagged."""
    ragged_fraction: float = RAGGED_FRACTION
    """A chunk under this share of the largest along its axis is a ragged sliver."""

    def __post_init__(self) -> None:
        for name in ("max_tasks", "worthy_overhead_multiple", "assumed_bytes_per_second",
                     "tiny_fraction", "max_read_amplification", "ragged_fraction"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not v > 0:
                raise InvalidArgumentError(f"Expected {name} > 0. Got {v!r} instead.")


