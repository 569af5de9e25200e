"""Sandboxed profiling against real subprocesses: memory slopes, failures contained."""

from __future__ import annotations

import ctypes
import os
import time

import numpy as np
import pytest

from chunkpilot.core.model import fit_cost_model
from chunkpilot.core.plan import make_plan
from chunkpilot.errors import ProfilingError, SampleFailedWarning
from chunkpilot.measure.environ import sandbox_env
from chunkpilot.measure.profile import profile_function
from chunkpilot.measure.sandbox import sandbox_pool
from chunkpilot.types import ArraySpec, Resources, WorkSpec

pytestmark = pytest.mark.timing  # measured time or CPU: runs alone (tests/helpers/timing_gate.py)
#: Tests of how a failing function is reported assert no measurement: they run beside others.
beside_others = pytest.mark.beside_others

MiB = 2**20
SPEC = ArraySpec((4096, 4096), "float64")  # 128 MiB, synthetic samples
RES = Resources(1, 1, 2048 * MiB, "threads")


def temporaries(k: int):
    def f(block: np.ndarray) -> np.ndarray:
        held = [block + i for i in range(k)]  # k full-size temporaries alive at once
        return held[-1]
    f.__name__ = f"temps{k}"
    return f


def _profile(func, spec=SPEC, res=RES, **kw):
    return profile_function(func, spec, WorkSpec(spec.ndim), res, {"kind": "synthetic"},
                            env={}, baseline_guess_bytes=0, **kw)


@pytest.mark.parametrize("k", [1, 3], ids=["one-temporary", "three-temporaries"])
def test_memory_slope_is_k_plus_one(k):
    prof = _profile(temporaries(k))
    ok = [s for s in prof.samples if s.ok]
    assert len({s.nbytes for s in ok}) >= 3  # at least three sizes
    model = fit_cost_model(prof.samples, overhead_seconds_per_task=1e-3)
    assert k + 1 - 0.6 < model.memory.slope < k + 1 + 0.8, model.memory
    assert model.memory.r2 > 0.9


def test_load_only_has_slope_near_one():
    prof = _profile(None)
    model = fit_cost_model(prof.samples, overhead_seconds_per_task=1e-3)
    assert 0.7 < model.memory.slope < 1.5


def raises(block):
    raise ValueError("bad block")


@beside_others
def test_function_that_raises_is_reported_not_fatal():
    with pytest.raises(ProfilingError, match="ValueError: bad block"):
        _profile(raises)


def wrong_type(block):
    return "not an array"


@beside_others
def test_function_returning_wrong_type_is_reported():
    with pytest.raises(ProfilingError, match="Expected the function to return a numpy array"):
        _profile(wrong_type)


def lazy(block):
    import dask.array as da

    return da.from_array(block) * 2


@beside_others
def test_function_returning_a_lazy_dask_array_is_reported_not_computed_for_it():
    # hunt: the sandbox computed it, so a plan measured work map_blocks would never run
    with pytest.raises(ProfilingError, match=r"Got a lazy dask Array \(map_blocks would hand "
                                             r"it back uncomputed"):
        _profile(lazy)


def segfault(block):
    ctypes.string_at(0)


@beside_others
def test_segfault_is_contained():
    with pytest.raises(ProfilingError, match="SIGSEGV"):
        _profile(segfault)


def sleepy(block):
    time.sleep(60)
    return block


@beside_others
def test_hang_times_out():
    with pytest.raises(ProfilingError, match="timed out"):
        _profile(sleepy, timeout_s=2)


def explodes_on_big_blocks(block):
    """Allocates 40x the block: fine on small samples, out of memory on big ones."""
    if block.nbytes > 4 * MiB:
        junk = np.ones(block.size * 40)
        return junk[: block.size].reshape(block.shape)
    return block * 2


