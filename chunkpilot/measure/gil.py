"""Inside a profiling sandbox: does the function hold the GIL, and what does that cost two
threads of one worker running it at once?

A dask worker (and the threaded scheduler) runs tasks in threads of one process. numpy,
zarr's codecs and I/O release the GIL and run side by side; Python code holds it, so the
threads take turns, and worse: they convoy (gil_loop, a pure-Python row filter, ran 1.4-1.7x
slower on two threads in many chunks than in one chunk on one thread). Two measurements:

* :func:`gil_share`: a ticker thread sleeps and wakes in a loop while the function runs;
  each wake needs the GIL, so a holder delays it by up to the switch interval. 0: the
  function releases the GIL; 1: it holds it throughout. A busy machine delays the ticker by
  a core's wait, far less than a switch interval, so this tells GIL from load.
* :func:`concurrent_seconds`: the wall time of ``n`` calls started together in ``n``
  threads; against one call's time, how much faster the threads are (the convoy included).
  Only taken when the function holds the GIL: on a busy machine this ratio falls for numpy
  too (fewer free cores), which must not read as a GIL.
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


class ConcurrentCallError(Exception):
    """A call raised while another thread ran the function too: it is not safe to run in
    two threads of one process, as a dask worker with several threads (or the threaded
    scheduler) runs it."""


def concurrent_seconds(call: Callable[[Any], Any], n: int,
                       prepare: Callable[[], Any] = lambda: None) -> float:
    """Wall time of ``n`` calls ``call(prepare())`` started together in ``n`` threads (each
    thread prepares its argument, a fresh block, before the start). Raises
    :class:`ConcurrentCallError` naming the first error when any call raised."""
    barrier = threading.Barrier(n)
    starts, ends = [0.0] * n, [0.0] * n
    errors: list[BaseException] = []

    def one(i: int) -> None:
        arg = prepare()
        barrier.wait()
        starts[i] = time.perf_counter()
        try:
            call(arg)
        except BaseException as e:  # the user's code may raise anything
            errors.append(e)
        ends[i] = time.perf_counter()

    threads = [threading.Thread(target=one, args=(i,), daemon=True) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors:
        raise ConcurrentCallError(errors[0]) from errors[0]
    return max(ends) - min(starts)
