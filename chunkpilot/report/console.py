"""Terminal rendering of a plan with rich: the key numbers, then the reasons."""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich.console import Console
from rich.table import Table

from chunkpilot.units import format_bytes

if TYPE_CHECKING:
    from chunkpilot.plan import Plan


def plan_table(plan: Plan) -> Table:
    """Recommended chunks beside dask's auto chunks, predicted under the same model."""
    t = Table(title=f"chunkpilot plan for {plan.spec.shape} {plan.spec.dtype} ({plan.spec.source})")
    t.add_column("")
    t.add_column("chunkpilot", style="bold green")
    t.add_column('dask chunks="auto"')
    budget = plan.resources.target_fraction * plan.resources.memory_limit_bytes
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