def test_out_of_memory_on_big_blocks_caps_the_plan():
    res = Resources(1, 1, 1024 * MiB, "threads")
    with pytest.warns(SampleFailedWarning, match="failed"):
        prof = _profile(explodes_on_big_blocks, res=res, memory_cap_bytes=400 * MiB)
    failed = [s for s in prof.samples if not s.ok]
    assert failed and all(s.error_kind == "oom" for s in failed), [s.failure for s in failed]
    model = fit_cost_model(prof.samples, overhead_seconds_per_task=1e-3)
    assert model.max_ok_bytes is not None
    assert model.max_ok_bytes <= min(s.nbytes for s in failed)


@beside_others  # where samples read from and that the store is untouched: no time
def test_real_zarr_samples_are_read_from_store(tmp_path):
    import zarr

    path = tmp_path / "a.zarr"
    z = zarr.create_array(str(path), shape=(2048, 2048), chunks=(256, 256), dtype="float32")
    z[:] = 1.0
    before = {p: p.stat().st_mtime_ns for p in path.rglob("*") if p.is_file()}
    spec = ArraySpec((2048, 2048), "float32", storage_chunks=(256, 256))
    prof = profile_function(None, spec, WorkSpec(2), RES,
                            {"kind": "zarr", "path": str(path), "array": None},
                            env={}, baseline_guess_bytes=0)
    assert prof.real_data
    assert all(s.ok for s in prof.samples)
    # every sample is aligned to storage chunks
    for s in prof.samples:
        assert all(n % 256 == 0 for n in s.shape)
    after = {p: p.stat().st_mtime_ns for p in path.rglob("*") if p.is_file()}
    assert before == after  # read-only


#: Which sandbox process this is, counted in a file named by the environment (set per test).
_PROCESS: dict[str, int] = {}


def slow_in_second_process(block: np.ndarray) -> np.ndarray:
    """sin/cos, plus ~4 ms per MiB in the second sandbox only (the 8 MiB sample): a slow
    window of the machine during one sample, made deterministic."""
    if "n" not in _PROCESS:
        path = os.environ["CHUNKPILOT_TEST_PROCESS_COUNTER"]
        with open(path, "a+") as f:
            f.seek(0)
            _PROCESS["n"] = len(f.read())
            f.write(".")
    out = np.sin(block) ** 2 + np.cos(block)
    if _PROCESS["n"] == 1:
        time.sleep(block.nbytes / MiB * 4e-3)
    return out


def test_a_bump_is_measured_again_and_the_faster_kept(tmp_path, monkeypatch):
    """Issue 18: one inflated sample moved the plan 2x; a sample slower per byte than its
    neighbours by more than BUMP_FRACTION is measured once more, and the faster kept."""
    monkeypatch.setenv("CHUNKPILOT_TEST_PROCESS_COUNTER", str(tmp_path / "count"))
    spec = ArraySpec((8192, 8192), "float64")
    prof = _profile(slow_in_second_process, spec=spec)
    twice = [s for s in prof.samples if s.slower_seconds is not None]
    assert len(twice) == 1, prof.samples
    s = twice[0]
    assert 7 * MiB < s.nbytes < 9 * MiB  # the second sample measured
    assert s.seconds < s.slower_seconds / 1.3  # the slow first run was not kept
    assert len((tmp_path / "count").read_text()) == len(prof.samples) + 1
    plan = make_plan(spec, WorkSpec(2), RES, fit_cost_model(
        prof.samples, overhead_seconds_per_task=1e-4))
    assert "measured twice, the faster kept" in plan.explain()


def test_a_cache_cliff_is_measured_twice_and_stays():
    """``block + 1`` runs from cache at 8 MiB and from memory at 32 MiB: a real bump, which
    the second measurement confirms (the faster of two slow runs is still slow)."""
    prof = _profile(temporaries(1))
    twice = [s for s in prof.samples if s.slower_seconds is not None]
    assert all(s.seconds <= s.slower_seconds for s in twice)
    ok = sorted((s for s in prof.samples if s.ok), key=lambda s: s.nbytes)
    assert len(ok) >= 3 and len(twice) <= len(ok) - 2  # only interior samples are bumps


