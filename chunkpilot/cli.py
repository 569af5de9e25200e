"""Command line: ``chunkpilot advise|tune|check|demo|watch``. Bad input: one stderr line, exit 2.

Results go to stdout (tables, or one JSON object with ``--json``); progress, trial lines and
logs go to stderr (a progress display only on a terminal, never with ``--json``); ``-v``
says more, ``-q`` only errors.
"""

from __future__ import annotations

import atexit
import contextlib
import json
import os
import platform
import sys
import warnings
from collections.abc import Iterator
from importlib.metadata import version
from typing import Any

import click

from chunkpilot import interrupts
from chunkpilot.cli_options import (
    advise_kwargs,
    check_options,
    common_options,
    parse_chunks_option,
    storage_options_of,
)
from chunkpilot.cli_watch import watch_cluster
from chunkpilot.errors import ChunkpilotError, ChunkpilotWarning, SchedulerLostError, TuningError
from chunkpilot.stdio import discard_result, result_only_stdout
from chunkpilot.units import parse_seconds

EXIT_BAD_INPUT = 2
#: An unexpected exception inside chunkpilot (a bug), as Python's own exit code for one.
EXIT_INTERNAL = 1
CONTEXT_SETTINGS = {"help_option_names": ["-h", "--help"], "max_content_width": 100}


def _version_message() -> str:
    """``chunkpilot 0.1.0 (dask 2026.8.0, distributed 2026.8.0, Python 3.11.7, Linux)``."""
    deps = ", ".join(f"{d} {version(d)}" for d in ("dask", "distributed"))
    return (f"%(prog)s %(version)s ({deps}, Python {platform.python_version()}, "
            f"{platform.system()})")


def _verbosity(verbose: int, quiet: bool) -> int:
    """-1 quiet, 0 normal, 1+ verbose; ``chunkpilot -v advise`` and ``advise -v`` both count."""
    root = click.get_current_context().find_root().obj or {}
    if quiet or root.get("quiet"):
        return -1
    return int(root.get("verbose", 0)) + verbose


@contextlib.contextmanager
def _plan_notes_only() -> Iterator[None]:
    """Degraded-advice warnings are in the plan's notes already: do not print them twice."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ChunkpilotWarning)
        yield


def _output(verbose: int, quiet: bool, as_json: bool = False) -> Any:
    from chunkpilot.report.progress import Output

    return Output(verbosity=_verbosity(verbose, quiet), as_json=as_json)


@click.group(context_settings=CONTEXT_SETTINGS)
@click.version_option(package_name="chunkpilot", prog_name="chunkpilot",
                      message=_version_message())
@click.option("-v", "--verbose", count=True, help="More detail on stderr (any command).")
@click.option("-q", "--quiet", is_flag=True, help="Only errors on stderr (any command).")
@click.pass_context
def cli(ctx: click.Context, verbose: int, quiet: bool) -> None:
    """Pick Dask chunk sizes from measurements instead of guesses.

    Results go to stdout, progress and logs to stderr. Thresholds live in dask config under
    chunkpilot.* (e.g. DASK_CHUNKPILOT__TUNE__MAX_TRIALS=3).
    """
    ctx.obj = {"verbose": verbose, "quiet": quiet}


@cli.command()
@common_options("advise")
def advise(source: str, as_json: bool, verbose: int, quiet: bool, **o: Any) -> None:
    """Measure the per-block work on SOURCE and recommend chunks.

    SOURCE is a zarr store, or a netCDF4/HDF5 file. Probing and profiling run in sandboxed
    subprocesses; nothing is written to SOURCE.
    """
    from chunkpilot.commands.advise import advise as run_advise
    from chunkpilot.report.terminal import print_plan

    kwargs = advise_kwargs(o)
    with _output(verbose, quiet, as_json) as out, _plan_notes_only():
        out.phase("advising: probing the scheduler's overhead per task")
        plan = run_advise(source, **kwargs, on_sample=out.on_sample)
    if as_json:
        click.echo(json.dumps(plan.to_dict()))
    else:
        print_plan(plan, out.out, name=o["array"])


@cli.command()
@check_options
def check(source: str, array: str | None, chunks: str | None, as_json: bool, verbose: int,
          quiet: bool, **o: Any) -> None:
    """Inspect SOURCE's chunks without profiling. Exit 0: clean, 1: problems, 2: bad input."""
    from chunkpilot.commands.check import check as run_check

    with _output(verbose, quiet, as_json) as out:
        out.phase("checking chunks")
        report = run_check(source, array=array, chunks=parse_chunks_option(chunks),
                           storage_options=storage_options_of(o), **o)
    click.echo(json.dumps(report.to_dict()) if as_json else "\n".join(report.lines()))
    if not report.ok:
        raise click.exceptions.Exit(1)


