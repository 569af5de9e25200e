"""The machine, versions and git state a benchmark result was measured with."""

from __future__ import annotations

import os
import platform
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np


def environment(quick: bool, repeats: int) -> dict[str, Any]:
    import dask
    import distributed
    import zarr

    import chunkpilot

    return {"quick": quick, "repeats": repeats, "python": sys.version.split()[0],
            "platform": platform.platform(), "cpus": os.cpu_count(),
            "load_average": list(os.getloadavg()), "dask": dask.__version__,
            "distributed": distributed.__version__, "zarr": zarr.__version__,
            "numpy": np.__version__, "chunkpilot": chunkpilot.__version__,
            "git": _git_state(), "date": time.strftime("%Y-%m-%d %H:%M:%S %z")}


def _git_state() -> str | None:
    """The commit the run used, ``+dirty`` when chunkpilot/ had uncommitted changes."""
    import subprocess

    root = Path(__file__).resolve().parent.parent
    try:
        head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=root, text=True,
                              capture_output=True, timeout=10, check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--", "chunkpilot"], cwd=root,
                               text=True, capture_output=True, timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    return head + ("+dirty" if dirty else "")
