"""Notebook display: the ``_repr_html_`` of plans, tune results, check reports and watched
runs. The same explanation as the terminal, and for tune and watch the figures inline.

Importing this module registers the renderers of the core's values (``Plan``,
``DatasetPlan``) with :mod:`chunkpilot.core.display`; the commands import it.
"""

from __future__ import annotations

from typing import Any

from chunkpilot.core.agree import DatasetPlan
from chunkpilot.core.display import register_html
from chunkpilot.core.observations import Trial
from chunkpilot.core.plan import Plan
from chunkpilot.report.html import environment, render_html
from chunkpilot.units import plural

__all__ = ["check_html", "dataset_html", "plan_html", "tune_html", "watch_html"]


def plan_html(plan: Plan) -> str:
    """A plan: why these chunks, how to apply them, every number (folded)."""
    spec = plan.spec
    return render_html(title=f"chunkpilot plan: {plan.chunk_shape} for {spec.shape} "
                             f"{spec.dtype}", plan=plan, trials=(), standalone=False)


def dataset_html(dp: DatasetPlan) -> str:
    """A Dataset plan: the agreed chunks by dimension and what each variable gets."""
    return environment().get_template("lines.html.j2").render(
        title=f"chunkpilot plan: {dp.chunks_by_dim}", lines=dp.explain().splitlines(),
        apply=[f"ds = ds.chunk({dp.chunks_by_dim})"])


def tune_html(result: Any) -> str:
    """A tune result (``TuneResult``): tuned chunks, the trials and their figures inline."""
    return render_html(title=f"chunkpilot tune: {result.chunk_shape}", plan=result.plan,
                       trials=result.trials, notes=result.explain().splitlines()[:1],
                       standalone=False)


def watch_html(trial: Trial, title: str = "chunkpilot: watched run") -> str:
    """A watched run: its verdicts and the dashboard's two pictures."""
    return render_html(title=title, plan=None, trials=[trial], standalone=False)


def check_html(report: Any) -> str:
    """A check report (``CheckReport``): per array, its problems and their fixes."""
    lines = report.lines()
    titles = [line for line in lines[1:] if not line.startswith(" ")]
    n = len(report.problems)
    return environment().get_template("check.html.j2").render(
        heading="chunkpilot check: " + (plural(n, "problem") if n else "no problems"),
        header=lines[0], report=report, titles=titles)


register_html(Plan, plan_html)
register_html(DatasetPlan, dataset_html)
