"""Pure core of ``chunkpilot check``: problems of an existing chunking, with numbers and a fix.

No profile is run, so the thresholds rest on stated assumptions
(:class:`~chunkpilot.core.policy.CheckThresholds`, whose defaults are constants there; users
set them in dask config under ``chunkpilot.check``): a task should run
``worthy_overhead_multiple`` times the scheduler's per-task overhead at
``assumed_bytes_per_second``, and a task's peak is its input plus an output of the same
size (``ASSUMED_MEMORY_MULTIPLIER``), under the planner's own memory rule
(:func:`chunkpilot.core.evaluate.worker_peak_bytes`). ``chunkpilot advise`` replaces these
assumptions with measurements.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from chunkpilot.core.chunk_axes import extent, ragged, read_amplification
from chunkpilot.core.evaluate import IN_FLIGHT_EXTRA_BLOCKS, worker_peak_bytes
from chunkpilot.core.model import DEFAULT_OVERHEAD_S
from chunkpilot.core.policy import (  # noqa: F401  (re-exported: check's thresholds)
    ASSUMED_BYTES_PER_SECOND,
    CANDIDATE_STEP,
    MAX_READ_AMPLIFICATION,
    MAX_TASKS,
    MIN_CHUNKS_PER_THREAD,
    RAGGED_FRACTION,
    TINY_FRACTION,
    WORTHY_OVERHEAD_MULTIPLE,
    CheckThresholds,
)
from chunkpilot.core.rechunk import REOPENABLE
from chunkpilot.core.shapes import (
    align_units,
    even_out,
    even_tail,
    regular_chunks,
    shape_for_bytes,
)
from chunkpilot.core.store import LATENCY_BINDS_FRACTION, MAX_SUGGESTED_OBJECT_BYTES, StoreModel
from chunkpilot.types import ArraySpec, Chunks, Resources, WorkSpec
from chunkpilot.units import format_bytes, plural

#: A task's assumed peak per input byte without a profile: its input plus an output as big.
ASSUMED_MEMORY_MULTIPLIER = 2
#: Chunks a thread holds under that assumption: the task's peak plus the blocks in flight.
ASSUMED_BLOCKS_PER_THREAD = ASSUMED_MEMORY_MULTIPLIER + IN_FLIGHT_EXTRA_BLOCKS

ERROR, WARNING = "error", "warning"


DEFAULT_THRESHOLDS = CheckThresholds()
#: At most this many smaller targets are tried for a suggestion that fits and is not ragged.
SUGGEST_STEPS = 24


@dataclass(frozen=True, slots=True)
class Problem:
    """One thing wrong with a chunking, with the numbers behind it and how to fix it."""

    code: str
    """``too_many_tasks``, ``tiny_chunks``, ``exceeds_memory``, ``storage_misaligned``,
    ``ragged_chunks``, ``too_few_chunks`` or ``storage_objects_small`` (object stores)."""
    severity: str
    """``"error"`` (will fail or crawl) or ``"warning"`` (wasteful)."""
    message: str
    """What is wrong, with numbers."""
    fix: str
    """What to do instead, with a concrete chunk shape."""
    numbers: tuple[tuple[str, float], ...] = ()
    """The measured quantity and its limit, unit in the key (``chunk_bytes``, ``tasks``)."""

    def to_dict(self) -> dict[str, Any]:
        return {"code": self.code, "severity": self.severity, "message": self.message,
                "fix": self.fix, "numbers": dict(self.numbers)}


def overhead_seconds(res: Resources) -> float:
    """Modelled per-task overhead of the scheduler in ``res`` (not probed: check is instant)."""
    return DEFAULT_OVERHEAD_S["distributed" if res.distributed else "threads"]


def worthy_bytes(overhead_s: float, th: CheckThresholds = DEFAULT_THRESHOLDS) -> int:
    """Chunk bytes whose assumed processing time is ``worthy_overhead_multiple`` x overhead."""
    return int(overhead_s * th.worthy_overhead_multiple * th.assumed_bytes_per_second)


def assumed_worker_bytes(chunk_bytes: int, res: Resources) -> int:
    """Peak per worker for chunks of ``chunk_bytes`` under the assumed memory multiplier."""
    return int(worker_peak_bytes(0, ASSUMED_MEMORY_MULTIPLIER * chunk_bytes, chunk_bytes, res))


def memory_cap_bytes(res: Resources) -> int:
    """Largest chunk whose assumed footprint fits the worker's memory budget."""
    return int(res.memory_budget_bytes / assumed_worker_bytes(1, res))


