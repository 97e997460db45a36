"""Warm-started VPNLS refits of many tables at once, for bootstrap draws.

A bootstrap draw differs little from the data it was drawn from, so its VPNLS fit
needs no coarse exponent grid: Levenberg-Marquardt (Gauss-Newton with damping) on the
projected residual, started from the full-data exponents, converges in a few steps.
:func:`refit_vpnls_batch` runs that iteration on all draws together, as batched QR
factorisations of the ``draws × runs × 3`` design, with the exact Golub-Pereyra
Jacobian of :func:`scaling_lab.fitting.vpnls.fit_vpnls`. A draw whose refit does not
converge, ends on the exponent bounds or needs a negative ``E, A`` or ``B`` is flagged
(``ok`` is ``False``) so that the caller can refit it from scratch with the full grid.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .fitting.vpnls import EXPONENT_BOUNDS

_EPS = np.finfo(float).eps
#: Exponents closer than this to a search bound count as "on the bound".
BOUND_MARGIN = 1e-6


@dataclass(frozen=True)
class BatchRefit:
    """Per-draw exponents ``theta (B, 2)``, ``coef = (E, A, B)`` ``(B, 3)``, RSS and flags."""

    theta: np.ndarray
    coef: np.ndarray
    rss: np.ndarray
    ok: np.ndarray
    n_iter: int

    @property
    def params(self) -> np.ndarray:
        """``(E, A, B, alpha, beta)`` per draw, shape ``(B, 5)``."""
        return np.column_stack([self.coef, self.theta])


def _project(theta, log_n, log_d, loss):
    """Batched projected problem at ``theta``: design, QR, OLS coefficients and residual."""
    X = np.empty((*loss.shape, 3))
    X[..., 0] = 1.0
    np.exp(-theta[:, :1] * log_n, out=X[..., 1])
    np.exp(-theta[:, 1:] * log_d, out=X[..., 2])
    q, r = np.linalg.qr(X)
    coef = np.linalg.solve(r, _qt(q, loss)[..., None])[..., 0]
    resid = loss - (X @ coef[..., None])[..., 0]
    return X, q, r, coef, resid


def _sumsq(v: np.ndarray) -> np.ndarray:
    """Row-wise sum of squares of ``v (B, n)``."""
    return (v[:, None, :] @ v[..., None])[:, 0, 0]


def _qt(q: np.ndarray, v: np.ndarray) -> np.ndarray:
    """``q^T v`` for stacked ``q (B, n, 3)`` and ``v (B, n)``: shape ``(B, 3)``."""
    return (v[:, None, :] @ q)[:, 0, :]


def _jacobian(X, q, r, coef, resid, log_n, log_d):
    """Exact Jacobian of the projected residual, ``(B, n, 2)`` (Golub-Pereyra)."""
    r_inv_t = np.swapaxes(np.linalg.inv(r), 1, 2)
    jac = np.empty((*resid.shape, 2))
    for k, (col, log_v) in enumerate(((1, log_n), (2, log_d))):
        d_col = -log_v * X[..., col]
        v = d_col * coef[:, col : col + 1]
        s = (d_col[:, None, :] @ resid[..., None])[:, 0, 0]
        jac[..., k] = (q @ (r_inv_t[..., col] * s[:, None] - _qt(q, v))[..., None])[..., 0]
        jac[..., k] += v
        jac[..., k] *= -1.0
    return jac


def refit_vpnls_batch(
    log_n: np.ndarray,
    log_d: np.ndarray,
    loss: np.ndarray,
    theta0: np.ndarray,
    max_iter: int = 100,
    xtol: float = 1e-10,
) -> BatchRefit:
    """VPNLS refits of ``B`` tables (rows of ``loss``, shape ``(B, n)``) from exponents ``theta0``.

    ``log_n`` and ``log_d`` are natural logs of params and tokens, shape ``(B, n)`` or
    ``(n,)`` (shared by all draws). Returns a :class:`BatchRefit`; ``ok`` marks draws
    that converged inside the bounds with non-negative ``E, A, B``.
    """
    loss = np.atleast_2d(np.asarray(loss, dtype=float))
    n_draws = loss.shape[0]
    log_n = np.broadcast_to(np.asarray(log_n, dtype=float), loss.shape)
    log_d = np.broadcast_to(np.asarray(log_d, dtype=float), loss.shape)
    lo, hi = EXPONENT_BOUNDS
    theta = np.tile(np.clip(np.asarray(theta0, dtype=float), lo + 1e-12, hi - 1e-12), (n_draws, 1))
    X, q, r, coef, resid = _project(theta, log_n, log_d, loss)
    f = _sumsq(resid)
    jac = _jacobian(X, q, r, coef, resid, log_n, log_d)
    damping = np.full(n_draws, 1e-3)  # relative to diag(J^T J) (Marquardt scaling)
    growth = np.full(n_draws, 2.0)
    done = f == 0.0
    it = 0
    for it in range(1, max_iter + 1):  # noqa: B007 (it is reported)
        act = np.flatnonzero(~done)
        if act.size == 0:
            break
        th, rr, jj = theta[act], resid[act], jac[act]
        jj_t = np.swapaxes(jj, 1, 2)
        grad = (jj_t @ rr[..., None])[..., 0]
        hh = jj_t @ jj
        diag = np.diagonal(hh, axis1=1, axis2=2)
        free = ~(((th <= lo) & (grad > 0)) | ((th >= hi) & (grad < 0)))
        lhs = hh + damping[act, None, None] * (diag[:, :, None] * np.eye(2))
        # Fixed exponents: identity rows and columns, zero right-hand side.
        pair = free[:, :, None] & free[:, None, :]
        lhs = np.where(pair, lhs, np.eye(2))
        rhs = np.where(free, -grad, 0.0)
        step = np.linalg.solve(lhs, rhs[..., None])[..., 0]
        trial = np.clip(th + step, lo, hi)
        lt, ld, ll = log_n[act], log_d[act], loss[act]
        Xt, qt, rt, ct, rest = _project(trial, lt, ld, ll)
        ft = _sumsq(rest)
        better = ft < f[act]
        moved = trial - th
        predicted = f[act] - _sumsq(rr + (jj @ moved[..., None])[..., 0])
        with np.errstate(divide="ignore", invalid="ignore"):
            gain = np.where(predicted > 0, (f[act] - ft) / predicted, 0.0)
        scale = np.linalg.norm(th, axis=1) + _EPS
        tiny_step = np.linalg.norm(moved, axis=1) <= max(xtol, 4 * _EPS) * scale
        tiny_gain = f[act] - ft <= max(xtol**2, 4 * _EPS) * f[act]
        # The undamped Gauss-Newton model expects no worthwhile decrease: converged.
        gn_step = np.linalg.solve(np.where(pair, hh, np.eye(2)), rhs[..., None])[..., 0]
        flat = np.sum(rhs * gn_step, axis=1) <= max(xtol**2, 4 * _EPS) * f[act]
        # Accepted steps: move, shrink the damping, new Jacobian.
        acc = act[better]
        if acc.size:
            b = better
            theta[acc], f[acc], resid[acc] = trial[b], ft[b], rest[b]
            coef[acc] = ct[b]
            jac[acc] = _jacobian(Xt[b], qt[b], rt[b], ct[b], rest[b], lt[b], ld[b])
            damping[acc] *= np.maximum(1.0 / 3.0, 1.0 - (2.0 * gain[b] - 1.0) ** 3)
            growth[acc] = 2.0
        rej = act[~better]
        damping[rej] *= growth[rej]
        growth[rej] *= 2.0
        stuck = ~better & (damping[act] > 1e16)
        no_grad = ~np.any(np.where(free, grad, 0.0) != 0, axis=1)
        done[act] = (better & (tiny_step | tiny_gain)) | flat | stuck | no_grad | (f[act] == 0.0)
    inside = np.all((theta - lo > BOUND_MARGIN) & (hi - theta > BOUND_MARGIN), axis=1)
    ok = done & inside & np.all(coef >= 0, axis=1) & np.all(np.isfinite(coef), axis=1)
    return BatchRefit(theta=theta, coef=coef, rss=f, ok=ok, n_iter=it)
