"""Bokeh figures of an Observation, drawn like the dask dashboard: task stream and memory.

A trial's figures share one time axis (one ``x_range``, the same left border, so 10 s sits
at the same x position in every panel). A worker the nanny restarted comes back under a new
address; it keeps its predecessor's row and panel, with the restart marked.
"""

from __future__ import annotations

import hashlib
from collections import defaultdict

from bokeh.layouts import column
from bokeh.models import ColumnDataSource, HoverTool, LayoutDOM, Range1d
from bokeh.models.annotations import Label
from bokeh.models.text import BaseText
from bokeh.palettes import viridis
from bokeh.plotting import figure

from chunkpilot.core.metrics import host_of, worker_slots
from chunkpilot.core.observations import MemoryRecord, Observation, TaskRecord

__all__ = ["ACTION_COLORS", "MEMORY_COLORS", "memory_figure", "task_color",
           "task_stream_figure", "trial_figures"]

#: The dashboard's task-group palette (``distributed.utils.palette`` is ``viridis(18)``).
PALETTE = tuple(viridis(18))
#: Non-compute actions, coloured as the dashboard's task stream colours them.
ACTION_COLORS = {"transfer": "red", "disk-read": "orange", "disk-write": "orange",
                 "deserialize": "gray"}
_ALPHAS = {"compute": 1.0, "transfer": 0.4, "disk-read": 0.4, "disk-write": 0.4,
           "deserialize": 0.4}
#: The dashboard's "Bytes stored per worker" bar: blue managed, paler unmanaged, grey spilled.
MEMORY_COLORS = {"managed": "#0000ff", "unmanaged": "#9999ff", "spilled": "#808080"}
#: Dashed lines on the memory panels: the worker's limit and the target where spilling starts.
LIMIT_COLORS = {"memory limit": "red", "target (spill starts)": "orange"}
#: Above this many bars the HTML gets heavy; draw the longest ones (short ones are invisible).
MAX_BARS = 50_000
WIDTH_PX = 1000
#: Every panel of a trial reserves this much room left of its plot area, so the panels'
#: time axes line up (the task stream's row labels are the widest).
LEFT_BORDER_PX = 170
_TOOLS = "xpan,xwheel_zoom,box_zoom,reset,save"
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


def task_stream_figure(obs: Observation, *, title: str = "Task stream",
                       x_range: Range1d | None = None) -> figure:
    """One row per worker thread, one bar per task action over seconds since the start."""
    tasks = obs.tasks
    if len(tasks) > MAX_BARS:
        tasks = tuple(sorted(tasks, key=lambda t: -t.duration_s)[:MAX_BARS])
    slots = worker_slots(obs)
    threads: dict[str, list[int]] = defaultdict(list)
    for t in sorted(tasks, key=lambda t: t.start_s):
        if t.thread not in threads[t.worker]:
            threads[t.worker].append(t.thread)
    keys = sorted({(slots[t.worker], threads[t.worker].index(t.thread)) for t in tasks})
    rows = {k: i for i, k in enumerate(keys)}
    hosts = {slots[a]: host_of(a) for a in slots}
    data: dict[str, list[object]] = {c: [] for c in _STREAM_COLUMNS}
    for t in tasks:
        y = rows[(slots[t.worker], threads[t.worker].index(t.thread))]
        data["left"].append(t.start_s)
        data["right"].append(max(t.stop_s, t.start_s + 1e-4))  # keep instant tasks visible
        data["bottom"].append(y - 0.4)
        data["top"].append(y + 0.4)
        data["color"].append(task_color(t))
        data["alpha"].append(_ALPHAS.get(t.action, 0.4))
        data["name"].append(t.group if t.action == "compute" else f"{t.action}-{t.group}")
        data["duration"].append(f"{t.duration_s * 1000:.1f} ms")
        data["worker"].append(f"{t.worker} thread {t.thread}")
    fig = figure(title=title, width=WIDTH_PX,
                 height=max(160, 60 + 24 * len(rows)) + (50 if obs.errored else 0),
                 x_axis_label="seconds since start", y_axis_label="worker thread",
                 x_range=x_range or _time_range(obs), tools=_TOOLS,
                 min_border_left=LEFT_BORDER_PX)
    fig.quad(left="left", right="right", bottom="bottom", top="top", color="color",
             alpha="alpha", line_color=None, source=ColumnDataSource(data))
    fig.add_tools(HoverTool(tooltips=[("task", "@name"), ("duration", "@duration"),
                                      ("on", "@worker")]))
    fig.yaxis.ticker = list(rows.values())
    labels: dict[float | str, str | BaseText] = {
        float(i): f"{hosts[s]} w{s} t{k}" for (s, k), i in rows.items()}
    fig.yaxis.major_label_overrides = labels
    fig.ygrid.grid_line_color = None
    _mark_failure(fig, obs)
    _legend_above(fig)
    if not rows:
        fig.y_range = Range1d(start=-1, end=1)
        text = ("no task finished before the run failed" if obs.errored
                else "no tasks were recorded")
        fig.add_layout(Label(x=10, y=20, x_units="screen", y_units="screen", text=text))
    return fig


