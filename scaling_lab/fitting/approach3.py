"""Chinchilla Approach 3: fit all five parameters of the loss surface at once.

Four variants, because the book compares them:

* ``"mle"``: L-BFGS-B on the raw residual sum of squares over
  ``(E, A, B, alpha, beta)``, started from the best point of a ``4**5`` grid. It is
  least squares on the raw parameters; the key says "maximum likelihood", which it is
  only under independent Gaussian noise of constant variance on the loss;
* ``"normalised"``: the same least-squares objective with inputs scaled by their
  geometric means (``n = N/N0``, ``d = D/D0``) and ``E = exp(e)``,
  ``A = exp(a) N0**alpha``, ``B = exp(b) D0**beta``, from a ``4**5`` grid of
  ``(e, a, b, alpha, beta)``: the fair parameterisation of the direct fit;
* ``"chinchilla"``: the form of Hoffmann et al. (2022): ``E = exp(e)``,
  ``A = exp(a)``, ``B = exp(b)``, predicted log-loss by log-sum-exp, a Huber loss
  (``delta = 1e-3``) on log-loss residuals, L-BFGS from the best of the paper's
  grid of 4,500 starts;
* ``"naive"``: L-BFGS-B on the raw RSS from one random start (a negative control;
  reproducible from ``seed``).

The grid is evaluated in one vectorised pass; ``n_refine`` local fits start from
its best points and the lowest objective wins. The Chinchilla form refines the best
:data:`CHINCHILLA_REFINE` points by default: from the single best grid point its L-BFGS
path is chaotic on real data (on the Llama 3 runs, another BLAS kernel sends it to a
local minimum with 2.5 times the objective), and the best of a few refinements is a
cheap stand-in for the paper's "optimise from the grid, keep the best".
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike

from ..surfaces import LossSurface
from .data import GRADIENTS, FitError, check_option, validate_isoflops
from .results import FitStatus, SurfaceFit
from .vpnls import _scipy_status

APPROACH3_VARIANTS: tuple[str, ...] = ("mle", "chinchilla", "naive", "normalised")

#: Box for the raw-parameter variants: E, A, B, alpha, beta.
RAW_BOUNDS: tuple[tuple[float, float], ...] = (
    (1e-6, 10.0),
    (1e-6, 1e6),
    (1e-6, 1e6),
    (0.01, 0.99),
    (0.01, 0.99),
)
#: 4 values per raw parameter: 4**5 = 1024 starting points.
RAW_GRID: tuple[np.ndarray, ...] = (
    np.linspace(0.1, 5.0, 4),
    np.logspace(1, 4, 4),
    np.logspace(1, 4, 4),
    np.linspace(0.05, 0.95, 4),
    np.linspace(0.05, 0.95, 4),
)
#: Box for the normalised variant: e = log E, a = log(A/N0**alpha), b = log(B/D0**beta).
NORMALISED_BOUNDS: tuple[tuple[float, float], ...] = (
    (np.log(1e-6), np.log(10.0)),
    (-30.0, 30.0),
    (-30.0, 30.0),
    (0.01, 0.99),
    (0.01, 0.99),
)
#: 4 values per normalised parameter: E as in ``RAW_GRID``; the two power-law terms at
#: the geometric-mean run from 0.01 to 10 (in units of loss), 4**5 = 1024 starts.
NORMALISED_GRID: tuple[np.ndarray, ...] = (
    np.log(np.linspace(0.1, 5.0, 4)),
    np.log(np.logspace(-2, 1, 4)),
    np.log(np.logspace(-2, 1, 4)),
    np.linspace(0.05, 0.95, 4),
    np.linspace(0.05, 0.95, 4),
)
#: The Chinchilla paper's initialisation grid over (e, a, b, alpha, beta): 4,500 points.
CHINCHILLA_GRID: tuple[np.ndarray, ...] = (
    np.arange(-1.0, 1.01, 0.5),
    np.arange(0.0, 26.0, 5.0),
    np.arange(0.0, 26.0, 5.0),
    np.arange(0.0, 2.01, 0.5),
    np.arange(0.0, 2.01, 0.5),
)
HUBER_DELTA = 1e-3
#: Grid points the Chinchilla form refines by default (the lowest objective wins).
CHINCHILLA_REFINE = 3
_LBFGS_OPTIONS = {"ftol": 1e-15, "gtol": 1e-15, "maxiter": 10000, "maxfun": 50000}


def _raw_rss(params: np.ndarray, log_n, log_d, loss) -> np.ndarray:
    """RSS for raw parameters; ``params`` may be ``(5,)`` or ``(k, 5)``."""
    p = np.atleast_2d(params)
    pred = (
        p[:, :1] + p[:, 1:2] * np.exp(-p[:, 3:4] * log_n) + p[:, 2:3] * np.exp(-p[:, 4:5] * log_d)
    )
    return np.sum((pred - loss) ** 2, axis=1)


def _raw_rss_and_grad(x: np.ndarray, log_n, log_d, loss) -> tuple[float, np.ndarray]:
    E, A, B, alpha, beta = x
    tn, td = np.exp(-alpha * log_n), np.exp(-beta * log_d)
    r = E + A * tn + B * td - loss
    grad = 2.0 * np.array(
        [r.sum(), r @ tn, r @ td, -A * (r @ (tn * log_n)), -B * (r @ (td * log_d))]
    )
    return float(r @ r), grad


def _normalised_rss(params: np.ndarray, log_n, log_d, loss) -> np.ndarray:
    """RSS for ``(e, a, b, alpha, beta)`` on normalised inputs; ``(5,)`` or ``(k, 5)``."""
    p = np.atleast_2d(params)
    pred = (
        np.exp(p[:, :1])
        + np.exp(p[:, 1:2] - p[:, 3:4] * log_n)
        + np.exp(p[:, 2:3] - p[:, 4:5] * log_d)
    )
    return np.sum((pred - loss) ** 2, axis=1)


def _normalised_rss_and_grad(x: np.ndarray, log_n, log_d, loss) -> tuple[float, np.ndarray]:
    e, a, b, alpha, beta = x
    t0, tn, td = np.exp(e), np.exp(a - alpha * log_n), np.exp(b - beta * log_d)
    r = t0 + tn + td - loss
    grad = 2.0 * np.array([t0 * r.sum(), r @ tn, r @ td, -(r @ (tn * log_n)), -(r @ (td * log_d))])
    return float(r @ r), grad


def input_scales(params: np.ndarray, tokens: np.ndarray) -> tuple[float, float]:
    """The normalised variant's default ``(N0, D0)``: geometric means of the runs."""
    return float(np.exp(np.mean(np.log(params)))), float(np.exp(np.mean(np.log(tokens))))


