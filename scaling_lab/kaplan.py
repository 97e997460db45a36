"""Why Kaplan and Chinchilla disagree: counting non-embedding parameters at small scale.

Take a Chinchilla surface ``L = E + A/N_T**alpha + B/D**beta`` over *total* parameters as
the truth. A model with ``N_E`` non-embedding parameters in ``n_layers`` blocks of width
``d`` has ``N_E = 12 n_layers d**2`` (Kaplan et al. 2020); at a fixed aspect ratio
``d/n_layers = r`` its width is ``d = (r N_E/12)**(1/3)`` and its embedding has
``V d`` parameters for a vocabulary of ``V`` tokens, so ``N_T = N_E + V d``. Kaplan
counted compute as ``C_E = 6 N_E D`` and fitted ``N_E*`` against ``C_E``. Minimising the
loss at fixed ``C_E`` gives, for each ``N_E``, the budget at which it is optimal in closed
form (Pearce & Song 2024):

    C_E(N_E) = 6 N_E (beta B N_T / (alpha A N_T**(-alpha) (N_E + V d/3)))**(1/beta)

and the local exponent ``d ln N_E*/d ln C_E = 1/(1 + ((1+alpha) s - q)/beta)`` with
``s = (N_E + V d/3)/N_T`` and ``q = (N_E + V d/9)/(N_E + V d/3)``. It runs from
``beta/(alpha/3 + beta)`` where embeddings dominate to Chinchilla's
``beta/(alpha + beta)`` where they are negligible.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike

from .surfaces import LossSurface

#: Kaplan et al. (2020): GPT-2's byte-pair encoding, n_vocab = 50257.
KAPLAN_VOCAB = 50257
#: Width over depth, d_model/n_layers, fitted to the Chinchilla model configurations by
#: Pearce & Song (2024) (their analysis uses 39.2).
ASPECT_RATIO = 39.2
#: Kaplan et al. (2020): models from 768 to 1.5 billion non-embedding parameters.
KAPLAN_SIZES = (768.0, 1.5e9)


@dataclass(frozen=True)
class Shape:
    """The shape rule: width from non-embedding size, and the embedding it implies."""

    vocab: float = KAPLAN_VOCAB
    aspect_ratio: float = ASPECT_RATIO

    def __post_init__(self) -> None:
        if not (np.isfinite(self.vocab) and self.vocab >= 0):
            raise ValueError(f"vocab must be a number >= 0, got {self.vocab!r}")
        if not (np.isfinite(self.aspect_ratio) and self.aspect_ratio > 0):
            raise ValueError(f"aspect_ratio must be positive, got {self.aspect_ratio!r}")

    def width(self, N_E: ArrayLike) -> np.ndarray:
        """``d = (aspect_ratio N_E / 12)**(1/3)`` (from ``N_E = 12 n_layers d**2``)."""
        return (self.aspect_ratio * np.asarray(N_E, dtype=float) / 12.0) ** (1.0 / 3.0)

    def total(self, N_E: ArrayLike) -> np.ndarray:
        """Total parameters ``N_E + vocab d``."""
        return np.asarray(N_E, dtype=float) + self.vocab * self.width(N_E)


def _check_sizes(N_E: ArrayLike) -> np.ndarray:
    n = np.asarray(N_E, dtype=float)
    if np.any(~np.isfinite(n) | (n <= 0)):
        raise ValueError(f"non-embedding sizes must be positive and finite, got {N_E}")
    return n


def budget_for(surface: LossSurface, N_E: ArrayLike, shape: Shape) -> np.ndarray:
    """Non-embedding compute ``C_E = 6 N_E D`` at which ``N_E`` is the optimal size."""
    n = _check_sizes(N_E)
    emb = shape.vocab * shape.width(n)
    n_t = n + emb
    s_num = n + emb / 3.0
    log_d = (
        np.log(surface.beta * surface.B)
        + (1 + surface.alpha) * np.log(n_t)
        - np.log(surface.alpha * surface.A)
        - np.log(s_num)
    ) / surface.beta
    return 6.0 * n * np.exp(log_d)


def local_exponent(surface: LossSurface, N_E: ArrayLike, shape: Shape) -> np.ndarray:
    """``d ln N_E*/d ln C_E`` at the budget where ``N_E`` is optimal."""
    n = _check_sizes(N_E)
    emb = shape.vocab * shape.width(n)
    s = (n + emb / 3.0) / (n + emb)
    q = (n + emb / 9.0) / (n + emb / 3.0)
    return 1.0 / (1.0 + ((1.0 + surface.alpha) * s - q) / surface.beta)


def optimal_size(surface: LossSurface, C_E: ArrayLike, shape: Shape) -> np.ndarray:
    """Optimal non-embedding size at non-embedding compute ``C_E`` (vectorised bisection).

    ``budget_for`` increases with ``N_E``, so ``ln N_E*`` is found by bisection in
    ``ln N_E`` on ``ln C_E``, to the last bit.
    """
    c = np.asarray(C_E, dtype=float)
    if np.any(~np.isfinite(c) | (c <= 0)):
        raise ValueError(f"budgets must be positive and finite, got {C_E}")
    lo = np.full(c.shape, np.log(1e-6))
    hi = np.full(c.shape, np.log(1e20))
    target = np.log(c)
    for _ in range(200):
        mid = 0.5 * (lo + hi)
        above = np.log(budget_for(surface, np.exp(mid), shape)) > target
        hi = np.where(above, mid, hi)
        lo = np.where(above, lo, mid)
        if np.all(hi - lo <= 1e-13 * np.maximum(1.0, np.abs(mid))):
            break
    return np.exp(0.5 * (lo + hi))


@dataclass(frozen=True)
class ExponentFit:
    """OLS slope of ``ln N_E*`` on ``ln C_E`` over ``n`` budgets log-spaced in a range."""

    c_min: float
    c_max: float
    n: int
    exponent: float
    intercept: float

    def __repr__(self) -> str:
        return (
            f"ExponentFit(C_E from {self.c_min:.3g} to {self.c_max:.3g}, {self.n} budgets: "
            f"N_E* ∝ C_E^{self.exponent:.4f})"
        )


def fit_exponent(
    surface: LossSurface, c_min: float, c_max: float, shape: Shape, n: int = 100
) -> ExponentFit:
    """Kaplan's fit: the power law of ``N_E*`` against ``C_E`` over ``[c_min, c_max]``."""
    if not (0 < c_min < c_max and np.isfinite(c_max)) or n < 2:
        raise ValueError(f"need 0 < c_min < c_max and n >= 2; got {c_min!r}, {c_max!r}, {n!r}")
    c = np.geomspace(c_min, c_max, n)
    slope, intercept = np.polyfit(np.log(c), np.log(optimal_size(surface, c, shape)), 1)
    return ExponentFit(float(c_min), float(c_max), int(n), float(slope), float(intercept))


