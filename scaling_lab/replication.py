"""Reproducing the Chinchilla surface fits on Epoch AI's extraction of Hoffmann et al.'s runs.

Besiroglu et al. (2024) refitted Approach 3 of Hoffmann et al. (2022) to 245 runs
extracted from the paper's Figure 4, after dropping the five runs with the highest loss.
This module holds that protocol, the published figures to compare with
(``data/published_intervals.csv``), a case bootstrap of the surface fits warm-started
from the full-data fit, and residual diagnostics.

The bootstrap of the Chinchilla-form fit minimises the same objective as
``fit_approach3(variant="chinchilla")`` (Huber loss with ``delta = 1e-3`` on log-loss
residuals, summed over runs, in ``(log E, log A, log B, alpha, beta)``), but with
scipy's trust-region least-squares solver and its built-in Huber loss, which reaches
the same minimum some fifty times faster than L-BFGS-B on these data.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.optimize import least_squares

from .bootstrap import BootstrapResult, bootstrap, subsample
from .datasets import project_file
from .fitting import FitError, FitStatus, SurfaceFit, fit_approach2, fit_approach3, fit_vpnls
from .fitting.approach2 import Approach2Fit
from .fitting.approach3 import HUBER_DELTA, _huber, _log_terms, _logsumexp3
from .fitting.data import check_option, validate_isoflops
from .surfaces import LossSurface

#: Besiroglu et al. (2024) drop this many of the highest-loss runs before fitting.
N_DROPPED = 5
#: Budget at which the compute-optimal ratio D*/N* is reported (FLOPs).
TARGET_BUDGET = 1e24
PARAMETERS: tuple[str, ...] = ("E", "A", "B", "alpha", "beta")
#: The five parameters, the allocation exponents and D*/N* at ``TARGET_BUDGET``.
QUANTITIES: tuple[str, ...] = (*PARAMETERS, "a", "b", "D/N")
#: The surface methods this module bootstraps, by short name.
SURFACE_METHODS: tuple[str, ...] = ("chinchilla", "raw", "vpnls")
#: Regressors the residual diagnostics look at.
REGRESSORS: tuple[str, ...] = ("budget", "params", "ratio")


def besiroglu_runs(df: pd.DataFrame, n_drop: int = N_DROPPED) -> pd.DataFrame:
    """``df`` minus its ``n_drop`` highest-loss runs (Besiroglu et al.'s protocol), index reset."""
    if int(n_drop) != n_drop or n_drop < 0:
        raise ValueError(f"n_drop must be a non-negative integer, got {n_drop!r}")
    if "loss" not in df.columns:
        raise ValueError("cannot drop the highest-loss runs: no 'loss' column")
    if n_drop >= len(df):
        raise ValueError(f"cannot drop {n_drop} runs from a table of {len(df)}")
    order = np.argsort(-df["loss"].to_numpy(), kind="stable")
    return df.drop(df.index[order[: int(n_drop)]]).reset_index(drop=True)


def published_intervals() -> pd.DataFrame:
    """Published estimates and intervals of Hoffmann et al. and Besiroglu et al., with citations."""
    return pd.read_csv(project_file("published_intervals.csv"))


def surface_quantities(surface: LossSurface, budget: float = TARGET_BUDGET) -> dict[str, float]:
    """The five parameters, ``a``, ``b`` and ``D*/N*`` at ``budget``."""
    out = dict(surface.to_dict())
    out.update(a=surface.a, b=surface.b, **{"D/N": surface.D_opt(budget) / surface.N_opt(budget)})
    return {k: float(v) for k, v in out.items()}


def approach2_quantities(fit: Approach2Fit, budget: float = TARGET_BUDGET) -> dict[str, float]:
    """``a``, ``b`` and ``D*/N*`` at ``budget`` of an Approach 2 fit."""
    log_ratio = (fit.b - fit.a) * np.log10(budget) + fit.b0 - fit.a0  # no overflow in D*, N*
    with np.errstate(over="ignore"):
        return {"a": fit.a, "b": fit.b, "D/N": float(10.0**log_ratio)}


def log_params(surface: LossSurface) -> np.ndarray:
    """``(log E, log A, log B, alpha, beta)``: the Chinchilla form's own parameters."""
    s = surface
    return np.array([np.log(s.E), np.log(s.A), np.log(s.B), s.alpha, s.beta])


def huber_objective(df: pd.DataFrame, surface: LossSurface, delta: float = HUBER_DELTA) -> float:
    """The Chinchilla form's objective at ``surface``: summed Huber loss of log-loss residuals."""
    data = validate_isoflops(df, purpose="the Huber objective")
    r = np.log(surface.loss(data.params, data.tokens)) - np.log(data.loss)
    return float(_huber(r, delta).sum())


def refit_huber(df: pd.DataFrame, start: LossSurface, delta: float = HUBER_DELTA) -> SurfaceFit:
    """Minimise the Chinchilla form's Huber objective from ``start`` (trust-region solver).

    Same objective as ``fit_approach3(df, variant="chinchilla")`` (for ``delta = 1e-3``);
    scipy's ``least_squares`` with ``loss="huber", f_scale=delta`` computes exactly
    ``sum(huber_delta(r))``. Used to warm-start bootstrap draws from a full-data fit.
    """
    if not delta > 0:
        raise ValueError(f"delta must be positive, got {delta!r}")
    data = validate_isoflops(df, min_rows=6, purpose="a 5-parameter surface fit")
    log_n, log_d, log_loss = np.log(data.params), np.log(data.tokens), np.log(data.loss)

    def residuals(x: np.ndarray) -> np.ndarray:
        return (_logsumexp3(*_log_terms(x, log_n, log_d)) - log_loss)[0]

    def jacobian(x: np.ndarray) -> np.ndarray:
        t0, t1, t2 = (t[0] for t in _log_terms(x, log_n, log_d))
        lse = _logsumexp3(t0, t1, t2)
        w0, w1, w2 = np.exp(t0 - lse), np.exp(t1 - lse), np.exp(t2 - lse)
        return np.column_stack([w0, w1, w2, -w1 * log_n, -w2 * log_d])

    res = least_squares(
        residuals,
        log_params(start),
        jac=jacobian,
        loss="huber",
        f_scale=delta,
        method="trf",
        xtol=1e-15,
        ftol=1e-15,
        gtol=1e-15,
        max_nfev=2000,
    )
    if not np.all(np.isfinite(res.x)) or min(res.x[3:]) <= 0:
        raise FitError(f"Huber refit ended at non-admissible parameters {res.x.tolist()}")
    e, a, b, alpha, beta = res.x
    surface = LossSurface(E=np.exp(e), A=np.exp(a), B=np.exp(b), alpha=alpha, beta=beta)
    resid = data.loss - surface.loss(data.params, data.tokens)
    return SurfaceFit(
        surface=surface,
        rss=float(resid @ resid),
        status=FitStatus.CONVERGED if res.status > 0 else FitStatus.MAX_ITER,
        message=str(res.message),
        n_iter=int(res.nfev),
        method="approach3/chinchilla (trust-region refit)",
        n_points=data.n,
    )


def huber_likelihood(df: pd.DataFrame, x: np.ndarray, delta: float = HUBER_DELTA) -> float:
    """Besiroglu et al.'s objective: the negative log-likelihood of a Huber density.

    ``x = (log A, log B, log E, alpha, beta, log scale)``, the order of their notebook.
    The log-loss residuals divided by the fitted scale follow the density proportional
    to ``exp(-huber_delta(r))``, normalised by ``sqrt(2 pi)(1 - 2 Phi(-delta)) +
    2 exp(-delta^2/2)/delta``. Unlike the summed Huber loss, the scale is a parameter.
    """
    data = validate_isoflops(df, purpose="the Huber likelihood")
    logs = np.log(data.params), np.log(data.tokens), np.log(data.loss)
    return _huber_nll(x, *logs, _huber_log_normaliser(delta), delta)


def _huber_log_normaliser(delta: float) -> float:
    """``log`` of the Huber density's normalising constant (see :func:`huber_likelihood`)."""
    from scipy.stats import norm  # on first use: scipy.stats is slow to import

    return float(np.log(np.sqrt(2 * np.pi) * (1 - 2 * norm.sf(delta))
                        + 2 * np.exp(-0.5 * delta**2) / delta))  # fmt: skip


def _huber_nll(x, log_n, log_d, log_loss, log_z: float, delta: float) -> float:
    """:func:`huber_likelihood` on precomputed logs and normaliser (the optimiser's loop)."""
    a, b, e, alpha, beta, log_scale = np.asarray(x, float)
    # logaddexp, not _logsumexp3: a different rounding moves Nelder-Mead's landings.
    pred = np.logaddexp(np.logaddexp(a - alpha * log_n, b - beta * log_d), e)
    r = (log_loss - pred) / np.exp(log_scale)
    return float(np.sum(_huber(r, delta)) + r.size * (log_z + log_scale))


def huber_likelihood_landings(
    df: pd.DataFrame, start: LossSurface, n_starts: int = 40, seed: int = 0
) -> pd.DataFrame:
    """Where Nelder-Mead stops on :func:`huber_likelihood` from perturbed starts.

    The fitted scale is tiny, so nearly every residual is in the Huber loss's linear part
    and the objective behaves like a least-absolute-deviation fit: not smooth, with many
    nearby stopping points. One landing is therefore not a result; the spread over
    starts (the first unperturbed, at ``start`` with the scale of its residuals) is.
    """
    from scipy.optimize import minimize

    data = validate_isoflops(df, purpose="the Huber likelihood")
    logs = np.log(data.params), np.log(data.tokens), np.log(data.loss)
    log_z = _huber_log_normaliser(HUBER_DELTA)
    r = logs[2] - np.log(start.loss(data.params, data.tokens))
    scale0 = np.log(np.mean(np.abs(r)) * HUBER_DELTA)
    x0 = np.array([np.log(start.A), np.log(start.B), np.log(start.E), start.alpha,
                   start.beta, scale0])  # fmt: skip
    rng = np.random.default_rng(seed)
    jitter = np.array([0.05, 0.05, 0.005, 0.005, 0.005, 0.01])
    rows = []
    for k in range(int(n_starts)):
        x = x0 + (rng.normal(0.0, jitter) if k else 0.0)
        res = minimize(_huber_nll, x, args=(*logs, log_z, HUBER_DELTA), method="Nelder-Mead",
                       options={"maxiter": 40000, "maxfev": 40000, "xatol": 1e-12,
                                "fatol": 1e-12, "adaptive": True})  # fmt: skip
        a, b, e, alpha, beta, log_scale = res.x
        rows.append({"E": np.exp(e), "A": np.exp(a), "B": np.exp(b), "alpha": alpha,
                     "beta": beta, "scale": np.exp(log_scale), "nll": res.fun})  # fmt: skip
    return pd.DataFrame(rows)


def fit_surfaces(runs: pd.DataFrame) -> dict[str, SurfaceFit]:
    """The three full-data surface fits, keyed by :data:`SURFACE_METHODS`."""
    return {
        "chinchilla": fit_approach3(runs, variant="chinchilla"),
        "raw": fit_approach3(runs, variant="mle"),
        "vpnls": fit_vpnls(runs),
    }


@dataclass(frozen=True)
class SurfaceEstimator:
    """One bootstrap draw's fit: ``method`` warm-started from ``start`` where it takes a start.

    ``"chinchilla"``: :func:`refit_huber` from ``start``; ``"raw"``:
    ``fit_approach3(variant="mle", start=...)`` (L-BFGS-B on raw parameters);
    ``"vpnls"``: :func:`fit_vpnls` with its own grid (it needs no start). Returns
    :data:`QUANTITIES` plus the residual sum of squares ``rss`` on the loss.
    """

    method: str
    start: LossSurface

    def __post_init__(self) -> None:
        check_option("method", self.method, SURFACE_METHODS)

    def fit(self, df: pd.DataFrame) -> SurfaceFit:
        if self.method == "chinchilla":
            return refit_huber(df, self.start)
        if self.method == "raw":
            s = self.start
            return fit_approach3(df, variant="mle", start=[s.E, s.A, s.B, s.alpha, s.beta])
        return fit_vpnls(df)

    def __call__(self, df: pd.DataFrame) -> dict[str, float]:
        fit = self.fit(df)
        return {**surface_quantities(fit.surface), "rss": fit.rss}


def _approach2_estimator(df: pd.DataFrame) -> dict[str, float]:
    return approach2_quantities(fit_approach2(df))


def bootstrap_surface(
    runs: pd.DataFrame,
    method: str,
    start: LossSurface,
    n_boot: int = 1000,
    seed: int = 0,
    n_jobs: int = 1,
) -> BootstrapResult:
    """Case bootstrap of a surface fit: runs resampled with replacement, all together.

    Besiroglu et al. resample runs without regard to budget, as here; every method gets
    the same draws for the same ``seed``, so draws can be compared row by row.
    """
    return bootstrap(
        runs, SurfaceEstimator(method, start), n_boot, seed, within=None, n_jobs=n_jobs
    )


def subsample_surface(
    runs: pd.DataFrame,
    method: str,
    start: LossSurface,
    n_sub: int = 100,
    fraction: float = 0.8,
    seed: int = 0,
    n_jobs: int = 1,
) -> BootstrapResult:
    """Hoffmann et al.'s protocol: refit on ``n_sub`` subsets of 80% of the runs."""
    return subsample(runs, SurfaceEstimator(method, start), n_sub, fraction, seed, n_jobs)


def bootstrap_approach2(
    isoflops: pd.DataFrame, n_boot: int = 1000, seed: int = 0, n_jobs: int = 1
) -> BootstrapResult:
    """Case bootstrap of Approach 2, resampling runs within each IsoFLOP budget."""
    return bootstrap(isoflops, _approach2_estimator, n_boot, seed, within="budget", n_jobs=n_jobs)


def subsample_approach2(
    isoflops: pd.DataFrame,
    n_sub: int = 100,
    fraction: float = 0.8,
    seed: int = 0,
    n_jobs: int = 1,
) -> BootstrapResult:
    """Hoffmann et al.'s protocol for Approach 2: refit on subsets of 80% of all runs."""
    return subsample(isoflops, _approach2_estimator, n_sub, fraction, seed, n_jobs)


def comparison_table(
    boots: dict[str, BootstrapResult],
    published: pd.DataFrame | None = None,
    level: float = 0.95,
    z: float = 1.959963984540054,
) -> pd.DataFrame:
    """Estimates and intervals, published and bootstrapped, one row per (quantity, source).

    Published standard errors become normal intervals ``estimate ± z SE`` (marked as
    derived); published percentile intervals are kept as published. A bootstrap row
    names its draws and, if any failed, how many (its interval uses the others).
    """
    published = published_intervals() if published is None else published
    rows = []
    for _, p in published.dropna(subset=["estimate"]).iterrows():
        lo, hi, kind = p["lower"], p["upper"], p["interval"]
        if np.isfinite(p["standard_error"]):
            lo, hi = (
                p["estimate"] - z * p["standard_error"],
                p["estimate"] + z * p["standard_error"],
            )
            kind = f"estimate ± {z:.2f} × published standard error"
        rows.append((p["quantity"], p["source"], p["estimate"], lo, hi, kind))
    for name, boot in boots.items():
        iv = boot.intervals(level)
        kind = f"{level:.0%} bootstrap percentile, {boot.n_boot} draws"
        if boot.n_failed:
            kind += f" ({boot.n_failed} failed, not used)"
        for q in (q for q in QUANTITIES if q in iv.index):
            rows.append((q, name, *iv.loc[q, ["estimate", "lower", "upper"]], kind))
    out = pd.DataFrame(
        rows, columns=["quantity", "source", "estimate", "lower", "upper", "interval"]
    )
    out["quantity"] = pd.Categorical(out["quantity"], categories=QUANTITIES, ordered=True)
    return out.sort_values("quantity", kind="stable").set_index(["quantity", "source"])


def residuals(df: pd.DataFrame, fit: SurfaceFit | Approach2Fit) -> pd.DataFrame:
    """Per run: ``budget, params, tokens, ratio`` (D/N), observed and fitted loss, residuals.

    ``residual`` is observed minus fitted loss; ``log_residual`` is the difference of their
    logarithms (the scale of the Chinchilla form's objective). For an Approach 2 fit the
    fitted loss is the run's own budget's parabola in ``log10 N``.
    """
    data = validate_isoflops(df, purpose="residuals")
    if isinstance(fit, Approach2Fit):
        missing = ~np.isin(data.budget, fit.budgets)
        if missing.any():
            raise ValueError(
                f"runs at budgets the fit has no parabola for: rows {data.rows_where(missing)}"
            )
        fitted = fit.parabolas_N.predict(data.budget, np.log10(data.params))
    else:
        fitted = fit.loss(data.params, data.tokens)
    return pd.DataFrame(
        {
            "budget": data.budget,
            "params": data.params,
            "tokens": data.tokens,
            "ratio": data.tokens / data.params,
            "observed": data.loss,
            "fitted": fitted,
            "residual": data.loss - fitted,
            "log_residual": np.log(data.loss) - np.log(fitted),
        }
    )


def residual_trends(res: pd.DataFrame, n_bins: int = 5) -> pd.DataFrame:
    """Per regressor: Spearman correlation of the residual with it and binned mean residuals.

    Bins are equal-count bins of the regressor (``n_bins`` of them); ``spread`` is the
    largest minus the smallest bin mean, a size for any systematic pattern; the first and
    last bins' standard deviations show whether the scatter changes along the regressor.
    ``curvature_t`` is the t-statistic of the squared term when the residual is regressed
    on the centred log regressor and its square: a bend that a rank correlation misses.
    """
    from scipy.stats import spearmanr  # on first use: scipy.stats is slow to import

    out = {}
    for reg in REGRESSORS:
        x = res[reg].to_numpy()
        rho, p = spearmanr(x, res["residual"])
        bins = pd.qcut(np.log(x), n_bins, labels=False, duplicates="drop")
        curvature_t = _quadratic_t(np.log(x), res["residual"].to_numpy())
        grouped = res["residual"].groupby(bins)
        means, sds = grouped.mean(), grouped.std()
        out[reg] = {
            "spearman_rho": float(rho),
            "p_value": float(p),
            "first_bin_mean": float(means.iloc[0]),
            "last_bin_mean": float(means.iloc[-1]),
            "spread": float(means.max() - means.min()),
            "curvature_t": curvature_t,
            "first_bin_sd": float(sds.iloc[0]),
            "last_bin_sd": float(sds.iloc[-1]),
        }
    return pd.DataFrame(out).T


def _quadratic_t(u: np.ndarray, r: np.ndarray) -> float:
    """t-statistic of the quadratic coefficient in an OLS of ``r`` on ``1, u, u**2``."""
    u = u - u.mean()
    X = np.column_stack([np.ones_like(u), u, u**2])
    coef, *_ = np.linalg.lstsq(X, r, rcond=None)
    dof = r.size - 3
    if dof < 1:
        raise ValueError(f"need at least 4 runs for a curvature test, got {r.size}")
    sigma2 = float(np.sum((r - X @ coef) ** 2)) / dof
    cov = sigma2 * np.linalg.inv(X.T @ X)
    return float(coef[2] / np.sqrt(cov[2, 2]))


def _quadratic_t_batch(u: np.ndarray, R: np.ndarray) -> np.ndarray:
    """:func:`_quadratic_t` for every row of ``R`` at once (same design ``u``)."""
    u = u - u.mean()
    X = np.column_stack([np.ones_like(u), u, u**2])
    inv = np.linalg.inv(X.T @ X)
    coef = R @ (X @ inv)  # rows: least-squares coefficients of each residual vector
    sigma2 = np.sum((R - coef @ X.T) ** 2, axis=1) / (u.size - 3)
    return coef[:, 2] / np.sqrt(sigma2 * inv[2, 2])


def holm_adjust(p: np.ndarray) -> np.ndarray:
    """Holm's step-down adjusted p-values (family-wise error across all of ``p``)."""
    p = np.asarray(p, float)
    order = np.argsort(p)
    m = p.size
    adjusted = np.maximum.accumulate((m - np.arange(m)) * p[order])
    out = np.empty(m)
    out[order] = np.minimum(adjusted, 1.0)
    return out


def curvature_permutation_tests(
    residual_sets: dict[str, pd.DataFrame], n_perm: int = 4000, seed: int = 0
) -> pd.DataFrame:
    """Permutation p-values of every residual-curvature statistic, Holm-adjusted together.

    For each fit and regressor, the statistic is :func:`_quadratic_t` of the residual on
    the log regressor; its null distribution comes from permuting the residuals across
    runs (exchangeable when the residual has no relation to the regressor), so heavy
    tails do not make it optimistic as the OLS t reference would. The p-values of all
    fits and regressors are adjusted together by Holm's method, because the tests were
    chosen after a first look at the residuals.
    """
    if int(n_perm) != n_perm or n_perm < 1:
        raise ValueError(f"n_perm must be a positive integer, got {n_perm!r}")
    rng = np.random.default_rng(seed)
    rows = []
    for name, res in residual_sets.items():
        r = res["residual"].to_numpy(float)
        perms = np.argsort(rng.random((int(n_perm), r.size)), axis=1)
        for reg in REGRESSORS:
            u = np.log(res[reg].to_numpy(float))
            t = _quadratic_t(u, r)
            null = _quadratic_t_batch(u, r[perms])
            p = (1 + np.sum(np.abs(null) >= abs(t) - 1e-12 * abs(t))) / (n_perm + 1)
            rows.append({"fit": name, "regressor": reg, "curvature_t": t, "p_perm": float(p)})
    out = pd.DataFrame(rows)
    out["p_holm"] = holm_adjust(out["p_perm"].to_numpy())
    return out.set_index(["fit", "regressor"])


def residual_summary(res: pd.DataFrame, delta: float = HUBER_DELTA) -> dict[str, float]:
    """Shape of the residual distribution: RMS, median, skewness, excess kurtosis, tail share."""
    from scipy.stats import kurtosis, skew

    r = res["residual"].to_numpy()
    return {
        "rms": float(np.sqrt(np.mean(r**2))),
        "median": float(np.median(r)),
        "skewness": float(skew(r)),
        "excess_kurtosis": float(kurtosis(r)),
        "beyond_delta": fraction_beyond_delta(res, delta),
    }


def fraction_beyond_delta(res: pd.DataFrame, delta: float = HUBER_DELTA) -> float:
    """Share of runs whose log-loss residual exceeds ``delta`` (the Huber loss's linear part)."""
    return float((res["log_residual"].abs() > delta).mean())


__all__ = [
    "N_DROPPED",
    "QUANTITIES",
    "SURFACE_METHODS",
    "TARGET_BUDGET",
    "SurfaceEstimator",
    "approach2_quantities",
    "besiroglu_runs",
    "bootstrap_approach2",
    "bootstrap_surface",
    "comparison_table",
    "curvature_permutation_tests",
    "fit_surfaces",
    "fraction_beyond_delta",
    "holm_adjust",
    "huber_likelihood",
    "huber_likelihood_landings",
    "huber_objective",
    "log_params",
    "published_intervals",
    "refit_huber",
    "residual_summary",
    "residual_trends",
    "residuals",
    "subsample_approach2",
    "subsample_surface",
    "surface_quantities",
]
