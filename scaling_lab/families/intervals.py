"""Confidence intervals: bootstrap percentiles and profile likelihood, with their caveats.

An interval is a :class:`Interval` record: the estimate, the interval (or ``None`` when
the data do not identify the quantity) and a ``flag`` that explains anything a reader
must know (an end at a physical bound, an estimate outside its percentile interval).
``validate`` checks the same rule on ``results.json``: an interval either contains its
estimate or carries a flag saying why not.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..bootstrap import percentile_interval

LEVEL = 0.95


@dataclass(frozen=True)
class Interval:
    """A 95% interval for one quantity, ``None`` when it is not identified, plus its caveat."""

    estimate: float
    interval: tuple[float, float] | None
    method: str
    flag: str | None = None

    @property
    def contains_estimate(self) -> bool:
        if self.interval is None:
            return False
        lo, hi = self.interval
        return lo <= self.estimate <= hi

    def to_dict(self) -> dict:
        return {
            "estimate": float(self.estimate),
            "interval": None if self.interval is None else [float(v) for v in self.interval],
            "method": self.method,
            "flag": self.flag,
        }

    def __repr__(self) -> str:
        iv = (
            "not identified"
            if self.interval is None
            else f"[{self.interval[0]:.4g}, {self.interval[1]:.4g}]"
        )
        note = f"  ({self.flag})" if self.flag else ""
        return f"{self.estimate:.4g} {iv} {self.method}{note}"


def percentile(draws: np.ndarray, level: float = LEVEL) -> tuple[float, float]:
    """Percentile interval of bootstrap draws (all of them, including those at a bound)."""
    draws = np.asarray(draws, float)
    if draws.size == 0 or not np.isfinite(draws).all():
        raise ValueError("percentile interval needs finite bootstrap draws")
    lo, hi = percentile_interval(draws, level, axis=None)
    return float(lo), float(hi)


def f_threshold(rss_min: float, n: int, p: int, level: float = LEVEL) -> float:
    """Largest RSS inside a profile-likelihood interval for one parameter.

    Uses the F calibration ``RSS ≤ RSS_min (1 + F(1, n-p)/(n-p))``, exact for a linear
    model and the usual small-sample form of the likelihood-ratio interval (with seven
    points the chi-square calibration is visibly too narrow).
    """
    from scipy import stats  # on first use: scipy.stats is slow to import

    dof = n - p
    if dof < 1:
        raise ValueError(f"profile interval needs n > p, got n={n}, p={p}")
    return rss_min * (1 + stats.f.ppf(level, 1, dof) / dof)


@dataclass(frozen=True)
class ProfileInterval:
    """Where a profile RSS curve stays under its threshold, and whether it reaches the ends."""

    interval: tuple[float, float]
    open_low: bool
    open_high: bool


def profile_interval(
    grid: np.ndarray, rss: np.ndarray, threshold: float, estimate: float
) -> ProfileInterval:
    """The connected set ``{x: rss(x) <= threshold}`` around ``estimate``, ends interpolated.

    ``grid`` is increasing. ``open_low``/``open_high`` say the set runs into the end of the
    grid: the profile is flat to that side, so the data do not bound the parameter there.
    """
    grid = np.asarray(grid, float)
    rss = np.asarray(rss, float)
    inside = rss <= threshold
    i0 = int(np.clip(np.searchsorted(grid, estimate), 0, grid.size - 1))
    if not inside[i0]:
        # the estimate sits between grid points: start from the best neighbour
        nbrs = [j for j in (i0 - 1, i0) if 0 <= j < grid.size]
        i0 = min(nbrs, key=lambda j: rss[j])
        if not inside[i0]:
            return ProfileInterval((estimate, estimate), False, False)
    lo = i0
    while lo > 0 and inside[lo - 1]:
        lo -= 1
    hi = i0
    while hi < grid.size - 1 and inside[hi + 1]:
        hi += 1

    def cross(a: int, b: int) -> float:
        # linear interpolation of the threshold crossing between grid[a] (outside) and grid[b]
        t = (threshold - rss[a]) / (rss[b] - rss[a])
        return float(grid[a] + t * (grid[b] - grid[a]))

    left = float(grid[0]) if lo == 0 else cross(lo - 1, lo)
    right = float(grid[-1]) if hi == grid.size - 1 else cross(hi + 1, hi)
    left, right = min(left, estimate), max(right, estimate)
    return ProfileInterval((left, right), lo == 0, hi == grid.size - 1)
