"""Run the contenders of one workload x scheduler in rounds.

Round 0 is a warm-up: every shape once, in a random order. Then ``rounds`` timed rounds run
the kept shapes once each, in a fresh random order per round (one seeded ``random.Random``
per row), so drifting machine load hits every shape alike and pairs within a round. The
1-minute load average is read before each round and the CPU everything else used during it
(``provenance.others_cores``, steal included); a round in which others used more than half
a core is flagged.

Kept after the warm-up: every role shape (dask auto, advised, tuned) and the
``keep_fastest`` fastest ladder shapes whose warm-up was within ``slow_factor`` of the
fastest. The others are recorded as pruned (their warm-up stands; they cannot be the
oracle). A shape that fails is not run again (on a cluster a failure costs restarts).
"""

from __future__ import annotations

import math
import random
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from benchmarks.provenance import OTHERS_FLAG_CORES, cpu_seconds, load_1min, others_cores
from benchmarks.timing import RunRecord
from benchmarks.workloads import DataSource, Workload

Shape = tuple[int, ...]
Log = Callable[[str], None]


@dataclass(frozen=True)
class RoundPlan:
    """How many rounds and which shapes survive the warm-up."""

    rounds: int
    seed: int
    keep_fastest: int
    slow_factor: float
    run_timeout_s: float


def kept_after_warmup(warm: dict[Shape, RunRecord], ladder: list[Shape], roles: list[Shape],
                      keep_fastest: int, slow_factor: float
                      ) -> tuple[list[Shape], dict[Shape, str]]:
    """(shapes timed in every round, {pruned shape: why})."""
    ok = {s: r.wall_seconds for s, r in warm.items() if not r.failed}
    fastest = min(ok.values(), default=math.inf)
    near = sorted((s for s in ladder if s in ok and ok[s] <= slow_factor * fastest),
                  key=lambda s: ok[s])[:keep_fastest]
    keep = [s for s in warm if s in ok and (s in roles or s in near)]
    why: dict[Shape, str] = {}
    for s in warm:
        if s in keep:
            continue
        if s not in ok:
            why[s] = "failed in the warm-up"
        elif ok[s] > slow_factor * fastest:
            why[s] = f"warm-up {ok[s] / fastest:.1f}x the fastest (> {slow_factor:g}x)"
        else:
            why[s] = f"not among the {keep_fastest} fastest ladder shapes in the warm-up"
    return keep, why


def run_rounds(wl: Workload, src: DataSource, ex: Any, shapes: list[Shape], ladder: list[Shape],
               roles: list[Shape], rp: RoundPlan, log: Log) -> tuple[list[dict], dict[Shape, str]]:
    """Every round as ``{index, warmup, load_1min, flagged, order, runs}``, and the pruned."""
    from dask.array.core import PerformanceWarning

    rng = random.Random(rp.seed)
    index = {s: i for i, s in enumerate(shapes)}
    failed: set[Shape] = set()
    out: list[dict] = []

    def one_round(k: int, active: list[Shape]) -> dict[Shape, RunRecord]:
        order = [s for s in active if s not in failed]
        rng.shuffle(order)
        load = load_1min()
        cpu0 = cpu_seconds()
        t0 = time.perf_counter()
        recs: dict[Shape, RunRecord] = {}
        runs = []
        for s in order:
            with warnings.catch_warnings():  # dask's matmul says it splits chunks, every run
                warnings.simplefilter("ignore", PerformanceWarning)
                y = wl.build(src.open(s))
            rec = ex.run(y, rp.run_timeout_s)
            recs[s] = rec
            if rec.failed:
                failed.add(s)
                log(f"    {s}: FAILED {(rec.failure or '')[:120]}")
            runs.append({"shape": index[s], **rec.to_dict()})
        wall = time.perf_counter() - t0
        others = others_cores(cpu0, cpu_seconds(), wall)
        flagged = others > OTHERS_FLAG_CORES
        out.append({"index": k, "warmup": k == 0, "load_1min": load, "others_cores": others,
                    "flagged": flagged, "seconds": wall, "order": [index[s] for s in order],
                    "runs": runs})
        log(f"  round {k}{' (warm-up)' if k == 0 else ''}: {len(order)} shapes in "
            f"{wall:.1f} s, load {load:.1f}, others {others:.2f} cores"
            + (" : FLAGGED" if flagged else ""))
        return recs

    warm = one_round(0, shapes)
    keep, pruned = kept_after_warmup(warm, ladder, roles, rp.keep_fastest, rp.slow_factor)
    est = rp.rounds * sum(warm[s].wall_seconds for s in keep)
    log(f"  timing {len(keep)} of {len(shapes)} shapes x {rp.rounds} rounds (~{est:.0f} s)")
    for k in range(1, rp.rounds + 1):
        one_round(k, keep)
    return out, pruned
