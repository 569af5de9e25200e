"""Where and how big a profiling sample's block is, and what its sandbox reads it from."""

from __future__ import annotations

import dataclasses
import math
import os
from collections.abc import Mapping
from typing import Any

import numpy as np

from chunkpilot.core.budget import measurement_seconds
from chunkpilot.core.shapes import align_units, halo_shape, shape_for_bytes
from chunkpilot.measure.failures import Region
from chunkpilot.measure.sandbox import SampleJob
from chunkpilot.types import ArraySpec, WorkSpec

#: The largest samples may come out at most this much above their budgeted size.
TOP_SLACK = 1.25
#: A sample's job beside its timed calls: the fork from the warm spawner and the block's
#: read before them (zarr_read's samples on a 2 x 1 LocalCluster: 0.1-0.5 s each).
SAMPLE_START_S = 0.3
_RULES = {f.name: f.default for f in dataclasses.fields(SampleJob)}


def sample_region(spec: ArraySpec, block: tuple[int, ...]) -> Region:
    """A block-sized region near the array's centre, aligned to storage chunks."""
    units = align_units(spec)
    out = []
    for n, b, u in zip(spec.shape, block, units, strict=True):
        start = max(0, (n - b) // 2 // u * u)
        out.append((start, min(n, start + b)))
    return tuple(out)


def block_for(spec: ArraySpec, work: WorkSpec, target: float) -> tuple[int, ...]:
    """The sample block of ``target`` bytes of chunk, with its overlap halo."""
    return halo_shape(spec, work, shape_for_bytes(spec, work, target))


def block_within(spec: ArraySpec, work: WorkSpec, target: float) -> tuple[int, ...]:
    """The sample block for ``target`` bytes, stepped down while alignment to storage chunks
    rounds it past ``TOP_SLACK`` x the target: a 250 MiB budget rounded up to a 506 MiB
    block (3.7 GB of temporaries, 1.5 s a call) made one advise take 20 s."""
    t = target
    block = block_for(spec, work, t)
    while math.prod(block) * spec.itemsize > TOP_SLACK * target and t > spec.itemsize:
        t /= 1.25
        block = block_for(spec, work, t)
    return block


def job_source(source: Mapping[str, Any], region: Region, tmp: str, seed: int,
               cache_dir: str | None = None, copies: Mapping[Region, str] | None = None
               ) -> dict[str, Any]:
    """What a sample's sandbox reads: a numpy source's block saved to ``tmp``, a store by
    path and array name (a URL's block cached in ``cache_dir`` once read, or cut from the
    smallest of ``copies``, regions already read to local files, that holds it)."""
    if source["kind"] == "numpy":
        path = os.path.join(tmp, "block.npy")
        np.save(path, np.ascontiguousarray(source["array"][tuple(slice(a, b) for a, b in region)]))
        return {"kind": "npy", "path": path}
    # keep a store's array *name*; drop in-memory array objects (the child cannot get them)
    out = {**{k: v for k, v in source.items() if k != "array" or isinstance(v, str)},
           "seed": seed}
    if source["kind"] == "remote" and cache_dir is not None:  # measured twice: read it once
        out["cache"] = os.path.join(cache_dir, "_".join(f"{a}-{b}" for a, b in region) + ".npy")
        holders = [r for r in (copies or {}) if r != region and contains(r, region)]
        if holders:  # samples share a centre: a smaller one is cut from a bigger one's copy
            best = min(holders, key=lambda r: math.prod(b - a for a, b in r))
            out["within"] = {"path": (copies or {})[best], "start": [a for a, _ in best]}
    return out


def contains(outer: Region, inner: Region) -> bool:
    """Whether region ``outer`` holds all of ``inner``.

    >>> contains(((0, 8), (2, 6)), ((1, 3), (2, 6))), contains(((0, 8),), ((4, 9),))
    (True, False)
    """
    return all(a <= c and d <= b for (a, b), (c, d) in zip(outer, inner, strict=True))


def sample_seconds(call_s: float) -> float:
    """A sample's job whose calls take ``call_s`` each, by the child's rules (``SampleJob``:
    a cold call, at least ``min_warm_runs`` warm ones, more while under ``repeat_seconds``,
    ``max_repeats`` calls at most), one untimed call more (its peak, on the threaded
    scheduler) and ``SAMPLE_START_S``: zarr_read's 52 MiB sample, 0.53 s a call, took 2.6 s.

    >>> round(sample_seconds(0.5), 2), round(sample_seconds(0.05), 2)
    (2.8, 0.75)
    """
    calls = measurement_seconds(call_s, _RULES["repeat_seconds"],
                                min_warm_runs=_RULES["min_warm_runs"],
                                max_repeats=_RULES["max_repeats"] - 1,
                                over_budget_runs=_RULES["min_warm_runs"])
    return SAMPLE_START_S + calls + call_s
