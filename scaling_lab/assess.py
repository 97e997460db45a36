"""Assess a table of training runs: fit, bootstrap intervals, design check and predictions.

:func:`assess` is the public entry point behind ``scaling-lab fit``. It validates the
runs (:mod:`scaling_lab.runs_io`), fits the loss surface (VPNLS by default, or
Approach 3) or the Approach 2 power laws, bootstraps the fit, checks the IsoFLOP
design with the closed form of Part I (:func:`scaling_lab.design.check_design`) and
predicts the compute-optimal allocation at target budgets with bootstrap intervals.

Three bootstrap schemes are offered; their coverage was measured on simulated noisy
designs (:mod:`scaling_lab.coverage`, chapter "Fitting your own runs"):

* ``"cases"``: resample runs with replacement within each budget (the design keeps
  its shape), refit;
* ``"residual"``: keep the runs, add residuals resampled within each budget (scaled
  by ``sqrt(n/(n-p))`` for the ``p`` fitted parameters) to the fitted losses, refit;
* ``"parametric"``: add Gaussian noise with the fit's residual standard deviation
  (``RSS/(n-p)``, the unbiased variance) to the fitted losses, refit;
* ``"curves"``: add a Gaussian offset shared by each IsoFLOP curve and Gaussian noise per
  run, both at standard deviations estimated from the residuals (:func:`curve_noise`),
  for runs whose curves share an error (a data order, an evaluation shard); needs
  IsoFLOP curves.

Intervals are ``"studentized"`` (bootstrap-t: each draw's deviation over its own
delta-method standard error, on the log scale for positive quantities; surface fits,
the default) or ``"percentile"``. Bootstrap quantiles use Weibull plotting positions
(:data:`QUANTILE_RULE`): the ``k``-th of ``B`` sorted draws estimates the
``k/(B+1)`` quantile, so that an interval built from an exact pivot covers exactly its
nominal level for any ``B``. numpy's default (linear interpolation, used before) gives
such an interval the coverage ``level (B-1)/(B+1)``: 88.2% instead of 90% at
``B = 100``, 89.1% at ``B = 200``. That was the systematic part of the shortfall once
measured for the default: on the studied designs the VPNLS estimates are nearly linear
in the noise (estimator bias below 0.04 standard deviations, Wald-t intervals cover 90%
within binomial tolerance), so the parametric bootstrap-t is close to exact once its
quantiles are read correctly. Over 1000 seeded repetitions (``B = 200``) on four designs
its 90% intervals for alpha, beta, a, b and D* at 1e24 cover 88.2-90.7% (nominal inside
every Clopper-Pearson interval; 87.7-89.7% with linear interpolation), as does the
Wald reference on the same data; case and residual resampling cover 83-89%. The
table is ``data/assess_coverage.csv`` (:func:`scaling_lab.coverage.coverage_table`).

VPNLS draws are refitted together by warm-started Levenberg-Marquardt
(:func:`scaling_lab.refit.refit_vpnls_batch`); a draw that does not converge cleanly
is refitted from scratch with the full exponent grid.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from tqdm import tqdm

from .bootstrap import percentile_interval, resample_indices
from .design import check_design
from .fitting import FitError, fit_approach2, fit_approach3, fit_vpnls
from .fitting.approach2 import Approach2Fit
from .fitting.data import check_option
from .fitting.results import FitStatus, SurfaceFit
from .fitting.vpnls import HUBER_DELTA, LOSSES
from .refit import refit_vpnls_batch
from .runs_io import Runs, check_runs_for, isoflop_budgets, isoflop_gap, prepare_runs
from .surfaces import LossSurface

METHODS: tuple[str, ...] = ("vpnls", "approach2", "approach3")
SCHEMES: tuple[str, ...] = ("cases", "residual", "parametric", "curves")
#: Interval kinds read from the bootstrap draws.
BOOTSTRAP_INTERVALS: tuple[str, ...] = ("studentized", "percentile")
#: Every interval kind: the bootstrap kinds and ``"wald"`` (delta-method standard error
#: with a Student-t quantile on ``n - 5`` degrees of freedom; no bootstrap, a reference).
INTERVALS: tuple[str, ...] = (*BOOTSTRAP_INTERVALS, "wald")
#: How bootstrap quantiles are read from ``B`` draws: ``"weibull"`` (the ``k``-th sorted
#: draw is the ``k/(B+1)`` quantile; exact coverage for a pivot at any ``B``) or numpy's
#: default ``"linear"`` (coverage ``level (B-1)/(B+1)`` for a pivot; kept for comparison).
QUANTILE_RULES: tuple[str, ...] = ("weibull", "linear")
QUANTILE_RULE = "weibull"
#: The scheme whose measured coverage holds the nominal level (``data/assess_coverage.csv``;
#: :func:`scaling_lab.coverage.coverage_table`), with studentized intervals.
DEFAULT_SCHEME = "parametric"
DEFAULT_LEVEL = 0.90
DEFAULT_TARGETS: tuple[float, ...] = (1e24,)
#: Warn when the design would bias Approach 2's D* at the largest target by more than this.
DESIGN_THRESHOLD = 0.01
SURFACE_PARAMETERS: tuple[str, ...] = ("E", "A", "B", "alpha", "beta", "a", "b")
APPROACH2_PARAMETERS: tuple[str, ...] = ("a", "b", "a0", "b0")
PREDICTIONS: tuple[str, ...] = ("N_opt", "D_opt", "tokens_per_param", "loss_opt")
_WORDS = {
    "N_opt": "N* (parameters)",
    "D_opt": "D* (tokens)",
    "tokens_per_param": "D*/N* (tokens per parameter)",
    "loss_opt": "loss at the optimum",
}
_METHOD_WORDS = {
    "vpnls": "VPNLS (variable projection over alpha, beta; least squares for E, A, B)",
    "approach3": "Approach 3 (direct 5-parameter least squares from a grid of starts)",
    "approach2": "Approach 2 (a parabola per budget, then power laws of the optima)",
}
_SCHEME_WORDS = {
    "cases": "resampling runs within each budget",
    "residual": "resampling residuals within each budget",
    "parametric": "Gaussian noise at the residual standard deviation",
    "curves": "a Gaussian offset per IsoFLOP curve plus Gaussian noise per run",
}


def key(name: str, compute: float) -> str:
    """Column name of prediction ``name`` at budget ``compute``, e.g. ``'D_opt@1e+24'``."""
    return f"{name}@{compute:.6g}"


@dataclass(frozen=True, repr=False)
class Assessment:
    """A fit of a table of runs with bootstrap intervals, a design check and predictions.

    ``estimate`` holds every reported quantity (surface parameters, ``a, b`` and, per
    target budget, ``N_opt, D_opt, tokens_per_param, loss_opt`` under :func:`key`
    names); ``draws`` holds the same quantities for each bootstrap draw (rows of NaN
    for failed draws). ``design`` is the closed-form design check on the fitted
    surface (``None`` when the runs cannot support one; see ``warnings``).
    """

    method: str
    runs: Runs
    fit: SurfaceFit | Approach2Fit
    surface: LossSurface | None
    estimate: pd.Series
    draws: pd.DataFrame
    scheme: str
    level: float
    seed: int | None
    targets: tuple[float, ...]
    noise_sd: float
    design: object | None
    se: pd.Series = field(default_factory=lambda: pd.Series(dtype=float))
    se_draws: pd.DataFrame = field(default_factory=pd.DataFrame)
    interval: str = "percentile"
    n_fallback: int = 0
    warnings: tuple[str, ...] = field(default_factory=tuple)
    design_skipped: str = ""
    loss: str = "squared"
    delta: float = HUBER_DELTA

    @property
    def n_boot(self) -> int:
        return len(self.draws)

    @property
    def n_failed(self) -> int:
        """Bootstrap draws whose refit failed (kept as NaN rows)."""
        return int(self.draws.isna().all(axis=1).sum()) if len(self.draws) else 0

    def intervals(
        self, level: float | None = None, kind: str | None = None, rule: str = QUANTILE_RULE
    ) -> pd.DataFrame:
        """``estimate, lower, upper`` per quantity at ``level`` (default: the assessment's).

        ``kind`` is ``"studentized"`` (bootstrap-t: each draw's deviation divided by its
        own delta-method standard error; surface fits only), ``"percentile"`` or
        ``"wald"`` (no bootstrap: the delta-method standard error times a Student-t
        quantile; surface fits only); default: the assessment's ``interval``. ``rule``
        reads the quantiles of the draws (:data:`QUANTILE_RULES`; the default is exact
        for a pivot at any ``B``).
        """
        level = self.level if level is None else level
        kind = self.interval if kind is None else kind
        if not 0 < level < 1:
            raise ValueError(f"level must be in (0, 1), got {level!r}")
        check_option("rule", rule, QUANTILE_RULES)
        needs_surface = (kind == "studentized" and self.n_boot) or kind == "wald"
        if kind not in INTERVALS or (needs_surface and self.se.empty):
            raise ValueError(
                f"kind must be one of {INTERVALS} (studentized and wald need a surface fit)"
            )
        out = pd.DataFrame({"estimate": self.estimate})
        if kind == "wald":
            from scipy.stats import t as student_t  # on first use: keeps imports fast

            crit = student_t.ppf(1 - (1 - level) / 2, max(self.runs.n_runs - 5, 1))
            lower, upper = [], []
            for name, value in self.estimate.items():
                z_hat = _on_scale(name, np.array([value]))
                half = crit * self.se[name]
                lower.append(_from_scale(name, z_hat - half)[0])
                upper.append(_from_scale(name, z_hat + half)[0])
            out["lower"], out["upper"] = lower, upper
            return out
        if self.n_boot == 0 or self.n_failed == self.n_boot:
            out["lower"] = out["upper"] = np.nan
            return out
        names = list(self.estimate.index)
        values = self.draws[names].to_numpy()
        if kind == "percentile":
            out["lower"], out["upper"] = percentile_interval(values, level, method=rule)
            return out
        lower, upper = [], []
        for j, name in enumerate(names):
            z_hat = _on_scale(name, np.array([self.estimate[name]]))[0]
            t = (_on_scale(name, values[:, j]) - z_hat) / self.se_draws[name].to_numpy()
            t_lo, t_hi = percentile_interval(t[np.isfinite(t)], level, axis=None, method=rule)
            se = self.se[name]
            lower.append(_from_scale(name, np.array([z_hat - t_hi * se]))[0])
            upper.append(_from_scale(name, np.array([z_hat - t_lo * se]))[0])
        out["lower"], out["upper"] = lower, upper
        return out

    def parameters(self) -> pd.DataFrame:
        """Fitted parameters (``E, A, B, alpha, beta, a, b``, or Approach 2's ``a, b, a0, b0``)."""
        names = APPROACH2_PARAMETERS if self.method == "approach2" else SURFACE_PARAMETERS
        return self.intervals().loc[list(names)]

    def predictions(self) -> pd.DataFrame:
        """One row per (target budget, quantity): ``compute, quantity, estimate, lower, upper``."""
        table = self.intervals()
        rows = []
        for c in self.targets:
            for name in PREDICTIONS:
                if key(name, c) in table.index:
                    rows.append({"compute": c, "quantity": name, **table.loc[key(name, c)]})
        return pd.DataFrame(rows)

    def to_dict(self) -> dict:
        """Everything in the report as plain Python values (for ``--json``)."""

        def triple(row: pd.Series) -> dict[str, float | None]:
            return {k: _plain(row[k]) for k in ("estimate", "lower", "upper")}

        fit = self.fit
        out: dict = {
            "source": self.runs.source,
            "runs": self.runs.n_runs,
            "budgets": [float(b) for b in self.runs.budgets],
            "budget_column": self.runs.budget_given,
            "method": self.method,
            "loss": self.loss,
            "delta": self.delta if self.loss == "huber" else None,
            "status": str(getattr(fit, "status", FitStatus.CONVERGED)),
            "message": str(getattr(fit, "message", "")),
            "noise_sd": _plain(self.noise_sd),
            "bootstrap": {
                "scheme": self.scheme,
                "level": self.level,
                "draws": self.n_boot,
                "seed": self.seed
                if self.seed is None or isinstance(self.seed, int)
                else str(self.seed),
                "failed": self.n_failed,
                "refit_from_scratch": self.n_fallback,
            },
            "parameters": {name: triple(row) for name, row in self.parameters().iterrows()},
            "predictions": [
                {"compute": float(c)}
                | {
                    row["quantity"]: triple(row)
                    for _, row in self.predictions().iterrows()
                    if row["compute"] == c
                }
                for c in self.targets
            ],
            "design_check": _design_dict(self.design),
            "design_check_skipped": self.design_skipped or None,
            "warnings": list(self.warnings),
        }
        return out

    def report(self) -> str:
        """The plain-text report ``scaling-lab fit`` prints."""
        return "\n".join(_report_lines(self))

    def __repr__(self) -> str:
        return (
            f"Assessment(method={self.method!r}, runs={self.runs.n_runs}, "
            f"budgets={self.runs.budgets.size}, draws={self.n_boot}, scheme={self.scheme!r}, "
            f"level={self.level:g}, warnings={len(self.warnings)})"
        )


def assess(
    runs: pd.DataFrame | Runs,
    method: str = "vpnls",
    n_boot: int = 1000,
    seed: int | None = 0,
    targets: Sequence[float] = DEFAULT_TARGETS,
    *,
    scheme: str = DEFAULT_SCHEME,
    level: float = DEFAULT_LEVEL,
    interval: str | None = None,
    design_threshold: float = DESIGN_THRESHOLD,
    progress: bool = False,
    loss: str = "squared",
    delta: float = HUBER_DELTA,
) -> Assessment:
    """Fit ``runs`` with ``method`` and bootstrap it ``n_boot`` times (``seed`` fixes the draws).

    ``runs`` is a DataFrame with ``params, tokens, loss`` (and optionally ``budget``) or
    a :class:`~scaling_lab.runs_io.Runs`. ``targets`` are the budgets (FLOPs) at which
    ``N*, D*, D*/N*`` and the optimal loss are predicted. ``progress`` shows a tqdm bar
    on stderr when the bootstrap runs longer than a second. Bad input raises
    :class:`~scaling_lab.runs_io.RunsError` (a ``ValueError``); a fit that cannot
    produce an estimate raises :class:`~scaling_lab.FitError`.
    """
    check_option("method", method, METHODS)
    check_option("scheme", scheme, SCHEMES)
    check_option("loss", loss, LOSSES)
    if loss != "squared" and method != "vpnls":
        raise ValueError(f"loss={loss!r} needs method 'vpnls' (got {method!r})")
    if int(n_boot) != n_boot or n_boot < 0:
        raise ValueError(f"n_boot must be a non-negative integer, got {n_boot!r}")
    if not 0 < level < 1:
        raise ValueError(f"level must be in (0, 1), got {level!r}")
    targets = tuple(float(c) for c in np.atleast_1d(np.asarray(targets, dtype=float)))
    if not targets or not all(np.isfinite(c) and c > 0 for c in targets):
        raise ValueError(f"targets must be positive budgets in FLOPs, got {targets!r}")
    runs = prepare_runs(runs)
    check_runs_for(runs, method)
    if scheme == "curves" and isoflop_gap(runs) is not None:
        raise ValueError(
            f"scheme 'curves' models an offset per IsoFLOP curve, but {isoflop_gap(runs)}"
        )
    table = runs.table
    warnings = list(runs.warnings)
    if runs.budgets.size < 2:
        warnings.append(
            f"{runs.source}: all runs share one budget ({runs.budgets[0]:.3g} FLOPs); one "
            "IsoFLOP curve barely identifies the exponents, so expect wide intervals and "
            "treat any extrapolation as a guess"
        )
    gap = isoflop_gap(runs)

    huber_delta = float(delta) if loss == "huber" else None
    fit, fitted, n_par = _fit(table, method, huber_delta)
    surface = fit.surface if isinstance(fit, SurfaceFit) else None
    estimate = pd.Series(_quantities(fit, targets), dtype=float)
    resid = table["loss"].to_numpy() - fitted
    dof = max(len(table) - n_par, 1)
    noise_sd = float(np.sqrt(resid @ resid / dof))
    if isinstance(fit, SurfaceFit) and fit.status is not FitStatus.CONVERGED:
        warnings.append(f"{method} fit: {fit.status.value} ({fit.message})")

    draws, se_draws, n_fallback = _bootstrap(
        table,
        fit,
        method,
        scheme,
        int(n_boot),
        seed,
        fitted,
        resid,
        n_par,
        targets,
        progress,
        within_budgets=runs.budgets.size == isoflop_budgets(runs).size,
        huber_delta=huber_delta,
    )
    warnings += residual_warnings(runs, resid, noise_sd, scheme, loss, gap is None)
    draws = draws.reindex(columns=estimate.index)
    se = pd.Series(dtype=float)
    if surface is not None:
        P = np.array([list(surface.to_dict().values())])
        data = [table[c].to_numpy()[None, :] for c in ("params", "tokens", "loss")]
        se = pd.Series(
            {
                k: float(v[0])
                for k, v in standard_errors(
                    P, np.log(data[0]), np.log(data[1]), data[2], targets
                ).items()
            }
        )
    if interval is None:
        interval = "studentized" if surface is not None else "percentile"
    if interval not in INTERVALS or (interval in ("studentized", "wald") and surface is None):
        raise ValueError(
            f"interval must be one of {INTERVALS} ('studentized' and 'wald' need a surface "
            "fit), "
            f"got {interval!r} with method {method!r}"
        )
    n_failed = int(draws.isna().all(axis=1).sum()) if len(draws) else 0
    if n_failed:
        warnings.append(f"{n_failed} of {n_boot} bootstrap refits failed and are left out")

    design, design_skipped = None, ""
    if gap is not None:
        design_skipped = gap
    else:
        curves = table[table["budget"].isin(isoflop_budgets(runs))]
        design_surface = surface
        if design_surface is None:  # Approach 2 has no surface: check the design on VPNLS's
            try:
                design_surface = fit_vpnls(table).surface
            except (FitError, ValueError) as exc:
                design_skipped = f"no VPNLS surface to check against ({exc})"
        if design_surface is not None:
            try:
                design = check_design(
                    curves, design_surface, extrapolate_to=max(targets), threshold=design_threshold
                )
            except ValueError as exc:
                design_skipped = str(exc)
        if design_skipped:
            warnings.append(f"design check skipped: {design_skipped}")
    return Assessment(
        method=method,
        runs=runs,
        fit=fit,
        surface=surface,
        estimate=estimate,
        draws=draws,
        scheme=scheme,
        level=float(level),
        seed=seed,
        targets=targets,
        noise_sd=noise_sd,
        design=design,
        se=se,
        se_draws=se_draws,
        interval=interval,
        n_fallback=n_fallback,
        warnings=tuple(warnings),
        design_skipped=design_skipped,
        loss=loss,
        delta=float(delta),
    )


# --- residual checks ----------------------------------------------------------------

#: Warn when per-curve offsets carry more than this share of the residual variance.
#: Measured on the standard design (±8×, sd 0.01): under i.i.d. noise the estimated share
#: has 99th percentile 0.12 (300 seeds); with offsets of sd 0.007 plus i.i.d. sd 0.007 its
#: median is 0.31.
OFFSET_SHARE_WARNING = 0.15
#: Warn when a run's residual exceeds this many robust residual standard deviations.
OUTLIER_SD = 4.5


def residual_warnings(
    runs: Runs, resid: np.ndarray, noise_sd: float, scheme: str, loss: str, curves: bool
) -> list[str]:
    """Warnings when the residuals look like a condition the chosen intervals do not cover.

    Per-curve offsets (``curves``: the runs hold IsoFLOP curves) under any scheme but
    ``"curves"``; runs beyond :data:`OUTLIER_SD` residual standard deviations under the
    squared loss.
    """
    out: list[str] = []
    if noise_sd <= 1e-9 * float(np.mean(np.abs(runs.table["loss"]))):
        return out  # an exact fit: the residuals are rounding error, with no pattern to read
    if curves and scheme != "curves" and runs.budgets.size > 1:
        noise = curve_noise(resid, runs.table["budget"].to_numpy())
        if noise.offset_share > OFFSET_SHARE_WARNING:
            out.append(
                f"{runs.source}: the residuals share an offset per IsoFLOP curve "
                f"({noise.offset_share:.0%} of their variance; offset sd {noise.offset_sd:.3g}, "
                f"within-curve sd {noise.within_sd:.3g}); intervals that assume independent "
                "runs are too narrow then: use --scheme curves"
            )
    # A robust scale (the median absolute deviation), so that outliers do not mask
    # themselves by inflating the standard deviation.
    scale = 1.4826 * float(np.median(np.abs(resid - np.median(resid)))) or noise_sd
    if loss == "squared" and scale > 0:
        far = np.flatnonzero(np.abs(resid - np.median(resid)) > OUTLIER_SD * scale)
        if far.size:
            rows = "; ".join(runs.labels[i] for i in far[:5]) + ("; …" if far.size > 5 else "")
            out.append(
                f"{runs.source}: {far.size} run(s) lie more than {OUTLIER_SD:g} robust residual "
                f"sd (1.4826 MAD) from the fit ({rows}); outlying runs pull a least-squares "
                "fit: --loss huber down-weights them"
            )
    return out


# --- fitting ------------------------------------------------------------------------


def _fit(table: pd.DataFrame, method: str, huber_delta: float | None = None):
    """The fit, its fitted losses and its number of fitted parameters."""
    if method == "approach2":
        fit = fit_approach2(table)
        fitted = fit.parabolas_N.predict(table["budget"], np.log10(table["params"].to_numpy()))
        return fit, fitted, 3 * fit.budgets.size
    if method == "vpnls":
        fit = fit_vpnls(table, **_loss_kwargs(huber_delta))
    else:
        fit = fit_approach3(table)
    return fit, fit.surface.loss(table["params"].to_numpy(), table["tokens"].to_numpy()), 5


def _quantities(fit, targets: tuple[float, ...]) -> dict[str, float]:
    """Every reported number of one fit, by name."""
    if isinstance(fit, Approach2Fit):
        out = {"a": fit.a, "b": fit.b, "a0": fit.a0, "b0": fit.b0}
        for c in targets:
            n, d = fit.N_opt(c), fit.D_opt(c)
            out |= {key("N_opt", c): n, key("D_opt", c): d, key("tokens_per_param", c): d / n}
        return out
    s = fit.surface if isinstance(fit, SurfaceFit) else fit
    out = {**s.to_dict(), "a": s.a, "b": s.b}
    for c in targets:
        n, d = s.N_opt(c), s.D_opt(c)
        out |= {
            key("N_opt", c): n,
            key("D_opt", c): d,
            key("tokens_per_param", c): d / n,
            key("loss_opt", c): s.loss_opt(c),
        }
    return out


# --- bootstrap ----------------------------------------------------------------------


def surface_quantities(P: np.ndarray, targets: Sequence[float]) -> dict[str, np.ndarray]:
    """Every reported quantity of surfaces ``P = (E, A, B, alpha, beta)`` (shape ``(k, 5)``).

    The vectorised counterpart of :meth:`LossSurface.N_opt` and friends (same
    formulas, tested against them), used for bootstrap draws and their gradients.
    """
    E, A, B, al, be = np.asarray(P, dtype=float).T
    total = al + be
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        log_g = (np.log(al * A) - np.log(be * B)) / total
        out = {"E": E, "A": A, "B": B, "alpha": al, "beta": be, "a": be / total, "b": al / total}
        for c in targets:
            log_n = log_g + (be / total) * np.log(c / 6.0)
            log_d = (al / total) * np.log(c / 6.0) - log_g
            n, d = np.exp(log_n), np.exp(log_d)
            out[key("N_opt", c)] = n
            out[key("D_opt", c)] = d
            out[key("tokens_per_param", c)] = d / n
            out[key("loss_opt", c)] = E + A * np.exp(-al * log_n) + B * np.exp(-be * log_d)
    return out


#: Quantities studentized on the log scale (positive, multiplicative uncertainty).
LOG_SCALE: frozenset[str] = frozenset({"E", "A", "B", "N_opt", "D_opt", "tokens_per_param"})


def _on_scale(name: str, values: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.log(values) if name.split("@")[0] in LOG_SCALE else values


def _from_scale(name: str, values: np.ndarray) -> np.ndarray:
    return np.exp(values) if name.split("@")[0] in LOG_SCALE else values


def standard_errors(
    P: np.ndarray, log_n: np.ndarray, log_d: np.ndarray, loss: np.ndarray, targets
) -> dict[str, np.ndarray]:
    """Delta-method standard errors of every quantity (on its studentizing scale), per surface.

    ``P`` is ``(k, 5)``, the data ``(k, n)``. The parameter covariance is
    ``s**2 (J'J)^-1`` with ``J`` the Jacobian of the model in ``(E, A, B, alpha, beta)``
    and ``s**2 = RSS/(n - 5)``; columns are scaled before inversion (the 5-parameter
    problem is ill-conditioned). Gradients of the quantities are central differences.
    """
    P = np.atleast_2d(np.asarray(P, dtype=float))
    E, A, B, al, be = (P[:, i : i + 1] for i in range(5))
    x, y = np.exp(-al * log_n), np.exp(-be * log_d)
    jac = np.stack([np.ones_like(x), x, y, -A * log_n * x, -B * log_d * y], axis=-1)
    resid = loss - (E + A * x + B * y)
    dof = max(loss.shape[1] - 5, 1)
    s2 = (resid[:, None, :] @ resid[..., None])[:, 0, 0] / dof
    norms = np.linalg.norm(jac, axis=1)  # (k, 5)
    js = jac / norms[:, None, :]
    with np.errstate(invalid="ignore", divide="ignore"):
        inv = np.linalg.pinv(np.swapaxes(js, 1, 2) @ js, hermitian=True)
        cov = s2[:, None, None] * inv / (norms[:, :, None] * norms[:, None, :])
    grads: dict[str, np.ndarray] = {}
    step = 1e-6 * np.maximum(np.abs(P), 1e-12)
    for j in range(5):
        up, down = P.copy(), P.copy()
        up[:, j] += step[:, j]
        down[:, j] -= step[:, j]
        q_up, q_down = surface_quantities(up, targets), surface_quantities(down, targets)
        for name in q_up:
            with np.errstate(invalid="ignore"):  # failed draws (rows of NaN) stay NaN
                g = (_on_scale(name, q_up[name]) - _on_scale(name, q_down[name])) / (2 * step[:, j])
            grads.setdefault(name, np.empty_like(P))[:, j] = g
    return {
        name: np.sqrt(np.maximum(np.einsum("ki,kij,kj->k", g, cov, g), 0.0))
        for name, g in grads.items()
    }


def _bootstrap(
    table,
    fit,
    method,
    scheme,
    n_boot,
    seed,
    fitted,
    resid,
    n_par,
    targets,
    progress,
    within_budgets=True,
    huber_delta=None,
):
    """Bootstrap draws of every quantity, their standard errors, and the from-scratch refits.

    Runs (and residuals) are resampled within each budget when every budget holds an
    IsoFLOP curve, so that each draw keeps the design's shape; otherwise (ladders, scattered
    runs, where a budget may hold a single run) across all runs.
    """
    if n_boot == 0:
        return pd.DataFrame(), pd.DataFrame(), 0
    budget = table["budget"].to_numpy()
    n = len(table)
    rng = np.random.default_rng(seed)
    rows = resample_indices(n_boot, budget, rng, within_groups=within_budgets)
    if scheme == "cases":
        design_rows = rows
        loss = table["loss"].to_numpy()[rows]
    else:
        design_rows = np.broadcast_to(np.arange(n), (n_boot, n))
        if scheme == "residual":
            scaled = resid * np.sqrt(n / max(n - n_par, 1))
            loss = fitted + scaled[rows]
        elif scheme == "curves":
            loss = fitted + curve_offset_noise(resid, budget, n_boot, rng)
        else:
            sd = np.sqrt(resid @ resid / max(n - n_par, 1))
            loss = fitted + rng.normal(0.0, sd, size=(n_boot, n))
    params = table["params"].to_numpy()[design_rows]
    tokens = table["tokens"].to_numpy()[design_rows]
    budgets = budget[design_rows]

    bar = tqdm(
        total=n_boot,
        desc=f"bootstrap ({method}, {scheme})",
        unit="draw",
        file=sys.stderr,
        delay=1.0,
        disable=not progress,
        leave=False,
    )
    with bar:
        if method == "approach2":
            records = []
            for i in range(n_boot):
                draw = _table(budgets[i], params[i], tokens[i], loss[i])
                try:
                    records.append(_quantities(fit_approach2(draw), targets))
                except (FitError, ValueError):
                    records.append({})
                bar.update(1)
            return pd.DataFrame.from_records(records), pd.DataFrame(), 0
        if method == "vpnls":
            P, n_fallback = _draws_vpnls(fit, params, tokens, budgets, loss, bar, huber_delta)
        else:
            P, n_fallback = _draws_approach3(fit, params, tokens, budgets, loss, bar), 0
    draws = pd.DataFrame(surface_quantities(P, targets))
    se = pd.DataFrame(standard_errors(P, np.log(params), np.log(tokens), loss, targets))
    return draws, se, n_fallback


@dataclass(frozen=True)
class CurveNoise:
    """Residuals split into a shared offset per IsoFLOP curve and noise within curves."""

    offset_sd: float
    within_sd: float
    offsets: pd.Series

    @property
    def offset_share(self) -> float:
        """Fraction of the residual variance that the per-curve offsets carry."""
        total = self.offset_sd**2 + self.within_sd**2
        return float(self.offset_sd**2 / total) if total > 0 else 0.0


def curve_noise(resid: np.ndarray, budget: np.ndarray) -> CurveNoise:
    """Method-of-moments split of ``resid`` into per-budget offsets and within-budget noise.

    Within: the pooled variance about each budget's mean residual (``n - k`` degrees of
    freedom for ``k`` budgets). Offsets: the variance of the budget means less the part
    the within noise puts there (``s_w**2`` times the mean of ``1/n_b``), floored at 0.
    """
    values, group, counts = np.unique(budget, return_inverse=True, return_counts=True)
    means = np.bincount(group, resid) / counts
    within = resid - means[group]
    s_w2 = float(within @ within / max(resid.size - values.size, 1))
    s_b2 = 0.0
    if values.size > 1:
        s_b2 = max(float(np.var(means, ddof=1)) - s_w2 * float(np.mean(1.0 / counts)), 0.0)
    return CurveNoise(np.sqrt(s_b2), np.sqrt(s_w2), pd.Series(means, index=values))


def curve_offset_noise(
    resid: np.ndarray, budget: np.ndarray, n_boot: int, rng: np.random.Generator
) -> np.ndarray:
    """Scheme ``"curves"``: a Gaussian offset per IsoFLOP curve plus Gaussian noise per run,
    at the standard deviations :func:`curve_noise` estimates; shape ``(n_boot, n)``."""
    noise = curve_noise(resid, budget)
    _, group = np.unique(budget, return_inverse=True)
    shared = rng.normal(0.0, noise.offset_sd, size=(n_boot, group.max() + 1))[:, group]
    return shared + rng.normal(0.0, noise.within_sd, size=(n_boot, resid.size))


def _table(budget, params, tokens, loss) -> pd.DataFrame:
    return pd.DataFrame({"budget": budget, "params": params, "tokens": tokens, "loss": loss})


def _draws_approach3(fit: SurfaceFit, params, tokens, budgets, loss, bar) -> np.ndarray:
    """Approach 3 refits started from the full-data estimate (rows of NaN where a fit fails)."""
    start = list(fit.surface.to_dict().values())
    P = np.full((loss.shape[0], 5), np.nan)
    for i in range(loss.shape[0]):
        try:
            s = fit_approach3(_table(budgets[i], params[i], tokens[i], loss[i]), start=start)
            P[i] = list(s.surface.to_dict().values())
        except (FitError, ValueError):
            pass
        bar.update(1)
    return P


def _loss_kwargs(huber_delta: float | None) -> dict:
    return {} if huber_delta is None else {"loss": "huber", "delta": huber_delta}


def _draws_vpnls(
    fit: SurfaceFit, params, tokens, budgets, loss, bar, huber_delta=None
) -> tuple[np.ndarray, int]:
    """Warm-started batched VPNLS refits; unclean draws are refitted from scratch.

    Huber fits (``huber_delta`` set) are refitted one draw at a time with the full grid.
    """
    n_boot, n = loss.shape
    if huber_delta is not None:
        P = np.full((n_boot, 5), np.nan)
        for i in range(n_boot):
            try:
                draw = _table(budgets[i], params[i], tokens[i], loss[i])
                P[i] = list(fit_vpnls(draw, **_loss_kwargs(huber_delta)).surface.to_dict().values())
            except (FitError, ValueError):
                pass
            bar.update(1)
        return P, 0
    theta0 = np.array([fit.alpha, fit.beta])
    chunk = max(1, 200_000 // n)
    P = np.full((n_boot, 5), np.nan)
    n_fallback = 0
    for lo in range(0, n_boot, chunk):
        part = slice(lo, min(lo + chunk, n_boot))
        res = refit_vpnls_batch(np.log(params[part]), np.log(tokens[part]), loss[part], theta0)
        P[part][res.ok] = res.params[res.ok]
        for i in lo + np.flatnonzero(~res.ok):
            n_fallback += 1
            try:
                draw = _table(budgets[i], params[i], tokens[i], loss[i])
                P[i] = list(fit_vpnls(draw).surface.to_dict().values())
            except (FitError, ValueError):
                pass
        bar.update(part.stop - part.start)
    return P, n_fallback


# --- reporting ----------------------------------------------------------------------


def _plain(x) -> float | None:
    x = float(x)
    return x if np.isfinite(x) else None


def _design_dict(design) -> dict | None:
    if design is None:
        return None
    return design.to_dict() | {"per_budget": design.to_frame().to_dict("records")}


def _fmt(x: float) -> str:
    return "—" if not np.isfinite(x) else f"{x:.4g}"


def _row(label: str, row: pd.Series, width: int) -> str:
    interval = (
        "—" if not np.isfinite(row["lower"]) else f"[{_fmt(row['lower'])}, {_fmt(row['upper'])}]"
    )
    return f"  {label:<{width}} {_fmt(row['estimate']):>11}   {interval}"


def _report_lines(a: Assessment) -> list[str]:
    fit = a.fit
    status = getattr(fit, "status", FitStatus.CONVERGED)
    pct = f"{100 * a.level:g}%"
    objective = f"; Huber loss (delta {a.delta:g}) on the residuals" if a.loss == "huber" else ""
    lines = [
        f"scaling-lab fit: {a.runs.source}",
        f"runs: {a.runs.describe()}",
        f"method: {_METHOD_WORDS[a.method]}{objective}; status: {status}",
        f"residual standard deviation of the loss: {a.noise_sd:.3g}",
    ]
    if a.interval == "wald":
        lines.append(f"intervals: {pct} Wald (delta method, Student t); no bootstrap used")
    elif a.n_boot:
        lines.append(
            f"intervals: {pct} {a.interval} bootstrap, {a.n_boot} draws, "
            f"{_SCHEME_WORDS[a.scheme]} (seed {a.seed}); failed draws: {a.n_failed}"
        )
    else:
        lines.append("intervals: none (no bootstrap draws requested)")
    lines += ["", f"{'quantity':<30} {'estimate':>11}   {pct} interval"]
    table = a.parameters()
    if a.method == "approach2":
        lines.append("Approach 2: N* = 10^a0 C^a and D* = 10^b0 C^b (no loss surface)")
        labels = {"a": "a (exponent of N*)", "b": "b (exponent of D*)"}
        labels |= {"a0": "a0 (log10 intercept of N*)", "b0": "b0 (log10 intercept of D*)"}
    else:
        lines.append("loss surface L(N, D) = E + A/N^alpha + B/D^beta")
        labels = {p: p for p in ("E", "A", "B", "alpha", "beta")}
        labels |= {"a": "a = beta/(alpha+beta)", "b": "b = alpha/(alpha+beta)"}
    lines += [_row(labels[name], row, 28) for name, row in table.iterrows()]
    preds = a.predictions()
    for c in a.targets:
        lines.append(f"compute-optimal allocation at C = {c:.3g} FLOPs")
        part = preds[preds["compute"] == c]
        lines += [_row(_WORDS[r["quantity"]], r, 28) for _, r in part.iterrows()]
    lines += ["", *_design_lines(a)]
    return lines


def _design_lines(a: Assessment) -> list[str]:
    d = a.design
    if d is None:
        return [f"design check and Approach 2's IsoFLOP curves: skipped, {a.design_skipped}"]
    s = d.surface
    source = "the VPNLS surface" if a.method == "approach2" else "the fitted surface"
    lines = [
        f"design check (closed form of Part I on {source}; losses not used)",
        f"  exponent imbalance alpha/beta = {d.imbalance:.3g} "
        f"(alpha = {s.alpha:.3g}, beta = {s.beta:.3g})",
        "  budget      runs  grid ±k×  centre vs N*  Approach 2 vertex shift (N*, decades)",
    ]
    for _, r in d.per_budget.iterrows():
        lines.append(
            f"  {r['budget']:<10.3g} {int(r['runs']):>5}  {r['width']:>8.3g}  "
            f"{_centre_words(r['center_offset']):>12}  {r['vertex_shift_N']:+.3g}"
        )
    lines.append(
        f"  Approach 2 on this design: D* intercept bias {d.b0_bias:+.3g} decades, exponent "
        f"bias {d.b_bias:+.3g}; D* error at {d.extrapolate_to:.3g} FLOPs "
        f"{100 * d.D_error:+.3g}% (warning threshold ±{100 * d.threshold:.3g}%)"
    )
    if d.warnings:
        lines += [f"  WARNING: {w}" for w in d.warnings]
    else:
        lines.append("  no design warnings: the grids are centred and Approach 2's bias is small")
    return lines


def _centre_words(offset: float) -> str:
    factor = 10.0 ** abs(offset)
    if factor < 1.005:
        return "centred"
    return f"{factor:.3g}× {'above' if offset > 0 else 'below'}"
