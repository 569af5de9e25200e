"""Markdown tables and sentences from scored rows (pure; no file I/O).

A ratio cell reads ``1.12 [1.04, 1.21]``: the geometric mean over the paired rounds and its
95 % bootstrap interval. ``≈`` marks a cell whose interval contains 1.0 (within noise); a
cell without it is decided.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from dask.utils import format_bytes

from benchmarks.score import ROLES, TARGET, RoleScore, Row
from benchmarks.stats import (
    Interval,
    median_abs_log,
    pooled_interval,
    seed_for,
    verdict,
    within,
)

MAIN_HEAD = ["| workload | scheduler | oracle | T_oracle | auto ÷ oracle | advise ÷ oracle "
             "| tune ÷ oracle | advise ÷ auto | tune ÷ auto | flagged rounds | notes |",
             "|---|---|---|---:|---:|---:|---:|---:|---:|---:|---|"]


def shape_text(s: Sequence[int] | None) -> str:
    return "×".join(map(str, s)) if s else "–"


def iv_text(iv: Interval | None, status: str = "timed") -> str:
    if status == "failed":
        return "FAIL"
    if iv is None:
        return "–"
    mark = " ≈" if not iv.excludes(1.0) else ""
    return f"{iv.value:.2f} [{iv.low:.2f}, {iv.high:.2f}]{mark}"


def _role_notes(r: RoleScore, role: str) -> str:
    return f"{role}: {r.note}" if r.note else ""


def main_table(rows: Sequence[Row], seed: int) -> list[str]:
    """The headline table: one line per row, then the pooled geometric means."""
    out = list(MAIN_HEAD)
    for row in rows:
        r = row.roles
        notes = [n for n in (*row.notes, *(_role_notes(r[k], k) for k in ROLES)) if n]

        def vs_auto(role: str, r: dict[str, RoleScore] = r) -> str:
            if r[role].shape is not None and r[role].shape == r["auto"].shape:
                return "same chunks"
            return iv_text(r[role].vs_auto, r[role].status)

        t = f"{row.t_oracle:.2f} s" if row.t_oracle else "–"
        out.append(
            f"| {row.workload} | {row.scheduler} | {' / '.join(map(shape_text, row.oracle))} "
            f"| {t} | {iv_text(r['auto'].vs_oracle, r['auto'].status)} "
            f"| {iv_text(r['advise'].vs_oracle, r['advise'].status)} "
            f"| {iv_text(r['tune'].vs_oracle, r['tune'].status)} "
            f"| {vs_auto('advise')} | {vs_auto('tune')} "
            f"| {row.loaded_rounds}/{row.timed_rounds + 1} | {'; '.join(notes)} |")
    pooled = headline_numbers(rows, seed)
    cells = [pooled[k] for k in ("auto", "advise", "tune", "advise_vs_auto", "tune_vs_auto")]
    out.append("| **geo-mean** | | | | " + " | ".join(
        f"**{iv_text(iv)}** ({n} rows)" if iv else "–" for iv, n in cells) + " | | |")
    return out


def headline_numbers(rows: Sequence[Row], seed: int) -> dict[str, tuple[Interval | None, int]]:
    """Pooled geometric means (with intervals) over the rows that have the ratio; rows with
    a failed contender are left out (the table shows FAIL)."""
    out = {}
    for key, role, attr in (("auto", "auto", "oracle_logs"),
                            ("advise", "advise", "oracle_logs"),
                            ("tune", "tune", "oracle_logs"),
                            ("advise_vs_auto", "advise", "auto_logs"),
                            ("tune_vs_auto", "tune", "auto_logs")):
        logs = [list(getattr(row.roles[role], attr)) for row in rows]
        logs = [x for x in logs if x]
        out[key] = (pooled_interval(logs, seed_for(seed, "pooled", key)) if logs else None,
                    len(logs))
    return out


def chunk_table(rows: Sequence[Row]) -> list[str]:
    out = ["| workload | scheduler | oracle | dask auto | advise | tune |",
           "|---|---|---|---|---|---|"]
    for row in rows:
        out.append(f"| {row.workload} | {row.scheduler} | "
                   f"{' / '.join(map(shape_text, row.oracle))} | "
                   + " | ".join(shape_text(row.roles[k].shape) for k in ROLES) + " |")
    return out


def findings(row: Row) -> list[str]:
    """One sentence per contender: decided or within noise, and the target."""
    out = []
    for role in row.roles:  # auto, advise, tune, then any extra contender (storage chunks)
        r = row.roles[role]
        name = f"{row.workload}/{row.scheduler} {role}"
        if r.status == "failed":
            out.append(f"{name} {shape_text(r.shape)} FAILED (see the failures in the JSON).")
            continue
        if r.vs_oracle is None:
            out.append(f"{name}: no ratio ({r.status}{': ' + r.note if r.note else ''}).")
            continue
        v = verdict(r.vs_oracle)
        text = (f"{name} {shape_text(r.shape)}: {iv_text(r.vs_oracle)} × the oracle — "
                + ("slower, decided" if v == "above" else "faster, decided" if v == "below"
                   else "within noise of it"))
        if role in TARGET:
            t = verdict(r.vs_oracle, TARGET[role])
            text += (f"; target ≤ {TARGET[role]:.2f}: " + {"above": "missed, decided",
                     "below": "met, decided"}.get(t, "undecided (interval spans it)"))
        if role != "auto" and r.shape == row.roles["auto"].shape:
            text += "; same chunks as dask auto"
        elif r.vs_auto is not None:
            a = verdict(r.vs_auto)
            text += f"; vs dask auto {iv_text(r.vs_auto)} — " + (
                "slower, decided" if a == "above" else "faster, decided" if a == "below"
                else "within noise")
        out.append(text + ".")
    return out


def accuracy_pairs(rows: Sequence[Row]) -> tuple[list[float], list[float]]:
    """pred/obs ratios of seconds per input chunk and of peak per thread, every shape."""
    secs, peaks = [], []
    for row in rows:
        for s in row.shapes:
            if s.pred_seconds and s.obs_seconds:
                secs.append(s.pred_seconds / s.obs_seconds)
            if s.pred_peak and s.obs_peak:
                peaks.append(s.pred_peak / s.obs_peak)
    return secs, peaks


#: Issue 13's target for the predicted peak at every measured shape, by how advise was asked.
PEAK_BAND = {"func": 0.25, "pipeline": 0.35}


def peak_band_counts(row: Row) -> tuple[int, int, float]:
    """(shapes whose peak lies within the issue's band for ``row``, shapes with a peak, the
    band: ±25 % for a per-block function, ±35 % for a pipeline)."""
    band = PEAK_BAND.get(row.mode, PEAK_BAND["func"])
    k, n = within(accuracy_pairs([row])[1], band)
    return k, n, band


def peak_target_text(rows: Sequence[Row]) -> str:
    """How many shapes' peaks lie within the issue's band for their row."""
    counts = [peak_band_counts(row) for row in rows]
    bands = ", ".join(f"±{round(b * 100)} % for {mode}= rows" for mode, b in PEAK_BAND.items())
    return (f"within the target band ({bands}) on {sum(c[0] for c in counts)}/"
            f"{sum(c[1] for c in counts)} shapes")


def accuracy_text(ratios: Sequence[float]) -> str:
    m = median_abs_log(ratios)
    k, n = within(ratios)
    if m is None:
        return "no data"
    return f"median |log error| {m:.2f} (×{math.exp(m):.2f}), within ±25 % on {k}/{n} shapes"


def accuracy_table(rows: Sequence[Row]) -> list[str]:
    out = ["| workload | scheduler | seconds: median abs log error | within ±25 % "
           "| peak: median abs log error | within ±25 % | within the target band |",
           "|---|---|---:|---:|---:|---:|---:|"]
    for row in rows:
        s, p = accuracy_pairs([row])
        cells = []
        for ratios in (s, p):
            m = median_abs_log(ratios)
            k, n = within(ratios)
            cells += [f"{m:.2f}" if m is not None else "–", f"{k}/{n}"]
        k, n, band = peak_band_counts(row)
        cells.append(f"{k}/{n} (±{band:.0%})")
        out.append(f"| {row.workload} | {row.scheduler} | " + " | ".join(cells) + " |")
    return out


def shape_table(row: Row) -> list[str]:
    """Every shape of one row: status, speed, and the model next to the observation."""
    out = ["| chunks | block | status | role | T ÷ best in round | wall | s/chunk pred "
           "| obs | pred÷obs | peak/thread pred | obs | pred÷obs |",
           "|---|---:|---|---|---:|---:|---:|---:|---:|---:|---:|---:|"]

    def num(v: float | None, f: str) -> str:
        return "–" if v is None else f.format(v)

    def ratio(a: float | None, b: float | None) -> str:
        return f"{a / b:.2f}" if a and b else "–"

    for s in sorted(row.shapes, key=lambda s: s.block_bytes):
        role = ", ".join(s.roles) + (" (ladder)" if s.in_ladder and s.roles else "")
        out.append(
            f"| {shape_text(s.shape)} | {format_bytes(s.block_bytes)} | {s.status} | {role} | "
            f"{iv_text(s.vs_best) if s.vs_best else '–'} | {num(s.wall_seconds, '{:.2f} s')} | "
            f"{num(s.pred_seconds, '{:.3f}')} | {num(s.obs_seconds, '{:.3f}')} | "
            f"{ratio(s.pred_seconds, s.obs_seconds)} | "
            f"{format_bytes(int(s.pred_peak)) if s.pred_peak else '–'} | "
            f"{format_bytes(int(s.obs_peak)) if s.obs_peak else '–'} | "
            f"{ratio(s.pred_peak, s.obs_peak)} |")
    return out
