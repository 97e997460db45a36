"""Errors of fitted scaling laws against a known surface."""

from __future__ import annotations

import pandas as pd

from .fitting.approach2 import Approach2Fit, fit_approach2
from .sampling import sample_isoflops
from .surfaces import LossSurface

#: The headline extrapolation budget: D* at 1e24 FLOPs.
HEADLINE_BUDGET = 1e24


def relative_error(inferred: float, true: float) -> float:
    """``(inferred - true)/true``."""
    return (inferred - true) / true


def approach2_errors(fit: Approach2Fit, surface: LossSurface) -> pd.DataFrame:
    """Estimated vs true exponents and intercepts, with their relative errors."""
    rows = [
        ("a", fit.a, surface.a),
        ("a0", fit.a0, surface.a0),
        ("b", fit.b, surface.b),
        ("b0", fit.b0, surface.b0),
    ]
    return pd.DataFrame(
        [
            {"quantity": name, "estimate": est, "true": tru, "relative_error": (est - tru) / tru}
            for name, est, tru in rows
        ]
    ).set_index("quantity")


def extrapolation_error(fit, surface: LossSurface, budget: float = HEADLINE_BUDGET) -> float:
    """Relative error of the extrapolated ``D*`` at ``budget`` (the book's headline metric)."""
    return relative_error(float(fit.D_opt(budget)), float(surface.D_opt(budget)))


def approach2_grid_sweep(surface: LossSurface, grids: dict[str, float], **sampling) -> pd.DataFrame:
    """Relative errors of ``a, a0, b, b0`` and of ``D*`` at 1e24, one row per named grid.

    ``sampling`` is passed to :func:`scaling_lab.sample_isoflops` (budgets, n_points,
    center_scale, drift).
    """
    rows = []
    for name, k in grids.items():
        fit = fit_approach2(sample_isoflops(surface, grid=k, **sampling))
        errors = approach2_errors(fit, surface)["relative_error"]
        rows.append(
            {
                "grid": name,
                "k": k,
                **errors.to_dict(),
                "D*(1e24)": extrapolation_error(fit, surface),
            }
        )
    return pd.DataFrame(rows).set_index("grid")
