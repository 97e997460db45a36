"""Weighted and Huber variable projection: the non-default objectives of ``fit_vpnls``.

The weighted squared loss ``sum w_i r_i**2`` is ordinary VPNLS on rows scaled by
``sqrt(w_i)``: the same coarse grid (weighted, in one batched solve) and the same
refinements. The Huber objective ``F(alpha, beta) = min_{E,A,B} sum w_i rho(r_i)``
with ``rho(r) = r**2/2`` for ``|r| <= delta`` and ``delta (|r| - delta/2)`` beyond,
acting on the residuals ``r`` of the loss itself, keeps the projection exact:

* for each exponent pair, ``(E, A, B)`` minimise the convex, piecewise-quadratic
  Huber sum exactly (:func:`huber_coefficients`: Newton steps on the quadratic pieces,
  a reweighted step when no piece has rank 3, a halving line search; a full step that
  keeps every residual on its side of ``delta`` is the exact minimiser);
* the exponents are refined by L-BFGS-B on ``F`` from the best point of the weighted
  least-squares grid, with the envelope theorem's gradient (only the explicit
  dependence on the exponents remains once ``(E, A, B)`` are optimal), so a point
  where it stops is a stationary point of the Huber objective itself.

On noise-free data every residual ends inside ``delta`` and the Huber fit is the
least-squares fit, so it recovers the surface to machine precision.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike

from .data import FitError, format_rows, validate_isoflops
from .results import FitStatus, SurfaceFit
from .vpnls import (
    _EPS,
    EXPONENT_BOUNDS,
    _finish,
    _inside,
    _Projection,
    _refine_gauss_newton,
    _refine_lbfgsb,
    _refine_nelder_mead,
    _scipy_status,
    exponent_grid,
)

#: Refinements available with ``loss="huber"`` (the others minimise a sum of squares).
HUBER_METHODS: tuple[str, ...] = ("gauss-newton", "grid")
#: Relative decrease of the Huber objective at which L-BFGS-B stops (statistically
#: negligible: the exponents then move by about 1e-6 of their noise-driven spread).
HUBER_FTOL = 1e-12


@dataclass
class _WeightedProjection(_Projection):
    """The projected problem on rows scaled by ``sqrt(w)`` (``loss`` already scaled)."""

    sw: np.ndarray | None = None

    def design(self, theta: np.ndarray) -> np.ndarray:
        return self.sw[:, None] * super().design(theta)


def resolve_weights(df: pd.DataFrame, weights: ArrayLike | str | None) -> np.ndarray:
    """One positive finite weight per run, from an array or a column name of ``df``."""
    n = len(df)
    if weights is None:
        return np.ones(n)
    if isinstance(weights, str):
        if weights not in df.columns:
            raise ValueError(
                f"weights names column {weights!r}, which the table does not have; "
                f"found {list(map(str, df.columns))}"
            )
        try:
            w = df[weights].to_numpy(dtype=float)
        except (TypeError, ValueError) as exc:
            raise ValueError(f"weights column {weights!r} must be numeric ({exc})") from None
        what = f"weights column {weights!r}"
    else:
        w = np.asarray(weights, dtype=float).ravel()
        what = "weights"
        if w.size != n:
            raise ValueError(f"weights must hold one value per run ({n}); got {w.size}")
    bad = ~np.isfinite(w) | (w <= 0)
    if bad.any():
        raise ValueError(
            f"{what} must be positive and finite; rows {format_rows(df.index.to_numpy()[bad])} "
            f"hold {format_rows(w[bad])}"
        )
    return w


def weighted_rss_grid(
    log_n: np.ndarray, log_d: np.ndarray, loss: np.ndarray, w: np.ndarray, grid: np.ndarray
) -> np.ndarray:
    """Weighted least-squares RSS at every ``(alpha, beta)`` of ``grid × grid`` (one batch).

    Closed form from weighted, centred Gram sums; points whose solution has a negative
    ``E``, ``A`` or ``B`` get ``inf`` (the grid only seeds the refinement).
    """
    x = np.exp(np.multiply.outer(-grid, log_n))
    y = np.exp(np.multiply.outer(-grid, log_d))
    total = w.sum()
    lm = w @ loss / total
    lc = loss - lm
    xm, ym = (x @ w / total)[:, None], (y @ w / total)[None, :]
    xc, yc = x - xm, y - ym.T
    sxx, syy = ((xc * xc) @ w)[:, None], ((yc * yc) @ w)[None, :]
    sxl, syl = ((xc * w) @ lc)[:, None], ((yc * w) @ lc)[None, :]
    sxy = (xc * w) @ yc.T
    with np.errstate(divide="ignore", invalid="ignore"):
        det = sxx * syy - sxy**2
        A = (syy * sxl - sxy * syl) / det
        B = (sxx * syl - sxy * sxl) / det
        E = lm - A * xm - B * ym
        rss = (lc * w) @ lc - A * sxl - B * syl
    return np.where((det > 0) & (A >= 0) & (B >= 0) & (E >= 0), rss, np.inf)


def huber(r: np.ndarray, delta: float) -> np.ndarray:
    """Huber's loss of each residual: ``r**2/2`` inside ``delta``, linear beyond."""
    a = np.abs(r)
    return np.where(a <= delta, 0.5 * r**2, delta * (a - 0.5 * delta))


