"""Waiting on conditions and processes in the tests that signal, kill and time out runs."""

from __future__ import annotations

import time
from collections.abc import Callable

import psutil

#: Environment for CLI runs that connect to addresses nobody answers on: refused after 2 s
#: instead of the default 10 (``chunkpilot.cluster.connect-timeout``).
FAST_CONNECT_ENV = {"DASK_CHUNKPILOT__CLUSTER__CONNECT_TIMEOUT": "2s"}

def wait_for(predicate: Callable[[], bool], timeout: float) -> bool:
    """Poll ``predicate`` every 0.1 s; whether it held within ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.1)
    return False


def alive(p: psutil.Process) -> bool:
    """Running and not a zombie (a reaped-later child counts as gone)."""
    try:
        return p.is_running() and p.status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False
