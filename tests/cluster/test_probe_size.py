"""benchmarks/probe_size.py: runs end to end on a real LocalCluster, pairs its rounds, and the
sentence docs/DESIGN.md quotes comes from the committed results."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from benchmarks.probe_size import design_sentence, summarize  # noqa: E402


def test_rounds_are_paired_and_the_warmup_left_out():
    runs = [{"round": r, "blocks": b, "seconds_per_task": t, "wall_seconds": w}
            for r, b, t, w in [(-1, 50, 9.0, 9.0), (-1, 100, 1.0, 1.0),
                               (0, 50, 2.0, 1.0), (0, 100, 2.2, 2.0),
                               (1, 50, 4.0, 1.5), (1, 100, 4.4, 3.0)]]
    s = summarize(runs, [50, 100])
    ratio = s["100"]["seconds_per_task_ratio_to_50"]
    assert math.isclose(ratio["value"], 1.1) and ratio["rounds"] == 2
    assert math.isclose(s["100"]["wall_seconds_ratio_to_50"]["value"], 2.0)
    assert s["50"]["median_seconds_per_task"] == 3.0 and s["50"]["rounds"] == 2


def test_bad_arguments_exit_2(tmp_path):
    for args in (["--rounds", "0"], ["--sizes", "50"], ["--sizes", "a,b"], ["--sizes", "5,5"]):
        proc = subprocess.run([sys.executable, "-m", "benchmarks.probe_size", *args,
                               "--out", str(tmp_path / "x.json")], cwd=ROOT,
                              capture_output=True, text=True, timeout=120)
        assert proc.returncode == 2 and "Expected" in proc.stderr, args
        assert "Traceback" not in proc.stderr


@pytest.mark.cluster
def test_a_small_run_writes_its_rounds_with_the_full_commit(tmp_path):
    out = tmp_path / "probe.json"
    proc = subprocess.run(
        [sys.executable, "-m", "benchmarks.probe_size", "--rounds", "1", "--sizes", "4,8",
         "--allow-dirty", "--out", str(out)], cwd=ROOT, capture_output=True, text=True,
        timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    doc = json.loads(out.read_text())
    assert len(doc["commit"]) == 40 and doc["sizes"] == [4, 8]
    assert sorted((r["round"], r["blocks"]) for r in doc["runs"]) == [
        (-1, 4), (-1, 8), (0, 4), (0, 8)]
    assert all(r["seconds_per_task"] > 0 and r["wall_seconds"] > 0 for r in doc["runs"])
    assert doc["summary"]["8"]["seconds_per_task_ratio_to_4"]["rounds"] == 1


def test_design_quotes_the_committed_results():
    doc = json.loads((ROOT / "benchmarks/results/probe_size.json").read_text())
    assert design_sentence(doc) in " ".join((ROOT / "docs/DESIGN.md").read_text().split())
