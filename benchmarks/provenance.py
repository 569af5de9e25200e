"""What a result was measured with: the commit (full SHA), the state of ``chunkpilot/``, the
versions, the CPU and its load.

A run refuses uncommitted changes under ``chunkpilot/`` (the sandbox children import the
package from disk while the run goes on, so only a committed tree says what ran); with
``--allow-dirty`` it records the changed files and a sha256 of their diff instead.
"""

from __future__ import annotations

import contextlib
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


def clean_or_say(allow_dirty: bool, prog: str) -> dict[str, Any] | None:
    """:func:`check_clean`'s git state, or ``None`` after one line on stderr (a command-line
    benchmark then exits 2)."""
    try:
        return check_clean(allow_dirty)
    except DirtyTreeError as e:
        print(f"{prog}: error: {e}", file=sys.stderr)
        return None


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


#: A round is flagged when processes outside the benchmark (or other guests of the host, as
#: CPU steal) used more than this many cores' worth of CPU while it ran.
OTHERS_FLAG_CORES = 0.5


def cpu_seconds() -> tuple[float, float]:
    """(CPU seconds the machine has spent busy, stolen by other guests included; CPU seconds
    this process and its live and waited-for children have used) so far."""
    import psutil

    t = psutil.cpu_times()
    busy = sum(getattr(t, k, 0.0) for k in ("user", "nice", "system", "irq", "softirq", "steal"))
    me = psutil.Process()
    c = me.cpu_times()
    own = c.user + c.system + c.children_user + c.children_system
    for p in me.children(recursive=True):
        with contextlib.suppress(psutil.Error):
            k = p.cpu_times()
            own += k.user + k.system
    return busy, own


def others_cores(before: tuple[float, float], after: tuple[float, float],
                 wall_s: float) -> float:
    """Cores' worth of CPU used by everything but this benchmark between two
    :func:`cpu_seconds` readings ``wall_s`` apart. The 1-minute load average cannot tell:
    on 2 cores the benchmark's own two busy threads put it at ~2 (a quiet host's run had 123
    of 152 rounds "above the core count").

    >>> round(others_cores((100.0, 10.0), (103.0, 11.0), 2.0), 2)
    1.0
    """
    if wall_s <= 0:
        return 0.0
    return max(0.0, ((after[0] - before[0]) - (after[1] - before[1])) / wall_s)


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
