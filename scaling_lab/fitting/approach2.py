"""Chinchilla Approach 2: a parabola per IsoFLOP curve, then a power law of the vertices.

For each budget, loss is fitted by least squares as a quadratic in ``log10 N`` (and,
separately, in ``log10 D``); the vertex is that budget's optimum. Ordinary least
squares of ``log10 N*`` on ``log10 C`` then gives the exponent ``a`` and intercept
``a0`` (``b`` and ``b0`` for ``D*``). All budgets are fitted in one batched solve.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike

from .data import FitError, IsoflopData, format_rows, validate_isoflops


@dataclass(frozen=True, repr=False)
class Parabolas:
    """Per-budget quadratics ``loss = c0 + c1 u + c2 u**2`` in ``u = (x - center)/scale``.

    ``x`` is ``log10`` of the fitted variable (params or tokens); the centring keeps
    the normal equations well conditioned at any budget.
    """

    budget: np.ndarray
    center: np.ndarray
    scale: np.ndarray
    coef: np.ndarray  # shape (n_budgets, 3)

    @property
    def vertex(self) -> np.ndarray:
        """log10 of the minimising value at each budget."""
        _, c1, c2 = self.coef.T
        return self.center - self.scale * c1 / (2.0 * c2)

    @property
    def vertex_loss(self) -> np.ndarray:
        c0, c1, c2 = self.coef.T
        return c0 - c1**2 / (4.0 * c2)

    @property
    def curvature(self) -> np.ndarray:
        """Second-order coefficient in ``log10`` units (loss per decade squared)."""
        return self.coef[:, 2] / self.scale**2

    def __call__(self, i: int, log10_x: ArrayLike) -> np.ndarray:
        """Loss predicted by budget ``i``'s parabola at ``log10_x``."""
        u = (np.asarray(log10_x, dtype=float) - self.center[i]) / self.scale[i]
        c0, c1, c2 = self.coef[i]
        return c0 + c1 * u + c2 * u**2

    def predict(self, budget: ArrayLike, log10_x: ArrayLike) -> np.ndarray:
        """Loss predicted for each run by the parabola of the run's own ``budget``."""
        budget = np.asarray(budget, dtype=float)
        unknown = ~np.isin(budget, self.budget)
        if unknown.any():
            missing = ", ".join(f"{b:.3g}" for b in np.unique(budget[unknown]))
            raise ValueError(f"no parabola was fitted at budget(s) {missing}")
        i = np.searchsorted(self.budget, budget)
        u = (np.asarray(log10_x, dtype=float) - self.center[i]) / self.scale[i]
        c0, c1, c2 = self.coef[i].T
        return c0 + c1 * u + c2 * u**2


@dataclass(frozen=True, repr=False)
class Approach2Fit:
    """Approach 2 estimates: ``N*(C) = 10**a0 C**a`` and ``D*(C) = 10**b0 C**b``."""

    a: float
    a0: float
    b: float
    b0: float
    parabolas_N: Parabolas
    parabolas_D: Parabolas

    @property
    def budgets(self) -> np.ndarray:
        return self.parabolas_N.budget

    @property
    def optima(self) -> pd.DataFrame:
        """Per-budget vertices: ``budget, N_opt, D_opt`` and the vertex losses and curvatures."""
        pn, pd_ = self.parabolas_N, self.parabolas_D
        return pd.DataFrame(
            {
                "budget": pn.budget,
                "N_opt": 10.0**pn.vertex,
                "D_opt": 10.0**pd_.vertex,
                "loss_at_N_opt": pn.vertex_loss,
                "loss_at_D_opt": pd_.vertex_loss,
                "curvature_N": pn.curvature,
                "curvature_D": pd_.curvature,
            }
        )

    def N_opt(self, C: ArrayLike) -> np.ndarray | float:
        out = 10.0 ** (self.a * np.log10(np.asarray(C, dtype=float)) + self.a0)
        return float(out) if np.ndim(out) == 0 else out

    def D_opt(self, C: ArrayLike) -> np.ndarray | float:
        out = 10.0 ** (self.b * np.log10(np.asarray(C, dtype=float)) + self.b0)
        return float(out) if np.ndim(out) == 0 else out

    def to_frame(self) -> pd.DataFrame:
        return pd.DataFrame([{"a": self.a, "a0": self.a0, "b": self.b, "b0": self.b0}])

    def __repr__(self) -> str:
        return (
            f"Approach2Fit(a={self.a:.10g}, a0={self.a0:.10g}, b={self.b:.10g}, "
            f"b0={self.b0:.10g}, budgets={self.budgets.size})"
        )


