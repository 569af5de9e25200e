"""Edge: SIGINT, SIGTERM and SIGHUP end the CLI the way Ctrl-C does, and leave nothing behind.

Python turns only SIGINT into an exception; SIGTERM and SIGHUP kill the interpreter on the
spot, so ``finally`` blocks never run and sandboxes, LocalCluster workers and
``chunkpilot-*`` temp dirs are left over. Inside :func:`handled` all three raise
:class:`~chunkpilot.errors.Interrupted` (a ``KeyboardInterrupt``), so every context manager
cleans up as it does for Ctrl-C. Later signals are ignored while that cleanup runs, and a
watchdog ends the process (killing its children) if cleanup hangs. :func:`reap_children`
is the last sweep for processes still alive. The CLI is a child subreaper (Linux): a worker
whose nanny is killed while it is still starting is re-parented to us, not to init, so the
last sweep still sees it and it cannot recreate a scratch dir after the sweep removed it.
"""

from __future__ import annotations

import contextlib
import ctypes
import logging
import multiprocessing.util
import os
import shutil
import signal
import sys
import threading
from collections.abc import Iterator
from types import FrameType

import psutil

from chunkpilot.errors import Interrupted

#: The signals handled, and the exit code each ends the CLI with (128 + signal number).
SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
EXIT_CODES = {s: 128 + int(s) for s in SIGNALS}
#: How long cleanup may take after a signal before the watchdog kills children and exits.
CLEANUP_GRACE_S = 45.0
#: How long children get to exit after SIGTERM in the final sweep, before SIGKILL.
REAP_GRACE_S = 3.0
#: Sweeps after the first, for processes re-parented to us while the previous one ran.
EXTRA_SWEEPS = 3
#: prctl option: orphaned descendants are re-parented to this process (Linux >= 3.4).
PR_SET_CHILD_SUBREAPER = 36


def become_subreaper() -> bool:
    """Have orphaned descendants re-parented to this process instead of init (Linux; a no-op
    elsewhere): the CLI's last sweep must reach workers whose nanny already died."""
    try:
        return ctypes.CDLL(None, use_errno=True).prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) == 0
    except (OSError, AttributeError):
        return False


def exit_code(exc: BaseException) -> int:
    """128 + the signal behind ``exc`` (a plain ``KeyboardInterrupt`` is SIGINT: 130)."""
    return EXIT_CODES.get(getattr(exc, "signum", signal.SIGINT), 130)


def describe(exc: BaseException) -> str:
    """The one stderr line for an interruption."""
    signum = getattr(exc, "signum", signal.SIGINT)
    if signum == signal.SIGINT:
        return "chunkpilot: interrupted"
    return f"chunkpilot: interrupted by {signal.Signals(signum).name}"


def _handler(signum: int, frame: FrameType | None) -> None:
    """First signal: ignore the next ones, silence logging (the CLI is ending: half-started
    clusters would log "Task exception was never retrieved"), arm the watchdog, unwind like
    Ctrl-C."""
    logging.disable(logging.CRITICAL)
    for s in SIGNALS:
        with contextlib.suppress(ValueError, OSError):
            signal.signal(s, signal.SIG_IGN)
    _arm_watchdog(EXIT_CODES.get(signal.Signals(signum), 128 + signum))
    raise Interrupted(signum)


def installed() -> bool:
    """True while :func:`handled` is in force (the CLI), so a plain ``KeyboardInterrupt``
    comes from user code, not from the terminal."""
    return signal.getsignal(signal.SIGINT) is _handler


def _arm_watchdog(code: int) -> None:
    def expire() -> None:
        final_sweep()
        os._exit(code)

    t = threading.Timer(CLEANUP_GRACE_S, expire)
    t.daemon = True
    t.start()


