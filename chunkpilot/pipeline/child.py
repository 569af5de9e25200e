"""Entry point of a pipeline sandbox process: build the user's pipeline, read or run its graph.

Reads a pickled job from argv[1], writes a JSON result to argv[2]. Modes:

``graph``
    Build the pipeline on zero-filled placeholder arrays of the given shapes and chunks
    and return each graph's layer records. Nothing is computed (unless the pipeline
    computes by itself, which the parent's memory cap and timeout contain).
``measure``
    Build the pipeline on a sub-array of the real data and run it once with the synchronous
    scheduler, recording every task's duration and peak memory (``VmHWM`` reset before
    each task; with glibc's dynamic thresholds, what malloc had in use:
    ``measure.malloc_live``), then optionally once with threads to see whether the work
    scales.
"""

from __future__ import annotations

import contextlib
import gc
import json
import os
import pickle
import sys
import time
import warnings
from typing import Any

import cloudpickle
import dask
import dask.array as da
import dask.threaded
import numpy as np
from dask.callbacks import Callback
from dask.core import flatten, get_dependencies, istask
from dask.highlevelgraph import HighLevelGraph
from dask.local import get_sync
from dask.utils import key_split
from threadpoolctl import threadpool_limits

from chunkpilot.cluster.work import unpack_pipeline_output
from chunkpilot.errors import InvalidArgumentTypeError, one_line
from chunkpilot.measure.malloc_live import LivePeak, dynamic_thresholds
from chunkpilot.measure.memory import (
    limit_address_space,
    memory_error_result,
    peak_bytes,
    reset_peak,
    rss_bytes,
)
from chunkpilot.measure.spawner import die_with_parent, no_core_dumps
from chunkpilot.pipeline.computes import ComputeCounter, NotLazyError
from chunkpilot.pipeline.layers import layer_records
from chunkpilot.pipeline.runs import COLD_ONLY_RUNS, ReadClock, cold_only, scaling, warm_runs
from chunkpilot.pipeline.writes import check_no_store_layers, refused_writes
from chunkpilot.sources.region import region_array


def _collections(out: Any) -> list[Any]:
    try:
        return unpack_pipeline_output(out)
    except InvalidArgumentTypeError as e:  # not dask collections: said as it is
        raise NotLazyError(str(e)) from None


def _graph(colls: list[Any]) -> Any:
    graphs = [c.__dask_graph__() for c in colls]
    return graphs[0] if len(graphs) == 1 else HighLevelGraph.merge(*graphs)


def _check_lazy(graph: Any, input_name: str) -> None:
    """The result must be built from the input, lazily: a ``.persist()`` (or a result from
    other data) leaves a graph without the input, and nothing left to measure."""
    layers = getattr(graph, "layers", None)
    if layers is not None and input_name not in layers and any(
            str(name).startswith("finalize-") for name in layers):  # input inside a delayed
        raise NotLazyError(
            "Expected the pipeline to return a lazy result whose graph chunkpilot can follow "
            "from its input array. Its graph wraps the whole input in one dask.delayed call "
            "(dask does this itself for some functions on a one-chunk array, e.g. "
            "da.linalg.svd): per-chunk costs cannot be traced through it. Advise the "
            "steps before that call, or keep_whole= the axes it needs and split the others.")
    if layers is not None and input_name not in layers:
        raise NotLazyError(
            "Expected the pipeline to return a lazy result built from its input array. Its "
            "graph does not use the input: a .persist() or .compute() inside the pipeline runs "
            "the work before it can be measured (or the result ignores the input). Return the "
            "lazy dask result instead.")


def _placeholder(shape: list[int], chunks: list[int], dtype: str) -> Any:
    return da.zeros(tuple(shape), chunks=tuple(chunks), dtype=dtype)


