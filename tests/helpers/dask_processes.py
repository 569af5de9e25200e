"""A real ``dask scheduler`` and ``dask worker`` processes on 127.0.0.1, always stopped.

``with dask_processes(tmp_path, preload="chunkpilot.plugin") as cluster:`` starts the
scheduler (logging to ``cluster.scheduler_log``) and one ``dask worker --nworkers N`` process,
waits for the workers, and on exit stops them (SIGTERM, then SIGKILL for stragglers) so no
process is left and no port stays open.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

import psutil

DASK = str(Path(sys.executable).with_name("dask"))
ROOT = Path(__file__).resolve().parents[2]
START_TIMEOUT_S = 90


@dataclass
class DaskProcesses:
    """A running scheduler with workers."""

    address: str
    """``tcp://127.0.0.1:PORT`` of the scheduler."""
    dashboard: str
    """``http://127.0.0.1:PORT`` of the scheduler's HTTP server."""
    scheduler_log: Path
    """The scheduler's stderr (its log)."""
    scheduler_pid: int

    def log(self) -> str:
        return self.scheduler_log.read_text(errors="replace")


def _wait_for(path: Path, proc: subprocess.Popen[bytes], what: str) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    while not path.exists() or not path.read_text().strip():
        if proc.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"{what} did not start (exit code {proc.poll()})")
        time.sleep(0.2)


def _stop(procs: list[subprocess.Popen[bytes]]) -> None:
    """SIGTERM each process (workers first), wait, then kill whatever is left of the tree."""
    tree: list[psutil.Process] = []
    for p in procs:
        with contextlib.suppress(psutil.Error):
            tree += psutil.Process(p.pid).children(recursive=True)
    for p in procs:
        if p.poll() is None:
            p.send_signal(signal.SIGTERM)
        try:
            p.wait(timeout=30)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait(timeout=10)
    _, alive = psutil.wait_procs(tree, timeout=15)
    for child in alive:
        with contextlib.suppress(psutil.Error):
            child.kill()
    psutil.wait_procs(alive, timeout=10)


@contextlib.contextmanager
def dask_processes(tmp: Path, *, workers: int = 2, threads: int = 1,
                   memory_limit: str = "400MiB", preload: str | None = None,
                   env: Mapping[str, str] | None = None) -> Iterator[DaskProcesses]:
    """Start a scheduler (optionally ``--preload``) and ``workers`` worker processes."""
    from distributed import Client

    tmp.mkdir(parents=True, exist_ok=True)
    # the repository on the path: functions defined in test modules unpickle there too
    path = os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))
    penv = {**os.environ, **(env or {}), "PYTHONUNBUFFERED": "1", "PYTHONPATH": path}
    sched_file = tmp / "scheduler.json"
    log = tmp / "scheduler.log"
    cmd = [DASK, "scheduler", "--host", "127.0.0.1", "--port", "0",
           "--dashboard-address", "127.0.0.1:0", "--scheduler-file", str(sched_file)]
    if preload:
        cmd += ["--preload", preload]
    procs: list[subprocess.Popen[bytes]] = []
    try:
        with open(log, "wb") as out:
            procs.append(subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, env=penv,
                                          cwd=tmp))
        _wait_for(sched_file, procs[0], "dask scheduler")
        info = json.loads(sched_file.read_text())
        address, port = info["address"], info["services"]["dashboard"]
        with open(tmp / "workers.log", "wb") as out:
            procs.insert(0, subprocess.Popen(
                [DASK, "worker", address, "--nworkers", str(workers), "--nthreads",
                 str(threads), "--memory-limit", memory_limit, "--host", "127.0.0.1",
                 "--no-dashboard", "--local-directory", str(tmp / "workers")],
                stdout=out, stderr=subprocess.STDOUT, env=penv, cwd=tmp))
        with Client(address, timeout="30s", set_as_default=False) as client:
            client.wait_for_workers(workers, timeout=START_TIMEOUT_S)
        yield DaskProcesses(address, f"http://127.0.0.1:{port}", log, procs[-1].pid)
    finally:
        _stop(procs)