@contextlib.contextmanager
def handled() -> Iterator[None]:
    """Turn SIGINT/SIGTERM/SIGHUP into :class:`Interrupted` in this block (main thread only;
    elsewhere a no-op); previous handlers come back afterwards."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {}
    for s in SIGNALS:
        with contextlib.suppress(ValueError, OSError):
            previous[s] = signal.signal(s, _handler)
    try:
        yield
    finally:
        for s, h in previous.items():
            with contextlib.suppress(ValueError, OSError, TypeError):
                signal.signal(s, h if h is not None else signal.SIG_DFL)


#: Temp dirs that processes being killed may still write to: removed after the last sweep.
_TEMP_DIRS: set[str] = set()


def remove_after_interrupt(path: str) -> None:
    """Have :func:`final_sweep` remove ``path`` (e.g. a cluster's scratch space that
    half-started workers may recreate after their cluster's own cleanup)."""
    _TEMP_DIRS.add(path)


def forget(path: str) -> None:
    """``path`` was cleaned up normally."""
    _TEMP_DIRS.discard(path)


def final_sweep() -> None:
    """After an interruption: mute the descendants still to come, end every descendant
    process (again for any re-parented to us meanwhile), then remove registered dirs."""
    mute_later_children()
    for _ in range(1 + EXTRA_SWEEPS):
        if not reap_children():
            break
    for path in sorted(_TEMP_DIRS):
        shutil.rmtree(path, ignore_errors=True)
    _TEMP_DIRS.clear()
    _run_ipc_finalizers()


_MUTED = False


def mute_later_children() -> None:
    """From here on fd 2 (and fd 1 when it is the same stderr, as in the CLI) is /dev/null
    for this process and every child it spawns later; ``sys.stderr`` keeps writing to the
    real stderr. A LocalCluster that was starting when the signal came can spawn one more
    worker, in distributed's thread, after the last sweep: it died reading its parent's pipe
    when the CLI left and printed a ``multiprocessing.spawn`` traceback under our one line
    (1 run in 17)."""
    global _MUTED
    if _MUTED:  # the watchdog and the CLI may both sweep: fd 2 is already /dev/null
        return
    _MUTED = True
    with contextlib.suppress(OSError, ValueError, AttributeError):
        sys.stderr.flush()
        same = os.path.sameopenfile(1, 2)
        saved = os.dup(2)
        null = os.open(os.devnull, os.O_WRONLY)
        for fd in (1, 2) if same else (2,):
            os.dup2(null, fd)
        os.close(null)
        sys.stderr = open(saved, "w", encoding=sys.stderr.encoding or "utf-8",  # noqa: SIM115
                          errors="backslashreplace", buffering=1, closefd=True)


def _run_ipc_finalizers() -> None:
    """Unlink the semaphores of multiprocessing objects still alive (a LocalCluster's nanny
    queues when Ctrl-C comes while it starts): the CLI then leaves by ``os._exit``, which
    skips the interpreter exit's first step, ``multiprocessing.util._run_finalizers(0)``,
    and the resource tracker printed "There appear to be 1 leaked semaphore objects" under
    our one line. The same step, called here (a private function: nothing public does it)."""
    with contextlib.suppress(Exception):
        multiprocessing.util._run_finalizers(0)


def _is_session_helper(p: psutil.Process) -> bool:
    """multiprocessing's resource tracker exits by itself once this process is gone."""
    with contextlib.suppress(psutil.Error):
        return "resource_tracker" in " ".join(p.cmdline())
    return False


def reap_children(grace_s: float = REAP_GRACE_S) -> list[int]:
    """SIGTERM, then SIGKILL, every descendant process still alive; their pids."""
    try:
        kids = [p for p in psutil.Process().children(recursive=True)
                if not _is_session_helper(p)]
    except psutil.Error:
        return []
    for p in kids:
        with contextlib.suppress(psutil.Error):
            p.terminate()
    _, alive = psutil.wait_procs(kids, timeout=grace_s)
    for p in alive:
        with contextlib.suppress(psutil.Error):
            p.kill()
    psutil.wait_procs(alive, timeout=grace_s)
    return [p.pid for p in kids]
