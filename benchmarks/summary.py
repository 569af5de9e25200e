"""Turn the JSON results into ``summary.md``: ratios to the oracle, failures, cost, accuracy,
and the issue's targets checked row by row. Pure apart from :func:`write_summary`."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from dask.utils import format_bytes

ROLES = ("auto", "advise", "tune")
#: The issue's targets.
TARGET = {"advise": 1.25, "tune": 1.10, "tune_geomean": 1.05, "memory": 0.25,
          "advise_seconds": 10.0, "tune_trials": 5}


def _shape(s: list[int] | None) -> str:
    return "×".join(map(str, s)) if s else "–"


def _ratio(r: float | None, failed: bool, missing: bool) -> str:
    if missing:
        return "–"
    return "FAIL" if failed or r is None else f"{r:.2f}"


def geomean(values: list[float]) -> float | None:
    vals = [v for v in values if v is not None and v > 0 and math.isfinite(v)]
    return math.exp(sum(map(math.log, vals)) / len(vals)) if vals else None


def _by_shape(run: dict[str, Any]) -> dict[tuple[int, ...], dict[str, Any]]:
    return {tuple(m["chunk_shape"]): m for m in run["measured"]}


def _role(run: dict[str, Any], role: str) -> dict[str, Any] | None:
    s = run["roles"].get(role)
    return _by_shape(run).get(tuple(s)) if s else None


def _failures(run: dict[str, Any]) -> str:
    parts = []
    for role in ROLES:
        m = _role(run, role)
        if m and m["failed"]:
            parts.append(f"{role}: {m['restarts']} restarts" if m["restarts"]
                         else f"{role}: failed")
        elif m and m["spilled_bytes"]:
            parts.append(f"{role}: spilled {format_bytes(m['spilled_bytes'])}")
    grid = set(map(tuple, run["grid"]))
    bad = sum(1 for s, m in _by_shape(run).items() if s in grid and m["failed"])
    if bad:
        parts.append(f"grid: {bad}/{len(grid)} failed")
    trials = ((run.get("tune") or {}).get("result") or {}).get("trials", [])
    bad_trials = sum(1 for t in trials if t["restarts"] or t["error"])
    if bad_trials:
        parts.append(f"tune trials: {bad_trials} failed")
    return "; ".join(parts) or "none"


def _cost(run: dict[str, Any]) -> str:
    a, t = run.get("advise") or {}, run.get("tune") or {}
    trials = len(((t.get("result") or {}).get("trials")) or [])
    return f"advise {a.get('seconds', 0):.1f} s; tune {t.get('seconds', 0):.1f} s ({trials} trials)"


def _given(run: dict[str, Any]) -> str:
    a, t = (run.get("advise") or {}).get("mode"), (run.get("tune") or {}).get("mode")
    return f"{a or '–'}" + (f" (tune: {t})" if t and t != a else "")


def accuracy(run: dict[str, Any]) -> dict[str, Any] | None:
    """Predicted vs observed per task for the advised chunks."""
    m = _role(run, "advise")
    if not m or not m.get("predicted"):
        return None
    p = m["predicted"]
    obs_peak = (m["peak_increment_bytes"] / m["threads_per_process"]
                if m["peak_increment_bytes"] is not None else None)
    return {"task_bytes": p["task_bytes"], "pred_s": p["seconds_per_task"],
            "obs_s": m["task_seconds"], "pred_peak": p["peak_bytes_per_task"],
            "obs_peak": obs_peak, "group": m["task_group"],
            "s_ratio": p["seconds_per_task"] / m["task_seconds"] if m["task_seconds"] else None,
            "peak_ratio": p["peak_bytes_per_task"] / obs_peak if obs_peak else None}


def _misses(doc: dict[str, Any], sched: str, run: dict[str, Any]) -> list[str]:
    name, out = f"{doc['workload']}/{sched}", []
    r = run["ratios"]
    for role in ("advise", "tune"):
        if run["oracle"] and (r.get(role) is None or r[role] > TARGET[role]):
            got = "failed or missing" if r.get(role) is None else f"{r[role]:.2f}"
            out.append(f"{name}: T_{role}/T_oracle = {got} (target ≤ {TARGET[role]})")
    acc = accuracy(run)
    if acc and acc["peak_ratio"] is not None and abs(acc["peak_ratio"] - 1) > TARGET["memory"]:
        out.append(f"{name}: predicted peak per task {format_bytes(int(acc['pred_peak']))} vs "
                   f"observed {format_bytes(int(acc['obs_peak']))} (×{acc['peak_ratio']:.2f})")
    a = run.get("advise") or {}
    if a.get("seconds", 0) > TARGET["advise_seconds"]:
        out.append(f"{name}: advise took {a['seconds']:.1f} s (target ≤ 10 s)")
    for role in ("advise", "tune"):
        if (run.get(role) or {}).get("error"):
            out.append(f"{name}: {role} raised {run[role]['error']}")
    return out


def render(docs: list[dict[str, Any]]) -> str:
    """The markdown summary of all results."""
    head = ["| workload | scheduler | oracle chunks | T_oracle | auto | advise | tune | failures "
            "| chunkpilot cost |", "|---|---|---|---:|---:|---:|---:|---|---|"]
    chunks = ["| workload | scheduler | oracle | dask auto | advise | tune | given as |",
              "|---|---|---|---|---|---|---|"]
    acc_rows = ["| workload | scheduler | block | s/task predicted | observed | pred/obs "
                "| peak/task predicted | observed | pred/obs |",
                "|---|---|---:|---:|---:|---:|---:|---:|---:|"]
    ratios: dict[str, list[float]] = {r: [] for r in ROLES}
    counts = dict.fromkeys(ROLES, 0)
    misses: list[str] = []
    for doc in docs:
        for sched, run in doc["schedulers"].items():
            cells = []
            for role in ROLES:
                m = _role(run, role)
                cells.append(_ratio(run["ratios"].get(role), bool(m and m["failed"]), m is None))
                counts[role] += 1
                if run["ratios"].get(role) is not None:
                    ratios[role].append(run["ratios"][role])
            t = f"{run['oracle_seconds']:.2f} s" if run["oracle_seconds"] else "–"
            head.append(f"| {doc['workload']} | {sched} | {_shape(run['oracle'])} | {t} | "
                        + " | ".join(cells) + f" | {_failures(run)} | {_cost(run)} |")
            chunks.append(f"| {doc['workload']} | {sched} | {_shape(run['oracle'])} | "
                          + " | ".join(_shape(run["roles"].get(r)) for r in ROLES)
                          + f" | {_given(run)} |")
            a = accuracy(run)
            if a:
                def f(v: float | None, fmt: str) -> str:
                    return "–" if v is None else fmt.format(v)
                acc_rows.append(
                    f"| {doc['workload']} | {sched} | {format_bytes(a['task_bytes'])} | "
                    f"{f(a['pred_s'], '{:.3f} s')} | {f(a['obs_s'], '{:.3f} s')} | "
                    f"{f(a['s_ratio'], '{:.2f}')} | {format_bytes(int(a['pred_peak']))} | "
                    f"{'–' if a['obs_peak'] is None else format_bytes(int(a['obs_peak']))} | "
                    f"{f(a['peak_ratio'], '{:.2f}')} |")
            misses += _misses(doc, sched, run)
    gm = {r: geomean(ratios[r]) for r in ROLES}
    head.append("| **geo-mean** | | | | " + " | ".join(
        f"**{gm[r]:.2f}** ({len(ratios[r])}/{counts[r]})" if gm[r] else "–" for r in ROLES)
        + " | | |")
    if gm["tune"] is not None and gm["tune"] > TARGET["tune_geomean"]:
        misses.append(f"geo-mean T_tune/T_oracle = {gm['tune']:.2f} (target ≤ 1.05)")
    env = docs[0]["environment"] if docs else {}
    lines = [
        "# chunkpilot benchmarks", "",
        f"{'QUICK smoke-test sizes. ' if env.get('quick') else ''}"
        f"Machine: {env.get('cpus')} CPUs, {env.get('platform', '')}; dask {env.get('dask')}, "
        f"zarr {env.get('zarr')}; median of {env.get('repeats')} timed runs after a warm-up "
        "(when, where and under what load each workload ran: see Runs below).",
        "", "Wall time relative to the oracle (the fastest grid shape that ran without failure); "
        "geo-means over the runs that did not fail (count/total).", "", *head, "",
        "## Chunk shapes", "", *chunks, "",
        "## Prediction accuracy (advised chunks)", "",
        "Observed s/task: median of the task group with the most compute time; observed peak/task: "
        "peak RSS above the process's idle RSS during the run, per thread.", "", *acc_rows, "",
        "## Targets missed", "", *([f"- {m}" for m in misses] or ["- none"]), "",
        "## Runs", "", *_runs(docs), "",
    ]
    return "\n".join(lines)


def _runs(docs: list[dict[str, Any]]) -> list[str]:
    rows = ["| workload | date | git | load average at start → end | seconds |",
            "|---|---|---|---|---:|"]
    for d in docs:
        e = d.get("environment", {})
        load = " → ".join(f"{(e.get(k) or [0])[0]:.1f}" for k in ("load_average",
                                                                  "load_average_end"))
        rows.append(f"| {d['workload']} | {e.get('date', '–')} | {e.get('git') or '–'} | "
                    f"{load} | {d.get('seconds_total', 0):.0f} |")
    return rows


def write_summary(out_dir: Path) -> Path:
    """Render every ``<out_dir>/*.json`` result into ``<out_dir>/summary.md``."""
    docs = [json.loads(p.read_text()) for p in sorted(Path(out_dir).glob("*.json"))]
    docs = [d for d in docs if isinstance(d, dict) and "schedulers" in d]  # skip other files
    from benchmarks.workloads import WORKLOADS

    order = {w.name: i for i, w in enumerate(WORKLOADS)}
    docs.sort(key=lambda d: order.get(d.get("workload"), len(order)))
    dest = Path(out_dir) / "summary.md"
    dest.parent.mkdir(parents=True, exist_ok=True)
    dest.write_text(render(docs))
    return dest
