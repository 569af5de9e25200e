"""Self-contained, offline HTML (bokeh inlined): a report file, or the same content as a
fragment for a notebook cell, with each trial's task stream and memory figures."""

from __future__ import annotations

import pathlib
from collections.abc import Sequence
from typing import Any

from bokeh.embed import components
from bokeh.model import Model
from bokeh.resources import Resources

from chunkpilot.core.observations import Trial
from chunkpilot.core.plan import Plan
from chunkpilot.report.figures import trial_figures
from chunkpilot.report.page import render_page

__all__ = ["render_html", "tune_html", "watch_html", "write_report"]


def render_html(*, title: str, plan: Plan | None, trials: Sequence[Trial],
                notes: Sequence[str] = (), standalone: bool = True,
                apply_name: str | None = None, apply_shape: tuple[int, ...] | None = None
                ) -> str:
    """``report.page.render_page`` with each trial's task stream above worker memory on one
    shared time axis (bokeh, inlined)."""
    plots: dict[str, Model] = {f"trial{i}": trial_figures(t.observation,
                                                          title=f"Task stream: {t.label}")
                               for i, t in enumerate(trials)}
    script, divs = components(plots) if plots else ("", {})
    resources = Resources(mode="inline", components=["bokeh"]).render() if plots else ""
    return render_page(title=title, plan=plan, trials=trials, notes=notes,
                       standalone=standalone, apply_name=apply_name, apply_shape=apply_shape,
                       figures=[divs[f"trial{i}"] for i in range(len(trials))],
                       figures_script=script, figures_resources=resources)


def tune_html(result: Any) -> str:
    """A tune result (``TuneResult``) in a notebook: tuned chunks, the trials and their
    figures inline."""
    return render_html(title=f"chunkpilot tune: {result.chunk_shape}", plan=result.plan,
                       trials=result.trials, notes=result.explain().splitlines()[:1],
                       standalone=False, apply_shape=tuple(result.chunk_shape))


def watch_html(trial: Trial, title: str = "chunkpilot: watched run") -> str:
    """A watched run in a notebook: its verdicts and the dashboard's two pictures."""
    return render_html(title=title, plan=None, trials=[trial], standalone=False)


def write_report(
    path: str | pathlib.Path,
    *,
    title: str,
    plan: Plan | None,
    trials: Sequence[Trial],
    notes: Sequence[str] = (),
    apply_shape: tuple[int, ...] | None = None,
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
    apply_shape
        The chunks the "How to apply" line uses (tune's pick), if not the plan's.

    Returns
    -------
    pathlib.Path
        The written file.
    """
    path = pathlib.Path(path)
    path.write_text(render_html(title=title, plan=plan, trials=trials, notes=notes,
                                apply_shape=apply_shape),
                    encoding="utf-8")
    return path
