"""This process's resident memory and its high-water mark, read from the kernel (Linux)."""

from __future__ import annotations

import resource


def _status_kib(field: str) -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise KeyError(field)


def reset_peak() -> bool:
    """Reset VmHWM (Linux >= 4.0, ``echo 5 > clear_refs``) so the peak starts here."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


def rss_bytes() -> int:
    return _status_kib("VmRSS") * 1024


def peak_bytes() -> int:
    try:
        return _status_kib("VmHWM") * 1024
    except (OSError, KeyError):  # ru_maxrss is KiB on Linux
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
