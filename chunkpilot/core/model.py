"""The measured cost model: time and peak memory of one task against block bytes.

Pure: takes profiling samples (ints and floats). Time follows the samples themselves
(:class:`~chunkpilot.core.timecurve.TimeCurve`: monotone, log-log); memory is a line
``peak = fixed + slope * bytes`` by least squares, clipped to non-negative coefficients,
whose slope is the function's memory multiplier (input + temporaries + output, per byte).
A straight time line is fitted too, for the explanation and for models without samples.
"""

from __future__ import annotations

import dataclasses
import math
import statistics
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from chunkpilot.core.cores import busy_slowdown, cores_at
from chunkpilot.core.growth import TaskGrowth, chunk_counts
from chunkpilot.core.held import HeldGrowth, band_bytes
from chunkpilot.core.linefit import LinearFit, fit_line
from chunkpilot.core.policy import MAX_TIE_REACH
from chunkpilot.core.sample import Sample, largest_ran_below
from chunkpilot.core.selfproduct import contraction_length, product_work
from chunkpilot.core.store import StoreModel
from chunkpilot.core.timecurve import UP_EXPONENT_RANGE, TimeCurve

if TYPE_CHECKING:  # the type only: a sample's sandbox imports this module, and the gather
    # rule's module brings dask.array (a fresh sample process must start from numpy alone)
    from chunkpilot.core.gather import GatherTarget

#: Scheduler overhead per task when it was not probed (DEVELOPERS.md orders of magnitude).
DEFAULT_OVERHEAD_S = {"threads": 100e-6, "distributed": 1e-3}
#: A function holding the GIL at least this share of a call is GIL-bound (``measure.gil``:
#: numpy reads 0.00-0.05; a pure-Python row filter 0.9 on a quiet machine, 0.48 in the
#: benchmark run, under load and reading its block from zarr inside the call).
GIL_HOLDING_SHARE = 0.25
#: CPython's switch interval (``sys.getswitchinterval()``): how long a thread waiting for the
#: GIL waits before the holder is asked to drop it.
GIL_SWITCH_INTERVAL_S = 0.005


