"""This process's resident memory, its high-water mark and an address-space cap: one path
per supported platform.

Linux reads ``/proc/self/status`` (``VmRSS``, ``VmHWM``) and can reset the high-water mark
(``clear_refs``), so a sample's peak starts at the call. macOS has no ``/proc``: the current
RSS comes from psutil and the peak from ``getrusage``, whose ``ru_maxrss`` is in **bytes**
there (KiB on Linux) and cannot be reset, so a peak there includes anything the process did
before (the parent subtracts its idle baseline). ``RLIMIT_AS`` is not enforced on macOS: the
parent's RSS watch is what kills a runaway sample there.
"""

from __future__ import annotations

import resource
import sys

import psutil

__all__ = ["limit_address_space", "peak_bytes", "reset_peak", "rss_bytes"]

LINUX = sys.platform.startswith("linux")
#: ``ru_maxrss`` units: KiB on Linux, bytes on macOS.
MAXRSS_UNIT = 1024 if LINUX else 1


def _status_kib(field: str) -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise KeyError(field)


def reset_peak() -> bool:
    """Reset the high-water mark so the peak starts here (Linux >= 4.0); ``False`` when the
    platform cannot (macOS)."""
    if not LINUX:
        return False
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


def rss_bytes() -> int:
    """Resident memory of this process now."""
    if LINUX:
        try:
            return _status_kib("VmRSS") * 1024
        except (OSError, KeyError):
            pass
    return int(psutil.Process().memory_info().rss)


def peak_bytes() -> int:
    """Highest resident memory of this process (since :func:`reset_peak` where it works)."""
    if LINUX:
        try:
            return _status_kib("VmHWM") * 1024
        except (OSError, KeyError):
            pass
    return int(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss) * MAXRSS_UNIT


#: An address-space limit this process inherited (``ulimit -v``) below the one it wanted.
_INHERITED_LIMIT: list[int] = []


def limit_address_space(extra_bytes: int) -> bool:
    """Cap this process's address space at its current size plus ``extra_bytes``, so runaway
    allocation raises ``MemoryError`` here, within any limit already in force (``ulimit -v``:
    raising it is not allowed); ``False`` where the kernel does not enforce it."""
    if not LINUX:
        return False
    wanted = int(psutil.Process().memory_info().vms) + int(extra_bytes)
    soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    caps = [v for v in (soft, hard) if v != resource.RLIM_INFINITY]
    inherited = min(caps) if caps else None
    if inherited is not None and inherited < wanted:
        _INHERITED_LIMIT.append(inherited)
    limit = wanted if inherited is None else min(wanted, inherited)
    try:
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))  # never above the hard limit
    except (ValueError, OSError):
        return False
    return True


def memory_error_text() -> str:
    """What a MemoryError means here: our cap, or the caller's ``ulimit -v``."""
    if _INHERITED_LIMIT:
        return (f"MemoryError under the address-space limit of {_INHERITED_LIMIT[0] / 2**20:.0f} "
                "MiB this process inherited (ulimit -v); raise or remove that limit")
    return "MemoryError"


def memory_error_result(e: MemoryError) -> tuple[str, str]:
    """(kind, message) of a sandbox's ``MemoryError``: ``"oom"`` when an allocation failed
    (numpy's ``_ArrayMemoryError``, or a bare one: our cap), ``"exception"`` when the user's
    code raised it with its own words (an outlier check is not a size limit).

    >>> memory_error_result(MemoryError("too many NaNs"))
    ('exception', 'MemoryError: too many NaNs')
    >>> memory_error_result(MemoryError())[0]
    'oom'
    """
    if type(e) is MemoryError and e.args:
        return "exception", f"MemoryError: {e}"[:500]
    return "oom", memory_error_text()
