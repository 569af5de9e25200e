"""Pure: seconds per task against block bytes, as the samples show it.

A monotone, piecewise-linear curve in log-log space through the samples' medians
(isotonic: a bigger block never costs less), extrapolated beyond the largest sample with
the steepest measured exponent (per-byte cost grows with block size: caches, page faults;
never less than linear) and below the smallest with the first segment's exponent (never
more than linear: small blocks keep a fixed cost). A block's time is a fixed cost plus work
whose cost per byte does not fall with size (:func:`steady_rates`): a bigger block that
looks cheaper per byte than the fixed cost explains is noise, not a reason to pick it.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

#: Exponent range above the largest sample: at least linear, at most quadratic.
UP_EXPONENT_RANGE = (1.0, 2.0)
#: Exponent range below the smallest sample: flat (a fixed cost) to linear.
DOWN_EXPONENT_RANGE = (0.0, 1.0)
#: A sample whose time per byte lies this far above the log-log line between its two
#: neighbours is a bump: on a shared machine a slow window of a few seconds inflates one
#: sample (+29 % in one CI run, which moved the plan 2x). The other way is expected: small
#: blocks' fixed costs make per-byte time fall with size.
BUMP_FRACTION = 0.10
#: Samples smaller than this are measured twice whatever their neighbours say, the faster
#: kept: cheap, and they set the per-byte rate where overhead-bound plans land (fresh
#: processes timed one 8 MiB block at 23.5 or 32.5 ms).
TWICE_BELOW_BYTES = 16 * 2**20


def bumps(points: Sequence[tuple[int, float]], fraction: float = BUMP_FRACTION) -> list[int]:
    """Indices (into ``points``, sorted by bytes) of interior ``(bytes, seconds)`` points whose
    seconds per byte exceed the log-log interpolation of their neighbours' by ``fraction``.

    Examples
    --------
    >>> bumps([(1, 1.0), (2, 2.6), (4, 4.0), (8, 8.0)])
    [1]
    >>> bumps([(1, 2.0), (2, 2.6), (4, 4.0)])  # falling per-byte cost is no bump
    []
    """
    pts = sorted(points)
    out = []
    for i in range(1, len(pts) - 1):
        (b0, t0), (b1, t1), (b2, t2) = pts[i - 1], pts[i], pts[i + 1]
        if min(b0, b1, b2, t0, t1, t2) <= 0 or b0 == b2:
            continue
        x0, x1, x2 = math.log(b0), math.log(b1), math.log(b2)
        y0, y1, y2 = math.log(t0 / b0), math.log(t1 / b1), math.log(t2 / b2)
        expected = y0 + (y2 - y0) * (x1 - x0) / (x2 - x0)
        if y1 - expected > math.log1p(fraction):
            out.append(i)
    return out


def isotonic(values: Sequence[float], weights: Sequence[float]) -> list[float]:
    """Non-decreasing least-squares fit (pool adjacent violators).

    Examples
    --------
    >>> isotonic([1.0, 3.0, 2.0, 4.0], [1, 1, 1, 1])
    [1.0, 2.5, 2.5, 4.0]
    """
    blocks: list[list[float]] = []  # [mean, weight, count]
    for v, w in zip(values, weights, strict=True):
        blocks.append([v, w, 1])
        while len(blocks) > 1 and blocks[-2][0] > blocks[-1][0]:
            m2, w2, n2 = blocks.pop()
            m1, w1, n1 = blocks.pop()
            blocks.append([(m1 * w1 + m2 * w2) / (w1 + w2), w1 + w2, n1 + n2])
    return [m for m, _, n in blocks for _ in range(int(n))]


def steady_rates(nbytes: Sequence[float], seconds: Sequence[float],
                 weights: Sequence[float]) -> list[float]:
    """``seconds`` (non-decreasing, sizes increasing) with the work beyond a fixed cost made no
    cheaper per byte in bigger blocks: the rates ``(t - fixed) / bytes`` pooled where they
    fall (weighted by ``weights``), the fixed cost taken as the smallest block's whole time.

    That bound is the most lenient one (a real fixed cost is at most that), so what is pooled
    contradicts every fixed-plus-steady split. Seen: fresh processes timed a 184 MB sin/cos
    block at 394-577 ms; the fast one made bigger chunks look 30 % cheaper per byte and the
    plan 2.7x bigger than the other runs' (``tests/commands/test_stability.py``).

    Examples
    --------
    >>> steady_rates([1, 10, 100], [1.0, 11.0, 61.0], [1, 1, 1])  # rates 1.0, then 0.6
    [1.0, 9.0, 81.0]
    >>> steady_rates([1, 10, 100], [2.0, 3.0, 12.0], [1, 1, 1])  # a fixed cost: unchanged
    [2.0, 3.0, 12.0]
    """
    if len(seconds) < 3:
        return list(seconds)
    fixed = seconds[0]
    rates = isotonic([(t - fixed) / b for b, t in zip(nbytes[1:], seconds[1:], strict=True)],
                     weights[1:])
    return [fixed, *(fixed + r * b for b, r in zip(nbytes[1:], rates, strict=True))]


def _clamp(x: float, bounds: tuple[float, float]) -> float:
    return min(max(x, bounds[0]), bounds[1])


@dataclass(frozen=True, slots=True)
class TimeCurve:
    """Seconds for a block of ``x`` bytes, from measured (bytes, seconds) points."""

    log_bytes: tuple[float, ...]
    """Natural log of each distinct sample size, increasing."""
    log_seconds: tuple[float, ...]
    """Natural log of the (isotonic) median seconds at each size."""
    up_exponent: float
    """d log(seconds) / d log(bytes) used beyond the largest sample."""
    down_exponent: float
    """The same, below the smallest sample."""

    @classmethod
    def through(cls, points: Sequence[tuple[int, float, int]],
                up_range: tuple[float, float] = UP_EXPONENT_RANGE) -> TimeCurve:
        """From ``(bytes, seconds, runs)`` points (runs weight the isotonic fit); the exponent
        beyond the largest sample is the steepest measured one, clamped to ``up_range``."""
        by_size: dict[int, list[tuple[float, int]]] = {}
        for b, t, n in points:
            by_size.setdefault(int(b), []).append((max(float(t), 1e-9), max(int(n), 1)))
        sizes = sorted(by_size)
        logs_t = [math.log(sum(t * n for t, n in by_size[b]) / sum(n for _, n in by_size[b]))
                  for b in sizes]
        weights = [float(sum(n for _, n in by_size[b])) for b in sizes]
        steady = steady_rates(sizes, [math.exp(y) for y in isotonic(logs_t, weights)], weights)
        ys = [math.log(t) for t in steady]
        xs = [math.log(b) for b in sizes]
        slopes = [(y1 - y0) / (x1 - x0)
                  for x0, x1, y0, y1 in zip(xs, xs[1:], ys, ys[1:], strict=False)]
        up = _clamp(max(slopes, default=1.0), up_range)
        down = _clamp(slopes[0] if slopes else 1.0, DOWN_EXPONENT_RANGE)
        return cls(tuple(xs), tuple(ys), up, down)

    def __call__(self, nbytes: float) -> float:
        x = math.log(max(float(nbytes), 1.0))
        xs, ys = self.log_bytes, self.log_seconds
        if x >= xs[-1]:
            return math.exp(ys[-1] + self.up_exponent * (x - xs[-1]))
        if x <= xs[0]:
            return math.exp(ys[0] - self.down_exponent * (xs[0] - x))
        for x0, x1, y0, y1 in zip(xs, xs[1:], ys, ys[1:], strict=False):
            if x0 <= x <= x1:
                return math.exp(y0 + (y1 - y0) * (x - x0) / (x1 - x0))
        raise AssertionError("unreachable: x lies between the first and last sample")
