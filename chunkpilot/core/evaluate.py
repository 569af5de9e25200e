"""Pure: what the cost model predicts for one chunk shape, and the memory rule it must meet.

The prediction for a chunk shape with ``N`` tasks of ``b`` bytes on ``P`` threads::

    wall = tasks(N) * overhead + ceil(U / P) * (time(b) + read(b)) * N / U
           + ceil(M / P) * after(b) * N / M
           + FILL_DRAIN_TASKS * (time(b) * N / U + after(b) * N / M) + cold(b)
    peak per worker = baseline + T * (peak(b) + IN_FLIGHT_EXTRA_BLOCKS * b)

``T`` is the threads of a worker that get a chunk: all of them, or ``ceil(N / workers)``
when there are fewer chunks (a one-chunk array holds one block, not one per thread).

``peak(b)`` is the samples' peak at ``b`` bytes, or, when an in-graph rechunk gathers the
input (``core.gather``), a thread's share of what it holds at this chunk *shape*, if more.

``U`` is the number of tasks sharing the work in parallel: ``N``, or a contraction's block
products (``CostModel.parallel_units``: ``x @ x.T`` on 2 chunks of 2048x4096 runs 4
products, 2 rounds of a quarter of the work each on 2 threads, not 1 round of a half).

``after(b)`` is the measured work downstream of an in-graph rechunk (``downstream``), run
on the ``M`` chunks that rechunk makes (0 without one); ``time(b)`` is the rest of the
measured work, plus re-reading whole storage chunks a chunk splits;
``read(b)`` is an object store's modelled read (0 for other sources); ``time(b)`` is
multiplied by ``CostModel.thread_slowdown`` when tasks share a worker's threads and the
samples timed two calls at once (a function holding the GIL), and the fill/drain term then
shrinks with the threads' measured speedup on a single process; and by
``CostModel.busy_slowdown`` when a sample's call kept more cores busy alone than a busy
thread gets (``core.cores``). ``cold(b)`` is what a worker's first task of a computation takes
over a warm one, faulting in its temporaries' memory, once (``core.coldstart``).
``tasks(N)`` is ``N``
tasks for per-block work, and the whole graph's task count for a
pipeline (it can grow faster than ``N``: ``CostModel.scheduler_tasks``). A shape is
feasible when the peak per worker stays under ``Resources.memory_budget_bytes``
(target x memory limit), no bigger than the largest block that ran when a bigger one failed
(``CostModel.block_limit_bytes``), and every chunk is at least the overlap depth.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from chunkpilot.core.coldstart import first_task_extra_seconds
from chunkpilot.core.failed import beyond_ran
from chunkpilot.core.gather import gather, peak_basis_bytes
from chunkpilot.core.growth import chunk_counts
from chunkpilot.core.model import CostModel
from chunkpilot.core.shapes import (
    halo_shape,
    min_lengths,
    smallest_block_bytes,
    storage_bytes_read,
)
from chunkpilot.core.store import block_read, readers_per_process
from chunkpilot.errors import NoFeasiblePlanError
from chunkpilot.types import ArraySpec, Resources, WorkSpec
from chunkpilot.units import format_bytes

#: Extra blocks per thread held besides the running task: one loaded input queued ahead
#: (root-task queuing runs ~1.1 x threads) or one output waiting for its consumer.
IN_FLIGHT_EXTRA_BLOCKS = 1
#: Pipeline fill and drain, in tasks: at the end the other threads wait for the last task,
#: which starts at no particular moment of theirs: half a task on average. A whole task
#: (the earlier rule) priced gil_loop/local's two 16 MiB tasks at 1.54 s where they ran in
#: 0.90 s, and advise chose 32 tasks of 1 MiB (1.24 x that). Replay of the stored full
#: runs, whole task -> half: cc58ac9 1.07 -> 1.06 (two picks move, both closer: gil_loop/
#: local 1.24 -> 1.01, fft_time/local 0.98 -> 0.95), 3e5dfdd 1.10 -> 1.06, 01e7629 1.22 ->
#: 1.11, a0efcb4 and 2d34a42 unchanged; no charge at all: cc58ac9 1.09 (big overlap_filter
#: chunks win on paper and lose, 1.47). An object store's modelled read is not charged
#: again: each task already pays its own pipeline fill (``core.store.block_read``).
FILL_DRAIN_TASKS = 0.5


@dataclass(frozen=True, slots=True)
class Evaluation:
    """A candidate chunk shape and what the cost model predicts for it."""

    chunk_shape: tuple[int, ...]
    """Regular chunk length per axis (the last chunk may be shorter)."""
    task_count: int
    """Number of chunks, i.e. tasks per operation."""
    task_bytes: int
    """Bytes one task reads, overlap halo included."""
    seconds_per_task: float
    """Predicted time of the user's function on one block."""
    peak_bytes_per_task: int
    """Predicted peak memory of one task (input, temporaries, output)."""
    peak_bytes_per_worker: int
    """Baseline + threads x (task peak + extra in-flight blocks)."""
    wall_seconds: float
    """Predicted wall time of the whole operation."""
    overhead_fraction: float
    """Share of the predicted wall time spent on scheduler overhead."""
    fits_memory: bool
    """Peak per worker within the memory budget, and within ``block_limit_bytes``."""
    meets_depth: bool
    """Every chunk is at least the overlap depth (map_overlap requires it)."""
    parallel_units: int
    """Tasks that share the work and keep threads busy: ``task_count``, or a contraction's
    block products (``CostModel.parallel_units``)."""
    scheduler_tasks: float = 0.0
    """Tasks of the whole graph (``CostModel.scheduler_tasks``): what the task caps count."""
    fill_drain_seconds: float = 0.0
    """Part of the wall time: threads starting and finishing at different times
    (``FILL_DRAIN_TASKS`` of a task)."""
    cold_seconds: float = 0.0
    """Part of the wall time: a worker's first task faulting its memory in (``core.coldstart``)."""

    @property
    def feasible(self) -> bool:
        """The planner may choose it: it fits memory and meets the overlap depth."""
        return self.fits_memory and self.meets_depth

    def to_dict(self) -> dict[str, Any]:
        return {
            "chunk_shape": list(self.chunk_shape),
            "task_count": self.task_count,
            "task_bytes": self.task_bytes,
            "seconds_per_task": self.seconds_per_task,
            "peak_bytes_per_task": self.peak_bytes_per_task,
            "peak_bytes_per_worker": self.peak_bytes_per_worker,
            "overhead_fraction": self.overhead_fraction,
            "wall_seconds": self.wall_seconds,
            "fits_memory": self.fits_memory,
        }


