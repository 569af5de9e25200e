"""Rich tables of trials and verdicts for the terminal."""

from __future__ import annotations

from collections.abc import Sequence

from rich.console import Console
from rich.table import Table
from rich.text import Text

from chunkpilot.observations import Trial, Verdict
from chunkpilot.report import SUMMARY_COLUMNS, summarise

__all__ = ["print_report", "print_verdicts", "trials_table"]

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
