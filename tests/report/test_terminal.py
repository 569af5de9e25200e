"""The terminal layout: no word is ever split, at 80 or 120 columns or anywhere in between."""

from __future__ import annotations

import re
from dataclasses import replace

import pytest
from rich.console import Console

from chunkpilot.commands.demo import print_demo
from chunkpilot.core.verdicts import Verdict
from chunkpilot.report.apply import how_to_apply
from chunkpilot.report.terminal import (
    hanging,
    print_plan,
    print_report,
    print_verdicts,
    trials_table,
)
from chunkpilot.types import ArraySpec

from .samples import plan, trials, tune_result

#: Box-drawing runs (table rules) change length with the width: not words.
_RULE = re.compile(r"^[\u2500-\u257f]+$")


def _render(width: int, draw=print_demo, *args) -> str:
    console = Console(width=width, record=True, color_system=None, highlight=False)
    p = plan()
    if draw is print_demo:
        draw(console, p, tune_result(p))
    else:
        draw(console, *args)
    return console.export_text()


def _words(text: str) -> list[str]:
    return [w for w in text.split() if not _RULE.match(w)]


def _source_words() -> set[str]:
    """Every word the demo prints, from the strings themselves (no layout involved)."""
    p, r = plan(), tune_result()
    texts = [p.explain(), r.explain(), str(p.spec.source)]
    for t in r.trials:
        texts.append(t.label)
        texts += [f"{v.kind} {v.message} fix: {v.fix}" for v in t.verdicts]
    texts += how_to_apply(p.spec, r.chunk_shape)
    return set(" ".join(texts).split())


@pytest.mark.parametrize("width", [80, 120])
def test_demo_output_never_splits_a_word(width):
    wide = set(_words(_render(1000)))  # nothing wraps: every word as written
    narrow = _render(width)
    assert max(len(line) for line in narrow.splitlines()) <= width
    split = [w for w in _words(narrow) if w not in wide]
    assert not split, f"words cut at {width} columns: {split[:10]}"
    assert "…" not in narrow  # nor cut short with an ellipsis
    missing = [w for w in _source_words() if w not in set(_words(narrow))
               and w in wide]  # sentences are printed whole, word for word
    assert not missing, missing[:10]


@pytest.mark.parametrize("width", [80, 120])
def test_long_words_stay_whole(width):
    text = _render(width)
    for word in ("input_overproduction", "unmanaged_memory", "obs_too_big_killed",
                 "tcp://127.0.0.1:42837.", "hand-built"):
        if word in _render(1000):
            assert word in text, word


def test_the_line_that_applies_a_plan_and_the_source_are_never_wrapped():
    """A path longer than the terminal stays on the code's one line: it pastes back as Python."""
    path = "/tmp/" + "a-long-directory-name/" * 6 + "data.zarr"
    console = Console(width=60, record=True, color_system=None, highlight=False)
    p = plan(f"zarr:{path}")
    print_plan(p, console)
    lines = console.export_text().splitlines()
    assert f"  x = da.from_zarr({path!r}, chunks={p.chunk_shape})" in lines
    assert f"Source: zarr:{path}" in lines  # nor is the source's path


def test_brackets_are_text_not_markup():
    """``datetime64[ns]`` kept its unit only as text: rich read ``[ns]`` as a markup tag."""
    console = Console(width=100, record=True, color_system=None, highlight=False)  # markup on
    p = plan()
    p = replace(p, spec=replace(p.spec, dtype="datetime64[ns]"))
    print_plan(p, console)
    hanging(console, "•", "IndexError: index [3] is out of bounds")
    text = console.export_text()
    assert "chunkpilot plan for (1000, 1000) datetime64[ns]" in text
    assert "index [3] is out" in text


def test_narrow_terminal_drops_columns_then_tables():
    ts = trials()
    wide = trials_table(ts, console=Console(width=160))
    narrow = trials_table(ts, console=Console(width=80))
    assert wide is not None and narrow is not None
    headers = [str(c.header) for c in narrow.columns]
    assert "verdicts" in [str(c.header) for c in wide.columns] and "verdicts" not in headers
    assert "spilled" not in headers  # nothing spilled: a column that says nothing is left out
    assert trials_table(ts, console=Console(width=30)) is None
    text = _render(30, print_report, ts)  # one block per trial instead, words still whole
    assert "obs_too_big_killed" in text and "chunks:" in text


