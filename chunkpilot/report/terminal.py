"""The terminal: a plan beside dask auto, trials and verdicts, as rich tables and text."""

from __future__ import annotations

from collections.abc import Sequence

from rich.console import Console
from rich.table import Table
from rich.text import Text

from chunkpilot.core.observations import Trial
from chunkpilot.core.plan import Plan
from chunkpilot.core.verdicts import Verdict
from chunkpilot.report.table import SUMMARY_COLUMNS, summarise
from chunkpilot.units import format_bytes

__all__ = ["plan_table", "print_plan", "print_report", "print_verdicts", "trials_table"]

#: Terminal styles per verdict kind: red stops the run, yellow costs time, green is fine.
VERDICT_STYLES = {"healthy": "green", "failed": "bold red", "too_big": "red"}


def trials_table(trials: Sequence[Trial], *, title: str = "Trials") -> Table:
    """A rich table with one row per trial: chunks, wall time, tasks, memory, verdicts."""
    table = Table(title=title, show_lines=False)
    for col in SUMMARY_COLUMNS:
        table.add_column(col, overflow="fold", justify="right" if col == "restarts" else "left")
    for trial in trials:
        row = summarise(trial)
        cells: list[str | Text] = [row[c] for c in SUMMARY_COLUMNS[:-1]]
        cells.append(Text(", ").join(
            Text(v.kind, style=VERDICT_STYLES.get(v.kind, "yellow")) for v in trial.verdicts
        ) or Text("-"))
        table.add_row(*cells)
    return table


def print_verdicts(console: Console, verdicts: Sequence[Verdict], *,
                   title: str | None = None) -> None:
    """Print each verdict's kind, message and fix.

    Examples
    --------
    >>> from rich.console import Console
    >>> console = Console(width=60, color_system=None)
    >>> print_verdicts(console, [Verdict("healthy", "All good.")])
    healthy: All good.
    """
    if title:
        console.print(Text(title, style="bold"))
    for v in verdicts:
        line = Text()
        line.append(v.kind, style=VERDICT_STYLES.get(v.kind, "yellow"))
        line.append(f": {v.message}")
        console.print(line)
        if v.fix:
            console.print(Text(f"  fix: {v.fix}", style="italic"))


def print_report(console: Console, trials: Sequence[Trial]) -> None:
    """Print the trials table, then every trial's verdicts."""
    console.print(trials_table(trials))
    for trial in trials:
        print_verdicts(console, trial.verdicts, title=f"{trial.label}:")


def plan_table(plan: Plan) -> Table:
    """Recommended chunks beside dask's auto chunks, predicted under the same model."""
    t = Table(title=f"chunkpilot plan for {plan.spec.shape} {plan.spec.dtype} ({plan.spec.source})")
    t.add_column("")
    t.add_column("chunkpilot", style="bold green")
    t.add_column('dask chunks="auto"')
    budget = plan.resources.memory_budget_bytes
    for label, fmt in (
        ("chunk shape", lambda e: str(e.chunk_shape)),
        ("tasks", lambda e: str(e.task_count)),
        ("block size", lambda e: format_bytes(e.task_bytes)),
        ("peak / task", lambda e: format_bytes(e.peak_bytes_per_task)),
        ("peak / worker", lambda e: format_bytes(e.peak_bytes_per_worker)
         + ("" if e.peak_bytes_per_worker <= budget else "  (over target!)")),
        ("overhead share", lambda e: f"{e.overhead_fraction:.1%}"),
        ("predicted wall", lambda e: f"{e.wall_seconds:.2f} s"),
    ):
        auto = plan.dask_auto
        t.add_row(label, fmt(plan.chosen), fmt(auto) if auto is not None else "-")
    return t


def print_plan(plan: Plan, console: Console | None = None) -> None:
    """Print the plan table and its explanation."""
    console = console or Console()
    console.print(plan_table(plan))
    console.print(f"[bold]Binding constraint:[/bold] {plan.binding_constraint}")
    for line in plan.explain().splitlines():
        console.print(f" • {line}", highlight=False)
    console.print(f"[bold]Use:[/bold] x.rechunk({plan.chunk_shape})  or  "
                  f"da.from_zarr(path, chunks={plan.chunk_shape})")