def _time_range(obs: Observation) -> Range1d:
    end = max(obs.wall_seconds, max((t.stop_s for t in obs.tasks), default=0.0),
              max((m.time_s for m in obs.memory), default=0.0), 1e-3)
    return Range1d(start=0, end=end)


def _mark_failure(fig: figure, obs: Observation) -> None:
    if obs.errored:
        what = "timed out" if obs.timed_out else f"failed ({obs.error_type or 'error'})"
        fig.vspan(x=[obs.wall_seconds], line_color="black", line_width=2,
                  legend_label=f"run {what}")


def _legend_above(fig: figure) -> None:
    """Legends sit above the plot area: they hide no data and keep the time axes aligned."""
    if fig.legend:
        legend = fig.legend[0]
        legend.orientation = "horizontal"
        legend.location = "top_left"
        fig.add_layout(legend, "above")


def memory_figure(obs: Observation, *, x_range: Range1d | None = None) -> LayoutDOM:
    """Per worker: managed / unmanaged / spilled memory stacked over time, with the limit and
    target lines; a restarted worker stays in its panel, the restart marked."""
    slots = worker_slots(obs)
    samples: dict[int, list[MemoryRecord]] = defaultdict(list)
    addresses: dict[int, list[str]] = defaultdict(list)
    for m in obs.memory:
        samples[slots[m.worker]].append(m)
        if m.worker not in addresses[slots[m.worker]]:
            addresses[slots[m.worker]].append(m.worker)
    limits = {w.address: w.memory_limit_bytes for w in obs.workers}
    x_range = x_range or _time_range(obs)
    figs: list[LayoutDOM] = []
    for slot in sorted(samples):
        ms, addrs = samples[slot], addresses[slot]
        limit = max((limits.get(a) or 0 for a in addrs), default=0)
        top = 1.05 * max(limit, max(m.process_bytes + m.spilled_bytes for m in ms), 1) / 2**30
        restarted = f" (restarted {len(addrs) - 1}x)" if len(addrs) > 1 else ""
        fig = figure(title=f"Worker memory: {', '.join(addrs)}{restarted}", width=WIDTH_PX,
                     height=250, x_range=x_range, y_range=Range1d(start=0, end=top),
                     x_axis_label="seconds since start", y_axis_label="GiB", tools=_TOOLS,
                     min_border_left=LEFT_BORDER_PX)
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
        lines = {"memory limit": 1.0, "target (spill starts)": obs.target_fraction or 0}
        for name, fraction in lines.items() if limit else ():
            if fraction:
                fig.hspan(y=[fraction * limit / 2**30], line_color=LIMIT_COLORS[name],
                          line_dash="dashed", line_width=2, legend_label=name)
        for addr in addrs[1:]:
            start = min(m.time_s for m in ms if m.worker == addr)
            fig.vspan(x=[start], line_color="purple", line_dash="dotted", line_width=2,
                      legend_label="worker restarted")
        _mark_failure(fig, obs)
        _legend_above(fig)
        figs.append(fig)
    if not figs:
        fig = figure(title="Worker memory", width=WIDTH_PX, height=120, tools="",
                     x_range=x_range, min_border_left=LEFT_BORDER_PX)
        fig.add_layout(Label(x=10, y=40, x_units="screen", y_units="screen",
                             text="no memory samples were recorded"))
        figs.append(fig)
    return column(*figs)


def trial_figures(obs: Observation, *, title: str = "Task stream") -> LayoutDOM:
    """The task stream above the memory panels, on one shared time axis."""
    x_range = _time_range(obs)
    return column(task_stream_figure(obs, title=title, x_range=x_range),
                  memory_figure(obs, x_range=x_range))
