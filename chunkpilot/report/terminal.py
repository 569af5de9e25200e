"""The terminal: a plan beside dask auto, trials and verdicts, laid out for the console's width.

No word is ever split: tables keep every column at least as wide as its longest word and
leave out their least useful columns when the terminal is too narrow for all of them (a
narrow terminal gets one block per trial instead); verdicts and explanations sit on their
own lines with a hanging indent.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from rich import box
from rich.console import Console
from rich.measure import Measurement
from rich.table import Table
from rich.text import Text

from chunkpilot.core.converge import only_shape_note
from chunkpilot.core.observations import Trial
from chunkpilot.core.plan import Plan
from chunkpilot.core.runnable import memory_fit, no_wall_reason
from chunkpilot.core.verdicts import Verdict
from chunkpilot.report.apply import how_to_apply
from chunkpilot.report.console import new_console
from chunkpilot.report.table import failure_note, summarise
from chunkpilot.units import format_bytes, plural

__all__ = ["hanging", "plan_table", "print_plan", "print_report", "print_tuned",
           "print_verdicts", "trials_table"]

#: Terminal styles per verdict kind: red stops the run, yellow costs time, green is fine.
VERDICT_STYLES = {"healthy": "green", "failed": "bold red", "too_big": "red"}
#: Trials-table columns: (header, key in ``summarise``'s row).
COLUMNS = (("trial", "label"), ("chunks", "chunks"), ("wall", "wall time"), ("tasks", "tasks"),
           ("peak memory", "peak worker memory"), ("spilled", "spilled"),
           ("restarts", "restarts"), ("verdicts", "verdicts"))
#: Columns left out first when the terminal is too narrow, in this order.
DROP_ORDER = ("verdicts", "spilled", "restarts", "tasks", "peak memory")


def _style(kind: str) -> str:
    return VERDICT_STYLES.get(kind, "yellow")


def _words_width(cells: Sequence[str | Text]) -> tuple[int, int]:
    """(longest word, longest line) over ``cells``: a column's narrowest and widest width."""
    lines = [line for c in cells for line in str(c).splitlines() or [""]]
    words = [w for line in lines for w in line.split()]
    return max(map(len, words), default=1), max(map(len, lines), default=1)


def _table(rows: Sequence[Sequence[str | Text]], headers: Sequence[str], title: str,
           widths: Sequence[int] | None = None) -> Table:
    table = Table(title=Text(title) if title else None, box=box.SIMPLE_HEAD, pad_edge=False,
                  title_justify="left")
    for i, h in enumerate(headers):
        table.add_column(h, justify="right" if h == "restarts" else "left",
                         width=widths[i] if widths else None)
    for row in rows:
        table.add_row(*map(plain, row))
    return table


