"""The public entry point ``advise``: describe, measure, plan. The imperative shell."""

from __future__ import annotations

import contextlib
import math
import warnings
from collections.abc import Callable, Iterator
from typing import Any

import dask.config

from chunkpilot.agree import DatasetPlan
from chunkpilot.cluster import connect, is_address, local_cluster
from chunkpilot.errors import InvalidArgumentError, InvalidArgumentTypeError, ModelledValueWarning
from chunkpilot.measure.overhead import probe_overhead, worker_baseline_bytes
from chunkpilot.measure.profile import Profile, profile_function
from chunkpilot.model import DEFAULT_OVERHEAD_S, Sample, fit_cost_model
from chunkpilot.plan import Plan, check_smallest_block, make_plan
from chunkpilot.resources import resolve_resources
from chunkpilot.sources import describe, dask_auto_shape
from chunkpilot.types import ArraySpec, Resources, WorkSpec, normalize_axes, parse_depth
from chunkpilot.units import SizeLike, format_bytes
from chunkpilot.xarray_support import advise_dataset, is_dataset

#: Idle dask worker memory assumed when no cluster was probed (distributed's imports).
MODELLED_WORKER_BASELINE_BYTES = 160 * 2**20


def build_work(spec: ArraySpec, keep_whole: Any = (), depth: Any = None,
               drop_axis: Any = ()) -> WorkSpec:
    """Validate keep_whole/depth/drop_axis against the array (axis numbers or dim names)."""
    kw = normalize_axes(keep_whole, spec.ndim, spec.dims, "keep_whole")
    drop = normalize_axes(drop_axis, spec.ndim, spec.dims, "drop_axis")
    return WorkSpec(spec.ndim, kw, parse_depth(depth, spec.ndim, spec.dims), drop)


def check_timeout(value: Any, name: str) -> float:
    """A positive, finite number of seconds, or :class:`InvalidArgumentError`."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value < math.inf:
        raise InvalidArgumentError(f"Expected {name} as a positive number of seconds. "
                                   f"Got {value!r} instead.")
    return float(value)


def check_func(func: Any) -> Callable[[Any], Any] | None:
    if func is not None and not callable(func):
        raise InvalidArgumentTypeError(
            f"Expected func as a callable taking one block. Got {type(func).__name__} instead."
        )
    return func


def sandbox_env(res: Resources) -> dict[str, str]:
    """Environment a worker would run the function with (distributed pins BLAS threads)."""
    if not res.distributed:
        return {}
    env = dask.config.get("distributed.nanny.pre-spawn-environ", default={}) or {}
    return {k: str(v) for k, v in env.items()}


@contextlib.contextmanager
def scheduler_client(res: Resources, client: Any = None) -> Iterator[Any]:
    """The client that will run the work: the user's, a connection, or a fresh LocalCluster."""
    if client is not None or res.scheduler == "threads":
        yield client
    elif is_address(res.scheduler):
        with connect(res.scheduler) as c:
            yield c
    else:
        with local_cluster(res) as c:
            yield c


def measure_overhead(res: Resources, client: Any = None, probe: bool = True) -> tuple[float, bool, int | None]:
    """(seconds per task, measured?, idle worker bytes or None) for the scheduler in ``res``."""
    if not probe:
        kind = "distributed" if res.distributed else "threads"
        return DEFAULT_OVERHEAD_S[kind], False, None
    if res.scheduler == "threads":
        return probe_overhead("threads", num_workers=res.total_threads), True, None
    with scheduler_client(res, client) as c:
        return probe_overhead(c), True, worker_baseline_bytes(c)