@cli.command()
@common_options("tune")
@click.option("--report", "report", default=None, metavar="PATH",
              help="Write an offline HTML report here.")
@click.option("--max-trials", type=int, default=None,
              help="At most this many trials [default: 5, dask config chunkpilot.tune.max-trials].")
@click.option("--trial-timeout", default=None, metavar="SECONDS",
              help="Seconds (or 2m) before a trial is cancelled "
                   "[default: 120s, dask config chunkpilot.tune.trial-timeout].")
@click.option("--whole", is_flag=True, help="Run trials on the whole array, not a region.")
@click.option("--compare-auto", is_flag=True, help="Also run dask's chunks='auto' as a reference.")
@click.option("--overwrite", is_flag=True,
              help="Replace an existing --report file even if chunkpilot did not write it.")
def tune(source: str, as_json: bool, verbose: int, quiet: bool, report: str | None,
         max_trials: int | None, trial_timeout: str | None, whole: bool, compare_auto: bool,
         overwrite: bool, **o: Any) -> None:
    """Advise, then run short trials on a real dask cluster and adjust until healthy.

    Runs on a LocalCluster of processes (started on 127.0.0.1, its dashboard link shown on a
    terminal), a scheduler address, or dask's threaded scheduler (--scheduler threads).
    """
    from chunkpilot import config
    from chunkpilot.commands.tune import tune as run_tune
    from chunkpilot.report.terminal import print_tuned

    kwargs = advise_kwargs(o)
    timeout_s = None if trial_timeout is None else parse_seconds(trial_timeout,
                                                                 name="--trial-timeout")
    with _output(verbose, quiet, as_json) as out, _plan_notes_only():
        out.max_trials = (max_trials or config.max_trials()) + int(compare_auto)
        out.phase("tuning: connecting to the cluster, probing, profiling")
        with _partial_json_when_stopped(as_json):
            result = run_tune(source, **kwargs, max_trials=max_trials,
                              trial_timeout_s=timeout_s, whole=whole,
                              compare_auto=compare_auto, report=report, overwrite=overwrite,
                              on_trial=out.on_trial, on_sample=out.on_sample)
    if as_json:
        click.echo(json.dumps(result.to_dict()))
    else:
        print_tuned(out.out, result, name=o["array"])


@contextlib.contextmanager
def _partial_json_when_stopped(as_json: bool) -> Iterator[None]:
    """When the scheduler is lost mid-tune, or every trial failed, ``--json`` still prints the
    trials that ran (and the report path); the error line and exit 2 follow as for any error."""
    from chunkpilot.commands.tuned import trial_summary  # commands load on use: fast --help

    try:
        yield
    except (SchedulerLostError, TuningError) as e:
        if as_json:
            click.echo(json.dumps({"error": " ".join(str(e).split()), "report": e.report,
                                   "trials": [trial_summary(t) for t in e.trials]}))
        raise


@cli.command()
@click.option("--dir", "directory", default=None, metavar="DIR",
              help="Where to write the sample store and report.")
@click.option("--quick", is_flag=True, help="Smaller array, for a smoke test.")
@click.option("--report", default=None,
              help="Where to write the HTML report [default: chunkpilot-report.html, in "
                   "--dir when given].")
@click.option("-v", "--verbose", count=True, help="More detail on stderr: every sample.")
@click.option("-q", "--quiet", is_flag=True, help="Nothing on stderr but errors.")
@click.option("--overwrite", is_flag=True,
              help="Replace an existing --report file even if chunkpilot did not write it.")
def demo(directory: str | None, quick: bool, report: str | None, verbose: int, quiet: bool,
         overwrite: bool) -> None:
    """Sample zarr array + memory-hungry function: advise, tune (vs dask auto), report."""
    from chunkpilot.commands.demo import run_demo

    with _output(verbose, quiet) as out:
        run_demo(directory, quick=quick, report=report, output=out, overwrite=overwrite)