def suggest_chunk_shape(spec: ArraySpec, res: Resources, overhead_s: float,
                        th: CheckThresholds = DEFAULT_THRESHOLDS) -> tuple[int, ...]:
    """A chunk shape that avoids every problem this module knows, aligned with storage.
    Evening an axis out can take it whole (365 in storage chunks of 182): a shape over the
    memory cap or still ragged is re-made from a smaller target, a candidate step at a time."""
    worthy, cap = worthy_bytes(overhead_s, th), memory_cap_bytes(res)
    target = float(min(worthy, cap))
    per_thread = spec.nbytes / (MIN_CHUNKS_PER_THREAD * res.total_threads)
    if per_thread >= th.tiny_fraction * worthy:
        target = min(target, per_thread)
    target = max(target, spec.nbytes / th.max_tasks)
    if spec.storage_chunks is not None:  # never cut below a storage chunk unless memory forces
        target = max(target, min(math.prod(spec.storage_chunks) * spec.itemsize, cap))
    units = align_units(spec)
    for _ in range(SUGGEST_STEPS):
        raw = shape_for_bytes(spec, WorkSpec(spec.ndim), max(target, spec.itemsize))
        shape = tuple(even_tail(n, r, u if r >= u else 1, th.ragged_fraction)
                      for n, r, u in zip(spec.shape, raw, units, strict=True))
        if math.prod(shape) * spec.itemsize <= cap and not any(
                ragged(ax, th.ragged_fraction)[0] for ax in regular_chunks(spec.shape, shape)):
            break
        target /= CANDIDATE_STEP
    return shape


def _use(spec: ArraySpec, shape: tuple[int, ...]) -> str:
    chunks = str(dict(zip(spec.dims, shape, strict=True))) if spec.dims else str(shape)
    reopen = spec.source.startswith(REOPENABLE)
    how = "re-open the source with chunks=" if reopen else "rechunk to "
    return f"{how}{chunks}"


def find_problems(
    spec: ArraySpec, res: Resources, chunks: Chunks, *, overhead_s: float | None = None,
    thresholds: CheckThresholds = DEFAULT_THRESHOLDS,
) -> list[Problem]:
    """Every problem of ``chunks`` for ``spec`` on ``res``, worst first."""
    th = thresholds
    oh = overhead_seconds(res) if overhead_s is None else overhead_s
    tasks = math.prod(len(ax) for ax in chunks)
    largest = math.prod(extent(ax)[0] for ax in chunks) * spec.itemsize
    worthy = worthy_bytes(oh, th)
    suggested = suggest_chunk_shape(spec, res, oh, th)
    fix = _use(spec, suggested)
    out: list[Problem] = []
    need = assumed_worker_bytes(largest, res)
    budget = res.memory_budget_bytes
    if need > budget:
        hard = res.threads_per_worker * largest > res.memory_limit_bytes
        out.append(Problem(
            "exceeds_memory", ERROR if hard else WARNING,
            f"Largest chunk is {format_bytes(largest)}: {res.threads_per_worker} thread(s) x "
            f"{ASSUMED_BLOCKS_PER_THREAD} chunks (input, output, one in flight) = "
            f"{format_bytes(need)} per worker, above the {res.target_fraction:.0%} target "
            f"({format_bytes(budget)}) of the {format_bytes(res.memory_limit_bytes)} memory limit"
            + ("; the chunks alone do not fit." if hard else "; workers will spill or pause."),
            f"Use chunks of at most {format_bytes(memory_cap_bytes(res))}: {fix}.",
            (("chunk_bytes", largest), ("peak_bytes_per_worker", need), ("budget_bytes", budget))))
    if tasks > th.max_tasks:
        out.append(Problem(
            "too_many_tasks", ERROR,
            f"{tasks:,} chunks = {tasks:,} tasks per operation, above {th.max_tasks:,}: about "
            f"{tasks * oh:.0f} s of scheduler overhead per pass ({oh * 1e3:.2g} ms a task).",
            f"Use fewer, bigger chunks: {fix}.", (("tasks", tasks), ("max_tasks", th.max_tasks))))
    if largest < th.tiny_fraction * worthy and tasks > 1:
        share = oh / (oh + largest / th.assumed_bytes_per_second)
        out.append(Problem(
            "tiny_chunks", WARNING,
            f"Chunks of at most {format_bytes(largest)} are far under the ~{format_bytes(worthy)} "
            f"a task needs to outweigh ~{oh * 1e3:.2g} ms of scheduler overhead (assuming "
            f"{format_bytes(th.assumed_bytes_per_second)}/s of work): overhead is ~{share:.0%} of "
            "the run time.",
            f"Use bigger chunks: {fix}.", (("chunk_bytes", largest), ("worthy_bytes", worthy))))
    amp, touched = read_amplification(spec, chunks)
    stored_bytes = math.prod(spec.storage_chunks or (1,)) * spec.itemsize
    cap = memory_cap_bytes(res)
    if amp > th.max_read_amplification:
        out.append(Problem(
            "storage_misaligned", WARNING,
            f"Chunks are not aligned with the storage chunks {spec.storage_chunks}: a dask chunk "
            f"touches up to {plural(touched, 'storage chunk')} and each storage chunk is read "
            f"(and decompressed) {f'{amp:,.0f}' if amp >= 10 else f'{amp:.2f}'} times on "
            "average.",
            f"Use multiples of the storage chunks: {fix}." if stored_bytes <= cap else
            f"Storage chunks of {format_bytes(stored_bytes)} are too big to load whole within "
            f"the memory cap ({format_bytes(cap)} a chunk): rewrite the store with smaller "
            f"chunks, or {fix}.",
            (("read_amplification", amp), ("max_storage_chunks_per_chunk", touched))))
    for i, ax in enumerate(chunks):  # every pass is O(chunks per axis), in C or numpy
        n_small, low = ragged(ax, th.ragged_fraction)
        if n_small:
            top = extent(ax)[0]
            name = spec.dims[i] if spec.dims else i
            unit = align_units(spec)[i]
            even = even_tail(spec.shape[i], top, unit if top >= unit else 1, th.ragged_fraction)
            out.append(Problem(
                "ragged_chunks", WARNING,
                f"Axis {name!r} has {n_small} chunk(s) as small as {low} next to chunks "
                f"of {top}: those tasks pay full overhead for {low / top:.0%} of "
                "the work.",
                f"Use evenly sized chunks along {'axis ' if not spec.dims else ''}{name!r}, "
                f"e.g. {even}, or: {fix}.",
                (("smallest_chunk", low), ("largest_chunk", top))))
    if tasks < res.total_threads and spec.nbytes >= worthy:
        out.append(Problem(
            "too_few_chunks", WARNING,
            f"Only {plural(tasks, 'chunk')} for {plural(res.total_threads, 'thread')}: "
            f"{plural(res.total_threads - tasks, 'thread')} "
            f"{'stays' if res.total_threads - tasks == 1 else 'stay'} idle.",
            _more_chunks(spec, res, suggested, tasks, th),
            (("tasks", tasks), ("threads", res.total_threads))))
    return sorted(out, key=lambda p: p.severity != ERROR)


