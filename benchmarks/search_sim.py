"""Replay of tune's whole search (``commands.tune._search``) on stored full runs.

Every stored row's plan is re-made from its inputs (``core.replay.replan``) and the search
runs against a simulated cluster: a trial of a shape takes its time on the benchmark (its
per-round walls, or interpolated by block bytes between the ladder shapes timed in every
round, or its warm-up time for a shape pruned after the warm-up) times log-normal trial
noise; a shape that failed on the benchmark fails. What is left out: the verdicts (every
trial is healthy, so the diagnosis-led first step never moves) and any bias of a trial
against the benchmark's timing, except the first trial's on request: ``--first-excess``
adds to the first run of each row's first trial its stored excess (``first_trial_excess``).
That run is set aside for a second one, as ``TrialRunner`` does (``core.reruns
.FIRST_TRIAL_RUNS``); ``--first-runs 1`` replays the rule before (one run counted).
Usage::

    python -m benchmarks.search_sim [--noise 0.05] [--runs 14] [--draws 40]
        [--first-excess] [--first-runs 1]

Prints the picks' geometric-mean ratio to the best shape timed and the trials they took.
"""

from __future__ import annotations

import argparse
import functools
import math
import random
import statistics
from collections.abc import Callable
from typing import Any

from benchmarks.neighbours import stored_runs
from benchmarks.replay import new_advise_walls, replanned_rows, trial_ok, trial_runs
from benchmarks.score import timed_walls
from benchmarks.stats import complete
from chunkpilot.cluster.trials import TrialRunner
from chunkpilot.core.reruns import FIRST_TRIAL_RUNS

Shape = tuple[int, ...]


def shape_index(run: dict[str, Any]) -> dict[Shape, int]:
    """{chunk shape: its index in the stored run's ladder}."""
    return {tuple(m["chunk_shape"]): i for i, m in enumerate(run["shapes"])}


def shape_ratios(run: dict[str, Any], itemsize: int
                 ) -> Callable[[Shape], tuple[float, bool] | None]:
    """``shape -> (its time / the best timed shape's, failed)``; ``None`` when unknown.
    Each shape is worked out once (a search asks for the same shapes in every draw)."""
    walls = timed_walls(run)
    gm = {i: statistics.geometric_mean([w for w in walls[i] if w]) for i in complete(walls)}
    best = min(gm, key=gm.get) if gm else None
    warm = {rec["shape"]: rec for rd in run["rounds"] if rd["warmup"] for rec in rd["runs"]}
    failed = {rec["shape"] for rd in run["rounds"] for rec in rd["runs"] if rec["failed"]}
    by_shape = shape_index(run)

    trials = {tuple(t["chunk_shape"]): t for t in
              ((run.get("tune") or {}).get("result") or {}).get("trials") or []
              if t.get("wall_seconds") and not t.get("error")}

    @functools.cache
    def ratio(c: Shape) -> tuple[float, bool] | None:
        i = by_shape.get(c)
        if i in failed:
            return 1.0, True
        w, _ = new_advise_walls(run, c, itemsize)
        if w and all(w):
            return statistics.geometric_mean(w) / gm[best], False
        if i is not None and i in warm and best in warm:  # a failed one returned above
            return warm[i]["wall_seconds"] / warm[best]["wall_seconds"], False
        return from_trials(c)

    def from_trials(c: Shape) -> tuple[float, bool] | None:
        """Off the benchmark's shapes (below its ladder): the stored tune trial of ``c``
        against another of its trials the benchmark timed (both measured on one region)."""
        if c not in trials:
            return None
        for ref, t in trials.items():
            known = ref != c and ratio(ref)
            if known and not known[1]:
                return known[0] * trials[c]["wall_seconds"] / t["wall_seconds"], False
        return None
    return ratio


def first_trial_excess(docs: list[tuple[str, dict[str, Any]]]) -> dict[tuple[str, str], float]:
    """{(workload, scheduler): how much slower a tune's first trial ran than its later ones,
    each against the benchmark's median for its shape} (mean log ratio over the stored runs
    whose trials covered the whole array; shapes timed in at least 5 rounds)."""
    out: dict[tuple[str, str], list[float]] = {}
    for _, doc in docs:
        for name, run in (doc.get("schedulers", {}) if isinstance(doc, dict) else {}).items():
            res = (run.get("tune") or {}).get("result") or {}
            region, trials = res.get("region"), res.get("trials") or []
            if not region or any((a, b) != (0, n) for (a, b), n in
                                 zip(region, doc["shape"], strict=True)):
                continue
            walls = timed_walls(run)
            index = shape_index(run)
            devs = []
            for k, t in enumerate(trials):
                w = [x for x in walls.get(index.get(tuple(t["chunk_shape"])), []) if x]
                first = trial_runs(t)[0] if trial_ok(t) else None
                if len(w) >= 5 and first:
                    devs.append((k == 0, math.log(first / statistics.median(w))))
            later = [d for f, d in devs if not f]
            if devs and devs[0][0] and later:
                out.setdefault((doc["workload"], name), []).append(
                    devs[0][1] - statistics.fmean(later))
    return {k: statistics.fmean(v) for k, v in out.items()}


