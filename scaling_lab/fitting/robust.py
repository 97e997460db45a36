"""Weighted and Huber variable projection: the non-default objectives of ``fit_vpnls``.

The weighted squared loss ``sum w_i r_i**2`` is ordinary VPNLS on rows scaled by
``sqrt(w_i)``: the same coarse grid (weighted, in one batched solve) and the same
refinements. The Huber objective ``F(alpha, beta) = min_{E,A,B} sum w_i rho(r_i)``
with ``rho(r) = r**2/2`` for ``|r| <= delta`` and ``delta (|r| - delta/2)`` beyond,
acting on the residuals ``r`` of the loss itself, keeps the projection exact:

* for each exponent pair, ``(E, A, B)`` minimise the convex, piecewise-quadratic
  Huber sum exactly (:func:`huber_coefficients`: Newton steps on the quadratic pieces,
  an exact line search where a step overshoots or a piece lacks rank 3; a full step
  that keeps every residual on its side of ``delta`` is the exact minimiser);
* the exponents are refined on ``F`` from the best point of the weighted
  least-squares grid by a trust-region Newton iteration (:func:`_refine_huber`), with
  the envelope theorem's gradient (only the explicit dependence on the exponents
  remains once ``(E, A, B)`` are optimal) and the exact Hessian of the current
  quadratic piece, so a point where it stops is a stationary point of the Huber
  objective itself.

On noise-free data every residual ends inside ``delta`` and the Huber fit is the
least-squares fit, so it recovers the surface to machine precision.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike

from .data import FitError, format_rows, validate_isoflops
from .results import FitStatus, SurfaceFit
from .vpnls import (
    _BOUND_TOL,
    EXPONENT_BOUNDS,
    _finish,
    _inside,
    _Projection,
    _refine_gauss_newton,
    _refine_lbfgsb,
    _refine_nelder_mead,
    exponent_grid,
)

#: Refinements available with ``loss="huber"`` (the others minimise a sum of squares).
HUBER_METHODS: tuple[str, ...] = ("gauss-newton", "grid")
#: Relative decrease of the Huber objective at which the refinement stops, once the
#: gradient is small too (statistically negligible: the exponents then move by about
#: 1e-6 of their noise-driven spread).
HUBER_FTOL = 1e-12
#: Largest projected gradient, over the objective at the start, at which a Huber fit
#: counts as stationary (the published sets' stationary points have 1e-7 or less; a
#: stall at a kink leaves order 1).
HUBER_GTOL = 1e-5
#: First trust radius of the Newton refinement, in exponent units: a little under two
#: steps of the 32-point exponent grid it starts from (it grows while the model holds).
HUBER_RADIUS = 0.05


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
    """Huber's loss of each residual: ``r**2/2`` inside ``delta``, linear beyond.

    The piecewise definition, kept as the reference; the fitter sums it through
    :func:`_huber_sum`, which shares one clip with the gradient.
    """
    a = np.abs(r)
    return np.where(a <= delta, 0.5 * r**2, delta * (a - 0.5 * delta))


def _cofactors3(gram: np.ndarray) -> tuple[tuple[float, ...], float] | None:
    """Cofactors ``(a, b, c, e, f, i)`` (upper triangle) and determinant of a symmetric
    3×3 ``gram``, or None when it is nearly singular: Hadamard ratio
    ``det / prod(diag)`` at most 1e-12. On Python floats: this runs several times per
    inner solve, where ``np.linalg.solve`` and ``det`` cost more than the arithmetic."""
    (a, b, c), (_, e, f), (_, _, i) = gram.tolist()
    co_a, co_b, co_c = e * i - f * f, c * f - b * i, b * f - c * e
    det = a * co_a + b * co_b + c * co_c
    if not det > 1e-12 * (a * e * i):
        return None
    return (co_a, co_b, co_c, a * i - c * c, b * c - a * f, a * e - b * b), det


def _solve3(gram: np.ndarray, rhs: np.ndarray) -> np.ndarray | None:
    """``gram^-1 rhs`` for a symmetric 3×3 ``gram``, or None when it is nearly singular
    (:func:`_cofactors3`)."""
    found = _cofactors3(gram)
    if found is None:
        return None
    (co_a, co_b, co_c, co_e, co_f, co_i), det = found
    u, v, t = rhs.tolist()
    return np.array(
        [
            (co_a * u + co_b * v + co_c * t) / det,
            (co_b * u + co_e * v + co_f * t) / det,
            (co_c * u + co_f * v + co_i * t) / det,
        ]
    )


def _huber_sum(r: np.ndarray, w: np.ndarray, delta: float) -> tuple[float, np.ndarray]:
    """``sum w huber(r)`` and ``psi(r) = clip(r, -delta, delta)``, from one clip.

    ``huber(r) = psi (r - psi / 2)``: ``r**2/2`` inside ``delta``, ``delta (|r| - delta/2)``
    beyond.
    """
    psi = np.minimum(np.maximum(r, -delta), delta)
    return float(w @ (psi * (r - 0.5 * psi))), psi


def huber_line_search(
    r: np.ndarray, a: np.ndarray, w: np.ndarray, delta: float, slope0: float
) -> float:
    """``t >= 0`` minimising ``sum w huber(r - t a)``, exactly; ``slope0 < 0`` at ``t = 0``.

    Along a line the objective is convex and piecewise quadratic: run ``i`` contributes
    curvature ``w a**2`` while ``|r - t a| <= delta``. Sorting the times at which runs
    enter and leave that band gives the derivative at every breakpoint by cumulative
    sums, and the zero lies on the linear stretch where it changes sign.
    """
    moving = a != 0
    r, a, w = r[moving], a[moving], w[moving]
    enter, leave = (r - delta) / a, (r + delta) / a
    enter, leave = np.minimum(enter, leave), np.maximum(enter, leave)
    ahead = leave > 0
    curvature = (w * a * a)[ahead]
    times = np.concatenate((np.maximum(enter[ahead], 0.0), leave[ahead]))
    order = np.argsort(times, kind="stable")
    times = times[order]
    curv = np.cumsum(np.concatenate((curvature, -curvature))[order])
    slope = slope0 + np.concatenate(([0.0], np.cumsum(curv[:-1] * np.diff(times))))
    crossed = np.flatnonzero(slope >= 0)
    if times.size == 0 or (crossed.size and crossed[0] == 0):
        return 0.0  # no run's residual moves, or not a descent direction
    if crossed.size == 0:  # rounding only: past every breakpoint the slope is positive
        return float(times[-1])
    k = crossed[0]
    return float(times[k - 1] - slope[k - 1] / curv[k - 1])


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
    XsT = Xs.T
    c = np.asarray(start, dtype=float) * scale
    r = y - Xs @ c
    f, psi = _huber_sum(r, w, delta)
    if pieces is not None:
        inside, sign = pieces
        wq = w * inside
        c_p = _solve3((XsT * wq) @ Xs, XsT @ (w * np.where(inside, y, delta * sign)))
        if c_p is not None:
            r_p = y - Xs @ c_p
            f_p, psi_p = _huber_sum(r_p, w, delta)
            if f_p < f:
                c, r, f, psi = c_p, r_p, f_p, psi_p
                same = np.array_equal(np.abs(r) <= delta, inside)
                if same and np.array_equal(np.sign(r)[~inside], sign[~inside]):
                    return c / scale  # the piece's minimiser lies in its piece: exact
    quad = np.abs(r) <= delta
    ridge = None
    for _ in range(max_iter):
        # Newton on the quadratic pieces when they have full rank (Hadamard ratio of the
        # Gram matrix well away from zero): a full step that lowers the objective and
        # keeps every residual in its piece lands on the exact minimiser. Otherwise (a
        # rank-deficient piece, as when few residuals lie inside delta and the problem
        # approaches L1 regression, or a full step that overshoots) an exact line search
        # along the step, lightly regularised where the piece lacks rank: the objective
        # is convex and piecewise quadratic along any line, so its minimiser there is
        # found from the sorted breakpoints. When no step lowers the objective, ``c`` is
        # its minimiser to working precision.
        g = XsT @ (w * psi)
        hq = (XsT * (w * quad)) @ Xs
        step = _solve3(hq, g)
        if step is not None:
            c_new = c + step
            r_new = y - Xs @ c_new
            f_new, psi_new = _huber_sum(r_new, w, delta)
            quad_new = np.abs(r_new) <= delta
            exact = np.array_equal(quad_new, quad) and np.array_equal(
                np.sign(r_new[~quad_new]), np.sign(r[~quad])
            )
            # A step that keeps every residual in its piece lands on the exact minimiser;
            # take it also where rounding hides its (second-order) decrease.
            if f_new < f or (exact and f_new <= f * (1 + 1e-13)):
                c, r, f, psi, quad = c_new, r_new, f_new, psi_new, quad_new
                if exact:
                    break
                continue
        else:
            if ridge is None:
                ridge = 1e-6 * ((XsT * w) @ Xs) + 1e-12 * np.eye(3)
            step = np.linalg.solve(hq + ridge, g)
        t = huber_line_search(r, Xs @ step, w, delta, -float(g @ step))
        c_new = c + t * step
        r_new = y - Xs @ c_new
        f_new, psi_new = _huber_sum(r_new, w, delta)
        if not (t > 0 and f_new < f):
            break
        c, r, f, psi, quad = c_new, r_new, f_new, psi_new, np.abs(r_new) <= delta
    return c / scale


@dataclass
class _HuberState:
    """The projected Huber problem at one exponent pair, with its exact ``(E, A, B)``.

    ``columns`` holds, per run, ``1, x, z, ux, vz, uux, vvz`` with ``x = N**-alpha``,
    ``z = D**-beta``, ``u = log N`` and ``v = log D``: the design (first three) and what
    its derivatives in the exponents are made of. ``moments`` is ``w psi(r)`` times
    each column, summed over the runs.
    """

    theta: np.ndarray
    coef: np.ndarray
    resid: np.ndarray
    value: float
    columns: np.ndarray
    moments: np.ndarray

    @property
    def gradient(self) -> np.ndarray:
        """Envelope theorem: ``dF/dalpha = A sum w psi(r) log N N**-alpha`` (and for beta)."""
        return self.coef[1:] * self.moments[3:5]


@dataclass
class _HuberProblem:
    """Huber objective of the projected problem, with the exact inner ``(E, A, B)``."""

    base: _Projection
    w: np.ndarray
    delta: float

    def columns(self, theta: np.ndarray) -> np.ndarray:
        """The design and the factors of its exponent derivatives at ``theta`` (see
        :class:`_HuberState`)."""
        log_n, log_d = self.base.log_n, self.base.log_d
        out = np.empty((log_n.size, 7))
        out[:, 0] = 1.0
        out[:, 1] = np.exp(-theta[0] * log_n)
        out[:, 2] = np.exp(-theta[1] * log_d)
        out[:, 3] = log_n * out[:, 1]
        out[:, 4] = log_d * out[:, 2]
        out[:, 5] = log_n * out[:, 3]
        out[:, 6] = log_d * out[:, 4]
        return out

    def state(self, theta: np.ndarray, near: _HuberState | np.ndarray) -> _HuberState:
        """Exact ``(E, A, B)`` at ``theta``, started from a nearby state (its coefficients
        and its quadratic piece) or from coefficients alone."""
        columns = self.columns(theta)
        X = columns[:, :3]
        y, w, delta = self.base.loss, self.w, self.delta
        if isinstance(near, _HuberState):
            start, pieces = near.coef, (np.abs(near.resid) <= delta, np.sign(near.resid))
        else:
            start, pieces = near, None
        coef = huber_coefficients(X, y, w, delta, start, pieces=pieces)
        r = y - X @ coef
        value, psi = _huber_sum(r, w, delta)
        moments = (w * psi) @ columns
        theta = np.asarray(theta, dtype=float)
        return _HuberState(theta, coef, r, value, columns, moments)

    def hessian(self, s: _HuberState) -> tuple[float, float, float] | None:
        """Exact Hessian ``(h_aa, h_ab, h_bb)`` of the projected objective on the current
        quadratic piece.

        With ``Q(theta, c) = sum w huber(r)`` and ``c`` at its optimum, the Hessian of
        ``F(theta) = min_c Q`` is the Schur complement ``Q_tt - Q_tc Q_cc^-1 Q_ct``;
        only runs inside ``delta`` carry curvature. None where the runs inside ``delta``
        do not determine ``(E, A, B)`` (fewer than three, or nearly collinear): there
        the inner minimiser is not unique and the piece has no Hessian.
        """
        rows = np.flatnonzero(np.abs(s.resid) <= self.delta)
        if rows.size < 3:
            return None
        _, a, b = s.coef.tolist()
        # [design | dr/dalpha, dr/dbeta] on the runs inside delta, and its weighted Gram
        m = s.columns[rows, :5] * np.array([1.0, 1.0, 1.0, a, b])
        gram = (m.T * self.w[rows]) @ m
        scale = np.sqrt(gram.diagonal()[:3])
        q_ct = -gram[:3, 3:] / scale[:, None]  # mixed second derivatives, plus psi times
        q_ct[1, 0] += s.moments[3] / scale[1]  # d2 r / dc dtheta
        q_ct[2, 1] += s.moments[4] / scale[2]
        inverse = _inverse3(gram[:3, :3] / np.outer(scale, scale))
        if inverse is None:
            return None
        h = gram[3:, 3:] - q_ct.T @ inverse @ q_ct
        h_aa = float(h[0, 0]) - a * float(s.moments[5])
        h_bb = float(h[1, 1]) - b * float(s.moments[6])
        return h_aa, float(h[0, 1]), h_bb


def _inverse3(gram: np.ndarray) -> np.ndarray | None:
    """Inverse of a symmetric 3×3 ``gram``, or None when nearly singular (:func:`_cofactors3`)."""
    found = _cofactors3(gram)
    if found is None:
        return None
    (co_a, co_b, co_c, co_e, co_f, co_i), det = found
    return np.array([[co_a, co_b, co_c], [co_b, co_e, co_f], [co_c, co_f, co_i]]) / det


def _positive_definite(h: tuple[float, float, float]) -> tuple[float, float, float] | None:
    """The symmetric 2×2 ``h`` with its eigenvalues replaced by their absolute values
    (floored at 1e-8 of the largest): a model whose minimiser is a descent direction also
    where the piece is not convex. Spectral projectors, no eigenvectors needed. None when
    ``h`` is zero or not finite."""
    p, q, t = h
    mean, half = 0.5 * (p + t), math.hypot(0.5 * (p - t), q)
    big, small = mean + half, mean - half
    largest = max(abs(big), abs(small))
    if not (math.isfinite(largest) and largest > 0.0):
        return None
    floor = 1e-8 * largest
    f_big, f_small = max(abs(big), floor), max(abs(small), floor)
    if half == 0.0:
        return f_big, 0.0, f_big
    # h = big P + small (I - P), with P = (h - small I) / (big - small), big - small = 2 half
    k = (f_big - f_small) / (2.0 * half)
    return f_small + k * (p - small), k * q, f_small + k * (t - small)


def _model_curvature(model: tuple[float, float, float], d: np.ndarray) -> float:
    """``d' model d`` for the symmetric 2×2 ``model`` held as ``(m_aa, m_ab, m_bb)``."""
    da, db = d.tolist()
    return model[0] * da * da + 2 * model[1] * da * db + model[2] * db * db


