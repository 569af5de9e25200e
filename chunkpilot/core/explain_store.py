"""Pure: the sentences a plan on an object-store source says about its reads (the probe's
numbers, and whether waiting on requests binds), for :mod:`chunkpilot.core.explain`."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from chunkpilot.core.evaluate import evaluate
from chunkpilot.core.store import LATENCY_BINDS_FRACTION, block_read, readers_per_process
from chunkpilot.units import format_bytes, format_seconds

if TYPE_CHECKING:
    from chunkpilot.core.plan import Plan

#: A cut in a run's waiting on requests worth a sentence (ratio).
WAIT_CUT_WORTH_SAYING = 1.5


def _axes_text(plan: Plan, axes: list[int]) -> str:
    names = [plan.spec.dims[i] if plan.spec.dims else f"axis {i}" for i in axes]
    return " and ".join(names) if len(names) <= 2 else ", ".join(names)


def store_sentence(plan: Plan) -> str | None:
    """Object stores (issue 14): the probe's numbers, and whether waiting on requests binds."""
    store = plan.model.store
    if store is None:
        return None
    c, res = plan.chosen, plan.resources
    e16 = store.effective_concurrency(16)
    rate = format_bytes(int(store.stream_bytes_per_second))
    text = (f"Reads are MODELLED from a store probe ({store.where}): "
            f"{format_seconds(store.latency_seconds)} to first byte, "
            + (f"objects too small for their transfer to show (taken as {rate}/s), "
               if store.throughput_lower_bound else f"{rate}/s per stream, ")
            + f"{e16:.1f} of 16 concurrent requests overlap, up to {store.requests_per_task} in "
            "flight per task"
            + (f", {store.requests_per_object} round trips per storage object (the client asks "
               "for its size first; s3fs: --storage-option max_concurrency=1 avoids that)"
               if store.requests_per_object > 1 else ""))
    read = block_read(store, plan.spec, plan.work, c.chunk_shape,
                      readers_per_process(res, c.task_count))
    share = read.wait_seconds / c.seconds_per_task if c.seconds_per_task > 0 else 0.0
    waiting = f"{share:.0%} of its time waiting on {read.requests:.0f} request(s)"
    total = read.wait_seconds * math.ceil(c.task_count / res.total_threads)
    stored = plan.spec.storage_chunks or ()  # none: no reference shape
    ref = tuple(min(u, n) for u, n in zip(stored, plan.spec.shape, strict=False))
    if ref and ref != c.chunk_shape:
        e0 = evaluate(ref, plan.spec, plan.work, res, plan.model)
        r0 = block_read(store, plan.spec, plan.work, ref, readers_per_process(res, e0.task_count))
        total0 = r0.wait_seconds * math.ceil(e0.task_count / res.total_threads)
        bigger = [i for i, (a, b) in enumerate(zip(c.chunk_shape, ref, strict=True)) if a > b]
        share0 = r0.wait_seconds / e0.seconds_per_task if e0.seconds_per_task > 0 else 0.0
        if bigger and share0 >= LATENCY_BINDS_FRACTION and total0 >= WAIT_CUT_WORTH_SAYING * total:
            return (f"{text}. Latency binds at the storage chunks {ref}: each task would spend "
                    f"{share0:.0%} of its time waiting on {r0.requests:.0f} request(s), "
                    f"{format_seconds(total0)} of waiting in the run; bigger chunks along "
                    f"{_axes_text(plan, bigger)} keep more requests in flight and cut that to "
                    f"{format_seconds(total)} ({read.requests:.0f} requests per task).")
    if share < LATENCY_BINDS_FRACTION:
        return f"{text}; each task spends {waiting}."
    return (f"{text}. Latency binds: each task would spend {waiting}, and bigger chunks cannot "
            f"cut the waiting (the store overlaps {e16:.1f} of 16 requests, a task keeps "
            f"{store.requests_per_task} in flight); fewer, bigger storage objects would "
            "(`chunkpilot check` says which).")
