"""Words and JSON for a plan: every number the choice rests on, measured or modelled."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from chunkpilot.core.coldstart import cold_sentence
from chunkpilot.core.cores import cores_at, cores_sentence
from chunkpilot.core.evaluate import FILL_DRAIN_TASKS, threads_with_chunks
from chunkpilot.core.explain_store import store_sentence
from chunkpilot.core.failed import failed_words
from chunkpilot.core.model import Sample
from chunkpilot.core.policy import (
    MIN_CHUNKS_PER_THREAD,
    MIN_THREAD_SPEEDUP,
)
from chunkpilot.core.rechunk import rechunk_advice
from chunkpilot.core.runnable import memory_fit, no_wall_reason
from chunkpilot.core.ties import tie_sentence
from chunkpilot.core.timecurve import BUMP_FRACTION, TWICE_BELOW_BYTES
from chunkpilot.units import format_bytes, format_seconds, plural

if TYPE_CHECKING:
    from chunkpilot.core.evaluate import Evaluation
    from chunkpilot.core.plan import Plan

MiB = 2**20


def held_terms(plan: Plan) -> str:
    """A worker's held band (``core.held``) in words: the measured law and its chunks."""
    c, h, res = plan.chosen, plan.model.held, plan.resources
    assert h is not None
    chunks = h.chunks_per_worker(c.task_count, res.workers)
    busy = h.busy_threads(res.threads_per_worker, chunks)
    why = ("every block meets every other, so each worker holds operand blocks from across "
           "the array" if h.shared else "it holds input chunks for their neighbours")
    return (f"what it holds for {plural(chunks, 'chunk')}, "
            f"{busy} at once (a pipeline run over n chunks "
            f"peaked at n^{h.exponent:.2f} x one chunk's, measured: {why}) + one block in "
            "flight per thread")


def _binding_sentence(plan: Plan) -> str:
    b, nxt, res = plan.binding_constraint, plan.next_larger, plan.resources
    budget = format_bytes(res.memory_budget_bytes)
    if b == "memory" and nxt is not None:
        return (
            f"Bound by memory: the next bigger chunk {nxt.chunk_shape} would need "
            f"{format_bytes(nxt.peak_bytes_per_worker)} per worker, above the "
            f"{res.target_fraction:.0%} target ({budget}) of the worker memory limit."
        )
    if b == "failed" and nxt is not None:
        return f"Bound by a failed sample: the next bigger chunk {nxt.chunk_shape}'s " + (
            failed_words(plan.model, nxt.task_bytes) + ".")
    if b == "parallelism":
        units = "block products" if plan.model.contraction_units is not None else "chunks"
        return (
            f"Bound by parallelism: bigger chunks would give fewer than {MIN_CHUNKS_PER_THREAD} "
            f"{units} per thread ({MIN_CHUNKS_PER_THREAD * res.total_threads} for "
            f"{res.total_threads} threads) and leave threads idle."
        )
    if b == "overhead":
        return (
            "Bound by overhead: scheduler overhead is already "
            f"{plan.chosen.overhead_fraction:.1%} of the time; bigger chunks would gain less "
            f"than {plan.policy.tie_tolerance:.0%}, so the smaller chunk with more memory "
            "headroom wins."
        )
    if b == "speed" and nxt is not None:
        m, c = plan.model, plan.chosen
        rate = [m.task_seconds(e.task_bytes) * MiB / e.task_bytes for e in (c, nxt)]
        why = (f"the measured time per byte grows with the block ({format_seconds(rate[0])} per "
               f"MiB at {format_bytes(c.task_bytes)}, {format_seconds(rate[1])} at "
               f"{format_bytes(nxt.task_bytes)})" if rate[1] > rate[0] * 1.02 else
               f"with {plural(nxt.task_count, 'longer task')} the threads share the work less "
               "evenly and wait longer at the end")
        return (
            f"Bound by speed: the next bigger chunk {nxt.chunk_shape} is predicted slower "
            f"({format_seconds(nxt.wall_seconds)} in all, vs {format_seconds(c.wall_seconds)}): "
            f"{why}, which costs more than the scheduler overhead "
            f"({c.overhead_fraction:.1%} of the time here) bigger chunks would save."
        )
    if b == "storage":
        return (
            f"Bound by storage: chunks are the smallest aligned with storage chunks "
            f"{plan.spec.storage_chunks}; smaller would re-read storage chunks."
        )
    if b == "keep_whole":
        axes = list(plan.work.keep_whole)
        if plan.pipeline is not None:  # the graph's own rechunks can demand them whole
            return (f"Bound by whole axes: axes {axes} stay whole (the pipeline needs them in "
                    "one chunk, or keep_whole named them; see below).")
        return f"Bound by keep_whole: axes {axes} must stay whole."
    if plan.chosen.task_count == 1:
        return "The whole array fits comfortably in one chunk."
    return (f"Bound by the array's size: no candidate chunk is bigger than "
            f"{plan.chunk_shape} ({plan.chosen.task_count} chunks over the array).")