def _dogleg(
    model: tuple[float, float, float] | None, g: np.ndarray, held: np.ndarray, radius: float
) -> np.ndarray:
    """Powell's dogleg: the Newton step when it fits in the trust radius, else the path
    from the steepest-descent minimiser of the model (the Cauchy point) towards it, cut
    at the radius; steepest descent where there is no model yet."""
    gg = float(g @ g)
    if model is None:
        return -g * (radius / math.sqrt(gg))
    newton = _newton_step(model, g, held)
    if math.hypot(*newton.tolist()) <= radius:
        return newton
    gbg = _model_curvature(model, g)
    cauchy = -g * (gg / gbg)
    cauchy_length = math.sqrt(gg) * gg / gbg
    if cauchy_length >= radius:
        return -g * (radius / math.sqrt(gg))
    # cauchy + tau (newton - cauchy) with length radius, tau in [0, 1]
    d = newton - cauchy
    a, b, c = float(d @ d), 2 * float(cauchy @ d), cauchy_length**2 - radius**2
    tau = (-b + math.sqrt(b * b - 4 * a * c)) / (2 * a)
    return cauchy + tau * d


def _newton_step(model: tuple[float, float, float], g: np.ndarray, held: np.ndarray) -> np.ndarray:
    """``-model^-1 g`` over the exponents not held at a bound (2×2, in closed form)."""
    p, q, t = model
    ga, gb = g.tolist()
    if held[0]:
        return np.array([0.0, -gb / t])
    if held[1]:
        return np.array([-ga / p, 0.0])
    det = p * t - q * q
    return np.array([-(t * ga - q * gb) / det, -(p * gb - q * ga) / det])


