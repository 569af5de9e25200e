"""Run one profiling sample in a fresh subprocess, watched, time-limited and killable;
inside :func:`sandbox_pool`, forked from a warm, pre-imported parent (``spawner``)."""

from __future__ import annotations

import contextlib
import json
import os
import pickle
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

import cloudpickle
import psutil

from chunkpilot.errors import FunctionLoadError
from chunkpilot.measure import spawner
from chunkpilot.measure.environ import EnvOverrides
from chunkpilot.measure.spawner import ForkedJob, Spawner, SpawnerError, start_spawners
from chunkpilot.units import format_bytes, format_seconds

#: How often the parent samples the child's resident memory.
POLL_SECONDS = 0.01

#: A running sandbox: a fresh interpreter, or a child forked by a warm spawner.
Job = subprocess.Popen[bytes] | ForkedJob
#: A spawner's key: the module it runs, the modules it preloads and its environment.
PoolKey = tuple[str, tuple[str, ...], tuple[tuple[str, str], ...]]
#: The warm spawners of the innermost :func:`sandbox_pool`, by module and environment.
_POOL: ContextVar[dict[PoolKey, Spawner | None] | None] = ContextVar(
    "chunkpilot_sandbox_pool", default=None)
#: The second set of spawners of the innermost :func:`sandbox_pool` (``fresh_sandboxes``).
_SECOND: ContextVar[dict[PoolKey, Spawner | None] | None] = ContextVar(
    "chunkpilot_second_pool", default=None)


@dataclass(frozen=True, slots=True)
class SampleJob:
    """One block to profile: where its data comes from and how to run it."""

    func: Callable[[Any], Any] | None
    """The user's per-block function, or ``None`` for "load the block"."""
    source: Mapping[str, Any]
    """``{"kind": "zarr"|"npy"|"synthetic", "path": ..., "array": ...}``."""
    region: tuple[tuple[int, int], ...]
    """(start, stop) per axis of the block inside the source."""
    dtype: str
    """Element type of the block."""
    memory_cap_bytes: int
    """Kill the sample when its resident memory passes this."""
    timeout_s: float
    """Kill the sample when it runs longer than this."""
    env: EnvOverrides
    """Environment over this process's (BLAS thread counts as the worker would set them)."""
    repeat_seconds: float = 1.0
    """Repeat the call for a stable median while under this many seconds ..."""
    min_warm_runs: int = 3
    """... but always time at least this many warm calls after the first (cold) one."""
    max_repeats: int = 8
    """At most this many timed calls."""
    out_ndim: int | None = None
    """Dimensions the function must return (the block's minus ``drop_axis``); ``None``: any."""
    pair_threads: int = 0
    """Also time this many calls at once in as many threads (whether they share the GIL),
    on blocks of 10-200 ms a call; 0: never."""
    time_gil: bool = False
    """Time the call's GIL share (``measure.gil``) on such a block, with or without a pair."""
    measure_peaks: bool = True
    """Read the warm calls' peak (under dynamic malloc thresholds, in untimed calls of their
    own); ``False`` for a second measurement of a block's time (``remeasure.remeasure``)."""
    preload: tuple[str, ...] = ()
    """Modules every such job imports before it times anything (a remote store's readers):
    a warm spawner imports them once, not every sample."""


def pickle_func(func: Callable[[Any], Any] | None) -> bytes | None:
    """Serialise the user's function for the sandbox, with a clear error when impossible."""
    if func is None:
        return None
    try:
        return cloudpickle.dumps(func)
    except Exception as e:
        raise FunctionLoadError(
            f"Expected a function that can be sent to a subprocess (picklable). Got {func!r}, "
            f"which fails to pickle: {e}"
        ) from e


