"""Edge: run trials of candidate chunks, keep them, recover after a failure.

The same work runs on one region with different chunks, on a distributed client
(:class:`ClientExecutor`) or on dask's threaded scheduler (:class:`ThreadsExecutor`); each
run is observed and diagnosed (``core.diagnose``) the same way.
"""

from __future__ import annotations

import contextlib
import math
import statistics
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Protocol

import dask
from dask.graph_manipulation import clone
from distributed import wait

from chunkpilot.cluster.observe import observe
from chunkpilot.cluster.threads import observe_threads, trim_process_memory
from chunkpilot.cluster.work import pipeline_collections, trial_collection
from chunkpilot.core.diagnose import diagnose
from chunkpilot.core.metrics import active_seconds, trial_runs_seconds
from chunkpilot.core.observations import Observation, Trial
from chunkpilot.core.reruns import MIN_TRIAL_SECONDS, first_run_aside, median_run, more_runs
from chunkpilot.errors import PipelineBuildError, StoreReadError
from chunkpilot.pipeline.writes import WritesError, check_no_store_layers, refused_writes
from chunkpilot.sources.readers import source_array
from chunkpilot.types import WorkSpec

#: The unobserved warm-up run never takes longer than this.
WARM_UP_TIMEOUT_S = 60.0
#: Chunks (along the first axis) each worker runs to warm up: two, so two threads start.
WARM_UP_CHUNKS = 2

Shape = tuple[int, ...]


class Executor(Protocol):
    """Where trials run: observe one computation, warm up, recover after a failure."""

    workers: int

    def observe(self, collections: Sequence[Any], timeout_s: float) -> Observation: ...

    def warm_up(self, collections: Sequence[Any], timeout_s: float) -> None: ...

    def recover(self) -> None: ...


def _trim() -> None:  # runs on each worker
    trim_process_memory()


class ClientExecutor:
    """Trials on a distributed cluster through ``client``."""

    def __init__(self, client: Any) -> None:
        self.client = client
        self.workers = len(client.scheduler_info().get("workers", {}))

    def observe(self, collections: Sequence[Any], timeout_s: float) -> Observation:
        with contextlib.suppress(Exception):  # each trial's memory starts from its own baseline
            self.client.run(_trim)
        c = self.client
        return observe(c, lambda: c.gather(c.compute(list(collections))), timeout_s=timeout_s)[1]

    def warm_up(self, collections: Sequence[Any], timeout_s: float) -> None:
        """Run ``collections`` once on *every* worker, unobserved, pinned there under keys of
        its own: left to the scheduler, a one-chunk warm-up (fft_time's whole-axis chunks)
        warmed one worker of two and the other ran the first trial cold."""
        futures: list[Any] = []
        with contextlib.suppress(Exception):  # a failing warm-up is the first trial's finding
            for i, addr in enumerate(self.client.scheduler_info().get("workers", {})):
                mine = clone(*collections, seed=i)  # one collection comes back bare
                futures += self.client.compute(list(mine) if len(collections) > 1 else [mine],
                                               workers=[addr], allow_other_workers=False)
            wait(futures, timeout=timeout_s)
        with contextlib.suppress(Exception):
            self.client.cancel(futures, force=True)
        self.recover()  # a warm-up that killed a worker must not shortchange the first trial

    def recover(self) -> None:
        """Bring the cluster back to its worker count after restarts or a KilledWorker."""
        with contextlib.suppress(Exception):
            self.client.cancel(list(self.client.futures), force=True)
        with contextlib.suppress(Exception):
            self.client.wait_for_workers(self.workers, timeout=60)


class ThreadsExecutor:
    """Trials on dask's threaded scheduler in this process."""

    workers = 1

    def __init__(self, threads: int, memory_limit_bytes: int) -> None:
        self.threads, self.memory_limit_bytes = threads, memory_limit_bytes

    def observe(self, collections: Sequence[Any], timeout_s: float) -> Observation:
        return observe_threads(collections, num_workers=self.threads,
                               memory_limit_bytes=self.memory_limit_bytes, timeout_s=timeout_s)

    def warm_up(self, collections: Sequence[Any], timeout_s: float) -> None:
        with contextlib.suppress(Exception):
            dask.compute(*collections, scheduler="threads", num_workers=self.threads)

    def recover(self) -> None:
        trim_process_memory()


def warm_up_region(region: tuple[slice, ...], chunk: Shape, full_axes: Sequence[int] = ()
                   ) -> tuple[slice, ...]:
    """The warm-up's corner of ``region``: ``WARM_UP_CHUNKS`` chunks along the first axis,
    one along the others, the whole region along ``full_axes`` (``pipeline.extent``).

    >>> warm_up_region((slice(0, 4096), slice(0, 4096)), (512, 1024), (1,))
    (slice(0, 1024, None), slice(0, 4096, None))
    """
    return tuple(r if i in full_axes else
                 slice(r.start, min(r.stop, r.start + c * (WARM_UP_CHUNKS if i == 0 else 1)))
                 for i, (r, c) in enumerate(zip(region, chunk, strict=True)))


