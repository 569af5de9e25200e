"""What a result was measured with: the commit (full SHA), the state of ``chunkpilot/``, the
versions, the CPU and its load.

A run refuses uncommitted changes under ``chunkpilot/`` (the sandbox children import the
package from disk while the run goes on, so only a committed tree says what ran); with
``--allow-dirty`` it records the changed files and a sha256 of their diff instead.
"""

from __future__ import annotations

import hashlib
import os
import platform
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = "chunkpilot"


class DirtyTreeError(RuntimeError):
    """``chunkpilot/`` has uncommitted changes and ``--allow-dirty`` was not given."""


def _git(*args: str) -> str:
    return subprocess.run(["git", *args], cwd=ROOT, text=True, capture_output=True,
                          timeout=30, check=True).stdout


def git_state() -> dict[str, Any]:
    """Full commit SHA, the files under ``chunkpilot/`` that differ from it, and a sha256
    over ``git diff HEAD -- chunkpilot/`` plus the contents of untracked files there."""
    try:
        commit = _git("rev-parse", "HEAD").strip()
        changed = [ln[3:] for ln in _git("status", "--porcelain", "--", PACKAGE).splitlines()]
        h = hashlib.sha256(_git("diff", "HEAD", "--", PACKAGE).encode())
        for f in sorted(_git("ls-files", "--others", "--exclude-standard", "--",
                             PACKAGE).split()):
            h.update(f.encode() + b"\0" + (ROOT / f).read_bytes())
    except (OSError, subprocess.SubprocessError) as e:
        return {"commit": None, "error": f"{type(e).__name__}: {e}"[:300]}
    return {"commit": commit, "dirty": bool(changed), "dirty_files": changed,
            "diff_sha256": h.hexdigest() if changed else None}


def check_clean(allow_dirty: bool) -> dict[str, Any]:
    """The git state; raise :class:`DirtyTreeError` for a dirty ``chunkpilot/`` unless
    allowed, or when the imported chunkpilot is not this checkout's."""
    import chunkpilot

    here = Path(chunkpilot.__file__).resolve().parent
    if here != ROOT / PACKAGE:
        raise DirtyTreeError(f"Expected chunkpilot imported from {ROOT / PACKAGE}. Got {here} "
                             "instead: install this checkout (pip install -e .).")
    state = git_state()
    if state.get("commit") is None:
        raise DirtyTreeError(f"Expected a git checkout at {ROOT}. Got {state.get('error')}.")
    if state["dirty"] and not allow_dirty:
        raise DirtyTreeError(
            f"Expected no uncommitted changes under {PACKAGE}/ (results name the commit that "
            f"ran). Got changes in {', '.join(state['dirty_files'][:8])}. Commit them, or pass "
            "--allow-dirty to record a sha256 of the diff instead.")
    return {**state, "allow_dirty": allow_dirty}


def cpu_model() -> str | None:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        return None
    return platform.processor() or None


def core_count() -> int:
    """Cores this process may use (affinity and cgroup limits: ``dask.system.CPU_COUNT``)."""
    from dask.system import CPU_COUNT

    return int(CPU_COUNT)


def load_1min() -> float:
    return float(os.getloadavg()[0])


def environment() -> dict[str, Any]:
    """Versions, machine and load at the start of a run."""
    import dask
    import distributed
    import numpy as np
    import zarr

    import chunkpilot

    return {"python": sys.version.split()[0], "dask": dask.__version__,
            "distributed": distributed.__version__, "numpy": np.__version__,
            "zarr": zarr.__version__, "chunkpilot": chunkpilot.__version__,
            "platform": platform.platform(), "cpu_model": cpu_model(), "cores": core_count(),
            "os_cpu_count": os.cpu_count(), "load_average_start": list(os.getloadavg()),
            "date": time.strftime("%Y-%m-%d %H:%M:%S %z")}