def worker_peak_bytes(baseline_bytes: float, task_peak_bytes: float, task_bytes: float,
                      res: Resources, busy_threads: int | None = None,
                      holding_threads: int | None = None) -> float:
    """Peak memory of one worker: its baseline, the task peak of each busy thread (all of
    them unless ``busy_threads`` says fewer hold a share of the work), and the queued block
    of every thread that gets a chunk (all, unless ``holding_threads`` says fewer)."""
    holding = res.threads_per_worker if holding_threads is None else holding_threads
    busy = holding if busy_threads is None else busy_threads
    return baseline_bytes + busy * task_peak_bytes + holding * IN_FLIGHT_EXTRA_BLOCKS * task_bytes


def threads_with_chunks(res: Resources, task_count: int) -> int:
    """How many of a worker's threads get a chunk: all, unless there are fewer chunks."""
    return max(1, min(res.threads_per_worker, math.ceil(task_count / res.workers)))


def task_and_worker_peaks(model: CostModel, res: Resources, task_count: int, task_bytes: int,
                          gathered_bytes: int = 0, basis: int | None = None) -> tuple[int, int]:
    """(A task's peak, a worker's) at ``task_count`` chunks of ``task_bytes``: per thread (at
    ``basis`` bytes, ``core.gather.peak_basis_bytes``), or, when what a worker holds grows
    with its chunks (``core.held``), the worker's band for its share of the chunks."""
    holding = threads_with_chunks(res, task_count)
    if model.held is None:
        peak = max(model.task_peak_bytes(basis or task_bytes), gathered_bytes)
        return peak, int(worker_peak_bytes(model.baseline_bytes, peak, task_bytes, res,
                                           holding_threads=holding))
    chunks = model.held.chunks_per_worker(task_count, res.workers)
    busy = model.held.busy_threads(res.threads_per_worker, chunks)
    held = model.held.worker_bytes(model.memory, task_bytes, chunks, busy)
    peak = max(math.ceil(held / busy), gathered_bytes)
    return peak, int(worker_peak_bytes(model.baseline_bytes, peak, task_bytes, res,
                                       min(busy, holding), holding))