class TrialRunner:
    """Runs the same work on one region with different chunks; one :class:`Trial` per run."""

    def __init__(self, executor: Executor, source: Any, ref: Mapping[str, Any], work: WorkSpec,
                 region: tuple[slice, ...], *, func: Callable[[Any], Any] | None = None,
                 pipeline: Callable[[Any], Any] | None = None, array: str | None = None,
                 timeout_s: float = 120.0, on_trial: Callable[[Trial], None] | None = None,
                 min_seconds: float = MIN_TRIAL_SECONDS, full_axes: Sequence[int] = ()) -> None:
        self.executor, self.source, self.ref, self.work = executor, source, ref, work
        self.full_axes = tuple(full_axes)  # a pipeline's axes no region may cut
        self.region, self.func, self.pipeline, self.array = region, func, pipeline, array
        self.timeout_s, self.on_trial, self.min_seconds = timeout_s, on_trial, min_seconds
        self.trials: list[Trial] = []
        self.by_shape: dict[Shape, list[Trial]] = {}
        self.failed: set[Shape] = set()

    def _collections(self, chunk: Shape, region: tuple[slice, ...]) -> tuple[Any, list[Any]]:
        x = source_array(self.source, self.ref, chunk, self.array, region)
        if self.pipeline is not None:  # a plan= made without advise never built it
            try:
                with refused_writes():
                    colls = pipeline_collections(self.pipeline(x))
                for c in colls:
                    check_no_store_layers(getattr(c.__dask_graph__(), "layers", {}))
            except WritesError as e:
                raise PipelineBuildError(str(e)) from None
            return x, colls
        return x, [trial_collection(x, self.func, self.work)]

    def run(self, chunk: Shape, label: str, expected_s: float | None = None) -> Trial:
        """Run the work with ``chunk`` chunks, observed (a short trial, the first trial, or
        one far slower than the ``expected_s`` the model predicts, several times:
        ``core.reruns``; the median run of those not set aside as outliers is kept); a
        failed run recovers the cluster."""
        x, colls = self._collections(chunk, self.region)
        first_trial = not self.trials
        runs: list[Observation] = []
        active: list[float] = []
        t0 = time.perf_counter()
        while not runs or (not runs[-1].failed and more_runs(
                active, time.perf_counter() - t0, self.min_seconds, expected_s, first_trial)):
            obs = self.executor.observe(colls, self.timeout_s)
            if obs.error and obs.error_type == StoreReadError.__name__:  # damaged store: stop
                raise StoreReadError(obs.error.removeprefix(f"{obs.error_type}: "))
            runs.append(obs)
            active.append(active_wall(obs))
        first = 0
        if not obs.failed:
            first = int(first_run_aside(active, expected_s, first_trial))  # 1: set aside
            obs = runs[first + median_run(active[first:])]
        trial = Trial(label, x.chunks, obs, diagnose(obs),
                      runs_active_s=tuple(active[first:]) if len(runs) > 1 else (),
                      outlier_runs_s=tuple(active[:first]))
        self.trials.append(trial)
        self.by_shape.setdefault(chunk, []).append(trial)
        if obs.failed:
            self.failed.add(chunk)
            self.executor.recover()
        if self.on_trial is not None:
            self.on_trial(trial)
        return trial

    def warm_up(self, chunk: Shape) -> None:
        """A few chunks on every worker, unobserved, before the first trial: each imports the
        function's modules and opens the store, so the first trial is not timed cold. Also
        running the whole advised trial once (tried) did not shrink the first trial's excess
        in a full benchmark run: local rows' first trials timed a median 1.02x their
        benchmark time, the later ones 0.98x, as before (1.01x / 0.96x over 12 runs)."""
        few = warm_up_region(self.region, chunk, self.full_axes)
        self.executor.warm_up(self._collections(chunk, few)[1],
                              min(self.timeout_s, WARM_UP_TIMEOUT_S))

    def walls(self, chunk: Shape) -> list[float]:
        """Every clean run's active time (first task to last) for ``chunk``, repeats within a
        trial included."""
        return [s for t in self.by_shape.get(chunk, ()) if not t.observation.failed
                for s in trial_runs_seconds(t)]

    def wall(self, chunk: Shape) -> float:
        """Median clean active time measured for ``chunk`` (infinite when none ran cleanly)."""
        runs = self.walls(chunk)
        return statistics.median(runs) if runs else math.inf

    def best_trial(self, chunk: Shape) -> Trial | None:
        """The fastest clean trial of ``chunk`` (else its last failed one), or ``None``."""
        mine = self.by_shape.get(chunk, [])
        ok = [t for t in mine if not t.observation.failed]
        return min(ok, key=lambda t: active_wall(t.observation)) if ok else (
            mine[-1] if mine else None)


#: A trial's time is counted from its first task to its last (the start-up gap apart).
active_wall = active_seconds