def _full_rank(gram: np.ndarray) -> bool:
    """A 3×3 Gram matrix safely invertible: Hadamard ratio ``det / prod(diag)`` above 1e-12.

    The determinant by cofactors, on Python floats: this runs several times per inner
    solve, where ``np.linalg.det``'s call overhead was a quarter of a Huber fit's time.
    """
    (a, b, c), (d, e, f), (g, h, i) = gram.tolist()
    det = a * (e * i - f * h) - b * (d * i - f * g) + c * (d * h - e * g)
    return det > 1e-12 * (a * e * i)


def huber_coefficients(
    X: np.ndarray,
    y: np.ndarray,
    w: np.ndarray,
    delta: float,
    start: np.ndarray,
    max_iter: int = 100,
    pieces: tuple[np.ndarray, np.ndarray] | None = None,
) -> np.ndarray:
    """``c`` minimising ``sum w huber(y - X c)`` exactly (Newton on the quadratic pieces).

    ``pieces`` (which residuals were inside ``delta``, and the signs of the others, at a
    nearby problem's solution) gives a second start: that piece's exact minimiser, used
    when it beats ``start``; near the solution it is the solution.
    """
    scale = np.sqrt(np.einsum("ij,ij->j", X, X))
    Xs = X / scale
    c = np.asarray(start, dtype=float) * scale
    r = y - Xs @ c
    f = float(w @ huber(r, delta))
    if pieces is not None:
        inside, sign = pieces
        hq = (Xs.T * (w * inside)) @ Xs
        if _full_rank(hq):
            rhs = Xs.T @ (w * np.where(inside, y, delta * sign))
            c_p = np.linalg.solve(hq, rhs)
            r_p = y - Xs @ c_p
            f_p = float(w @ huber(r_p, delta))
            if f_p < f:
                c, r, f = c_p, r_p, f_p
                same = np.array_equal(np.abs(r) <= delta, inside)
                if same and np.array_equal(np.sign(r)[~inside], sign[~inside]):
                    return c / scale  # the piece's minimiser lies in its piece: exact
    quad = np.abs(r) <= delta
    for _ in range(max_iter):
        g = Xs.T @ (w * r.clip(-delta, delta))
        hq = (Xs.T * (w * quad)) @ Xs
        # Newton on the quadratic pieces when they have full rank (Hadamard ratio of the
        # Gram matrix well away from zero). Otherwise the step towards the minimiser of the
        # piece in which the three smallest residuals are also quadratic (the L1-like
        # solution interpolates about three runs); the line search below keeps descent.
        newton = _full_rank(hq)
        if not newton:
            near = quad.copy()
            near[np.argpartition(np.abs(r), 3)[:3]] = True
            hq = (Xs.T * (w * near)) @ Xs
            if not _full_rank(hq):  # reweighted, majorising step: always positive definite
                v = w * np.minimum(1.0, delta / np.maximum(np.abs(r), np.finfo(float).tiny))
                hq, near = (Xs.T * v) @ Xs, quad
            g = Xs.T @ (w * np.where(near, r, r.clip(-delta, delta)))
        step = np.linalg.solve(hq, g)
        t = 1.0
        for _ in range(60):
            ct = c + t * step
            rt = y - Xs @ ct
            ft = float(w @ huber(rt, delta))
            if ft <= f:
                break
            t *= 0.5
        else:
            break
        quad_t = np.abs(rt) <= delta
        same_pieces = bool((quad_t == quad).all())
        moved = t * np.linalg.norm(step)
        c, r, f, quad = ct, rt, ft, quad_t
        if (newton and t == 1.0 and same_pieces) or moved <= 4 * _EPS * np.linalg.norm(c):
            break
    return c / scale


