"""Entry point of a profiling sandbox process: run the user's function on one block.

Reads a pickled job from the file named in argv[1], writes a JSON result to argv[2].
Runs in a fresh interpreter so the resident-memory high-water mark is clean and a
crash or out-of-memory of the user's function cannot hurt the caller.
"""

from __future__ import annotations

import contextlib
import gc
import json
import os
import pickle
import statistics
import sys
import time
from typing import Any

import cloudpickle
import numpy as np
from threadpoolctl import threadpool_limits

from chunkpilot.core.model import GIL_HOLDING_SHARE
from chunkpilot.core.sample import typical_seconds
from chunkpilot.errors import one_line
from chunkpilot.measure.gil import ConcurrentCallError, concurrent_seconds, gil_share
from chunkpilot.measure.inputs import Preloaded, ReadError, from_url, load_block, read_block
from chunkpilot.measure.malloc_live import LivePeak, dynamic_thresholds, env_fixes_thresholds
from chunkpilot.measure.memory import (
    limit_address_space,
    memory_error_result,
    peak_bytes,
    reset_peak,
    rss_bytes,
)
from chunkpilot.measure.spawner import die_with_parent, no_core_dumps

#: Sources whose reading (and decompression) is part of the measured work.
REAL_KINDS = ("zarr", "hdf5")
#: Concurrent calls are timed only on blocks whose single call takes this long or more (a
#: thread holds the GIL for 5 ms slices: shorter calls cannot show whether they share it) ...
PAIR_MIN_SECONDS = 0.01
#: ... and this long at most (they cost up to two calls' time a round, more when they do).
PAIR_MAX_SECONDS = 0.2
#: Untimed warm calls whose peaks ``malloc_live.LivePeak`` reads, after the timed calls of a
#: sandbox with glibc's dynamic thresholds (the threaded scheduler's: a later call's RSS peak
#: cannot show the freed blocks it reuses; fixing the thresholds as workers' are slowed
#: hungry_filter's 1 MiB blocks 1.9x, every temporary mapped afresh).
PEAK_CALLS = 2
#: ... one for calls this long or longer: a 0.5 ms sampler reads a long call's peak steadily,
#: and gil_loop's 12-19 MiB blocks spent 1.0 s of a 12 s advise on the second call.
PEAK_ONE_CALL_SECONDS = 0.1
#: Rounds of concurrent calls; their median is kept.
PAIR_ROUNDS = 3


class OutputError(Exception):
    """The function returned something ``map_blocks`` cannot use (wrong type or ndim)."""


def _call(func, block, out_ndim=None):
    out = block if func is None else func(block)
    if func is None:
        return out
    if hasattr(out, "compute") and hasattr(out, "dask"):  # computing it here hid it (hunt)
        raise OutputError(
            f"Expected the function to return a numpy array. Got a lazy dask "
            f"{type(out).__name__} (map_blocks would hand it back uncomputed and the work "
            "would never run: compute inside the function, or pass dask code as pipeline=)")
    if not isinstance(out, (np.ndarray, np.generic, int, float, complex)):
        raise OutputError(
            f"Expected the function to return a numpy array. Got {type(out).__name__}")
    # map_blocks needs to know the output's number of dimensions (drop_axis= declares fewer);
    # lengths may change (keepdims reductions, spectra), as map_blocks allows with chunks=
    ndim = np.ndim(out)
    if out_ndim is not None and ndim != out_ndim:
        raise OutputError(
            f"Expected the function to return a {out_ndim}-d block, as map_blocks assumes for a "
            f"{block.ndim}-d input (declare axes the output lacks with drop_axis=). Got shape "
            f"{np.shape(out)}"
        )
    return out


#: Of the sandbox's timeout, the share its calls may use: the rest is set-up and teardown.
TIMEOUT_SHARE = 0.8


