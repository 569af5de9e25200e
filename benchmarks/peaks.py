"""Peak memory on the threaded scheduler, measured in a fresh interpreter.

The timed threaded runs keep glibc's default (dynamic) malloc thresholds, as a user's
process would; but then freed blocks stay in per-thread arenas and are reused, so later
runs in the same process barely move the RSS high-water mark. This child process uses the
malloc settings dask workers get (:func:`benchmarks.timing.fixed_malloc_thresholds`), runs
each chunk shape once (after one warm-up run that pays the imports) and reports the peak
RSS each run added. Usage (internal)::

    python -m benchmarks.peaks WORKLOAD STORE_PATH '[[512, 512], [1024, 1024]]'
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent


def threads_peaks(workload: str, path: Path, shapes: list[tuple[int, ...]],
                  timeout_s: float) -> dict[tuple[int, ...], Any]:
    """Peak RSS increment (bytes, or None) per shape on the threaded scheduler."""
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(
        [str(ROOT), *filter(None, [os.environ.get("PYTHONPATH")])]))
    try:
        out = subprocess.run(
            [sys.executable, "-m", "benchmarks.peaks", workload, str(path),
             json.dumps([list(s) for s in shapes])],
            capture_output=True, text=True, timeout=timeout_s, env=env, cwd=ROOT, check=True)
        got = json.loads(out.stdout.strip().splitlines()[-1])
    except (subprocess.SubprocessError, json.JSONDecodeError, IndexError, OSError):
        return dict.fromkeys(shapes)
    return {tuple(k): v for k, v in got}


def _child(workload: str, path: str, shapes: list[list[int]]) -> list[tuple[list[int], Any]]:
    import dask.array as da

    from benchmarks.timing import ThreadsExecutor, fixed_malloc_thresholds
    from benchmarks.workloads import BY_NAME

    fixed_malloc_thresholds()
    wl = BY_NAME[workload]
    ex = ThreadsExecutor()

    def run(shape: list[int]) -> Any:
        rec = ex.run(wl.build(da.from_zarr(path, chunks=tuple(shape))), 0)
        return None if rec.failed else rec.peak_increment_bytes

    run(min(shapes, key=lambda s: sum(s)))  # warm-up: imports and caches
    return [(s, run(s)) for s in shapes]


if __name__ == "__main__":
    print(json.dumps(_child(sys.argv[1], sys.argv[2], json.loads(sys.argv[3]))))