def kaplan_budget_range(surface: LossSurface, shape: Shape) -> tuple[float, float]:
    """The budgets whose optimal size spans Kaplan's models (:data:`KAPLAN_SIZES`)."""
    lo, hi = budget_for(surface, np.array(KAPLAN_SIZES), shape)
    return float(lo), float(hi)


def exponent_limits(surface: LossSurface) -> tuple[float, float]:
    """Local exponent where embeddings dominate, and where they vanish (Chinchilla's ``a``)."""
    a, b = surface.alpha, surface.beta
    return b / (a / 3.0 + b), b / (a + b)


def frontier_table(surface: LossSurface, C_E: ArrayLike, shape: Shape) -> pd.DataFrame:
    """Per budget: ``N_E*``, its width, embedding and total size, tokens and local exponent."""
    c = np.asarray(C_E, dtype=float)
    n = optimal_size(surface, c, shape)
    d = shape.width(n)
    return pd.DataFrame(
        {
            "C_E": c,
            "N_E": n,
            "width": d,
            "embedding": shape.vocab * d,
            "N_T": n + shape.vocab * d,
            "D": c / (6.0 * n),
            "local_exponent": local_exponent(surface, n, shape),
        }
    )


def where_effect_stops(surface: LossSurface, shape: Shape, tolerance: float = 0.01) -> float:
    """The budget ``C_E`` beyond which the local exponent stays within ``tolerance`` of ``a``.

    Past its peak the local exponent falls monotonically towards Chinchilla's
    ``beta/(alpha+beta)``; this is where it crosses ``a + tolerance``.
    """
    from scipy.optimize import brentq

    if not tolerance > 0:
        raise ValueError(f"tolerance must be positive, got {tolerance!r}")
    a = surface.beta / (surface.alpha + surface.beta)
    log_n = np.linspace(np.log(1.0), np.log(1e16), 2001)
    gap = local_exponent(surface, np.exp(log_n), shape) - a - tolerance
    above = np.flatnonzero(gap > 0)
    if above.size == 0:
        return float(budget_for(surface, 1.0, shape))
    i = above[-1]
    if i + 1 >= log_n.size:
        raise ValueError("the local exponent is still above the tolerance at 1e16 parameters")
    x = brentq(
        lambda v: float(local_exponent(surface, np.exp(v), shape)) - a - tolerance,
        log_n[i],
        log_n[i + 1],
        xtol=1e-12,
    )
    return float(budget_for(surface, np.exp(x), shape))


