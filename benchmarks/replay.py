"""``python -m benchmarks replay [DIR]``: re-plan every stored row with the *current* model
and planner (nothing is run) and score the new advised shape against the stored timings.

The advised plan's inputs (array, work, resources, every profiling sample and the overhead
probe) are stored with each row; :func:`chunkpilot.core.replay.replan` plans again from
them. The new shape is scored with its own stored times when it was timed in every round;
otherwise its per-round times are interpolated in log-log space between the two nearest
ladder shapes timed in every round, by block bytes (said in the row). It is never
extrapolated: a shape outside the timed range is left unscored, with the reason. ``tune``
cannot be replayed offline (its trials ran on the cluster); its stored result is shown.
The model's accuracy at every shape is recomputed with the replayed model.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

from dask.utils import format_bytes

from benchmarks import report
from benchmarks.score import RoleScore, Row, score_row, timed_walls
from benchmarks.stats import complete, cross_fitted_oracle, interpolate_loglog, oracle_logs

Shape = tuple[int, ...]


def _predict(plan: Any) -> Any:
    from chunkpilot.core.evaluate import evaluate

    def model(shape: Shape) -> tuple[float, float]:
        e = evaluate(shape, plan.spec, plan.work, plan.resources, plan.model)
        return e.seconds_per_task, e.peak_bytes_per_task

    return model


def new_advise_walls(run: dict[str, Any], shape: Shape, itemsize: int
                     ) -> tuple[list[float | None] | None, str]:
    """Per-round walls for ``shape`` from the stored rounds, and how they were obtained."""
    walls = timed_walls(run)
    done = set(complete(walls))
    for i, m in enumerate(run["shapes"]):
        if tuple(m["chunk_shape"]) == shape and i in done:
            return walls[i], "measured"
    b = math.prod(shape) * itemsize
    timed = sorted((m["block_bytes"], i) for i, m in enumerate(run["shapes"])
                   if m["in_ladder"] and i in done)
    lower = [t for t in timed if t[0] <= b]
    upper = [t for t in timed if t[0] >= b]
    if not lower or not upper:
        span = (f"{format_bytes(timed[0][0])}–{format_bytes(timed[-1][0])}"
                if timed else "none")
        return None, (f"not scored: {format_bytes(b)} is outside the ladder shapes "
                      f"timed in every round ({span}); no extrapolation")
    (b0, i0), (b1, i1) = lower[-1], upper[0]
    out = [interpolate_loglog(b, [(b0, walls[i0][r]), (b1, walls[i1][r])])
           for r in range(len(walls[i0]))]
    names = " and ".join(dict.fromkeys(report.shape_text(run["shapes"][i]["chunk_shape"])
                                       for i in (i0, i1)))
    return out, f"interpolated by block bytes between {names}"


def replay_row(doc: dict[str, Any], run: dict[str, Any]) -> Row:
    """The row scored with the advised shape the current code would choose."""
    from chunkpilot.core.replay import replan

    stored = (run["advise"].get("plan") or {}).get("inputs")
    before = run["roles"].get("advise")
    if not stored:
        score = RoleScore(None, "missing", note="advise failed in the run: nothing to replay")
        return score_row(doc["workload"], run, advise=score)
    plan = replan(stored)
    shape = tuple(plan.chunk_shape)
    walls, how = new_advise_walls(run, shape, doc["itemsize"])
    change = ("same as the run" if before and list(shape) == before
              else f"was {report.shape_text(before)}")
    score = RoleScore(shape, "timed" if walls else "no timing",
                      note=f"replayed {report.shape_text(shape)} ({change}; {how})")
    return score_row(doc["workload"], run, advise=score, advise_walls=walls,
                     model=_predict(plan))


def replay(docs: Sequence[dict[str, Any]]) -> list[Row]:
    return [replay_row(d, run) for d in docs for run in d["schedulers"].values()]


def replanned_rows(docs: Sequence[tuple[str, dict[str, Any]]]
                   ) -> Iterator[tuple[str, dict[str, Any], str, dict[str, Any], Any]]:
    """(commit, workload document, scheduler, its run, today's plan from its stored inputs)
    for every stored row whose advise inputs replan (rows stored before they did are left
    out), as the tune replays (``benchmarks.neighbours``, ``benchmarks.search_sim``) read
    them."""
    from chunkpilot.core.replay import replan

    for sha, doc in docs:
        if not isinstance(doc, dict) or "schedulers" not in doc:  # not a workload's row
            continue
        for name, run in doc["schedulers"].items():
            inp = (run["advise"].get("plan") or {}).get("inputs")
            if not inp:
                continue
            try:
                plan = replan(inp)
            except Exception:  # noqa: S112 - a row stored before its inputs replan
                continue
            yield sha, doc, name, run, plan


def trial_ok(t: dict[str, Any]) -> bool:
    """A stored trial that ran cleanly (no restart, error or failed verdict)."""
    return not (t.get("restarts") or t.get("error") or "failed" in (t.get("verdicts") or ()))


def trial_runs(t: dict[str, Any]) -> list[float]:
    """A stored trial's runs' active times (one when it ran once, or was stored before the
    runs were)."""
    return t.get("runs_active_seconds") or [t.get("active_seconds") or t["wall_seconds"]]


def stored_trial_runs(run: dict[str, Any]) -> dict[Shape, list[float]] | None:
    """Every clean trial shape of a stored tune with its runs' active times (a short trial's
    repeats included, as ``TrialRunner.walls`` reads them); ``None`` when the trials were
    stored before they recorded their shape."""
    runs: dict[Shape, list[float]] = {}
    for t in (run["tune"].get("result") or {}).get("trials") or ():
        if "chunk_shape" not in t:
            return None
        if trial_ok(t):
            runs.setdefault(tuple(t["chunk_shape"]), []).extend(trial_runs(t))
    return runs


def oracle_ratio(run: dict[str, Any]) -> Callable[[Sequence[int] | None], float | None]:
    """``shape -> its time / the oracle's`` (geometric mean over the timed rounds); ``None``
    for a shape not timed in every round."""
    walls = timed_walls(run)
    oracle = cross_fitted_oracle(walls, list(walls))
    done = set(complete(walls))

    def ratio(s: Sequence[int] | None) -> float | None:
        i = next((i for i, m in enumerate(run["shapes"]) if s is not None
                  and tuple(m["chunk_shape"]) == tuple(s) and i in done), None)
        logs = [x for x in oracle_logs(walls, i, oracle) if math.isfinite(x)] if (
            oracle and i is not None) else []
        return math.exp(statistics.fmean(logs)) if logs else None
    return ratio


def repick_tune(doc: dict[str, Any], run: dict[str, Any]
                ) -> tuple[Shape | None, float | None, float | None]:
    """(shape, its ratio, the stored pick's ratio) to the oracle's time (geometric mean over
    the timed rounds): today's ``core.converge.pick`` on the stored trials' clean times. The
    search is not replayed (its trials ran on the cluster): only the final choice among the
    shapes it tried. A shape not timed in every round has no ratio."""
    from chunkpilot.core.converge import pick

    runs = stored_trial_runs(run)
    if not runs:
        return None, None, None
    shape = pick(runs, doc["itemsize"])
    ratio = oracle_ratio(run)
    return shape, ratio(shape), ratio(run["roles"].get("tune"))


def tune_pick_lines(docs: Sequence[dict[str, Any]]) -> list[str]:
    """Today's pick rule on every row's stored trials, against the pick the run made."""
    rows = [(d["workload"], run["scheduler"], *repick_tune(d, run))
            for d in docs for run in d["schedulers"].values()]
    both = [(new, old) for *_, new, old in rows if new and old]
    if not both:
        return []

    new_geo = statistics.geometric_mean(n for n, _ in both)
    old_geo = statistics.geometric_mean(o for _, o in both)
    out = [f"tune re-picked from the stored trials with today's rule (the search itself is "
           f"not replayed): geo-mean {new_geo:.3f} x the oracle vs {old_geo:.3f} stored "
           f"({len(both)} rows; over 1.15: {sum(n > 1.15 for n, _ in both)} vs "
           f"{sum(o > 1.15 for _, o in both)}).", ""]
    for w, sched, shape, new, old in rows:
        if new and old and abs(math.log(new / old)) > 1e-9:
            out.append(f"- {w}/{sched}: {report.shape_text(shape)} {new:.2f} (stored {old:.2f})")
    return out


def render(docs: Sequence[dict[str, Any]], rows: Sequence[Row], results: Path | str) -> str:
    """The replay's text: the run's table with the replayed advise column, and accuracy."""
    from benchmarks.page import run_line
    from benchmarks.summary import run_seed

    secs, peaks = report.accuracy_pairs(rows)
    out = [f"# Replay of {results} with the current model and planner (nothing run)", "",
           run_line(docs), "advise: re-planned from the stored inputs; tune: the stored run "
           "result (its search is not replayed offline; the last lines re-pick among its "
           "trials).", "", *report.main_table(rows, run_seed(docs)),
           "", "Model at every measured shape (replayed model): time "
           f"{report.accuracy_text(secs)}; peak {report.accuracy_text(peaks)}, "
           f"{report.peak_target_text(rows)}.", "",
           *report.accuracy_table(rows), "", *tune_pick_lines(docs)]
    return "\n".join(out)