def advise(
    source: Any,
    func: Callable[[Any], Any] | None = None,
    *,
    array: str | None = None,
    variable: str | None = None,
    workers: int | None = None,
    threads_per_worker: int | None = None,
    memory_limit: SizeLike | None = None,
    scheduler: str = "local",
    client: Any = None,
    keep_whole: Any = (),
    depth: Any = None,
    drop_axis: Any = (),
    probe_overhead: bool = True,
    profile_timeout: float = 60.0,
    on_sample: Callable[[Sample], None] | None = None,
    pipeline: Callable[[Any], Any] | None = None,
    warn_tasks: int = 100_000,
    max_tasks: int = 1_000_000,
) -> Plan | DatasetPlan:
    """Measure ``func`` on sample blocks and recommend a chunk shape for ``source``.

    Parameters
    ----------
    source : numpy, dask, zarr or xarray array, xarray Dataset, or a zarr/HDF5/netCDF4 path
    func : callable, optional
        Per-block function as ``map_blocks`` would call it; default: just load the block.
    array, variable : name of the array / variable inside a store, file or Dataset. A Dataset
        without one is planned per data variable and returns a ``DatasetPlan`` whose
        ``chunks_by_dim`` every variable fits (see ``chunkpilot.agree``).
    workers, threads_per_worker, memory_limit :
        Resources to plan for; default: this machine, as LocalCluster would choose.
    scheduler : {"local", "threads"} or "tcp://host:port"
        Which scheduler will run the work (its overhead is probed).
    keep_whole : axes (ints or dim names) that must not be split.
    depth : overlap depth per axis, as ``map_overlap`` takes it.
    drop_axis : axes (ints or dim names) the function's output lacks, as ``map_blocks``
        takes them. Each profiled output must have the block's ndim minus these (lengths
        may change); anything else is a :class:`ProfilingError`.
    profile_timeout : seconds one profiling sample may run before it is killed.
    pipeline : callable, optional
        ``fn(x)`` taking the whole dask array and returning what you would compute (dask
        array, scalar, tuple); plans its input chunks (see docs/pipelines.md). Not with func.
    warn_tasks, max_tasks : warn / refuse when a pipeline's graph has more tasks than this.

    Returns
    -------
    Plan
        ``plan.chunks`` for ``x.rechunk(plan.chunks)``; ``plan.explain()`` for the reasons.
    """
    func = check_func(func)
    profile_timeout = check_timeout(profile_timeout, "profile_timeout")
    if pipeline is not None:
        check_pipeline(func, pipeline)
    name = _one_name(array, variable)
    if name is None and is_dataset(source) and pipeline is None:
        if drop_axis:
            raise InvalidArgumentError(
                f"Expected variable=NAME with drop_axis={drop_axis!r}: variables of a Dataset "
                "differ in dims. Got a whole Dataset instead."
            )
        return advise_dataset(source, func, workers=workers, threads_per_worker=threads_per_worker,
                              memory_limit=memory_limit, scheduler=scheduler, client=client,
                              keep_whole=keep_whole, depth=depth, probe_overhead=probe_overhead,
                              profile_timeout=profile_timeout, on_sample=on_sample)
    spec, ref = describe(source, array=name)
    work = build_work(spec, keep_whole, depth, drop_axis)
    res = resolve_resources(scheduler, workers=workers, threads_per_worker=threads_per_worker,
                            memory_limit=memory_limit, client=client)
    check_smallest_block(spec, work, res)  # refuse before starting clusters or sandboxes
    overhead, measured, worker_base = measure_overhead(res, client, probe_overhead)
    notes: list[str] = []
    if not measured:
        notes.append("Scheduler overhead is a MODELLED default (probe disabled), not measured.")
        warnings.warn(notes[-1] + " Run with probing for a measured value.", ModelledValueWarning,
                      stacklevel=2)
    base_guess = worker_base or (MODELLED_WORKER_BASELINE_BYTES if res.distributed else 0)
    if pipeline is not None:
        from chunkpilot.pipeline.advise import advise_pipeline
        from chunkpilot.pipeline.rules import GraphLimits

        return advise_pipeline(
            pipeline, spec, ref, work, res, overhead_seconds_per_task=overhead,
            overhead_measured=measured, baseline_bytes=base_guess, env=sandbox_env(res),
            timeout_s=profile_timeout, limits=GraphLimits(warn_tasks, max_tasks),
            dask_auto_shape=dask_auto_shape(spec), on_sample=on_sample,
            notes=tuple(notes + list(ref.get("notes", ()))
                        + _profile_notes_baseline(res, worker_base)))
    prof = profile_function(func, spec, work, res, ref, env=sandbox_env(res),
                            baseline_guess_bytes=base_guess, timeout_s=profile_timeout,
                            on_sample=on_sample)
    notes += _profile_notes(prof, res, worker_base) + list(ref.get("notes", ()))
    baseline = worker_base if worker_base is not None else (
        MODELLED_WORKER_BASELINE_BYTES if res.distributed else 0)
    model = fit_cost_model(prof.samples, overhead_seconds_per_task=overhead,
                           overhead_measured=measured, baseline_bytes=baseline,
                           output_ratio=prof.output_ratio)
    return make_plan(spec, work, res, model, dask_auto_shape=dask_auto_shape(spec),
                     notes=tuple(notes))


def _profile_notes_baseline(res: Resources, worker_base: int | None) -> list[str]:
    if res.distributed and worker_base is None:
        return [f"Worker baseline memory is MODELLED "
                f"({format_bytes(MODELLED_WORKER_BASELINE_BYTES)}), not measured."]
    return []


def check_pipeline(func: Any, pipeline: Any) -> None:
    """``pipeline`` must be callable and excludes ``func``."""
    if func is not None:
        raise InvalidArgumentError(
            "Expected either func (per block) or pipeline (whole array). Got both."
        )
    if not callable(pipeline):
        raise InvalidArgumentTypeError(
            f"Expected pipeline as a callable taking a dask array. Got {type(pipeline).__name__}."
        )


def _one_name(array: str | None, variable: str | None) -> str | None:
    if array is not None and variable is not None and array != variable:
        raise InvalidArgumentError(
            f"Expected one name (array or variable). Got array={array!r}, variable={variable!r}."
        )
    return array if array is not None else variable


def _profile_notes(prof: Profile, res: Resources, worker_base: int | None) -> list[str]:
    notes = []
    if not prof.real_data:
        notes.append("Samples were synthetic data of the same dtype (no store to read from).")
    for s in prof.samples:
        if not s.ok:  # a finding about the function: the plan steers below this size
            size = format_bytes(s.nbytes)
            what = (f"needs more than {format_bytes(res.memory_limit_bytes)} per block of {size}"
                    if (s.error or "").startswith("oom") else f"fails on a block of {size}")
            notes.append(f"Finding: the function {what} {s.shape} ({s.error}); plans stay "
                         f"below {size} per block.")
    if res.distributed and worker_base is None:
        notes.append(f"Worker baseline memory is MODELLED ({format_bytes(MODELLED_WORKER_BASELINE_BYTES)}), "
                     "not measured.")
    return notes
