"""Command line: ``chunkpilot advise|tune|check|demo|watch``. Bad input: one stderr line, exit 2."""

from __future__ import annotations

import json
import sys
import warnings
from collections.abc import Callable
from typing import Any

import click

from chunkpilot.errors import ChunkpilotError, ChunkpilotWarning, InvalidArgumentError
from chunkpilot.loader import load_callable

EXIT_BAD_INPUT = 2


def _parse_depth(values: tuple[str, ...]) -> Any:
    if not values:
        return None
    if len(values) == 1 and ":" not in values[0]:
        return _int(values[0], "--depth")
    out: dict[Any, int] = {}
    for v in values:
        axis, sep, n = v.rpartition(":")
        if not sep or not axis:
            raise InvalidArgumentError(f"Expected --depth N or --depth AXIS:N. Got {v!r} instead.")
        out[int(axis) if axis.lstrip("-").isdigit() else axis] = _int(n, "--depth")
    return out


def _int(v: str, name: str) -> int:
    try:
        return int(v)
    except ValueError as e:
        raise InvalidArgumentError(f"Expected an integer for {name}. Got {v!r} instead.") from e


def _keep_whole(values: tuple[str, ...]) -> tuple[Any, ...]:
    return tuple(int(v) if v.lstrip("-").isdigit() else v for v in values)


def common_options(f: Callable[..., Any]) -> Callable[..., Any]:
    """Options shared by advise and tune."""
    opts = [
        click.argument("source"),
        click.option("--array", "--variable", "array", default=None,
                     help="Array inside a zarr group, or variable inside a netCDF4/HDF5 file."),
        click.option("--func", "func", default=None, help="Per-block function MODULE:FUNC or FILE.py:FUNC."),
        click.option("--pipeline", "pipeline", default=None,
                     help="Whole-array pipeline MODULE:FUNC or FILE.py:FUNC (fn(x) -> dask result); "
                          "not with --func."),
        click.option("--workers", type=int, default=None, help="Worker processes."),
        click.option("--threads-per-worker", type=int, default=None, help="Threads per worker."),
        click.option("--memory-limit", default=None, help="Memory per worker, e.g. 4GiB."),
        click.option("--scheduler", default="local", show_default=True,
                     help="threads, local, or a scheduler address tcp://HOST:PORT."),
        click.option("--keep-whole", multiple=True, help="Axis (number or dim name) kept whole; repeatable."),
        click.option("--depth", multiple=True, help="Overlap depth: N, or AXIS:N (repeatable)."),
        click.option("--drop-axis", multiple=True,
                     help="Axis (number or dim name) the function's output lacks, as "
                          "map_blocks(drop_axis=) takes it; repeatable."),
        click.option("--profile-timeout", type=float, default=60.0, show_default=True,
                     help="Seconds one profiling sample may run before it is killed."),
        click.option("--json", "as_json", is_flag=True, help="Print one JSON object on stdout."),
    ]
    for opt in reversed(opts):
        f = opt(f)
    return f


def advise_kwargs(o: dict[str, Any]) -> dict[str, Any]:
    """Turn CLI option values into keyword arguments of ``chunkpilot.advise``."""
    if o.get("func") and o.get("pipeline"):
        raise InvalidArgumentError(
            f"Expected --func or --pipeline, not both. Got --func {o['func']} and "
            f"--pipeline {o['pipeline']}."
        )
    return {
        "func": load_callable(o["func"]) if o["func"] else None,
        "pipeline": load_callable(o["pipeline"]) if o.get("pipeline") else None,
        "array": o["array"],
        "workers": o["workers"],
        "threads_per_worker": o["threads_per_worker"],
        "memory_limit": o["memory_limit"],
        "scheduler": o["scheduler"],
        "keep_whole": _keep_whole(o["keep_whole"]),
        "depth": _parse_depth(o["depth"]),
        "drop_axis": _keep_whole(o["drop_axis"]),
        "profile_timeout": o["profile_timeout"],
    }


@click.group()
@click.version_option(package_name="chunkpilot")
def cli() -> None:
    """Pick Dask chunk sizes from measurements instead of guesses."""


@cli.command()
@common_options
def advise(source: str, as_json: bool, **o: Any) -> None:
    """Measure the per-block work on SOURCE and recommend chunks."""
    from chunkpilot.commands.advise import advise as run_advise

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ChunkpilotWarning)  # already in the plan's notes
        plan = run_advise(source, **advise_kwargs(o))
    if as_json:
        click.echo(json.dumps(plan.to_dict()))
    else:
        from chunkpilot.report.terminal import print_plan

        print_plan(plan)


@cli.command()
@click.argument("source")
@click.option("--array", "--variable", "array", default=None,
              help="One array/variable; default: every one in the group or file.")
@click.option("--chunks", default=None,
              help="Check these chunks instead of the source's: 24,-1,40 or time=24,lat=-1 or auto.")
@click.option("--workers", type=int, default=None, help="Worker processes.")
@click.option("--threads-per-worker", type=int, default=None, help="Threads per worker.")
@click.option("--memory-limit", default=None, help="Memory per worker, e.g. 4GiB.")
@click.option("--scheduler", default="local", show_default=True,
              help="threads, local, or a scheduler address tcp://HOST:PORT.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object on stdout.")
