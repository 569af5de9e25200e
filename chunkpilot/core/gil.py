"""Pure: what holding the GIL costs a task on a dask worker (the rule; ``measure.gil``
measures its two inputs)."""

from __future__ import annotations

from chunkpilot.units import format_seconds

#: A function holding the GIL for less of its call than this is not charged a wait.
GIL_SHARE_MIN = 0.25


def gil_wait(share: float | None, cluster_wait: float | None) -> tuple[float, str | None]:
    """Seconds each task waits on a worker for holding the GIL (share x the cluster's measured
    wait), and the sentence that says so; (0, None) when it does not apply."""
    if share is None or share < GIL_SHARE_MIN or cluster_wait is None:
        return 0.0, None
    wait = share * cluster_wait
    return wait, (f"The function held the GIL for {share:.0%} of a call (measured), which starves "
                  f"a worker's event loop: this cluster's probe measured "
                  f"{format_seconds(cluster_wait)} more per task that holds the GIL, so every "
                  f"task is charged {format_seconds(wait)} more (fewer, bigger chunks pay it "
                  "less).")