# --- the other factors: FLOP counting and a mismatched schedule ---------------------------

#: Kaplan et al. (2020) trained every model for 2.5e5 steps of 512 sequences of 1024
#: tokens; Hoffmann et al. (2022) name this fixed schedule of about 130B tokens as a cause
#: of Kaplan's larger exponent.
KAPLAN_SCHEDULE_TOKENS = 2.5e5 * 512 * 1024
COUNTS = ("nonembedding", "total")


@dataclass(frozen=True)
class Schedule:
    """A modelled loss penalty for a cosine schedule set for ``tokens`` but stopped early.

    A run of ``D < tokens`` tokens stops with the fraction ``(1 + cos(pi D/tokens))/2`` of
    its peak learning rate not yet annealed; the model adds ``penalty`` times that fraction
    to the loss (nothing for ``D >= tokens``). It is a stated model, not a measurement.
    """

    tokens: float = KAPLAN_SCHEDULE_TOKENS
    penalty: float = 0.05

    def __post_init__(self) -> None:
        if not (np.isfinite(self.tokens) and self.tokens > 0):
            raise ValueError(f"schedule tokens must be positive, got {self.tokens!r}")
        if not (np.isfinite(self.penalty) and self.penalty >= 0):
            raise ValueError(f"penalty must be a number >= 0, got {self.penalty!r}")

    def extra_loss(self, D: ArrayLike) -> np.ndarray:
        """The modelled excess loss of a run of ``D`` tokens."""
        f = np.minimum(np.asarray(D, dtype=float) / self.tokens, 1.0)
        return self.penalty * 0.5 * (1.0 + np.cos(np.pi * f))


@dataclass(frozen=True)
class Procedure:
    """How a study counts: parameters and FLOPs (``C = 6 N D``), and its schedule."""

    params: str = "nonembedding"
    flops: str = "nonembedding"
    schedule: Schedule | None = None

    def __post_init__(self) -> None:
        for name in ("params", "flops"):
            if getattr(self, name) not in COUNTS:
                raise ValueError(f"{name} must be one of {COUNTS}, got {getattr(self, name)!r}")


def _count(which: str, N_E: np.ndarray, shape: Shape) -> np.ndarray:
    return N_E if which == "nonembedding" else shape.total(N_E)


def procedure_optimum(
    surface: LossSurface, C: ArrayLike, shape: Shape, procedure: Procedure
) -> np.ndarray:
    """Optimal ``N_E`` at budget ``C`` counted as ``procedure.flops`` (grid, then golden section).

    The loss is the truth at ``N_T`` and ``D = C/(6 N)``, ``N`` the counted size, plus the
    schedule's penalty; minimised over ``ln N_E`` in ``[ln 1e-2, ln 1e16]``.
    """
    c = np.atleast_1d(np.asarray(C, dtype=float))
    if np.any(~np.isfinite(c) | (c <= 0)):
        raise ValueError(f"budgets must be positive and finite, got {C}")

    def loss(x: np.ndarray) -> np.ndarray:
        n = np.exp(x)
        d = c[:, None] / (6.0 * _count(procedure.flops, n, shape))
        out = surface.A / shape.total(n) ** surface.alpha + surface.B / d**surface.beta
        return out if procedure.schedule is None else out + procedure.schedule.extra_loss(d)

    grid = np.linspace(np.log(1e-2), np.log(1e16), 2001)
    i = np.clip(np.argmin(loss(np.broadcast_to(grid, (c.size, grid.size))), axis=1), 1, 1999)
    lo, hi = grid[i - 1], grid[i + 1]
    g = (np.sqrt(5.0) - 1.0) / 2.0
    for _ in range(80):
        x1, x2 = hi - g * (hi - lo), lo + g * (hi - lo)
        f1 = loss(x1[:, None])[:, 0]
        f2 = loss(x2[:, None])[:, 0]
        left = f1 < f2
        hi = np.where(left, x2, hi)
        lo = np.where(left, lo, x1)
    n = np.exp(0.5 * (lo + hi))
    return n.reshape(np.shape(C)) if np.ndim(C) else n[0]


