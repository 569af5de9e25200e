"""The environment of a profiling sandbox: a worker's, or this process's own malloc."""

from __future__ import annotations

import os

import numpy as np
import pytest
from distributed import LocalCluster

from chunkpilot.measure.environ import sandbox_env, thresholds_at_start
from chunkpilot.measure.memory import LINUX
from chunkpilot.measure.profile import profile_function
from chunkpilot.types import ArraySpec, Resources, WorkSpec

MiB = 2**20
THREADS = Resources(1, 2, 2048 * MiB, "threads")


def test_the_start_up_environment_is_read_from_the_process_s_own_record(tmp_path):
    environ = tmp_path / "environ"
    environ.write_bytes(b"HOME=/root\0MALLOC_TRIM_THRESHOLD_=0\0"
                        b"GLIBC_TUNABLES=glibc.malloc.mmap_threshold=1=2\0")
    start = thresholds_at_start(str(environ))
    assert start["MALLOC_TRIM_THRESHOLD_"] == "0"
    assert start["GLIBC_TUNABLES"] == "glibc.malloc.mmap_threshold=1=2"  # split at the first =
    assert start["MALLOC_MMAP_THRESHOLD_"] is None and "HOME" not in start


def test_without_a_start_up_record_the_current_environment_stands(tmp_path, monkeypatch):
    monkeypatch.setenv("MALLOC_TOP_PAD_", "4096")
    assert thresholds_at_start(str(tmp_path / "missing"))["MALLOC_TOP_PAD_"] == "4096"


@pytest.mark.skipif(not LINUX, reason="/proc/self/environ")
def test_a_variable_set_after_start_up_is_not_the_process_s_malloc(monkeypatch):
    """glibc read its thresholds when this process started: a later ``os.environ`` change
    (a Nanny's) does not change them, so the threaded scheduler's sandbox ignores it."""
    started_with = thresholds_at_start()["MALLOC_TOP_PAD_"]
    monkeypatch.setenv("MALLOC_TOP_PAD_", "123456789")
    assert thresholds_at_start()["MALLOC_TOP_PAD_"] == started_with
    assert sandbox_env(THREADS)["MALLOC_TOP_PAD_"] == started_with


def _refuses_a_workers_malloc(block: np.ndarray) -> np.ndarray:
    if os.environ.get("MALLOC_TRIM_THRESHOLD_") == "65536":
        raise RuntimeError("measured under a distributed worker's malloc settings")
    return block + 1.0


@pytest.mark.cluster
@pytest.mark.skipif(not LINUX, reason="/proc/self/environ")
@pytest.mark.skipif(thresholds_at_start()["MALLOC_TRIM_THRESHOLD_"] is not None,
                    reason="this process started with a fixed trim threshold")
def test_a_threads_sandbox_keeps_this_process_s_malloc_after_a_nanny_ran_here(monkeypatch):
    """A LocalCluster's Nanny leaves MALLOC_TRIM_THRESHOLD_=65536 in this process's
    environment; the threaded scheduler still runs with the malloc this process started
    with, and so do its samples (a fixed threshold maps every temporary afresh: 1.9x slower
    on some functions, and a per-call RSS peak instead of malloc's bytes in use)."""
    monkeypatch.delenv("MALLOC_TRIM_THRESHOLD_", raising=False)  # put back after the test
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    with LocalCluster(n_workers=1, threads_per_worker=1, processes=True, memory_limit="512MiB",
                      host="127.0.0.1", dashboard_address=None):
        pass
    assert os.environ.get("MALLOC_TRIM_THRESHOLD_") == "65536"  # the Nanny's, still here
    env = sandbox_env(THREADS)
    assert env["MALLOC_TRIM_THRESHOLD_"] is None
    prof = profile_function(_refuses_a_workers_malloc, ArraySpec((512, 1024), "float64"),
                            WorkSpec(2), THREADS, {"kind": "synthetic"}, env=env,
                            baseline_guess_bytes=0)
    assert any(s.ok for s in prof.samples), [s.error for s in prof.samples]
