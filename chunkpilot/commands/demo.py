"""``chunkpilot demo``: a sample zarr array, a memory-hungry function, advice vs dask auto."""

from __future__ import annotations

import contextlib
import dataclasses
import os
import tempfile
from pathlib import Path

import numpy as np
import zarr
from rich.console import Console
from rich.text import Text

from chunkpilot import config
from chunkpilot.commands.advise import advise
from chunkpilot.commands.outputs import check_output_dir, check_output_path
from chunkpilot.commands.tune import TuneResult, tune
from chunkpilot.core.plan import Plan
from chunkpilot.errors import InvalidArgumentError
from chunkpilot.examples import hungry_filter
from chunkpilot.report.progress import Output
from chunkpilot.report.terminal import hanging, print_plan, print_tuned

#: Demo array: 4096 x 4096 float64 (128 MiB) in 256 x 256 storage chunks; --quick: 32 MiB.
DEMO_SHAPE = (4096, 4096)
QUICK_SHAPE = (2048, 2048)
STORAGE_CHUNKS = (256, 256)
#: Tight enough that dask's auto chunks (the whole 128 MiB array x ~6 for the function) fail.
DEMO_MEMORY_LIMIT = "700MiB"


def make_sample_store(path: Path, shape: tuple[int, int]) -> Path:
    """Write a smooth random float64 field to a new zarr store at ``path``."""
    z = zarr.create_array(str(path), shape=shape, chunks=STORAGE_CHUNKS, dtype="float64")
    rng = np.random.default_rng(42)
    rows = STORAGE_CHUNKS[0] * 4
    for start in range(0, shape[0], rows):
        stop = min(shape[0], start + rows)
        z[start:stop] = rng.standard_normal((stop - start, shape[1]))
    return path


def print_demo(console: Console, plan: Plan, result: TuneResult) -> None:
    """The demo's results, as it prints them on stdout: plan, trials, tuned chunks."""
    console.print(Text.assemble(("1. advise", "bold"), ": profiled in sandboxed subprocesses"))
    print_plan(plan, console)
    console.print(Text.assemble(("2. tune", "bold"),
                                ": trials on a LocalCluster, dask auto first as reference"))
    auto = plan.dask_auto.chunk_shape if plan.dask_auto else "-"
    print_tuned(console, result, extra=f", dask auto {auto}")


#: The report's file name when none is given.
DEFAULT_REPORT = "chunkpilot-report.html"


def report_path(directory: str | None, report: str | None) -> str:
    """The report's path: ``report`` when given, else :data:`DEFAULT_REPORT` in ``--dir``
    (its help says the store and the report go there), else in the working directory.

    >>> report_path("/data/demo", None), report_path(None, None), report_path("/d", "r.html")
    ('/data/demo/chunkpilot-report.html', './chunkpilot-report.html', 'r.html')
    """
    return report if report is not None else os.path.join(directory or os.curdir,
                                                            DEFAULT_REPORT)


def checked_report(directory: str | None, report: str | None, *, overwrite: bool = False
                   ) -> str:
    """The report's path (:func:`report_path`), refused up front as any output path is;
    the default one in a ``--dir`` still to be made is new, its directory checked already
    (``check_output_dir``), so it is not refused for that directory not existing yet."""
    path = report_path(directory, report)
    if report is None and directory is not None and not os.path.exists(directory):
        return os.path.abspath(path)
    store = [os.path.join(directory, "sample.zarr")] if directory is not None else []
    return str(check_output_path(path, sources=store, overwrite=overwrite))


def temporary_store_note(store: Path) -> str:
    """Said after the results when the sample store lived in a temporary directory: the
    paths printed above (``How to apply``) stop existing when the demo ends."""
    return (f"The sample store {store} was temporary and is removed now; run "
            "`chunkpilot demo --dir DIR` to keep it and try the chunks above on it.")


def run_demo(directory: str | None, *, quick: bool = False,
             report: str | None = None, output: Output | None = None,
             overwrite: bool = False) -> None:
    """Create the store, advise, tune on a 2-worker LocalCluster (with dask auto as a
    reference trial) and write the HTML report (default: ``chunkpilot-report.html`` in
    ``directory``, else in the working directory). Results go to ``output.out`` (stdout),
    progress to ``output.err`` (stderr)."""
    # before minutes of work, not after; never inside the sample store it (re)uses
    if directory is not None:  # never inside someone's zarr store
        directory = str(check_output_dir(directory, name="--dir"))
    report = checked_report(directory, report, overwrite=overwrite)
    out = output or Output()
    resources = {"workers": 2, "threads_per_worker": 1, "memory_limit": DEMO_MEMORY_LIMIT}
    temporary = directory is None
    with contextlib.ExitStack() as stack:
        if directory is None:
            directory = stack.enter_context(tempfile.TemporaryDirectory(prefix="chunkpilot-demo-"))
        path = Path(directory)
        try:
            path.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise InvalidArgumentError(
                f"Expected --dir as a directory that exists or can be created. Got "
                f"{directory!r} instead ({e.strerror})."
            ) from e
        store = path / "sample.zarr"
        if not store.exists():
            out.phase("writing the sample store")
            make_sample_store(store, QUICK_SHAPE if quick else DEMO_SHAPE)
        hanging(out.out, Text("Sample store:", style="bold"),
                f"{store} (function: chunkpilot.examples.hungry_filter, LocalCluster 2 workers "
                f"x 1 thread, {DEMO_MEMORY_LIMIT} each)")
        out.phase("advising: probing the scheduler, then profiling the function")
        plan = advise(str(store), hungry_filter, scheduler="processes", **resources,
                      on_sample=out.on_sample)
        out.phase("tuning: trials on a LocalCluster, dask auto first")
        out.max_trials = config.max_trials() + 1
        result = tune(str(store), hungry_filter, plan=plan, compare_auto=True, report=report,
                      overwrite=overwrite, **resources, on_trial=out.on_trial)
        result = dataclasses.replace(result, report=str(Path(result.report or report).resolve()))
        print_demo(out.out, plan, result)
        if temporary:
            hanging(out.out, Text("Note:", style="bold"), temporary_store_note(store))