def _refine_huber(prob: _HuberProblem, theta0: np.ndarray, coef0: np.ndarray, max_iter: int):
    """Trust-region Newton on the projected Huber objective, exact inner solves.

    The objective ``F(alpha, beta)`` is continuously differentiable where the inner
    minimiser is unique, and piecewise smooth: its Hessian changes where a run's
    residual crosses ``delta``. Each iteration models ``F`` by its exact gradient (the
    envelope theorem's) and the exact Hessian of the current piece
    (:meth:`_HuberProblem.hessian`, made positive definite; where a piece has none the
    last model is kept, steepest descent before any) and takes Powell's dogleg step in a
    trust radius that grows while the model predicts the decrease and shrinks when it
    does not. Far from the optimum the dogleg leans to steepest descent, where a piece's
    curvature says little about the next; on the final piece the iteration converges
    quadratically, without a quasi-Newton method's zig-zag across the pieces' seams
    (half the objective evaluations of L-BFGS-B on the published sets). When every final
    residual lies inside ``delta`` the Huber fit is the weighted least-squares fit, which
    Gauss-Newton then polishes to machine precision.
    """
    base, w, delta = prob.base, prob.w, prob.delta
    lo, hi = EXPONENT_BOUNDS
    s = prob.state(_inside(theta0), np.asarray(coef0, dtype=float))
    g = s.gradient
    f0 = max(s.value, np.finfo(float).tiny)
    radius, model = HUBER_RADIUS, None
    n_iter, status, message, fresh = 0, FitStatus.MAX_ITER, "", True
    while n_iter < max_iter:
        held = ((s.theta <= lo) & (g > 0)) | ((s.theta >= hi) & (g < 0))
        g_free = np.where(held, 0.0, g)
        stop = None
        if not g_free.any():
            stop = "zero projected gradient"
        else:
            if fresh:  # a new point: its piece's Hessian, or the last model where it has none
                piece = prob.hessian(s)
                pd = None if piece is None else _positive_definite(piece)
                model = model if pd is None else pd
                fresh = False
            step = _dogleg(model, g_free, held, radius)
            step = np.clip(s.theta + step, lo, hi) - s.theta
            length = math.hypot(*step.tolist())
            slope = float(g @ step)
            curvature = 0.0 if model is None else _model_curvature(model, step)
            predicted = -slope - 0.5 * curvature
            gap = _stationarity_gap(s.theta, g / f0)
            rounding = -slope <= 1e-13 * s.value or length <= 1e-15
            if rounding and gap <= HUBER_GTOL:
                stop = "predicted decrease below rounding"
        if stop is not None:
            status, message = FitStatus.CONVERGED, stop
            break
        trial = prob.state(s.theta + step, s)
        n_iter += 1
        if rounding:  # a step at rounding level: take it if it lowers the gradient
            if trial.value > s.value * (1 + 1e-14) or not (
                _stationarity_gap(trial.theta, trial.gradient / f0) < gap
            ):
                status, message = FitStatus.CONVERGED, "predicted decrease below rounding"
                break
            s, g, fresh = trial, trial.gradient, True
            continue
        ratio = (s.value - trial.value) / predicted if predicted > 0 else -1.0
        if ratio < 0.25:
            radius = 0.25 * length
        elif ratio > 0.75 and length >= 0.99 * radius:
            radius *= 2.0
        if trial.value < s.value and ratio > 1e-4:
            decrease = s.value - trial.value
            s, g, fresh = trial, trial.gradient, True
            if (
                decrease <= HUBER_FTOL * s.value
                and _stationarity_gap(s.theta, g / f0) <= HUBER_GTOL
            ):
                status, message = FitStatus.CONVERGED, "relative decrease below ftol"
                break
        elif radius <= 1e-14:
            status, message = FitStatus.CONVERGED, "trust radius below rounding"
            break
    else:
        message = f"iteration limit ({max_iter}) reached"
    gap = _stationarity_gap(s.theta, g / f0)
    if gap > HUBER_GTOL and status is FitStatus.CONVERGED:
        status = FitStatus.LINE_SEARCH
        message = f"{message}; stopped where the scaled gradient is {gap:.1e}, not stationary"
    theta, coef = s.theta, s.coef
    if np.all(np.abs(s.resid) <= delta):  # inside every quadratic piece: weighted least squares
        sw = np.sqrt(w)
        wprob = _WeightedProjection(base.log_n, base.log_d, sw * base.loss, sw=sw)
        polished, extra, _, _ = _refine_gauss_newton(wprob, theta, max_iter)
        c_p = wprob.ols(polished)["coef"]
        r_p = base.loss - base.design(polished) @ c_p
        if np.all(np.abs(r_p) <= delta) and np.all(c_p >= 0):
            theta, coef, n_iter = polished, c_p, n_iter + extra
            message = f"{message}; every residual inside delta: polished by Gauss-Newton"
    return theta, coef, n_iter, status, message


def _stationarity_gap(theta: np.ndarray, grad: np.ndarray) -> float:
    """Largest component of the gradient projected onto the exponent bounds."""
    lo, hi = EXPONENT_BOUNDS
    held = ((theta <= lo + _BOUND_TOL) & (grad > 0)) | ((theta >= hi - _BOUND_TOL) & (grad < 0))
    return float(np.max(np.abs(np.where(held, 0.0, grad))))


def _non_negative_huber(prob: _HuberProblem, theta: np.ndarray, start: np.ndarray) -> np.ndarray:
    """The Huber coefficients under ``E, A, B >= 0`` (bounded quasi-Newton, three unknowns)."""
    from scipy.optimize import minimize

    X = prob.base.design(theta)
    scale = np.linalg.norm(X, axis=0)
    Xs, y, w, delta = X / scale, prob.base.loss, prob.w, prob.delta

    def fun(c):
        f, psi = _huber_sum(y - Xs @ c, w, delta)
        return f, -(Xs.T @ (w * psi))

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
            theta, coef = theta0, hprob.state(theta0, start).coef
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
