"""The measured cost model: time and peak memory of one task as lines in block bytes.

Pure: takes profiling samples (ints and floats) and fits ``y = fixed + slope * bytes``
by least squares, clipped to non-negative coefficients. The memory slope is the
function's memory multiplier: input + temporaries + output, per input byte.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from chunkpilot.core.store import StoreModel

#: Scheduler overhead per task when it was not probed (DEVELOPERS.md orders of magnitude).
DEFAULT_OVERHEAD_S = {"threads": 100e-6, "distributed": 1e-3}


@dataclass(frozen=True, slots=True)
class Sample:
    """One profiling run of the user's function on one block, in a fresh process."""

    nbytes: int
    """Bytes of the input block given to the function (including any overlap halo)."""
    shape: tuple[int, ...]
    """Shape of that block."""
    seconds: float | None = None
    """Wall time of the function call (median of repeats); ``None`` when it failed."""
    peak_bytes: int | None = None
    """Peak resident memory above the process baseline, input block included."""
    error: str | None = None
    """Why the sample failed (exception, crash, out of memory, timeout), or ``None``."""

    @property
    def ok(self) -> bool:
        return self.error is None and self.seconds is not None and self.peak_bytes is not None

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["bytes"] = d.pop("nbytes")
        d["shape"] = list(self.shape)
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Sample:
        d = dict(d)
        d["nbytes"] = d.pop("bytes")
        d["shape"] = tuple(d["shape"])
        return cls(**d)


@dataclass(frozen=True, slots=True)
class LinearFit:
    """``y = fixed + slope * x`` with its coefficient of determination."""

    fixed: float
    """Intercept (seconds or bytes at zero block size)."""
    slope: float
    """Per-byte cost (seconds per byte, or bytes per byte = memory multiplier)."""
    r2: float
    """Fit quality in [0, 1]; 1.0 when every sample lies on the line."""

    def __call__(self, x: float) -> float:
        return self.fixed + self.slope * x


def fit_line(xs: Sequence[float], ys: Sequence[float]) -> LinearFit:
    """Least-squares line through ``(xs, ys)`` with non-negative intercept and slope.

    Examples
    --------
    >>> f = fit_line([1, 2, 3], [12, 22, 32])
    >>> round(f.fixed, 6), round(f.slope, 6), round(f.r2, 6)
    (2.0, 10.0, 1.0)
    """
    x = np.asarray(xs, dtype=float)
    y = np.asarray(ys, dtype=float)
    if len(x) == 0:
        raise ValueError("fit_line needs at least one point")
    if len(x) == 1 or np.ptp(x) == 0:
        slope = max(float(y.mean() / x.mean()), 0.0) if x.mean() > 0 else 0.0
        return LinearFit(0.0, slope, 1.0 if len(x) == 1 else 0.0)
    slope, fixed = np.polyfit(x, y, 1)
    if fixed < 0:  # a negative fixed cost is noise: refit through the origin
        fixed, slope = 0.0, float((x @ y) / (x @ x))
    if slope < 0:  # cost falling with size is noise too: flat line at the mean
        fixed, slope = float(y.mean()), 0.0
    pred = fixed + slope * x
    ss_tot = float(((y - y.mean()) ** 2).sum())
    r2 = 1.0 - float(((y - pred) ** 2).sum()) / ss_tot if ss_tot > 0 else 1.0
    return LinearFit(float(fixed), float(slope), max(0.0, min(1.0, r2)))