@dataclass(frozen=True, slots=True)
class CostModel:
    """Per-task time and memory as functions of input block bytes, plus scheduler overhead."""

    time: LinearFit
    """Seconds of the user's function for a block of ``x`` bytes."""
    memory: LinearFit
    """Peak bytes above baseline at ``x`` bytes: a block's, or ``core.gather.peak_basis_bytes``."""
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
    task_growth: TaskGrowth | None = None
    """A pipeline's task count as a function of its chunking (``None``: ``tasks_per_chunk``)."""
    contraction_units: TaskGrowth | None = None
    """A contraction's block products against its chunking (``x @ x.T``: every row block
    meets every other; ``None`` for other work). They, not the input chunks, are the tasks
    that share the work and run in parallel, and its time beyond the largest sample grows
    linearly: a chunk's work is linear in its bytes and BLAS runs no slower per flop on
    bigger blocks (the steepest measured exponent, 1.07-1.17 from noise, priced matmul's
    2048x4096 chunks at 2.6 s where they ran in 1.3 s)."""
    gather: GatherTarget | None = None
    """The chunks an in-graph rechunk gathers the input into (``None``: none, or the
    rechunk is peer-to-peer): what it holds depends on the chunk shape, not on the bytes
    the samples scale (``core.gather``)."""
    store: StoreModel | None = None
    """Object-store read model: with it, samples time the function alone and
    ``core.evaluate`` adds each block's MODELLED read time; ``None`` for local data."""
    held: HeldGrowth | None = None
    """A pipeline whose peak grows with the chunks a worker runs (a ``map_overlap``'s band
    of neighbours, ``core.held``): ``memory`` is then a run's peak against
    ``core.held.band_bytes``. ``None``: ``memory`` is one task's peak, once per thread."""
    self_product_axes: tuple[int, ...] = ()
    """Input axes along which a contraction pairs blocks with their own transposes
    (``x @ x.T``: (0,)): the samples' times are then of general block products, and
    :meth:`product_work` prices the self-products (``core.selfproduct``)."""
    contraction_axes: tuple[int, ...] = ()
    """Input axes the contraction sums over (their chunk extent is the length a
    self-product's cost depends on, ``core.selfproduct.self_product_cost``); empty when
    unknown (runs stored before it was recorded: a self-product then costs half)."""
    curve: TimeCurve | None = field(init=False, default=None)
    """Seconds per task through the successful samples (``None`` without samples)."""
    read_curve: TimeCurve | None = field(init=False, default=None)
    """Seconds to read one block from its store, where samples timed the read."""

    def __post_init__(self) -> None:
        ok = [s for s in self.samples if s.ok and s.seconds is not None]
        if ok:
            linear = (1.0, 1.0) if self.contraction_units is not None else UP_EXPONENT_RANGE
            object.__setattr__(self, "curve", TimeCurve.through(
                [(s.nbytes, s.seconds, max(len(s.runs_seconds), 1)) for s in ok], linear))
        reads = [s for s in ok if s.read_seconds is not None and s.read_seconds > 0]
        if reads:
            object.__setattr__(self, "read_curve", TimeCurve.through(
                [(s.nbytes, s.read_seconds, max(len(s.runs_seconds), 1)) for s in reads]))

    @property
    def block_limit_bytes(self) -> int | None:
        """The biggest block a plan may use when a sample failed (``None``: none did): the
        largest that ran below the smallest that failed. Between the two the function's
        limit is unknown; a kernel refusing 3.2 MB blocks ran at 1 MiB, failed at 8 MiB,
        and one plan in five took 4 MiB chunks that failed when computed."""
        if self.max_ok_bytes is None:
            return None
        ran = largest_ran_below(self.samples, self.max_ok_bytes)
        return self.max_ok_bytes - 1 if ran is None else ran

    @property
    def thread_speedup(self) -> float | None:
        """How much faster two threads run the function than one (2: fully parallel; 1 or
        below: it holds the GIL), the median over samples that timed two calls at once;
        ``None`` when none did."""
        pairs = [2 * s.seconds / s.pair_seconds for s in self.samples
                 if s.ok and s.seconds and s.pair_seconds]
        return statistics.median(pairs) if pairs else None

    def thread_slowdown(self, concurrent: int) -> float:
        """Factor on one task's time when ``concurrent`` tasks share a process's threads:
        throughput grows (or, below 1, falls) from 1 thread by ``thread_speedup - 1`` per
        added thread, between the measured worst and full parallelism."""
        speedup = self.thread_speedup
        if speedup is None or concurrent < 2:
            return 1.0
        speedup = min(speedup, 2.0)
        throughput = 1 + (concurrent - 1) * (speedup - 1)
        return concurrent / min(max(throughput, min(speedup, 1.0)), concurrent)

    def busy_slowdown(self, nbytes: float, tasks_at_once: int, threads: int) -> float:
        """Factor on a task's time when ``tasks_at_once`` tasks share ``threads`` cores and
        the samples' calls kept more than one busy alone (``core.cores``); 1 when calls were
        timed side by side (``thread_speedup``): they already competed for the cores."""
        if self.thread_speedup is not None:
            return 1.0
        return busy_slowdown(cores_at(self.samples, nbytes), tasks_at_once, threads)

    def idle_thread_cost(self, workers: int) -> float:
        """Share of a task an idle thread costs at the start and end of the run (the fill/
        drain term): all of it, unless a single process's threads take turns on the GIL
        (then only what a second thread measurably adds)."""
        speedup = self.thread_speedup
        if speedup is None or workers > 1:
            return 1.0
        return min(max(speedup - 1.0, 0.0), 1.0)

    def gil_wait_seconds(self, concurrent: int) -> float:
        """Per task, when ``concurrent`` tasks share a process's threads and the function
        holds the GIL: the scheduler's thread (a worker's event loop) waits up to a switch
        interval for it before the next task starts. gil_loop on dask's threaded scheduler,
        2 threads: 4.4 ms a task (0.89 of its time holding the GIL x 5 ms)."""
        shares = [s.gil_share for s in self.samples if s.ok and s.gil_share is not None]
        share = statistics.median(shares) if shares else 0.0
        if concurrent < 2 or share < GIL_HOLDING_SHARE:
            return 0.0
        return share * GIL_SWITCH_INTERVAL_S

    def task_seconds(self, nbytes: int) -> float:
        """Predicted seconds for one task on a block of ``nbytes`` (see :class:`TimeCurve`)."""
        return self.curve(nbytes) if self.curve is not None else self.time(nbytes)

    def read_seconds(self, nbytes: int) -> float:
        """Predicted seconds to read one block from its store (0 for in-memory data)."""
        return self.read_curve(nbytes) if self.read_curve is not None else 0.0

    @property
    def tie_reach_bytes(self) -> float:
        """The largest block the tie rule may prefer: ``MAX_TIE_REACH`` x the largest
        successful sample (unbounded for a contraction, priced linearly beyond them)."""
        ok = [s.nbytes for s in self.samples if s.ok]
        if not ok or self.contraction_units is not None:
            return math.inf
        return MAX_TIE_REACH * max(ok)

    @property
    def noise_fraction(self) -> float:
        """The widest run-to-run spread of a sample (its relative range): every prediction
        between samples rests on two of them, so a difference inside the noisier one's range
        is not known (issue 18: a burst inside one sample's runs, 0.68 wide where the
        others were 0.05, moved the median-based band's plan 1.5x)."""
        spreads = [s.spread_fraction for s in self.samples if s.ok and len(s.runs_seconds) > 1]
        return max(spreads) if spreads else 0.0

    def scheduler_tasks(self, shape: tuple[int, ...], chunk: tuple[int, ...],
                        chunk_count: int) -> float:
        """Tasks the scheduler runs for the whole array at ``chunk`` chunks."""
        if self.task_growth is not None:
            return self.task_growth.executed(shape, chunk)
        return chunk_count * self.tasks_per_chunk

    def parallel_units(self, shape: tuple[int, ...], chunk: tuple[int, ...],
                       chunk_count: int) -> int:
        """Tasks that share the work and run in parallel: a contraction's block products,
        else one per input chunk."""
        if self.contraction_units is None:
            return chunk_count
        return max(chunk_count, self.contraction_units.built(shape, chunk))

    def product_work(self, shape: tuple[int, ...], chunk: tuple[int, ...]) -> float:
        """Factor on a chunk's measured work at ``chunk`` chunks: below 1 when some block
        products pair a block with its own transpose (``core.selfproduct``)."""
        return product_work(chunk_counts(shape, chunk), self.self_product_axes,
                            contraction_length(chunk, self.contraction_axes))

    def downstream_share(self, nbytes: int) -> float:
        """Share of a task's time a pipeline spends downstream of its input reads (an
        in-graph rechunk's merges and what follows), between the samples' shares in log
        bytes, held at the ends; 0 when the samples did not split it."""
        pts = sorted((s.nbytes, s.downstream_share) for s in self.samples
                     if s.ok and s.downstream_share is not None)
        if not pts or nbytes <= 0:
            return 0.0
        share = np.interp(np.log(nbytes), np.log([b for b, _ in pts]), [f for _, f in pts])
        return float(min(1.0, max(0.0, share)))

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
            "task_growth": asdict(self.task_growth) if self.task_growth else None,
            "contraction_units": (asdict(self.contraction_units) if self.contraction_units
                                  else None),
            "gather": self.gather.to_dict() if self.gather is not None else None,
            "store": self.store.to_dict() if self.store is not None else None,
            "held": self.held.to_dict() if self.held is not None else None,
            "self_product_axes": list(self.self_product_axes),
            "contraction_axes": list(self.contraction_axes),
        }