def procedure_range(
    surface: LossSurface, shape: Shape, procedure: Procedure
) -> tuple[float, float]:
    """The budgets (as ``procedure`` counts them) whose optimal ``N_E`` spans Kaplan's models."""
    target = np.log(np.array(KAPLAN_SIZES))
    lo, hi = np.full(2, np.log(1e3)), np.full(2, np.log(1e32))
    for _ in range(60):
        mid = 0.5 * (lo + hi)
        above = np.log(procedure_optimum(surface, np.exp(mid), shape, procedure)) > target
        hi = np.where(above, mid, hi)
        lo = np.where(above, lo, mid)
    c = np.exp(0.5 * (lo + hi))
    return float(c[0]), float(c[1])


def fit_procedure(
    surface: LossSurface, shape: Shape, procedure: Procedure, n: int = 60
) -> ExponentFit:
    """The exponent of the counted optimal size against the counted budget over Kaplan's models.

    Budgets are log-spaced over :func:`procedure_range`; the size is ``N_E*`` or ``N_T*``
    as ``procedure.params`` says.
    """
    if n < 2:
        raise ValueError(f"need n >= 2 budgets, got {n!r}")
    c_min, c_max = procedure_range(surface, shape, procedure)
    c = np.geomspace(c_min, c_max, n)
    size = _count(procedure.params, procedure_optimum(surface, c, shape, procedure), shape)
    slope, intercept = np.polyfit(np.log(c), np.log(size), 1)
    return ExponentFit(c_min, c_max, int(n), float(slope), float(intercept))


#: The factors one at a time and together: name -> (parameters, FLOPs, mismatched schedule).
FACTORS: dict[str, tuple[str, str, bool]] = {
    "none (total counts, matched schedule)": ("total", "total", False),
    "non-embedding parameters": ("nonembedding", "total", False),
    "non-embedding FLOPs (no last layer)": ("total", "nonembedding", False),
    "fixed schedule": ("total", "total", True),
    "parameters and FLOPs (Pearce & Song)": ("nonembedding", "nonembedding", False),
    "all three": ("nonembedding", "nonembedding", True),
}


def factor_table(surface: LossSurface, shape: Shape, schedule: Schedule) -> pd.DataFrame:
    """The fitted exponent over Kaplan's models for each row of :data:`FACTORS`."""
    rows = {}
    for name, (params, flops, mismatched) in FACTORS.items():
        proc = Procedure(params, flops, schedule if mismatched else None)
        fit = fit_procedure(surface, shape, proc)
        rows[name] = {
            "parameters": params,
            "FLOPs": flops,
            "schedule": "fixed" if mismatched else "matched",
            "C from": fit.c_min,
            "C to": fit.c_max,
            "exponent": fit.exponent,
        }
    return pd.DataFrame.from_dict(rows, orient="index")


# --- real runs: the same fit with total and with non-embedding counts --------------------


def with_count(runs: pd.DataFrame, count: str) -> pd.DataFrame:
    """``runs`` with ``params`` the ``count`` size and ``budget = 6 params tokens`` to match.

    Needs ``params`` total and ``params_nonembedding`` (as the ``gadre2024`` and
    ``gemstones`` loaders give).
    """
    if count not in COUNTS:
        raise ValueError(f"count must be one of {COUNTS}, got {count!r}")
    missing = {"params", "params_nonembedding", "tokens", "loss"} - set(runs.columns)
    if missing:
        raise ValueError(f"runs lack the columns {sorted(missing)}")
    out = runs.copy()
    if count == "nonembedding":
        out["params"] = out["params_nonembedding"].astype(float)
    out["budget"] = 6.0 * out["params"] * out["tokens"]
    return out


def convention_comparison(
    runs: pd.DataFrame, n_boot: int = 200, seed: int = 0, level: float = 0.95
) -> pd.DataFrame:
    """VPNLS fits with total and with non-embedding ``params``: ``a, b, alpha, beta``.

    One row per count; columns ``<q>, <q>_lower, <q>_upper`` for each quantity (bootstrap
    intervals of :func:`scaling_lab.assess` with ``n_boot`` seeded draws), and ``n_runs``.
    """
    from .assess import assess

    rows = {}
    for count in COUNTS:
        res = assess(with_count(runs, count), "vpnls", n_boot=n_boot, seed=seed, level=level)
        iv = res.intervals()
        row: dict[str, float] = {"n_runs": float(len(runs))}
        for q in ("a", "b", "alpha", "beta"):
            row |= {q: iv.loc[q, "estimate"], f"{q}_lower": iv.loc[q, "lower"]}
            row[f"{q}_upper"] = iv.loc[q, "upper"]
        rows[count] = row
    return pd.DataFrame.from_dict(rows, orient="index")
