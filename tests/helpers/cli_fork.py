"""Run many ``chunkpilot`` command lines, each in its own forked process, after importing
the CLI once (``python -m tests.helpers.cli_fork < jobs.json``).

A fresh interpreter per case spends ~2 s importing dask, distributed and bokeh before it
can reject a bad argument; a hundred cases would take minutes on two cores. Here the parent
imports the commands once and forks a child per case, which runs the real console entry
point (``chunkpilot.cli.main()`` with ``sys.argv``) in its own working directory and
``TMPDIR``, its stdout and stderr on files, and exits through the interpreter's exit hooks.
The parent keeps up to ``parallel`` children running, and prints one JSON object mapping each
job's id to its exit code (``None``: killed after its timeout).

stdin: ``{"parallel": 4, "timeout_s": 180, "jobs": [{"id", "args", "cwd", "tmp", "stdout",
"stderr"}]}``.
"""

from __future__ import annotations

import atexit
import contextlib
import json
import os
import signal
import sys
import tempfile
import time
from typing import Any

import chunkpilot.cli
import chunkpilot.commands.advise  # noqa: F401  (imported once, before forking)
import chunkpilot.commands.check  # noqa: F401
import chunkpilot.commands.tune  # noqa: F401


def _child(job: dict[str, Any]) -> None:
    """In the forked process: the job's cwd, TMPDIR and output files, then the CLI."""
    code = 1
    try:
        os.chdir(job["cwd"])
        os.environ["TMPDIR"] = job["tmp"]
        tempfile.tempdir = None  # recomputed from TMPDIR on next use
        for fd, path in ((1, job["stdout"]), (2, job["stderr"])):
            f = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
            os.dup2(f, fd)
            os.close(f)
        sys.argv = ["chunkpilot", *job["args"]]
        try:
            chunkpilot.cli.main()
            code = 0
        except SystemExit as e:
            code = e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
        atexit._run_exitfuncs()
    finally:
        for stream in (sys.stdout, sys.stderr):
            with contextlib.suppress(Exception):  # a closed pipe: nothing more to say
                stream.flush()
        os._exit(code)


def run(spec: dict[str, Any]) -> dict[str, int | None]:
    jobs, parallel = list(spec["jobs"]), int(spec.get("parallel", 4))
    timeout = float(spec.get("timeout_s", 180))
    running: dict[int, tuple[str, float]] = {}
    codes: dict[str, int | None] = {}
    started: dict[str, float] = {}
    seconds: dict[str, float] = {}
    while jobs or running:
        while jobs and len(running) < parallel:
            job = jobs.pop(0)
            pid = os.fork()
            if pid == 0:
                _child(job)
            running[pid] = (job["id"], time.monotonic() + timeout)
            started[job["id"]] = time.monotonic()
        pid, status = os.waitpid(-1, os.WNOHANG)
        if pid == 0:
            time.sleep(0.01)
            for p, (jid, deadline) in list(running.items()):
                if time.monotonic() > deadline:
                    os.kill(p, signal.SIGKILL)
                    os.waitpid(p, 0)
                    codes[jid] = None
                    del running[p]
            continue
        if pid in running:
            jid, _ = running.pop(pid)
            codes[jid] = os.waitstatus_to_exitcode(status)
            seconds[jid] = time.monotonic() - started[jid]
    slowest = sorted(seconds.items(), key=lambda kv: -kv[1])[:10]
    print("slowest cases: " + ", ".join(f"{k} {v:.1f} s" for k, v in slowest), file=sys.stderr)
    return codes


if __name__ == "__main__":
    print(json.dumps(run(json.load(sys.stdin))))
