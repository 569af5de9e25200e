"""Edge: run trials of candidate chunks on one client, keep them, recover the cluster after
a failure. Each trial is observed (``cluster.observe``) and diagnosed (``core.diagnose``)."""

from __future__ import annotations

import contextlib
import math
from collections.abc import Callable, Mapping
from typing import Any

from distributed import wait

from chunkpilot.cluster.observe import observe
from chunkpilot.cluster.work import pipeline_collections, trial_collection
from chunkpilot.core.diagnose import diagnose
from chunkpilot.core.observations import Trial
from chunkpilot.errors import StoreReadError
from chunkpilot.sources.readers import source_array
from chunkpilot.types import WorkSpec

#: The unobserved warm-up run never takes longer than this.
WARM_UP_TIMEOUT_S = 60.0

Shape = tuple[int, ...]


class TrialRunner:
    """Runs the same work on one region with different chunks; one :class:`Trial` per run."""

    def __init__(self, client: Any, source: Any, ref: Mapping[str, Any], work: WorkSpec,
                 region: tuple[slice, ...], *, func: Callable[[Any], Any] | None = None,
                 pipeline: Callable[[Any], Any] | None = None, array: str | None = None,
                 timeout_s: float = 120.0, on_trial: Callable[[Trial], None] | None = None,
                 ) -> None:
        self.client, self.source, self.ref, self.work = client, source, ref, work
        self.region, self.func, self.pipeline, self.array = region, func, pipeline, array
        self.timeout_s, self.on_trial = timeout_s, on_trial
        self.trials: list[Trial] = []
        self.by_shape: dict[Shape, list[Trial]] = {}
        self.walls: dict[Shape, list[float]] = {}
        self.failed: set[Shape] = set()
        self.n_workers = len(client.scheduler_info().get("workers", {}))

    def _collections(self, x: Any) -> list[Any]:
        if self.pipeline is not None:
            return pipeline_collections(self.pipeline(x))
        return [trial_collection(x, self.func, self.work)]

    def run(self, chunk: Shape, label: str) -> Trial:
        """Run the work with ``chunk`` chunks, observed; a failed run recovers the cluster."""
        x = source_array(self.source, self.ref, chunk, self.array)[self.region]
        colls = self._collections(x)
        _, obs = observe(self.client, lambda: self.client.gather(self.client.compute(colls)),
                         timeout_s=self.timeout_s)
        if obs.error and obs.error.startswith(StoreReadError.__name__ + ":"):
            raise StoreReadError(obs.error.partition(": ")[2])  # a damaged store: stop tuning
        trial = Trial(label, x.chunks, obs, diagnose(obs))
        self.trials.append(trial)
        self.by_shape.setdefault(chunk, []).append(trial)
        if obs.failed:
            self.failed.add(chunk)
            self._recover()
        else:
            self.walls.setdefault(chunk, []).append(obs.wall_seconds)
        if self.on_trial is not None:
            self.on_trial(trial)
        return trial

    def warm_up(self, chunk: Shape) -> None:
        """One unobserved run on a few chunks: workers import the function's modules, open
        the store and fault in their allocator, so the first trial is not timed cold."""
        x = source_array(self.source, self.ref, chunk, self.array)[self.region]
        n = max(1, self.n_workers)
        small = x[tuple(slice(0, min(length, c[0] * (n if i == 0 else 1)))
                        for i, (length, c) in enumerate(zip(x.shape, x.chunks)))]
        futures: list[Any] = []
        with contextlib.suppress(Exception):  # a failing warm-up is the first trial's finding
            futures = self.client.compute(self._collections(small))
            wait(futures, timeout=min(self.timeout_s, WARM_UP_TIMEOUT_S))
        with contextlib.suppress(Exception):
            self.client.cancel(futures, force=True)
        self._recover()  # a warm-up that killed a worker must not shortchange the first trial

    def _recover(self) -> None:
        """Bring the cluster back to its worker count after restarts or a KilledWorker."""
        with contextlib.suppress(Exception):
            self.client.cancel(list(self.client.futures), force=True)
        with contextlib.suppress(Exception):
            self.client.wait_for_workers(self.n_workers, timeout=60)

    def wall(self, chunk: Shape) -> float:
        """Best clean wall time measured for ``chunk`` (infinite when it never ran cleanly)."""
        return min(self.walls[chunk]) if chunk in self.walls else math.inf

    def best_trial(self, chunk: Shape) -> Trial | None:
        """The fastest clean trial of ``chunk`` (else its last failed one), or ``None``."""
        mine = self.by_shape.get(chunk, [])
        ok = [t for t in mine if not t.observation.failed]
        return min(ok or mine, key=lambda t: t.observation.wall_seconds) if mine else None