def read_amplification_seconds(model: CostModel, spec: ArraySpec, chunk: tuple[int, ...],
                               task_bytes: int) -> float:
    """Extra read time of a chunk that does not cover whole storage chunks: the measured read
    curve at the bytes of the storage chunks it touches, minus at its own bytes (0 when the
    samples did not time their reads, or the chunk is aligned)."""
    touched = storage_bytes_read(spec, chunk)
    if touched <= task_bytes:
        return 0.0
    return max(0.0, model.read_seconds(touched) - model.read_seconds(task_bytes))


def gathered_bytes_per_thread(chunk: tuple[int, ...], spec: ArraySpec, res: Resources,
                              model: CostModel) -> int:
    """A thread's share of what an in-graph rechunk holds in a worker at ``chunk`` (0 when
    there is none, or it only cuts the chunks): a task's peak is at least that."""
    g = gather(tuple(spec.shape), tuple(chunk), model.gather, spec.itemsize)
    if g is None:
        return 0
    return math.ceil(g.held_bytes(res.threads_per_worker) / res.threads_per_worker)


def downstream(chunk: tuple[int, ...], spec: ArraySpec, model: CostModel,
               task_bytes: int) -> tuple[float, int]:
    """(Of a task's measured seconds, those spent after an in-graph rechunk, and the chunks
    that rechunk makes of the whole array): that work runs on the rechunk's chunks, whose
    count is set by its target, not by the input chunks (rechunk_transpose: one 128 MiB
    input chunk feeds 64 time-series tiles, computed on every thread). (0, 1) without a
    rechunk or for a contraction (its products are already its parallel units); 0 seconds
    when the samples did not split their time."""
    if model.gather is None or model.contraction_units is not None:
        return 0.0, 1
    seconds = model.task_seconds(task_bytes) * model.downstream_share(task_bytes)
    return seconds, max(1, model.gather.count(spec.shape, chunk))


def downstream_note(e: Evaluation, spec: ArraySpec, model: CostModel) -> str | None:
    """One sentence for the explanation: the share of the work run on the rechunk's chunks,
    at the evaluated shape ``e`` (its task bytes and count, as the prediction used them)."""
    after, outs = downstream(e.chunk_shape, spec, model, e.task_bytes)
    if after <= 0:
        return None
    share = after / max(model.task_seconds(e.task_bytes), 1e-12)
    return (f"{share:.0%} of a chunk's measured time ran after the pipeline's rechunk (the "
            "samples timed the tasks that read input chunks apart from the rest); that work "
            f"is spread over the {outs:,} chunks the rechunk makes, not over the "
            f"{e.task_count:,} input chunks (modelled).")


