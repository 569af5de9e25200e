"""Pure arithmetic of the benchmark: paired per-round ratios, geometric means with seeded
bootstrap intervals, the cross-fitted oracle, verdicts, and log-log interpolation.

A *table of walls* is ``{shape_key: [seconds or None per timed round]}``; ``None`` means the
shape did not run (or failed) in that round. Every function here is deterministic given its
``seed``.
"""

from __future__ import annotations

import math
import zlib
from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np

#: Bootstrap resamples per interval.
BOOTSTRAP = 2000
#: Two-sided confidence level of every interval.
LEVEL = 0.95

Walls = Mapping[Hashable, Sequence[float | None]]


@dataclass(frozen=True, slots=True)
class Interval:
    """A geometric-mean ratio with its bootstrap interval, over ``rounds`` paired rounds."""

    value: float
    """exp(mean of the per-round log ratios)."""
    low: float
    """Lower end of the 95 % percentile bootstrap interval."""
    high: float
    """Upper end."""
    rounds: int
    """Paired rounds the value rests on."""

    def excludes(self, x: float) -> bool:
        return self.low > x or self.high < x

    def to_dict(self) -> dict[str, float | int]:
        return {"value": self.value, "low": self.low, "high": self.high, "rounds": self.rounds}


def seed_for(seed: int, *labels: str) -> int:
    """A stable per-row seed: the run's seed mixed with labels (crc32, not ``hash``)."""
    return (seed * 1_000_003 + zlib.crc32("/".join(labels).encode())) % 2**32


def complete(walls: Walls) -> list[Hashable]:
    """Shapes with a wall time in every round (the only ones that can be the oracle)."""
    return [k for k, v in walls.items() if v and all(t is not None and t > 0 for t in v)]


def geo_interval(logs: Sequence[float], seed: int) -> Interval | None:
    """Geometric mean of per-round log ratios with a percentile bootstrap over rounds."""
    x = np.asarray([v for v in logs if v is not None and math.isfinite(v)], dtype=float)
    if len(x) == 0:
        return None
    rng = np.random.default_rng(seed)
    means = x[rng.integers(0, len(x), size=(BOOTSTRAP, len(x)))].mean(axis=1)
    lo, hi = np.quantile(means, [(1 - LEVEL) / 2, (1 + LEVEL) / 2])
    return Interval(math.exp(x.mean()), math.exp(lo), math.exp(hi), len(x))


def pooled_interval(rows: Sequence[Sequence[float]], seed: int) -> Interval | None:
    """Geometric mean over rows of each row's geometric mean; the bootstrap resamples rounds
    within every row (rows are the fixed population, rounds the noise)."""
    rows = [np.asarray(r, dtype=float) for r in rows if len(r)]
    if not rows:
        return None
    rng = np.random.default_rng(seed)
    boot = np.zeros(BOOTSTRAP)
    for r in rows:
        boot += r[rng.integers(0, len(r), size=(BOOTSTRAP, len(r)))].mean(axis=1)
    boot /= len(rows)
    value = sum(float(r.mean()) for r in rows) / len(rows)
    lo, hi = np.quantile(boot, [(1 - LEVEL) / 2, (1 + LEVEL) / 2])
    return Interval(math.exp(value), math.exp(lo), math.exp(hi), sum(len(r) for r in rows))


def best_in_round_logs(walls: Walls, key: Hashable) -> list[float]:
    """log(T_key / T_best-in-that-round) per round, best over the complete shapes."""
    pool = complete(walls)
    out = []
    for r, t in enumerate(walls[key]):
        best = min(walls[k][r] for k in pool) if pool else None
        out.append(math.log(t / best) if t and best else math.nan)
    return out


def folds(n_rounds: int) -> tuple[list[int], list[int]]:
    """Round indices (0-based) of the two folds: 1st, 3rd, 5th... and 2nd, 4th, ..."""
    return list(range(0, n_rounds, 2)), list(range(1, n_rounds, 2))


