"""The distributed overhead probe at two sizes: does a smaller probe read the same, and how much
time does it save?

``python -m benchmarks.probe_size [--rounds 10] [--sizes 50,100] [--out PATH]``

What is measured: ``chunkpilot.measure.overhead_probe.probe_overhead`` on a real 2-worker x
1-thread ``LocalCluster`` (127.0.0.1, 2 GiB per worker) with every worker core busy, as
``advise`` probes it (``measure.busy``), at each size of ``--sizes`` blocks: its estimate
(seconds per task) and its wall time. Each size runs once as a warm-up, then once per round
in a random order per round (a drift over the session cancels out of the ratios). The result
is, for every size against the first one, the geometric mean of the per-round ratios of the
estimate and of the wall time with 95 % percentile bootstrap intervals over the rounds
(``benchmarks.stats.geo_interval``), and each size's median estimate. Written as JSON with
the full commit SHA.
"""

from __future__ import annotations

import argparse
import json
import math
import random
import statistics
import sys
import time
from pathlib import Path
from typing import Any

from benchmarks.provenance import clean_or_say, environment
from benchmarks.stats import geo_interval

RESULTS = Path(__file__).resolve().parent / "results"
SEED = 60


def one_probe(client: Any, blocks: int) -> tuple[float, float]:
    """(seconds per task, wall seconds) of one busy-core probe of ``blocks`` blocks, as
    ``advise`` makes it (starting and stopping the busy loops included)."""
    from chunkpilot.measure.busy import probe_with_cores_busy

    t0 = time.perf_counter()
    estimate = probe_with_cores_busy(client, blocks=blocks)
    return estimate, time.perf_counter() - t0


def summarize(runs: list[dict[str, Any]], sizes: list[int], seed: int = SEED) -> dict[str, Any]:
    """Per size: median estimate and wall; against ``sizes[0]``: paired ratio intervals."""
    by = {b: {r["round"]: r for r in runs if r["blocks"] == b and r["round"] >= 0} for b in sizes}
    out: dict[str, Any] = {}
    for b in sizes:
        rows = list(by[b].values())
        entry: dict[str, Any] = {
            "median_seconds_per_task": statistics.median(r["seconds_per_task"] for r in rows),
            "median_wall_seconds": statistics.median(r["wall_seconds"] for r in rows),
            "rounds": len(rows)}
        if b != sizes[0]:
            paired = [(r, by[sizes[0]][k]) for k, r in by[b].items() if k in by[sizes[0]]]
            for field in ("seconds_per_task", "wall_seconds"):
                iv = geo_interval([math.log(r[field] / ref[field]) for r, ref in paired], seed)
                entry[f"{field}_ratio_to_{sizes[0]}"] = iv.to_dict() if iv else None
        out[str(b)] = entry
    return out


def design_sentence(doc: dict[str, Any]) -> str:
    """The sentence docs/DESIGN.md quotes, generated from a results document."""
    ref, other = doc["sizes"][0], doc["sizes"][1]
    s, r = doc["summary"][str(other)], doc["summary"][str(ref)]
    e, w = s[f"seconds_per_task_ratio_to_{ref}"], s[f"wall_seconds_ratio_to_{ref}"]
    return (f"over {e['rounds']} paired rounds ({doc['commit'][:12]}) {ref} blocks read "
            f"{r['median_seconds_per_task'] * 1e3:.2f} ms a task (median) against {other} "
            f"blocks' {s['median_seconds_per_task'] * 1e3:.2f} ms, a paired ratio "
            f"({other} / {ref}) of {e['value']:.3f} "
            f"[{e['low']:.3f}, {e['high']:.3f}], in {r['median_wall_seconds']:.1f} s against "
            f"{s['median_wall_seconds']:.1f} s (wall ratio {w['value']:.2f} "
            f"[{w['low']:.2f}, {w['high']:.2f}])")


def measure(sizes: list[int], rounds: int, seed: int = SEED) -> dict[str, Any]:
    """Warm-up, then ``rounds`` rounds of every size in a random order per round."""
    from distributed import Client, LocalCluster

    rng = random.Random(seed)
    runs: list[dict[str, Any]] = []
    with LocalCluster(n_workers=2, threads_per_worker=1, memory_limit="2GiB",
                      host="127.0.0.1", dashboard_address=None) as cluster, \
            Client(cluster, set_as_default=False) as client:
        for r in range(-1, rounds):  # round -1: the warm-up, not in the ratios
            order = list(sizes)
            rng.shuffle(order)
            for b in order:
                est, wall = one_probe(client, b)
                runs.append({"round": r, "blocks": b, "seconds_per_task": est,
                             "wall_seconds": wall})
                print(f"round {r:3d} blocks {b:4d}: {est * 1e3:6.2f} ms a task in {wall:5.2f} s",
                      file=sys.stderr, flush=True)
    return {"benchmark": "probe_size", "sizes": sizes, "rounds": rounds, "seed": seed,
            "cluster": "LocalCluster 2 workers x 1 thread, 2 GiB each, cores busy",
            "runs": runs, "summary": summarize(runs, sizes, seed)}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.probe_size",
                                description=__doc__.split("\n\n")[0])
    p.add_argument("--rounds", type=int, default=10, help="paired rounds after the warm-up")
    p.add_argument("--sizes", default="50,100", help="probe blocks, reference first")
    p.add_argument("--out", type=Path, default=RESULTS / "probe_size.json")
    p.add_argument("--allow-dirty", action="store_true",
                   help="run with uncommitted changes under chunkpilot/ (a diff hash is recorded)")
    args = p.parse_args(argv)
    try:
        sizes = [int(s) for s in args.sizes.split(",")]
    except ValueError:
        sizes = []
    if args.rounds < 1 or len(sizes) < 2 or min(sizes) < 2 or len(set(sizes)) != len(sizes):
        print(f"Expected --rounds >= 1 and --sizes of two or more distinct block counts >= 2. "
              f"Got {args.rounds}, {args.sizes!r}.", file=sys.stderr)
        return 2
    git = clean_or_say(args.allow_dirty, "probe_size")
    if git is None:
        return 2
    t0 = time.perf_counter()
    doc = measure(sizes, args.rounds)
    doc.update(commit=git["commit"], git=git, environment=environment(),
               benchmark_seconds=time.perf_counter() - t0)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(doc, indent=1))
    print(design_sentence(doc))
    ref = sizes[0]
    for b in sizes[1:]:
        s = doc["summary"][str(b)]
        e, w = s[f"seconds_per_task_ratio_to_{ref}"], s[f"wall_seconds_ratio_to_{ref}"]
        print(f"{b} blocks / {ref} blocks: estimate {e['value']:.3f} "
              f"[{e['low']:.3f}, {e['high']:.3f}], wall {w['value']:.2f} "
              f"[{w['low']:.2f}, {w['high']:.2f}] over {e['rounds']} rounds; wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