def run_sample(job: SampleJob, func_bytes: bytes | None) -> dict[str, Any]:
    """Run ``job`` in a subprocess; return the child's JSON result or a failure record."""
    shape = tuple(b - a for a, b in job.region)
    payload = {
        "func": func_bytes,
        "sys_path": list(sys.path),
        "source": dict(job.source),
        "region": job.region,
        "shape": shape,
        "dtype": job.dtype,
        "repeat_seconds": job.repeat_seconds,
        "max_repeats": job.max_repeats,
        "min_warm_runs": job.min_warm_runs,
        "address_space_bytes": job.memory_cap_bytes + 2**30,
        "out_ndim": job.out_ndim,
        "pair_threads": job.pair_threads,
        "time_gil": job.time_gil,
        "measure_peaks": job.measure_peaks,
        "memory_cap_bytes": job.memory_cap_bytes,
        "timeout_s": job.timeout_s,
    }
    return run_in_sandbox("chunkpilot.measure.child", payload,
                          memory_cap_bytes=job.memory_cap_bytes, timeout_s=job.timeout_s,
                          env=job.env, prefix="chunkpilot-sample-", preload=job.preload,
                          paired=True)  # small samples are measured twice (remeasure.remeasure)


def run_in_sandbox(module: str, payload: dict[str, Any], *, memory_cap_bytes: int,
                   timeout_s: float, env: EnvOverrides, prefix: str,
                   preload: tuple[str, ...] = (), paired: bool = False) -> dict[str, Any]:
    """Run ``python -m module JOB RESULT`` on a pickled payload in a fresh (or freshly
    forked, inside :func:`sandbox_pool`), watched process.

    ``paired``: such jobs also run inside :func:`fresh_sandboxes` (start both spawners).
    Returns the child's JSON result, or a failure record (``ok: False`` with ``kind``
    "oom", "timeout" or "crash") when it was killed or died; temp files are removed.
    """
    with tempfile.TemporaryDirectory(prefix=prefix) as tmp:
        job_path, result_path, err_path = (os.path.join(tmp, n) for n in ("job", "result", "err"))
        with open(job_path, "wb") as f:
            pickle.dump(payload, f)
        full_env = {k: str(v) for k, v in {**os.environ, **env}.items() if v is not None}
        with _launch(module, [job_path, result_path], err_path, full_env, preload,
                     paired) as proc:
            try:
                verdict = _watch(proc, memory_cap_bytes, timeout_s)
            except SpawnerError as e:  # the warm parent died under the job
                verdict = {"ok": False, "kind": "crash", "error": str(e)}
            finally:
                _kill_group(proc)  # grandchildren the function left running
        if verdict is not None:
            return verdict
        if os.path.exists(result_path):
            with open(result_path) as f:
                return dict(json.load(f))
        return _crash_record(proc.returncode, err_path)


@contextlib.contextmanager
def sandbox_pool() -> Iterator[None]:
    """Inside, sandboxes fork from warm spawners (one per module and environment, Linux) instead of
    starting fresh interpreters; every spawner ends with the block (see ``spawner``)."""
    if _POOL.get() is not None or not spawner.available():
        yield
        return
    pool: dict[PoolKey, Spawner | None] = {}
    second: dict[PoolKey, Spawner | None] = {}
    token, token2 = _POOL.set(pool), _SECOND.set(second)
    try:
        yield
    finally:
        _SECOND.reset(token2)
        _POOL.reset(token)
        for sp in (*pool.values(), *second.values()):
            if sp is not None:
                sp.close()


@contextlib.contextmanager
def fresh_sandboxes() -> Iterator[None]:
    """Inside, sandboxes fork from a *second* set of warm spawners of the innermost
    :func:`sandbox_pool` (outside one, they start as fresh interpreters): a second
    measurement of a block must not inherit the first's allocator state from the same warm
    parent. Another parent is an independent draw, as a fresh interpreter is, for one start
    per ``advise`` instead of one per twice-measured sample (~1.2 s each)."""
    token = _POOL.set(_SECOND.get())
    try:
        yield
    finally:
        _POOL.reset(token)