def check(source: str, array: str | None, chunks: str | None, as_json: bool, **o: Any) -> None:
    """Inspect SOURCE's chunks without profiling. Exit 0: clean, 1: problems, 2: bad input."""
    from chunkpilot.commands.check import check as run_check
    from chunkpilot.commands.check import parse_chunks_option

    report = run_check(source, array=array, chunks=parse_chunks_option(chunks), **o)
    click.echo(json.dumps(report.to_dict()) if as_json else "\n".join(report.lines()))
    if not report.ok:
        raise click.exceptions.Exit(1)


@cli.command()
@common_options
@click.option("--report", "report", default=None, help="Write an offline HTML report here.")
@click.option("--max-trials", type=int, default=5, show_default=True, help="At most this many trials.")
@click.option("--trial-timeout", type=float, default=120.0, show_default=True,
              help="Seconds before a trial is cancelled.")
@click.option("--whole", is_flag=True, help="Run trials on the whole array, not a region.")
@click.option("--compare-auto", is_flag=True, help="Also run dask's chunks='auto' as a reference.")
def tune(source: str, as_json: bool, report: str | None, max_trials: int, trial_timeout: float,
         whole: bool, compare_auto: bool, **o: Any) -> None:
    """Advise, then run short trials on a real dask cluster and adjust until healthy."""
    from chunkpilot.commands.tune import tune as run_tune
    from chunkpilot.report.terminal import print_report

    console = _console(as_json)
    kwargs = advise_kwargs(o)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ChunkpilotWarning)
        with console.status("tuning: advising, then running trials on the cluster..."):
            result = run_tune(source, **kwargs, max_trials=max_trials, trial_timeout=trial_timeout,
                              whole=whole, compare_auto=compare_auto, report=report,
                              on_trial=lambda t: console.print(
                                  f"  trial {t.label}: {t.observation.wall_seconds:.2f} s, "
                                  f"{', '.join(v.kind for v in t.verdicts)}", highlight=False))
    if as_json:
        click.echo(json.dumps(result.to_dict()))
        return
    print_report(console, result.trials)
    console.print(f"[bold]Tuned chunks:[/bold] {result.chunk_shape}  (advised {result.plan.chunk_shape})")
    if result.report:
        console.print(f"[bold]Report:[/bold] {result.report}")


def _console(quiet: bool) -> Any:
    from rich.console import Console

    return Console(stderr=True, quiet=quiet)


@cli.command()
@click.option("--dir", "directory", default=None, help="Where to write the sample store and report.")
@click.option("--quick", is_flag=True, help="Smaller array, for a smoke test.")
@click.option("--report", default="chunkpilot-report.html", show_default=True,
              help="Where to write the HTML report.")
def demo(directory: str | None, quick: bool, report: str) -> None:
    """Sample zarr array + memory-hungry function: advise, tune (vs dask auto), report."""
    from chunkpilot.commands.demo import run_demo

    run_demo(directory, quick=quick, report=report)


# --- chunkpilot watch ADDRESS: the cluster watch's table (issue 16; self-contained block) ---
@cli.command(name="watch")
@click.argument("address")
@click.option("--follow", is_flag=True,
              help="Keep printing computations as the scheduler finishes them (Ctrl-C stops).")
@click.option("--interval", type=float, default=2.0, show_default=True,
              help="Seconds between polls with --follow.")
@click.option("--json", "as_json", is_flag=True,
              help="Print the JSON document; with --follow, one computation per line.")
def watch_cluster(address: str, follow: bool, interval: float, as_json: bool) -> None:
    """Computations the scheduler at ADDRESS diagnosed: when, tasks, chunks, verdicts, fix.

    ADDRESS is the scheduler (tcp://HOST:PORT) or its dashboard (http://HOST:PORT). The
    scheduler must run chunkpilot's ClusterWatch: dask scheduler --preload chunkpilot.plugin.
    """
    from rich.console import Console

    from chunkpilot.commands.cluster_watch import computations, fetch
    from chunkpilot.commands.cluster_watch import follow as follow_computations
    from chunkpilot.report.computations import computations_table

    console = Console()
    if not follow:
        payload = fetch(address)
        if as_json:
            click.echo(json.dumps(payload))
            return
        console.print(computations_table(computations(payload),
                                         title=f"Computations on {address}, newest first"))
        if not payload.get("enabled", True):
            console.print(f"The watch switched itself off: {payload.get('error')}", style="red")
        return
    for i, summary in enumerate(follow_computations(address, interval_s=interval)):
        if as_json:
            click.echo(json.dumps(summary.to_dict()))
        else:
            table = computations_table([summary], title=None)
            table.show_header = i == 0
            console.print(table)
# --- end of chunkpilot watch ADDRESS ---


def main(argv: list[str] | None = None) -> None:
    """Console entry point: user errors become one line on stderr and exit code 2."""
    try:
        rc = cli.main(args=argv, standalone_mode=False, prog_name="chunkpilot")
        if isinstance(rc, int) and rc:  # Exit(n) comes back as a return value here
            sys.exit(rc)
    except click.exceptions.Exit as e:
        sys.exit(e.exit_code)
    except click.ClickException as e:  # usage errors: one line, not click's usage block
        click.echo(f"chunkpilot: error: {e.format_message()}", err=True)
        sys.exit(EXIT_BAD_INPUT)
    except ChunkpilotError as e:
        click.echo(f"chunkpilot: error: {' '.join(str(e).split())}", err=True)
        sys.exit(EXIT_BAD_INPUT)
    except (KeyboardInterrupt, click.exceptions.Abort):
        click.echo("chunkpilot: interrupted", err=True)
        sys.exit(130)


if __name__ == "__main__":
    main()