def fit_table(console: Console, headers: Sequence[str], rows: Sequence[Sequence[str | Text]],
              title: str = "") -> Table | None:
    """A table whose columns are never narrower than their longest word, sharing the
    console's width in proportion to what each column could use; ``None`` if it cannot fit."""
    cols = [[h, *(r[i] for r in rows)] for i, h in enumerate(headers)]
    lows, highs = zip(*(_words_width(c) for c in cols), strict=True)
    probe = _table([], headers, "", widths=[1] * len(headers))
    extra = Measurement.get(console, console.options, probe).minimum - len(headers)
    room = console.width - extra
    if sum(lows) > room:
        return None
    if sum(highs) <= room:
        return _table(rows, headers, title)
    widths, spare = list(lows), room - sum(lows)
    while spare > 0:  # water-filling: every column that wants more gets an equal share
        wanting = [i for i, (w, hi) in enumerate(zip(widths, highs, strict=True)) if w < hi]
        if not wanting:
            break
        share = max(1, spare // len(wanting))
        for i in wanting:
            add = min(share, highs[i] - widths[i], spare)
            widths[i], spare = widths[i] + add, spare - add
    return _table(rows, headers, title, widths)


def _cells(trial: Trial, headers: Sequence[str]) -> list[str | Text]:
    row, keys = summarise(trial), dict(COLUMNS)
    cells: list[str | Text] = []
    for h in headers:
        if h == "verdicts":  # one verdict per line, never "a, b" folded mid-word
            cells.append(Text("\n").join(Text(v.kind, style=_style(v.kind))
                                         for v in trial.verdicts) or Text("-"))
        elif h == "tasks":
            cells.append(str(trial.observation.compute_task_count))
        else:
            cells.append(row[keys[h]])
    return cells


def trials_table(trials: Sequence[Trial], *, title: str = "Trials",
                 console: Console | None = None) -> Table | None:
    """A table with one row per trial, with as many columns as ``console`` has room for.

    Columns that say nothing (no trial spilled or restarted) are left out; then
    :data:`DROP_ORDER` decides. ``None`` when even trial, chunks and wall time do not fit.
    """
    console = console or new_console()
    headers = [h for h, _ in COLUMNS]
    rows = [summarise(t) for t in trials]
    for h, key, zero in (("spilled", "spilled", "0 B"), ("restarts", "restarts", "0")):
        if rows and all(r[key] == zero for r in rows):
            headers.remove(h)
    for drop in (None, *DROP_ORDER):
        if drop in headers:
            headers.remove(drop)
        table = fit_table(console, headers, [_cells(t, headers) for t in trials], title)
        if table is not None:
            return table
    return None


def plain(text: str | Text) -> Text:
    """Our strings are text, never rich markup: ``datetime64[ns]`` or an error quoting
    ``[1, 2]`` would otherwise lose the brackets."""
    return text if isinstance(text, Text) else Text(text)


def hanging(console: Console, lead: str | Text, text: str | Text, *, indent: int = 0) -> None:
    """Print ``lead`` then ``text``; wrapped lines of ``text`` line up under its first word.
    When the longest word of ``text`` does not fit beside ``lead``, ``text`` starts on the
    next line, two columns in: no word is split while the terminal holds it (a task group's
    name was cut in two at 50 columns).

    >>> console = Console(width=30, color_system=None)
    >>> hanging(console, "dominant task group:", "random_sample-sum-aggregate (1.61 s)")
    ... # doctest: +NORMALIZE_WHITESPACE
    dominant task group:
      random_sample-sum-aggregate
      (1.61 s)
    """
    longest = max((len(w) for w in plain(text).plain.split()), default=0)
    lead_cells = plain(lead).cell_len + 1 if lead else 0
    if lead and indent + lead_cells + longest > console.width >= indent + 2 + longest:
        hanging(console, "", lead, indent=indent)
        hanging(console, "", text, indent=indent + 2)
        return
    grid = Table.grid(pad_edge=False)
    cells: list[str | Text] = []
    if indent:
        grid.add_column(width=indent, no_wrap=True)
        cells.append("")
    if lead:
        grid.add_column(no_wrap=True)
        cells.append(Text.assemble(lead, " "))
    grid.add_column(overflow="fold")
    cells.append(plain(text))
    grid.add_row(*cells)
    console.print(grid)


def print_verdicts(console: Console, verdicts: Sequence[Verdict], *,
                   title: str | None = None) -> None:
    """Print each verdict's kind on its own line, then its message and fix, indented.

    Examples
    --------
    >>> from rich.console import Console
    >>> console = Console(width=60, color_system=None)
    >>> print_verdicts(console, [Verdict("healthy", "All good.")])
    healthy
      All good.
    """
    if title:
        console.print(Text(title, style="bold"))
    pad = 2 if title else 0
    for v in verdicts:
        console.print(Text(" " * pad) + Text(v.kind, style=_style(v.kind)))
        hanging(console, "", Text(v.message), indent=pad + 2)
        if v.fix:
            hanging(console, Text("fix:", style="italic"), Text(v.fix, style="italic"),
                    indent=pad + 2)


def _trial_block(console: Console, trial: Trial) -> None:
    """One trial as labelled lines, for terminals too narrow for a table."""
    row = summarise(trial)
    console.print(Text(trial.label, style="bold"))
    for label, key in COLUMNS[1:-1]:
        hanging(console, f"{label}:", row[key], indent=2)


def print_report(console: Console, trials: Sequence[Trial]) -> None:
    """Print the trials table (or one block per trial), then every trial's verdicts."""
    table = trials_table(trials, console=console)
    if table is not None:
        console.print(table)
    else:
        for trial in trials:
            _trial_block(console, trial)
    for trial in trials:
        print_verdicts(console, trial.verdicts, title=f"{trial.label}:")
        note = failure_note(trial)
        if note:
            hanging(console, "", Text(note, style="dim"), indent=2)


def plan_table(plan: Plan) -> Table:
    """Recommended chunks beside dask's auto chunks, predicted under the same model."""
    spec = plan.spec
    # modelled numbers say so (hunt 18: only "predicted wall" did; peaks read as measured)
    t = Table(title=Text(f"chunkpilot plan for {spec.shape} {spec.dtype}"),
              box=box.SIMPLE_HEAD, pad_edge=False, title_justify="left",
              caption=Text("peaks, overhead, wall: predicted (model below)", style="dim"),
              caption_justify="left")
    t.add_column("")
    t.add_column("chunkpilot", style="bold green")
    t.add_column('dask chunks="auto"')
    budget = plan.resources.memory_budget_bytes
    for label, fmt in (
        ("chunk shape", lambda e: str(e.chunk_shape)),
        ("tasks", lambda e: plural(e.task_count, "task")) if plan.pipeline is None else
        ("input chunks", lambda e: f"{plural(e.task_count, 'chunk')} "
                                   f"(~{plural(round(e.scheduler_tasks), 'task')})"),
        ("block size", lambda e: format_bytes(e.task_bytes)),
        ("peak / task", lambda e: format_bytes(e.peak_bytes_per_task)),
        ("peak / worker", lambda e: format_bytes(e.peak_bytes_per_worker)
         + ("" if e.peak_bytes_per_worker <= budget else " (over target!)")),
        ("overhead share", lambda e: f"{e.overhead_fraction:.1%}"),
        ("predicted wall", lambda e: f"{e.wall_seconds:.2f} s"
         if no_wall_reason(plan, e, whole_axes=False) is None  # auto splits none it must not
         else "out of memory" if not memory_fit(e.peak_bytes_per_worker, plan.resources)[1]
         else "would fail"),
    ):
        auto = plan.dask_auto
        t.add_row(*map(plain, (label, fmt(plan.chosen), fmt(auto) if auto is not None else "-")))
    return t


def print_plan(plan: Plan, console: Console | None = None, *, name: str | None = None) -> None:
    """Print the plan table, its explanation as bullets and the line that applies it."""
    console = console or new_console()
    console.print(plan_table(plan))
    # the source on a line of its own, never wrapped: a long path stays whole to copy
    console.print(Text(f"Source: {plan.spec.source}"), soft_wrap=True)
    hanging(console, Text("Binding constraint:", style="bold"), plan.binding_constraint)
    for line in plan.explain().splitlines():
        hanging(console, "•", line, indent=1)
    _apply_lines(console, plan.spec, plan.chunk_shape, name)


def _apply_lines(console: Console, spec: Any, chunk_shape: tuple[int, ...],
                 name: str | None) -> None:
    """Code lines are never wrapped: a wrapped path would not paste back as Python."""
    console.print(Text("How to apply:", style="bold"))
    for line in how_to_apply(spec, chunk_shape, name):
        console.print(Text("  " + line, style="cyan"), soft_wrap=True)


def print_tuned(console: Console, result: Any, *, name: str | None = None,
                extra: str = "") -> None:
    """Print a ``TuneResult``: the trials, the tuned chunks, how to apply them, the report."""
    print_report(console, result.trials)
    only = only_shape_note(result.plan)
    if only is not None:
        hanging(console, Text("Note:", style="bold"), only)
    hanging(console, Text("Tuned chunks:", style="bold"),
            f"{result.chunk_shape} (advised {result.plan.chunk_shape}{extra})")
    _apply_lines(console, result.plan.spec, result.chunk_shape, name)
    if result.report:
        hanging(console, Text("Report:", style="bold"), str(result.report))
