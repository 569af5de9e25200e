"""HTML and terminal reports: offline, escaped, robust to any plan, and really rendering."""

from __future__ import annotations

import dataclasses
import importlib.resources
import pathlib
import shutil
import subprocess
from html.parser import HTMLParser

import numpy as np
import pytest
from rich.console import Console

from chunkpilot.core.observations import (
    MemoryRecord,
    Observation,
    TaskRecord,
    WorkerInfo,
)
from chunkpilot.report.figures import MEMORY_COLORS, memory_figure, task_color, task_stream_figure
from chunkpilot.report.html import write_report
from chunkpilot.report.table import format_chunks, summarise
from chunkpilot.report.terminal import print_report, trials_table
from chunkpilot.units import format_bytes

from .samples import GiB, MiB
from .samples import obs as _obs
from .samples import plan as _plan
from .samples import trials as _trials

DATA = pathlib.Path(__file__).parent.parent / "data"
CHROMIUM = "/usr/bin/chromium"


PLAN = _plan()


class _Refs(HTMLParser):
    """Collect every URL-valued attribute of tags that would fetch something."""

    def __init__(self) -> None:
        super().__init__()
        self.refs: list[tuple[str, str]] = []

    def handle_starttag(self, tag, attrs):
        for name, value in attrs:
            if name in ("src", "href") and value:
                self.refs.append((tag, value))


@pytest.fixture(scope="module")
def report(tmp_path_factory) -> pathlib.Path:
    path = tmp_path_factory.mktemp("report") / "report.html"
    return write_report(path, title="Chunks for <my> array", plan=PLAN, trials=_trials(),
                        notes=["Measured on a 2-core laptop & shared."])


def test_report_is_offline(report):
    parser = _Refs()
    parser.feed(report.read_text())
    fetching = [(t, u) for t, u in parser.refs if t in ("script", "link", "img", "iframe")]
    assert not [u for _, u in fetching if u.startswith(("http://", "https://", "//"))]
    assert not fetching  # everything, including bokeh's JS, is inline


def test_report_content(report):
    html = report.read_text()
    assert "Chunks for &lt;my&gt; array" in html  # escaped, not markup
    assert "2-core laptop &amp; shared" in html
    assert "Samples &amp; models &lt;checked&gt;." in html
    numbers = PLAN.to_dict()
    for text in ("Recommended chunks", "binding_constraint", PLAN.binding_constraint,
                 format_bytes(PLAN.chosen.peak_bytes_per_worker), "dask_auto_chunk_shape",
                 "500 x 1000 (2 x 1 chunks)", "hand-built", "obs_too_small", "too_small",
                 "too_big", "KilledWorker", "Task stream: hand-built", "Bokeh",
                 numbers["explanation"][1].split(":")[0]):
        assert text in html, text


def test_the_plan_numbers_show_no_python_none_and_seconds_in_units(report):
    """Hunt 13: "chunks_by_dim None", "error None" and "runs_seconds (0.010104121996846516,
    ...)" in the report's table of plan numbers."""
    import re

    html = report.read_text()
    table = html[html.index("All plan numbers"):html.index("</details>")]
    assert not re.search(r"<td>None</td>|\bNone\b", table), re.findall(r".{60}None.{20}", table)
    assert "\u2014" in table  # a missing value is a dash
    assert not re.search(r"\d\.\d{9,}", table)  # no raw float reprs


def test_every_byte_and_second_in_the_plan_numbers_has_its_unit_and_shapes_show_once(report):
    """Hunt 18: ``peak_bytes_per_task = 20955915`` and ``seconds_per_task = 0.0333847``
    (a unit inside the key, not at its end) and ``storage_chunks = [256, 256] [256, 256]``
    (a flat shape sent to the chunks formatter, then its raw copy)."""
    import re

    html = report.read_text()
    table = html[html.index("All plan numbers"):html.index("</details>")]
    for key in ("peak_bytes_per_task", "peak_bytes_per_worker", "seconds_per_task"):
        cells = re.findall(rf"<th>{key}</th><td>([^<]*)</td>", table)
        assert cells and all(re.search(r"(B|s)$", c.strip()) for c in cells), (key, cells)
    shape = re.findall(r"<th>storage_chunks</th><td>(.*?)</td>", table, re.S)
    assert shape and all(c.strip() == "(250, 250)" for c in shape), shape


