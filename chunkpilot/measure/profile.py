"""Profile the user's per-block function on sample blocks of several sizes.

Small samples first (1 MiB, 8 MiB) give a first memory multiplier; that sets the
largest block worth measuring (what the memory bound could allow, capped by a time
budget). A failed sample stops the climb: no bigger one is run, and the candidate sizes
between it and the largest that ran are sampled by halves (``failures.narrow_limit``). Each
sample runs in its own fresh subprocess, or one forked from a warm spawner inside
``advise`` (see ``sandbox`` and ``spawner``).
"""

from __future__ import annotations

import contextlib
import math
import os
import tempfile
import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from chunkpilot.core.budget import (
    cold_run_seconds,
    fetch_within,
    fit_in_time,
    largest_worth_measuring,
    time_note,
)
from chunkpilot.core.candidates import candidate_shapes
from chunkpilot.core.model import Sample
from chunkpilot.core.shapes import halo_shape
from chunkpilot.errors import ProfilingError, SampleFailedWarning, StoreReadError
from chunkpilot.measure.blocks import (
    block_for,
    block_within,
    job_source,
    sample_region,
    sample_seconds,
)
from chunkpilot.measure.environ import EnvOverrides
from chunkpilot.measure.failures import Region, check_data_dependence, narrow_limit
from chunkpilot.measure.remeasure import remeasure, remeasure_seconds
from chunkpilot.measure.sandbox import SampleJob, pickle_func, run_sample
from chunkpilot.measure.time_budget import TimeBudget
from chunkpilot.sources.urls import reader_preload
from chunkpilot.types import ArraySpec, Resources, WorkSpec
from chunkpilot.units import format_bytes

MiB = 2**20
#: First sample sizes; small enough to be safe for any function.
SMALL_SAMPLE_BYTES = (1 * MiB, 8 * MiB)
#: Never profile blocks bigger than this (keeps advise in seconds; the fit extrapolates).
PROFILE_MAX_BYTES = 512 * MiB
#: Largest sample is also capped so its predicted run time stays under this (each sample
#: runs once cold and at least three times warm).
PROFILE_TIME_BUDGET_S = 0.5
#: A bigger sample is measured only when the budget allows this much more than the biggest
#: so far: gil_loop's 8 MiB sample took 0.4 s (the budget), and samples of 9 and 10 MiB
#: (each twice, ~3.5 s apiece) told the fit nothing the 8 MiB one had not; the sizes then
#: come from below (a quarter of the smallest), which is cheap.
WORTH_A_SAMPLE = 1.5
#: A block read from a URL is fetched once per sample, before any call is timed: a bigger
#: sample is measured only when its fetch, predicted from the earlier samples' (a line in
#: bytes), stays under this. s3_read's store (20 ms a request, 64 KiB objects) took 1.4 s for
#: an 8 MiB sample and 2.5 s for the 16 MiB one, and the stored runs' plans are the same
#: without either of them (replayed: 768x1024, 512x1024, as with all four samples).
SAMPLE_FETCH_BUDGET_S = 1.0


@dataclass(frozen=True, slots=True)
class Profile:
    """What profiling found: samples, the sandbox's idle memory, output size ratio."""

    samples: tuple[Sample, ...]
    """Every sample, failed ones included (they cap the block size)."""
    baseline_bytes: int
    """Resident memory of the idle sandbox interpreter (imports included)."""
    output_ratio: float
    """Output bytes per input byte, from the largest successful sample."""
    real_data: bool
    """Whether samples were cut from the real data (else synthetic of the same dtype)."""
    blas_pools_pinned: int = 0
    """BLAS/OpenMP thread pools held to one thread while measuring (threadpoolctl)."""
    reshaped: tuple[tuple[int, ...], tuple[int, ...]] | None = None
    """(block, output) shapes of a sample whose output had other lengths than its block
    (``map_blocks`` then needs ``chunks=``); ``None`` when every output kept them."""
    notes: tuple[str, ...] = ()
    """Samples advise's time budget made smaller or skipped (``core.budget.time_note``)."""


def profile_function(
    func: Callable[[Any], Any] | None,
    spec: ArraySpec,
    work: WorkSpec,
    res: Resources,
    source: Mapping[str, Any],
    *,
    env: EnvOverrides,
    baseline_guess_bytes: int,
    timeout_s: float = 60.0,
    memory_cap_bytes: int | None = None,
    on_sample: Callable[[Sample], None] | None = None,
    seed: int = 0,
    budget: TimeBudget | None = None,
) -> Profile:
    """Measure ``func`` on at least three block sizes; raise if it fails on the smallest.
    ``budget``: the time the mid and largest samples may take (they are worth having, not
    needed): smaller when a smaller one still fits, else skipped, with a note."""
    # blocks read from a URL are kept for their second measurement
    remote = source["kind"] == "remote"
    with (tempfile.TemporaryDirectory(prefix="chunkpilot-blocks-") if remote
          else contextlib.nullcontext()) as cache_dir:
        return _profile(func, spec, work, res, source, env=env,
                        baseline_guess_bytes=baseline_guess_bytes, timeout_s=timeout_s,
                        memory_cap_bytes=memory_cap_bytes, on_sample=on_sample, seed=seed,
                        cache_dir=cache_dir, budget=budget)