def test_the_largest_sample_stays_near_its_budget_when_alignment_rounds_up():
    """A 400 MiB budget on (4, 360, 720) storage chunks rounded up to the whole 506 MiB array
    (1.5 s a call, 20 s of advise); the block now steps down to stay within the slack."""
    from chunkpilot.measure.blocks import TOP_SLACK, block_for, block_within

    spec = ArraySpec((128, 720, 1440), "float32", storage_chunks=(4, 360, 720))
    target = 400 * MiB
    assert np.prod(block_for(spec, WorkSpec(3), target)) * 4 > TOP_SLACK * target
    block = block_within(spec, WorkSpec(3), target)
    assert np.prod(block) * 4 <= TOP_SLACK * target
    assert all(b % u == 0 for b, u in zip(block, (4, 360, 720), strict=True))  # still aligned


def cubic_sleep(block: np.ndarray) -> np.ndarray:
    time.sleep(0.02 * (block.nbytes / (8 * MiB)) ** 3)  # cheap when small, dear when big
    return block


def test_top_sample_is_rebudgeted_with_the_mid_sample():
    # the two small samples (1, 8 MiB) price the whole 128 MiB array under the 0.5 s budget;
    # the mid sample (~32 MiB, ~1.3 s) shows it is not, so no larger block is measured
    prof = _profile(cubic_sleep)
    ok = sorted(s.nbytes for s in prof.samples if s.ok)
    assert len(ok) >= 3
    assert ok[-1] <= 40 * MiB, [s / MiB for s in ok]
    assert not [s for s in prof.samples if not s.ok]


def _python_loop():
    def python_loop(block):
        """Pure Python over every element: holds the GIL throughout."""
        out = block.copy()
        flat, acc = out.reshape(-1), 0.0
        for i in range(flat.size):
            acc = 0.9 * acc + 0.1 * float(flat[i])
            flat[i] = acc
        return out
    return python_loop  # closures are pickled by value: the sandbox imports no test module


def _not_reentrant():
    def not_reentrant(block):
        """Holds the GIL (a Python loop) and raises when another thread is inside it."""
        import builtins
        inside = builtins.__dict__.setdefault("_chunkpilot_test_inside", [0])
        inside[0] += 1
        try:
            if inside[0] > 1:
                raise RuntimeError("not re-entrant")
            acc = 0.0
            for v in block.reshape(-1).tolist() * 8:
                acc = 0.9 * acc + 0.1 * v
                if inside[0] > 1:
                    raise RuntimeError("not re-entrant")
            return block + acc
        finally:
            inside[0] -= 1
    return not_reentrant


@beside_others
def test_a_function_that_fails_when_two_threads_run_it_is_one_clear_error():
    """Hunt 17: the concurrent calls' errors were dropped, so a function failing in two
    threads got "1.60x as fast in two threads" (or an internal error from a negative time)
    and a plan for a threaded worker it cannot run on."""
    spec, res = ArraySpec((256, 512), "float64"), Resources(1, 2, 2048 * MiB, "threads")
    with pytest.raises(ProfilingError, match=r"two at once.*not re-entrant.*thread-safe"):
        _profile(_not_reentrant(), spec=spec, res=res)
    alone = _profile(_not_reentrant(), spec=spec, res=Resources(1, 1, 2048 * MiB, "threads"))
    assert any(s.ok for s in alone.samples)


def _numpy_work():
    def numpy_work(block):
        return np.sin(block) ** 2 + np.cos(block)
    return numpy_work


