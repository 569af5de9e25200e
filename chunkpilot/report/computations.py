"""The cluster watch's views: one table row per computation (page and terminal), and the page."""

from __future__ import annotations

import math
import time
from collections.abc import Sequence

from bokeh.embed import components
from bokeh.model import Model
from bokeh.resources import Resources
from markupsafe import Markup
from rich.console import Console
from rich.table import Table
from rich.text import Text

from chunkpilot.core.computations import MISCHUNKED_KINDS, ArrayChunks, ComputationSummary
from chunkpilot.core.observations import Observation
from chunkpilot.report.console import new_console
from chunkpilot.report.figures import memory_figure, task_stream_figure
from chunkpilot.report.page import environment
from chunkpilot.report.terminal import VERDICT_STYLES, fit_table, hanging
from chunkpilot.units import format_bytes, format_seconds

__all__ = ["COMPUTATION_COLUMNS", "computation_row", "computations_table", "print_computations",
           "render_page"]

COMPUTATION_COLUMNS = ("when", "id", "tasks", "wall time", "dominant task group", "chunks",
                       "verdicts", "fix")
#: Arrays named in a table cell; the JSON and the details list them all.
ROW_ARRAYS = 2


def format_array(a: ArrayChunks) -> str:
    """``"ones_like: 100 x 20 (600 x 5 chunks), results of 16.0 kiB each"``, as
    ``format_chunks`` writes chunks; the shape is left out where the graph does not state it.
    The bytes are what each task of the group returned, which for a reduction's first step
    (``sum``: 128 x 128 blocks in) is its small partial result, not the block."""
    counts = " x ".join(str(b) for b in a.blocks)
    text = f"{a.name}: "
    text += (f"{' x '.join(str(c) for c in a.chunk_shape)} ({counts} chunks)"
             if a.chunk_shape is not None else f"{counts} chunks")
    if a.block_bytes is not None:
        text += f", results of {format_bytes(a.block_bytes)} each"
    return text


def _ranked(arrays: Sequence[ArrayChunks]) -> list[ArrayChunks]:
    """Arrays whose chunk shape is known first, then the ones with more blocks."""
    return sorted(arrays, key=lambda a: (a.chunk_shape is None, -math.prod(a.blocks)))


def _arrays_cell(arrays: Sequence[ArrayChunks]) -> str:
    ranked = _ranked(arrays)
    cell = "; ".join(format_array(a) for a in ranked[:ROW_ARRAYS])
    return cell + (f"; +{len(ranked) - ROW_ARRAYS} more" if len(ranked) > ROW_ARRAYS else "") or "-"


def computation_row(s: ComputationSummary) -> dict[str, str]:
    """One row of the computations table, as display strings keyed by the column names."""
    bad = [v for v in s.verdicts if v.kind in MISCHUNKED_KINDS]
    dominant = s.groups[0] if s.groups else None
    return {
        "when": time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(s.started_at)),
        "id": s.id,
        "tasks": f"{s.tasks} on {s.threads} threads" + (" (truncated)" if s.truncated else ""),
        "wall time": format_seconds(s.wall_seconds),
        "dominant task group": (f"{dominant.name} ({format_seconds(dominant.compute_seconds)})"
                                if dominant else "-"),
        "chunks": _arrays_cell(s.arrays),
        "verdicts": ", ".join(v.kind for v in s.verdicts) or "-",
        "fix": " ".join(dict.fromkeys(v.fix for v in bad if v.fix)) or "-",
    }


def _verdicts_text(s: ComputationSummary) -> Text:
    return Text(", ").join(Text(v.kind, style=VERDICT_STYLES.get(v.kind, "yellow"))
                           for v in s.verdicts) or Text("-")


def computations_table(summaries: Sequence[ComputationSummary], *, title: str | None = None,
                       console: Console | None = None) -> Table | None:
    """The computations as a table for ``console``'s width, newest first as given; columns
    never narrower than their longest word (``report.terminal.fit_table``), ``None`` when
    the terminal is too narrow for that."""
    rows = [[_verdicts_text(s) if c == "verdicts" else row[c] for c in COMPUTATION_COLUMNS]
            for s, row in ((s, computation_row(s)) for s in summaries)]
    return fit_table(console or new_console(), COMPUTATION_COLUMNS, rows, title or "")


def print_computations(console: Console, summaries: Sequence[ComputationSummary], *,
                       title: str | None = None, header: bool = True) -> None:
    """The table, or one block of ``column: value`` lines per computation when the terminal
    is too narrow for a table whose words stay whole (80 columns split 'dominant')."""
    table = computations_table(summaries, title=title, console=console)
    if table is not None:
        table.show_header = header
        console.print(table)
        return
    if title:
        console.print(Text(title, style="bold"))
    for s in summaries:
        row = computation_row(s)
        console.print(Text(f"{row['when']}  {row['id']}", style="bold"))
        for c in COMPUTATION_COLUMNS[2:]:
            hanging(console, f"{c}:", _verdicts_text(s) if c == "verdicts" else row[c],
                    indent=2)


def render_page(results: Sequence[ComputationSummary],
                details: Sequence[tuple[ComputationSummary, Observation]], *,
                status: str, api_path: str) -> str:
    """The ``/chunkpilot`` page: the table of ``results``, then verdicts and pictures of
    ``details``. Bokeh is inlined, so the page needs nothing from the internet."""
    plots: dict[str, Model] = {}
    for i, (s, obs) in enumerate(details):
        shown = f" (1 in {max(1, round(s.tasks / len(obs.tasks)))} bars shown)" if (
            obs.tasks and len(obs.tasks) < s.tasks) else ""
        plots[f"stream{i}"] = task_stream_figure(obs, title=f"Task stream: {s.id}{shown}")
        plots[f"memory{i}"] = memory_figure(obs)
    script, divs = components(plots) if plots else ("", {})
    return environment().get_template("cluster.html.j2").render(
        title="chunkpilot: computations on this cluster",
        status=status,
        api_path=api_path,
        columns=COMPUTATION_COLUMNS,
        rows=[computation_row(s) for s in results],
        details=[{"summary": s, "arrays": [format_array(a) for a in _ranked(s.arrays)],
                  "row": computation_row(s), "stream": Markup(divs[f"stream{i}"]),
                  "memory": Markup(divs[f"memory{i}"])} for i, (s, _) in enumerate(details)],
        bokeh_resources=Markup(Resources(mode="inline", components=["bokeh"]).render()),
        bokeh_script=Markup(script),
    )