def _more_chunks(spec: ArraySpec, res: Resources, suggested: tuple[int, ...], tasks: int,
                 th: CheckThresholds) -> str:
    """``too_few_chunks``'s fix. When the storage chunks are what keeps the suggestion this
    coarse (one storage chunk holds the array: splitting it decodes it once per piece), the
    suggestion is no fix: say so, and give the split that keeps every thread busy."""
    want = MIN_CHUNKS_PER_THREAD * res.total_threads
    if math.prod(len(ax) for ax in regular_chunks(spec.shape, suggested)) > tasks:
        return f"Use at least {want} chunks: {_use(spec, suggested)}."
    split = shape_for_bytes(spec, WorkSpec(spec.ndim), spec.nbytes / want)
    split = tuple(even_tail(n, c, 1, th.ragged_fraction) for n, c in zip(spec.shape, split,
                                                                        strict=True))
    return (f"The storage chunks {spec.storage_chunks} allow no more without splitting them "
            f"(each piece decodes its whole storage chunk again): rewrite the store with "
            f"smaller chunks, about {split}, or accept idle threads.")


def latency_problems(spec: ArraySpec, store: StoreModel) -> list[Problem]:
    """Object stores (issue 14): storage objects too small for the measured latency, so reading
    is bound by requests; the fix names a zarr v3 shard shape sized for this store (inner
    chunks kept for random access) and, for formats without shards, a chunk shape."""
    if spec.storage_chunks is None:
        return []
    obj = spec.shards or spec.storage_chunks
    decoded = math.prod(obj) * spec.itemsize
    stored = decoded * store.stored_bytes_per_byte
    wait = store.latency_seconds * store.requests_per_object
    share = wait / (wait + stored / store.stream_bytes_per_second)
    if share <= LATENCY_BINDS_FRACTION or decoded >= spec.nbytes:
        return []
    want = min(max(store.min_object_bytes(), 2 * stored), MAX_SUGGESTED_OBJECT_BYTES)
    shard = shape_for_bytes(spec, WorkSpec(spec.ndim), want / store.stored_bytes_per_byte)
    shard = tuple(math.ceil(even_out(n, c, u) / u) * u  # zarr: shards are whole inner chunks
                  for n, c, u in zip(spec.shape, shard, spec.storage_chunks, strict=True))
    got = math.prod(shard) * spec.itemsize * store.stored_bytes_per_byte
    if math.prod(shard) <= math.prod(obj):
        return []
    what = "Shards" if spec.shards else "Storage chunks"
    rate = f"{format_bytes(int(store.stream_bytes_per_second))}/s" + (
        " (transfer too small to show; taken as that)" if store.throughput_lower_bound else "")
    return [Problem(
        "storage_objects_small", WARNING,
        f"{what} {obj} are ~{format_bytes(int(stored))} per object in the store: at the measured "
        f"{store.latency_seconds * 1e3:.0f} ms to first byte ({store.requests_per_object} round "
        f"trip(s) per object) and {rate} per stream, a request spends {share:.0%} of its time "
        "waiting, so reading is bound by the number of requests (MODELLED from a store probe).",
        f"Rewrite the store as zarr v3 with shards {shard} (~{format_bytes(int(got))} per object, "
        f"sized for this store) holding inner chunks {spec.storage_chunks} for random access: "
        f"zarr.create_array(..., shards={shard}, chunks={spec.storage_chunks}); without shards "
        f"(zarr v2, HDF5), use chunks {shard}.",
        (("object_bytes", stored), ("latency_seconds", store.latency_seconds),
         ("latency_share", share), ("suggested_object_bytes", got)))]
