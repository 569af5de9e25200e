"""A warm parent for sandboxes: one interpreter with the sandboxes' imports done, forking a
fresh child per job (Linux).

``advise`` starts 5-7 sandboxes (the overhead probe, 3-4 samples, graph builds), and each
fresh interpreter spent 0.25 s (``numpy``, ``zarr``) to 0.7 s (``dask.array``) importing
before it measured anything: a third of a pipeline advise. A forked child of an idle,
pre-imported parent is as fresh for what it measures (a clean heap, its own resident-memory
high-water mark, none of the caller's threads, killed alone on OOM or timeout) and starts in
milliseconds. The same pattern as ``multiprocessing``'s forkserver, but scoped: a spawner
lives only inside :func:`chunkpilot.measure.sandbox.sandbox_pool` (one ``advise``), imports
only the sandbox module it runs, and has exactly the environment a spawned sandbox would
get: an interpreter that had imported more (``dask.array`` for a sample that needs only
``numpy``) starts its jobs from another malloc state, and that alone timed a mid-size sample
2x slower.

Protocol (JSON lines): the spawner prints ``{"ready": true}`` once imported; for each request
``{"module", "args", "err"}`` it forks, prints ``{"pid"}``, waits for the child and prints
``{"returncode"}`` (``-N`` for signal N, as ``subprocess`` does).
"""

from __future__ import annotations

import contextlib
import importlib
import json
import os
import resource
import select
import signal
import subprocess
import sys
import threading
import warnings
from collections.abc import Mapping
from typing import IO

#: Give up on a spawner that is not ready after this long (sandboxes then start fresh).
READY_TIMEOUT_S = 60.0


def available() -> bool:
    """Forking a warm interpreter is safe on Linux; elsewhere sandboxes start fresh."""
    return sys.platform.startswith("linux") and hasattr(os, "fork")


class SpawnerError(RuntimeError):
    """The spawner died or answered nonsense: run the job as a fresh subprocess instead."""


class ForkedJob:
    """A sandbox forked by a :class:`Spawner`: the ``Popen`` methods ``_watch`` needs."""

    def __init__(self, spawner: Spawner, pid: int) -> None:
        self._spawner = spawner
        self.pid = pid
        self.returncode: int | None = None

    def poll(self) -> int | None:
        """The exit code once the spawner reported it, else ``None`` (never blocks)."""
        if self.returncode is None and self._spawner.readable():
            self.returncode = int(self._spawner.read()["returncode"])
        return self.returncode

    def wait(self) -> int:
        """Block until the spawner reports the child's exit (killed, if the spawner died)."""
        if self.returncode is None:
            try:
                self.returncode = int(self._spawner.read()["returncode"])
            except SpawnerError:
                self.returncode = -signal.SIGKILL
        return self.returncode

    def kill(self) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.kill(self.pid, signal.SIGKILL)


class Spawner:
    """The parent side: one warm interpreter that imported ``module`` (and nothing else a
    fresh sandbox of it would not: the heap a job starts from is a fresh one's), started with
    ``env``; one job at a time. ``preload``: modules every job imports anyway before it
    times anything (a remote store's readers, ~1 s a sample), imported once here. Use it
    after :meth:`wait_ready` (:func:`start_spawners` does both)."""

    def __init__(self, module: str, env: Mapping[str, str], preload: tuple[str, ...] = ()
                 ) -> None:
        self.module = module
        self.lock = threading.Lock()
        self._pending = b""  # read from the pipe, not yet a whole line
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "chunkpilot.measure.spawner", module, *preload],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
            env=dict(env), start_new_session=True,
        )

    def wait_ready(self) -> None:
        """Block until the spawner has done its imports (closed and raises if it never does)."""
        if not self.readable(READY_TIMEOUT_S) or not self.read().get("ready"):
            self.close()
            raise SpawnerError("the sandbox spawner did not start")

    def readable(self, timeout_s: float = 0.0) -> bool:
        """A whole line is waiting (read already, or in the pipe). Lines are read from the
        pipe's descriptor, never through a buffered reader: a job that died at once has its
        ``returncode`` line sent right after its ``pid`` line, and a reader that buffered
        both would leave the pipe empty and ``select`` saying nothing more will come."""
        if b"\n" in self._pending:
            return True
        out: IO[bytes] = self.proc.stdout  # type: ignore[assignment]
        return bool(select.select([out], [], [], timeout_s)[0])

    def read(self) -> dict:
        """The next line, as JSON (blocks until it is whole)."""
        fd = self.proc.stdout.fileno()  # type: ignore[union-attr]
        while b"\n" not in self._pending:
            chunk = os.read(fd, 4096)
            if not chunk:
                raise SpawnerError("the sandbox spawner exited")
            self._pending += chunk
        line, self._pending = self._pending.split(b"\n", 1)
        return dict(json.loads(line))

    def start(self, args: list[str], err_path: str) -> ForkedJob:
        """Fork a child running ``python -m module *args`` (stderr to ``err_path``)."""
        try:
            self.proc.stdin.write(json.dumps(  # type: ignore[union-attr]
                {"module": self.module, "args": args, "err": err_path}).encode() + b"\n")
            self.proc.stdin.flush()  # type: ignore[union-attr]
            return ForkedJob(self, int(self.read()["pid"]))
        except (OSError, ValueError, KeyError) as e:
            raise SpawnerError(f"the sandbox spawner failed: {e}") from e

    def close(self) -> None:
        """End the spawner (EOF, then its whole process group) and reap it."""
        with contextlib.suppress(OSError, ValueError):
            self.proc.stdin.close()  # type: ignore[union-attr]
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait()
        with contextlib.suppress(OSError, ValueError):
            self.proc.stdout.close()  # type: ignore[union-attr]


