"""Shared pieces for the reliability tests (issue 17): the CLI in a subprocess with a private
TMPDIR and working directory, a small store, and misbehaving user functions."""

from __future__ import annotations

import hashlib
import os
import subprocess
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import zarr

from tests.helpers.cli_runs import CLI

#: A small LocalCluster, as the issue's reproductions use.
L = ["--workers", "1", "--threads-per-worker", "1", "--memory-limit", "400MiB"]

USER_FUNCS = """\
import os, subprocess, sys, threading, time
import numpy as np
print("PRINTED AT IMPORT")
def ident(b):
    print("PRINTED IN THE FUNCTION")
    return b
def leaves_thread(b):
    threading.Thread(target=time.sleep, args=(600,)).start()  # non-daemon
    return b
def spawns_and_hangs(b):
    code = "import time; time.sleep(600)"
    subprocess.Popen([sys.executable, "-c", code, "chunkpilot-grandchild"])
    time.sleep(600)
    return b
def _in_worker():
    try:
        from distributed import get_worker
        get_worker()
        return True
    except ValueError:
        return False
def interrupt_in_worker(b):
    if _in_worker():
        raise KeyboardInterrupt
    return b
def slowish(b):
    time.sleep(0.4)
    return b
"""


#: For tests that must act *during* a trial, whatever the machine's speed: on a dask worker
#: it leaves a marker per block (named by the block's shape) and never finishes a block of a
#: second shape, so the second trial runs until the test acts (warm-up and the first trial
#: use the advised shape). Quiet: stderr must hold chunkpilot's lines only. Outside a worker
#: (the profiling sandbox, dask's meta inference) a block sleeps ``SAMPLE_SLEEP_ENV`` seconds
#: (default 0.2, so that profiling lasts long enough to be interrupted); tests that only
#: need the trials set it to 0 and reach them ~8 s sooner.
SAMPLE_SLEEP_ENV = "CHUNKPILOT_TEST_SAMPLE_SLEEP"
HANG_IN_SECOND_TRIAL = """\
import os, time
def slow(b):
    try:
        from distributed import get_worker
        get_worker()
    except ValueError:
        time.sleep(float(os.environ.get("CHUNKPILOT_TEST_SAMPLE_SLEEP", "0.2")))
        return b
    d = os.environ["CHUNKPILOT_TEST_MARKERS"]
    shape = "x".join(map(str, b.shape))
    open(os.path.join(d, f"{shape}-{os.getpid()}-{time.monotonic_ns()}"), "w").close()
    first = os.path.join(d, "first-shape")
    if not os.path.exists(first):
        with open(first, "w") as f:
            f.write(shape)
    with open(first) as f:
        if f.read() != shape:
            time.sleep(600)
    time.sleep(0.2)
    return b
"""


def in_second_trial(markers: Path) -> bool:
    """Whether a block of a second shape has started (see ``HANG_IN_SECOND_TRIAL``)."""
    first = markers / "first-shape"
    if not first.exists():
        return False
    shape = first.read_text()
    return bool(shape) and any(not p.name.startswith((shape + "-", "first-"))
                               for p in markers.iterdir())


@dataclass(frozen=True)
class Run:
    """One finished CLI run and the private directories it had."""

    proc: subprocess.CompletedProcess[str]
    tmp: Path
    cwd: Path

    @property
    def err_lines(self) -> list[str]:
        return self.proc.stderr.splitlines()

    def one_error_line(self, pattern: str = "") -> str:
        """Assert exit 2, no traceback, exactly one stderr line (our error); return it."""
        import re

        r = self.proc
        assert r.returncode == 2, (r.returncode, r.stdout[-2000:], r.stderr[-3000:])
        assert "Traceback" not in r.stderr, r.stderr[-3000:]
        assert len(self.err_lines) == 1, r.stderr[-3000:]
        line = self.err_lines[0]
        assert line.startswith("chunkpilot: error: "), line
        assert re.search(pattern, line), line
        return line

    def nothing_left(self) -> None:
        left = sorted(p.name for p in self.tmp.iterdir())
        assert left == [], left
        assert sorted(p.name for p in self.cwd.iterdir()) == []


def run_cli(args: list[str], root: Path, *, timeout: float = 240, env: dict[str, str] | None = None,
            **kwargs: object) -> Run:
    """The CLI in a fresh interpreter with its own TMPDIR and working directory."""
    tmp, cwd = root / "tmp", root / "cwd"
    tmp.mkdir(parents=True, exist_ok=True)
    cwd.mkdir(parents=True, exist_ok=True)
    full_env = {**os.environ, "TMPDIR": str(tmp), "PYTHONWARNINGS": "ignore", **(env or {})}
    proc = subprocess.run([*CLI, *args], capture_output=True, text=True, timeout=timeout,
                          cwd=cwd, env=full_env, **kwargs)  # type: ignore[call-overload]
    return Run(proc, tmp, cwd)


def snapshot(root: Path) -> dict[str, tuple[str, int]]:
    """sha256 and mtime of every file under ``root``."""
    files = [root] if root.is_file() else sorted(p for p in root.rglob("*") if p.is_file())
    return {str(p): (hashlib.sha256(p.read_bytes()).hexdigest(), p.stat().st_mtime_ns)
            for p in files}


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 512 x 512 float64 zarr v3 store in 128 x 128 chunks."""
    path = tmp_path_factory.mktemp("store") / "data.zarr"
    z = zarr.create_array(str(path), shape=(512, 512), chunks=(128, 128), dtype="float64")
    z[:] = np.random.default_rng(0).standard_normal((512, 512))
    return path


@pytest.fixture(scope="module")
def funcs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("funcs") / "userfuncs.py"
    path.write_text(USER_FUNCS)
    return path
