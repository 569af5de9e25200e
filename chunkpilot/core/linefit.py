"""Pure: a least-squares line with non-negative coefficients (the cost model's memory line,
and what a worker's held memory is fitted with)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True, slots=True)
class LinearFit:
    """``y = fixed + slope * x`` with its coefficient of determination."""

    fixed: float
    """Intercept (seconds or bytes at zero block size)."""
    slope: float
    """Per-byte cost (seconds per byte, or bytes per byte = memory multiplier)."""
    r2: float
    """Fit quality in [0, 1]; 1.0 when every sample lies on the line."""

    def __call__(self, x: float) -> float:
        return self.fixed + self.slope * x


def fit_line(xs: Sequence[float], ys: Sequence[float]) -> LinearFit:
    """Least-squares line through ``(xs, ys)`` with non-negative intercept and slope.

    Examples
    --------
    >>> f = fit_line([1, 2, 3], [12, 22, 32])
    >>> round(f.fixed, 6), round(f.slope, 6), round(f.r2, 6)
    (2.0, 10.0, 1.0)
    """
    x = np.asarray(xs, dtype=float)
    y = np.asarray(ys, dtype=float)
    if len(x) == 0:
        raise ValueError("fit_line needs at least one point")
    if len(x) == 1 or np.ptp(x) == 0:
        slope = max(float(y.mean() / x.mean()), 0.0) if x.mean() > 0 else 0.0
        return LinearFit(0.0, slope, 1.0 if len(x) == 1 else 0.0)
    slope, fixed = np.polyfit(x, y, 1)
    if fixed < 0:  # a negative fixed cost is noise: refit through the origin
        fixed, slope = 0.0, float((x @ y) / (x @ x))
    if slope < 0:  # cost falling with size is noise too: flat line at the mean
        fixed, slope = float(y.mean()), 0.0
    pred = fixed + slope * x
    ss_tot = float(((y - y.mean()) ** 2).sum())
    r2 = 1.0 - float(((y - pred) ** 2).sum()) / ss_tot if ss_tot > 0 else 1.0
    return LinearFit(float(fixed), float(slope), max(0.0, min(1.0, r2)))