def _huber(r: np.ndarray, delta: float) -> np.ndarray:
    a = np.abs(r)
    return np.where(a <= delta, 0.5 * r**2, delta * (a - 0.5 * delta))


def _log_terms(p: np.ndarray, log_n, log_d) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The three log-terms ``e``, ``a - alpha log N``, ``b - beta log D`` (rows: parameter sets)."""
    p = np.atleast_2d(p)
    return p[:, 0:1], p[:, 1:2] - p[:, 3:4] * log_n, p[:, 2:3] - p[:, 4:5] * log_d


def _logsumexp3(t0, t1, t2) -> np.ndarray:
    m = np.maximum(np.maximum(t0, t1), t2)
    return m + np.log(np.exp(t0 - m) + np.exp(t1 - m) + np.exp(t2 - m))


def _chinchilla_objective(p: np.ndarray, log_n, log_d, log_loss) -> np.ndarray:
    r = _logsumexp3(*_log_terms(p, log_n, log_d)) - log_loss
    return _huber(r, HUBER_DELTA).sum(axis=1)


def _chinchilla_objective_and_grad(x: np.ndarray, log_n, log_d, log_loss):
    t0, t1, t2 = (t[0] for t in _log_terms(x, log_n, log_d))
    lse = _logsumexp3(t0, t1, t2)
    w0, w1, w2 = np.exp(t0 - lse), np.exp(t1 - lse), np.exp(t2 - lse)  # softmax weights
    r = lse - log_loss
    psi = np.clip(r, -HUBER_DELTA, HUBER_DELTA)  # Huber derivative
    grad = np.array([psi @ w0, psi @ w1, psi @ w2, -(psi @ (w1 * log_n)), -(psi @ (w2 * log_d))])
    return float(_huber(r, HUBER_DELTA).sum()), grad


def huber_linear_fraction(fit: SurfaceFit, df: pd.DataFrame, delta: float = HUBER_DELTA) -> float:
    """Fraction of log-loss residuals of ``fit`` beyond ``delta``: in the Huber loss's linear part.

    Where this is most of the data, the Huber loss weighs residuals by their absolute
    value, as least absolute deviations does.
    """
    resid = np.log(df["loss"].to_numpy()) - np.log(fit.loss(df["params"], df["tokens"]))
    return float(np.mean(np.abs(resid) > delta))


def huber_variance_factor(k: ArrayLike) -> np.ndarray | float:
    """Asymptotic variance of a Huber M-estimate relative to least squares, Gaussian errors.

    ``k`` is the threshold in units of the residual standard deviation (``delta/sigma``).
    The factor is ``E[psi^2]/E[psi']^2`` with ``psi`` the Huber function: 1 as
    ``k -> inf`` (least squares), ``pi/2`` as ``k -> 0`` (least absolute deviations,
    the median's efficiency 2/pi) (Huber 1964).
    """
    from scipy.stats import norm  # on first use: scipy.stats is slow to import

    k = np.asarray(k, dtype=float)
    inside = 2 * norm.cdf(k) - 1  # P(|z| <= k) = E[psi']
    second = inside - 2 * k * norm.pdf(k) + 2 * k**2 * norm.sf(k)  # E[psi^2]
    with np.errstate(invalid="ignore", divide="ignore"):
        out = np.where(k > 1e-4, second / inside**2, np.pi / 2 * (1 - 0.0 * k))
    return float(out) if out.ndim == 0 else out


def grid_points(axes: tuple[np.ndarray, ...]) -> np.ndarray:
    """All combinations of the given per-parameter values, shape ``(prod(len), 5)``."""
    return np.array(list(itertools.product(*axes)), dtype=float)


def fit_approach3(
    df: pd.DataFrame,
    variant: str = "mle",
    *,
    seed: int | np.random.Generator | None = None,
    n_refine: int | None = None,
    jac: str = "analytic",
    max_iter: int = 10000,
    start: Sequence[float] | None = None,
    options: dict | None = None,
    grid: Sequence[Sequence[float]] | None = None,
    bounds: Sequence[tuple[float, float]] | None = None,
    scales: tuple[float, float] | None = None,
) -> SurfaceFit:
    """Fit all five surface parameters directly (Chinchilla Approach 3).

    ``n_refine`` local fits start from the best grid points (default 1, and
    :data:`CHINCHILLA_REFINE` for ``"chinchilla"``); the lowest objective wins.
    ``jac`` is ``"analytic"`` or a finite-difference scheme (``"2-point"``,
    ``"3-point"``); ``seed`` draws the naive variant's single start. ``start`` replaces
    the grid (or random) start with one point, in the variant's own parameters
    (``E, A, B, alpha, beta``; ``e, a, b, alpha, beta`` for ``"chinchilla"`` and
    ``"normalised"``); ``options`` override the L-BFGS-B options (``ftol``, ``gtol``,
    ``maxiter``, ...). ``grid`` (five arrays of values, in the variant's parameters) and
    ``bounds`` (five ``(low, high)`` pairs) replace the default start grid and box, so
    that the book can show how much the outcome depends on them; ``scales`` sets the
    normalised variant's ``(N0, D0)`` (default: the runs' geometric means).
    """
    from scipy.optimize import minimize  # scipy.optimize loads on first use

    check_option("variant", variant, APPROACH3_VARIANTS)
    check_option("jac", jac, GRADIENTS)
    if n_refine is None:
        n_refine = CHINCHILLA_REFINE if variant == "chinchilla" else 1
    if int(n_refine) != n_refine or n_refine < 1:
        raise ValueError(f"n_refine must be a positive integer, got {n_refine!r}")
    data = validate_isoflops(df, min_rows=6, purpose="a 5-parameter surface fit")
    log_n, log_d, loss = np.log(data.params), np.log(data.tokens), data.loss
    options = {**_LBFGS_OPTIONS, "maxiter": max_iter, **(options or {})}
    if start is not None:
        start = np.asarray(start, dtype=float)
        if start.shape != (5,) or not np.all(np.isfinite(start)):
            raise ValueError(f"start must be 5 finite numbers, got {start!r}")
    grid = _check_grid(grid)
    bounds = _check_bounds(bounds)
    if scales is not None and variant != "normalised":
        raise ValueError(f"scales applies to the 'normalised' variant only, not {variant!r}")
    method = f"approach3/{variant}"
    at_bound: list[str] = []

    if variant == "chinchilla":
        if bounds is not None:
            raise ValueError("bounds do not apply to the 'chinchilla' variant (it is unbounded)")
        log_loss = np.log(loss)
        if start is None:
            starts = grid_points(grid or CHINCHILLA_GRID)
            values = _chinchilla_objective(starts, log_n, log_d, log_loss)
            best = starts[np.argsort(values, kind="stable")[:n_refine]]
        else:
            best = [start]
        fun, grad = _objective(_chinchilla_objective_and_grad, jac, log_n, log_d, log_loss)
        runs = [minimize(fun, x0, jac=grad, method="L-BFGS-B", options=options) for x0 in best]
        res = min(runs, key=lambda r: r.fun)
        E, A, B = np.exp(res.x[:3])
        alpha, beta = res.x[3:]
    else:
        if variant == "normalised":
            n0, d0 = input_scales(data.params, data.tokens) if scales is None else scales
            if not (np.isfinite([n0, d0]).all() and n0 > 0 and d0 > 0):
                raise ValueError(f"scales must be two positive numbers, got {scales!r}")
            log_n, log_d = log_n - np.log(n0), log_d - np.log(d0)
            rss_batch, rss_and_grad = _normalised_rss, _normalised_rss_and_grad
            default_grid, box = NORMALISED_GRID, bounds or NORMALISED_BOUNDS
        else:
            rss_batch, rss_and_grad = _raw_rss, _raw_rss_and_grad
            default_grid, box = RAW_GRID, bounds or RAW_BOUNDS
        if start is not None:
            best = [start]
        elif variant == "naive":
            if grid is not None:
                raise ValueError("grid does not apply to the 'naive' variant (one random start)")
            rng = np.random.default_rng(seed)
            best = [np.array([rng.uniform(lo, hi) for lo, hi in _NAIVE_RANGES])]
            best[0][1:3] = 10 ** best[0][1:3]
        else:
            starts = grid_points(grid or default_grid)
            values = rss_batch(starts, log_n, log_d, loss)
            best = starts[np.argsort(values, kind="stable")[:n_refine]]
        fun, grad = _objective(rss_and_grad, jac, log_n, log_d, loss)
        runs = [
            minimize(fun, x0, jac=grad, method="L-BFGS-B", bounds=box, options=options)
            for x0 in best
        ]
        res = min(runs, key=lambda r: r.fun)
        names = ("E", "A", "B", "alpha", "beta")
        at_bound = [
            name
            for name, v, (lo, hi) in zip(names, res.x, box, strict=True)
            if v - lo <= 1e-6 * max(1.0, abs(lo)) or hi - v <= 1e-6 * max(1.0, abs(hi))
        ]
        if variant == "normalised":
            e, a, b, alpha, beta = res.x
            with np.errstate(over="ignore"):
                E, A, B = np.exp(e), np.exp(a) * n0**alpha, np.exp(b) * d0**beta
        else:
            E, A, B, alpha, beta = res.x

    values = np.array([E, A, B, alpha, beta], dtype=float)
    if not np.all(np.isfinite(values)):
        raise FitError(f"{method}: the fit produced non-finite parameters {values.tolist()}")
    if min(A, B, alpha, beta) <= 0:
        raise FitError(
            f"{method}: the fit ended at A={A:.3g}, B={B:.3g}, alpha={alpha:.3g}, "
            f"beta={beta:.3g}; a loss surface needs all four positive"
        )
    status, message = _scipy_status(res), str(res.message)
    if at_bound and status is FitStatus.CONVERGED:
        status, message = FitStatus.BOUND_HIT, f"{', '.join(at_bound)} at the box bound"
    surface = LossSurface(E=float(E), A=float(A), B=float(B), alpha=float(alpha), beta=float(beta))
    resid = loss - surface.loss(data.params, data.tokens)
    return SurfaceFit(
        surface=surface,
        rss=float(resid @ resid),
        status=status,
        message=message,
        n_iter=int(sum(r.nit for r in runs)),
        method=method,
        n_points=data.n,
    )


#: The naive variant's random start: uniform E, log10 A, log10 B, alpha, beta.
_NAIVE_RANGES = ((0.1, 5.0), (1.0, 4.0), (1.0, 4.0), (0.05, 0.95), (0.05, 0.95))


def _check_grid(grid) -> tuple[np.ndarray, ...] | None:
    if grid is None:
        return None
    axes = tuple(np.atleast_1d(np.asarray(g, dtype=float)) for g in grid)
    if len(axes) != 5 or any(g.ndim != 1 or g.size == 0 for g in axes):
        raise ValueError("grid must be five non-empty 1-D sequences of start values")
    if not all(np.all(np.isfinite(g)) for g in axes):
        raise ValueError("grid values must be finite")
    return axes


def _check_bounds(bounds) -> tuple[tuple[float, float], ...] | None:
    if bounds is None:
        return None
    pairs = tuple((float(lo), float(hi)) for lo, hi in bounds)
    if len(pairs) != 5 or any(not lo < hi for lo, hi in pairs):
        raise ValueError(f"bounds must be five (low, high) pairs with low < high, got {bounds!r}")
    return pairs


def _objective(value_and_grad, jac: str, *args):
    """``(fun, jac)`` for ``scipy.optimize.minimize``: analytic or finite-difference gradient."""
    if jac == "analytic":
        return (lambda x: value_and_grad(x, *args)), True
    return (lambda x: value_and_grad(x, *args)[0]), jac