def _real_input(src: dict[str, Any], region: list[list[int]], chunks: list[int], dtype: str,
                reads: ReadClock) -> Any:
    """The sub-array, read the way the whole array is: cut inside the array-like the graph
    reads from, so dask fuses the reads into their consumers as on the whole array
    (``sources.region``); a store's reads timed by ``reads``."""
    shape = tuple(b - a for a, b in region)
    cut = tuple(slice(a, b) for a, b in region)
    if src["kind"] == "remote":  # a store at a URL: the measured tasks read it, as workers will
        from chunkpilot.sources.readers import remote_source_array

        return remote_source_array(src, tuple(chunks), cut)
    if src["kind"] in ("zarr", "hdf5"):
        if src["kind"] == "zarr":
            import zarr

            z = zarr.open_array(src["path"], mode="r", path=src.get("array") or None)
            x = region_array(reads.wrap(z), chunks, cut, name="from-zarr")
        else:  # the file stays open for the life of this process
            import h5py

            x = region_array(reads.wrap(h5py.File(src["path"], "r")[src["array"]]), chunks,
                             cut, name="array")
        return x.astype(src["astype"]) if src.get("astype") else x
    if src["kind"] == "npy":
        return da.from_array(np.load(src["path"], mmap_mode="r"), chunks=tuple(chunks))
    x = da.random.default_rng(src.get("seed", 0)).random(shape, chunks=tuple(chunks))
    return (x * 100).astype(dtype) if np.dtype(dtype).kind in "iub" else x.astype(dtype)


def graph_mode(func: Any, job: dict[str, Any]) -> dict[str, Any]:
    """Build the pipeline on each placeholder; with ``keep_going``, a build that raises is
    reported as its error and the others still run (``pipeline.extent``)."""
    builds: list[dict[str, Any]] = []
    for b in job.get("builds", ()):
        x = _placeholder(b["shape"], b["chunks"], job["dtype"])
        computes = ComputeCounter(x.nbytes)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            try:
                with computes, refused_writes():
                    colls = _collections(func(x))
            except NotLazyError:
                raise
            except Exception as e:
                if not job.get("keep_going"):
                    raise
                builds.append({"error": one_line(e)})
                continue
        graph = _graph(colls)
        _check_lazy(graph, x.name)
        records = layer_records(graph)
        check_no_store_layers(r.name for r in records)
        said = dict.fromkeys([n for n in (computes.note(),) if n is not None]
                             + [f"{w.category.__name__}: {w.message}" for w in caught])
        builds.append({"input": x.name, "layers": [r.to_dict() for r in records],
                       "warnings": list(said)[:5]})
    return {"builds": builds}


def _nbytes(block: Any) -> int:
    return int(getattr(block, "nbytes", 0) or 0)


def input_tasks(dsk: Any) -> set[Any]:
    """Keys of the tasks that read input chunks: every dependency is plain data (the store
    object: a ``DataNode``, or a raw value in dask's older graphs) or there is none.
    Whatever dask fused into them is theirs; every other task runs downstream of them (an
    in-graph rechunk's merges, reductions)."""
    data = {k for k, v in dsk.items() if not istask(v)}
    return {k for k in dsk if k not in data and get_dependencies(dsk, k) <= data}


