"""Do loss improvements predict accuracy improvements? A correlation with its power stated.

With seven sizes there are six steps between consecutive models, so a correlation is
estimated from six pairs. :func:`detectable_r` says how strong a correlation must be for
such a sample to detect it, which is what a reader needs before reading anything into an
r of -0.3.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


def critical_r(n: int, level: float = 0.05) -> float:
    """Smallest |r| significant at two-sided ``level`` with ``n`` pairs (exact t test)."""
    from scipy import stats  # on first use: scipy.stats is slow to import

    if n < 4:
        raise ValueError(f"need at least 4 pairs, got {n}")
    t = stats.t.ppf(1 - level / 2, n - 2)
    return float(t / np.sqrt(t**2 + n - 2))


def detectable_r(n: int, power: float = 0.8, level: float = 0.05) -> float:
    """|r| detected with probability ``power`` at two-sided ``level`` (Fisher z approximation)."""
    from scipy import stats  # on first use: scipy.stats is slow to import

    if n < 4:
        raise ValueError(f"need at least 4 pairs, got {n}")
    z = (stats.norm.ppf(1 - level / 2) + stats.norm.ppf(power)) / np.sqrt(n - 3)
    return float(np.tanh(z))


@dataclass(frozen=True)
class Correlation:
    """Pearson r of two paired series with its Fisher-z 95% interval and p-value."""

    r: float
    n: int
    interval: tuple[float, float]
    p_value: float
    critical_r: float
    detectable_r: float

    def to_dict(self) -> dict:
        return {
            "estimate": self.r,
            "interval": list(self.interval),
            "method": "Pearson r, Fisher z interval",
            "flag": None,
            "n": self.n,
            "p_value": self.p_value,
            "critical_r": self.critical_r,
            "detectable_r_80pct_power": self.detectable_r,
        }


def correlate(a, b) -> Correlation:
    """Pearson correlation of ``a`` and ``b`` with interval, p-value and power context."""
    from scipy import stats  # on first use: scipy.stats is slow to import

    a, b = np.asarray(a, float), np.asarray(b, float)
    if a.shape != b.shape or a.ndim != 1:
        raise ValueError(f"a and b must be 1-D of equal length, got {a.shape} and {b.shape}")
    if not (np.isfinite(a).all() and np.isfinite(b).all()):
        raise ValueError("a and b must be finite")
    n = a.size
    if n < 4:
        raise ValueError(f"need at least 4 pairs, got {n}")
    r, p = stats.pearsonr(a, b)
    r = float(np.clip(r, -1 + 1e-15, 1 - 1e-15))
    half = stats.norm.ppf(0.975) / np.sqrt(n - 3)
    z = np.arctanh(r)
    iv = (float(np.tanh(z - half)), float(np.tanh(z + half)))
    return Correlation(r, n, iv, float(p), critical_r(n), detectable_r(n))
