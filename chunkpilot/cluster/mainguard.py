"""A script that lets chunkpilot start a LocalCluster must call it under
``if __name__ == "__main__":``.

dask starts a LocalCluster's workers with multiprocessing's ``spawn``: each worker imports
the user's script again (as ``__mp_main__``), so an unguarded call at its top level runs
again in every worker while it starts, which multiprocessing refuses. The Nanny then fails
with a long traceback from every worker that never names the cause. dask's docs ask for the
same guard; here it is said in one line, in the script's own process and in the workers'.
"""

from __future__ import annotations

import inspect
import sys

from chunkpilot.errors import SchedulerError, one_line

GUARD = ('A script that starts a LocalCluster (the default scheduler) must make its '
         'chunkpilot calls under `if __name__ == "__main__":`: dask starts each worker as a '
         'new process that imports the script again, so a call at its top level runs again '
         'there (or pass scheduler="threads").')


def in_worker_start() -> bool:
    """True when the call comes from the top level of the user's script being imported again
    in a worker (``spawn`` runs it as ``__mp_main__``; the script's own process runs it as
    ``__main__``). A function of the script called in a process pool's worker is not that."""
    frame = inspect.currentframe()
    while frame is not None:
        if frame.f_globals.get("__name__") == "__mp_main__" and frame.f_code.co_name == "<module>":
            return True
        frame = frame.f_back
    return False


def main_is_script() -> bool:
    """True when this process runs a script file (not a notebook, REPL or ``-c``)."""
    return bool(getattr(sys.modules.get("__main__"), "__file__", None))


def refuse_in_worker_start() -> None:
    """Raise the guard's one sentence in a worker that re-ran an unguarded call."""
    if in_worker_start():
        raise SchedulerError(f"Expected to run in the script's own process. Got a worker "
                             f"process starting up. {GUARD}")


def start_failed(e: BaseException) -> SchedulerError:
    """The error for a LocalCluster that did not start, naming the guard when a script ran."""
    hint = f" {GUARD}" if main_is_script() else ""
    return SchedulerError(f"Expected the LocalCluster's workers to start. Got "
                          f"{one_line(e).rstrip('.')}.{hint}")
