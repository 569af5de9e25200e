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
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from dask.utils import format_bytes

from benchmarks import report
from benchmarks.score import RoleScore, Row, score_row, timed_walls
from benchmarks.stats import complete, interpolate_loglog

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


def render(docs: Sequence[dict[str, Any]], rows: Sequence[Row], results: Path | str) -> str:
    """The replay's text: the run's table with the replayed advise column, and accuracy."""
    from benchmarks.page import run_line
    from benchmarks.summary import run_seed

    secs, peaks = report.accuracy_pairs(rows)
    out = [f"# Replay of {results} with the current model and planner (nothing run)", "",
           run_line(docs), "advise: re-planned from the stored inputs; tune: the stored run "
           "result (tune is not replayed offline).", "", *report.main_table(rows, run_seed(docs)),
           "", "Model at every measured shape (replayed model): time "
           f"{report.accuracy_text(secs)}; peak {report.accuracy_text(peaks)}.", "",
           *report.accuracy_table(rows), ""]
    return "\n".join(out)