@dataclass
class _HuberProblem:
    """Huber objective of the projected problem, with the exact inner ``(E, A, B)``."""

    base: _Projection
    w: np.ndarray
    delta: float
    pieces: tuple[np.ndarray, np.ndarray] | None = None

    def state(self, theta: np.ndarray, start: np.ndarray):
        """Exact ``(E, A, B)`` at ``theta``, the residuals, the objective and the design."""
        X = self.base.design(theta)
        y = self.base.loss
        coef = huber_coefficients(X, y, self.w, self.delta, start, pieces=self.pieces)
        r = y - X @ coef
        self.pieces = (np.abs(r) <= self.delta, np.sign(r))
        return coef, r, float(self.w @ huber(r, self.delta)), X


def _refine_huber(prob: _HuberProblem, theta0: np.ndarray, coef0: np.ndarray, max_iter: int):
    """Quasi-Newton (L-BFGS-B) on the projected Huber objective, exact inner solves.

    The gradient is the envelope theorem's: with ``(E, A, B)`` at their optimum only
    the explicit dependence on the exponents remains, ``dF/dalpha = A sum w psi(r) log N
    N**-alpha``. When every final residual lies inside ``delta`` the Huber fit is the
    weighted least-squares fit, which Gauss-Newton then polishes to machine precision.
    """
    from scipy.optimize import minimize

    base, w, delta = prob.base, prob.w, prob.delta
    last = {"coef": np.asarray(coef0, dtype=float)}

    def objective(theta):
        coef, r, f, X = prob.state(theta, last["coef"])
        last["coef"] = coef
        wpsi = w * r.clip(-delta, delta)
        grad = np.array(
            [coef[1] * (wpsi @ (base.log_n * X[:, 1])), coef[2] * (wpsi @ (base.log_d * X[:, 2]))]
        )
        return f / scale, grad / scale

    scale = max(prob.state(_inside(theta0), last["coef"])[2], np.finfo(float).tiny)
    res = minimize(
        objective,
        _inside(theta0),
        jac=True,
        method="L-BFGS-B",
        bounds=[EXPONENT_BOUNDS] * 2,
        options={"ftol": HUBER_FTOL, "gtol": 1e-12, "maxiter": max_iter},
    )
    theta, n_iter, status, message = res.x, res.nit, _scipy_status(res), str(res.message)
    coef, r, _, _ = prob.state(theta, last["coef"])
    if np.all(np.abs(r) <= delta):  # inside every quadratic piece: weighted least squares
        sw = np.sqrt(w)
        wprob = _WeightedProjection(base.log_n, base.log_d, sw * base.loss, sw=sw)
        polished, extra, _, _ = _refine_gauss_newton(wprob, theta, max_iter)
        c_p = wprob.ols(polished)["coef"]
        r_p = base.loss - base.design(polished) @ c_p
        if np.all(np.abs(r_p) <= delta) and np.all(c_p >= 0):
            theta, coef, n_iter = polished, c_p, n_iter + extra
            message = f"{message}; every residual inside delta: polished by Gauss-Newton"
    return theta, coef, n_iter, status, message


