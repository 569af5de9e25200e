"""Score one stored row (workload x scheduler): the cross-fitted oracle, each contender's
ratio to it and to dask auto with intervals, and every shape's observations.

Pure: reads the JSON of :mod:`benchmarks.runner`; :mod:`benchmarks.replay` calls
:func:`score_row` with a replayed advise shape.
"""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass, field
from typing import Any

from benchmarks.stats import (
    Interval,
    best_in_round_logs,
    complete,
    cross_fitted_oracle,
    geo_interval,
    oracle_logs,
    paired_logs,
    seed_for,
)

ROLES = ("auto", "advise", "tune")
#: Contenders some rows add: ``storage`` = the store's own chunks (``from_zarr``'s default),
#: timed on the object-store row.
EXTRA_ROLES = ("storage",)
#: Per-row targets of issue 13 (advise <= 1.25, tune <= 1.15): T/T_oracle at most this.
TARGET = {"advise": 1.25, "tune": 1.15}
Shape = tuple[int, ...]


@dataclass(frozen=True)
class RoleScore:
    """One contender's result in a row."""

    shape: Shape | None
    status: str
    """``timed``, ``failed``, ``missing``, or for replays ``interpolated`` / ``no timing``."""
    vs_oracle: Interval | None = None
    vs_auto: Interval | None = None
    note: str = ""
    oracle_logs: tuple[float, ...] = ()
    """log(T / T_oracle) per paired round (pooled across rows for the headline)."""
    auto_logs: tuple[float, ...] = ()
    """log(T / T_auto) per paired round."""


@dataclass(frozen=True)
class ShapeObs:
    """What one shape showed, next to what the advised plan's model predicted."""

    shape: Shape
    block_bytes: int
    status: str
    """``timed`` (every round), ``pruned`` (warm-up only), ``failed``."""
    roles: tuple[str, ...]
    in_ladder: bool
    vs_best: Interval | None
    """T / T_best-in-round, over the timed rounds."""
    wall_seconds: float | None
    """Geometric mean over the timed rounds (the warm-up for pruned shapes)."""
    obs_seconds: float | None
    """Compute seconds of all tasks / input chunks (median over the runs)."""
    obs_peak: float | None
    """Peak RSS increment of a process / its threads (median over the runs)."""
    pred_seconds: float | None
    pred_peak: float | None


@dataclass(frozen=True)
class Row:
    workload: str
    scheduler: str
    oracle: tuple[Shape, ...]
    """The oracle chosen on rounds 1, 3, ... and on rounds 2, 4, ... (one when they agree)."""
    t_oracle: float | None
    roles: dict[str, RoleScore]
    timed_rounds: int
    loaded_rounds: int
    shapes: list[ShapeObs] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    mode: str = "func"
    """How advise was asked: ``pipeline`` (the whole graph) or ``func`` (a per-block function)."""


def timed_walls(run: dict[str, Any]) -> dict[int, list[float | None]]:
    """{shape index: wall per timed round (None: not run or failed)}."""
    timed = [r for r in run["rounds"] if not r["warmup"]]
    out: dict[int, list[float | None]] = {i: [None] * len(timed) for i in range(len(run["shapes"]))}
    for k, rd in enumerate(timed):
        for rec in rd["runs"]:
            out[rec["shape"]][k] = None if rec["failed"] else rec["wall_seconds"]
    return out


def _runs_of(run: dict[str, Any], i: int) -> list[tuple[bool, dict[str, Any]]]:
    return [(rd["warmup"], rec) for rd in run["rounds"] for rec in rd["runs"] if rec["shape"] == i]


def _busy_threads(threads_per_process: int, meta: dict[str, Any]) -> int:
    """Threads of a process that held a chunk at once: no more than there are input chunks
    (one 8192 x 4096 chunk on two threads peaks at one task's memory, not two halves)."""
    return max(1, min(int(threads_per_process), int(meta.get("input_chunks") or 1)))


def observe_shape(run: dict[str, Any], i: int) -> tuple[float | None, float | None]:
    """(seconds per input chunk, peak per thread) of shape ``i``; timed rounds preferred."""
    meta = run["shapes"][i]
    runs = _runs_of(run, i)
    good = [rec for w, rec in runs if not w and not rec["failed"]] or \
           [rec for _, rec in runs if not rec["failed"]]
    secs = [sum(g[1] for g in rec["groups"].values()) / meta["input_chunks"]
            for rec in good if rec["groups"]]
    if run["scheduler"] == "threads":
        fresh = meta.get("peak_fresh_process_bytes")
        busy = _busy_threads(good[0]["threads_per_process"] if good else 1, meta)
        peak = fresh / busy if fresh is not None else None
    else:
        peaks = [rec["peak_increment_bytes"] / _busy_threads(rec["threads_per_process"], meta)
                 for rec in good if rec["peak_increment_bytes"] is not None]
        peak = statistics.median(peaks) if peaks else None
    return (statistics.median(secs) if secs else None), peak


