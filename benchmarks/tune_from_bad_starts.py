"""Tuning from a too-small and a too-big start, with dask auto as a reference, in one run.

    python benchmarks/tune_from_bad_starts.py [--out benchmarks/results/tune_from_bad_starts.json]

Starts ``tune`` from deliberately bad chunks (a plan whose chosen shape is replaced) on a
LocalCluster of 2 workers x 1 thread, and prints every trial: label, chunks, wall time,
restarts and verdicts. ``compare_auto`` adds a dask ``chunks="auto"`` trial in the same run.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import tempfile
from pathlib import Path

import numpy as np
import zarr

from chunkpilot.cluster.connect import local_cluster
from chunkpilot.cluster.resources import resolve_resources
from chunkpilot.commands.advise import advise
from chunkpilot.commands.tune import trial_summary, tune
from chunkpilot.core.evaluate import evaluate
from chunkpilot.examples import elementwise, hungry_filter

STARTS = [
    # name, function, start chunk, memory limit per worker
    ("too-small start (elementwise)", elementwise, (128, 128), "2GiB"),
    ("too-big start (hungry_filter)", hungry_filter, (4096, 4096), "700MiB"),
]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default="benchmarks/results/tune_from_bad_starts.json")
    args = ap.parse_args()
    rows = []
    with tempfile.TemporaryDirectory(prefix="cp-tune-") as tmp:
        path = Path(tmp) / "x.zarr"
        z = zarr.create_array(str(path), shape=(4096, 4096), chunks=(128, 128), dtype="float64")
        z[:] = np.random.default_rng(0).standard_normal((4096, 4096))
        for name, func, start, mem in STARTS:
            res = resolve_resources("local", workers=2, threads_per_worker=1, memory_limit=mem)
            with local_cluster(res) as client:
                plan = advise(str(path), func, client=client)
                forced = dataclasses.replace(
                    plan, chosen=evaluate(start, plan.spec, plan.work, plan.resources, plan.model))
                result = tune(str(path), func, client=client, plan=forced, compare_auto=True,
                              whole=True)
            trials = [trial_summary(t) for t in result.trials]
            rows.append({"start": name, "start_chunks": start, "advised_without_forcing":
                         plan.chunk_shape, "tuned": result.chunk_shape, "trials": trials})
            print(f"== {name}: start {start}, converged to {result.chunk_shape} "
                  f"(advise alone would pick {plan.chunk_shape})")
            for t in trials:
                wall = f"{t['wall_seconds']:.2f} s"
                print(f"   {t['label']:<28} {str(t['chunks']):<14} {wall:>9}  restarts "
                      f"{t['restarts']}  {', '.join(t['verdicts'])}")
    Path(args.out).write_text(json.dumps(rows, indent=1, default=list))


if __name__ == "__main__":
    main()
