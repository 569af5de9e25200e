"""Edge: build and run the user's pipeline in fresh, watched subprocesses.

Each job runs ``chunkpilot.pipeline.child`` under the same watch as the per-block
profiler (``measure.sandbox``): resident-memory cap, timeout, killed on Ctrl-C.
Measurements run the pipeline on a sub-array of the real data holding a few input
chunks along every axis, so overlaps, reductions and contractions behave as on the
whole array, for several input chunk sizes of the family the planner will search (which
sizes: ``pipeline.family``).
"""

from __future__ import annotations

import dataclasses
import math
import os
import sys
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from chunkpilot.core.model import Sample
from chunkpilot.core.sample import typical_seconds
from chunkpilot.core.shapes import halo_shape, storage_bytes_read
from chunkpilot.errors import PipelineBuildError
from chunkpilot.measure.environ import EnvOverrides
from chunkpilot.measure.sandbox import run_in_sandbox
from chunkpilot.pipeline.graph import GraphProfile, profile_graph
from chunkpilot.pipeline.layers import LayerRecord
from chunkpilot.pipeline.runs import MAX_WARM_RUNS, MIN_WARM_RUNS
from chunkpilot.pipeline.subarray import (
    CHUNKS_PER_AXIS,
    nominal_chunks,
    subarray_region,
)
from chunkpilot.sources.urls import reader_preload
from chunkpilot.types import ArraySpec, WorkSpec

#: A sub-array run is sized to take about this long at most (the fit extrapolates); each
#: measurement runs it once cold and at least three times warm.
SUBARRAY_TIME_BUDGET_S = 0.4

#: Layers that read the input from its store: ``da.from_zarr``, ``da.from_array`` (HDF5,
#: object stores).
READ_LAYERS = ("from-zarr", "array")

#: A placeholder graph's structure and the warnings dask gave while building it.
Built = tuple[GraphProfile, tuple[str, ...]]
Builds = Sequence[tuple[Sequence[int], Sequence[int]]]


def _builds(builds: Builds) -> list[dict[str, Any]]:
    return [{"shape": list(s), "chunks": list(c)} for s, c in builds]


def _parse_builds(r: Mapping[str, Any], dtype: str) -> tuple[Built, ...]:
    if "builds" not in r:
        kind, error = r.get("kind"), str(r.get("error"))
        if kind == "not-lazy":  # the child's own check of what the pipeline returned
            raise PipelineBuildError(error)
        hint = (" The pipeline is called with a dask array; for xarray methods, wrap it: "
                "xr.DataArray(x, dims=...)." if "'Array' object has no attribute" in error else "")
        raise PipelineBuildError(
            f"Expected the pipeline to build a dask graph from a {dtype} array. "
            f"Got {kind}: {error}" + ("" if error.endswith("instead.") else " instead.") + hint,
            error if kind == "exception" else f"{kind}: {error}")
    return tuple((profile_graph([LayerRecord.from_dict(d) for d in b["layers"]], b["input"]),
                  tuple(b.get("warnings", ()))) for b in r["builds"])


@dataclass(frozen=True, slots=True)
class Measurement:
    """One sandboxed run of the pipeline on a sub-array with a given input chunking."""

    sample: Sample
    """Per input chunk: bytes (halo included), seconds and peak bytes of the sub-array run."""
    chunk: tuple[int, ...]
    """Input chunk shape of the run."""
    graph: GraphProfile | None
    """The sub-array graph's structure; ``None`` when the run failed."""
    tasks_per_chunk: float = 1.0
    """Tasks executed (after dask's optimization) per input chunk."""
    per_layer: tuple[tuple[str, int, float, int], ...] = ()
    """(operation, tasks, seconds, largest task peak bytes) per operation."""
    scaling: Mapping[str, Any] | None = None
    """Wall/CPU seconds on one thread and on several (threaded run), when measured."""
    baseline_bytes: int = 0
    """Resident memory of the idle sandbox once the graph was built."""
    output_ratio: float = 1.0
    """Output bytes per input byte."""
    nominal_count: float | None = None
    """Chunks of ``chunk``'s size the sub-array holds (``subarray.nominal_chunks``; fewer
    than the graph's input chunks when the array's edge cut its last ones short)."""
    read_share: float | None = None
    """Share of the run's task time spent inside the store's reads (``pipeline.runs``),
    whether or not dask fused them into other tasks; ``None``: not timed."""
    cold_seconds: float | None = None
    """Wall seconds of the sub-array's first (cold) run, scheduling included."""
    planned_bytes: float | None = None
    """The size this run stands in for when the run budget asked for less (it may round up)."""

    @property
    def chunks_held(self) -> float:
        """The run's input chunks, counted at ``chunk``'s size (what a band is made of)."""
        if self.nominal_count is not None:
            return self.nominal_count
        return float(self.graph.input_chunks) if self.graph is not None else 1.0