def _start_spawners(pool: dict[PoolKey, Spawner | None], key: PoolKey, env: dict[str, str],
                    paired: bool) -> None:
    """Start ``pool``'s spawner for ``key``; when ``paired``, the second pool's too, at the
    same time (its start, ~0.3-1.2 s of imports, then costs no wall time on two cores): a
    sample measured twice forks its second measurement there (:func:`fresh_sandboxes`).
    Both wait until imported, so neither imports while a sample is timed."""
    second = _SECOND.get()
    pools = [pool]
    if paired and second is not None and second is not pool and key not in second:
        pools.append(second)
    try:
        started: list[Spawner | None] = list(start_spawners(len(pools), key[0], env, key[1]))
    except (SpawnerError, OSError):
        started = [None] * len(pools)  # this environment runs fresh interpreters
    for p, sp in zip(pools, started, strict=True):
        p[key] = sp


@contextlib.contextmanager
def _launch(module: str, args: list[str], err_path: str, env: dict[str, str],
            preload: tuple[str, ...] = (), paired: bool = False) -> Iterator[Job]:
    """A sandbox running ``python -m module *args``: forked from the pool's warm spawner for
    ``env`` and ``preload`` when one is open and idle, else a fresh interpreter."""
    pool = _POOL.get()
    sp = None
    if pool is not None:
        key = (module, preload, tuple(sorted(env.items())))
        if key not in pool:
            _start_spawners(pool, key, env, paired)
        sp = pool[key]
    if sp is not None and sp.lock.acquire(blocking=False):
        try:
            try:
                job = sp.start(args, err_path)
            except SpawnerError:
                pool[key] = None  # type: ignore[index]
                sp.close()
            else:
                yield job
                return
        finally:
            sp.lock.release()
    with open(err_path, "wb") as err:
        # its own session and process group: the terminal's Ctrl-C/hang-up reaches only us
        # (we kill it), and killing the group also ends whatever the user's code started
        yield subprocess.Popen(
            [sys.executable, "-m", module, *args],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=err, env=env,
            start_new_session=True,
        )


def _watch(proc: Job, memory_cap_bytes: int,
           timeout_s: float) -> dict[str, Any] | None:
    """Poll the child until it exits; kill it on memory cap, timeout or Ctrl-C."""
    start = time.monotonic()
    ps: psutil.Process | None = None
    try:
        while proc.poll() is None:
            with contextlib.suppress(psutil.Error):  # (a forked job gone already: reaped)
                ps = ps or psutil.Process(proc.pid)
                rss = ps.memory_info().rss
                if rss > memory_cap_bytes:
                    _kill(proc)
                    return {"ok": False, "kind": "oom",
                            "error": f"used more than {format_bytes(memory_cap_bytes)}"}
            if time.monotonic() - start > timeout_s:
                _kill(proc)
                return {"ok": False, "kind": "timeout",
                        "error": f"timed out after {format_seconds(timeout_s)}"}
            time.sleep(POLL_SECONDS)
    except BaseException:
        _kill(proc)
        raise
    return None


def _kill(proc: Job) -> None:
    """Kill the sandbox and everything in its process group, and reap it."""
    _kill_group(proc)
    with contextlib.suppress(ProcessLookupError):
        proc.kill()
    proc.wait()


def _kill_group(proc: Job) -> None:
    """SIGKILL the sandbox's process group (it leads it: pgid == pid)."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)


def _crash_record(returncode: int | None, err_path: str) -> dict[str, Any]:
    with open(err_path, "rb") as f:
        tail = f.read()[-2000:].decode(errors="replace").strip().splitlines()
    if returncode is not None and returncode < 0:
        name = signal.Signals(-returncode).name
        kind = "oom" if name == "SIGKILL" else "crash"
        return {"ok": False, "kind": kind, "error": f"process died with {name}"}
    said = f" ({tail[-1][:400]})" if tail else ""  # an interpreter's last words, if any
    return {"ok": False, "kind": "crash", "error": f"exit code {returncode}{said}"}