def _non_negative_huber(prob: _HuberProblem, theta: np.ndarray, start: np.ndarray) -> np.ndarray:
    """The Huber coefficients under ``E, A, B >= 0`` (bounded quasi-Newton, three unknowns)."""
    from scipy.optimize import minimize

    X = prob.base.design(theta)
    scale = np.linalg.norm(X, axis=0)
    Xs, y, w, delta = X / scale, prob.base.loss, prob.w, prob.delta

    def fun(c):
        r = y - Xs @ c
        return float(w @ huber(r, delta)), -(Xs.T @ (w * r.clip(-delta, delta)))

    x0 = np.maximum(np.asarray(start) * scale, 0.0)
    res = minimize(fun, x0, jac=True, method="L-BFGS-B", bounds=[(0.0, None)] * 3)
    return res.x / scale


def fit_vpnls_robust(
    df: pd.DataFrame,
    method: str,
    grid_size: int,
    max_iter: int,
    loss: str,
    delta: float,
    weights: ArrayLike | str | None,
) -> SurfaceFit:
    """``fit_vpnls`` with ``weights`` and/or ``loss="huber"`` (arguments checked there)."""
    if loss == "huber":
        if method not in HUBER_METHODS:
            raise ValueError(
                f"loss='huber' supports method {' or '.join(map(repr, HUBER_METHODS))}; "
                f"got {method!r}"
            )
        if not (np.isfinite(delta) and delta > 0):
            raise ValueError(f"delta must be a positive number (loss units), got {delta!r}")
    data = validate_isoflops(df, min_rows=6, purpose="a 5-parameter surface fit")
    w = resolve_weights(df, weights)
    base = _Projection(np.log(data.params), np.log(data.tokens), data.loss)
    sw = np.sqrt(w)
    wprob = _WeightedProjection(base.log_n, base.log_d, sw * data.loss, sw=sw)
    grid = exponent_grid(grid_size)
    rss_grid = weighted_rss_grid(base.log_n, base.log_d, data.loss, w, grid)
    if not np.isfinite(rss_grid).any():
        raise FitError(
            "vpnls: no exponent pair on the grid gives non-negative E, A, B by weighted "
            "least squares; the loss does not fall with model size and data in these runs"
        )
    i, j = np.unravel_index(np.argmin(rss_grid), rss_grid.shape)
    theta0 = np.array([grid[i], grid[j]])
    tag = "huber" if loss == "huber" else "weighted"
    name = f"vpnls/{method}/{tag}"
    n_iter, status, message = 0, FitStatus.CONVERGED, "grid search only"
    if loss == "huber":
        hprob = _HuberProblem(base, w, float(delta))
        start = wprob.ols(theta0)["coef"]
        if method == "grid":
            theta, coef = theta0, hprob.state(theta0, start)[0]
        else:
            theta, coef, n_iter, status, message = _refine_huber(hprob, theta0, start, max_iter)
        if np.any(coef < 0):
            coef = _non_negative_huber(hprob, theta, coef)
            message = f"the Huber fit gave a negative E, A or B; held at zero: {message}"
        return _finish(base, theta, coef, n_iter, status, message, name, data.n)
    if method == "grid":
        theta, coef = theta0, wprob.nnls(theta0)[0]
    else:
        refine = {
            "gauss-newton": _refine_gauss_newton,
            "nelder-mead": _refine_nelder_mead,
            "l-bfgs-b": _refine_lbfgsb,
        }[method]
        theta, n_iter, status, message = refine(wprob, theta0, max_iter)
        coef, _ = wprob.nnls(theta)
        if method != "nelder-mead" and np.any(wprob.ols(theta)["coef"] < 0):
            theta, extra, status, message = _refine_nelder_mead(wprob, theta0, max_iter)
            n_iter += extra
            coef, _ = wprob.nnls(theta)
            message = f"weighted least squares gave a negative E, A or B; NNLS inside: {message}"
    return _finish(base, theta, coef, n_iter, status, message, name, data.n)
