"""Plan one prepared job on given resources: refuse early, probe, measure, plan.

Shared by ``advise`` (one array or each Dataset variable) and ``tune`` (its starting plan).
"""

from __future__ import annotations

import dataclasses
import warnings
from typing import Any

from chunkpilot import config
from chunkpilot.commands.options import Job
from chunkpilot.core.evaluate import check_smallest_block
from chunkpilot.core.failed import beyond_ran
from chunkpilot.core.model import CostModel, fit_cost_model
from chunkpilot.core.plan import Plan, make_plan
from chunkpilot.core.shapes import dask_auto_shape
from chunkpilot.core.taskcap import GraphLimits, model_tasks, task_warning, within_task_cap
from chunkpilot.errors import GraphSizeWarning, ModelledValueWarning
from chunkpilot.measure.environ import sandbox_env
from chunkpilot.measure.overhead import SchedulerProbe, measure_scheduler
from chunkpilot.measure.profile import Profile, profile_function
from chunkpilot.measure.sandbox import sandbox_pool
from chunkpilot.measure.store import probe_store_for
from chunkpilot.measure.time_budget import TimeBudget
from chunkpilot.pipeline.advise import advise_pipeline
from chunkpilot.types import Resources
from chunkpilot.units import format_bytes, format_seconds

#: Idle dask worker memory assumed when no cluster was probed (distributed's imports).
MODELLED_WORKER_BASELINE_BYTES = 160 * 2**20
#: Said when samples were not cut from the user's data (a dask or xarray array with no file).
SYNTHETIC_NOTE = "Samples were synthetic data of the same dtype (no store to read from)."


def advise_job(job: Job, res: Resources, client: Any = None,
               probe: SchedulerProbe | None = None) -> Plan:
    """Plan ``job`` for ``res``: refuse early, probe the scheduler (unless ``probe`` is
    given: a Dataset's variables share one), measure, plan."""
    check_smallest_block(job.spec, job.work, res)  # refuse before starting any sandbox
    budget = TimeBudget.start(config.advise_budget_s())  # counted from the probe on
    with sandbox_pool():  # the sandboxes below fork from one warm interpreter
        return _measure_and_plan(job, res, client, probe, budget)


def probe_scheduler(res: Resources, client: Any, enabled: bool) -> SchedulerProbe:
    """The scheduler's per-task overhead for ``res`` (pooled with this machine's recent
    probes), or the modelled default when probing is disabled."""
    return measure_scheduler(res, client, enabled, config.probe_history())


def _measure_and_plan(job: Job, res: Resources, client: Any,
                      probe: SchedulerProbe | None, budget: TimeBudget | None = None) -> Plan:
    opts, spec = job.options, job.spec
    policy = config.policy()
    if probe is None:
        probe = probe_scheduler(res, client, opts.probe_overhead)
    notes = _probe_notes(probe, res)
    limits = GraphLimits(opts.warn_tasks, opts.max_tasks)
    baseline = probe.worker_baseline_bytes
    if baseline is None:
        baseline = MODELLED_WORKER_BASELINE_BYTES if res.distributed else 0
    if opts.pipeline is not None:
        plan = advise_pipeline(
            opts.pipeline, spec, job.ref, job.work, res,
            overhead_seconds_per_task=probe.overhead_seconds_per_task,
            overhead_measured=probe.measured, baseline_bytes=baseline, env=sandbox_env(res),
            timeout_s=opts.profile_timeout_s, limits=limits, on_sample=opts.on_sample,
            seed=opts.seed, policy=policy, budget=budget)
        if job.ref.get("kind") == "synthetic":
            notes.append(SYNTHETIC_NOTE)
        notes.append(blas_note())  # the pipeline's runs pin them too (pipeline.child)
        return dataclasses.replace(
            plan, notes=tuple(notes) + tuple(job.ref.get("notes", ())) + plan.notes)
    prof = profile_function(opts.func, spec, job.work, res, job.ref, env=sandbox_env(res),
                            baseline_guess_bytes=baseline, timeout_s=opts.profile_timeout_s,
                            on_sample=opts.on_sample, seed=opts.seed, budget=budget)
    model = fit_cost_model(prof.samples, overhead_seconds_per_task=probe.overhead_seconds_per_task,
                           overhead_measured=probe.measured, baseline_bytes=baseline,
                           output_ratio=prof.output_ratio)
    notes += _profile_notes(prof, res, model) + list(job.ref.get("notes", ()))
    if job.ref.get("kind") == "remote":  # issue 14: object store; samples timed the function
        model = dataclasses.replace(model, store=probe_store_for(job.ref, res, client))
    plan = make_plan(spec, job.work, res, model,
                     dask_auto_shape=dask_auto_shape(spec, job.work.keep_whole),
                     notes=tuple(notes), policy=policy, warn_tasks=limits.warn_tasks)
    plan, capped = within_task_cap(plan, model_tasks(plan), limits)
    too_many = task_warning(plan.chosen.scheduler_tasks, plan.binding_constraint, limits)
    if too_many is not None:
        warnings.warn(too_many, GraphSizeWarning, stacklevel=4)
    extra = tuple(capped) + ((too_many,) if too_many else ())
    return dataclasses.replace(plan, notes=plan.notes + extra)