def _usage_hint(e: click.ClickException) -> str:
    """`` Try 'chunkpilot advise --help'.`` after a usage error, as click's own usage block ends."""
    ctx = getattr(e, "ctx", None)
    if isinstance(e, click.UsageError) and ctx is not None:
        return f" Try '{ctx.command_path} --help'."
    return ""




cli.add_command(watch_cluster)


def main(argv: list[str] | None = None) -> None:
    """Console entry point: user errors become one line on stderr and exit code 2.

    stdout carries only the result (fd 1 goes to stderr for user
    prints, workers and sandboxes); SIGINT/SIGTERM/SIGHUP print one line, clean up and exit
    130/143/129; unencodable characters are replaced, never a UnicodeEncodeError.
    """
    console = argv is None  # the `chunkpilot` process itself, not an in-process caller
    if console:  # orphaned workers come back to us, so the last sweep after a signal ends them
        interrupts.become_subreaper()
    try:
        with result_only_stdout(keep=console), interrupts.handled():
            code = _run(argv, console=console)
    finally:
        _close_store_sessions()
    if code == EXIT_BAD_INPUT:  # one line: no noise from object-store requests left in flight
        atexit.register(_quiet_exit)
    if console and code in interrupts.EXIT_CODES.values():
        # after a signal everything is closed and swept: skip atexit hooks (distributed's
        # would retry closing a cluster whose workers are gone, noisily)
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
    if code:
        sys.exit(code)


def _run(argv: list[str] | None, *, console: bool = False) -> int:
    """Run the CLI without click's own exception handling (it prints a blank line on
    Ctrl-C and hides which signal arrived); the exit code."""
    args = list(sys.argv[1:] if argv is None else argv)
    try:
        with cli.make_context("chunkpilot", args) as ctx:
            rc = cli.invoke(ctx)
        return rc if isinstance(rc, int) else 0
    except click.exceptions.Exit as e:
        return e.exit_code
    except click.exceptions.NoArgsIsHelpError as e:  # bare `chunkpilot`: the help, as click does
        e.show()
        return EXIT_BAD_INPUT
    except click.ClickException as e:  # usage errors: one line, not click's usage block
        click.echo(f"chunkpilot: error: {' '.join(e.format_message().split())}{_usage_hint(e)}",
                   err=True)
        return EXIT_BAD_INPUT
    except ChunkpilotError as e:
        click.echo(f"chunkpilot: error: {' '.join(str(e).split())}", err=True)
        return EXIT_BAD_INPUT
    except (KeyboardInterrupt, click.exceptions.Abort) as e:
        cause = e if isinstance(e, KeyboardInterrupt) else (e.__cause__ or e)
        if console:  # sandboxes and workers were closed; this is the last sweep
            interrupts.final_sweep()
        click.echo(interrupts.describe(cause), err=True)
        return interrupts.exit_code(cause)
    except BrokenPipeError:  # `chunkpilot ... | head`: the reader left; not an error of ours
        discard_result()
        return 0
    except SystemExit as e:  # user code (a pipeline, an import-time hook) calling sys.exit()
        click.echo(f"chunkpilot: error: Expected the user's code to return. Got sys.exit("
                   f"{e.code!r}) while chunkpilot ran it.", err=True)
        return EXIT_BAD_INPUT
    except Exception as e:  # a bug: one line (the traceback on request), never a wall of text
        if os.environ.get("CHUNKPILOT_TRACEBACK", "").strip().lower() not in ("", "0", "false",
                                                                            "no", "off"):
            raise
        click.echo(f"chunkpilot: internal error: {type(e).__name__}: {' '.join(str(e).split())} "
                   "(a bug: please report it; CHUNKPILOT_TRACEBACK=1 shows the traceback)",
                   err=True)
        return EXIT_INTERNAL


def _quiet_exit() -> None:
    """After an error was reported: requests left in flight (object stores) are garbage-
    collected as the interpreter exits, and their coroutines would each print a traceback
    ("Exception ignored in: <coroutine ...>") under the one-line error."""
    sys.unraisablehook = lambda unraisable: None


def _close_store_sessions() -> None:
    """Close object-store client sessions so none reports itself unclosed at exit."""
    if "fsspec" in sys.modules:
        from chunkpilot.sources.remote import close_sessions

        close_sessions()


if __name__ == "__main__":
    main()
