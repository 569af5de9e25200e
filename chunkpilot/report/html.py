"""Write a self-contained, offline HTML report (bokeh inlined) from a jinja2 template."""

from __future__ import annotations

import pathlib
from collections.abc import Mapping, Sequence
from typing import Any

import jinja2
from bokeh.embed import components
from bokeh.model import Model
from bokeh.resources import Resources
from markupsafe import Markup

from chunkpilot.core.observations import Trial
from chunkpilot.core.plan import Plan
from chunkpilot.report.figures import memory_figure, task_stream_figure
from chunkpilot.report.table import SUMMARY_COLUMNS, format_chunks, summarise
from chunkpilot.units import format_bytes, format_seconds

__all__ = ["write_report"]

#: Plan keys shown first and in this order; any other keys follow in a generic table.
PLAN_KEYS = ("chunks", "shape", "dtype", "binding_constraint", "predicted", "dask_auto_chunks")


def _format_value(value: Any, key: str = "") -> str:
    """Human units for numbers whose key names their unit (``peak_bytes``, ``task_seconds``)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return str(value)
    if key.endswith("bytes"):
        return f"{format_bytes(int(value))}"
    if key.endswith(("seconds", "_s")):
        return format_seconds(float(value))
    if key.endswith(("fraction", "share")) and abs(value) <= 10:
        return f"{value:.0%}"
    return f"{value:g}" if isinstance(value, float) else str(value)


def _format_chunks_value(value: Any) -> str:
    try:
        chunks = tuple(tuple(int(c) for c in ax) for ax in value)
    except (TypeError, ValueError):
        return str(value)
    return format_chunks(chunks)


def _environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("chunkpilot.report", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(format_value=_format_value, format_chunks=_format_chunks_value,
                       format_bytes=format_bytes, format_time=format_seconds)
    env.tests["mapping"] = lambda v: isinstance(v, Mapping)
    env.tests["listlike"] = lambda v: isinstance(v, (list, tuple))
    return env


def write_report(
    path: str | pathlib.Path,
    *,
    title: str,
    plan: Plan | None,
    trials: Sequence[Trial],
    notes: Sequence[str] = (),
) -> pathlib.Path:
    """Write an HTML report that opens offline: plan, trials table, figures per trial.

    Parameters
    ----------
    path
        Where to write the ``.html`` file; parent directories must exist.
    title
        Page title and heading.
    plan
        The plan behind the trials: its explanation first, its numbers folded below.
    trials
        Trials to tabulate and plot (task stream and worker memory for each).
    notes
        Free-text notes shown under the title.

    Returns
    -------
    pathlib.Path
        The written file.
    """
    path = pathlib.Path(path)
    plots: dict[str, Model] = {}
    for i, trial in enumerate(trials):
        plots[f"stream{i}"] = task_stream_figure(trial.observation,
                                                 title=f"Task stream: {trial.label}")
        plots[f"memory{i}"] = memory_figure(trial.observation)
    script, divs = components(plots) if plots else ("", {})
    numbers = plan.to_dict() if plan is not None else {}
    explanation = numbers.pop("explanation", None)
    known = [(k, numbers.pop(k)) for k in PLAN_KEYS if k in numbers]
    html = _environment().get_template("report.html.j2").render(
        title=title,
        notes=list(notes),
        has_plan=plan is not None,
        plan_known=known,
        plan_other=sorted(numbers.items(), key=lambda kv: str(kv[0])),
        explanation=list(explanation or []),
        columns=SUMMARY_COLUMNS,
        rows=[summarise(t) for t in trials],
        trials=[
            {"trial": t, "stream": Markup(divs[f"stream{i}"]),
             "memory": Markup(divs[f"memory{i}"])}
            for i, t in enumerate(trials)
        ],
        bokeh_resources=Markup(Resources(mode="inline", components=["bokeh"]).render()),
        bokeh_script=Markup(script),
    )
    path.write_text(html, encoding="utf-8")
    return path
