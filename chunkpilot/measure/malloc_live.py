"""Peak memory a run held, without the freed blocks glibc's malloc keeps: ``mallinfo2``'s
bytes in use, sampled from a thread while the run goes.

With glibc's default (dynamic) thresholds a fresh process hands its first big blocks back to
the system when they are freed and keeps the later ones in its heap for reuse, so the RSS
high-water mark of a sample's cold run counts blocks nobody holds: ufunc_reduce's 3 x 3
sub-array (a chain of ufuncs, then a sum) peaked 5.5-5.9 blocks above its start in RSS
while malloc had 4.0-5.0 blocks in use; under dask workers' fixed thresholds
(``MALLOC_TRIM_THRESHOLD_``, freed blocks go back at once) the RSS peak was 4.0-5.0 too,
and so was what the same work added to a long-lived process. Sandboxes that run with fixed
thresholds (the environment of distributed's workers) keep their exact RSS peak.

Memory malloc does not hand out (Python's small-object arenas, ``mmap``-ed buffers) is
counted from RSS: its growth beyond what malloc took from the system. The result never
exceeds the RSS peak. Sampling misses a block allocated and freed inside one call that holds
the GIL throughout (numpy releases it while it computes; the task callbacks sample too).
"""

from __future__ import annotations

import ctypes
import os
import threading
from types import TracebackType
from typing import Any

from chunkpilot.measure.memory import LINUX, rss_bytes

#: Environment variables that fix glibc's thresholds (as distributed's nanny does).
FIXED_THRESHOLD_ENV = ("MALLOC_TRIM_THRESHOLD_", "MALLOC_MMAP_THRESHOLD_", "MALLOC_TOP_PAD_",
                       "MALLOC_MMAP_MAX_")
#: Seconds between samples (a ufunc on a 1 MiB block runs ~1 ms).
INTERVAL_S = 0.0005


class _MallInfo2(ctypes.Structure):
    _fields_ = [(name, ctypes.c_size_t) for name in (
        "arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks", "uordblks",
        "fordblks", "keepcost")]


def _mallinfo2() -> Any:
    if not LINUX:
        return None
    try:
        fn = ctypes.CDLL("libc.so.6").mallinfo2  # glibc >= 2.33
    except (OSError, AttributeError):
        return None
    fn.restype = _MallInfo2
    return fn


_MALLINFO2 = _mallinfo2()


def env_fixes_thresholds() -> bool:
    """Whether this process's environment fixes glibc's malloc thresholds (dask workers')."""
    if any(os.environ.get(k) for k in FIXED_THRESHOLD_ENV):
        return True
    return "glibc.malloc." in os.environ.get("GLIBC_TUNABLES", "")


def dynamic_thresholds() -> bool:
    """Whether this process runs glibc's malloc with its default, dynamic thresholds (so its
    RSS peak counts freed blocks) and ``mallinfo2`` can say what is in use."""
    return _MALLINFO2 is not None and not env_fixes_thresholds()


class LivePeak:
    """Context manager: the peak, above its start, of malloc's bytes in use plus the RSS
    growth malloc does not explain; sampled every ``INTERVAL_S`` and at each :meth:`mark`."""

    def __init__(self) -> None:
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="chunkpilot-live-peak",
                                        daemon=True)
        self._start: tuple[int, int] = (0, 0)
        self.increment_bytes = 0

    def _read(self) -> tuple[int, int]:
        """(bytes in use, RSS not taken from the system by malloc)."""
        assert _MALLINFO2 is not None
        m = _MALLINFO2()
        return m.uordblks + m.hblkhd, rss_bytes() - (m.arena + m.hblkhd)

    def mark(self) -> None:
        """Take a sample now (also called from the task callbacks)."""
        used, other = self._read()
        grown = used - self._start[0] + max(other - self._start[1], 0)
        self.increment_bytes = max(self.increment_bytes, grown)

    def _run(self) -> None:
        while not self._stop.wait(INTERVAL_S):
            self.mark()

    def __enter__(self) -> LivePeak:
        self._start = self._read()
        self._thread.start()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self._stop.set()
        self._thread.join()
        self.mark()
