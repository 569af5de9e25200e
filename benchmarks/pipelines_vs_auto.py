"""Three whole pipelines: chunkpilot's plan vs dask ``chunks="auto"`` on one LocalCluster.

For each pipeline: advise on the cluster, then run the pipeline (output stored to zarr,
as users would) at the planned chunks and at dask's auto chunks, recording wall time
and worker restarts (new worker processes seen while it ran). Usage::

    python benchmarks/pipelines_vs_auto.py [--dir DIR] [--memory-limit 768MiB]
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import shutil
import tempfile
import threading
import time
import warnings
from pathlib import Path

import dask.array as da
import distributed
import numpy as np
import scipy.ndimage as ndi
import zarr

import chunkpilot


def gaussian(x):
    """map_overlap filter (depth 8)."""
    return x.map_overlap(ndi.gaussian_filter, depth=8, boundary="reflect", sigma=2)


def gram(x):
    """Contraction over the long axis: x.T @ x."""
    return x.T @ x


def spectrum(x):
    """An in-graph rechunk to whole rows, then an FFT along them."""
    return abs(da.fft.rfft(x.rechunk({1: -1}), axis=1))


#: (pipeline, input shape): 256 MiB of float64 each; gram's input is tall so its output is small.
#: spectrum's rows are longer than dask's auto chunk, so at auto chunks it must rechunk.
PIPELINES = ((gaussian, (8192, 4096)), (gram, (32768, 1024)), (spectrum, (4096, 8192)))
#: Storage chunks of every input.
STORAGE_CHUNKS = (512, 512)


def make_input(path: Path, shape: tuple[int, int]) -> str:
    """A zarr array of standard normal float64, written in row slabs."""
    if not path.exists():
        z = zarr.open_array(str(path), mode="w", shape=shape, chunks=STORAGE_CHUNKS, dtype="f8")
        rng = np.random.default_rng(0)
        step = STORAGE_CHUNKS[0]
        for i in range(0, shape[0], step):
            z[i:i + step] = rng.standard_normal((min(step, shape[0] - i), shape[1]))
    return str(path)


class RestartCounter:
    """Polls the scheduler: every worker address seen beyond the first ones is a restart."""

    def __init__(self, client: distributed.Client) -> None:
        self.client, self.stop = client, threading.Event()
        self.first = set(client.scheduler_info()["workers"])
        self.seen = set(self.first)
        self.thread = threading.Thread(target=self._poll, daemon=True)
        self.thread.start()

    def _poll(self) -> None:
        while not self.stop.wait(0.2):
            with contextlib.suppress(Exception):  # a busy scheduler: poll again
                self.seen |= set(self.client.scheduler_info()["workers"])

    def done(self) -> int:
        self.stop.set()
        self.thread.join()
        self.seen |= set(self.client.scheduler_info()["workers"])
        return len(self.seen - self.first)


def run(client, fn, path: str, chunks, out: Path, timeout_s: float) -> tuple[str, float, int, int]:
    """(status, wall seconds, worker restarts, tasks) of one run of ``fn`` at ``chunks``."""
    client.wait_for_workers(2, timeout=120)
    x = da.from_zarr(path, chunks=chunks)
    y = fn(x)
    shutil.rmtree(out, ignore_errors=True)
    stored = da.to_zarr(y, str(out), compute=False)
    tasks = len(stored.__dask_graph__())
    counter = RestartCounter(client)
    t0 = time.perf_counter()
    try:
        client.compute(stored).result(timeout=timeout_s)
        status = "ok"
    except distributed.TimeoutError:
        status = "timeout"
    except Exception as e:  # noqa: BLE001 - KilledWorker and friends are the finding
        status = type(e).__name__
    wall = time.perf_counter() - t0
    restarts = counter.done()
    if status != "ok":
        client.restart()
    return status, wall, restarts, tasks


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--dir", default=None, help="Working directory (default: a temporary one).")
    p.add_argument("--memory-limit", default="768MiB", help="Per worker (2 workers x 1 thread).")
    p.add_argument("--timeout", type=float, default=300.0, help="Seconds per run.")
    a = p.parse_args()
    # worker deaths are the finding; the table counts them instead of logging each one
    logging.getLogger("distributed").setLevel(logging.CRITICAL)
    work = Path(a.dir or tempfile.mkdtemp(prefix="chunkpilot-bench-"))
    print(f"inputs: 256 MiB float64 zarr arrays, storage chunks {STORAGE_CHUNKS}; "
          f"LocalCluster 2 workers x 1 thread, memory_limit {a.memory_limit}")
    cluster_kw = dict(n_workers=2, threads_per_worker=1, processes=True,
                      memory_limit=a.memory_limit, dashboard_address="127.0.0.1:0",
                      silence_logs=logging.CRITICAL)
    with distributed.LocalCluster(**cluster_kw) as cluster, distributed.Client(cluster) as client:
        print(f"{'pipeline':9} {'which':5} {'chunks':>13} {'tasks':>6} {'status':>12} "
              f"{'wall s':>7} {'restarts':>8}")
        for fn, shape in PIPELINES:
            path = make_input(work / f"input-{shape[0]}x{shape[1]}.zarr", shape)
            client.wait_for_workers(2, timeout=120)
            t0 = time.perf_counter()
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", chunkpilot.ChunkpilotWarning)
                plan = chunkpilot.advise(path, pipeline=fn, client=client)
            advise_s = time.perf_counter() - t0
            auto = da.from_zarr(path, chunks="auto").chunksize
            for which, chunks in (("plan", plan.chunks), ("auto", "auto")):
                status, wall, restarts, tasks = run(client, fn, path, chunks,
                                                    work / f"{fn.__name__}-{which}.zarr", a.timeout)
                cs = plan.chunk_shape if which == "plan" else auto
                print(f"{fn.__name__:9} {which:5} {str(cs):>13} {tasks:>6} {status:>12} "
                      f"{wall:>7.2f} {restarts:>8}", flush=True)
            c, mib = plan.chosen, 2**20
            target = plan.resources.target_fraction * plan.resources.memory_limit_bytes
            print(f"          advise took {advise_s:.1f} s; family {plan.pipeline.family}; "
                  f"bound by {plan.binding_constraint}; predicted peak/worker "
                  f"{c.peak_bytes_per_worker / mib:.0f} MiB vs target {target / mib:.0f} MiB "
                  f"(auto predicted {plan.dask_auto.peak_bytes_per_worker / mib:.0f} MiB)")
    if a.dir is None:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
