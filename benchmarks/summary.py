"""Results directory -> scored rows -> the generated page and the README headline.

``python -m benchmarks summary [DIR]`` writes ``DIR/summary.md``; for the committed run
(``benchmarks/results``) or with ``--publish`` it writes ``docs/benchmarks.md`` instead and
rewrites the README block between the ``benchmark-headline`` markers. No number in either
is typed by hand.
"""

from __future__ import annotations

import json
import statistics
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from benchmarks import page
from benchmarks.contenders import MAX_TRIALS
from benchmarks.report import (
    accuracy_pairs,
    accuracy_text,
    headline_numbers,
    iv_text,
    peak_target_text,
)
from benchmarks.score import ROLES, TARGET, Row, score_row
from benchmarks.stats import verdict

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results"
#: Issue 13: advise takes at most this long on every row.
ADVISE_TARGET_S = 10.0
DOCS = ROOT / "docs" / "benchmarks.md"
README = ROOT / "README.md"
START, END = "<!-- benchmark-headline:start -->", "<!-- benchmark-headline:end -->"


def load(results: Path) -> list[dict[str, Any]]:
    """The results files of ``results`` (this layout only), in workload-table order."""
    from benchmarks.runner import FORMAT
    from benchmarks.workloads import WORKLOADS

    docs = []
    for p in sorted(Path(results).glob("*.json")):
        d = json.loads(p.read_text())
        if isinstance(d, dict) and d.get("format") == FORMAT:
            docs.append(d)
    order = {w.name: i for i, w in enumerate(WORKLOADS)}
    return sorted(docs, key=lambda d: order.get(d["workload"], len(order)))


def score_all(docs: Sequence[dict[str, Any]]) -> list[Row]:
    return [score_row(d["workload"], run) for d in docs for run in d["schedulers"].values()]


def run_seed(docs: Sequence[dict[str, Any]]) -> int:
    return int(docs[0]["settings"]["seed"]) if docs else 0


def _counts(rows: Sequence[Row], role: str, against: float) -> tuple[int, int, int]:
    """Rows whose interval lies above / below ``against`` (decided), and rows spanning it."""
    got = [verdict(r.roles[role].vs_oracle, against) for r in rows
           if r.roles[role].vs_oracle is not None]
    return got.count("above"), got.count("below"), got.count("within noise")


def cost_line(docs: Sequence[dict[str, Any]]) -> str:
    """What advise and tune themselves took per row, against issue 13's limits (advise
    ≤ ``ADVISE_TARGET_S``, tune ≤ ``MAX_TRIALS`` trials), from the stored seconds."""
    adv, tun, trials = [], [], []
    for d in docs:
        for name, run in d["schedulers"].items():
            row = f"{d['workload']}/{name}"
            if (run.get("advise") or {}).get("seconds"):
                adv.append((run["advise"]["seconds"], row))
            tune = run.get("tune") or {}
            if tune.get("seconds"):
                tun.append((tune["seconds"], row))
                trials.append(len((tune.get("result") or {}).get("trials") or []))
    if not adv:
        return "- **cost**: no advise timed."
    over = sorted((r for r in adv if r[0] > ADVISE_TARGET_S), reverse=True)
    over_text = ", ".join(f"{r} {s:.1f} s" for s, r in over)
    mid = statistics.median(s for s, _ in adv)
    line = (f"- **cost**: advise took {mid:.1f} s (median of {len(adv)} rows), at "
            f"most {max(adv)[0]:.1f} s ({max(adv)[1]}); vs the ≤ {ADVISE_TARGET_S:.0f} s "
            f"target: {len(adv) - len(over)} met, {len(over)} over"
            + (f" ({over_text})" if over else "") + ".")
    if tun:
        mid = statistics.median(s for s, _ in tun)
        line += (f" tune took {mid:.1f} s (median), at most {max(tun)[0]:.1f} s "
                 f"({max(tun)[1]}), with at most {max(trials)} trials (limit {MAX_TRIALS}).")
    return line


def headline(docs: Sequence[dict[str, Any]], rows: Sequence[Row]) -> list[str]:
    """5 lines with intervals (one more for quick runs), for the README and the page."""
    if not rows:
        return ["No benchmark results in this layout yet: run `python -m benchmarks run`."]
    pooled = headline_numbers(rows, run_seed(docs))
    fails = {k: sum(1 for r in rows if r.roles[k].status == "failed") for k in ROLES}
    lines = []
    if docs and docs[0]["settings"].get("quick"):
        lines.append("- **QUICK smoke-test sizes: placeholder numbers until a full run; they "
                     "say nothing about performance.**")
    for role, label in (("advise", "advise"), ("tune", "tune")):
        iv, n = pooled[role]
        va, _ = pooled[f"{role}_vs_auto"]
        slow, fast, noise = _counts(rows, role, 1.0)
        missed, met, open_ = _counts(rows, role, TARGET[role])
        lines.append(
            f"- **{label}**: {iv_text(iv)} × the oracle (geo-mean of {n} rows; vs dask auto "
            f"{iv_text(va)}). Per row vs the oracle: {slow} slower and {fast} faster "
            f"(decided), {noise} within noise; vs the ≤ {TARGET[role]:.2f} target: {met} met and "
            f"{missed} missed (decided), {open_} undecided. Failed on {fails[role]} rows.")
    iv, n = pooled["auto"]
    lines.append(f"- **dask auto**: {iv_text(iv)} × the oracle ({n} rows); failed on "
                 f"{fails['auto']} rows.")
    secs, peaks = accuracy_pairs(rows)
    flagged = sum(r.loaded_rounds for r in rows)
    total = sum(r.timed_rounds + 1 for r in rows)
    lines.append(f"- **model**, at every measured shape: time {accuracy_text(secs)}; peak "
                 f"{accuracy_text(peaks)}, {peak_target_text(rows)}. {flagged} of {total} "
                 f"rounds flagged for other processes' load. {page.run_line(docs)}")
    lines.append(cost_line(docs))
    return lines


def write(results: Path, publish: bool) -> list[Path]:
    """Write ``results/summary.md``, or when publishing the docs page and README block."""
    docs = load(results)
    rows = score_all(docs)
    head = headline(docs, rows)
    text = page.render(docs, rows, head)
    if not publish:
        dest = Path(results) / "summary.md"
        dest.parent.mkdir(parents=True, exist_ok=True)
        dest.write_text(text)
        return [dest]
    DOCS.parent.mkdir(parents=True, exist_ok=True)
    DOCS.write_text(text)
    README.write_text(readme_block(README.read_text(), head))
    return [DOCS, README]


def readme_block(readme: str, head: Sequence[str]) -> str:
    """``readme`` with the text between the headline markers replaced."""
    if START not in readme or END not in readme:
        raise ValueError(f"Expected the markers {START} and {END} in README.md. Got neither.")
    before, rest = readme.split(START, 1)
    _, after = rest.split(END, 1)
    body = "\n".join(["", *head, "",
                      "Method, full tables, per-row findings and model accuracy: "
                      "[docs/benchmarks.md](docs/benchmarks.md) (generated by "
                      "`python -m benchmarks summary`).", ""])
    return before + START + body + END + after
