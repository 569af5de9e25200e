"""Many ``chunkpilot`` command lines at once, each a real console run forked from one
interpreter that imported the CLI (``tests/helpers/cli_fork.py``), in its own cwd and TMPDIR.

A fresh interpreter per command spends ~2 s importing dask and distributed before it can
reject a bad argument; forked runs share that import.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
CLI = [sys.executable, "-m", "chunkpilot.cli"]


def run_forked(cases: Mapping[str, Sequence[str]], root: Path, *, parallel: int = 4,
               timeout_s: float = 180, env: Mapping[str, str] | None = None,
               ) -> dict[str, tuple[subprocess.CompletedProcess[str], Path]]:
    """Run each case's arguments; per case id, its completed process and its directory
    (``tmp`` and ``cwd`` inside it were the run's TMPDIR and working directory)."""
    jobs = []
    for cid, args in cases.items():
        d = root / cid
        (d / "tmp").mkdir(parents=True)
        (d / "cwd").mkdir()
        jobs.append({"id": cid, "args": list(args), "cwd": str(d / "cwd"),
                     "tmp": str(d / "tmp"), "stdout": str(d / "stdout.txt"),
                     "stderr": str(d / "stderr.txt")})
    spec = {"parallel": parallel, "timeout_s": timeout_s, "jobs": jobs}
    r = subprocess.run([sys.executable, "-m", "tests.helpers.cli_fork"], input=json.dumps(spec),
                       capture_output=True, text=True, timeout=1200, cwd=ROOT,
                       env={**os.environ, **(env or {})})
    assert r.returncode == 0, r.stderr[-3000:]
    print(r.stderr[-2000:])  # the slowest cases (pytest -s shows them)
    codes = json.loads(r.stdout)
    out = {}
    for cid, args in cases.items():
        d = root / cid
        out[cid] = (subprocess.CompletedProcess([*CLI, *args], codes[cid],
                                                (d / "stdout.txt").read_text(),
                                                (d / "stderr.txt").read_text()), d)
    return out
