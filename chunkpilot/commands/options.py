"""The options ``advise`` and ``tune`` share, validated once, and the job they describe.

``AdviseOptions`` is the one place the per-call options are named, documented and checked;
:func:`prepare` describes the source and the work once, so ``tune`` hands the same
:class:`Job` to the planner instead of describing it twice.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, fields
from typing import Any

from chunkpilot import config
from chunkpilot.cluster.resources import is_client, resolve_resources
from chunkpilot.core.model import Sample
from chunkpilot.errors import InvalidArgumentError, InvalidArgumentTypeError
from chunkpilot.sources.describe import SourceRef, describe
from chunkpilot.sources.storage_options import as_storage_options
from chunkpilot.sources.urls import expand_home
from chunkpilot.types import (
    ArraySpec,
    Resources,
    WorkSpec,
    check_depth_fits,
    normalize_axes,
    parse_depth,
)
from chunkpilot.units import SizeLike, parse_seconds

#: Older keyword spellings still accepted (no warning): old name -> current name.
RENAMED = {"profile_timeout": "profile_timeout_s", "trial_timeout": "trial_timeout_s"}


def check_timeout(value: Any, name: str) -> float:
    """A positive, finite number of seconds (or a duration like ``"60s"``), else
    :class:`InvalidArgumentError`."""
    return parse_seconds(value, name=name)


def renamed(kwargs: dict[str, Any]) -> dict[str, Any]:
    """``kwargs`` with older spellings (``profile_timeout=``) under their current names."""
    out = dict(kwargs)
    for old, new in RENAMED.items():
        if old in out:
            if new in out:
                raise InvalidArgumentError(f"Expected {new} or {old} (its older name), not both.")
            out[new] = out.pop(old)
    return out


@dataclass(frozen=True, slots=True)
class AdviseOptions:
    """Everything ``advise`` and ``tune`` take besides the source (keyword arguments)."""

    func: Callable[[Any], Any] | None = None
    """Per-block function as ``map_blocks`` would call it; default: just load the block."""
    pipeline: Callable[[Any], Any] | None = None
    """``fn(x)`` taking the whole dask array and returning what you would compute (not with
    ``func``); plans its input chunks (docs/pipelines.md)."""
    array: str | None = None
    """Array inside a zarr group or HDF5 file."""
    variable: str | None = None
    """Data variable of an xarray Dataset or netCDF file (same as ``array``)."""
    workers: int | None = None
    """Worker processes to plan for; default: this machine, as LocalCluster would choose."""
    threads_per_worker: int | None = None
    """Threads per worker."""
    memory_limit: SizeLike | None = None
    """Memory per worker as LocalCluster takes it: ``"4GiB"``, ``"auto"`` (this machine's
    memory shared out, the default) or a fraction such as ``0.5``."""
    scheduler: Any = "processes"
    """dask's scheduler names: ``"processes"`` (a LocalCluster of worker processes, started by
    chunkpilot on 127.0.0.1 when it needs one), ``"threads"``, ``"synchronous"``, a
    ``distributed.Client`` or a scheduler address ``tcp://host:port``."""
    client: Any = None
    """A ``distributed.Client`` (same as ``scheduler=client``)."""
    keep_whole: Any = ()
    """Axes (ints or dim names) that must not be split."""
    depth: Any = None
    """Overlap depth per axis, as ``map_overlap`` takes it."""
    drop_axis: Any = ()
    """Axes the function's output lacks, as ``map_blocks(drop_axis=)`` takes them."""
    probe_overhead: bool = True
    """Measure the scheduler's per-task overhead (else a modelled default, said so)."""
    profile_timeout_s: float | str | None = None
    """Seconds one profiling sample may run before it is killed (default: dask config
    ``chunkpilot.advise.profile-timeout``, 60 s)."""
    on_sample: Callable[[Sample], None] | None = None
    """Called with every profiling sample as it is measured (progress)."""
    warn_tasks: int | None = None
    """Warn when the plan's graph has more tasks than this, and prefer tied candidates under
    it (``chunkpilot.pipeline.warn-tasks``; ``core.taskcap``)."""
    max_tasks: int | None = None
    """Re-plan with bigger chunks above this many tasks (``chunkpilot.pipeline.max-tasks``)."""
    seed: int = 0
    """Seed of the synthetic sample data (sources without data to read): same seed, same data."""
    storage_options: Any = None
    """fsspec options for a URL source (``s3://``, ``gs://``, ``https://``): ``endpoint_url``,
    ``key``/``secret``, ``anon``, ... Kept as :class:`StorageOptions`; credentials never
    appear in output, JSON, reports or errors."""

    def __post_init__(self) -> None:
        for name in ("func", "pipeline", "on_sample"):
            value = getattr(self, name)
            if value is not None and not callable(value):
                raise InvalidArgumentTypeError(
                    f"Expected {name} as a callable. Got {type(value).__name__} instead.")
        if self.func is not None and self.pipeline is not None:
            raise InvalidArgumentError(
                "Expected either func (per block) or pipeline (whole array). Got both.")
        if isinstance(self.seed, bool) or not isinstance(self.seed, int) or self.seed < 0:
            raise InvalidArgumentError(f"Expected seed as an int >= 0. Got {self.seed!r} instead.")
        if is_client(self.scheduler):
            if self.client is not None and self.client is not self.scheduler:
                raise InvalidArgumentError("Expected one Client (scheduler= or client=). Got two.")
            object.__setattr__(self, "client", self.scheduler)
            object.__setattr__(self, "scheduler", "processes")
        timeout = self.profile_timeout_s
        object.__setattr__(self, "profile_timeout_s", config.profile_timeout_s() if timeout is None
                           else check_timeout(timeout, "profile_timeout_s"))
        if self.warn_tasks is None or self.max_tasks is None:
            warn, refuse = config.task_limits()
            for name, default in (("warn_tasks", warn), ("max_tasks", refuse)):
                if getattr(self, name) is None:
                    object.__setattr__(self, name, default)
        object.__setattr__(self, "storage_options", as_storage_options(self.storage_options))
        if self.array is not None and self.variable is not None and self.array != self.variable:
            raise InvalidArgumentError(
                f"Expected one name (array or variable). Got array={self.array!r}, "
                f"variable={self.variable!r}.")

    def resources(self) -> Resources:
        """What will run the work: from the client, the scheduler address or this machine."""
        return resolve_resources(self.scheduler, workers=self.workers,
                                 threads_per_worker=self.threads_per_worker,
                                 memory_limit=self.memory_limit, client=self.client)

    @property
    def name(self) -> str | None:
        """The array or variable to plan for inside the source, if one was named."""
        return self.array if self.array is not None else self.variable

    @classmethod
    def from_kwargs(cls, func: Callable[[Any], Any] | None,
                    kwargs: dict[str, Any]) -> AdviseOptions:
        """Options from keyword arguments; an unknown name is a clear error, not a TypeError."""
        kwargs = renamed(kwargs)
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(kwargs) - known)
        if unknown:
            raise InvalidArgumentTypeError(
                f"Expected options among {sorted(known - {'func'})}. Got unknown {unknown}.")
        return cls(func=func, **kwargs)