def pick_oracle(walls: Walls, rounds: Sequence[int], candidates: Sequence[Hashable]) -> Hashable:
    """The candidate with the lowest geometric-mean wall over ``rounds``."""
    return min(candidates, key=lambda k: sum(math.log(walls[k][r]) for r in rounds))


@dataclass(frozen=True, slots=True)
class Oracle:
    """The cross-fitted oracle: chosen on one fold of rounds, scored on the other."""

    chosen_on_odd: Hashable
    """Best over rounds 1, 3, 5, ... (scores rounds 2, 4, ...)."""
    chosen_on_even: Hashable | None
    """Best over rounds 2, 4, ... (scores rounds 1, 3, ...); ``None`` with one round."""

    def for_round(self, r: int) -> Hashable:
        """The oracle that scores round ``r`` (0-based): chosen without it."""
        if r % 2 == 0:
            return self.chosen_on_even if self.chosen_on_even is not None else self.chosen_on_odd
        return self.chosen_on_odd


def cross_fitted_oracle(walls: Walls, candidates: Sequence[Hashable]) -> Oracle | None:
    """Choose the oracle on each fold among the complete ``candidates``; ``None`` if none."""
    pool = [k for k in complete(walls) if k in set(candidates)]
    if not pool:
        return None
    n = len(next(iter(walls.values())))
    odd, even = folds(n)
    return Oracle(pick_oracle(walls, odd, pool), pick_oracle(walls, even, pool) if even else None)


def oracle_logs(walls: Walls, key: Hashable, oracle: Oracle) -> list[float]:
    """log(T_key / T_oracle) per round, the oracle of each round chosen on the other fold.
    With a single round there is no other fold: that round scores itself (flagged by the
    caller)."""
    out = []
    for r, t in enumerate(walls[key]):
        o = walls[oracle.for_round(r)][r]
        out.append(math.log(t / o) if t and o else math.nan)
    return out


def paired_logs(walls: Walls, key: Hashable, reference: Hashable) -> list[float]:
    """log(T_key / T_reference) per round (rounds where either is missing are NaN)."""
    return [math.log(t / u) if t and u else math.nan
            for t, u in zip(walls[key], walls[reference], strict=True)]


def verdict(iv: Interval | None, against: float = 1.0) -> str:
    """``above`` / ``below`` when the interval excludes ``against``, else ``within noise``."""
    if iv is None:
        return "no data"
    if iv.low > against:
        return "above"
    if iv.high < against:
        return "below"
    return "within noise"


def interpolate_loglog(x: float, points: Sequence[tuple[float, float]]) -> float | None:
    """``y`` at ``x`` on the piecewise-linear log-log curve through ``points``; ``None``
    outside their range (never extrapolates)."""
    pts = sorted(points)
    if not pts or x < pts[0][0] or x > pts[-1][0]:
        return None
    for (x0, y0), (x1, y1) in zip(pts, pts[1:], strict=False):
        if x0 <= x <= x1:
            if x1 == x0:
                return y0
            f = (math.log(x) - math.log(x0)) / (math.log(x1) - math.log(x0))
            return math.exp(math.log(y0) + f * (math.log(y1) - math.log(y0)))
    return pts[0][1]  # a single point equal to x


def median_abs_log(ratios: Sequence[float]) -> float | None:
    """Median of |log(predicted / observed)| (0 = exact)."""
    vals = [abs(math.log(r)) for r in ratios if r and r > 0 and math.isfinite(r)]
    return float(np.median(vals)) if vals else None


def within(ratios: Sequence[float], tolerance: float = 0.25) -> tuple[int, int]:
    """(how many, of how many) ratios lie within ±``tolerance`` of 1."""
    vals = [r for r in ratios if r and r > 0 and math.isfinite(r)]
    return sum(1 for r in vals if abs(r - 1) <= tolerance), len(vals)
