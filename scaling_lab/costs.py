"""What a wrong token count costs: loss penalty, deadweight compute and its price.

A run at budget ``C`` that trains on ``D`` tokens must use ``N = C/(6 D)`` parameters.
Against a surface taken as the truth, its loss ``L(N, D)`` exceeds the optimum
``L*(C)``. The *deadweight compute* is ``C - C_eq``, where ``C_eq`` is the compute that
reaches that same loss with the optimal allocation: the share of the budget the
misallocation threw away (DESIGN.md).

Dollar figures need assumptions, so they live in :class:`GpuPricing`, which states
them: accelerator peak throughput, model FLOP utilisation (MFU) and price per GPU-hour.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike

from .surfaces import LossSurface

#: NVIDIA H100 SXM dense BF16 tensor-core peak, FLOP/s. The often-quoted 1979 TFLOP/s
#: is the 2:4 structured-sparsity figure, which dense training does not reach.
H100_DENSE_BF16_FLOPS = 989e12
#: The same GPU's BF16 peak with 2:4 structured sparsity (the datasheet's headline figure).
H100_SPARSE_BF16_FLOPS = 1979e12
#: The Llama 3 405B pre-training budget, FLOPs (Grattafiori et al. 2024).
LLAMA3_405B_BUDGET = 3.8e25


@dataclass(frozen=True)
class Misallocation:
    """A run at budget ``C`` on ``D`` tokens, priced against the optimum of a true surface.

    Fields broadcast: scalars for scalar inputs, arrays otherwise. ``deadweight`` is in
    FLOPs (``C - C_eq``) and ``deadweight_fraction`` is its share of ``C``.
    """

    C: float | np.ndarray
    N_opt: float | np.ndarray
    D_opt: float | np.ndarray
    loss_opt: float | np.ndarray
    N: float | np.ndarray
    D: float | np.ndarray
    loss: float | np.ndarray
    loss_penalty: float | np.ndarray
    C_eq: float | np.ndarray
    deadweight: float | np.ndarray
    deadweight_fraction: float | np.ndarray

    @property
    def token_error(self) -> float | np.ndarray:
        """Relative error of the token count, ``D/D* - 1``."""
        return self.D / self.D_opt - 1.0

    def to_frame(self) -> pd.DataFrame:
        """One row per run, with ``D/N`` ratios next to the allocation."""
        df = pd.DataFrame({k: np.atleast_1d(v) for k, v in asdict(self).items()})
        df.insert(3, "D_opt/N_opt", df["D_opt"] / df["N_opt"])
        df.insert(7, "D/N", df["D"] / df["N"])
        return df

    def __repr__(self) -> str:
        if np.ndim(self.C) == 0:
            return (
                f"Misallocation(C={self.C:.3g}, D={self.D:.4g} vs D*={self.D_opt:.4g}, "
                f"loss_penalty={self.loss_penalty:.3g}, deadweight={self.deadweight:.3g} FLOPs "
                f"({100 * self.deadweight_fraction:.3g}% of C))"
            )
        return f"Misallocation({np.size(self.C)} runs)"


def misallocation(surface: LossSurface, D: ArrayLike, C: ArrayLike) -> Misallocation:
    """Price training on ``D`` tokens at budget ``C`` (so ``N = C/(6 D)``) against ``surface``.

    The deadweight compute is ``C - C_eq`` with ``C_eq = surface.compute_for_loss(L(N, D))``;
    it is zero at ``D = D*(C)`` and positive elsewhere. Broadcasts over ``D`` and ``C``.
    """
    D, C = np.broadcast_arrays(np.asarray(D, dtype=float), np.asarray(C, dtype=float))
    if np.any(~np.isfinite(D) | (D <= 0)) or np.any(~np.isfinite(C) | (C <= 0)):
        raise ValueError(f"D and C must be positive and finite; got D={D}, C={C}")
    N = C / (6.0 * D)
    loss = np.asarray(surface.loss(N, D))
    loss_opt = np.asarray(surface.loss_opt(C))
    # Evaluate the penalty without cancellation: both losses share E and are sums of
    # two positive terms, so subtract the reducible parts term by term.
    n_opt, d_opt = np.asarray(surface.N_opt(C)), np.asarray(surface.D_opt(C))
    penalty = surface.A * (N ** (-surface.alpha) - n_opt ** (-surface.alpha)) + surface.B * (
        D ** (-surface.beta) - d_opt ** (-surface.beta)
    )
    penalty = np.maximum(penalty, 0.0)
    # C_eq / C = ((L* - E + penalty)/(L* - E))**(-1/gamma), computed with log1p.
    # L* - E from its two terms, not by subtracting E (which loses digits when L* ~ E).
    reducible = surface.A * n_opt ** (-surface.alpha) + surface.B * d_opt ** (-surface.beta)
    log_ratio = -np.log1p(penalty / reducible) / surface.loss_exponent
    C_eq = C * np.exp(log_ratio)
    fraction = -np.expm1(log_ratio)
    out = {
        "C": C,
        "N_opt": n_opt,
        "D_opt": d_opt,
        "loss_opt": loss_opt,
        "N": N,
        "D": D,
        "loss": loss,
        "loss_penalty": penalty,
        "C_eq": C_eq,
        "deadweight": C * fraction,
        "deadweight_fraction": fraction,
    }
    return Misallocation(**{k: _scalar(v) for k, v in out.items()})


def _scalar(x: np.ndarray) -> float | np.ndarray:
    return float(x) if np.ndim(x) == 0 else x


@dataclass(frozen=True, repr=False)
class GpuPricing:
    """Assumptions that turn FLOPs into GPU-hours and dollars, stated explicitly.

    ``peak_flops`` is one accelerator's dense peak (FLOP/s), ``mfu`` the model FLOP
    utilisation actually achieved, ``usd_per_gpu_hour`` the rental price.
    """

    mfu: float
    usd_per_gpu_hour: float
    peak_flops: float = H100_DENSE_BF16_FLOPS
    gpu: str = "H100 SXM (dense BF16)"

    def __post_init__(self) -> None:
        if not 0 < self.mfu <= 1:
            raise ValueError(f"mfu must be in (0, 1], got {self.mfu!r}")
        if not self.usd_per_gpu_hour > 0 or not self.peak_flops > 0:
            raise ValueError("usd_per_gpu_hour and peak_flops must be positive")

    def __repr__(self) -> str:
        return (
            f"GpuPricing({self.gpu}: {self.peak_flops / 1e12:g} TFLOP/s peak, "
            f"MFU {self.mfu:.0%}, {self.usd_per_gpu_hour:.2f} USD per GPU-hour)"
        )

    def gpu_hours(self, flops: ArrayLike) -> np.ndarray | float:
        """GPU-hours to execute ``flops`` at ``mfu`` of ``peak_flops``."""
        return _scalar(np.asarray(flops, dtype=float) / (self.peak_flops * self.mfu) / 3600.0)

    def dollars(self, flops: ArrayLike) -> np.ndarray | float:
        """Rental cost of ``flops`` in US dollars."""
        return _scalar(np.asarray(self.gpu_hours(flops)) * self.usd_per_gpu_hour)


# --- token errors, recommendations and tables -------------------------------------------


def deadweight_fraction(surface: LossSurface, token_error: ArrayLike) -> np.ndarray | float:
    """Deadweight share of the budget for a run on ``(1 + token_error) D*`` tokens, in closed form.

    With ``x = ln(D/D*)`` the run sits at ``N = N*/e**x``. Optimality makes the two
    reducible terms at the optimum stand in the ratio ``beta : alpha``, so the loss
    penalty relative to ``L* - E`` is ``(beta e**(alpha x) + alpha e**(-beta x))/(alpha +
    beta) - 1``, and since ``L* - E`` scales as ``C**(-gamma)`` the deadweight share is
    ``1 - (1 + penalty)**(-1/gamma)``. It depends on ``alpha``, ``beta`` and the token
    error only: not on ``E, A, B`` and not on the budget. Equals
    ``misallocation(...).deadweight_fraction``.
    """
    err = np.asarray(token_error, dtype=float)
    if np.any(~np.isfinite(err) | (err <= -1)):
        raise ValueError(f"token_error must be finite and > -1 (D > 0); got {token_error}")
    a, b = surface.alpha, surface.beta
    x = np.log1p(err)
    relative_penalty = (b * np.expm1(a * x) + a * np.expm1(-b * x)) / (a + b)
    relative_penalty = np.maximum(relative_penalty, 0.0)
    return _scalar(-np.expm1(-np.log1p(relative_penalty) / surface.loss_exponent))


def deadweight_fraction_quadratic(
    surface: LossSurface, token_error: ArrayLike
) -> np.ndarray | float:
    """Second-order approximation of :func:`deadweight_fraction`: ``(alpha+beta)/2 ln(1+err)**2``.

    Near the optimum the cost of a token error is quadratic, and its coefficient is half
    the sum of the exponents: a 10% error costs about ``0.0045 (alpha+beta)`` of the budget.
    """
    x = np.log1p(np.asarray(token_error, dtype=float))
    return _scalar(0.5 * (surface.alpha + surface.beta) * x**2)


def price_recommendation(fit, truth: LossSurface, C: ArrayLike) -> Misallocation:
    """Price the token count a fitted law recommends at ``C`` against ``truth``.

    ``fit`` is anything with ``D_opt(C)`` (an Approach 2 fit, a surface fit, a surface).
    The run trains on ``fit.D_opt(C)`` tokens with ``N = C/(6 D)`` parameters, the
    convention used for extrapolated token counts throughout the book.
    """
    return misallocation(truth, fit.D_opt(C), C)


def recommendation_costs(
    df: pd.DataFrame,
    truths: Mapping[str, Callable[[pd.DataFrame], object]],
    C: float,
    recommend: Callable[[pd.DataFrame], object],
) -> dict[str, float]:
    """Fit ``recommend`` and every truth on the same runs; price the recommendation at ``C``.

    Returns named numbers, ready for :func:`scaling_lab.bootstrap.bootstrap`:
    ``D_recommended`` and, for each truth ``t`` (a fitter returning a surface fit or a
    :class:`LossSurface`), ``D_opt[t]``, ``token_error[t]`` and ``deadweight_fraction[t]``.
    """
    D = float(recommend(df).D_opt(C))
    out = {"D_recommended": D}
    for name, fitter in truths.items():
        fitted = fitter(df)
        m = misallocation(getattr(fitted, "surface", fitted), D, C)
        out[f"D_opt[{name}]"] = m.D_opt
        out[f"token_error[{name}]"] = m.token_error
        out[f"deadweight_fraction[{name}]"] = m.deadweight_fraction
    return out


def choice_sensitivity(
    variants: Mapping[str, pd.DataFrame],
    truths: Mapping[str, Callable[[pd.DataFrame], object]],
    C: float,
    recommend: Callable[[pd.DataFrame], object],
) -> pd.DataFrame:
    """:func:`recommendation_costs` on each variant of the runs: one row per variant.

    A variant is one analysis choice (all runs, the runs a quality-control step keeps,
    one budget left out, another loss transform), so the table shows how far the price
    of a recommendation moves with choices that are each defensible. Adds ``runs`` and
    ``budgets`` (the size of each variant).
    """
    rows = {}
    for name, runs in variants.items():
        rows[name] = {
            "runs": len(runs),
            "budgets": runs["budget"].nunique(),
            **recommendation_costs(runs, truths, C, recommend),
        }
    out = pd.DataFrame.from_dict(rows, orient="index")
    out.index.name = "variant"
    return out


#: Column order of :func:`cost_table`.
COST_COLUMNS = (
    "N_opt",
    "N",
    "D_opt",
    "D",
    "D_opt/N_opt",
    "D/N",
    "token_error",
    "loss_opt",
    "loss",
    "loss_penalty",
    "deadweight",
    "deadweight_fraction",
    "deadweight_gpu_hours",
    "deadweight_usd",
)


def cost_table(runs: Mapping[str, Misallocation], pricing: GpuPricing) -> pd.DataFrame:
    """One row per named scalar :class:`Misallocation`: true and inferred allocation, costs.

    ``*_opt`` columns are the truth's optimum, the others the priced run; ``deadweight``
    is in FLOPs, ``deadweight_fraction`` its share of the budget, and the last two
    columns price it with ``pricing``.
    """
    if not runs:
        raise ValueError("cost_table needs at least one run")
    rows = {}
    for name, m in runs.items():
        if np.ndim(m.C) != 0:
            raise ValueError(f"run {name!r} holds {np.size(m.C)} runs; pass scalar runs")
        row = m.to_frame().iloc[0]
        row["token_error"] = m.token_error
        row["deadweight_gpu_hours"] = pricing.gpu_hours(m.deadweight)
        row["deadweight_usd"] = pricing.dollars(m.deadweight)
        rows[name] = row
    return pd.DataFrame(rows).T[list(COST_COLUMNS)].astype(float)


def with_deadweight(
    frame: pd.DataFrame,
    surfaces: Mapping[str, LossSurface],
    C: float,
    pricing: GpuPricing,
    error_column: str = "D_extrap_err",
) -> pd.DataFrame:
    """Add the cost of each row's token error at budget ``C`` to a table of errors.

    ``frame`` names its surface in a ``surface`` column or index level (as
    ``analysis.approach2_sweep`` and ``analysis.compounding_table`` do) and holds the
    relative token error in ``error_column``. Adds ``deadweight_fraction``,
    ``deadweight`` (FLOPs) and ``deadweight_usd``; returns a copy.
    """
    if error_column not in frame.columns:
        raise ValueError(f"no column {error_column!r} in the frame")
    if "surface" in frame.columns:
        names = frame["surface"].to_numpy()
    elif "surface" in (frame.index.names or []):
        names = frame.index.get_level_values("surface").to_numpy()
    else:
        raise ValueError("the frame needs a 'surface' column or index level")
    unknown = sorted(set(names) - set(surfaces))
    if unknown:
        raise ValueError(f"no surface given for {unknown}")
    errors = frame[error_column].to_numpy(dtype=float)
    fraction = np.array(
        [deadweight_fraction(surfaces[s], e) for s, e in zip(names, errors, strict=True)]
    )
    out = frame.copy()
    out["deadweight_fraction"] = fraction
    out["deadweight"] = fraction * C
    out["deadweight_usd"] = pricing.dollars(fraction * C)
    return out
