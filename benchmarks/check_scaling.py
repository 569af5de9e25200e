"""How long ``chunkpilot check`` takes on stores with very many chunks (issue 17, item 3).

    python benchmarks/check_scaling.py [--max-exponent 7]

Creates metadata-only zarr stores of 10**3 .. 10**N chunks (1-d and 2-d) in a temp dir and
times ``chunkpilot.check`` (plus ``lines()``) on each, after one warm-up call for imports.
The claim: a 10**7-chunk store's metadata is checked in under 2 s on an idle machine (every
pass is O(chunks per axis), in C or numpy). tests/reliability/test_check_scaling.py checks
the same without timing (it counts the Python lines run).
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import zarr

import chunkpilot


def time_check(path: str) -> float:
    t0 = time.perf_counter()
    chunkpilot.check(path, workers=1, threads_per_worker=1, memory_limit="1GiB").lines()
    return time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--max-exponent", type=int, default=7)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="chunkpilot-bench-") as d:
        warm = Path(d) / "warm.zarr"
        zarr.create_array(str(warm), shape=(10,), chunks=(1,), dtype="f4")
        time_check(str(warm))
        for e in range(3, args.max_exponent + 1):
            n = 10**e
            for label, shape in (("1-d", (n,)), ("2-d", (n // 1000, 1000))):
                if 0 in shape:
                    continue
                path = Path(d) / f"{label}-{e}.zarr"
                zarr.create_array(str(path), shape=shape, chunks=(1,) * len(shape), dtype="f4")
                print(f"{label} 10**{e} chunks: {time_check(str(path)):.3f} s", flush=True)


if __name__ == "__main__":
    main()
