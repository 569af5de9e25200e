"""A sample measured again in a second process: bumps always, small samples while cheap.

One slow window of a shared machine only ever adds time to a measurement; the faster of two
processes is the function's time (the first keeps its peak and its threads timing).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

from chunkpilot.core.model import Sample
from chunkpilot.core.timecurve import TWICE_BELOW_BYTES, bumps
from chunkpilot.measure.blocks import sample_seconds
from chunkpilot.measure.sandbox import fresh_sandboxes

#: Samples under ``core.timecurve.TWICE_BELOW_BYTES`` of at least this long a call run in
#: two processes and keep the faster (see :func:`remeasure`).
TWICE_MIN_SECONDS = 0.01
#: ... while their calls, as many as the first measurement's, add up to at most this: they
#: are measured twice because that is cheap (gil_loop's 8 and 12 MiB blocks, 0.2-0.3 s a
#: call, took 2.4 s of a 12 s advise the second time). Bumps are measured again regardless.
TWICE_BUDGET_S = 1.5


def planned(samples: list[Sample]) -> list[Sample]:
    """The samples :func:`remeasure` measures again: each bump (a sample slower per byte than
    its neighbours by more than ``BUMP_FRACTION``), and small ones (under
    ``TWICE_BELOW_BYTES``, ``TWICE_MIN_SECONDS`` or more a call) while within
    ``TWICE_BUDGET_S``."""
    ok = sorted((s for s in samples if s.ok and s.seconds), key=lambda s: s.nbytes)
    bumped = set(bumps([(s.nbytes, s.seconds or 0.0) for s in ok]))
    small = {i for i, s in enumerate(ok)
             if s.nbytes < TWICE_BELOW_BYTES and (s.seconds or 0.0) >= TWICE_MIN_SECONDS}
    spent, out = 0.0, []
    for i in sorted(bumped | small):
        cost = (ok[i].seconds or 0.0) * (len(ok[i].runs_seconds) + 1)
        if i not in bumped and spent + cost > TWICE_BUDGET_S:
            continue
        spent += cost
        out.append(ok[i])
    return out


def remeasure_seconds(samples: list[Sample]) -> float:
    """What :func:`remeasure` would take for ``samples`` as they stand (``sample_seconds`` of
    each): advise's time budget keeps it for them."""
    return sum(sample_seconds(s.seconds or 0.0) for s in planned(samples))


def remeasure(samples: list[Sample], run: Callable[[tuple[int, ...], bool], Sample]) -> None:
    """Measure the :func:`planned` samples once more, in place, and keep the faster: a slow
    window of the machine only ever adds time, and one inflated sample moved the plan 2x
    (issue 18). Small samples are measured twice because they are cheap, they set the
    per-byte rate where overhead-bound plans land, and fresh processes timed the same 8 MiB
    sin/cos block at 23.5 or 32.5 ms (12 advise runs' plans spread 1.44x; with the faster of
    two, 1.28x)."""
    for first in planned(samples):
        with fresh_sandboxes():  # not a fork of the same parent: its state would come along
            again = run(first.shape, False)  # its time; the first one read its peak
        if again.ok and again.seconds is not None and again.seconds < (first.seconds or 0.0):
            # the second process's time; the peak and the threads timing are the first's
            kept = dataclasses.replace(first, seconds=again.seconds, slower_seconds=first.seconds,
                                       runs_seconds=again.runs_seconds,
                                       read_seconds=again.read_seconds,
                                       cores_busy=again.cores_busy)
        else:
            kept = dataclasses.replace(first, slower_seconds=again.seconds)
        samples[samples.index(first)] = kept
