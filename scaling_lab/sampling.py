"""IsoFLOP experiment designs on a known loss surface.

At budget ``C`` a design places ``n`` points equally spaced in ``log10 N`` over
``[c - W, c + W]`` with ``W = log10(grid)`` (a "±grid×" sweep) and centre
``c = log10 N*(C) - log10(center_scale) - log10(drift) f(C)``, where
``f(C) = (log C - log C_min)/(log C_max - log C_min)`` runs from 0 at the smallest
budget to 1 at the largest. Tokens follow from ``D = C/(6N)``. ``center_scale=3``
centres every grid on ``3 D*`` (``N*/3``); ``drift=3`` starts at ``D*`` and ends
at ``3 D*``.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from .surfaces import LossSurface

#: The standard five budgets, 1e17 to 1e21 FLOPs.
DEFAULT_BUDGETS: tuple[float, ...] = (1e17, 1e18, 1e19, 1e20, 1e21)

#: Named sampling grids (the ``k`` of "±k×").
NAMED_GRIDS: dict[str, float] = {"XS": 2.0, "S": 4.0, "L": 8.0, "XL": 16.0}

#: Column order every fitter reads.
ISOFLOP_COLUMNS: tuple[str, ...] = ("budget", "params", "tokens", "loss")

Seed = int | np.random.Generator | None


def drift_fraction(budgets: Sequence[float] | np.ndarray) -> np.ndarray:
    """``f(C)``: 0 at the smallest budget, 1 at the largest, linear in ``log C``."""
    log_c = np.log10(np.asarray(budgets, dtype=float))
    span = log_c.max() - log_c.min()
    if span == 0:
        return np.zeros_like(log_c)
    return (log_c - log_c.min()) / span


def sampling_centers(
    surface: LossSurface,
    budgets: Sequence[float] | np.ndarray,
    center_scale: float = 1.0,
    drift: float = 1.0,
) -> np.ndarray:
    """log10 of the parameter count at the centre of each budget's grid."""
    budgets = np.asarray(budgets, dtype=float)
    return (
        np.log10(surface.N_opt(budgets))
        - np.log10(center_scale)
        - np.log10(drift) * drift_fraction(budgets)
    )


def sample_isoflops(
    surface: LossSurface,
    budgets: Sequence[float] | None = None,
    n_points: int = 15,
    grid: float = 8.0,
    center_scale: float = 1.0,
    drift: float = 1.0,
    noise: float = 0.0,
    seed: Seed = None,
) -> pd.DataFrame:
    """IsoFLOP runs on ``surface``: one row per run, columns ``budget, params, tokens, loss``.

    ``noise`` is the standard deviation of Gaussian noise added to the loss; it is
    drawn from ``seed`` (an int or a ``numpy.random.Generator``) so the same seed
    gives the same table.
    """
    budgets_arr = np.asarray(DEFAULT_BUDGETS if budgets is None else budgets, dtype=float)
    _check_design(budgets_arr, n_points, grid, center_scale, drift, noise)

    half_width = np.log10(grid)
    centers = sampling_centers(surface, budgets_arr, center_scale, drift)
    offsets = np.linspace(-half_width, half_width, n_points)
    log_n = centers[:, None] + offsets[None, :]
    budget = np.repeat(budgets_arr, n_points)
    params = 10.0 ** log_n.ravel()
    tokens = budget / (6.0 * params)
    loss = surface.loss(params, tokens)
    if noise > 0:
        loss = loss + np.random.default_rng(seed).normal(0.0, noise, size=loss.shape)
    return pd.DataFrame({"budget": budget, "params": params, "tokens": tokens, "loss": loss})


def _check_design(
    budgets: np.ndarray, n_points: int, grid: float, center_scale: float, drift: float, noise: float
) -> None:
    if budgets.ndim != 1 or budgets.size == 0:
        raise ValueError("budgets must be a non-empty sequence of compute budgets")
    if not np.all(np.isfinite(budgets) & (budgets > 0)):
        raise ValueError(f"budgets must be positive and finite, got {budgets.tolist()}")
    if int(n_points) != n_points or n_points < 1:
        raise ValueError(f"n_points must be a positive integer, got {n_points!r}")
    if not grid > 1:
        raise ValueError(f"grid is the k of a ±k× sweep and must exceed 1, got {grid!r}")
    if not center_scale > 0:
        raise ValueError(f"center_scale must be positive, got {center_scale!r}")
    if not drift > 0:
        raise ValueError(f"drift must be positive, got {drift!r}")
    if not noise >= 0:
        raise ValueError(f"noise must be non-negative, got {noise!r}")