@dataclass(frozen=True, slots=True)
class CostModel:
    """Per-task time and memory as functions of input block bytes, plus scheduler overhead."""

    time: LinearFit
    """Seconds of the user's function for a block of ``x`` bytes."""
    memory: LinearFit
    """Peak bytes above baseline for a block of ``x`` bytes (input, temporaries, output)."""
    overhead_seconds_per_task: float
    """Scheduler cost per task on the scheduler that will run it."""
    overhead_measured: bool = True
    """``False`` when the overhead is a modelled default, not a probe result."""
    baseline_bytes: int = 0
    """Resident memory of an idle worker-like process (interpreter + imports)."""
    samples: tuple[Sample, ...] = ()
    """The samples the fits came from, failed ones included."""
    max_ok_bytes: int | None = None
    """Smallest failed sample size above every success (the function needs more than it)."""
    output_ratio: float = 1.0
    """Output bytes per input byte (a per-block reduction makes this small)."""
    tasks_per_chunk: float = 1.0
    """Scheduler tasks per input chunk (1 for ``map_blocks``; a measured pipeline has more)."""
    store: StoreModel | None = None
    """Object-store read model (issue 14): with it, ``time`` is the function alone and
    ``core.evaluate`` adds each block's MODELLED read time; ``None`` for local data."""

    def task_seconds(self, nbytes: int) -> float:
        """Predicted seconds for a block: the fitted line, but never below what the samples
        show. Beyond the largest sample the steepest recent per-byte cost is carried on:
        per-byte cost tends to grow with block size (caches, page faults), and a global
        line fitted mostly on small blocks under-predicts big ones."""
        line = self.time(nbytes)
        pts = sorted((s.nbytes, s.seconds) for s in self.samples if s.ok and s.seconds is not None)
        if len(pts) < 2:
            return line
        if nbytes >= pts[-1][0]:
            (b0, t0), (b1, t1) = pts[-2], pts[-1]
            slope = max(self.time.slope, (t1 - t0) / (b1 - b0) if b1 > b0 else 0.0)
            return max(line, t1 + slope * (nbytes - b1))
        for (b0, t0), (b1, t1) in zip(pts, pts[1:]):
            if b0 <= nbytes <= b1 and b1 > b0:
                return max(line, t0 + (t1 - t0) * (nbytes - b0) / (b1 - b0))
        return line

    def task_peak_bytes(self, nbytes: int) -> int:
        return int(self.memory(nbytes))

    @property
    def memory_multiplier(self) -> float:
        return self.memory.slope

    def to_dict(self) -> dict[str, Any]:
        return {
            "time": asdict(self.time),
            "memory": asdict(self.memory),
            "overhead_seconds_per_task": self.overhead_seconds_per_task,
            "overhead_measured": self.overhead_measured,
            "baseline_bytes": self.baseline_bytes,
            "samples": [s.to_dict() for s in self.samples],
            "max_ok_bytes": self.max_ok_bytes,
            "output_ratio": self.output_ratio,
            "tasks_per_chunk": self.tasks_per_chunk,
            "store": self.store.to_dict() if self.store is not None else None,
        }


def fit_cost_model(
    samples: Sequence[Sample],
    *,
    overhead_seconds_per_task: float,
    overhead_measured: bool = True,
    baseline_bytes: int = 0,
    output_ratio: float = 1.0,
) -> CostModel:
    """Fit time and memory lines to the successful samples; failures cap the block size."""
    ok = [s for s in samples if s.ok]
    if not ok:
        raise ValueError("fit_cost_model needs at least one successful sample")
    largest_ok = max(s.nbytes for s in ok)
    failed_above = [s.nbytes for s in samples if not s.ok and s.nbytes > largest_ok]
    time = fit_line([s.nbytes for s in ok], [s.seconds or 0.0 for s in ok])
    memory = fit_line([s.nbytes for s in ok], [s.peak_bytes or 0 for s in ok])
    return CostModel(
        time=time,
        memory=memory,
        overhead_seconds_per_task=overhead_seconds_per_task,
        overhead_measured=overhead_measured,
        baseline_bytes=baseline_bytes,
        samples=tuple(samples),
        max_ok_bytes=min(failed_above) if failed_above else None,
        output_ratio=output_ratio,
    )


def scale_memory(model: CostModel, factor: float) -> CostModel:
    """``model`` with its memory slope multiplied (a full-size blow-up the sub-array missed)."""
    mem = dataclasses.replace(model.memory, slope=model.memory.slope * factor)
    return dataclasses.replace(model, memory=mem)