def fit_parabolas(
    groups: np.ndarray, log10_x: np.ndarray, loss: np.ndarray, data: IsoflopData, variable: str
) -> Parabolas:
    """Least-squares parabola of ``loss`` against ``log10_x`` per group, in one batched solve."""
    order = np.lexsort((log10_x, groups))
    g, x, y = groups[order], log10_x[order], loss[order]
    starts = np.flatnonzero(np.r_[True, g[1:] != g[:-1]])
    counts = np.diff(np.r_[starts, g.size])
    distinct = np.add.reduceat(np.r_[1.0, (np.diff(x) != 0) | (g[1:] != g[:-1])], starts)
    few = distinct < 3
    if few.any():
        bad = g[starts[few][0]]
        raise FitError(
            f"budget {bad:.3g}: fewer than 3 distinct {variable} values (rows "
            f"{data.rows_where(data.budget == bad)}); a parabola needs at least 3"
        )
    lo = np.minimum.reduceat(x, starts)
    hi = np.maximum.reduceat(x, starts)
    center = 0.5 * (lo + hi)
    scale = 0.5 * (hi - lo)
    idx = np.repeat(np.arange(starts.size), counts)
    u = (x - center[idx]) / scale[idx]
    y_mean = np.add.reduceat(y, starts) / counts
    yc = y - y_mean[idx]
    powers = u[:, None] ** np.arange(5)
    moments = np.add.reduceat(powers, starts, axis=0)  # (groups, 5): sum u^k
    rhs = np.add.reduceat(powers[:, :3] * yc[:, None], starts, axis=0)
    normal = moments[:, [[0, 1, 2], [1, 2, 3], [2, 3, 4]]]
    coef = np.linalg.solve(normal, rhs[..., None])[..., 0]
    coef[:, 0] += y_mean
    downward = coef[:, 2] <= 0
    if downward.any():
        bad = g[starts[downward]]
        rows = format_rows(data.rows[np.isin(data.budget, bad)])
        raise FitError(
            f"budget(s) {', '.join(f'{b:.3g}' for b in bad)}: the parabola of loss against "
            f"log10 {variable} opens downward (curvature "
            f"{', '.join(f'{c:.3g}' for c in coef[downward, 2] / scale[downward] ** 2)}), "
            f"so the curve has no minimum; rows {rows}"
        )
    return Parabolas(budget=g[starts], center=center, scale=scale, coef=coef)


def fit_power_law(log10_c: np.ndarray, log10_y: np.ndarray) -> tuple[float, float]:
    """OLS of ``log10_y = slope log10_c + intercept``; returns ``(slope, intercept)``."""
    xm, ym = log10_c.mean(), log10_y.mean()
    xc = log10_c - xm
    slope = float(np.dot(xc, log10_y - ym) / np.dot(xc, xc))
    return slope, float(ym - slope * xm)


def fit_approach2(df: pd.DataFrame) -> Approach2Fit:
    """Fit Chinchilla Approach 2 to an IsoFLOP table (``budget, params, tokens, loss``).

    Raises ``ValueError`` for malformed input (fewer than 3 points on a budget, fewer
    than 2 budgets, bad values) and ``FitError`` when a budget's parabola has no minimum.
    """
    data = validate_isoflops(df, min_points_per_budget=3, min_budgets=2, purpose="Approach 2")
    par_n = fit_parabolas(data.budget, np.log10(data.params), data.loss, data, "params")
    par_d = fit_parabolas(data.budget, np.log10(data.tokens), data.loss, data, "tokens")
    log_c = np.log10(par_n.budget)
    a, a0 = fit_power_law(log_c, par_n.vertex)
    b, b0 = fit_power_law(log_c, par_d.vertex)
    return Approach2Fit(a=a, a0=a0, b=b, b0=b0, parabolas_N=par_n, parabolas_D=par_d)
