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
import math
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent


def threads_peaks(workload: str, src: Any, shapes: list[tuple[int, ...]],
                  timeout_s: float) -> dict[tuple[int, ...], Any]:
    """Peak RSS increment (bytes, or None) per shape on the threaded scheduler. The child
    prints one line per shape as it goes, so a shape that kills it keeps the others."""
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(
        [str(ROOT), *filter(None, [os.environ.get("PYTHONPATH")])]))
    args = [sys.executable, "-m", "benchmarks.peaks", workload, src.url,
            json.dumps([list(s) for s in shapes]), json.dumps(src.storage_options)]
    got: dict[tuple[int, ...], Any] = dict.fromkeys(shapes)
    try:
        out = subprocess.run(args, capture_output=True, text=True, timeout=timeout_s, env=env,
                             cwd=ROOT).stdout
    except subprocess.TimeoutExpired as e:
        out = e.stdout.decode() if isinstance(e.stdout, bytes) else (e.stdout or "")
    except (subprocess.SubprocessError, OSError):
        return got
    for line in out.splitlines():
        try:
            shape, peak = json.loads(line)
        except (json.JSONDecodeError, ValueError, TypeError):
            continue
        got[tuple(shape)] = peak
    return got


def _child(workload: str, url: str, shapes: list[list[int]],
           storage_options: dict[str, Any] | None = None) -> None:
    from benchmarks.timing import ThreadsExecutor, fixed_malloc_thresholds
    from benchmarks.workloads import BY_NAME, DataSource

    fixed_malloc_thresholds()
    wl = BY_NAME[workload]
    src = DataSource(url, storage_options)
    ex = ThreadsExecutor()

    def run(shape: list[int]) -> Any:
        rec = ex.run(wl.build(src.open(tuple(shape))), 0)
        return None if rec.failed else rec.peak_increment_bytes

    by_size = sorted(shapes, key=lambda s: math.prod(s))
    run(by_size[0])  # warm-up: imports and caches
    for s in by_size:
        print(json.dumps([s, run(s)]), flush=True)


if __name__ == "__main__":
    _child(sys.argv[1], sys.argv[2], json.loads(sys.argv[3]),
           json.loads(sys.argv[4]) if len(sys.argv) > 4 else None)
