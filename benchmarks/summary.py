"""Results directory -> scored rows -> the generated page and the README headline.

``python -m benchmarks summary [DIR]`` writes ``DIR/summary.md``; for the committed run
(``benchmarks/results``) or with ``--publish`` it writes ``docs/benchmarks.md`` instead and
rewrites the README block between the ``benchmark-headline`` markers. No number in either
is typed by hand.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from benchmarks import page
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


def headline(docs: Sequence[dict[str, Any]], rows: Sequence[Row]) -> list[str]:
    """4 lines with intervals (one more for quick runs), for the README and the page."""
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
