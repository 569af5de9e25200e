"""Side-by-side wall time of chunkpilot's advised chunks vs dask auto, in one run.

    python benchmarks/advise_vs_auto.py [--repeats 3] [--out benchmarks/results/advise_vs_auto.json]

For each case: advise on the scheduler, then run the same per-block work with the
advised chunks and with dask's ``chunks="auto"`` (warm-up first, median of repeats):
on a LocalCluster (2 workers x 1 thread, observed: restarts, KilledWorker) and on the
threaded scheduler.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path

import dask
import numpy as np
import zarr

from chunkpilot.cluster.connect import local_cluster
from chunkpilot.cluster.observe import observe
from chunkpilot.cluster.resources import resolve_resources
from chunkpilot.cluster.work import trial_collection
from chunkpilot.commands.advise import advise
from chunkpilot.examples import elementwise, hungry_filter
from chunkpilot.sources.describe import dask_auto_shape, describe
from chunkpilot.sources.readers import source_array
from chunkpilot.types import WorkSpec


def fft_power(block: np.ndarray) -> np.ndarray:
    """Per-pixel power spectrum along time (axis 0 must be whole)."""
    return np.abs(np.fft.rfft(block, axis=0)) ** 2


CASES = [
    # name, shape, storage chunks, dtype, func, keep_whole, memory limit per worker
    ("hungry_filter", (4096, 4096), (256, 256), "float64", hungry_filter, (), "700MiB"),
    ("elementwise", (8192, 8192), (128, 128), "float32", elementwise, (), "2GiB"),
    ("fft_time", (512, 512, 512), (64, 64, 64), "float64", fft_power, (0,), "1500MiB"),
]


def make_store(root: Path, name, shape, storage, dtype) -> Path:
    path = root / f"{name}.zarr"
    z = zarr.create_array(str(path), shape=shape, chunks=storage, dtype=dtype)
    rng = np.random.default_rng(0)
    step = storage[0] * 4
    for s in range(0, shape[0], step):
        e = min(shape[0], s + step)
        z[s:e] = rng.standard_normal((e - s, *shape[1:])).astype(dtype)
    return path


def run_case(root: Path, case, repeats: int) -> dict:
    name, shape, storage, dtype, func, keep, mem = case
    path = make_store(root, name, shape, storage, dtype)
    spec, ref = describe(str(path))
    work = WorkSpec(spec.ndim, keep)
    auto = dask_auto_shape(spec)
    out = {"case": name, "shape": shape, "storage_chunks": storage, "dtype": dtype,
           "memory_limit": mem, "dask_auto_chunks": auto}
    res = resolve_resources("local", workers=2, threads_per_worker=1, memory_limit=mem)
    with local_cluster(res) as client:
        t0 = time.perf_counter()
        plan = advise(str(path), func, client=client, keep_whole=keep)
        out["advise_seconds_local"] = time.perf_counter() - t0
        out["plan_local"] = plan.chunk_shape
        for label, chunk in (("plan", plan.chunk_shape), ("auto", auto)):
            y = trial_collection(source_array(str(path), ref, chunk), func, work)
            walls, restarts, errors = [], 0, []
            for i in range(repeats + 1):
                _, obs = observe(client, lambda y=y: client.compute(y).result(), timeout_s=180)
                restarts += obs.restarts
                if obs.error:
                    errors.append(obs.error_type or "error")
                    client.wait_for_workers(2, timeout=120)
                    break  # a failing chunking is recorded once, not hammered
                if i > 0:
                    walls.append(obs.wall_seconds)
            median = statistics.median(walls) if walls else None
            out[f"local_{label}"] = {"chunks": chunk, "wall_median_s": median,
                                     "restarts": restarts, "errors": errors}
    t0 = time.perf_counter()
    plan_t = advise(str(path), func, scheduler="threads", keep_whole=keep)
    out["advise_seconds_threads"] = time.perf_counter() - t0
    out["plan_threads"] = plan_t.chunk_shape
    for label, chunk in (("plan", plan_t.chunk_shape), ("auto", auto)):
        y = trial_collection(source_array(str(path), ref, chunk), func, work)
        walls = []
        for i in range(repeats + 1):
            t0 = time.perf_counter()
            dask.compute(y, scheduler="threads")
            if i > 0:
                walls.append(time.perf_counter() - t0)
        out[f"threads_{label}"] = {"chunks": chunk, "wall_median_s": statistics.median(walls)}
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--out", default="benchmarks/results/advise_vs_auto.json")
    args = ap.parse_args()
    rows = []
    with tempfile.TemporaryDirectory(prefix="cp-bench-") as tmp:
        for case in CASES:
            r = run_case(Path(tmp), case, args.repeats)
            rows.append(r)
            lp, la = r["local_plan"], r["local_auto"]
            tp, ta = r["threads_plan"], r["threads_auto"]

            def fmt(d):
                w = d["wall_median_s"]
                return f"{w:.2f}s" if w is not None else "FAILED"

            print(f"{r['case']}: local plan {lp['chunks']} {fmt(lp)} (restarts "
                  f"{lp['restarts']}) | auto {la['chunks']} {fmt(la)} (restarts "
                  f"{la['restarts']}, errors {la['errors']}) || threads plan {tp['chunks']} "
                  f"{fmt(tp)} | auto {fmt(ta)}; advise {r['advise_seconds_local']:.1f}s/"
                  f"{r['advise_seconds_threads']:.1f}s", flush=True)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(rows, indent=1, default=list))


if __name__ == "__main__":
    main()