def measure_mode(func: Any, job: dict[str, Any]) -> dict[str, Any]:
    reads = ReadClock()
    x = _real_input(job["source"], job["region"], job["chunks"], job["dtype"], reads)
    with refused_writes():
        colls = _collections(func(x))
    records = layer_records(_graph(colls))
    check_no_store_layers(r.name for r in records)
    optimized = dask.optimize(*colls)
    dsk: dict[Any, Any] = {}
    out_keys: list[Any] = []
    for c in optimized:
        dsk.update(dict(c.__dask_graph__()))
        out_keys += list(flatten(c.__dask_keys__()))
    # sinks keep only each output block's size, so outputs are freed as they come, as a
    # store() would, instead of piling up for a final concatenate
    sinks = [("chunkpilot-sink", i) for i in range(len(out_keys))]
    dsk.update({s: (_nbytes, k) for s, k in zip(sinks, out_keys, strict=True)})
    if job.get("address_space_bytes"):  # turn runaway allocation into MemoryError here
        limit_address_space(job["address_space_bytes"])  # within any `ulimit -v`
    threadpool_limits(limits=1)  # one BLAS/OpenMP thread per dask thread, as workers run
    gc.collect()
    clean = reset_peak()
    baseline = rss_bytes()
    per_layer: dict[str, list[float]] = {}
    inputs = input_tasks(dsk)
    state = {"t0": 0.0, "rss0": 0, "peak": 0, "in_inputs": 0.0}
    live = LivePeak() if dynamic_thresholds() else None

    def pretask(key: Any, dsk: Any, st: Any) -> None:
        if clean:
            reset_peak()
        if live is not None:
            live.mark()
        state["rss0"] = rss_bytes()
        state["t0"] = time.perf_counter()

    def posttask(key: Any, result: Any, dsk: Any, st: Any, worker_id: Any) -> None:
        dt = time.perf_counter() - state["t0"]
        top = peak_bytes() if clean else rss_bytes()
        state["peak"] = max(state["peak"], top - baseline)
        if live is not None:
            live.mark()
        if isinstance(key, tuple) and key[0] == "chunkpilot-sink":
            return
        rec = per_layer.setdefault(key_split(key), [0, 0.0, 0])
        rec[0] += 1
        rec[1] += dt
        if key in inputs:
            state["in_inputs"] += dt
        rec[2] = max(rec[2], top - state["rss0"])

    reads.seconds = 0.0  # building the graph may have read (its meta)
    t0 = time.perf_counter()
    with Callback(pretask=pretask, posttask=posttask), live or contextlib.nullcontext():
        out_sizes = get_sync(dsk, sinks)
    sync_wall = time.perf_counter() - t0
    if not clean:
        state["peak"] = max(state["peak"], peak_bytes() - baseline)
    rss_peak = state["peak"]  # counts freed blocks malloc kept, with dynamic thresholds
    peak = rss_peak if live is None else min(rss_peak, live.increment_bytes)
    if sync_wall > COLD_ONLY_RUNS * float(job.get("repeat_seconds", 1.0)):
        warm = cold_only(per_layer, state["in_inputs"], sync_wall, reads.seconds)
    else:
        warm = warm_runs(dsk, sinks, job, first_seconds=sync_wall, inputs=inputs, reads=reads)
    for name, seconds in warm["per_layer_seconds"].items():  # warm medians replace the cold
        per_layer[name][1] = seconds
    result = {
        "records": [r.to_dict() for r in records],
        "input": x.name,
        "input_chunks": int(x.npartitions),
        "input_nbytes": int(x.nbytes),
        "output_nbytes": int(sum(out_sizes)),
        "tasks": sum(int(v[0]) for v in per_layer.values()),
        "task_seconds": sum(v[1] for v in per_layer.values()),
        "runs_task_seconds": warm["runs_task_seconds"],
        "downstream_share": warm["downstream_share"],
        "read_share": warm["read_share"],
        "cores_busy": warm["cores_busy"],
        "sync_wall_seconds": sync_wall,
        "peak_bytes": int(max(peak, 0)),
        "rss_peak_bytes": int(max(rss_peak, 0)),
        "baseline_bytes": int(baseline),
        "peak_reset": clean,
        "per_layer": {k: [int(v[0]), float(v[1]), int(v[2])] for k, v in per_layer.items()},
    }
    threads = int(job.get("threads") or 1)
    if threads > 1 and warm["runs_wall_seconds"]:
        result["scaling"] = scaling(dsk, sinks, threads, min(warm["runs_wall_seconds"]),
                                    dask.threaded.get)
    return result


def main() -> None:
    die_with_parent()
    no_core_dumps()
    job_path, result_path = sys.argv[1], sys.argv[2]
    with open(job_path, "rb") as f:
        job = pickle.load(f)
    try:

        sys.path[:] = job["sys_path"]
        func = cloudpickle.loads(job["func"])
        # p2p rechunking needs a distributed cluster; the sandbox runs locally
        with dask.config.set({"array.rechunk.method": "tasks"}):
            mode = graph_mode if job["mode"] == "graph" else measure_mode
            result = {"ok": True, **mode(func, job)}
    except MemoryError as e:
        kind, error = memory_error_result(e)
        result = {"ok": False, "kind": kind, "error": error}
    except NotLazyError as e:  # our own check of what the pipeline returned
        result = {"ok": False, "kind": "not-lazy", "error": str(e)}
    except BaseException as e:  # the user's code may raise anything; report, don't crash
        result = {"ok": False, "kind": "exception", "error": one_line(e)}
    with open(result_path, "w") as f:
        json.dump(result, f)


if __name__ == "__main__":
    main()
    os._exit(0)  # threads the user's code left running must not hold the sandbox (issue 17)
