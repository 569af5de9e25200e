"""The function sandbox's child (``measure.child``) in real subprocesses: what a sample's
peak counts."""

from __future__ import annotations

import time

import numpy as np
import pytest

from chunkpilot.measure.memory import LINUX
from chunkpilot.measure.profile import profile_function
from chunkpilot.types import ArraySpec, Resources, WorkSpec

MiB = 2**20

pytestmark = [pytest.mark.skipif(not LINUX, reason="a call's peak is reset per call on Linux only"),
              pytest.mark.timing]


def cached_table():
    """A function that builds a 64 MiB lookup table on its first real call and keeps it, as
    lazily built caches do (the sandbox's warm-up call on a 4 x 4 block does not build it)."""
    table: list[np.ndarray] = []

    def f(block: np.ndarray) -> np.ndarray:
        if block.size > 64 and not table:
            table.append(np.ones(64 * MiB // 8))
        return block * 2.0
    return f


#: The threaded scheduler's sandbox keeps glibc's dynamic malloc thresholds (read with
#: ``malloc_live.LivePeak``); a distributed one gets the workers' fixed threshold (RSS peaks).
MALLOCS = {"threads": {}, "workers": {"MALLOC_TRIM_THRESHOLD_": "65536"}}


@pytest.mark.parametrize("malloc", list(MALLOCS))
def test_a_samples_peak_is_a_warm_calls_not_the_first_calls_set_up(malloc):
    """A worker runs the function many times: a one-time cache is held from the first task
    on, not made by every task, so the per-task peak is a warm call's (block + output)."""
    spec = ArraySpec((1024, 1024), "float64")
    prof = profile_function(cached_table(), spec, WorkSpec(2), Resources(1, 1, 2048 * MiB),
                            {"kind": "synthetic"}, env=MALLOCS[malloc], baseline_guess_bytes=0)
    ok = [s for s in prof.samples if s.ok]
    assert len(ok) >= 2
    for s in ok:
        assert s.nbytes <= s.peak_bytes < 3 * s.nbytes + 4 * MiB, (s.nbytes, s.peak_bytes)


def first_real_call_sleeps(seconds: float):
    """A function whose first call on a real block (the sandbox's 4 x 4 warm-up does not
    count) takes ``seconds`` longer, as a first call that faults in fresh memory does."""
    done: list[bool] = []

    def f(block: np.ndarray) -> np.ndarray:
        if block.size > 64 and not done:
            done.append(True)
            time.sleep(seconds)
        return block * 2.0
    return f


def test_a_samples_cold_call_is_recorded_apart_from_its_warm_calls():
    """The extra of the first call over the warm ones is kept (``core.coldstart`` prices a
    worker's first task with it); the sample's time stays the warm calls' median."""
    spec = ArraySpec((1024, 1024), "float64")
    prof = profile_function(first_real_call_sleeps(0.3), spec, WorkSpec(2),
                            Resources(1, 1, 2048 * MiB), {"kind": "synthetic"}, env={},
                            baseline_guess_bytes=0)
    ok = [s for s in prof.samples if s.ok]
    assert ok and all(s.cold_extra_seconds is not None for s in ok)
    for s in ok:  # each sample runs in a fresh process: each first call sleeps
        assert s.cold_extra_seconds >= 0.25, s
        assert s.seconds < 0.25, s


def sleepy(block: np.ndarray) -> np.ndarray:
    time.sleep(0.6)
    return block


def test_slow_calls_get_fewer_warm_runs_instead_of_a_timeout():
    """Hunt: a 1.5 s call under --profile-timeout 5 timed out on its third run ("timed out
    after 5.00 s", as if one call had): the runs stop while the next could not finish."""
    from chunkpilot.measure.child import TIMEOUT_SHARE, _no_time_for
    from chunkpilot.measure.sandbox import SampleJob, pickle_func, run_sample

    assert _no_time_for({"timeout_s": 2.0}, 0.6, 2 * 0.6)  # 0.6 + 1.2 > 0.8 x 2
    assert not _no_time_for({"timeout_s": 60.0}, 0.6, 2 * 0.6)
    assert not _no_time_for({}, 100.0, 10.0) and TIMEOUT_SHARE < 1
    job = SampleJob(sleepy, {"kind": "synthetic"}, ((0, 64), (0, 64)), "float64", 2048 * MiB,
                    3.0, {})  # warm-up + cold + 3 warm runs + a peak call: 3.6 s
    r = run_sample(job, pickle_func(sleepy))
    assert r["ok"], r
    assert r["repeats"] <= 2 and r["seconds"] >= 0.6


def slower_sleepy(block: np.ndarray) -> np.ndarray:
    time.sleep(1.0)
    return block


def test_the_untimed_peak_call_is_skipped_when_it_could_pass_the_timeout():
    """Hunt 17: on the threaded scheduler's sandbox (glibc's dynamic malloc thresholds) an
    untimed call reads the peak after the timed ones; a 2 s call under a 3 s timeout ran it
    anyway and the sample "timed out after 3.00 s" though its call fitted."""
    from chunkpilot.measure import malloc_live
    from chunkpilot.measure.sandbox import SampleJob, pickle_func, run_sample

    if malloc_live._MALLINFO2 is None:
        pytest.skip("needs glibc's mallinfo2")
    # the sandbox as the threaded scheduler's: glibc's dynamic thresholds (a test before may
    # have left a worker's fixed ones in this process's environment)
    dynamic = {k: None for k in (*malloc_live.FIXED_THRESHOLD_ENV, "GLIBC_TUNABLES")}
    job = SampleJob(slower_sleepy, {"kind": "synthetic"}, ((0, 64), (0, 64)), "float64",
                    2048 * MiB, 3.0, dynamic)  # warm-up 1 s + one call 1 s; a peak call: 3 s
    r = run_sample(job, pickle_func(slower_sleepy))
    assert r["ok"], r
    assert r["repeats"] == 1


def marks_its_input(block: np.ndarray) -> np.ndarray:
    if (block == 7.5).any():
        raise ValueError("saw its own output")
    block[...] = 7.5
    return block


def test_a_function_writing_into_its_input_gets_a_fresh_block_every_call():
    """Hunt 17: ``np.log(x, out=x)`` on a preloaded block (synthetic data, a numpy array)
    saw its own output on the next call and failed "on a 16 kiB block", where dask hands
    every task its own block (a zarr source is read afresh each call)."""
    from chunkpilot.measure.sandbox import SampleJob, pickle_func, run_sample

    job = SampleJob(marks_its_input, {"kind": "synthetic", "seed": 3}, ((0, 256), (0, 256)),
                    "float64", 2048 * MiB, 60.0, {})
    r = run_sample(job, pickle_func(marks_its_input))
    assert r["ok"], r
    assert r["repeats"] >= 3
