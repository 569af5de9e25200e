"""The report's page from a jinja2 template, without plotting: plan, trials table, verdicts.

Figures are bokeh's (``chunkpilot.report.html`` makes them and passes in their markup), so
a plan or a check report renders here without importing bokeh: ``advise`` and ``check``
(and their one-line errors on the command line) start ~0.8 s sooner.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import jinja2
from markupsafe import Markup

from chunkpilot.core.observations import Trial
from chunkpilot.core.plan import Plan
from chunkpilot.report.apply import how_to_apply
from chunkpilot.report.table import SUMMARY_COLUMNS, failure_note, format_chunks, summarise
from chunkpilot.units import format_bytes, format_seconds

__all__ = ["environment", "render_page"]

#: Plan keys shown first and in this order; any other keys follow in a generic table.
PLAN_KEYS = ("chunk_shape", "chunks_by_dim", "shape", "dtype", "binding_constraint",
             "predicted", "dask_auto_chunk_shape")


def _format_value(value: Any, key: str = "") -> str:
    """Human units for numbers whose key names their unit (``peak_bytes``, ``task_seconds``,
    ``peak_bytes_per_worker``); a missing value (``None``) is a dash, not Python's word for
    it.

    >>> _format_value(20955915, "peak_bytes_per_task"), _format_value(0.0333, "seconds_per_task")
    ('19.99 MiB', '33.30 ms')
    >>> _format_value(3, "tasks_per_chunk"), _format_value(None, "x")
    ('3', '—')
    """
    if value is None:
        return "\u2014"
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return str(value)
    unit = key.split("_per_")[0]  # peak_bytes_per_task, overhead_seconds_per_task
    if unit.endswith("bytes"):
        return f"{format_bytes(int(value))}"
    if unit.endswith(("seconds", "_s")):
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


def environment() -> jinja2.Environment:
    """The template environment: autoescaped, strict, with the report's filters."""
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


def _apply_title(plan: Plan | None, apply_shape: tuple[int, ...] | None) -> str:
    if plan is None or apply_shape is None or tuple(apply_shape) == plan.chunk_shape:
        return "How to apply"
    return (f"How to apply the tuned chunks {apply_shape} "
            f"(the plan above advised {plan.chunk_shape})")


def render_page(*, title: str, plan: Plan | None, trials: Sequence[Trial],
                notes: Sequence[str] = (), standalone: bool = True,
                apply_name: str | None = None, figures: Sequence[str] = (),
                figures_script: str = "", figures_resources: str = "",
                apply_shape: tuple[int, ...] | None = None) -> str:
    """The report as HTML: a whole page, or (``standalone=False``) a ``<div>`` for a notebook.

    Plan first (why, how to apply, every number), then a table of trials and, per trial,
    its verdicts, what a failed run recorded and ``figures[i]`` (markup made by the caller,
    with the script and resources that draw it). ``apply_shape`` (tune's pick) replaces the
    plan's chunks in the apply line, which then says so.
    """
    numbers = plan.to_dict() if plan is not None else {}
    numbers.pop("inputs", None)  # replay data, not for reading
    explanation = numbers.pop("explanation", None)
    known = [(k, numbers.pop(k)) for k in PLAN_KEYS if k in numbers]
    return environment().get_template("report.html.j2").render(
        title=title,
        standalone=standalone,
        notes=list(notes),
        has_plan=plan is not None,
        apply=how_to_apply(plan.spec, apply_shape or plan.chunk_shape, apply_name) if plan else [],
        apply_title=_apply_title(plan, apply_shape),
        plan_known=known,
        plan_other=sorted(numbers.items(), key=lambda kv: str(kv[0])),
        explanation=list(explanation or []),
        columns=SUMMARY_COLUMNS,
        rows=[summarise(t) for t in trials],
        trials=[{"trial": t, "figures": Markup(figures[i] if i < len(figures) else ""),
                 "failure": failure_note(t)} for i, t in enumerate(trials)],
        bokeh_resources=Markup(figures_resources),
        bokeh_script=Markup(figures_script),
    )
