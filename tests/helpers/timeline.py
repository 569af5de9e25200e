"""Where the suite's time goes: a pytest plugin that records every test's interval per xdist
worker, and a summary of the records.

Record (the plugin is off unless named; each worker appends to ``DIR/<worker>.jsonl``)::

    TIMELINE_DIR=/tmp/tl python -m pytest -q -p tests.helpers.timeline

Summarise::

    python -m tests.helpers.timeline /tmp/tl

The wall time of a run is about the tests that run alone (``timing``, not ``beside_others``;
the other worker idles meanwhile) plus half the others' test time, plus the idle time the
summary lists as gaps (a worker waiting for the other's test to end before a timing test).
"""

from __future__ import annotations

import collections
import json
import os
import sys
import time
from pathlib import Path

import pytest

from tests.helpers.timing_gate import gated


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_protocol(item: pytest.Item, nextitem: pytest.Item | None):
    """Append ``{id, t0, t1, gated}`` for ``item`` (inside the timing gate: waits excluded)."""
    directory = os.environ.get("TIMELINE_DIR")
    t0 = time.time()
    yield
    if directory:
        worker = os.environ.get("PYTEST_XDIST_WORKER", "main")
        with open(Path(directory) / f"{worker}.jsonl", "a") as f:
            f.write(json.dumps({"id": item.nodeid, "t0": t0, "t1": time.time(),
                                "gated": gated(item)}) + "\n")


def summary(directory: Path) -> list[str]:
    """Span, time run alone, each worker's busy and idle time, the slowest files."""
    records = [{**json.loads(line), "worker": p.stem} for p in sorted(directory.glob("*.jsonl"))
               for line in p.read_text().splitlines()]
    if not records:
        return [f"no records in {directory}"]
    start = min(r["t0"] for r in records)
    span = max(r["t1"] for r in records) - start
    alone = sum(r["t1"] - r["t0"] for r in records if r["gated"])
    others = sum(r["t1"] - r["t0"] for r in records if not r["gated"])
    out = [f"span {span:.0f} s, {len(records)} tests; run alone {alone:.0f} s; "
           f"beside others {others:.0f} s of test time"]
    for worker in sorted({r["worker"] for r in records}):
        mine = sorted((r for r in records if r["worker"] == worker), key=lambda r: r["t0"])
        busy = sum(r["t1"] - r["t0"] for r in mine)
        out.append(f"  {worker}: busy {busy:.0f} s, idle {span - busy:.0f} s")
    by_file: dict[tuple[str, bool], float] = collections.Counter()
    for r in records:
        by_file[(r["id"].split("::")[0], r["gated"])] += r["t1"] - r["t0"]
    out.append("slowest files (A: run alone):")
    out += [f"  {s:6.1f} s {'A' if g else ' '} {f}" for (f, g), s in
            sorted(by_file.items(), key=lambda kv: -kv[1])[:20]]
    return out


if __name__ == "__main__":
    print("\n".join(summary(Path(sys.argv[1]))))
