"""Whether a sample that raised failed because of its size or because of its data.

A function that raises on big blocks (it refuses more than N elements, a kernel's limit)
caps the plan's block size, and the plan steers under it. A function that raises on some
*data* (a value it rejects, a NaN it chokes on) fails at any chunking: a block of a size
that ran fine raises too once it holds the bad values, and steering under the failed size
only hides the failure until the computation meets them (an outlier check on normal data
raised on a 6 MiB sample, passed at 1 MiB, and the plan of 1 MiB chunks failed on compute).

Told apart by running the failed sample's region again in pieces no bigger than the largest
sample that ran: a size limit passes on every piece; data that raise fail on a piece too. A
sample that raised though a bigger one ran is not a size limit either (its data, its shape:
a block narrower than the function's kernel, or a flaky function), and needs no pieces.

Between the largest block that ran and the smallest that failed the limit is unknown, and a
plan stays at or below the one that ran (``CostModel.block_limit_bytes``); the candidate
sizes in between are tried first, by halves (:func:`narrow_limit`).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Sequence

from chunkpilot.core.sample import Sample, largest_ran_below
from chunkpilot.errors import ProfilingError
from chunkpilot.units import format_bytes

Region = tuple[tuple[int, int], ...]

#: At most this many pieces are run (spread over the failed region).
MAX_PIECES = 8
#: At most this many samples narrow the sizes between the largest block that ran and the
#: smallest that failed (each halves the candidate sizes left between them).
MAX_NARROWING = 3


def pieces(region: Region, piece: Sequence[int], limit: int = MAX_PIECES) -> list[Region]:
    """``region`` tiled by blocks of ``piece`` (the last ones cut short), at most ``limit``
    of them, spread evenly over the tiling.

    >>> pieces(((0, 10), (4, 8)), (5, 4))
    [((0, 5), (4, 8)), ((5, 10), (4, 8))]
    """
    axes = [[(a, min(a + max(p, 1), b)) for a in range(lo, b, max(p, 1))]
            for (lo, b), p in zip(region, piece, strict=True)]
    tiles = [tuple(t) for t in itertools.product(*axes)]
    if len(tiles) <= limit:
        return tiles
    step = len(tiles) / limit
    return [tiles[math.floor(i * step)] for i in range(limit)]


def raised(s: Sample) -> bool:
    """Whether a failed sample raised a Python exception (not out of memory, a timeout, a
    crash or a wrong output: those are about size or the function's contract)."""
    return not s.ok and s.error_kind == "exception"


def check_data_dependence(samples: Sequence[Sample], region_of: Callable[[Sample], Region],
                          run_region: Callable[[Region], Sample]) -> None:
    """Raise :class:`ProfilingError` when a sample raised though a bigger one ran, or when
    the smallest sample that raised also raises on a piece no bigger than a sample that ran
    (module doc); nothing when none raised."""
    bad = min((s for s in samples if raised(s)), key=lambda s: s.nbytes, default=None)
    bigger = max((s for s in samples if s.ok and bad is not None and s.nbytes > bad.nbytes),
                 key=lambda s: s.nbytes, default=None)
    if bad is not None and bigger is not None:
        raise ProfilingError(
            f"Expected the function to fail, if at all, by block size (a limit a plan can "
            f"stay under). Got {bad.failure} on a {format_bytes(bad.nbytes)} sample {bad.shape}, "
            f"though the bigger {format_bytes(bigger.nbytes)} sample {bigger.shape} ran: it "
            "depends on the data or the block's shape, so a plan at any chunk size can raise "
            "it. Make the function handle those blocks (a minimum length along an axis is "
            "depth= or keep_whole=), then advise again.")
    ok = [s for s in samples if s.ok and bad is not None and s.nbytes < bad.nbytes]
    if bad is None or not ok:
        return
    good = max(ok, key=lambda s: s.nbytes)
    for r in pieces(region_of(bad), good.shape):
        got = run_region(r)
        if raised(got):
            raise ProfilingError(
                f"Expected the function to fail, if at all, by block size (a limit a plan can "
                f"stay under). Got {bad.failure} on a {format_bytes(bad.nbytes)} sample, and "
                f"again on its piece {[list(x) for x in r]} ({format_bytes(got.nbytes)}), "
                f"no bigger than the {format_bytes(good.nbytes)} sample that ran: it depends on "
                "the data, so a plan at any chunk size can raise it. Make the function handle "
                "those values, then advise again.")


def narrow_limit(samples: list[Sample], sizes: Sequence[tuple[int, tuple[int, ...]]],
                 run: Callable[[tuple[int, ...]], Sample], limit: int = MAX_NARROWING) -> None:
    """Append samples of the candidate ``sizes`` ((bytes, block) pairs) that lie between the
    largest sample that ran and the smallest that failed, the middle one first, until none
    is left or ``limit`` ran. Not after a timeout: every try could take as long again."""
    for _ in range(limit):
        failed = min((s for s in samples if not s.ok), key=lambda s: s.nbytes, default=None)
        if failed is None or failed.error_kind == "timeout":
            return
        ran = largest_ran_below(samples, failed.nbytes) or 0
        between = sorted(dict((b, blk) for b, blk in sizes if ran < b < failed.nbytes).items())
        if not between:
            return
        samples.append(run(between[len(between) // 2][1]))
