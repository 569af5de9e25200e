"""benchmarks/plugin_overhead.py runs end to end on a small graph and writes its JSON."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.cluster
def test_small_run_writes_paired_results(tmp_path):
    out = tmp_path / "overhead.json"
    proc = subprocess.run(
        [sys.executable, "-m", "benchmarks.plugin_overhead", "--tasks", "400", "--rounds", "2",
         "--allow-dirty", "--out", str(out)], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    doc = json.loads(out.read_text())
    assert doc["graph_tasks"] >= 400 and doc["rounds"] == 2
    assert len(doc["commit"]) == 40 and "dirty" in doc["git"]  # the full SHA
    runs = doc["runs"]
    assert [r["round"] for r in runs] == [0, 0, 1, 1, 2, 2]
    assert all({r["contender"] for r in runs if r["round"] == i} == {"with", "without"}
               for i in range(3))
    ratio = doc["cpu_ratio_with_over_without"]
    assert len(ratio["per_round"]) == 2 and ratio["ci95_low"] <= ratio["geometric_mean"]
    assert doc["attributed"]["hook_calls"] > 400
    assert doc["attributed"]["share_of_median_without"] > 0


def test_bad_arguments_exit_2(tmp_path):
    proc = subprocess.run(
        [sys.executable, "-m", "benchmarks.plugin_overhead", "--rounds", "0",
         "--out", str(tmp_path / "x.json")], cwd=ROOT, capture_output=True, text=True,
        timeout=120)
    assert proc.returncode == 2 and "--rounds" in proc.stderr


def test_readme_sentence_comes_from_the_results(tmp_path):
    """The README's numbers are generated from the committed JSON (no hand-typed numbers)."""
    from benchmarks.plugin_overhead import END, START, publish, readme_text

    doc = json.loads((ROOT / "benchmarks/results/plugin_overhead.json").read_text())
    text = readme_text(doc)
    r = doc["cpu_ratio_with_over_without"]
    assert f"**{r['geometric_mean']:.2f}**" in text and doc["commit"][:12] in text
    assert f"{doc['attributed']['share_of_median_without']:.1%}" in text
    readme = tmp_path / "README.md"
    readme.write_text(f"a\n{START}\nold\n{END}\nb\n")
    publish(doc, readme)
    assert readme.read_text() == f"a\n{START}\n{text}\n{END}\nb\n"
    assert text in (ROOT / "README.md").read_text()  # the committed README says the same