def start_spawners(count: int, module: str, env: Mapping[str, str],
                   preload: tuple[str, ...] = ()) -> list[Spawner]:
    """``count`` ready spawners of ``module``, importing at the same time (on a machine with
    a core each, the wall time of one); none is left running if any fails to start."""
    started: list[Spawner] = []
    try:
        for _ in range(count):
            started.append(Spawner(module, env, preload))
        for sp in started:
            sp.wait_ready()
    except BaseException:
        for sp in started:
            sp.close()
        raise
    return started


# --- the spawner process ----------------------------------------------------------------------

def _child(request: dict) -> None:
    """In the forked child: a session of its own, stdio as a spawned sandbox has, run the
    module as ``__main__`` (its own ``main`` exits with ``os._exit``)."""
    import runpy
    import traceback

    os.setsid()
    devnull = os.open(os.devnull, os.O_RDWR)
    err = os.open(request["err"], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.dup2(devnull, 0)
    os.dup2(devnull, 1)
    os.dup2(err, 2)
    code = 0
    # the module was imported by this spawner: runpy warns that running it again as
    # __main__ may be unpredictable (it is not: it runs ``main``), and a sample that exited
    # with a code had that warning quoted as its error
    warnings.filterwarnings("ignore", ".*found in sys.modules after import of package",
                            RuntimeWarning)
    try:
        sys.argv = [request["module"], *request["args"]]
        runpy.run_module(request["module"], run_name="__main__", alter_sys=True)
    except SystemExit as e:
        code = e.code if isinstance(e.code, int) else 1
    except BaseException:  # noqa: BLE001 - report like an interpreter would, then exit
        traceback.print_exc()
        code = 1
    with contextlib.suppress(Exception):
        sys.stderr.flush()
    os._exit(code)


def _say(obj: dict) -> None:
    sys.stdout.write(json.dumps(obj) + "\n")
    sys.stdout.flush()


def main(module: str, *preload: str) -> None:
    import gc
    import warnings

    die_with_parent()
    no_core_dumps()
    importlib.import_module(module)
    for name in preload:  # a job that needs a missing one reports it itself
        with contextlib.suppress(ImportError):
            importlib.import_module(name)
    gc.collect()
    gc.freeze()  # forked children then do not touch (copy) the preloaded objects in a GC
    # numpy's BLAS keeps an idle thread; forking past it is safe (its own fork handlers)
    warnings.filterwarnings("ignore", category=DeprecationWarning, message=".*fork.*")
    _say({"ready": True})
    for line in sys.stdin:
        request = json.loads(line)
        pid = os.fork()
        if pid == 0:
            _child(request)
        _say({"pid": pid})
        _, status = os.waitpid(pid, 0)
        _say({"returncode": os.waitstatus_to_exitcode(status)})


def no_core_dumps() -> None:
    """A sandbox that crashes (the user's function segfaults) is a finding, not a core file
    in the user's working directory: where ``ulimit -c`` allows them, a crashed sample left
    its whole address space there (42 MB for a 1 MiB sample). Forks inherit it."""
    with contextlib.suppress(ValueError, OSError):
        resource.setrlimit(resource.RLIMIT_CORE, (0, resource.getrlimit(resource.RLIMIT_CORE)[1]))


def die_with_parent() -> None:
    """Linux: get SIGKILL if the process that started us dies (no orphaned spawners or
    sandboxes); a no-op elsewhere."""
    import ctypes

    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG


if __name__ == "__main__":
    main(*sys.argv[1:])