def _no_time_for(job: dict, elapsed: float, seconds: float) -> bool:
    """Whether ``seconds`` more of calls could pass the sandbox's timeout: slow calls get
    fewer warm runs, and no untimed ones, instead of a timeout (a 1.5 s call under a 5 s
    timeout timed out on its third run; a 2 s call under 3 s timed out in the untimed call
    reading its peak; the error blamed a single call)."""
    timeout = job.get("timeout_s")
    return bool(timeout) and elapsed + seconds > TIMEOUT_SHARE * float(timeout)


def run(job: dict) -> dict:
    started = time.perf_counter()  # the sandbox's timeout counts the warm-up call too
    sys.path[:] = job["sys_path"]
    func = cloudpickle.loads(job["func"]) if job["func"] is not None else None
    region = tuple(slice(a, b) for a, b in job["region"])
    shape, dtype, src = tuple(job["shape"]), job["dtype"], job["source"]
    if func is not None:  # warm-up on a tiny block: lazy imports, JIT, caches
        tiny = np.zeros(tuple(min(4, s) for s in shape), dtype=dtype)
        with contextlib.suppress(Exception):  # a function may reject tiny blocks: the real
            _call(func, tiny)  # call tells
    if job.get("address_space_bytes"):  # turn runaway allocation into MemoryError here
        limit_address_space(job["address_space_bytes"])
    # Reading a store is part of the work; making synthetic data is not: build it up front
    # and add its bytes to the peak, as the loaded input chunk a worker would hold.
    fetched, t_fetch = from_url(src), time.perf_counter()
    pre = (None if src["kind"] in REAL_KINDS
           else Preloaded(lambda: load_block(src, region, shape, dtype)))
    fetch_seconds = time.perf_counter() - t_fetch if fetched else None  # a URL's read only
    held = 0 if pre is None else pre.nbytes
    if pre is None:  # a worker has its store's reader imported and its codecs set up
        # before the task: import zarr alone added ~11 MiB to every sample's peak (gil_loop's
        # 1 MiB blocks were predicted at 16 MiB a task, 2 MiB in the workers)
        read_block(src, tuple(slice(r.start, r.start + 1) for r in region), shape, dtype)
    gc.collect()
    clean = reset_peak()
    baseline = rss_bytes()
    # one BLAS/OpenMP thread per dask thread, as dask's workers run (OMP_NUM_THREADS=1)
    blas = threadpool_limits(limits=1)
    times, reads, peaks, cores = [], [], [], []
    out_nbytes, out_shape = 0, []
    deadline = time.perf_counter() + job["repeat_seconds"]
    warm_wanted = job.get("min_warm_runs", 3)
    # a warm call's peak is its own allocations only under a worker's fixed malloc thresholds
    # (dynamic ones reuse freed blocks unseen), which the environment of a distributed sandbox
    # sets; the threaded scheduler's sandbox is timed under the user's dynamic ones
    fixed = clean and env_fixes_thresholds()
    start = baseline

    def given_block() -> Any:  # a preloaded block, outside any timing; None: read it
        return pre.get() if pre is not None else None

    for i in range(job["max_repeats"]):
        given = given_block()  # before the peak's reset
        if i > 0 and fixed:  # each warm call's own high-water mark, above its own start
            reset_peak()
            start = rss_bytes()
        t0, cpu0 = time.perf_counter(), time.process_time()
        block = given if given is not None else read_block(src, region, shape, dtype)
        reads.append(time.perf_counter() - t0)
        out = _call(func, block, job.get("out_ndim"))
        times.append(time.perf_counter() - t0)
        # CPU over wall: the cores the call kept busy alone (zarr decodes in threads)
        cores.append((time.process_time() - cpu0) / max(times[-1], 1e-9))
        if i == 0 or fixed:
            peaks.append(held + (peak_bytes() if clean else max(peak_bytes(), rss_bytes()))
                         - start)
        if i == 0:
            out_nbytes, out_shape = int(np.asarray(out).nbytes), list(np.shape(out))
        del block, given, out
        if pre is not None:
            pre.seen_after_call()
        if time.perf_counter() > deadline and i >= warm_wanted:
            break
        if _no_time_for(job, time.perf_counter() - started, 2 * times[-1]):
            break  # another call and the untimed one reading its peak
    warm = times[1:] or times  # the first call pays page faults and lazy set-up
    warm_reads = reads[1:] or reads
    single = typical_seconds(warm)

    def call(block: Any = None) -> Any:
        block = block if block is not None else given_block()
        return _call(func, block if block is not None else read_block(src, region, shape, dtype),
                     job.get("out_ndim"))

    def time_left(seconds: float) -> bool:
        return not _no_time_for(job, time.perf_counter() - started, seconds)

    gil, pair = None, None
    n = job.get("pair_threads", 0)
    roomy = n * max(peaks[0], 1) <= job.get("memory_cap_bytes", 0) / 2  # n calls' temporaries
    timed = PAIR_MIN_SECONDS <= single <= PAIR_MAX_SECONDS
    if (func is not None and (n >= 2 or job.get("time_gil")) and roomy and timed
            and time_left((1 + n * PAIR_ROUNDS) * single)):
        gil = gil_share(call)
        if n >= 2 and gil >= GIL_HOLDING_SHARE:
            rounds = sorted(concurrent_seconds(call, n, given_block) for _ in range(PAIR_ROUNDS))
            pair = rounds[len(rounds) // 2]
    if not fixed and dynamic_thresholds() and job.get("measure_peaks", True):
        for _ in range(1 if single >= PEAK_ONE_CALL_SECONDS else PEAK_CALLS):  # untimed
            if not time_left(single):
                break
            block = given_block()
            with LivePeak() as live:
                out = call(block)
                del out
            del block
            peaks.append(held + live.increment_bytes)
    # a worker's task is a warm call: the first one also grows the heap and Python's object
    # arenas once (gil_loop's 1 MiB rows: 2.4-3.0 MiB cold, 2.0 warm, 2.0 in the workers)
    warm_peaks = sorted(peaks[1:]) or peaks
    peak = warm_peaks[len(warm_peaks) // 2]
    return {
        "seconds": single,
        "runs_seconds": warm,
        "gil_share": gil,
        "cores_busy": statistics.median(cores[1:] or cores),
        "pair_seconds": pair,
        "read_seconds": sorted(warm_reads)[len(warm_reads) // 2] if pre is None else None,
        "first_seconds": times[0],
        # a worker's first task of a computation pays it too (``core.coldstart``)
        "cold_extra_seconds": max(0.0, times[0] - single) if len(times) > 1 else None,
        "fetch_seconds": fetch_seconds,
        "repeats": len(times),
        "peak_bytes": int(max(peak, 0)),
        "baseline_bytes": int(baseline),
        "out_nbytes": out_nbytes,
        "out_shape": out_shape,
        "peak_reset": clean,
        "blas_pools_pinned": len(blas.get_original_num_threads()),
    }

def main() -> None:
    die_with_parent()
    no_core_dumps()
    job_path, result_path = sys.argv[1], sys.argv[2]
    with open(job_path, "rb") as f:
        job = pickle.load(f)
    try:
        result = {"ok": True, **run(job)}
    except MemoryError as e:
        kind, error = memory_error_result(e)
        result = {"ok": False, "kind": kind, "error": error}
    except ReadError as e:
        result = {"ok": False, "kind": "read", "error": str(e)[:500]}
    except OutputError as e:
        result = {"ok": False, "kind": "output", "error": str(e)[:500]}
    except ConcurrentCallError as e:
        result = {"ok": False, "kind": "threads", "error": one_line(e.__cause__ or e)}
    except BaseException as e:  # the user's code may raise anything; report, don't crash
        result = {"ok": False, "kind": "exception", "error": one_line(e)}
    with open(result_path, "w") as f:
        json.dump(result, f)


if __name__ == "__main__":
    main()
    # exit now: threads the user's function left running (non-daemon) must not keep the
    # sandbox alive until it is killed as "timed out"
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)
