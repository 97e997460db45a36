"""Errors of fitted scaling laws against a known surface, and the closed form of the bias.

Conventions (DESIGN.md): relative errors are ``(inferred - true)/true``; the headline
metric is the relative error of the extrapolated ``D*`` at 1e24 FLOPs. Intercepts are
``log10`` intercepts, so their error is also given as a shift in decades.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from .bootstrap import percentile_interval, resample_indices
from .costs import Misallocation, misallocation  # noqa: F401  (public: sl.analysis.misallocation)
from .fitting.approach2 import Approach2Fit, fit_approach2
from .fitting.data import FitError
from .inference import (  # noqa: F401  (public: sl.analysis.inference_optimal)
    InferenceOptimal,
    inference_optimal,
)
from .sampling import sample_isoflops
from .surfaces import SURFACES, LossSurface

#: The headline extrapolation budget: D* at 1e24 FLOPs.
HEADLINE_BUDGET = 1e24


def relative_error(inferred: float, true: float) -> float:
    """``(inferred - true)/true``."""
    return (inferred - true) / true


def approach2_errors(fit: Approach2Fit, surface: LossSurface) -> pd.DataFrame:
    """Estimated vs true exponents and intercepts: difference and relative error.

    For the log10 intercepts the ``difference`` is the shift in decades, the more
    readable measure (their relative error changes sign with the intercept's).
    """
    rows = [
        ("a", fit.a, surface.a),
        ("a0", fit.a0, surface.a0),
        ("b", fit.b, surface.b),
        ("b0", fit.b0, surface.b0),
    ]
    return pd.DataFrame(
        [
            {
                "quantity": name,
                "estimate": est,
                "true": tru,
                "difference": est - tru,
                "relative_error": (est - tru) / tru,
            }
            for name, est, tru in rows
        ]
    ).set_index("quantity")


def extrapolation_error(fit, surface: LossSurface, budget: float = HEADLINE_BUDGET) -> float:
    """Relative error of the extrapolated ``D*`` at ``budget`` (the book's headline metric)."""
    return relative_error(float(fit.D_opt(budget)), float(surface.D_opt(budget)))


def extrapolation_deadweight(fit, surface: LossSurface, budget: float = HEADLINE_BUDGET) -> float:
    """Share of the compute ``budget`` wasted by training on the fitted ``D*(budget)``.

    Prices the token error with :func:`misallocation`: a run on the fitted token count
    uses ``N = C/(6 D)`` and reaches the loss that the optimal allocation would reach with
    ``(1 - fraction) C``. The loss is flat at the optimum, so a small token error costs
    roughly its square.
    """
    return float(misallocation(surface, float(fit.D_opt(budget)), budget).deadweight_fraction)


def symmetric_offsets(half_width: float, n_points: int) -> np.ndarray:
    """``n`` offsets equally spaced on ``[-W, W]``, exactly antisymmetric in floating point."""
    steps = 2.0 * np.arange(n_points) - (n_points - 1)
    return steps / max(n_points - 1, 1) * half_width


def vertex_shift(
    alpha: float | np.ndarray,
    beta: float | np.ndarray,
    grid: float | np.ndarray,
    n_points: int = 15,
    center: float | np.ndarray = 0.0,
) -> np.ndarray | float:
    """Closed-form shift of the Approach 2 vertex, in decades of ``N``.

    Along an IsoFLOP line, with ``w = log10(N/N*)``, the loss is
    ``E + P (10**(-alpha w) + (alpha/beta) 10**(beta w))`` because optimality forces
    ``alpha P = beta R``. For runs at ``w_i = center + u_i``, ``u_i`` equally spaced on
    ``[-W, W]`` (``W = log10(grid)``), the least-squares parabola in ``u`` has
    ``c1 = sum(u f)/sum(u**2)`` and ``c2 = (n sum(u**2 f) - sum(u**2) sum(f)) /
    (n sum(u**4) - sum(u**2)**2)``: the odd moments of ``u`` vanish, and ``E`` and ``P``
    cancel. The vertex sits at ``w* = center - c1/(2 c2)``, which depends on
    ``(alpha, beta, W, n, center)`` only, never on the budget. With ``center = 0`` and
    ``alpha = beta`` the function ``f`` is even and the shift is exactly zero.

    Broadcasts over array arguments.
    """
    alpha, beta, grid, center = np.broadcast_arrays(
        *(np.asarray(v, dtype=float) for v in (alpha, beta, grid, center))
    )
    half = np.log10(grid)[..., None]
    u = symmetric_offsets(1.0, n_points) * half  # (..., n)
    w = center[..., None] + u
    a, b = alpha[..., None], beta[..., None]
    f = 10.0 ** (-a * w) + (a / b) * 10.0 ** (b * w)
    # Pair u_i with u_(n-1-i) so that an even f cancels exactly in the odd moment.
    m = n_points // 2
    odd = np.sum(u[..., :m] * (f[..., :m] - f[..., ::-1][..., :m]), axis=-1)
    s2, s4 = np.sum(u**2, axis=-1), np.sum(u**4, axis=-1)
    c1 = odd / s2
    c2 = (n_points * np.sum(u**2 * f, axis=-1) - s2 * np.sum(f, axis=-1)) / (n_points * s4 - s2**2)
    out = center - c1 / (2.0 * c2)
    return float(out) if out.ndim == 0 else out


def vertex_shift_taylor(alpha: float, beta: float, grid: float, n_points: int = 15) -> float:
    """Leading Taylor term of the centred :func:`vertex_shift`: ``(alpha-beta) ln10 m4/(6 m2)``.

    Expanding ``f`` in powers of ``w``, the first odd term that survives is the cubic one,
    with coefficient ``alpha (beta**2 - alpha**2) ln(10)**3 / 6``; it vanishes only when
    ``alpha = beta``. ``m2`` and ``m4`` are the mean second and fourth powers of the offsets.
    """
    u = symmetric_offsets(np.log10(grid), n_points)
    return float((alpha - beta) * np.log(10.0) * np.mean(u**4) / (6.0 * np.mean(u**2)))


#: Sampling biases of the drift-sensitivity study: name -> sample_isoflops keywords.
BIAS_CONFIGS: dict[str, dict[str, float]] = {
    "baseline": {},
    "drift to 10^0.2×": {"drift": 10**0.2},
    "drift to 10^0.4×": {"drift": 10**0.4},
    "offset 1.5×": {"center_scale": 1.5},
    "offset 2×": {"center_scale": 2.0},
}


def approach2_sweep(
    surfaces: dict[str, LossSurface],
    grids: Sequence[float],
    configs: dict[str, dict[str, float]] | None = None,
    budgets: Sequence[float] | None = None,
    n_points: int = 15,
    extrapolate_to: float = HEADLINE_BUDGET,
) -> pd.DataFrame:
    """Approach 2 on every (surface, sampling bias, grid width): one tidy row per fit.

    Columns: ``surface, config, grid, center_scale, drift``; the estimates ``a, a0, b,
    b0``; their relative errors ``a_err, a0_err, b_err, b0_err``; the intercept shifts in
    decades ``a0_shift, b0_shift``; ``N_opt_err`` and ``D_opt_err``, the worst relative
    error of the per-budget vertices; ``D_extrap_err``, the relative error of ``D*``
    extrapolated to ``extrapolate_to``; and ``D_extrap_deadweight``, the share of that
    budget a run on the extrapolated ``D*`` wastes (:func:`extrapolation_deadweight`).
    """
    configs = {"baseline": {}} if configs is None else configs
    rows = []
    for s_name, surface in surfaces.items():
        for c_name, bias in configs.items():
            for grid in grids:
                runs = sample_isoflops(
                    surface, budgets=budgets, n_points=n_points, grid=grid, **bias
                )
                fit = fit_approach2(runs)
                opt = fit.optima
                c = opt["budget"].to_numpy()
                n_err = opt["N_opt"].to_numpy() / surface.N_opt(c) - 1.0
                d_err = opt["D_opt"].to_numpy() / surface.D_opt(c) - 1.0
                rows.append(
                    {
                        "surface": s_name,
                        "config": c_name,
                        "grid": float(grid),
                        "center_scale": bias.get("center_scale", 1.0),
                        "drift": bias.get("drift", 1.0),
                        "a": fit.a,
                        "a0": fit.a0,
                        "b": fit.b,
                        "b0": fit.b0,
                        "a_err": relative_error(fit.a, surface.a),
                        "a0_err": relative_error(fit.a0, surface.a0),
                        "b_err": relative_error(fit.b, surface.b),
                        "b0_err": relative_error(fit.b0, surface.b0),
                        "a0_shift": fit.a0 - surface.a0,
                        "b0_shift": fit.b0 - surface.b0,
                        "N_opt_err": float(n_err[np.argmax(np.abs(n_err))]),
                        "D_opt_err": float(d_err[np.argmax(np.abs(d_err))]),
                        "D_extrap_err": extrapolation_error(fit, surface, extrapolate_to),
                        "D_extrap_deadweight": extrapolation_deadweight(
                            fit, surface, extrapolate_to
                        ),
                    }
                )
    return pd.DataFrame(rows)


def extrapolation_curve(fit, surface: LossSurface, budgets: Sequence[float]) -> np.ndarray:
    """Relative error of the fitted ``D*(C)`` at each of ``budgets``."""
    c = np.asarray(budgets, dtype=float)
    return np.asarray(fit.D_opt(c)) / surface.D_opt(c) - 1.0


def compounding_table(
    surfaces: dict[str, LossSurface],
    grids: dict[str, float],
    biases: dict[str, dict[str, float]],
    reference: str = "symmetric",
) -> pd.DataFrame:
    """D* error at 1e24 under asymmetry and a sampling bias together, and each alone.

    For every surface, bias and grid: ``combined`` (this surface with this bias),
    ``asymmetry_alone`` (this surface, centred sampling), ``sampling_alone`` (the
    ``reference`` surface with this bias), their sum, and the ``interaction``
    ``combined - (asymmetry_alone + sampling_alone)``; and ``combined_deadweight``, the
    share of the 1e24 budget the combined error wastes.
    """
    configs = {"centred": {}, **biases}
    everything = {reference: surfaces.get(reference, SURFACES[reference]), **surfaces}
    sweep = approach2_sweep(everything, list(grids.values()), configs)
    indexed = sweep.set_index(["surface", "config", "grid"])
    err, waste = indexed["D_extrap_err"], indexed["D_extrap_deadweight"]
    rows = []
    for s_name in surfaces:
        for b_name in biases:
            for g_name, k in grids.items():
                combined = err[(s_name, b_name, k)]
                asym = err[(s_name, "centred", k)]
                samp = err[(reference, b_name, k)]
                rows.append(
                    {
                        "surface": s_name,
                        "bias": b_name,
                        "grid": g_name,
                        "combined": combined,
                        "asymmetry_alone": asym,
                        "sampling_alone": samp,
                        "sum_of_separate": asym + samp,
                        "interaction": combined - (asym + samp),
                        "combined_deadweight": waste[(s_name, b_name, k)],
                    }
                )
    return pd.DataFrame(rows).set_index(["surface", "bias", "grid"])


def grid_width_tradeoff(
    surface: LossSurface,
    grids: Sequence[float],
    center_scale: float = 3.0,
    noise: float = 0.01,
    n_draws: int = 200,
    seed: int = 0,
    n_boot: int = 2000,
    budget: float = HEADLINE_BUDGET,
) -> pd.DataFrame:
    """What the grid width trades: asymmetry bias, off-centre error and noise, per width.

    For each ``grid`` (standard design otherwise), noise-free Approach 2 gives the
    relative error of ``D*`` at ``budget`` with centred grids (``centred_err``, the
    asymmetry bias) and with every grid centred ``center_scale``× off (``offset_err``).
    Then ``n_draws`` noisy studies (Gaussian noise of s.d. ``noise`` on the loss, centred
    grids, seeds spawned from ``seed``) give ``noisy_median``, the median absolute
    ``D*`` error, with a percentile-bootstrap 95% interval over the draws
    (``noisy_lo``, ``noisy_hi``), and ``failures``, the studies in which a parabola had
    no minimum (``FitError``; counted as an unbounded error in the median).
    ``rise_to_noise`` is the smallest loss rise from the true optimum to the edges of a
    grid, over budgets and both edges, in units of ``noise``: how much curvature the
    noise leaves visible.
    """
    if not noise > 0 or n_draws < 2:
        raise ValueError(f"need noise > 0 and n_draws >= 2; got noise={noise!r}, {n_draws=}")
    seeds = np.random.SeedSequence(seed).generate_state(n_draws)
    boot = resample_indices(n_boot, np.zeros(n_draws), seed, within_groups=False)
    rows = []
    for grid in grids:
        runs = sample_isoflops(surface, grid=grid)
        centred = fit_approach2(runs)
        offset = fit_approach2(sample_isoflops(surface, grid=grid, center_scale=center_scale))
        errors = np.full(n_draws, np.inf)
        for i, s in enumerate(seeds):
            try:
                noisy = sample_isoflops(surface, grid=grid, noise=noise, seed=int(s))
                errors[i] = abs(extrapolation_error(fit_approach2(noisy), surface, budget))
            except FitError:
                pass
        lo, hi = percentile_interval(np.median(errors[boot], axis=1), 0.95)
        c = np.unique(runs["budget"])
        n_opt = surface.N_opt(c)
        edges = np.stack([n_opt * grid, n_opt / grid])
        rise = surface.loss(edges, c / (6.0 * edges)) - surface.loss_opt(c)
        rows.append(
            {
                "grid": float(grid),
                "centred_err": extrapolation_error(centred, surface, budget),
                "offset_err": extrapolation_error(offset, surface, budget),
                "noisy_median": float(np.median(errors)),
                "noisy_lo": float(lo),
                "noisy_hi": float(hi),
                "failures": int(np.sum(~np.isfinite(errors))),
                "rise_to_noise": float(rise.min() / noise),
            }
        )
    return pd.DataFrame(rows)