@dataclass(frozen=True, slots=True)
class PipelineSandbox:
    """Runs graph builds and measurements of one pipeline on one source."""

    func_bytes: bytes
    """The pipeline, cloudpickled."""
    spec: ArraySpec
    """The input array."""
    source: Mapping[str, Any]
    """Where the data comes from (``sources.describe``'s reference)."""
    env: EnvOverrides
    """Environment of the workers (BLAS thread pins)."""
    memory_cap_bytes: int
    """Kill a job whose resident memory passes this."""
    timeout_s: float
    """Kill a job running longer than this."""
    seed: int = 0
    """Seed of synthetic input data."""
    full_axes: tuple[int, ...] = ()
    """Axes every sub-array spans whole (``pipeline.extent``)."""

    def run(self, payload: dict[str, Any]) -> dict[str, Any]:
        """Run one job; the child's JSON result, or a failure record."""
        payload = {**payload, "func": self.func_bytes, "sys_path": list(sys.path),
                   "dtype": self.spec.dtype, "address_space_bytes": self.memory_cap_bytes + 2**30}
        return run_in_sandbox("chunkpilot.pipeline.child", payload,
                              memory_cap_bytes=self.memory_cap_bytes, timeout_s=self.timeout_s,
                              env=self.env, prefix="chunkpilot-pipeline-",
                              preload=reader_preload(self.source))

    def graphs(self, builds: Builds) -> tuple[Built, ...]:
        """The pipeline's graph on placeholders of each (shape, chunk); raise on failure."""
        r = self.run({"mode": "graph", "builds": _builds(builds)})
        if not r.get("ok"):
            r = {k: v for k, v in r.items() if k != "builds"}
        return _parse_builds(r, self.spec.dtype)

    def build_errors(self, builds: Builds) -> tuple[str | None, ...]:
        """Per (shape, chunk): the one-line error the pipeline raised building on a
        placeholder of that shape, or ``None`` when it built; raise if the job itself failed."""
        r = self.run({"mode": "graph", "builds": _builds(builds), "keep_going": True})
        if not r.get("ok") or len(r.get("builds", ())) != len(builds):
            _parse_builds({k: v for k, v in r.items() if k != "builds"}, self.spec.dtype)
        return tuple(b.get("error") for b in r["builds"])

    def measure(self, spec: ArraySpec, work: WorkSpec, chunk: tuple[int, ...],
                threads: int = 1, per_axis: int = CHUNKS_PER_AXIS, warm: bool = True,
                over_budget_runs: int = 1) -> Measurement:
        """Run the pipeline on a sub-array of ``per_axis`` chunks per axis of ``chunk``-sized
        input chunks; cold only, without ``warm`` (peak memory is taken
        from the cold run); ``over_budget_runs`` warm runs of a long one
        (``pipeline.runs.warm_runs``)."""
        region = subarray_region(spec, chunk, per_axis, self.full_axes)
        halo = halo_shape(spec, work, chunk)
        nbytes = math.prod(halo) * spec.itemsize
        with tempfile.TemporaryDirectory(prefix="chunkpilot-sub-") as tmp:
            src = dict(self.source)
            if src["kind"] == "numpy":
                path = os.path.join(tmp, "sub.npy")
                cut = tuple(slice(a, b) for a, b in region)
                np.save(path, np.ascontiguousarray(src["array"][cut]))
                src = {"kind": "npy", "path": path}
            # keep a store's array *name*; drop in-memory arrays (the child cannot get them)
            src = {k: v for k, v in src.items() if k != "array" or isinstance(v, str)}
            r = self.run({"mode": "measure", "source": {**src, "seed": self.seed},
                          "region": [list(p) for p in region], "chunks": list(chunk),
                          "threads": threads,
                          "repeat_seconds": SUBARRAY_TIME_BUDGET_S, "min_warm_runs": MIN_WARM_RUNS,
                          "max_repeats": MAX_WARM_RUNS if warm else 0,
                          "over_budget_runs": over_budget_runs})
        if not r.get("ok"):
            return Measurement(Sample(nbytes, halo, error=str(r.get("error")),
                                      error_kind=str(r.get("kind"))),
                               chunk, None)
        n = max(int(r["input_chunks"]), 1)
        nominal = nominal_chunks(region, chunk, spec.shape)  # time per chunk of ``chunk``'s size
        runs = tuple(float(t) / nominal for t in r.get("runs_task_seconds") or ())
        seconds = typical_seconds(runs) if runs else float(r["task_seconds"]) / nominal
        sample = Sample(nbytes, halo, seconds, int(r["peak_bytes"]), runs_seconds=runs,
                        downstream_share=r.get("downstream_share"), cores_busy=r.get("cores_busy"))
        records = [LayerRecord.from_dict(d) for d in r["records"]]
        return Measurement(
            sample, chunk, profile_graph(records, r["input"]), int(r["tasks"]) / n,
            tuple((k, int(v[0]), float(v[1]), int(v[2])) for k, v in r["per_layer"].items()),
            r.get("scaling"), int(r["baseline_bytes"]),
            float(r["output_nbytes"]) / max(int(r["input_nbytes"]), 1), nominal,
            r.get("read_share"), r.get("sync_wall_seconds"),
        )