def _storage_sentence(plan: Plan) -> str | None:
    sc = plan.spec.storage_chunks
    if sc is None:
        return None
    axes = list(zip(plan.chunk_shape, sc, plan.spec.shape, strict=True))
    per = [math.ceil(c / s) if c >= s else 1 for c, s, _ in axes]
    whole = all(c % s == 0 or c == n for c, s, n in axes)
    split = math.prod(s // c for c, s, n in axes if c < s and s % c == 0 and c != n)
    if whole:
        how = "aligned, so every storage chunk is read exactly once."
    elif split > 1 and all(c % s == 0 or s % c == 0 or c == n for c, s, n in axes):
        how = (f"each storage chunk is split evenly into {split} dask chunks, so it is read "
               f"(and decoded) {split} times: smaller than one storage chunk was worth it here.")
    else:
        how = "NOT aligned: storage chunks straddle dask chunks and are read more than once."
    text = (f"Storage chunks {sc}: each dask chunk covers {math.prod(per)} of them "
            f"({' x '.join(map(str, per))}), {how}")
    if plan.spec.shards is not None:
        text += f" Shards {plan.spec.shards} (write unit) noted; reads use the inner chunks."
    return text


def _versus(plan: Plan, what: str, e: Evaluation, *, whole_axes: bool = True) -> str:
    """One other chunking under the plan's model: its tasks, memory and predicted wall."""
    fit, _ = memory_fit(e.peak_bytes_per_worker, plan.resources)
    ratio = e.wall_seconds / plan.chosen.wall_seconds if plan.chosen.wall_seconds else float("nan")
    head = (f"{what}: {plural(e.task_count, 'chunk')}, "  # a pipeline runs more tasks
            f"{format_bytes(e.peak_bytes_per_worker)} per worker")
    why = no_wall_reason(plan, e, whole_axes=whole_axes)
    if why is not None:
        return f"{head}; {why}: no wall time predicted."
    return (f"{head} ({fit}), predicted wall {format_seconds(e.wall_seconds)} "
            f"({ratio:.2f}x this plan).")


def _auto_sentence(plan: Plan) -> str | None:
    a = plan.dask_auto
    if a is None:
        return None
    whole = [plan.spec.dims[i] if plan.spec.dims else i for i in plan.work.keep_whole
             if a.chunk_shape[i] == plan.spec.shape[i]]  # the pipeline's family may add axes
    how = f" (axes {whole} whole, as the plan keeps them)" if whole else ""
    return _versus(plan, f"dask chunks='auto'{how} would pick {a.chunk_shape}", a,
                   whole_axes=False)


def _current_lines(plan: Plan) -> list[str]:
    """The source's current dask chunks under the same model, and keep / re-open / rechunk."""
    a = rechunk_advice(plan)
    if a is None:
        return []
    return [_versus(plan, f"Current chunks {a.current_chunk_shape}", a.current), a.reason]


def _time_sentence(plan: Plan) -> str:
    """How time and memory per task were measured and how they extend past the samples."""
    m = plan.model
    ok = sorted((s for s in m.samples if s.ok and s.seconds is not None), key=lambda s: s.nbytes)
    basis = ("the larger of a block and the chunk the pipeline's rechunk gathers it into"
             if any(s.peak_basis_bytes for s in m.samples if s.ok) else "block")
    memory = (f"peak memory = {m.memory.slope:.2f} x {basis} + "
              f"{format_bytes(int(m.memory.fixed))} (R² {m.memory.r2:.2f}).")
    if not ok or m.curve is None:
        return (f"Cost model given, not measured: time = {format_seconds(m.time.fixed)} + "
                f"{format_seconds(m.time.slope * MiB)}/MiB; {memory}")
    points = ", ".join(f"{format_seconds(s.seconds or 0.0)} at {format_bytes(s.nbytes)}"
                       + (f" (±{s.spread_fraction:.0%} over "
                          f"{plural(len(s.runs_seconds), 'warm run')}"
                          + (", the slowest left out" if len(s.runs_seconds) >= 3
                             else ", the faster kept" if len(s.runs_seconds) == 2 else "")
                          if s.runs_seconds else " (one cold run, too long to repeat")
                       + f"{_remeasured(s)})" for s in ok)
    how = ("each run cold once then warm" if all(s.runs_seconds for s in ok) else
           "each run cold once, then warm unless the cold run took over a second")
    return (f"Measured in {plural(len(ok), 'sandboxed sample')}, {how}: {points}. "
            f"Time per task follows the samples' lower medians (monotone, log-log; past a fixed "
            f"cost never cheaper per byte in a bigger block) and grows as "
            f"bytes^{m.curve.up_exponent:.2f} past the largest; {memory}")


def _remeasured(s: Sample) -> str:
    if s.slower_seconds is None:
        return ""
    return (f"; measured twice, the faster kept (in fresh processes: every sample under "
            f"{format_bytes(TWICE_BELOW_BYTES)}, and any over {BUMP_FRACTION:.0%} slower per "
            f"byte than its neighbours): the other read {format_seconds(s.slower_seconds)}")


def _rounds_text(plan: Plan) -> str:
    c, res = plan.chosen, plan.resources
    units = c.parallel_units
    rounds = plural(math.ceil(units / res.total_threads), "round")
    return rounds if units == c.task_count else f"{rounds} of {units:,} block products"


def _wall_terms(plan: Plan) -> str:
    """The predicted wall time's parts, so its numbers add up."""
    c = plan.chosen
    overhead = c.overhead_fraction * c.wall_seconds
    work = c.wall_seconds - overhead - c.fill_drain_seconds - c.cold_seconds
    parts = [f"{_rounds_text(plan)} of work ({format_seconds(work)})",
             f"{format_seconds(overhead)} scheduler overhead"]
    if c.fill_drain_seconds > 0:
        parts.append(f"{format_seconds(c.fill_drain_seconds)} while threads start and finish "
                     f"at different times ({FILL_DRAIN_TASKS:g} of a task)")
    if c.cold_seconds > 0:
        parts.append(f"{format_seconds(c.cold_seconds)} for the first task's cold start")
    return " + ".join(parts)


def _threads_sentence(plan: Plan) -> str | None:
    """Whether a worker's threads run the function side by side: measured, never assumed."""
    m, res = plan.model, plan.resources
    speedup = m.thread_speedup
    if speedup is None:
        return None
    threads = res.threads_per_worker
    what = ("The pipeline's sub-array on two threads of one process" if plan.pipeline
            else "Two calls at once in two threads of one process")
    wait = m.gil_wait_seconds(threads)
    text = (f"{what} ran {speedup:.2f}x as fast as "
            f"one (measured); {plural(threads, 'task')} sharing a worker are predicted "
            f"{m.thread_slowdown(threads):.2f}x slower each"
            + (f", and each waits {format_seconds(wait)} for the GIL to start (counted with "
               "the scheduler overhead)." if wait > 0 else "."))
    if speedup < MIN_THREAD_SPEEDUP:
        why = ("its tasks hold the GIL or a lock (Python code, a store's reads)" if plan.pipeline
               else "The function holds the GIL (Python code)")
        text += (f" {why[0].upper()}{why[1:]}: a worker's threads take turns, so "
                 "extra threads do not help; run it on processes (a LocalCluster with one "
                 "thread per worker, or scheduler='processes') to use every core.")
    return text


def explanation_lines(plan: Plan) -> list[str]:
    """The plan's reasons as sentences, most important first."""
    c, m, res = plan.chosen, plan.model, plan.resources
    overhead_src = ("measured by probes" + (", every worker thread's core kept busy"
                                            if res.distributed else "")
                    if m.overhead_measured else "MODELLED default, not measured")
    per_chunk = m.scheduler_tasks(plan.spec.shape, c.chunk_shape, c.task_count) / c.task_count
    at_once = min(c.parallel_units, res.total_threads)  # as ``evaluate`` prices busy cores
    lines = [
        f"Recommended chunks {c.chunk_shape}: "
        f"{plural(c.task_count, 'input chunk' if plan.pipeline is not None else 'task')} of "
        f"{format_bytes(c.task_bytes)}" + (" each" if c.task_count != 1 else "")
        + (" (overlap halo included)." if any(plan.work.depth) else "."),
        _binding_sentence(plan),
        *([t] if (t := tie_sentence(plan)) else []),
        _time_sentence(plan),
        *([t] if (t := _threads_sentence(plan)) else []),
        *([t] if m.busy_slowdown(c.task_bytes, at_once, res.total_threads) > 1 and (
            t := cores_sentence(cores_at(m.samples, c.task_bytes), at_once, res.total_threads))
          else []),
        *([t] if (t := cold_sentence(m.samples, c.task_bytes, c.wall_seconds)) else []),
        f"Scheduler overhead {format_seconds(m.overhead_seconds_per_task)} per task on "
        f"'{res.scheduler}' ({overhead_src})"
        + (f" x {per_chunk:.1f} tasks per input chunk (the whole graph's after dask's "
           "optimization, modelled)" if m.task_growth is not None else
           f" x {per_chunk:.1f} tasks per chunk" if m.tasks_per_chunk != 1 else "")
        + f"; predicted overhead share {c.overhead_fraction:.1%}.",
        (f"Predicted per input chunk (the work of its {per_chunk:.1f} tasks together): "
         if plan.pipeline is not None and per_chunk > 1.05 else "Predicted per task: ")
        + f"{format_seconds(c.seconds_per_task)}, peak {format_bytes(c.peak_bytes_per_task)}. "
        f"Per worker: {format_bytes(c.peak_bytes_per_worker)} = baseline "
        f"{format_bytes(m.baseline_bytes)} + " + (held_terms(plan) if m.held else
        f"{plural(threads_with_chunks(res, c.task_count), 'thread')} with a chunk x (task "
        "peak + one block in flight)")
        + f", vs {res.target_fraction:.0%} of {format_bytes(res.memory_limit_bytes)} = "
        f"{format_bytes(res.memory_budget_bytes)}.",
        f"Predicted wall time {format_seconds(c.wall_seconds)} on {plural(res.workers, 'worker')} "
        f"x {plural(res.threads_per_worker, 'thread')}: {_wall_terms(plan)}; predictions are "
        "modelled from the measurements above.",
    ]
    lines += [s for s in (_storage_sentence(plan), store_sentence(plan), _auto_sentence(plan))
              if s]
    lines += _current_lines(plan)
    lines += list(plan.notes)
    return lines
