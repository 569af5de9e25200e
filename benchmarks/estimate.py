"""How long a run will take, before it starts (printed by ``run`` and ``estimate``).

Per row (workload x scheduler): fixed costs (advise, tune, cluster start) plus the warm-up
round over every shape, the timed rounds over the kept shapes, and on threads one more pass
for the peaks. Wall times come from a previous run of this layout in the output directory
when there is one (its measured row durations); otherwise from each workload's
``est_best_seconds`` times the average slowdown of a ladder shape seen in earlier runs.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from pathlib import Path

from benchmarks.ladder import ladder, spec_work
from benchmarks.runner import FORMAT, Settings
from benchmarks.workloads import Workload

#: Seconds per row besides the rounds: advise (~5-12 s), tune (~3-15 s), cluster start.
FIXED_S = {"threads": 20.0, "local": 25.0}
#: Mean wall of a ladder shape in the warm-up / of a kept shape, over the fastest shape's.
WARMUP_SLOWDOWN, KEPT_SLOWDOWN = 1.8, 1.25
#: Contenders usually off the ladder (dask auto, advised, tuned; some coincide).
EXTRA_SHAPES = 2
#: Quick arrays are 1-8 MiB: every run is overhead.
QUICK_RUN_S = 0.15


def row_seconds(wl: Workload, scheduler: str, st: Settings) -> float:
    """The formula's estimate for one row."""
    size = wl.size(st.quick)
    spec, work = spec_work(size.shape, size.storage, wl.dtype, wl.keep_whole, wl.depth)
    n = len(ladder(spec, work, st.min_bytes)) + EXTRA_SHAPES
    kept = min(n, st.keep_fastest + EXTRA_SHAPES)
    best = QUICK_RUN_S if st.quick else wl.est_best_seconds[scheduler != "threads"]
    warm = n * WARMUP_SLOWDOWN * best
    timed = st.rounds * kept * KEPT_SLOWDOWN * best
    peaks = warm + 3.0 if scheduler == "threads" else 0.0
    return FIXED_S[scheduler] + warm + timed + peaks


def previous(out_dir: Path, st: Settings) -> dict[tuple[str, str], float]:
    """Row durations of an earlier run of the same kind in ``out_dir``, rescaled to
    ``st.rounds`` (the timed share of a row grows with the rounds)."""
    got: dict[tuple[str, str], float] = {}
    for p in Path(out_dir).glob("*.json"):
        try:
            d = json.loads(p.read_text())
        except (OSError, json.JSONDecodeError):
            continue
        if not isinstance(d, dict) or d.get("format") != FORMAT:
            continue
        if d["settings"]["quick"] != st.quick:
            continue
        for sched, run in d["schedulers"].items():
            timed = sum(r["seconds"] for r in run["rounds"] if not r["warmup"])
            n = max(1, sum(1 for r in run["rounds"] if not r["warmup"]))
            got[(d["workload"], sched)] = run["seconds_total"] + timed * (st.rounds / n - 1)
    return got


def estimate(workloads: Sequence[Workload], schedulers: Sequence[str], st: Settings,
             out_dir: Path) -> tuple[float, str]:
    """(seconds, where the numbers came from) for the whole run."""
    before = previous(out_dir, st)
    total, used = 0.0, 0
    for wl in workloads:
        total += wl.nbytes(st.quick) / 150e6  # writing the data
        for s in (s for s in schedulers if s in wl.schedulers):
            if (wl.name, s) in before:
                total += before[(wl.name, s)]
                used += 1
            else:
                total += row_seconds(wl, s, st)
    rows = sum(s in wl.schedulers for wl in workloads for s in schedulers)
    src = (f"{used} of {rows} rows from the previous run in {out_dir}" if used
           else "workload guesses (no previous run of this layout)")
    return math.ceil(total), src
