"""The JSON document of a plan (``chunkpilot advise --json``, ``Plan.to_dict``)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from chunkpilot.core.explain import explanation_lines
from chunkpilot.core.plan_inputs import plan_inputs
from chunkpilot.core.rechunk import rechunk_advice

if TYPE_CHECKING:
    from chunkpilot.core.plan import Plan


def _advice_dict(plan: Plan) -> dict[str, Any] | None:
    advice = rechunk_advice(plan)
    return advice.to_dict() if advice is not None else None


def plan_to_dict(plan: Plan) -> dict[str, Any]:
    """The JSON document of ``chunkpilot advise --json``.

    Vocabulary: ``chunk_shape`` is one length per axis, ``chunks`` is dask's full chunks (a
    list of lengths per axis), ``chunks_by_dim`` maps dimension names to lengths (or null).
    """
    m = plan.model
    return {
        "chunk_shape": list(plan.chunk_shape),
        "chunks": [list(ax) for ax in plan.chunks],
        "chunks_by_dim": plan.chunks_by_dim,
        "shape": list(plan.spec.shape),
        "dtype": plan.spec.dtype,
        "source": plan.spec.source,
        "array": plan.spec.name,
        "storage_chunks": list(plan.spec.storage_chunks) if plan.spec.storage_chunks else None,
        "shards": list(plan.spec.shards) if plan.spec.shards else None,
        "scheduler": plan.resources.scheduler,
        "resources": plan.resources.to_dict(),
        "keep_whole": list(plan.work.keep_whole),
        "depth": list(plan.work.depth),
        "predicted": plan.chosen.to_dict(),
        "measured": {
            "samples": [s.to_dict() for s in m.samples],
            "overhead_seconds_per_task": m.overhead_seconds_per_task,
            "overhead_measured": m.overhead_measured,
            "baseline_bytes": m.baseline_bytes,
        },
        "model": {
            "time_fixed_seconds": m.time.fixed,
            "time_seconds_per_byte": m.time.slope,
            "time_r2": m.time.r2,
            "memory_fixed_bytes": m.memory.fixed,
            "memory_multiplier": m.memory.slope,
            "memory_r2": m.memory.r2,
            "max_ok_bytes": m.max_ok_bytes,
            "thread_speedup": m.thread_speedup,
        },
        "binding_constraint": plan.binding_constraint,
        "ties": {"count": plan.tie_count, "band_fraction": plan.tie_band_fraction,
                 "rule": "aligned with storage chunks, then smallest peak per worker"},
        "explanation": explanation_lines(plan),
        "notes": list(plan.notes),
        "dask_auto_chunk_shape": list(plan.dask_auto.chunk_shape) if plan.dask_auto else None,
        "dask_auto_predicted": plan.dask_auto.to_dict() if plan.dask_auto else None,
        "current_chunks": [list(ax) for ax in plan.spec.current_chunks or ()] or None,
        "rechunk_advice": _advice_dict(plan),
        "pipeline": plan.pipeline.to_dict() if plan.pipeline is not None else None,
        "store": m.store.to_dict() if m.store is not None else None,
        "inputs": plan_inputs(plan),
    }
