"""Synthetic plans for pure tests: a fixed cost model, no profiling."""

from __future__ import annotations

from chunkpilot.core.model import CostModel, LinearFit
from chunkpilot.core.plan import Plan, make_plan
from chunkpilot.types import ArraySpec, Resources, WorkSpec

MiB = 2**20


def synthetic_model(mult: float = 3.0) -> CostModel:
    """1 ms + 2 ms/MiB per task, peak = 4 MiB + mult x block, 1 ms overhead."""
    return CostModel(LinearFit(1e-3, 2e-3 / MiB, 1.0), LinearFit(4 * MiB, mult, 1.0), 1e-3)


def synthetic_plan(shape, dims, storage=None, current=None, source="xarray", mem=512 * MiB,
                   keep=()) -> Plan:
    """A float64 plan on 1 worker x 2 threads under ``synthetic_model``."""
    spec = ArraySpec(shape, "float64", storage_chunks=storage, dims=dims, current_chunks=current,
                     source=source)
    return make_plan(spec, WorkSpec(len(shape), keep), Resources(1, 2, mem, "threads"),
                     synthetic_model())
