"""Notebook display: the ``_repr_html_`` of plans, Dataset plans and check reports, the
same explanation as the terminal (tune results and watched runs, which carry bokeh figures,
render in ``chunkpilot.report.html``).

Importing this module registers the renderers of the core's values (``Plan``,
``DatasetPlan``) with :mod:`chunkpilot.core.display`; the commands import it.
"""

from __future__ import annotations

from typing import Any

from chunkpilot.core.agree import DatasetPlan
from chunkpilot.core.display import register_html
from chunkpilot.core.plan import Plan
from chunkpilot.report.page import environment, render_page
from chunkpilot.units import plural

__all__ = ["check_html", "dataset_html", "plan_html"]


def plan_html(plan: Plan) -> str:
    """A plan: why these chunks, how to apply them, every number (folded)."""
    spec = plan.spec
    return render_page(title=f"chunkpilot plan: {plan.chunk_shape} for {spec.shape} "
                             f"{spec.dtype}", plan=plan, trials=(), standalone=False)


def dataset_html(dp: DatasetPlan) -> str:
    """A Dataset plan: the agreed chunks by dimension and what each variable gets."""
    return environment().get_template("lines.html.j2").render(
        title=f"chunkpilot plan: {dp.chunks_by_dim}", lines=dp.explain().splitlines(),
        apply=[f"ds = ds.chunk({dp.chunks_by_dim})"])


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
