"""Case-resampling bootstrap for fits of IsoFLOP tables.

Runs are resampled with replacement, by default *within budgets* (each IsoFLOP curve
keeps its number of runs, so every draw has the design of the original study). Each
draw is refitted by an estimator that maps a DataFrame to named numbers; a draw whose
fit fails is kept as a row of NaN and counted, never silently dropped.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike

from .fitting.data import FitError

Estimator = Callable[[pd.DataFrame], Mapping[str, float]]


def resample_indices(
    n_boot: int,
    groups: ArrayLike,
    seed: int | np.random.Generator | None = 0,
    within_groups: bool = True,
) -> np.ndarray:
    """Row indices of ``n_boot`` bootstrap samples, shape ``(n_boot, len(groups))``.

    With ``within_groups`` each group (budget) is resampled on its own, keeping its
    size; otherwise all rows are resampled together. Same seed, same indices.
    """
    if int(n_boot) != n_boot or n_boot < 1:
        raise ValueError(f"n_boot must be a positive integer, got {n_boot!r}")
    rng = np.random.default_rng(seed)
    groups = np.asarray(groups)
    n = groups.size
    if not within_groups:
        return rng.integers(0, n, size=(int(n_boot), n))
    out = np.empty((int(n_boot), n), dtype=np.intp)
    for g in np.unique(groups):
        members = np.flatnonzero(groups == g)
        out[:, members] = members[rng.integers(0, members.size, size=(int(n_boot), members.size))]
    return out


def percentile_interval(
    draws: ArrayLike, level: float = 0.95, axis: int | None = 0, method: str = "linear"
) -> tuple[np.ndarray | float, np.ndarray | float]:
    """``(lower, upper)``: the ``(1 - level)/2`` and ``(1 + level)/2`` quantiles of ``draws``.

    The percentile interval of bootstrap draws along ``axis``, NaN (failed draws) left
    out; ``method`` is numpy's quantile rule. With ``axis=None`` and no finite draw the
    interval is ``(nan, nan)``. Shared by :class:`BootstrapResult`, the
    assessment's intervals, the Monte Carlo summaries and the model-family intervals.
    """
    tail = 100 * (1 - level) / 2
    values = np.asarray(draws, dtype=float)
    if axis is None and not (values.size and np.isfinite(values).any()):
        return np.nan, np.nan  # no draw to read a quantile from: no interval
    lower, upper = np.nanpercentile(values, [tail, 100 - tail], axis=axis, method=method)
    return lower, upper


@dataclass(frozen=True, repr=False)
class BootstrapResult:
    """Point estimates, every bootstrap draw, and percentile intervals."""

    estimate: pd.Series
    draws: pd.DataFrame
    scheme: str
    seed: int | None

    @property
    def n_boot(self) -> int:
        return len(self.draws)

    @property
    def n_failed(self) -> int:
        """Draws whose fit failed (rows of NaN in ``draws``)."""
        return int(self.draws.isna().all(axis=1).sum())

    @property
    def failure_rate(self):
        """Share of draws whose fit failed, as a :class:`scaling_lab.landings.Rate`."""
        from .landings import rate

        return rate(self.n_failed, self.n_boot)

    def endpoint_ranges(self, level: float = 0.95, confidence: float = 0.95) -> pd.DataFrame:
        """Monte Carlo uncertainty of each percentile endpoint, from order statistics.

        With ``m`` successful draws, the ``q``-quantile of the bootstrap distribution lies
        between the ``j``-th and ``k``-th smallest draws with probability ``confidence``,
        where ``j, k`` are the binomial ``(m, q)`` quantiles (distribution-free). Columns
        ``lower from, lower to, upper from, upper to`` per quantity: how far each
        endpoint could move with another ``m`` draws.
        """
        from scipy.stats import binom  # on first use: scipy.stats is slow to import

        rows = {}
        for name in self.draws.columns:
            x = np.sort(self.draws[name].dropna().to_numpy())
            m = len(x)
            row = {}
            for side, q in (("lower", (1 - level) / 2), ("upper", (1 + level) / 2)):
                j = int(binom.ppf((1 - confidence) / 2, m, q))
                k = int(binom.ppf((1 + confidence) / 2, m, q)) + 1
                row[f"{side} from"] = x[max(j - 1, 0)]
                row[f"{side} to"] = x[min(k - 1, m - 1)]
            rows[name] = row
        return pd.DataFrame.from_dict(rows, orient="index")

    def intervals(self, level: float = 0.95) -> pd.DataFrame:
        """Percentile intervals: ``estimate, lower, upper, contains_estimate`` per quantity."""
        if not 0 < level < 1:
            raise ValueError(f"level must be in (0, 1), got {level!r}")
        lower, upper = percentile_interval(self.draws.to_numpy(), level)
        est = self.estimate[self.draws.columns].to_numpy()
        return pd.DataFrame(
            {
                "estimate": est,
                "lower": lower,
                "upper": upper,
                "contains_estimate": (lower <= est) & (est <= upper),
            },
            index=self.draws.columns,
        )

    def __repr__(self) -> str:
        return (
            f"BootstrapResult({self.n_boot} draws, scheme={self.scheme!r}, "
            f"failed={self.n_failed}, quantities={list(self.draws.columns)})"
        )


def bootstrap(
    df: pd.DataFrame,
    estimator: Estimator,
    n_boot: int = 1000,
    seed: int | None = 0,
    within: str | None = "budget",
    n_jobs: int = 1,
) -> BootstrapResult:
    """Refit ``estimator`` on ``n_boot`` case resamples of ``df``.

    ``within`` names the column to resample within (``None``: resample all rows
    together). ``estimator`` returns a mapping of named numbers; a
    :class:`~scaling_lab.FitError` in a draw gives a row of NaN. ``n_jobs`` runs draws
    in parallel with joblib; results do not depend on it.
    """
    if within is not None and within not in df.columns:
        raise ValueError(f"cannot resample within {within!r}: no such column")
    estimate = pd.Series(dict(estimator(df)), dtype=float)
    groups = df[within].to_numpy() if within is not None else np.zeros(len(df))
    idx = resample_indices(n_boot, groups, seed, within_groups=within is not None)
    from joblib import Parallel, delayed  # on first use: keeps `import scaling_lab` fast

    rows = Parallel(n_jobs=n_jobs)(delayed(_one_draw)(df, estimator, i) for i in idx)
    draws = pd.DataFrame(rows, columns=estimate.index, dtype=float)
    return BootstrapResult(
        estimate=estimate,
        draws=draws,
        scheme=f"cases within {within}" if within else "cases",
        seed=seed,
    )


def subsample(
    df: pd.DataFrame,
    estimator: Estimator,
    n_sub: int = 100,
    fraction: float = 0.8,
    seed: int | None = 0,
    n_jobs: int = 1,
) -> BootstrapResult:
    """Refit ``estimator`` on ``n_sub`` random subsets of ``fraction`` of the rows.

    Rows are drawn without replacement, as in Hoffmann et al.'s intervals (100 subsets of
    80%). Subsets overlap, so their spread understates the sampling error of the full
    fit: for a mean it is ``sqrt(1/fraction - 1)`` times the standard error (half of it at
    80%). Use it to reproduce that protocol, not as an interval.
    """
    if int(n_sub) != n_sub or n_sub < 1:
        raise ValueError(f"n_sub must be a positive integer, got {n_sub!r}")
    if not 0 < fraction < 1:
        raise ValueError(f"fraction must be in (0, 1), got {fraction!r}")
    estimate = pd.Series(dict(estimator(df)), dtype=float)
    rng = np.random.default_rng(seed)
    m = round(fraction * len(df))
    idx = [np.sort(rng.choice(len(df), size=m, replace=False)) for _ in range(int(n_sub))]
    from joblib import Parallel, delayed  # on first use: keeps `import scaling_lab` fast

    rows = Parallel(n_jobs=n_jobs)(delayed(_one_draw)(df, estimator, i) for i in idx)
    draws = pd.DataFrame(rows, columns=estimate.index, dtype=float)
    scheme = f"{int(n_sub)} subsets of {100 * fraction:.0f}% without replacement"
    return BootstrapResult(estimate=estimate, draws=draws, scheme=scheme, seed=seed)


def _one_draw(df: pd.DataFrame, estimator: Estimator, rows: np.ndarray) -> dict[str, float]:
    try:
        return dict(estimator(df.iloc[rows].reset_index(drop=True)))
    except (FitError, ValueError):
        return {}
