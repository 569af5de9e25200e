"""Waiting on conditions and processes in the tests that signal, kill and time out runs."""

from __future__ import annotations

import time
from collections.abc import Callable

import psutil


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