def read_split(m: Measurement, spec: ArraySpec, s: Sample) -> Sample:
    """``s`` with its read of the storage chunks it touched replaced by the read of its own
    bytes, at the measured read time per touched byte (``read_seconds`` then carries that own
    read: the planner adds each candidate's extra reads, ``evaluate.read_amplification``).

    rechunk_transpose: (128, 32, 16) chunks on (1, 512, 512) storage chunks each read 128
    MiB for 0.25-4 MiB of data, 73 of their 85 ms; per byte their time fell 16x from the
    smallest sample to the largest, and the fit priced 128 MiB chunks at 2.8 s (ran 0.2 s).
    The read is the ``from-zarr`` layer's time, or, when dask fused the reads into the
    tasks that use the blocks, the time measured inside the reads (``read_share``): a
    power spectrum along whole time, (16, 256, 256) storage chunks, read 8 MiB per 1 MiB
    sample chunk, 34 of its 37 ms; unsplit, every chunk size was priced alike and the plan
    took a quarter of a storage tile (0.66 s a run, 0.42 s at the best)."""
    if s.seconds is None or not s.seconds or spec.storage_chunks is None:
        return s
    reads = [(n, sec) for name, n, sec, _ in m.per_layer if name in READ_LAYERS and n > 0]
    if reads:
        read = min(sum(sec for _, sec in reads) / sum(n for n, _ in reads), s.seconds)
    elif m.read_share:  # fused into the tasks that use the blocks: timed inside the reads
        read = m.read_share * s.seconds
    else:
        return s
    own = read * min(1.0, s.nbytes / storage_bytes_read(spec, m.chunk))
    factor = (s.seconds - read + own) / s.seconds
    share = s.downstream_share  # the read is the input tasks': what follows keeps its time
    return dataclasses.replace(s, seconds=s.seconds * factor,
                               runs_seconds=tuple(r * factor for r in s.runs_seconds),
                               read_seconds=own,
                               downstream_share=None if share is None else min(1.0, share / factor))