def evaluate(
    chunk: tuple[int, ...], spec: ArraySpec, work: WorkSpec, res: Resources, model: CostModel
) -> Evaluation:
    """Predict time and memory of one chunk shape."""
    task_count = math.prod(chunk_counts(spec.shape, chunk))
    task_bytes = math.prod(halo_shape(spec, work, chunk)) * spec.itemsize
    t = model.task_seconds(task_bytes) * model.product_work(spec.shape, tuple(chunk))
    read = 0.0
    after, outs = downstream(tuple(chunk), spec, model, task_bytes)
    t -= after
    if model.store is not None:  # object store: the block's MODELLED read time
        readers = readers_per_process(res, task_count)
        read = block_read(model.store, spec, work, tuple(chunk), readers).seconds
    else:  # a chunk that splits storage chunks reads (and decodes) all of each it touches
        t += read_amplification_seconds(model, spec, tuple(chunk), task_bytes)
    gathered = gathered_bytes_per_thread(tuple(chunk), spec, res, model)
    basis = peak_basis_bytes(model.gather, spec.shape, tuple(chunk), task_bytes, spec.itemsize)
    peak, per_worker = task_and_worker_peaks(model, res, task_count, task_bytes, gathered, basis)
    # tasks sharing a worker's threads: slower each when the function holds the GIL, each
    # waits for it to be handed its thread, and a lone process's idle threads at the start
    # and end lose nothing (they take turns anyway)
    # the work is shared by the tasks that run in parallel: one per chunk, or a
    # contraction's block products (each a share of every chunk's work)
    units = model.parallel_units(spec.shape, tuple(chunk), task_count)
    share = task_count / units
    concurrent = min(res.threads_per_worker, math.ceil(units / res.workers))
    tasks = model.scheduler_tasks(spec.shape, tuple(chunk), task_count)
    overhead = tasks * (model.overhead_seconds_per_task + model.gil_wait_seconds(concurrent))
    t *= model.thread_slowdown(concurrent)
    # a call that used several cores alone gets one per busy thread (``core.cores``)
    t *= model.busy_slowdown(task_bytes, min(units, res.total_threads), res.total_threads)
    # the work after an in-graph rechunk is shared by the rechunk's own chunks, on the
    # workers that hold input chunks (dask runs a task where its inputs are)
    slots = res.threads_per_worker * min(res.workers, task_count)
    after_each = after * task_count / outs * model.thread_slowdown(
        min(res.threads_per_worker, outs))
    drain = FILL_DRAIN_TASKS * (t * share + after_each) * model.idle_thread_cost(res.workers)
    # each thread's first task faults its temporaries' memory in (``core.coldstart``)
    cold = first_task_extra_seconds(model.samples, task_bytes)
    wall = (overhead + math.ceil(units / res.total_threads) * (t + read) * share
            + math.ceil(outs / slots) * after_each + drain + cold)
    under_failures = not beyond_ran(model, task_bytes)
    depth_ok = all(c >= d or c == s for c, d, s in zip(chunk, work.depth, spec.shape, strict=True))
    return Evaluation(
        chunk_shape=tuple(chunk),
        task_count=task_count,
        task_bytes=task_bytes,
        seconds_per_task=t + read + after_each * outs / task_count,
        peak_bytes_per_task=peak,
        peak_bytes_per_worker=per_worker,
        wall_seconds=wall,
        overhead_fraction=overhead / wall if wall > 0 else 0.0,
        fits_memory=per_worker <= res.memory_budget_bytes and under_failures,
        meets_depth=depth_ok,
        parallel_units=units,
        scheduler_tasks=tasks,
        fill_drain_seconds=drain,
        cold_seconds=cold,
    )


def check_smallest_block(spec: ArraySpec, work: WorkSpec, res: Resources) -> None:
    """Refuse before profiling when even the smallest block the array allows cannot fit.

    Each thread holds at least its input block plus ``IN_FLIGHT_EXTRA_BLOCKS`` more (the
    function's own temporaries come on top, unknown before profiling).
    """
    smallest = smallest_block_bytes(spec, work)
    need = worker_peak_bytes(0, smallest, smallest, res)
    budget = res.memory_budget_bytes
    if need <= budget:
        return
    lows = halo_shape(spec, work, min_lengths(spec, work))
    if spec.storage_chunks and spec.stored_chunk_nbytes >= math.prod(lows) * spec.itemsize:
        bigger = spec.stored_chunk_nbytes > math.prod(spec.storage_chunks) * spec.itemsize
        what, fix = (f"one storage chunk {spec.storage_chunks}" + (
                         ", stored whole past the array's edge" if bigger else ""),
                     "or rewrite the store with smaller chunks (reading any part of a storage "
                     "chunk decodes all of it).")
    else:
        what, fix = f"the smallest block {lows}", "or let the axes be split."
    raise NoFeasiblePlanError(
        f"Expected the smallest block this array allows ({what}: {format_bytes(smallest)}) to "
        f"fit: {res.threads_per_worker} thread(s) x {1 + IN_FLIGHT_EXTRA_BLOCKS} blocks (input "
        f"+ one in flight) under {res.target_fraction:.0%} of the "
        f"{format_bytes(res.memory_limit_bytes)} memory limit ({format_bytes(budget)}). Got "
        f"{format_bytes(need)} instead. Give workers more memory, use fewer threads per worker, "
        f"{fix}"
    )
