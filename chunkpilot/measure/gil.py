"""How much a function holds the GIL, and what that costs a task on a dask worker.

A worker runs tasks in threads and its event loop (messages to the scheduler, the next task
handed to the executor) in another thread of the same process. A function that holds the
GIL (a pure-Python loop) starves that loop: every transition waits for the interpreter's
switch interval, and a worker ran 64-row blocks of such a filter 1.6x slower than 512-row
blocks of the same total work (benchmark gil_loop/local), a cost the scheduler-overhead
probe (near-empty tasks) cannot see. Two measurements, both real:

* :func:`gil_share` (in the sample's sandbox, one extra call): a ticker thread sleeps and
  wakes in a loop; each wake needs the GIL, so a holder delays it by up to the switch
  interval. 0: the function releases the GIL (numpy); 1: it holds it throughout.
* :func:`probe_gil_wait` (on the cluster): the same number of 10 ms tasks that hold the GIL
  (a pure-Python spin) and that release it (``time.sleep``); the extra wall time of the
  first, per task per worker thread, is the wait a GIL-holding task adds there.
"""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Callable
from typing import Any

#: The ticker's sleep between wakes.
TICK_S = 0.0005
#: The ticker alone for this long gives the uncontended wake period.
IDLE_S = 0.03
#: Spin/sleep task length of the cluster probe, tasks per worker thread, timed repeats.
PROBE_TASK_S = 0.01
PROBE_TASKS_PER_THREAD = 8
PROBE_REPEATS = 2


def _ticks(seconds: float | None, call: Callable[[], Any] | None = None) -> tuple[int, float]:
    """(wakes, wall) of the ticker while ``call`` runs (or for ``seconds`` alone)."""
    stop = threading.Event()
    count = [0]

    def tick() -> None:
        while not stop.is_set():
            time.sleep(TICK_S)
            count[0] += 1

    th = threading.Thread(target=tick, daemon=True)
    t0 = time.perf_counter()
    th.start()
    if call is not None:
        call()
    else:
        time.sleep(seconds or 0.0)
    wall = time.perf_counter() - t0
    stop.set()
    th.join()
    return count[0], wall


def gil_share(call: Callable[[], Any]) -> float:
    """Share of ``call``'s run during which it held the GIL (0-1), from how much it slowed a
    ticker thread's wakes: (busy period - idle period) / the switch interval."""
    n_idle, t_idle = _ticks(IDLE_S)
    idle = t_idle / max(n_idle, 1)
    n_busy, t_busy = _ticks(None, call)
    busy = t_busy / max(n_busy, 1)
    return min(1.0, max(0.0, (busy - idle) / sys.getswitchinterval()))


def _spin(seconds: float) -> float:
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        pass
    return seconds


def _sleep(seconds: float) -> float:
    time.sleep(seconds)
    return seconds


def probe_gil_wait(client: Any) -> float:
    """Seconds a task that holds the GIL waits on this cluster beyond one that releases it,
    per task (the fastest of ``PROBE_REPEATS`` interleaved runs of each kind)."""
    n = max(sum(client.nthreads().values()), 1) * PROBE_TASKS_PER_THREAD
    walls: dict[Callable[[float], float], list[float]] = {_spin: [], _sleep: []}
    client.gather(client.map(_sleep, [0.0] * n, pure=False))  # warm: functions shipped
    for _ in range(PROBE_REPEATS):
        for fn in (_sleep, _spin):
            t0 = time.perf_counter()
            client.gather(client.map(fn, [PROBE_TASK_S] * n, pure=False))
            walls[fn].append(time.perf_counter() - t0)
    extra = min(walls[_spin]) - min(walls[_sleep])
    return max(0.0, extra / PROBE_TASKS_PER_THREAD)