def test_verdicts_on_their_own_lines_with_a_hanging_indent():
    text = _render(40, print_verdicts, [Verdict("too_small", "word " * 30, fix="fix " * 20)])
    lines = text.splitlines()
    assert lines[0] == "too_small"
    body = [line for line in lines[1:] if line.strip()]
    assert all(line.startswith("  word") for line in body if "word" in line)
    fix = [line for line in body if "fix" in line]
    assert fix[0].startswith("  fix: fix")
    assert all(line.startswith("       fix") for line in fix[1:])


def test_counts_say_one_task_not_one_tasks():
    text = _render(120)
    assert "1 task " in text or "1 task," in text  # dask auto: one chunk
    assert not re.search(r"\b1 (task|thread|worker|restart|pause)s\b", text)


@pytest.mark.parametrize(
    ("source", "dims", "name", "expected"),
    [
        ("zarr:data.zarr", None, None, ["x = da.from_zarr('data.zarr', chunks=(50, 100))"]),
        ("zarr:g.zarr", None, "t", ["x = da.from_zarr('g.zarr', component='t', chunks=(50, 100))"]),
        ("hdf5:c.nc", ("time", "lat"), None,
         ["ds = xr.open_dataset('c.nc', chunks={'time': 50, 'lat': 100})"]),
        ("hdf5:c.h5", None, "v", ["f = h5py.File('c.h5', 'r')",
                                  "x = da.from_array(f['v'], chunks=(50, 100))"]),
        ("xarray:c.nc", ("time", "lat"), None,
         ["ds = xr.open_dataset('c.nc', chunks={'time': 50, 'lat': 100})",
          "# or: ds = ds.chunk({'time': 50, 'lat': 100})"]),
        ("xarray", ("time", "lat"), None, ["ds = ds.chunk({'time': 50, 'lat': 100})"]),
        ("dask", None, None, ["x = x.rechunk((50, 100))"]),
        ("numpy", None, None, ["x = da.from_array(x, chunks=(50, 100))"]),
    ],
    ids=["zarr", "zarr-group", "netcdf", "hdf5", "xarray-file", "xarray", "dask", "numpy"],
)
def test_how_to_apply_fits_the_source(source, dims, name, expected):
    spec = ArraySpec((100, 100), "float64", source=source, dims=dims)
    assert how_to_apply(spec, (50, 100), name) == expected


@pytest.mark.parametrize("width", [60, 80, 120, 200])
def test_the_watch_table_never_splits_a_word(width):
    """Hunt: `chunkpilot watch` at 80 columns printed 'dominan/t task', 'origina/l-from-',
    'elemen/ts' (rich's fold overflow); now a fitted table, or blocks when too narrow."""
    from chunkpilot.core.computations import ArrayChunks, ComputationSummary, GroupTime
    from chunkpilot.report.computations import computation_row, print_computations

    fix = "Use fewer, larger chunks: up to about 489x more elements per chunk."
    summaries = [ComputationSummary(
        "0a51c4af68bd", 1.7e9, 17.12, 30167, 2,
        (GroupTime("original-from-zarr-sum-sum-aggregate", 100, 11.76),),
        (ArrayChunks("from-zarr", (128, 64), (64, 64), 16384),),
        (Verdict("too_small", "tiny", {}, fix), Verdict("idle_threads", "idle", {}, "")),
        truncated=True)] * 2
    text = _render(width, print_computations, summaries)
    row = computation_row(summaries[0])  # a block heads with when and id, labels the rest
    want = {w.rstrip(":") for c, v in row.items()
            for w in (f"{c} {v}" if c not in ("when", "id") else v).split()}
    got = {w.rstrip(":") for w in _words(text)}
    assert want <= got, sorted(want - got)


def test_a_long_word_beside_its_label_starts_on_the_next_line_unsplit():
    """Hunt 18: ``COLUMNS=50 chunkpilot watch`` printed "random_sample-sum-sum-aggre" /
    "gate (1.61 s)": the docs promise no word is ever split while the terminal holds it."""
    from rich.console import Console

    from chunkpilot.report.terminal import hanging

    word = "random_sample-sum-sum-aggregate"
    console = Console(width=50, color_system=None, record=True)
    hanging(console, "dominant task group:", f"{word} (1.61 s)", indent=2)
    lines = console.export_text().splitlines()
    assert any(line.strip().startswith(word) for line in lines), lines


def test_the_plan_table_says_its_peaks_and_times_are_predicted():
    """Hunt 18: only the "predicted wall" row said it was modelled; "peak / task" and
    "peak / worker" read as measured (the project's rule: a modelled number says so)."""
    console = Console(width=100, color_system=None, record=True)
    print_plan(plan(), console)
    table = " ".join(console.export_text().split("Source:")[0].split())
    assert "peak / task" in table and "peaks, overhead, wall: predicted" in table, table