def fit_cost_model(
    samples: Sequence[Sample],
    *,
    overhead_seconds_per_task: float,
    overhead_measured: bool = True,
    baseline_bytes: int = 0,
    output_ratio: float = 1.0,
    held_exponent: float | None = None,
    held_shared: bool = False,
) -> CostModel:
    """Fit time and memory lines to the successful samples; failures cap the block size.
    With ``held_exponent`` (and samples that say how many chunks their run held), memory is
    the runs' peak against their band (``core.held``), and the largest task's is fitted too."""
    ok = [s for s in samples if s.ok]
    if not ok:
        raise ValueError("fit_cost_model needs at least one successful sample")
    largest_ok = max(s.nbytes for s in ok)
    failed_above = [s.nbytes for s in samples if not s.ok and s.nbytes > largest_ok]
    time = fit_line([s.nbytes for s in ok], [s.seconds or 0.0 for s in ok])
    held, xs = None, [float(s.peak_basis_bytes or s.nbytes) for s in ok]
    if held_exponent is not None and all(s.chunks_run for s in ok):
        q = min(max(held_exponent, 0.0), 1.0)
        held = HeldGrowth(q, fit_line(xs, [s.task_peak_bytes or 0 for s in ok]), held_shared)
        xs = [band_bytes(s.nbytes, s.chunks_run, q) for s in ok]
    memory = fit_line(xs, [s.peak_bytes or 0 for s in ok])
    return CostModel(
        time=time,
        memory=memory,
        overhead_seconds_per_task=overhead_seconds_per_task,
        overhead_measured=overhead_measured,
        baseline_bytes=baseline_bytes,
        samples=tuple(samples),
        max_ok_bytes=min(failed_above) if failed_above else None,
        output_ratio=output_ratio,
        held=held,
    )


def scale_memory(model: CostModel, factor: float) -> CostModel:
    """``model`` with its memory slope multiplied (a full-size blow-up the sub-array missed)."""
    mem = dataclasses.replace(model.memory, slope=model.memory.slope * factor)
    return dataclasses.replace(model, memory=mem)

