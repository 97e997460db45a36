"""Inference-aware allocation: the model that reaches a loss with the least lifetime compute.

A model with ``N`` parameters trained on ``D`` tokens and then run on ``T`` inference
tokens costs ``6 N D + 2 N T`` FLOPs (Sardana et al. 2024). On the iso-loss curve
``L(N, D) = L`` of a surface ``E + A/N**alpha + B/D**beta`` write ``r = L - E`` and
``u = A N**(-alpha)/r``, the share of the reducible loss left to the parameters
(``0 < u < 1``). The curve is ``N = (A/(u r))**(1/alpha)``, ``D = (B/((1-u) r))**(1/beta)``
and the compute-optimal model sits at ``u0 = beta/(alpha+beta)``. Setting the derivative
of the total cost in ``log N`` to zero gives ``D (g - 1) = T/3`` with
``g = alpha u/(beta (1-u))``. With ``u = u0 + (1-u0) sigmoid(z)`` its logarithm is

    s(z) = K + (1 + 1/beta) softplus(z) - softplus(-z) = ln(T/3),
    K = (ln B - ln r)/beta - ln(1-u0)/beta + ln(alpha+beta) - ln(beta),

an increasing convex function of ``z`` with slope ``1 + sigmoid(z)/beta`` between 1 and
``1 + 1/beta``, so Newton's method converges from any start, to machine precision,
vectorised over ``T``. ``T = 0`` is ``z = -inf``: ``u = u0``, the compute-optimal model.
The solution depends on ``T`` only through ``T/D*``, ``D*`` the compute-optimal token
count for that loss, and the relative saving only on ``T/D*``, ``alpha`` and ``beta``.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike

from .fitting.approach2 import Approach2Fit
from .surfaces import LossSurface

#: Newton iterations at most (the slope is bounded, so ~6 suffice from the start used).
MAX_NEWTON = 60


@dataclass(frozen=True, repr=False)
class InferenceOptimal:
    """The least-total-compute model that reaches ``target_loss``, against the compute-optimal one.

    Fields broadcast over ``inference_tokens`` (scalars for scalar input). FLOPs:
    ``training = 6 N D``, ``inference = 2 N T``, ``total`` their sum; the ``*_opt`` fields
    are the compute-optimal model for the same loss (``N*(C*)``, ``D*(C*)`` with
    ``C* = surface.compute_for_loss(target_loss)``) serving the same ``T`` tokens.
    ``saving = total_opt - total`` and ``saving_fraction = saving / total_opt``.
    """

    target_loss: float | np.ndarray
    inference_tokens: float | np.ndarray
    N: float | np.ndarray
    D: float | np.ndarray
    training_flops: float | np.ndarray
    inference_flops: float | np.ndarray
    total_flops: float | np.ndarray
    N_opt: float | np.ndarray
    D_opt: float | np.ndarray
    training_flops_opt: float | np.ndarray
    inference_flops_opt: float | np.ndarray
    total_flops_opt: float | np.ndarray
    saving: float | np.ndarray
    saving_fraction: float | np.ndarray

    @property
    def tokens_per_param(self) -> float | np.ndarray:
        """``D/N`` of the inference-optimal model."""
        return self.D / self.N

    @property
    def tokens_per_param_opt(self) -> float | np.ndarray:
        """``D*/N*`` of the compute-optimal model."""
        return self.D_opt / self.N_opt

    def to_frame(self) -> pd.DataFrame:
        """One row per inference-token count, with the ``D/N`` ratios."""
        df = pd.DataFrame({k: np.atleast_1d(v) for k, v in asdict(self).items()})
        df.insert(4, "D/N", df["D"] / df["N"])
        df.insert(10, "D_opt/N_opt", df["D_opt"] / df["N_opt"])
        return df

    def __repr__(self) -> str:
        if np.ndim(self.inference_tokens) == 0 and np.ndim(self.target_loss) == 0:
            return (
                f"InferenceOptimal(L={self.target_loss:.4g}, T={self.inference_tokens:.3g}: "
                f"N={self.N:.4g}, D={self.D:.4g} (D/N={self.tokens_per_param:.3g}) vs "
                f"N*={self.N_opt:.4g}, D*={self.D_opt:.4g}; total {self.total_flops:.4g} vs "
                f"{self.total_flops_opt:.4g} FLOPs, saving {100 * self.saving_fraction:.3g}%)"
            )
        return f"InferenceOptimal({np.size(self.total_flops)} cases)"


def solve_share(
    E: ArrayLike,
    A: ArrayLike,
    B: ArrayLike,
    alpha: ArrayLike,
    beta: ArrayLike,
    target_loss: ArrayLike,
    inference_tokens: ArrayLike,
) -> dict[str, np.ndarray]:
    """Inference-optimal ``N, D`` for broadcast surface parameters, losses and token counts.

    Returns ``N, D, N_opt, D_opt`` (arrays of the broadcast shape); NaN where the
    target is not above ``E``. The vectorised core of :func:`inference_optimal`, also
    used for bootstrap draws (one row per draw).
    """
    E, A, B, al, be, L, T = np.broadcast_arrays(
        *(np.asarray(x, dtype=float) for x in (E, A, B, alpha, beta, target_loss, inference_tokens))
    )
    with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
        r = np.where(L > E, L - E, np.nan)
        u0 = be / (al + be)
        log_r = np.log(r)
        K = (np.log(B) - log_r - np.log1p(-u0)) / be + np.log(al + be) - np.log(be)
        target = np.log(T / 3.0)  # -inf at T = 0
        c = 1.0 + 1.0 / be
        # Start on the asymptote of the branch the root lies on, then Newton (convex, so
        # after the first step every iterate lies right of the root and falls to it).
        gap = target - K
        z = np.where(gap > 0, gap / c, gap)
        z = np.where(np.isfinite(z), z, 0.0)
        active = np.isfinite(target) & np.isfinite(K)
        for _ in range(MAX_NEWTON):
            s = K + c * np.logaddexp(0.0, z) - np.logaddexp(0.0, -z)
            slope = 1.0 + np.exp(-np.logaddexp(0.0, -z)) / be
            step = np.where(active, (s - target) / slope, 0.0)
            z = z - step
            if not np.any(np.abs(step) > 4 * np.finfo(float).eps * np.maximum(1.0, np.abs(z))):
                break
        sig = np.where(active, np.exp(-np.logaddexp(0.0, -z)), 0.0)  # sigmoid(z)
        one_minus_sig = np.where(active, np.exp(-np.logaddexp(0.0, z)), 1.0)
        u = u0 + (1.0 - u0) * sig
        one_minus_u = (1.0 - u0) * one_minus_sig
        N = np.exp((np.log(A) - np.log(u) - log_r) / al)
        D = np.exp((np.log(B) - np.log(one_minus_u) - log_r) / be)
        N_opt = np.exp((np.log(A) - np.log(u0) - log_r) / al)
        D_opt = np.exp((np.log(B) - np.log1p(-u0) - log_r) / be)
    return {"N": N, "D": D, "N_opt": N_opt, "D_opt": D_opt}


def _check(surface: LossSurface, target_loss: ArrayLike, inference_tokens: ArrayLike):
    L = np.asarray(target_loss, dtype=float)
    T = np.asarray(inference_tokens, dtype=float)
    if np.any(~np.isfinite(L)) or np.any(~(L > surface.E)):
        raise ValueError(
            f"target_loss must exceed the irreducible loss E={surface.E:.6g}; got {target_loss}"
        )
    if np.any(~np.isfinite(T)) or np.any(T < 0):
        raise ValueError(f"inference_tokens must be finite and >= 0; got {inference_tokens}")
    return L, T


def inference_optimal(
    surface: LossSurface, target_loss: ArrayLike, inference_tokens: ArrayLike
) -> InferenceOptimal:
    """The ``N, D`` that reach ``target_loss`` with the least ``6 N D + 2 N T`` FLOPs.

    ``inference_tokens`` (``T``) and ``target_loss`` broadcast. With ``T = 0`` the answer
    is the compute-optimal ``N*(C*)``, ``D*(C*)`` with ``C* = surface.compute_for_loss``.
    Raises ``ValueError`` when the target is not above ``E`` or ``T`` is negative.
    """
    L, T = _check(surface, target_loss, inference_tokens)
    L, T = np.broadcast_arrays(L, T)
    p = surface.to_dict()
    sol = solve_share(p["E"], p["A"], p["B"], p["alpha"], p["beta"], L, T)
    return inference_result(L, T, sol)


def inference_result(L: np.ndarray, T: np.ndarray, sol: dict[str, np.ndarray]) -> InferenceOptimal:
    """The result's FLOPs and saving from :func:`solve_share`'s ``N, D, N_opt, D_opt``."""
    N, D, n0, d0 = sol["N"], sol["D"], sol["N_opt"], sol["D_opt"]
    train, infer = 6.0 * N * D, 2.0 * N * T
    train0, infer0 = 6.0 * n0 * d0, 2.0 * n0 * T
    total, total0 = train + infer, train0 + infer0
    # The saving is >= 0 by construction; rounding can leave -1e-16 of the total at tiny T.
    saving = np.maximum(total0 - total, 0.0)
    out = {
        "target_loss": L,
        "inference_tokens": T,
        "N": N,
        "D": D,
        "training_flops": train,
        "inference_flops": infer,
        "total_flops": total,
        "N_opt": n0,
        "D_opt": d0,
        "training_flops_opt": train0,
        "inference_flops_opt": infer0,
        "total_flops_opt": total0,
        "saving": saving,
        "saving_fraction": saving / total0,
    }
    return InferenceOptimal(**{k: _scalar(v) for k, v in out.items()})


def _scalar(x: np.ndarray) -> float | np.ndarray:
    return float(x) if np.ndim(x) == 0 else x


# --- pricing a plan against a surface taken as the truth ---------------------------------


@dataclass(frozen=True, repr=False)
class InferencePlanCost:
    """A model of ``N`` parameters on ``D`` tokens serving ``T`` tokens, priced against a truth.

    It reaches ``loss`` on the true surface and costs ``total_flops``; the true
    inference-optimal model for that same loss and ``T`` costs ``total_flops_best``.
    ``deadweight = total_flops - total_flops_best`` and ``deadweight_fraction`` is its
    share of ``total_flops``: the inference-aware analogue of the deadweight compute.
    """

    N: float | np.ndarray
    D: float | np.ndarray
    inference_tokens: float | np.ndarray
    loss: float | np.ndarray
    total_flops: float | np.ndarray
    N_best: float | np.ndarray
    D_best: float | np.ndarray
    total_flops_best: float | np.ndarray
    deadweight: float | np.ndarray
    deadweight_fraction: float | np.ndarray

    def __repr__(self) -> str:
        if np.ndim(self.total_flops) == 0:
            return (
                f"InferencePlanCost(N={self.N:.4g}, D={self.D:.4g}, T={self.inference_tokens:.3g}"
                f": deadweight {self.deadweight:.3g} FLOPs "
                f"({100 * self.deadweight_fraction:.3g}% of {self.total_flops:.4g}))"
            )
        return f"InferencePlanCost({np.size(self.total_flops)} cases)"


def price_inference_plan(
    truth: LossSurface, N: ArrayLike, D: ArrayLike, inference_tokens: ArrayLike
) -> InferencePlanCost:
    """Price training ``N`` parameters on ``D`` tokens and serving ``T`` tokens against ``truth``.

    Broadcasts. The deadweight is the lifetime compute above the true inference-optimal
    model that reaches the same true loss with the same ``T``.
    """
    N, D, T = np.broadcast_arrays(*(np.asarray(x, dtype=float) for x in (N, D, inference_tokens)))
    if np.any(~np.isfinite(N) | (N <= 0)) or np.any(~np.isfinite(D) | (D <= 0)):
        raise ValueError(f"N and D must be positive and finite; got N={N}, D={D}")
    loss = np.asarray(truth.loss(N, D))
    best = inference_optimal(truth, loss, T)
    total = 6.0 * N * D + 2.0 * N * T
    dead = total - np.asarray(best.total_flops)
    out = {
        "N": N,
        "D": D,
        "inference_tokens": T,
        "loss": loss,
        "total_flops": total,
        "N_best": np.asarray(best.N),
        "D_best": np.asarray(best.D),
        "total_flops_best": np.asarray(best.total_flops),
        "deadweight": dead,
        "deadweight_fraction": dead / total,
    }
    return InferencePlanCost(**{k: _scalar(v) for k, v in out.items()})


def approach2_surface(fit: Approach2Fit) -> LossSurface:
    """The loss surface an Approach 2 fit implies, for questions Approach 2 alone cannot answer.

    Approach 2 gives ``N*(C) = 10**a0 C**a`` (so ``alpha/beta = b/a`` and
    ``G = 10**a0 6**a``) and, at each budget, the parabola's vertex loss. A fit of those
    losses to ``E + K (C/6)**(-gamma)`` (least squares; ``E, K`` linear for each
    ``gamma``) fixes the rest: ``alpha = gamma/a``, ``beta = gamma/b``,
    ``A = K a G**alpha`` and ``B = K b G**(-beta)``. This surface has exactly the fit's
    ``N*(C)``, ``D*(C)`` (Approach 2's ``a + b = 1``) and the fitted optimal-loss frontier.
    """
    from scipy.optimize import minimize_scalar

    opt = fit.optima
    x = np.log(opt["budget"].to_numpy() / 6.0)
    y = opt["loss_at_N_opt"].to_numpy()
    if x.size < 3:
        raise ValueError(f"need at least 3 budgets to fit the optimal-loss frontier, got {x.size}")

    def linear(gamma: float) -> tuple[np.ndarray, float]:
        X = np.column_stack([np.ones_like(x), np.exp(-gamma * x)])
        coef, *_ = np.linalg.lstsq(X, y, rcond=None)
        resid = y - X @ coef
        return coef, float(resid @ resid)

    res = minimize_scalar(
        lambda g: linear(g)[1], bounds=(1e-3, 1.0), method="bounded", options={"xatol": 1e-10}
    )
    gamma = float(res.x)
    (E, K), _ = linear(gamma)
    if not K > 0:
        raise ValueError("the vertex losses do not fall with compute: no frontier to fit")
    a, b = fit.a / (fit.a + fit.b), fit.b / (fit.a + fit.b)
    G = 10.0**fit.a0 * 6.0**fit.a
    alpha, beta = gamma / a, gamma / b
    return LossSurface(
        E=float(E), A=K * a * G**alpha, B=K * b * G ** (-beta), alpha=alpha, beta=beta
    )


# --- where the saving becomes material ---------------------------------------------------


def saving_limit(surface: LossSurface) -> float:
    """Largest possible saving share, as ``T -> inf``: ``1 - (beta/(alpha+beta))**(1/alpha)``.

    With inference dominating, the cost is ``2 N T`` and the smallest model that can
    reach the loss at all (``A N**-alpha = L - E``, infinite data) stands against ``N*``.
    """
    return float(1.0 - (surface.beta / (surface.alpha + surface.beta)) ** (1.0 / surface.alpha))


def inference_for_saving(surface: LossSurface, fraction: float) -> float:
    """The ratio ``T/D*`` at which the inference-optimal model saves ``fraction`` of the cost.

    ``D*`` is the compute-optimal token count for the same loss; the answer holds at
    every loss (the saving depends on ``T/D*``, ``alpha`` and ``beta`` only). ``fraction``
    must lie in ``(0, saving_limit(surface))``.
    """
    from scipy.optimize import brentq

    top = saving_limit(surface)
    if not 0 < fraction < top:
        raise ValueError(f"fraction must be in (0, {top:.6g}) for this surface, got {fraction!r}")
    target = surface.loss_opt(1e24)
    d_opt = surface.D_opt(1e24)

    def gap(log_ratio: float) -> float:
        r = inference_optimal(surface, target, np.exp(log_ratio) * d_opt)
        return r.saving_fraction - fraction

    lo, hi = -30.0, 30.0
    while gap(hi) < 0:
        hi *= 2
    return float(np.exp(brentq(gap, lo, hi, xtol=1e-13, rtol=1e-14)))


def approach2_plan_costs(
    runs: pd.DataFrame, budget: float, inference_tokens: ArrayLike
) -> dict[str, float]:
    """Fit Approach 2 and VPNLS on ``runs``; price Approach 2's inference-aware plan.

    The target is the loss each fit's compute-optimal model reaches at ``budget`` (so at
    ``T = 0`` the plan is Approach 2's ``N*(budget)``, ``D*(budget)``). Approach 2's plan
    comes from :func:`approach2_surface`; it is priced against the VPNLS surface taken as
    the truth (:func:`price_inference_plan`). Returns named numbers for
    :func:`scaling_lab.bootstrap.bootstrap`: ``deadweight_fraction[T]`` and
    ``N_ratio[T]`` (the plan's ``N`` over the truth's inference-optimal ``N`` for the
    truth's own target), one per ``T``.
    """
    from .fitting import fit_approach2, fit_vpnls

    T = np.atleast_1d(np.asarray(inference_tokens, dtype=float))
    implied = approach2_surface(fit_approach2(runs))
    truth = fit_vpnls(runs).surface
    plan = inference_optimal(implied, implied.loss_opt(budget), T)
    right = inference_optimal(truth, truth.loss_opt(budget), T)
    cost = price_inference_plan(truth, plan.N, plan.D, T)
    out: dict[str, float] = {}
    for j, t in enumerate(T):
        out[f"deadweight_fraction[{t:g}]"] = float(np.atleast_1d(cost.deadweight_fraction)[j])
        out[f"N_ratio[{t:g}]"] = float(np.atleast_1d(plan.N)[j] / np.atleast_1d(right.N)[j])
    return out