class Unknown(Exception):
    """The search asked for a shape the stored run has no time for."""


class SimRunner:
    """``TrialRunner``'s interface over stored benchmark times with trial noise."""

    def __init__(self, ratio: Any, noise: float, rng: random.Random,
                 first_excess: float = 0.0, first_runs: int = FIRST_TRIAL_RUNS) -> None:
        self.ratio, self.noise, self.rng = ratio, noise, rng
        self.first_excess, self.first_runs = first_excess, first_runs
        self.trials: list[Any] = []
        self.by_shape: dict[Shape, list[float]] = {}
        self.failed: set[Shape] = set()

    def run(self, chunk: Shape, label: str, expected_s: float | None = None) -> Any:
        from chunkpilot.core.observations import Observation, TaskRecord, Trial, WorkerInfo
        from chunkpilot.core.verdicts import Verdict

        r = self.ratio(chunk)
        if r is None:
            raise Unknown(chunk)
        t = r[0] * math.exp(self.rng.gauss(0, self.noise))
        if not self.trials:  # the first trial: its first run's excess, or a second run
            t *= math.exp(self.first_excess)
            if self.first_runs > 1:
                t = r[0] * math.exp(self.rng.gauss(0, self.noise))
        obs = Observation(wall_seconds=t, workers=(WorkerInfo("w", 2, 2**33),),
                          tasks=(TaskRecord("('f', 0)", "f", "w", 1, "compute", 0.0, t),))
        kind = "failed" if r[1] else "healthy"
        trial = Trial(label, tuple((c,) for c in chunk), obs, (Verdict(kind, kind, {}),))
        if r[1]:
            self.failed.add(chunk)
        else:
            self.by_shape.setdefault(chunk, []).append(t)
        self.trials.append(trial)
        return trial

    def walls(self, chunk: Shape) -> list[float]:
        return list(self.by_shape.get(chunk, ()))

    wall = TrialRunner.wall  # the median of :meth:`walls`, as tune reads a trial


def simulate(docs: list[tuple[str, dict[str, Any]]], noise: float, draws: int,
             max_trials: int = 5, seed: int = 1,
             excess: dict[tuple[str, str], float] | None = None,
             first_runs: int = FIRST_TRIAL_RUNS) -> list[tuple[Any, ...]]:
    """(commit, workload, scheduler, mean ratio of the pick, mean trials) per row;
    ``excess`` slows the first run of each row's first trial (``first_trial_excess``),
    counted only with ``first_runs`` 1."""
    from chunkpilot.commands.tune import _search
    from chunkpilot.errors import TuningError

    rng, out = random.Random(seed), []
    for sha, doc, name, run, plan in replanned_rows(docs):
        ratio = shape_ratios(run, doc["itemsize"])
        picks, counts = [], []
        try:
            for _ in range(draws):
                runner = SimRunner(ratio, noise, rng,
                                   (excess or {}).get((doc["workload"], name), 0.0),
                                   first_runs)
                try:
                    chosen = _search(runner, plan, plan.resources, max_trials, 0.10)
                except TuningError:
                    chosen = None
                r = ratio(chosen) if chosen else None
                picks.append(r[0] if r and not r[1] else 2.0)
                counts.append(len(runner.trials))
        except Unknown:
            continue
        out.append((sha, doc["workload"], name, statistics.geometric_mean(picks),
                    statistics.fmean(counts)))
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--noise", type=float, default=0.05)
    ap.add_argument("--runs", type=int, default=14)
    ap.add_argument("--draws", type=int, default=40)
    ap.add_argument("--rows", action="store_true", help="print every row")
    ap.add_argument("--first-excess", action="store_true",
                    help="slow each row's first trial by its stored excess")
    ap.add_argument("--first-runs", type=int, choices=(1, 2), default=FIRST_TRIAL_RUNS,
                    help="1: the first trial's first run counts (the rule before)")
    a = ap.parse_args()
    docs = stored_runs(a.runs)
    excess = first_trial_excess(docs) if a.first_excess else None
    rows = simulate(docs, a.noise, a.draws, excess=excess, first_runs=a.first_runs)
    by: dict[str, list[tuple[Any, ...]]] = {}
    for r in rows:
        by.setdefault(r[0], []).append(r)
        if a.rows:
            print(f"  {r[0]} {r[1]:18} {r[2]:8} {r[3]:.3f} ({r[4]:.1f} trials)")
    over = sum(r[3] > 1.15 for r in rows)
    print(f"{len(rows)} rows: picks {statistics.geometric_mean(r[3] for r in rows):.4f}x the "
          f"best timed shape, {statistics.fmean(r[4] for r in rows):.2f} trials, "
          f"{over} rows over 1.15")
    for sha, rs in by.items():
        print(f"  {sha}: {len(rs)} rows, {statistics.geometric_mean(r[3] for r in rs):.3f}")


if __name__ == "__main__":
    main()
