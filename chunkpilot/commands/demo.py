"""``chunkpilot demo``: a sample zarr array, a memory-hungry function, advice vs dask auto."""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path

import numpy as np
import zarr
from rich.console import Console

from chunkpilot.commands.advise import advise
from chunkpilot.commands.outputs import check_output_dir, check_output_path
from chunkpilot.commands.tune import tune
from chunkpilot.errors import InvalidArgumentError
from chunkpilot.examples import hungry_filter
from chunkpilot.report.terminal import print_plan, print_report

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


def run_demo(directory: str | None, *, quick: bool = False,
             report: str = "chunkpilot-report.html", overwrite: bool = False) -> None:
    """Create the store, advise, tune on a 2-worker LocalCluster (with dask auto as a
    reference trial) and write the HTML report."""
    # before minutes of work, not after; never inside the sample store it (re)uses
    store_path = [os.path.join(directory, "sample.zarr")] if isinstance(directory, str) else []
    if directory is not None:  # never inside someone's zarr store
        check_output_dir(directory, name="--dir")
    check_output_path(report, sources=store_path, overwrite=overwrite)
    console = Console()
    resources = {"workers": 2, "threads_per_worker": 1, "memory_limit": DEMO_MEMORY_LIMIT}
    with contextlib.ExitStack() as stack:
        if directory is None:
            directory = stack.enter_context(tempfile.TemporaryDirectory(prefix="chunkpilot-demo-"))
        out = Path(directory)
        try:
            out.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise InvalidArgumentError(
                f"Expected --dir as a directory that exists or can be created. Got "
                f"{directory!r} instead ({e.strerror})."
            ) from e
        store = out / "sample.zarr"
        if not store.exists():
            make_sample_store(store, QUICK_SHAPE if quick else DEMO_SHAPE)
        console.print(f"[bold]Sample store:[/bold] {store}  (function: "
                      "chunkpilot.examples.hungry_filter, LocalCluster 2 workers x 1 thread, "
                      f"{DEMO_MEMORY_LIMIT} each)")
        console.print("[bold]1. advise[/bold]: profiling the function in sandboxed subprocesses")
        plan = advise(str(store), hungry_filter, scheduler="local", **resources,
                      on_sample=lambda s: console.print(
                          f"  measured {s.shape}: "
                          + (f"{s.seconds:.3f} s, peak {s.peak_bytes / 2**20:.0f} MiB" if s.ok
                             else f"FAILED {s.error}"), highlight=False))
        print_plan(plan, console)
        console.print("[bold]2. tune[/bold]: trials on a LocalCluster, dask auto first as reference")
        result = tune(str(store), hungry_filter, plan=plan, compare_auto=True, report=report,
                      overwrite=overwrite,
                      **resources, on_trial=lambda t: console.print(
                          f"  trial {t.label}: {t.observation.wall_seconds:.2f} s, "
                          f"{', '.join(v.kind for v in t.verdicts)}", highlight=False))
        print_report(console, result.trials)
        console.print(f"[bold]Tuned chunks:[/bold] {result.chunk_shape} "
                      f"(advised {plan.chunk_shape}, dask auto {plan.dask_auto.chunk_shape if plan.dask_auto else '-'})")
        console.print(f"[bold]Report:[/bold] {Path(result.report or report).resolve()}")
