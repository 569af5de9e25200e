"""Pure: what a plan was made from, as JSON (what ``core.replay.replan`` plans again from)."""

from __future__ import annotations

from dataclasses import asdict
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from chunkpilot.core.plan import Plan


def plan_inputs(plan: Plan) -> dict[str, Any]:
    """The inputs of ``plan`` as a JSON-ready dict (what :func:`replan` takes)."""
    m = plan.model
    correction = getattr(plan.pipeline, "memory_correction", 1.0) if plan.pipeline else 1.0
    auto = plan.dask_auto.chunk_shape if plan.dask_auto is not None else None
    return {
        "spec": plan.spec.to_dict(),
        "work": plan.work.to_dict(),
        "resources": plan.resources.to_dict(),
        "measurements": {
            "samples": [s.to_dict() for s in m.samples],
            "overhead_seconds_per_task": m.overhead_seconds_per_task,
            "overhead_measured": m.overhead_measured,
            "baseline_bytes": m.baseline_bytes,
            "output_ratio": m.output_ratio,
            "tasks_per_chunk": m.tasks_per_chunk,
            "task_growth": asdict(m.task_growth) if m.task_growth else None,
            "contraction_units": asdict(m.contraction_units) if m.contraction_units else None,
            "gather": m.gather.to_dict() if m.gather is not None else None,
            "memory_correction": correction,
            "store": m.store.to_dict() if m.store is not None else None,
            "held_exponent": m.held.exponent if m.held is not None else None,
            "held_shared": m.held.shared if m.held is not None else False,
            "self_product_axes": list(m.self_product_axes),
            "contraction_axes": list(m.contraction_axes),
        },
        "dask_auto_shape": list(auto) if auto is not None else None,
    }
