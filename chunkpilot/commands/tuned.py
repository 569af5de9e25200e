"""What ``tune`` returns: the tuned chunks, every trial that led there, and why."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from chunkpilot.core.converge import only_shape_note
from chunkpilot.core.metrics import active_seconds, first_task_start, trial_runs_seconds
from chunkpilot.core.observations import Trial
from chunkpilot.core.plan import Plan
from chunkpilot.core.reruns import SURPRISE_FACTOR
from chunkpilot.core.shapes import regular_chunks
from chunkpilot.core.verdicts import Verdict
from chunkpilot.report.apply import how_to_apply
from chunkpilot.report.html import tune_html
from chunkpilot.units import format_seconds, plural

__all__ = ["TuneResult", "trial_summary"]

Shape = tuple[int, ...]


@dataclass(frozen=True, slots=True)
class TuneResult:
    """The tuned chunks, every trial that led there, and the final diagnosis."""

    plan: Plan
    """The advised starting plan (its explanation stays valid for the model it had)."""
    chunk_shape: Shape
    """Regular chunk length per axis chosen after the trials."""
    trials: tuple[Trial, ...]
    """Every trial in the order run (``label`` says why it ran)."""
    verdicts: tuple[Verdict, ...]
    """Diagnosis of the chosen chunks' best trial."""
    region: tuple[tuple[int, int], ...]
    """The region of the array the trials ran on (start, stop per axis)."""
    report: str | None = None
    """Path of the HTML report, when one was written."""

    @property
    def chunks(self) -> tuple[tuple[int, ...], ...]:
        """dask's full chunks of the tuned shape over the whole array."""
        return regular_chunks(self.plan.spec.shape, self.chunk_shape)

    @property
    def chunks_by_dim(self) -> dict[str, int] | None:
        """Tuned chunk length per dimension name (xarray sources), else ``None``."""
        dims = self.plan.spec.dims
        return dict(zip(dims, self.chunk_shape, strict=True)) if dims is not None else None

    def explain(self) -> str:
        """Why these chunks: the trials, their verdicts, and the advised plan's reasons."""
        return "\n".join(tune_lines(self))

    def to_dict(self) -> dict[str, Any]:
        return {
            "chunk_shape": list(self.chunk_shape),
            "chunks": [list(c) for c in self.chunks],
            "chunks_by_dim": self.chunks_by_dim,
            "advised_chunk_shape": list(self.plan.chunk_shape),
            "region": [list(r) for r in self.region],
            "trials": [trial_summary(t) for t in self.trials],
            "verdicts": [v.to_dict() for v in self.verdicts],
            "explanation": tune_lines(self),
            "report": self.report,
            "plan": self.plan.to_dict(),
        }

    def _repr_html_(self) -> str:
        """The explanation, the trials and their figures, inline in a notebook."""
        return tune_html(self)


def trial_summary(t: Trial) -> dict[str, Any]:
    """The numbers of one trial, as the CLI's ``--json`` lists them."""
    o = t.observation
    return {
        "label": t.label,
        "chunk_shape": list(t.chunk_shape),
        "chunks": [list(ax) for ax in t.chunks],
        "wall_seconds": o.wall_seconds,
        "active_seconds": active_seconds(o),
        "runs_active_seconds": list(trial_runs_seconds(t)),
        "outlier_runs_seconds": list(t.outlier_runs_s),
        "startup_seconds": first_task_start(o),
        "task_count": o.compute_task_count,
        "peak_worker_memory_bytes": o.peak_process_bytes,
        "spilled_bytes": o.peak_spilled_bytes,
        "restarts": o.restarts,
        "error": o.error,
        "verdicts": [v.kind for v in t.verdicts],
    }


def tune_lines(r: TuneResult) -> list[str]:
    """The tuned chunks, one line per trial, the final verdicts, then the advised plan's."""
    clean = [t for t in r.trials if not t.observation.failed]
    best = min((t.observation.wall_seconds for t in clean
                if t.chunk_shape == r.chunk_shape), default=None)
    lines = [f"Tuned chunks {r.chunk_shape} (advised {r.plan.chunk_shape}) after "
             f"{plural(len(r.trials), 'trial')} on the region "
             f"{[tuple(x) for x in r.region]}"
             + (f"; its best clean run took {format_seconds(best)}." if best is not None
                else ".")]
    for i, t in enumerate(r.trials):
        kinds = ", ".join(v.kind for v in t.verdicts) or "no verdict"
        state = "FAILED" if t.observation.failed else format_seconds(t.observation.wall_seconds)
        if len(t.runs_active_s) > 1:
            state += f" (the median of {len(t.runs_active_s)} runs)"
        if t.outlier_runs_s:
            why = ("the first trial's first run always is: it runs slower than the ones after "
                   "it" if i == 0 else
                   f"over {SURPRISE_FACTOR:g}x both the model's time and its re-run")
            state += f"; a first run of {format_seconds(t.outlier_runs_s[0])} was set aside ({why})"
        lines.append(f"Trial {t.label}: {state}; {kinds}.")
    lines += [n for n in (only_shape_note(r.plan),) if n is not None]
    lines += [f"Verdict on the tuned chunks: {v.kind}: {v.message}" for v in r.verdicts]
    lines.append("Apply: " + "; ".join(how_to_apply(r.plan.spec, r.chunk_shape)))
    lines += [f"Advised plan: {line}" for line in r.plan.explain().splitlines()]
    return lines
