"""One row of the trials table, as display strings: shared by the terminal and the HTML report."""

from __future__ import annotations

from chunkpilot.core.metrics import cluster_threads, peak_memory_fraction, worker_slots
from chunkpilot.core.observations import Trial
from chunkpilot.types import Chunks
from chunkpilot.units import format_bytes, format_seconds, plural

__all__ = ["SUMMARY_COLUMNS", "failure_note", "format_chunks", "summarise"]

SUMMARY_COLUMNS = ("label", "chunks", "wall time", "tasks", "peak worker memory",
                   "spilled", "restarts", "verdicts")


def format_chunks(chunks: Chunks) -> str:
    """Chunk shape and count, e.g. ``"1000 x 500 (4 x 2 chunks)"``; ``"-"`` when unknown.

    Examples
    --------
    >>> format_chunks(((1000, 1000, 500), (50,)))
    '1000 x 50 (3 x 1 chunks)'
    """
    if not chunks:
        return "-"
    shape = " x ".join(str(max(ax)) for ax in chunks)
    counts = " x ".join(str(len(ax)) for ax in chunks)
    return f"{shape} ({counts} chunks)"


def summarise(trial: Trial) -> dict[str, str]:
    """One row of the trials table, as display strings keyed by :data:`SUMMARY_COLUMNS`."""
    obs = trial.observation
    peak_bytes, spilled = obs.peak_process_bytes, obs.peak_spilled_bytes
    tasks = obs.compute_task_count
    wall = format_seconds(obs.wall_seconds)
    if obs.timed_out:
        wall += " (timed out)"
    elif obs.error:
        wall += " (failed)"
    return {
        "label": trial.label,
        "chunks": format_chunks(trial.chunks),
        "wall time": wall,
        "tasks": f"{tasks} on {plural(cluster_threads(obs), 'thread')}",
        "peak worker memory": f"{format_bytes(peak_bytes)} ({peak_memory_fraction(obs):.0%})",
        "spilled": format_bytes(spilled),
        "restarts": str(obs.restarts),
        "verdicts": ", ".join(v.kind for v in trial.verdicts) or "-",
    }


def failure_note(trial: Trial) -> str | None:
    """What was recorded before a failed run stopped (``None`` when it did not fail)."""
    obs = trial.observation
    if not obs.failed:
        return None
    workers = set(worker_slots(obs).values())  # a restarted worker is the same one
    when = "timed out" if obs.timed_out else "failed" if obs.errored else "lost workers"
    parts = [f"{plural(obs.compute_task_count, 'task')} finished",
             f"{plural(len(obs.memory), 'memory sample')} from {plural(len(workers), 'worker')}"]
    if obs.memory:
        parts.append(f"peak {format_bytes(obs.peak_process_bytes)} "
                     f"({peak_memory_fraction(obs):.0%} of the limit)")
    parts.append(f"{plural(obs.restarts, 'restart')}, {plural(obs.pauses, 'pause')}")
    return (f"This run {when} after {format_seconds(obs.wall_seconds)}. Recorded before "
            f"that: {'; '.join(parts)}.")