def test_a_gil_holder_is_told_from_numpy_and_its_threads_timed():
    """Real sandboxes, two threads per worker: the Python loop holds the GIL and its two
    concurrent calls are timed; numpy releases it, so no pair is timed (on a busy machine the
    pair would slow numpy too) and the plan's model keeps threads parallel."""
    spec, res = ArraySpec((256, 512), "float64"), Resources(1, 2, 2048 * MiB, "threads")
    loop = _profile(_python_loop(), spec=spec, res=res)
    timed = [s for s in loop.samples if s.gil_share is not None]
    assert len(timed) == 1, loop.samples  # once, on the first sample long enough to tell
    assert timed[0].gil_share >= 0.5 and timed[0].pair_seconds is not None
    model = fit_cost_model(loop.samples, overhead_seconds_per_task=1e-4)
    assert model.thread_speedup is not None and model.thread_speedup < 1.6
    vec = _profile(_numpy_work(), spec=ArraySpec((1024, 2048), "float64"), res=res)
    shares = [s.gil_share for s in vec.samples if s.gil_share is not None]
    assert shares and shares[0] < 0.25, vec.samples
    assert all(s.pair_seconds is None for s in vec.samples)
    assert fit_cost_model(vec.samples, overhead_seconds_per_task=1e-4).thread_speedup is None



def _sleeps_15ms():
    def sleeps_15ms(block):  # a closure: pickled by value, the sandbox imports no test module
        time.sleep(0.015)
        return block
    return sleeps_15ms


def test_small_samples_run_in_two_processes_and_keep_the_faster():
    """Fresh processes timed one 8 MiB block 23.5 or 32.5 ms: samples under 16 MiB of 10 ms
    or more are cheap to repeat and set the rate overhead-bound plans land on."""
    with sandbox_pool():  # forked from a warm interpreter, as inside advise
        prof = _profile(_sleeps_15ms(), spec=ArraySpec((256, 256), "float64"))
    small = [s for s in prof.samples if s.ok and s.seconds >= 0.01]
    assert small and all(s.slower_seconds is not None for s in small), prof.samples
    assert all(s.seconds <= s.slower_seconds for s in small)


def sleeps_50ms_per_mib(block: np.ndarray) -> np.ndarray:
    time.sleep(0.05 * block.nbytes / MiB)
    return block


def test_no_sample_just_above_one_that_already_took_the_budget():
    """8 MiB takes 0.4 s, the budget allows ~10 MiB: samples of 9 and 10 MiB (each twice,
    ~3.5 s apiece for gil_loop) told the fit nothing new; the third size comes from below."""
    prof = _profile(sleeps_50ms_per_mib)
    sizes = sorted(s.nbytes for s in prof.samples if s.ok)
    assert len(sizes) >= 3
    assert max(sizes) == 8 * MiB, [s / MiB for s in sizes]
    assert min(sizes) < MiB


def test_a_zarr_samples_peak_leaves_out_the_readers_set_up(tmp_path):
    """A worker has zarr imported and its codecs set up before a task reads its block:
    ``import zarr`` alone adds ~11 MiB to a fresh process, which must not count as the
    work's peak (a 1 MiB block read and returned held ~1 MiB, not 12). zarr 3 decodes a
    read's storage chunks concurrently, each held until copied into the block: an 8 MiB read
    of eight 1 MiB chunks peaked at 12-16.9 MiB over repeated runs (up to twice the block),
    so the bound is 2 x block + 3 MiB; the set-up's 11 MiB would break it at 1 MiB."""
    import zarr

    path = tmp_path / "a.zarr"
    z = zarr.create_array(str(path), shape=(1024, 1024), chunks=(128, 1024), dtype="float64")
    z[:] = 1.0
    spec = ArraySpec((1024, 1024), "float64", storage_chunks=(128, 1024))
    prof = profile_function(None, spec, WorkSpec(2), RES,
                            {"kind": "zarr", "path": str(path), "array": None},
                            env={}, baseline_guess_bytes=0)
    ok = [s for s in prof.samples if s.ok]
    assert ok
    for s in ok:
        assert s.peak_bytes < 2 * s.nbytes + 3 * MiB, (s.nbytes, s.peak_bytes)


def _two_threads():
    def two_threads(block):
        """numpy on each half of the block in its own thread (the GIL released): two cores."""
        from concurrent.futures import ThreadPoolExecutor
        with ThreadPoolExecutor(2) as ex:
            halves = list(ex.map(lambda h: np.sin(h) ** 2 + np.cos(h), np.array_split(block, 2)))
        return np.concatenate(halves)
    return two_threads