def _probe_notes(probe: SchedulerProbe, res: Resources) -> list[str]:
    """Say which numbers are modelled rather than measured."""
    notes = []
    if not probe.measured:
        notes.append("Scheduler overhead is a MODELLED default (probe disabled), not measured.")
        warnings.warn(notes[-1] + " Run with probing for a measured value.",
                      ModelledValueWarning, stacklevel=3)
    p = probe.pooled
    if p is not None and p.probes > 1:
        this_run = (f"the newest {format_seconds(p.newest_age_seconds)} ago; not probed again "
                    "in this run (chunkpilot.probe.reuse-within)" if p.reused else
                    f"this run's probe read {format_seconds(p.this_run_seconds_per_task)}")
        notes.append(f"Scheduler overhead: the median of this machine's {p.probes} most recent "
                     f"probes of the same setup ({format_seconds(p.seconds_per_task)} per task; "
                     f"{this_run}): one probe moves by up to 1.4x between runs "
                     "(chunkpilot.probe.history).")
    if res.distributed and probe.worker_baseline_bytes is None:
        notes.append(f"Worker baseline memory is MODELLED "
                     f"({format_bytes(MODELLED_WORKER_BASELINE_BYTES)}), not measured.")
    return notes


def blas_note(pools: int | None = None) -> str:
    """What the measurements assumed of BLAS/OpenMP threads (samples and pipeline runs hold
    them to one per dask thread): unpinned on the threaded scheduler, a qr pipeline ran 5-15x
    slower than measured (hunt 19)."""
    return (f"BLAS/OpenMP thread pools{f' ({pools})' if pools else ''} were held to one "
            "thread per dask thread while measuring, as dask's workers run them "
            "(OMP_NUM_THREADS=1). On the threaded scheduler, compute under "
            "threadpoolctl.threadpool_limits(1) (or set OMP_NUM_THREADS=1) for the speed "
            "measured here.")


def _profile_notes(prof: Profile, res: Resources, model: CostModel) -> list[str]:
    notes = list(prof.notes)
    if not prof.real_data:
        notes.append(SYNTHETIC_NOTE)
    if prof.blas_pools_pinned:
        notes.append(blas_note(prof.blas_pools_pinned))
    if prof.reshaped is not None:
        block, out = prof.reshaped
        notes.append(f"The function returns blocks of other lengths than it gets ({block} -> "
                     f"{out} on a sample): x.map_blocks(func) would carry the input's chunks "
                     "for its output; pass chunks= with the output's chunks (map_blocks "
                     "documents it), so dask knows them.")
    for s in prof.samples:
        if not s.ok:  # a finding about the function: the plan steers under this size
            size = format_bytes(s.nbytes)
            what = (f"needs more than {format_bytes(res.memory_limit_bytes)} per block of {size}"
                    if s.error_kind == "oom" else f"fails on a block of {size}")
            cap = (f"plans stay at or below {format_bytes(model.block_limit_bytes or 0)} per "
                   "block, the largest block that ran" if beyond_ran(model, s.nbytes)
                   else "a bigger block ran, so it does not cap the plan")
            notes.append(f"Finding: the function {what} {s.shape} ({s.failure}); {cap}.")
    return notes
