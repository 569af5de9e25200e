"""Replay for tune's last step (``core.converge.next_rungs``) on stored full runs.

The search itself cannot be replayed offline (its trials ran on a cluster), but its last
step can be simulated: for every stored row whose tune left trials unused, the untried
rungs next to the shape it kept are "run" with the trials left, each timed as the benchmark
timed that shape (its ratio to the oracle) times log-normal trial noise, and the fastest
trial is kept. Usage::

    python -m benchmarks.neighbours [--noise 0.05] [--runs 14] [--order promising|smaller]

Runs are read from the git history of ``benchmarks/results`` (the last ``--runs`` commits
that changed them); rows where a candidate shape was not timed in every round are left out.
"""

from __future__ import annotations

import argparse
import json
import math
import random
import statistics
import subprocess
from pathlib import Path
from typing import Any

from benchmarks.replay import oracle_ratio, replanned_rows, stored_trial_runs
from benchmarks.workloads import WORKLOADS

ROOT = Path(__file__).resolve().parent.parent


def stored_runs(n: int) -> list[tuple[str, dict[str, Any]]]:
    """(commit, workload document) of the last ``n`` commits that changed the results."""
    git = ["git", "-C", str(ROOT)]
    shas = subprocess.check_output([*git, "log", "--format=%H", "--",
                                    "benchmarks/results"]).decode().split()[:n]
    docs = []
    for sha in shas:  # only the rows each commit wrote (a partial rerun repeats no others)
        changed = set(subprocess.check_output([*git, "show", "--name-only", "--format=", sha,
                                               "--", "benchmarks/results"]).decode().split())
        for w in WORKLOADS:
            path = f"benchmarks/results/{w.name}.json"
            if path in changed:
                text = subprocess.check_output([*git, "show", f"{sha}:{path}"])
                docs.append((sha[:12], json.loads(text)))
    return docs


def simulate(docs: list[tuple[str, dict[str, Any]]], noise: float, order: str,
             max_trials: int = 5, draws: int = 2000, seed: int = 1) -> list[tuple[Any, ...]]:
    """(commit, workload, scheduler, kept ratio, simulated ratio) per row with trials left."""
    from chunkpilot.core.converge import ladder, next_rungs

    rng, out = random.Random(seed), []
    for sha, doc, name, run, plan in replanned_rows(docs):
        result = (run.get("tune") or {}).get("result") or {}
        trials = result.get("trials") or []
        if not trials or "chunk_shape" not in trials[0]:
            continue
        tried = [tuple(t["chunk_shape"]) for t in trials]
        runs = stored_trial_runs(run) or {}
        kept = tuple(result["chunk_shape"])
        rungs = ladder(plan)
        near = next_rungs(rungs, kept, tried, runs if order == "promising" else {})
        ratio = oracle_ratio(run)
        rk, rc = ratio(kept), [ratio(c) for c in near]
        if not near or rk is None or None in rc or len(trials) >= max_trials:
            continue
        rc = rc[:max_trials - len(trials)]
        picks = []
        for _ in range(draws):
            best, bt = rk, rk * math.exp(rng.gauss(0, noise))
            for r in rc:
                t = r * math.exp(rng.gauss(0, noise))
                best, bt = (r, t) if t < bt else (best, bt)
            picks.append(best)
        out.append((sha, doc["workload"], name, rk, statistics.geometric_mean(picks)))
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--noise", type=float, default=0.05)
    ap.add_argument("--runs", type=int, default=14)
    ap.add_argument("--order", choices=("promising", "smaller"), default="promising")
    a = ap.parse_args()
    rows = simulate(stored_runs(a.runs), a.noise, a.order)
    by: dict[str, list[tuple[Any, ...]]] = {}
    for r in rows:
        by.setdefault(r[0], []).append(r)
    print(f"{len(rows)} rows: kept {statistics.geometric_mean(r[3] for r in rows):.4f}x the "
          f"oracle, with the neighbours {statistics.geometric_mean(r[4] for r in rows):.4f}x")
    for sha, rs in by.items():
        print(f"  {sha}: {len(rs)} rows, kept {statistics.geometric_mean(r[3] for r in rs):.3f}"
              f", with the neighbours {statistics.geometric_mean(r[4] for r in rs):.3f}")


if __name__ == "__main__":
    main()