def _profile(
    func: Callable[[Any], Any] | None, spec: ArraySpec, work: WorkSpec, res: Resources,
    source: Mapping[str, Any], *, env: EnvOverrides, baseline_guess_bytes: int,
    timeout_s: float, memory_cap_bytes: int | None,
    on_sample: Callable[[Sample], None] | None, seed: int, cache_dir: str | None,
    budget: TimeBudget | None,
) -> Profile:
    func_bytes = pickle_func(func)
    cap = memory_cap_bytes or res.memory_limit_bytes
    preload = reader_preload(source)
    samples: list[Sample] = []
    notes: list[str] = []
    remote = source["kind"] == "remote"
    baselines: list[int] = []
    pools: list[int] = [0]
    ratios: dict[int, float] = {}  # output bytes per input byte, by block bytes
    reshaped: list[tuple[tuple[int, ...], tuple[int, ...]]] = []
    fetches: dict[int, float] = {}  # seconds to fetch a block from its URL, by block bytes
    copies: dict[Region, str] = {}  # regions read from a URL, by their local copy's path
    seen: set[tuple[int, ...]] = set()
    # whether a worker's threads share the GIL running it (``measure.gil``): timed once, on
    # the first sample whose call is long enough to tell (``child.PAIR_MIN_SECONDS``), with
    # two calls at once when a worker has two threads (one-thread workers too, no pair: their
    # event loop is a second thread wanting the GIL; recorded, not yet priced: docs/DESIGN.md)
    gil_timed = [False]

    def run(block: tuple[int, ...], peaks: bool = True, at: Region | None = None) -> Sample:
        region = at or sample_region(spec, block)
        nbytes = math.prod(block) * spec.itemsize
        with tempfile.TemporaryDirectory(prefix="chunkpilot-block-") as tmp:
            src = job_source(source, region, tmp, seed, cache_dir, copies)
            job = SampleJob(func, src, region, spec.dtype, cap, timeout_s, env,
                            out_ndim=work.ndim - len(work.drop_axis),
                            pair_threads=0 if gil_timed[0] or res.threads_per_worker < 2 else 2,
                            time_gil=not gil_timed[0], measure_peaks=peaks, preload=preload)
            r = run_sample(job, func_bytes)
        if src.get("cache") and os.path.exists(src["cache"]):
            copies[region] = src["cache"]
        if r.get("kind") == "read":  # a damaged store, not a limit of the function: stop here
            raise StoreReadError(
                f"Expected readable chunks in {source.get('path')!r}. Got {r.get('error')} while "
                f"reading the region {[list(x) for x in region]}: the store is corrupt or "
                "truncated (rewrite or re-download it)."
            )
        if r.get("kind") == "threads":  # not a limit of the block size: any plan would fail
            raise ProfilingError(
                f"Expected the function to run in threads, two at once, as a dask worker "
                f"with {res.threads_per_worker} threads (or the threaded scheduler) runs it. "
                f"Got {r.get('error')} from two threads calling it on a "
                f"{format_bytes(nbytes)} block, though one call alone in the main thread "
                "ran: make it thread-safe, or use one thread per worker "
                "(--threads-per-worker 1).")
        if r.get("ok"):
            s = Sample(nbytes, block, float(r["seconds"]), int(r["peak_bytes"]),
                       runs_seconds=tuple(r.get("runs_seconds") or ()),
                       read_seconds=r.get("read_seconds"), gil_share=r.get("gil_share"),
                       pair_seconds=r.get("pair_seconds"), cores_busy=r.get("cores_busy"),
                       cold_extra_seconds=r.get("cold_extra_seconds"))
            if s.gil_share is not None:
                gil_timed[0] = True
            baselines.append(int(r["baseline_bytes"]))
            pools.append(int(r.get("blas_pools_pinned") or 0))
            ratios[nbytes] = r["out_nbytes"] / nbytes if nbytes else 1.0
            out = tuple(r.get("out_shape") or block)
            if len(out) == len(block) and out != block:
                reshaped.append((block, out))
            if r.get("fetch_seconds") is not None:  # read from the URL, not from a copy
                fetches.setdefault(nbytes, float(r["fetch_seconds"]))
        else:
            s = Sample(nbytes, block, error=str(r.get("error")), error_kind=str(r.get("kind")))
        if on_sample is not None:
            on_sample(s)
        return s

    def measure(target: float, within: bool = False) -> bool:
        block = block_within(spec, work, target) if within else block_for(spec, work, target)
        if block in seen:
            return True
        seen.add(block)
        samples.append(run(block))
        return samples[-1].ok

    blocks = [halo_shape(spec, work, c) for c in candidate_shapes(spec, work)]
    sizes = [(math.prod(b) * spec.itemsize, b) for b in blocks]
    smalls = [b for b in SMALL_SAMPLE_BYTES if b < spec.nbytes] or [spec.nbytes / 16]
    smalls = sorted({min(spec.nbytes, b) for b in smalls + [spec.nbytes / 4]})[:2]
    for b in smalls:
        if not measure(b):
            break
    if not samples[0].ok and samples[0].error_kind not in ("timeout", "output"):
        # a limit under the first sample: the smallest block a plan may use, if smaller
        # (then narrowed upwards); a 100,000-element kernel on 128x128 storage chunks
        # stopped at the 1 MiB sample though those chunks ran
        tiny = min(sizes)
        if tiny[0] < samples[0].nbytes and tiny[1] not in seen:
            seen.add(tiny[1])
            samples.append(run(tiny[1]))
    ok = [s for s in samples if s.ok]
    if not ok:
        first = min(samples, key=lambda s: s.nbytes)
        if first.error_kind == "output":  # already "Expected ... Got ..."
            raise ProfilingError(f"{first.error} on a sample block of shape {first.shape}.")
        hint = ""
        if first.error_kind == "oom":
            hint = (f" The memory limit ({format_bytes(cap)}) must hold the Python interpreter, "
                    "its imports and the block's temporaries: give workers more memory.")
        raise ProfilingError(
            f"Expected the function to run on a {format_bytes(first.nbytes)} block of shape "
            f"{first.shape}. Got {first.failure} instead.{hint}"
        )
    def worth() -> float:
        top = largest_worth_measuring([s for s in samples if s.ok], res, baseline_guess_bytes,
                                      time_budget_s=PROFILE_TIME_BUDGET_S,
                                      max_bytes=min(PROFILE_MAX_BYTES, spec.nbytes))
        return min(top, fetch_within(fetches, SAMPLE_FETCH_BUDGET_S))

    def biggest() -> int:
        return max(s.nbytes for s in samples if s.ok)

    def in_time(target: float) -> float | None:
        """``target``, or the biggest size worth a sample whose job fits advise's time left
        (after the re-runs ``remeasure`` will make), or ``None``."""
        if budget is None:
            return target
        call = cold_run_seconds({s.nbytes: s.seconds or 0.0 for s in samples if s.ok},
                                lambda b: b)
        fetch = SAMPLE_FETCH_BUDGET_S if remote else 0.0  # at most (``worth``)
        fit, wanted_s = fit_in_time(target, WORTH_A_SAMPLE * biggest(),
                                    budget.left_s() - remeasure_seconds(samples),
                                    lambda b: sample_seconds(call(b)) + fetch)
        if fit != target:
            notes.append(time_note(target, fit, wanted_s, biggest(), budget.budget_s))
        return fit

    smallest_ok = min(s.nbytes for s in ok)
    top = worth()
    if (len(ok) == len(samples) and top > WORTH_A_SAMPLE * biggest()
            and (mid := in_time(math.sqrt(biggest() * top))) and measure(mid, within=True)):
        # re-budget with the mid sample: two small samples priced a 506 MiB block at 0.4 s
        # (measured 2.4 s a call, zarr_read/threads advise 19 s)
        top = worth()
        if top > WORTH_A_SAMPLE * biggest() and (top := in_time(top)):
            measure(top, within=True)
    narrow_limit(samples, sizes, run)
    if len([s for s in samples if s.ok]) < 3:  # too few sizes: fill in below the largest
        measure(max(smallest_ok / 4, spec.itemsize))
    remeasure(samples, run)
    check_data_dependence(samples, lambda s: sample_region(spec, s.shape),
                          lambda r: run(tuple(b - a for a, b in r), False, r))
    failed = sorted((s for s in samples if not s.ok), key=lambda s: s.nbytes)
    if failed:
        warnings.warn(
            f"{len(failed)} profiling sample(s) failed, the smallest a block of "
            f"{format_bytes(failed[0].nbytes)} ({failed[0].failure}); the plan stays at or "
            "below the largest block that ran below it.",
            SampleFailedWarning,
            stacklevel=2,
        )
    return Profile(tuple(sorted(samples, key=lambda s: s.nbytes)), min(baselines),
                   ratios[max(ratios)],
                   source["kind"] in ("zarr", "numpy", "hdf5", "remote"), max(pools),
                   reshaped[0] if reshaped else None, tuple(notes))
