"""Bokeh figures of an Observation, drawn like the dask dashboard: task stream and memory."""

from __future__ import annotations

import hashlib
from collections import defaultdict

from bokeh.layouts import column
from bokeh.models import ColumnDataSource, HoverTool, LayoutDOM, Range1d
from bokeh.models.annotations import Label, Span
from bokeh.models.text import BaseText
from bokeh.palettes import viridis
from bokeh.plotting import figure

from chunkpilot.core.observations import MemoryRecord, Observation, TaskRecord

__all__ = ["ACTION_COLORS", "MEMORY_COLORS", "memory_figure", "task_color", "task_stream_figure"]

#: The dashboard's task-group palette (``distributed.utils.palette`` is ``viridis(18)``).
PALETTE = tuple(viridis(18))
#: Non-compute actions, coloured as the dashboard's task stream colours them.
ACTION_COLORS = {"transfer": "red", "disk-read": "orange", "disk-write": "orange",
                 "deserialize": "gray"}
_ALPHAS = {"compute": 1.0, "transfer": 0.4, "disk-read": 0.4, "disk-write": 0.4,
           "deserialize": 0.4}
#: The dashboard's "Bytes stored per worker" bar: blue managed, paler unmanaged, grey spilled.
MEMORY_COLORS = {"managed": "#0000ff", "unmanaged": "#9999ff", "spilled": "#808080"}
#: Above this many bars the HTML gets heavy; draw the longest ones (short ones are invisible).
MAX_BARS = 50_000
WIDTH_PX = 1000
_STREAM_COLUMNS = ("left", "right", "bottom", "top", "color", "alpha", "name", "duration",
                   "worker")


def task_color(record: TaskRecord) -> str:
    """Dashboard colour of a task-stream bar: per task group for compute, black if erred."""
    if record.action != "compute":
        return ACTION_COLORS.get(record.action, "gray")
    if record.status != "OK":
        return "black"
    n = int(hashlib.md5(record.group.encode(), usedforsecurity=False).hexdigest()[:8], 16)
    return PALETTE[n % len(PALETTE)]


def task_stream_figure(obs: Observation, *, title: str = "Task stream") -> figure:
    """One row per worker thread, one bar per task action over seconds since the start."""
    tasks = obs.tasks
    if len(tasks) > MAX_BARS:
        tasks = tuple(sorted(tasks, key=lambda t: -t.duration_s)[:MAX_BARS])
    rows = {row: i for i, row in enumerate(sorted({(t.worker, t.thread) for t in tasks}))}
    data: dict[str, list[object]] = {c: [] for c in _STREAM_COLUMNS}
    for t in tasks:
        y = rows[(t.worker, t.thread)]
        data["left"].append(t.start_s)
        data["right"].append(max(t.stop_s, t.start_s + 1e-4))  # keep instant tasks visible
        data["bottom"].append(y - 0.4)
        data["top"].append(y + 0.4)
        data["color"].append(task_color(t))
        data["alpha"].append(_ALPHAS.get(t.action, 0.4))
        data["name"].append(t.group if t.action == "compute" else f"{t.action}-{t.group}")
        data["duration"].append(f"{t.duration_s * 1000:.1f} ms")
        data["worker"].append(f"{t.worker} thread {t.thread}")
    end = max(obs.wall_seconds, max((t.stop_s for t in tasks), default=0.0), 1e-3)
    fig = figure(title=title, width=WIDTH_PX, height=max(160, 60 + 24 * len(rows)),
                 x_axis_label="seconds since start", y_axis_label="worker thread",
                 x_range=Range1d(start=0, end=end), tools="xpan,xwheel_zoom,box_zoom,reset,save")
    fig.quad(left="left", right="right", bottom="bottom", top="top", color="color",
             alpha="alpha", line_color=None, source=ColumnDataSource(data))
    fig.add_tools(HoverTool(tooltips=[("task", "@name"), ("duration", "@duration"),
                                      ("on", "@worker")]))
    fig.yaxis.ticker = list(rows.values())
    fig.yaxis.major_label_overrides = _row_labels(rows)
    fig.ygrid.grid_line_color = None
    if not rows:
        fig.add_layout(Label(x=10, y=60, x_units="screen", y_units="screen",
                             text="no tasks were recorded"))
    return fig


def _row_labels(rows: dict[tuple[str, int], int]) -> dict[float | str, str | BaseText]:
    """``host:port t0``, ``host:port t1``, ... : thread ids themselves mean nothing to users."""
    seen: dict[str, int] = defaultdict(int)
    labels: dict[float | str, str | BaseText] = {}
    for (worker, _), i in rows.items():
        labels[float(i)] = f"{worker.split('://')[-1]} t{seen[worker]}"
        seen[worker] += 1
    return labels


def memory_figure(obs: Observation) -> LayoutDOM:
    """Per worker: managed / unmanaged / spilled memory stacked over time, with limit lines."""
    samples: dict[str, list[MemoryRecord]] = defaultdict(list)
    for m in obs.memory:
        samples[m.worker].append(m)
    limits = {w.address: w.memory_limit_bytes for w in obs.workers}
    end = max(obs.wall_seconds, max((m.time_s for m in obs.memory), default=0.0), 1e-3)
    x_range = Range1d(start=0, end=end)
    figs: list[LayoutDOM] = []
    for worker, ms in samples.items():
        limit = limits.get(worker) or 0
        top = 1.05 * max(limit, max(m.process_bytes + m.spilled_bytes for m in ms), 1) / 2**30
        fig = figure(title=f"Worker memory: {worker}", width=WIDTH_PX, height=220,
                     x_range=x_range, y_range=Range1d(start=0, end=top),
                     x_axis_label="seconds since start", y_axis_label="GiB",
                     tools="xpan,xwheel_zoom,box_zoom,reset,save")
        src = ColumnDataSource({
            "t": [m.time_s for m in ms],
            "managed": [m.managed_bytes / 2**30 for m in ms],
            "unmanaged": [m.unmanaged_bytes / 2**30 for m in ms],
            "spilled": [m.spilled_bytes / 2**30 for m in ms],
        })
        kinds = ["managed", "unmanaged", "spilled"]
        fig.varea_stack(stackers=kinds, x="t", source=src,
                        color=[MEMORY_COLORS[k] for k in kinds],
                        legend_label=["managed", "unmanaged", "spilled (on disk)"])
        lines = [(1.0, "red")]  # memory limit; then the target, where spilling starts
        if obs.target_fraction:
            lines.append((obs.target_fraction, "orange"))
        for fraction, colour in lines if limit else ():
            fig.add_layout(Span(location=fraction * limit / 2**30, dimension="width",
                                line_color=colour, line_dash="dashed", line_width=2))
        fig.legend.location = "top_left"
        fig.legend.orientation = "horizontal"
        figs.append(fig)
    if not figs:
        fig = figure(title="Worker memory", width=WIDTH_PX, height=120, tools="")
        fig.add_layout(Label(x=10, y=40, x_units="screen", y_units="screen",
                             text="no memory samples were recorded"))
        figs.append(fig)
    return column(*figs)