def test_a_tune_report_applies_the_tuned_chunks_not_the_advised(tmp_path):
    """The report's apply line gave the advised chunks the tuning had rejected (hunt 7);
    the terminal and JSON gave the tuned ones."""
    tuned = tuple(max(1, c // 2) for c in PLAN.chunk_shape)
    html = write_report(tmp_path / "t.html", title="t", plan=PLAN, trials=[],
                        apply_shape=tuned).read_text()
    block = html[html.index('<pre class="apply">'):]
    block = block[:block.index("</pre>")]
    assert str(tuned) in block and str(PLAN.chunk_shape) not in block, block
    assert f"How to apply the tuned chunks {tuned}" in html
    same = write_report(tmp_path / "s.html", title="s", plan=PLAN, trials=[],
                        apply_shape=PLAN.chunk_shape).read_text()
    assert "<h3>How to apply</h3>" in same


@pytest.mark.parametrize(
    "plan",
    [None, _plan(auto=None), _plan(source="numpy")],
    ids=["none", "no-dask-auto", "in-memory"],
)
def test_any_plan_renders(tmp_path, plan):
    path = write_report(tmp_path / "r.html", title="t", plan=plan, trials=[])
    assert "<h1>t</h1>" in path.read_text()


def test_template_is_package_data():
    files = importlib.resources.files("chunkpilot.report")
    assert (files / "templates" / "report.html.j2").is_file()


def test_figures_have_dashboard_colours():
    obs = _obs()
    fig = task_stream_figure(obs)
    colors = set(fig.renderers[0].data_source.data["color"])
    assert colors == {task_color(obs.tasks[0]), task_color(obs.tasks[7]), "red"}
    assert len(memory_figure(obs).children) == 2  # one panel per worker
    assert len(memory_figure(Observation(wall_seconds=1.0)).children) == 1


def test_summary_and_terminal():
    trials = _trials()
    row = summarise(trials[0])
    assert row["tasks"] == "14 on 2 threads"
    assert row["restarts"] == "0"
    assert format_chunks(()) == "-"
    console = Console(record=True, width=200, color_system=None)
    print_report(console, trials)
    text = console.export_text()
    for t in trials:
        assert t.label in text
        assert all(v.kind in text for v in t.verdicts)
    assert trials_table(trials).row_count == 3


def _png_pixels(path: pathlib.Path) -> np.ndarray:
    pil = pytest.importorskip("PIL.Image", reason="pillow (a bokeh dependency) is missing")
    with pil.open(path) as im:
        return np.asarray(im.convert("RGB"))


def _has_colour(px: np.ndarray, hex_colour: str, *, tol: int = 12, min_pixels: int = 200) -> bool:
    rgb = np.array([int(hex_colour[i:i + 2], 16) for i in (1, 3, 5)])
    return int((np.abs(px.astype(int) - rgb).max(axis=-1) <= tol).sum()) >= min_pixels


@pytest.mark.skipif(not shutil.which(CHROMIUM), reason=f"{CHROMIUM} is not installed")
def test_report_renders_in_headless_chromium(report, tmp_path):
    png = tmp_path / "report.png"
    subprocess.run(
        [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
         "--no-first-run", "--disable-background-networking", "--disable-component-update",
         "--disable-sync", f"--user-data-dir={tmp_path / 'profile'}", "--window-size=1400,2400",
         "--virtual-time-budget=5000", f"--screenshot={png}", report.as_uri()],
        check=False, capture_output=True, timeout=120,
    )
    assert png.exists(), "chromium wrote no screenshot"
    px = _png_pixels(png)
    non_white = (px < 245).any(axis=-1).mean()
    assert non_white > 0.05, f"page is nearly blank ({non_white:.1%} non-white)"
    assert len(np.unique(px.reshape(-1, 3), axis=0)) > 100
    obs = _obs()
    assert _has_colour(px, task_color(obs.tasks[0])), "task stream compute colour not drawn"
    assert _has_colour(px, MEMORY_COLORS["managed"]), "managed memory colour not drawn"


def _legend_labels(layout) -> list[str]:
    labels = []
    for fig in layout.children:
        for legend in fig.legend:
            labels += [item.label.value for item in legend.items]
    return labels


def test_memory_panels_have_legend_entries_for_limit_and_target():
    labels = _legend_labels(memory_figure(_obs()))
    for name in ("memory limit", "target (spill starts)", "managed", "unmanaged"):
        assert name in labels, labels


def test_task_stream_and_memory_share_one_aligned_time_axis():
    from chunkpilot.report.figures import trial_figures

    stream, memory = trial_figures(_obs()).children
    panels = [stream, *memory.children]
    assert len({id(p.x_range) for p in panels}) == 1  # pan/zoom one, all follow
    assert len({p.min_border_left for p in panels}) == 1  # 0 s at the same x position
    assert len({p.width for p in panels}) == 1
    assert stream.x_range.end == pytest.approx(8.0)


def _restarted() -> Observation:
    """Worker A dies at 3 s and its nanny brings it back on a new port; B runs throughout."""
    a, b, a2 = "tcp://127.0.0.1:4001", "tcp://127.0.0.1:4002", "tcp://127.0.0.1:4003"
    mem = [MemoryRecord(t, w, 0, 100 * MiB, 0) for t in (0.0, 1.0, 2.0, 3.0) for w in (a, b)]
    mem += [MemoryRecord(t, w, 0, 100 * MiB, 0) for t in (4.0, 5.0, 6.0) for w in (a2, b)]
    tasks = [TaskRecord(f"('x-1', {i})", "x", w, tid, "compute", s, s + 0.5)
             for i, (w, tid, s) in enumerate([(a, 11, 0.5), (b, 22, 0.5), (a2, 33, 4.5),
                                              (b, 22, 4.5)])]
    return Observation(wall_seconds=6.5, tasks=tuple(tasks), memory=tuple(sorted(
        mem, key=lambda m: m.time_s)), workers=tuple(WorkerInfo(w, 1, GiB) for w in (a, b, a2)),
        restarts=1)


def test_a_restarted_worker_keeps_its_row_and_panel():
    from chunkpilot.core.metrics import worker_slots
    from chunkpilot.core.observations import Trial
    from chunkpilot.report.table import failure_note

    obs = _restarted()
    failed = dataclasses.replace(obs, error="KilledWorker: ...", error_type="KilledWorker")
    note = failure_note(Trial("t", ((8,), (8,)), failed))
    assert note is not None and "from 2 workers" in note, note  # not 3: A came back
    slots = worker_slots(obs)
    assert slots["tcp://127.0.0.1:4001"] == slots["tcp://127.0.0.1:4003"]
    assert slots["tcp://127.0.0.1:4002"] != slots["tcp://127.0.0.1:4001"]
    panels = memory_figure(obs).children
    assert len(panels) == 2  # not a third panel for the restarted worker
    assert "worker restarted" in _legend_labels(memory_figure(obs))
    stream = task_stream_figure(obs)
    assert len(stream.yaxis.ticker.ticks) == 2  # two rows: one per worker thread


def test_failed_trial_shows_what_was_recorded_before_it_failed(report):
    html = report.read_text()
    assert "This run failed after 1.01 s" in html
    assert "11 memory samples from 1 worker" in html
    assert "no task finished before the run failed" in html
    assert "run failed (KilledWorker)" in html  # the failure marked on the time axis