def _status(run: dict[str, Any], i: int, walls: dict[int, list[float | None]]) -> str:
    if any(rec["failed"] for _, rec in _runs_of(run, i)):
        return "failed"
    return "timed" if i in complete(walls) else "pruned"


def shape_obs(run: dict[str, Any], walls: dict[int, list[float | None]], seed: int,
              model: Any = None) -> list[ShapeObs]:
    """Every shape's observation; predictions stored by the run, or from ``model``
    (a callable ``shape -> (seconds, peak)``) when replaying."""
    out = []
    for i, meta in enumerate(run["shapes"]):
        status = _status(run, i, walls)
        vs_best = (geo_interval(best_in_round_logs(walls, i), seed_for(seed, "best", str(i)))
                   if status == "timed" else None)
        if status == "timed":
            wall = math.exp(statistics.fmean(math.log(t) for t in walls[i]))
        else:
            warm = [rec["wall_seconds"] for w, rec in _runs_of(run, i) if w and not rec["failed"]]
            wall = warm[0] if warm else None
        obs_s, obs_p = observe_shape(run, i)
        shape = tuple(meta["chunk_shape"])
        if model is not None:
            pred_s, pred_p = model(shape)
        else:
            p = meta.get("predicted") or {}
            pred_s, pred_p = p.get("seconds_per_task"), p.get("peak_bytes_per_task")
        out.append(ShapeObs(shape, meta["block_bytes"], status, tuple(meta["roles"]),
                            meta["in_ladder"], vs_best, wall, obs_s, obs_p, pred_s, pred_p))
    return out


def role_index(run: dict[str, Any], role: str) -> int | None:
    s = run["roles"].get(role)
    if not s:
        return None
    return next(i for i, m in enumerate(run["shapes"]) if m["chunk_shape"] == s)


def _finite(logs: list[float]) -> tuple[float, ...]:
    return tuple(x for x in logs if math.isfinite(x))


def score_row(workload: str, run: dict[str, Any], *, advise: RoleScore | None = None,
              advise_walls: list[float | None] | None = None, model: Any = None) -> Row:
    """Score a stored row; ``advise``/``advise_walls`` replace the advised contender (replay)."""
    walls: dict[Any, list[float | None]] = dict(timed_walls(run))
    seed = run["seed"]
    oracle = cross_fitted_oracle(walls, list(walls))
    n = len(next(iter(walls.values()), []))
    roles: dict[str, RoleScore] = {}
    auto = role_index(run, "auto")
    auto_ok = auto is not None and auto in complete(walls)
    for role in (*ROLES, *(r for r in EXTRA_ROLES if run["roles"].get(r))):
        i = role_index(run, role)
        if role == "advise" and advise is not None:
            if advise_walls is None:
                roles[role] = advise
                continue
            walls["replayed"] = advise_walls
            i, base = "replayed", advise
        else:
            base = None
        shape = tuple(run["roles"][role]) if run["roles"].get(role) else None
        if i is None:
            roles[role] = RoleScore(shape, "missing")
            continue
        if i not in complete(walls):
            failed = i != "replayed" and _status(run, i, walls) == "failed"
            roles[role] = RoleScore(shape, "failed" if failed else "missing")
            continue
        lo = _finite(oracle_logs(walls, i, oracle)) if oracle else ()
        la = _finite(paired_logs(walls, i, auto)) if auto_ok and role != "auto" else ()
        roles[role] = RoleScore(
            base.shape if base else shape, base.status if base else "timed",
            geo_interval(lo, seed_for(seed, role, "oracle")) if lo else None,
            geo_interval(la, seed_for(seed, role, "auto")) if la else None,
            base.note if base else "", lo, la)
    walls.pop("replayed", None)
    t_oracle = None
    oracle_shapes: tuple[Shape, ...] = ()
    if oracle:
        ts = [walls[oracle.for_round(r)][r] for r in range(n)]
        t_oracle = math.exp(statistics.fmean(math.log(t) for t in ts))
        ids = dict.fromkeys(k for k in (oracle.chosen_on_odd, oracle.chosen_on_even)
                            if k is not None)
        oracle_shapes = tuple(tuple(run["shapes"][k]["chunk_shape"]) for k in ids)
    timed = [r for r in run["rounds"] if not r["warmup"]]
    notes = []
    if n < 2:
        notes.append("one timed round: the oracle scores the round it was chosen on")
    if run["tune"].get("note"):
        notes.append(run["tune"]["note"])
    return Row(workload, run["scheduler"], oracle_shapes, t_oracle, roles, len(timed),
               sum(1 for r in run["rounds"] if r["flagged"]), shape_obs(run, walls, seed, model),
               notes, run["advise"].get("mode") or "func")
