"""Loss surfaces outside the fitted family, to see what each method gets wrong.

Every fitter in the book assumes ``L = E + A/N**alpha + B/D**beta``. Real losses need
not follow it. ``OutOfFamilySurface`` bends the family in two ways that each vanish at
a parameter value, so the book can turn the misspecification up from zero:

* an interaction ``gamma x y`` between the two terms ``x = A/N**alpha`` and
  ``y = B/D**beta`` (``gamma = 0``: the family);
* a different shape of the sum, ``(x**(1/q) + y**(1/q))**q`` (``q = 1``: the family;
  ``q != 1`` is the form of Kaplan et al. 2020 with a floor added).

The optimum ``N*(C)`` has no closed form; it is found numerically along each IsoFLOP
curve, so the sampling functions and the headline metric work unchanged.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike
from scipy.optimize import minimize_scalar

from .analysis import HEADLINE_BUDGET
from .fitting import FitError, fit_approach2, fit_vpnls
from .fitting.approach2 import fit_power_law
from .sampling import DEFAULT_BUDGETS, sample_isoflops
from .surfaces import LossSurface


@dataclass(frozen=True)
class OutOfFamilySurface:
    """``E + (x**(1/q) + y**(1/q))**q + gamma x y`` with ``x = A/N**alpha``, ``y = B/D**beta``."""

    base: LossSurface
    interaction: float = 0.0  # gamma, in 1/loss
    shape: float = 1.0  # q

    def __post_init__(self) -> None:
        if not np.isfinite(self.interaction) or self.interaction < 0:
            raise ValueError(f"interaction must be finite and >= 0, got {self.interaction!r}")
        if not np.isfinite(self.shape) or self.shape <= 0:
            raise ValueError(f"shape must be finite and positive, got {self.shape!r}")

    def loss(self, N: ArrayLike, D: ArrayLike) -> np.ndarray | float:
        s = self.base
        x = s.A * np.asarray(N, dtype=float) ** -s.alpha
        y = s.B * np.asarray(D, dtype=float) ** -s.beta
        q = self.shape
        out = s.E + (x ** (1 / q) + y ** (1 / q)) ** q + self.interaction * x * y
        return float(out) if np.ndim(out) == 0 else out

    def N_opt(self, C: ArrayLike) -> np.ndarray | float:
        """Loss-minimising parameter count at compute ``C = 6 N D``, found numerically."""
        budgets = np.atleast_1d(np.asarray(C, dtype=float))
        out = np.array([self._n_opt_one(c) for c in budgets])
        return float(out[0]) if np.ndim(C) == 0 else out

    def D_opt(self, C: ArrayLike) -> np.ndarray | float:
        return np.asarray(C, dtype=float) / (6.0 * self.N_opt(C))

    def _n_opt_one(self, c: float) -> float:
        center = np.log(self.base.N_opt(c))

        def loss_at(log_n: float) -> float:
            n = np.exp(log_n)
            return self.loss(n, c / (6.0 * n))

        res = minimize_scalar(
            loss_at, bounds=(center - 12.0, center + 12.0), method="bounded",
            options={"xatol": 1e-10},
        )  # fmt: skip
        if res.x - (center - 12.0) < 1e-6 or (center + 12.0) - res.x < 1e-6:
            raise ValueError(f"no interior optimum found at C = {c:.3g}")
        return float(np.exp(res.x))

    def local_exponents(self, budgets: Sequence[float]) -> tuple[float, float]:
        """Least-squares slopes of ``log N*`` and ``log D*`` on ``log C`` over ``budgets``."""
        log_c = np.log(np.asarray(budgets, dtype=float))
        a, _ = fit_power_law(log_c, np.log(self.N_opt(budgets)))
        return a, 1.0 - a


def misspecification_table(
    surfaces: dict[str, OutOfFamilySurface],
    budgets: Sequence[float] = DEFAULT_BUDGETS,
    grid: float = 8.0,
    target: float = HEADLINE_BUDGET,
) -> pd.DataFrame:
    """Fit VPNLS and Approach 2 to noise-free runs of each surface; compare with the truth.

    One row per surface and method: the fitted exponents ``a, b`` against the true local
    slopes over the fitted budgets, the relative error of ``D*`` at ``target`` FLOPs, and
    the RMS residual of the fit in units of loss (how visible the misfit is).
    """
    rows = []
    for name, surface in surfaces.items():
        runs = sample_isoflops(surface, budgets=budgets, grid=grid)
        true_a, true_b = surface.local_exponents(budgets)
        true_d = float(surface.D_opt(target))
        for method, fitter in (("approach2", fit_approach2), ("vpnls", fit_vpnls)):
            row = {"surface": name, "method": method}
            try:
                fit = fitter(runs)
            except FitError as exc:
                rows.append({**row, "error": str(exc)})
                continue
            rms = np.nan
            if method == "vpnls":
                resid = runs["loss"] - fit.loss(runs["params"], runs["tokens"])
                rms = float(np.sqrt(np.mean(resid**2)))
            rows.append(
                {
                    **row,
                    "a": fit.a,
                    "true a": true_a,
                    "a error": fit.a / true_a - 1,
                    "b": fit.b,
                    "true b": true_b,
                    "b error": fit.b / true_b - 1,
                    "D* error at target": float(fit.D_opt(target)) / true_d - 1,
                    "rms residual": rms,
                    "error": "",
                }
            )
    return pd.DataFrame(rows)
