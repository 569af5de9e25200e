"""The benchmark suite runs end to end (--quick) and writes its JSON and table; the grid and
the summary are checked on fixed inputs. Never asserts timings."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.grid import grid, ladder  # noqa: E402
from benchmarks.summary import geomean, render  # noqa: E402


@pytest.mark.parametrize(
    ("shape", "storage", "keep_whole", "depth", "expected"),
    [
        # 2-D: trailing axis doubles first, then the shorter one
        ((8, 8), (2, 2), (), 0, [(2, 2), (2, 4), (4, 4), (4, 8), (8, 8)]),
        # axis 0 kept whole: only the others grow
        ((4, 8), (1, 2), (0,), 0, [(4, 2), (4, 4), (4, 8)]),
        # the overlap depth raises the smallest chunk above the storage chunk
        ((16,), (2,), (), 5, [(5,), (10,), (16,)]),
    ],
)
def test_ladder(shape, storage, keep_whole, depth, expected):
    assert ladder(shape, storage, 1, keep_whole, depth) == expected


def test_grid_keeps_ends_and_bounds():
    g = grid((1024, 1024), (16, 16), 8, min_bytes=16 * 16 * 8 * 4, max_points=4)
    assert len(g) == 4
    assert g[0] == (32, 32)  # first ladder step of at least min_bytes (4 storage chunks)
    assert g[-1] == (512, 1024)  # at most half the array


def test_geomean_skips_missing():
    assert geomean([1.0, 4.0, None]) == pytest.approx(2.0)
    assert geomean([]) is None


def test_render_marks_failures_and_misses():
    run = {
        "oracle": [4, 4], "oracle_seconds": 2.0, "grid": [[4, 4], [8, 8]],
        "roles": {"auto": [8, 8], "advise": [4, 4], "tune": [4, 4]},
        "ratios": {"auto": None, "advise": 1.0, "tune": 1.0},
        "advise": {"seconds": 12.0, "error": None},
        "tune": {"seconds": 20.0, "error": None, "result": {"trials": []}},
        "measured": [
            {"chunk_shape": [4, 4], "failed": False, "restarts": 0, "spilled_bytes": 0,
             "wall_seconds": 2.0, "task_seconds": 0.5, "task_group": "f",
             "peak_increment_bytes": 100, "threads_per_process": 1,
             "predicted": {"task_bytes": 128, "seconds_per_task": 0.5,
                           "peak_bytes_per_task": 200}},
            {"chunk_shape": [8, 8], "failed": True, "restarts": 2, "spilled_bytes": 0,
             "wall_seconds": None, "predicted": None},
        ],
    }
    doc = {"workload": "w", "schedulers": {"local": run},
           "environment": {"quick": True, "repeats": 1, "cpus": 2}}
    text = render([doc])
    assert "| w | local | 4×4 | 2.00 s | FAIL | 1.00 | 1.00 |" in text
    assert "auto: 2 restarts; grid: 1/2 failed" in text
    assert "w/local: advise took 12.0 s" in text
    assert "(×2.00)" in text  # predicted peak twice the observed


@pytest.mark.cluster
def test_quick_run_writes_json_and_table(tmp_path):
    names = ["hungry", "zarr_read"]
    proc = subprocess.run(
        [sys.executable, "-m", "benchmarks", "run", "--quick", "--only", *names,
         "--out", str(tmp_path)],
        cwd=ROOT, capture_output=True, text=True, timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    for name in names:
        doc = json.loads((tmp_path / f"{name}.json").read_text())
        assert doc["workload"] == name
        assert set(doc["schedulers"]) == {"threads", "local"}
        for run in doc["schedulers"].values():
            assert {"auto", "advise", "tune"} <= set(run["roles"])
            assert run["measured"] and run["grid"]
            assert "seconds" in run["advise"] and "seconds" in run["tune"]
    table = (tmp_path / "summary.md").read_text()
    assert "| workload | scheduler | oracle chunks | T_oracle | auto | advise | tune |" in table
    for name in names:
        assert f"| {name} | threads |" in table and f"| {name} | local |" in table
    assert "geo-mean" in table


def test_unknown_workload_exits_2(tmp_path):
    proc = subprocess.run(
        [sys.executable, "-m", "benchmarks", "run", "--quick", "--only", "nope",
         "--out", str(tmp_path)],
        cwd=ROOT, capture_output=True, text=True, timeout=120,
    )
    assert proc.returncode == 2
    assert "nope" in proc.stderr