@dataclass(frozen=True, slots=True)
class Job:
    """A source described and its work validated, once: what the planner and trials use."""

    source: Any
    """The user's source object or path, as given."""
    spec: ArraySpec
    """Shape, dtype, storage and current chunks."""
    ref: SourceRef
    """Where sample blocks come from (store path, in-memory array, synthetic)."""
    work: WorkSpec
    """Axes kept whole, overlap depth, dropped axes."""
    options: AdviseOptions
    """The options the job was prepared with."""


def build_work(spec: ArraySpec, keep_whole: Any = (), depth: Any = None,
               drop_axis: Any = ()) -> WorkSpec:
    """Validate keep_whole/depth/drop_axis against the array (axis numbers or dim names)."""
    kw = normalize_axes(keep_whole, spec.ndim, spec.dims, "keep_whole")
    drop = normalize_axes(drop_axis, spec.ndim, spec.dims, "drop_axis")
    depth_ = check_depth_fits(parse_depth(depth, spec.ndim, spec.dims), spec.shape, spec.dims)
    return WorkSpec(spec.ndim, kw, depth_, drop)


def prepare(source: Any, options: AdviseOptions) -> Job:
    """Describe ``source`` and validate the work against it."""
    source = expand_home(source)  # the trials open it again
    spec, ref = describe(source, array=options.name, storage_options=options.storage_options)
    work = build_work(spec, options.keep_whole, options.depth, options.drop_axis)
    return Job(source, spec, ref, work, options)
