"""VPNLS: variable projection over the two exponents, linear least squares for E, A, B.

For fixed ``(alpha, beta)`` the model ``E + A N**-alpha + B D**-beta`` is linear in
``(E, A, B)``, so those three are solved exactly and only the two exponents are
searched (Golub and Pereyra 1973). A coarse grid over ``[0.05, 0.95]**2`` is
evaluated in one batched solve (non-negative least squares, exact, on every grid
point) and seeds one of three refinements:

* ``"gauss-newton"`` (default): a trust-region Gauss-Newton/Levenberg-Marquardt
  iteration on the projected residual vector with its exact Jacobian, which
  converges quadratically when the residual vanishes (noise-free data);
* ``"nelder-mead"``: simplex search on the projected RSS with NNLS inside;
* ``"l-bfgs-b"``: quasi-Newton on the projected RSS with ordinary least squares
  inside and the gradient from the envelope theorem, ``dRSS/dalpha = -2 A r·dN**-alpha``;

or ``"grid"``: the grid alone, no refinement.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike

from ..surfaces import LossSurface
from .data import GRADIENTS, FitError, check_option, validate_isoflops
from .results import FitStatus, SurfaceFit

EXPONENT_BOUNDS: tuple[float, float] = (0.05, 0.95)
#: Objectives of :func:`fit_vpnls`: least squares, or Huber's loss on the residuals.
LOSSES: tuple[str, ...] = ("squared", "huber")
#: Default Huber threshold, in units of the loss (the Chinchilla paper's value).
HUBER_DELTA = 1e-3
VPNLS_METHODS: tuple[str, ...] = ("gauss-newton", "nelder-mead", "l-bfgs-b", "grid")
_EPS = np.finfo(float).eps
_BOUND_TOL = 1e-6


def exponent_grid(size: int) -> np.ndarray:
    """``size`` equally spaced exponents over ``EXPONENT_BOUNDS``."""
    return np.linspace(*EXPONENT_BOUNDS, int(size))


def projected_rss_grid(
    log_n: np.ndarray,
    log_d: np.ndarray,
    loss: np.ndarray,
    alphas: np.ndarray,
    betas: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """Non-negative least-squares RSS and ``(E, A, B)`` at every ``(alpha, beta)`` pair.

    Returns ``rss`` of shape ``(len(alphas), len(betas))`` and ``coef`` of shape
    ``(len(alphas), len(betas), 3)``. The NNLS optimum of a 3-column problem is the
    feasible active-set solution with the smallest RSS, so the full model and, where
    it breaks non-negativity, the six smaller active sets are solved in closed form
    from Gram sums: one matrix product covers the whole grid, with no Python loop
    over grid points.
    """
    x = np.exp(np.multiply.outer(-np.asarray(alphas, float), log_n))  # (na, n): N**-alpha
    y = np.exp(np.multiply.outer(-np.asarray(betas, float), log_d))  # (nb, n): D**-beta
    lm = loss.mean()
    lc = loss - lm
    sll = lc @ lc
    xm, ym = x.mean(axis=1)[:, None], y.mean(axis=1)[None, :]
    xc, yc = x - xm, y - ym.T
    sxx, syy = np.einsum("ij,ij->i", xc, xc)[:, None], np.einsum("ij,ij->i", yc, yc)[None, :]
    sxl, syl = (xc @ lc)[:, None], (yc @ lc)[None, :]
    sxy = xc @ yc.T
    with np.errstate(divide="ignore", invalid="ignore"):
        det = sxx * syy - sxy**2
        A = (syy * sxl - sxy * syl) / det
        B = (sxx * syl - sxy * sxl) / det
        E = lm - A * xm - B * ym
        rss = sll - A * sxl - B * syl
        ok = (det > 0) & (A >= 0) & (B >= 0) & (E >= 0)
        rss = np.where(ok, rss, np.inf)
        if not ok.all():
            zero = 0.0
            gxx, gyy = np.einsum("ij,ij->i", x, x)[:, None], np.einsum("ij,ij->i", y, y)[None, :]
            gxl, gyl, gll = (x @ loss)[:, None], (y @ loss)[None, :], loss @ loss
            gxy = x @ y.T
            det2 = gxx * gyy - gxy**2
            a2 = (gyy * gxl - gxy * gyl) / det2
            b2 = (gxx * gyl - gxy * gxl) / det2
            a_e, b_e = sxl / sxx, syl / syy
            candidates = (  # (rss, E, A, B, feasible) of each smaller active set
                (sll - sxl * a_e, lm - a_e * xm, a_e, zero, (a_e >= 0) & (lm >= a_e * xm)),
                (sll - syl * b_e, lm - b_e * ym, zero, b_e, (b_e >= 0) & (lm >= b_e * ym)),
                (sll, lm, zero, zero, True),
                (gll - a2 * gxl - b2 * gyl, zero, a2, b2, (det2 > 0) & (a2 >= 0) & (b2 >= 0)),
                (gll - gxl**2 / gxx, zero, gxl / gxx, zero, True),
                (gll - gyl**2 / gyy, zero, zero, gyl / gyy, True),
            )
            for c_rss, c_e, c_a, c_b, c_ok in candidates:
                better = c_ok & (c_rss < rss)
                rss = np.where(better, c_rss, rss)
                E, A, B = (np.where(better, c, v) for c, v in ((c_e, E), (c_a, A), (c_b, B)))
    return np.maximum(rss, 0.0), np.stack(np.broadcast_arrays(E, A, B), axis=-1)


@dataclass
class _Projection:
    """The projected problem at one ``(alpha, beta)``, evaluated accurately through QR."""

    log_n: np.ndarray
    log_d: np.ndarray
    loss: np.ndarray
    _cache: dict = field(default_factory=dict)

    def design(self, theta: np.ndarray) -> np.ndarray:
        x = np.exp(-theta[0] * self.log_n)
        y = np.exp(-theta[1] * self.log_d)
        return np.column_stack([np.ones_like(x), x, y])

    def ols(self, theta: np.ndarray) -> dict:
        key = (float(theta[0]), float(theta[1]))
        hit = self._cache.get("ols")
        if hit is not None and hit["key"] == key:
            return hit
        X = self.design(theta)
        q, r = np.linalg.qr(X)
        coef = np.linalg.solve(r, q.T @ self.loss)
        resid = self.loss - X @ coef
        out = {"key": key, "X": X, "q": q, "r": r, "coef": coef, "resid": resid}
        self._cache["ols"] = out
        return out

    def residual(self, theta: np.ndarray) -> np.ndarray:
        return self.ols(theta)["resid"]

    def jacobian(self, theta: np.ndarray) -> np.ndarray:
        """Exact Jacobian of the projected residual (Golub-Pereyra)."""
        s = self.ols(theta)
        X, q, r, coef, resid = s["X"], s["q"], s["r"], s["coef"], s["resid"]
        r_inv_t = np.linalg.inv(r).T  # R^{-T}, 3 x 3
        jac = np.empty((X.shape[0], 2))
        for k, (col, log_v) in enumerate(((1, self.log_n), (2, self.log_d))):
            d_col = -log_v * X[:, col]  # derivative of the column wrt its exponent
            v = d_col * coef[col]
            proj = v - q @ (q.T @ v)
            jac[:, k] = -proj - q @ (r_inv_t[:, col] * (d_col @ resid))
        return jac

    def rss_ols(self, theta: np.ndarray) -> float:
        resid = self.residual(theta)
        return float(resid @ resid)

    def rss_ols_grad(self, theta: np.ndarray) -> np.ndarray:
        """Envelope theorem: only the explicit dependence on the exponents remains."""
        s = self.ols(theta)
        X, coef, resid = s["X"], s["coef"], s["resid"]
        return np.array(
            [
                2.0 * coef[1] * np.dot(resid, self.log_n * X[:, 1]),
                2.0 * coef[2] * np.dot(resid, self.log_d * X[:, 2]),
            ]
        )

    def nnls(self, theta: np.ndarray) -> tuple[np.ndarray, float]:
        """Non-negative ``(E, A, B)`` and RSS: OLS when it is feasible, NNLS otherwise."""
        s = self.ols(theta)
        if np.all(s["coef"] >= 0):
            return s["coef"], float(s["resid"] @ s["resid"])
        from scipy.optimize import nnls  # scipy.optimize loads on first use

        coef, rnorm = nnls(s["X"], self.loss)
        return coef, float(rnorm**2)


def fit_vpnls(
    df: pd.DataFrame,
    method: str = "gauss-newton",
    grid_size: int = 32,
    max_iter: int = 1000,
    jac: str = "analytic",
    *,
    loss: str = "squared",
    delta: float = HUBER_DELTA,
    weights: ArrayLike | str | None = None,
) -> SurfaceFit:
    """Fit ``E + A/N**alpha + B/D**beta`` by variable projection.

    ``method`` picks the refinement after the ``grid_size × grid_size`` exponent grid
    (see the module docstring). ``jac`` applies to ``"l-bfgs-b"``: the envelope-theorem
    gradient (``"analytic"``) or finite differences (``"2-point"``, ``"3-point"``).
    ``loss="huber"`` minimises ``sum w_i huber_delta(r_i)`` over the residuals of the
    loss itself (``delta`` in loss units), and ``weights`` (one positive number per run,
    or the name of a column of ``df``) weights each run's term; see :mod:`.robust`.
    Returns a :class:`SurfaceFit`; soft problems (bound hit, iteration limit, abnormal
    line search) are reported in ``status``.
    """
    check_option("method", method, VPNLS_METHODS)
    check_option("jac", jac, GRADIENTS)
    check_option("loss", loss, LOSSES)
    if int(grid_size) != grid_size or grid_size < 2:
        raise ValueError(f"grid_size must be an integer >= 2, got {grid_size!r}")
    if loss != "squared" or weights is not None:
        from .robust import fit_vpnls_robust

        return fit_vpnls_robust(df, method, int(grid_size), max_iter, loss, delta, weights)
    data = validate_isoflops(df, min_rows=6, purpose="a 5-parameter surface fit")
    prob = _Projection(np.log(data.params), np.log(data.tokens), data.loss)

    grid = exponent_grid(grid_size)
    rss_grid, coef_grid = projected_rss_grid(prob.log_n, prob.log_d, prob.loss, grid, grid)
    i, j = np.unravel_index(np.argmin(rss_grid), rss_grid.shape)
    theta0 = np.array([grid[i], grid[j]])
    n_iter, status, message = 0, FitStatus.CONVERGED, "grid search only"

    if method == "grid":
        theta, coef = theta0, coef_grid[i, j]
    else:
        if method == "gauss-newton":
            theta, n_iter, status, message = _refine_gauss_newton(prob, theta0, max_iter)
        elif method == "l-bfgs-b":
            theta, n_iter, status, message = _refine_lbfgsb(prob, theta0, max_iter, jac)
        else:
            theta, n_iter, status, message = _refine_nelder_mead(prob, theta0, max_iter)
        coef, _ = prob.nnls(theta)
        if method != "nelder-mead" and np.any(prob.ols(theta)["coef"] < 0):
            theta, extra, status, message = _refine_nelder_mead(prob, theta0, max_iter)
            n_iter += extra
            coef, _ = prob.nnls(theta)
            message = (
                "ordinary least squares gave a negative E, A or B; "
                f"refined with NNLS inside instead: {message}"
            )

    name = f"vpnls/{method}" + ("" if jac == "analytic" or method != "l-bfgs-b" else f"/{jac}")
    return _finish(prob, theta, coef, n_iter, status, message, name, data.n)


def _finish(prob, theta, coef, n_iter, status, message, method, n_points) -> SurfaceFit:
    E, A, B = (float(v) for v in coef)
    alpha, beta = (float(v) for v in theta)
    if not np.all(np.isfinite([E, A, B, alpha, beta])):
        raise FitError(f"{method}: the fit produced non-finite parameters {[E, A, B, alpha, beta]}")
    # A term whose variation over the runs is negligible is not identified: the data
    # fit as well with A = 0 (or B = 0), and its exponent is arbitrary.
    X = prob.design(theta)
    spread = np.ptp(prob.loss) + np.finfo(float).tiny
    for col, name, exponent, what in ((1, "A", "alpha", "model size"), (2, "B", "beta", "data")):
        value = (E, A, B)[col]
        if value <= 0 or value * np.ptp(X[:, col]) <= 1e-9 * spread:
            raise FitError(
                f"{method}: the best fit sets {name} = 0, so the data do not identify "
                f"{exponent}; the loss does not fall with {what} in these runs"
            )
    lo, hi = EXPONENT_BOUNDS
    at_bound = [
        n for n, v in (("alpha", alpha), ("beta", beta)) if min(v - lo, hi - v) < _BOUND_TOL
    ]
    if at_bound and status is FitStatus.CONVERGED:
        status = FitStatus.BOUND_HIT
        message = f"{', '.join(at_bound)} at the search bound [{lo}, {hi}]"
    resid = prob.loss - prob.design(theta) @ np.array([E, A, B])
    return SurfaceFit(
        surface=LossSurface(E=E, A=A, B=B, alpha=alpha, beta=beta),
        rss=float(resid @ resid),
        status=status,
        message=message,
        n_iter=int(n_iter),
        method=method,
        n_points=n_points,
    )


def _inside(theta: np.ndarray) -> np.ndarray:
    lo, hi = EXPONENT_BOUNDS
    return np.clip(theta, lo + 1e-12, hi - 1e-12)


def _refine_gauss_newton(prob: _Projection, theta0: np.ndarray, max_iter: int):
    """Levenberg-Marquardt on the projected residual, steps projected onto the bounds.

    A two-parameter problem needs no general-purpose solver: each iteration is one
    QR of the ``n × 3`` design and a ``2 × 2`` solve, and the exact Jacobian makes
    the iteration quadratically convergent when the residual vanishes.
    """
    lo, hi = EXPONENT_BOUNDS
    theta = _inside(theta0)
    r = prob.residual(theta)
    f = float(r @ r)
    jac = prob.jacobian(theta)
    damping, growth = None, 2.0
    for it in range(1, max_iter + 1):
        grad = jac.T @ r
        hess = jac.T @ jac
        if damping is None:
            damping = 1e-6 * float(np.max(np.diag(hess)))
        # Exponents held at a bound by a gradient pointing outwards stay fixed this step.
        free = ~(((theta <= lo) & (grad > 0)) | ((theta >= hi) & (grad < 0)))
        if f == 0.0 or not np.any(grad[free]):
            return theta, it, FitStatus.CONVERGED, "zero residual or zero projected gradient"
        step = np.zeros(2)
        h_free = hess[np.ix_(free, free)]
        step[free] = np.linalg.solve(h_free + damping * np.diag(np.diag(h_free)), -grad[free])
        if np.linalg.norm(step) <= 4 * _EPS * (np.linalg.norm(theta) + _EPS):
            return theta, it, FitStatus.CONVERGED, "step below machine precision"
        trial = np.clip(theta + step, lo, hi)
        r_trial = prob.residual(trial)
        f_trial = float(r_trial @ r_trial)
        if f_trial < f:
            moved = trial - theta
            predicted = f - float(np.sum((r + jac @ moved) ** 2))
            gain = (f - f_trial) / predicted if predicted > 0 else 0.0
            damping *= max(1.0 / 3.0, 1.0 - (2.0 * gain - 1.0) ** 3)
            growth = 2.0
            small_step = np.linalg.norm(moved) <= 4 * _EPS * (np.linalg.norm(theta) + _EPS)
            small_gain = f - f_trial <= 4 * _EPS * f
            theta, r, f = trial, r_trial, f_trial
            jac = prob.jacobian(theta)
            if small_step or small_gain:
                return theta, it, FitStatus.CONVERGED, "step or decrease below machine precision"
        else:
            damping *= growth
            growth *= 2.0
            if damping > 1e16 * float(np.max(np.diag(hess))):
                return theta, it, FitStatus.CONVERGED, "no further decrease possible"
    return theta, max_iter, FitStatus.MAX_ITER, f"iteration limit ({max_iter}) reached"


def _refine_lbfgsb(prob: _Projection, theta0: np.ndarray, max_iter: int, jac: str = "analytic"):
    from scipy.optimize import minimize

    scale = max(prob.rss_ols(theta0), np.finfo(float).tiny)

    if jac == "analytic":

        def fun(theta):
            return prob.rss_ols(theta) / scale, prob.rss_ols_grad(theta) / scale

    else:

        def fun(theta):
            return prob.rss_ols(theta) / scale

    res = minimize(
        fun,
        _inside(theta0),
        jac=True if jac == "analytic" else jac,
        method="L-BFGS-B",
        bounds=[EXPONENT_BOUNDS] * 2,
        options={"ftol": 1e-15, "gtol": 1e-15, "maxiter": max_iter},
    )
    return res.x, res.nit, _scipy_status(res), str(res.message)


def _refine_nelder_mead(prob: _Projection, theta0: np.ndarray, max_iter: int):
    from scipy.optimize import minimize

    scale = max(prob.nnls(theta0)[1], np.finfo(float).tiny)
    res = minimize(
        lambda theta: prob.nnls(theta)[1] / scale,
        _inside(theta0),
        method="Nelder-Mead",
        bounds=[EXPONENT_BOUNDS] * 2,
        options={"xatol": 1e-13, "fatol": 1e-14, "maxiter": max_iter, "maxfev": 4 * max_iter},
    )
    return res.x, res.nit, _scipy_status(res), str(res.message)


def _scipy_status(res) -> FitStatus:
    message = str(res.message).lower()
    if "abnormal" in message:
        return FitStatus.LINE_SEARCH
    if "maximum" in message or "limit" in message:
        return FitStatus.MAX_ITER
    return FitStatus.CONVERGED