@pytest.mark.skipif((os.cpu_count() or 1) < 2, reason="needs two cores to use two")
def test_a_call_that_works_in_threads_is_seen_keeping_more_than_one_core_busy():
    """CPU over wall time of each sample's calls: about 2 for a function that splits its
    block over two threads, about 1 for plain numpy (one thread); the plan prices the former
    slower on a worker whose threads are all busy (``core.cores``)."""
    spec, res = ArraySpec((1024, 2048), "float64"), Resources(1, 2, 2048 * MiB, "threads")
    def samples(func):
        return [s for s in profile_function(func, spec, WorkSpec(2), res, {"kind": "synthetic"},
                                            env=sandbox_env(res), baseline_guess_bytes=0).samples
                if s.ok]
    two, one = samples(_two_threads()), samples(_numpy_work())
    assert max(s.cores_busy for s in two) > 1.3, [s.cores_busy for s in two]
    assert all(0.5 < s.cores_busy < 1.15 for s in one), [s.cores_busy for s in one]


def test_one_thread_per_worker_times_the_gil_share_but_no_pair():
    """A one-thread worker's event loop is a second thread wanting the GIL: the share is
    timed (once), for the model; no pair is (there is no second task thread), so the plan's
    threads are not slowed and no task waits for the GIL yet."""
    res = Resources(2, 1, 2048 * MiB, "processes")
    loop = _profile(_python_loop(), spec=ArraySpec((256, 512), "float64"), res=res)
    timed = [s for s in loop.samples if s.gil_share is not None]
    assert len(timed) == 1, loop.samples
    assert timed[0].gil_share >= 0.5 and timed[0].pair_seconds is None
    model = fit_cost_model(loop.samples, overhead_seconds_per_task=1e-4)
    assert model.thread_speedup is None and model.gil_wait_seconds(1) == 0.0


def test_a_second_measurement_is_for_time_and_keeps_the_first_ones_peak():
    """``remeasure`` runs a small sample again for its time only (no untimed peak calls:
    gil_loop's 8 and 12 MiB blocks spent 1.1 s of a 12 s advise on them); the peak read by
    the first measurement stays with the faster one kept."""
    from chunkpilot.core.model import Sample
    from chunkpilot.measure.profile import remeasure

    calls: list[bool] = []

    def run(shape: tuple[int, ...], peaks: bool = True) -> Sample:
        calls.append(peaks)
        return Sample(MiB, shape, 0.03, 2 * MiB)  # faster; its peak was not read

    samples = [Sample(MiB, (128, 1024), 0.05, 9 * MiB)]
    remeasure(samples, run)
    assert calls == [False]
    assert (samples[0].seconds, samples[0].slower_seconds) == (0.03, 0.05)
    assert samples[0].peak_bytes == 9 * MiB


def test_small_samples_are_measured_twice_only_while_that_stays_cheap():
    """Two small samples of 0.2 s calls (4 calls each) cost 1.6 s to measure again: only the
    first fits ``TWICE_BUDGET_S``; a bump (here the 12 MiB sample, slower per byte than
    both neighbours) is measured again whatever it costs."""
    from chunkpilot.core.model import Sample
    from chunkpilot.measure.remeasure import TWICE_BUDGET_S, remeasure

    runs = (0.2, 0.2, 0.2)
    samples = [Sample(4 * MiB, (4,), 0.2, MiB, runs_seconds=runs),
               Sample(8 * MiB, (8,), 0.4, MiB, runs_seconds=runs),
               Sample(12 * MiB, (12,), 0.9, MiB, runs_seconds=runs),
               Sample(24 * MiB, (24,), 1.2, MiB, runs_seconds=runs)]
    assert 4 * 0.2 + 4 * 0.4 > TWICE_BUDGET_S >= 4 * 0.2
    again: list[int] = []

    def run(shape: tuple[int, ...], peaks: bool = True) -> Sample:
        again.append(shape[0])
        return Sample(shape[0] * MiB, shape, 10.0, MiB)  # slower: the first is kept

    remeasure(samples, run)
    assert again == [4, 12]
