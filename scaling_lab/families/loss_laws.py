"""Loss-vs-size laws with honest uncertainty: ``fit_loss_law``.

Two forms, both least squares on the loss itself:

* ``"power"`` (Kaplan et al. 2020): ``L = (N_c/N)^alpha``;
* ``"floor"``: ``L = L_inf + (N_c/N)^alpha``, with ``L_inf >= 0``.

Written as ``L = L_inf + A (N/N_ref)^-alpha`` (``N_ref = 1e9``), the law is linear in
``(L_inf, A)`` once ``alpha`` is fixed. So the fit is a one-dimensional search over
``alpha`` (variable projection) with the linear part solved in closed form, subject to
``L_inf >= 0`` and ``A >= 0``. That makes three things cheap at once:

* the profile likelihood of ``alpha`` is the RSS along the search grid;
* the bootstrap refits every draw together (one matrix product over the grid, then a
  vectorised golden-section refinement), so 1000 draws cost milliseconds;
* every draw is kept, and the share that ends at a bound is reported.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from ..bootstrap import resample_indices
from ..fitting.data import check_option
from .intervals import LEVEL, Interval, f_threshold, percentile, profile_interval

N_REF = 1e9
ALPHA_BOUNDS = (0.005, 2.0)
FORMS = ("power", "floor")
BOOTSTRAPS = ("parametric", "residual")
_GRID = np.geomspace(*ALPHA_BOUNDS, 600)
_GOLDEN = (np.sqrt(5) - 1) / 2


def _solve(sf, sff, sy, syy, sfy, n: int, form: str):
    """Least squares of ``y ≈ a + b f`` with ``a, b >= 0`` (``a = 0`` for the power form).

    Works on sufficient statistics (sums of f, f², y, y², f·y), which broadcast: a grid of
    exponents against a batch of bootstrap draws is one call. Returns ``(a, b, rss)``.
    """
    b0 = np.maximum(sfy / sff, 0.0)
    rss0 = syy - 2 * b0 * sfy + b0**2 * sff
    a0 = np.zeros_like(rss0)
    if form == "power":
        return a0, b0, np.maximum(rss0, 0.0)
    sffc = sff - sf**2 / n
    sfyc = sfy - sf * sy / n
    syyc = syy - sy**2 / n
    bu = sfyc / sffc
    au = (sy - bu * sf) / n
    rssu = syyc - sfyc**2 / sffc
    a1 = np.maximum(sy / n, 0.0)
    rss1 = syy - 2 * a1 * sy + n * a1**2
    use0 = rss0 <= rss1
    a_face = np.where(use0, a0, a1)
    b_face = np.where(use0, b0, 0.0)
    rss_face = np.where(use0, rss0, rss1)
    ok = (au >= 0) & (bu >= 0)
    a = np.where(ok, au, a_face)
    b = np.where(ok, bu, b_face)
    rss = np.where(ok, rssu, rss_face)
    return a, b, np.maximum(rss, 0.0)


def _grid_stats(x: np.ndarray, Y: np.ndarray, grid: np.ndarray):
    """Sufficient statistics for every (grid exponent, draw) pair. ``Y`` is (draws, n)."""
    F = np.exp(-np.outer(grid, x))  # (G, n)
    sf = F.sum(1)[:, None]
    sff = (F * F).sum(1)[:, None]
    sy = Y.sum(1)[None, :]
    syy = (Y * Y).sum(1)[None, :]
    sfy = F @ Y.T  # (G, B)
    return sf, sff, sy, syy, sfy


def _rss_at(x: np.ndarray, Y: np.ndarray, alpha: np.ndarray, form: str):
    """``(a, b, rss)`` for one exponent per draw (``alpha`` has one entry per row of ``Y``)."""
    F = np.exp(-alpha[:, None] * x[None, :])
    n = x.size
    return _solve(F.sum(1), (F * F).sum(1), Y.sum(1), (Y * Y).sum(1), (F * Y).sum(1), n, form)


def _fit_batch(x: np.ndarray, Y: np.ndarray, form: str, iters: int = 48):
    """Best ``(alpha, a, b, rss)`` for every row of ``Y``: grid search, then golden section."""
    n = x.size
    stats_ = _grid_stats(x, Y, _GRID)
    _, _, rss = _solve(*stats_, n, form)
    best = np.argmin(rss, axis=0)
    logg = np.log(_GRID)
    lo = logg[np.maximum(best - 1, 0)]
    hi = logg[np.minimum(best + 1, _GRID.size - 1)]
    c = hi - _GOLDEN * (hi - lo)
    d = lo + _GOLDEN * (hi - lo)
    fc = _rss_at(x, Y, np.exp(c), form)[2]
    fd = _rss_at(x, Y, np.exp(d), form)[2]
    for _ in range(iters):
        left = fc < fd
        hi = np.where(left, d, hi)
        lo = np.where(left, lo, c)
        d_new = np.where(left, c, lo + _GOLDEN * (hi - lo))
        c_new = np.where(left, hi - _GOLDEN * (hi - lo), d)
        f_new = _rss_at(x, Y, np.exp(np.where(left, c_new, d_new)), form)[2]
        fd = np.where(left, fc, f_new)
        fc = np.where(left, f_new, fc)
        c, d = c_new, d_new
    alpha = np.exp(0.5 * (lo + hi))
    rss_ref = _rss_at(x, Y, alpha, form)[2]
    # keep a grid end if the refined point is no better (minimum on the boundary)
    grid_rss = rss[best, np.arange(Y.shape[0])]
    take_grid = grid_rss < rss_ref
    alpha = np.where(take_grid, _GRID[best], alpha)
    a2, b2, r2 = _rss_at(x, Y, alpha, form)
    return alpha, a2, b2, r2


def _at_bound(alpha, a, b, form: str) -> np.ndarray:
    lo, hi = ALPHA_BOUNDS
    hit = (alpha <= lo * (1 + 1e-6)) | (alpha >= hi * (1 - 1e-6)) | (b <= 0)
    if form == "floor":
        hit |= a <= 0
    return hit


def _polish(x, y, alpha, a, b, form):
    """Gauss-Newton polish of the point estimate (machine precision on noise-free data)."""
    from scipy import optimize  # scipy loads on first use

    lo, hi = np.log(ALPHA_BOUNDS)
    if form == "power":

        def resid(t):
            return t[1] * np.exp(-np.exp(t[0]) * x) - y

        t0, lb, ub = [np.log(alpha), b], [lo, 0], [hi, np.inf]
    else:

        def resid(t):
            return t[1] + t[2] * np.exp(-np.exp(t[0]) * x) - y

        t0, lb, ub = [np.log(alpha), a, b], [lo, 0, 0], [hi, np.inf, np.inf]
    t0 = np.clip(t0, lb, ub)
    res = optimize.least_squares(
        resid, t0, bounds=(lb, ub), method="trf", xtol=1e-15, ftol=1e-15, gtol=1e-15
    )
    t = res.x
    if form == "power":
        return float(np.exp(t[0])), 0.0, float(t[1]), float(res.fun @ res.fun), res.success
    return float(np.exp(t[0])), float(t[1]), float(t[2]), float(res.fun @ res.fun), res.success


@dataclass(frozen=True, repr=False)
class LossLawFit:
    """A fitted loss law with its intervals, information criteria and bootstrap draws.

    ``ci`` maps each parameter to its 95% percentile-bootstrap interval, or ``None`` when
    the profile likelihood is flat (the data do not identify it); ``profile_ci`` holds the
    profile-likelihood intervals of ``alpha`` (and ``L_inf``); ``flags`` explains every
    interval that has an end at a bound or does not contain its estimate.
    """

    form: str
    n: int
    alpha: float
    A: float
    L_inf: float | None
    rss: float
    sigma: float
    aicc: float | None
    bic: float
    ci: dict[str, tuple[float, float] | None]
    profile_ci: dict[str, tuple[float, float] | None]
    intervals: dict[str, Interval]
    share_at_bound: float
    converged: bool
    flags: dict[str, str]
    bootstrap: str
    n_boot: int
    draws: pd.DataFrame = field(compare=False)
    profile: pd.DataFrame = field(compare=False)
    N: np.ndarray = field(compare=False)
    loss: np.ndarray = field(compare=False)

    @property
    def n_params(self) -> int:
        """Parameters of the mean law (2 for power, 3 for floor); sigma is one more."""
        return 2 if self.form == "power" else 3

    @property
    def Nc(self) -> float:
        """Kaplan's N_c: the size at which the reducible loss equals 1."""
        return float(N_REF * self.A ** (1 / self.alpha)) if self.A > 0 else float("nan")

    @property
    def share_at_bound_pct(self) -> float:
        return 100 * self.share_at_bound

    def predict(self, N) -> np.ndarray:
        """Predicted loss at sizes ``N``."""
        N = np.asarray(N, float)
        return (self.L_inf or 0.0) + self.A * (N / N_REF) ** (-self.alpha)

    @property
    def residuals(self) -> np.ndarray:
        return self.loss - self.predict(self.N)

    def to_dict(self) -> dict:
        return {
            "form": self.form,
            "n": self.n,
            "alpha": self.alpha,
            "A": self.A,
            "L_inf": self.L_inf,
            "Nc": self.Nc,
            "rss": self.rss,
            "sigma": self.sigma,
            "aicc": self.aicc,
            "bic": self.bic,
            "bootstrap": self.bootstrap,
            "n_boot": self.n_boot,
            "share_at_bound": self.share_at_bound,
            "converged": self.converged,
            "flag": None if self.converged else "the point-estimate polish did not converge",
            "intervals": {k: v.to_dict() for k, v in self.intervals.items()},
            "flags": dict(self.flags),
        }

    def to_frame(self) -> pd.DataFrame:
        rows = []
        for name, iv in self.intervals.items():
            lo, hi = iv.interval if iv.interval is not None else (np.nan, np.nan)
            rows.append(
                {
                    "quantity": name,
                    "estimate": iv.estimate,
                    "low": lo,
                    "high": hi,
                    "method": iv.method,
                    "note": iv.flag or "",
                }
            )
        return pd.DataFrame(rows).set_index("quantity")

    def __repr__(self) -> str:
        head = f"LossLawFit({self.form}, n={self.n}, alpha={self.alpha:.4g}"
        if self.form == "floor":
            head += f", L_inf={self.L_inf:.4g}"
        head += (
            f", rss={self.rss:.3g}, aicc={self.aicc if self.aicc is None else round(self.aicc, 3)}"
            f", bic={self.bic:.3f}, at bound {100 * self.share_at_bound:.1f}% of "
            f"{self.n_boot} draws)"
        )
        return head + "".join(f"\n  {k}: {v!r}" for k, v in self.intervals.items())


def information_criteria(rss: float, n: int, k: int) -> tuple[float | None, float]:
    """(AICc, BIC) of a Gaussian least-squares fit with ``k`` parameters including sigma.

    AICc is undefined (``None``) when ``n - k - 1 <= 0``.
    """
    if rss <= 0:
        rss = np.finfo(float).tiny
    m2ll = n * (np.log(2 * np.pi * rss / n) + 1)
    aic = m2ll + 2 * k
    aicc = None if n - k - 1 <= 0 else float(aic + 2 * k * (k + 1) / (n - k - 1))
    return aicc, float(m2ll + k * np.log(n))


def _check_input(N, loss, form: str, n_boot: int, bootstrap: str) -> tuple[np.ndarray, np.ndarray]:
    check_option("form", form, FORMS)
    check_option("bootstrap", bootstrap, BOOTSTRAPS)
    if not isinstance(n_boot, int | np.integer) or n_boot < 0:
        raise ValueError(f"n_boot must be a non-negative integer, got {n_boot!r}")
    try:
        N = np.asarray(N, dtype=float)
        loss = np.asarray(loss, dtype=float)
    except (TypeError, ValueError):
        raise ValueError("N and loss must be numeric arrays") from None
    if N.ndim != 1 or loss.ndim != 1:
        raise ValueError(f"N and loss must be 1-D, got shapes {N.shape} and {loss.shape}")
    if N.size != loss.size:
        raise ValueError(f"N and loss differ in length: {N.size} vs {loss.size}")
    for name, v in (("N", N), ("loss", loss)):
        bad = np.flatnonzero(~np.isfinite(v) | (v <= 0))
        if bad.size:
            raise ValueError(f"{name} must be finite and positive; bad rows {bad.tolist()}")
    p = 2 if form == "power" else 3
    if np.unique(N).size < p + 1:
        raise ValueError(
            f"the {form} law needs at least {p + 1} distinct sizes N, got {np.unique(N).size}"
        )
    return N, loss


def fit_loss_law(
    N,
    loss,
    form: str = "power",
    n_boot: int = 1000,
    seed: int = 0,
    bootstrap: str = "parametric",
) -> LossLawFit:
    """Fit ``L = [L_inf +] (N_c/N)^alpha`` by least squares, with bootstrap and profile intervals.

    ``bootstrap="parametric"`` simulates Gaussian noise of scale ``s = sqrt(RSS/(n-k))``
    and, with only ``n - k`` degrees of freedom behind ``s``, draws each replicate's scale
    from ``s·sqrt((n-k)/chi2(n-k))`` so that the percentile intervals keep their nominal
    coverage at n = 7 (with ``s`` fixed they cover about 89%). ``"residual"`` resamples the
    residuals inflated by ``sqrt(n/(n-k))``. Every draw is kept; the share that ends at a
    bound (``alpha`` at its search limit, ``L_inf = 0`` or a flat law) is reported.
    """
    N, loss = _check_input(N, loss, form, n_boot, bootstrap)
    n = N.size
    p = 2 if form == "power" else 3
    x = np.log(N / N_REF)
    alpha, a, b, rss = (v[0] for v in _fit_batch(x, loss[None, :], form))
    p_alpha, p_a, p_b, p_rss, success = _polish(x, loss, alpha, a, b, form)
    if p_rss <= rss:
        alpha, a, b, rss = p_alpha, p_a, p_b, p_rss
    if form == "floor" and a < 1e-12 * loss.max():
        a = 0.0  # the polish stops a hair above the bound L_inf = 0
    converged = bool(success or np.isclose(p_rss, rss, rtol=1e-10, atol=1e-300))
    dof = n - p
    sigma = float(np.sqrt(rss / dof)) if dof > 0 else float("nan")
    aicc, bic = information_criteria(rss, n, p + 1)

    # bootstrap: every draw refitted at once
    rng = np.random.default_rng(seed)
    fitted = a + b * np.exp(-alpha * x)
    if n_boot == 0:
        Y = np.empty((0, n))
    elif bootstrap == "parametric" and dof > 0:
        scale = sigma * np.sqrt(dof / rng.chisquare(dof, size=n_boot))
        Y = fitted + scale[:, None] * rng.standard_normal((n_boot, n))
    else:
        r = loss - fitted
        r = (r - r.mean()) * np.sqrt(n / max(dof, 1))
        Y = fitted + r[resample_indices(n_boot, np.zeros(n), rng, within_groups=False)]
    if n_boot:
        ba, baa, bb, _ = _fit_batch(x, Y, form)
        hit = _at_bound(ba, baa, bb, form)
    else:
        ba = baa = bb = np.empty(0)
        hit = np.zeros(0, bool)
    with np.errstate(divide="ignore", invalid="ignore"):
        log10_nc = np.log10(N_REF) + np.log10(bb) / ba
    draws = pd.DataFrame({"alpha": ba, "A": bb, "log10_Nc": log10_nc, "at_bound": hit})
    if form == "floor":
        draws["L_inf"] = baa

    # profile likelihood of alpha: the RSS along the grid, linear part profiled out
    grid_rss = _solve(*_grid_stats(x, loss[None, :], _GRID), n, form)[2][:, 0]
    profile = pd.DataFrame({"alpha": _GRID, "rss": grid_rss})
    flags: dict[str, str] = {}
    profile_ci: dict[str, tuple[float, float] | None] = {}
    threshold = f_threshold(rss, n, p) if dof > 0 else np.inf
    pa = profile_interval(np.log(_GRID), grid_rss, threshold, np.log(alpha))
    alpha_identified = not (pa.open_low or pa.open_high) and dof > 0
    if alpha_identified:
        profile_ci["alpha"] = (float(np.exp(pa.interval[0])), float(np.exp(pa.interval[1])))
    else:
        profile_ci["alpha"] = None
        side = "above" if pa.open_high else "below"
        flags["alpha"] = (
            f"profile likelihood flat {side} the estimate up to the search limit "
            f"alpha in [{ALPHA_BOUNDS[0]}, {ALPHA_BOUNDS[1]}]: not identified"
        )
    identified = {"alpha": alpha_identified, "log10_Nc": alpha_identified}
    if form == "floor":
        profile_ci["L_inf"], identified["L_inf"], note = _profile_floor(x, loss, rss, threshold, a)
        if note:
            flags["L_inf"] = note

    estimates = {
        "alpha": alpha,
        "log10_Nc": np.log10(N_REF) + np.log10(b) / alpha if b > 0 else np.nan,
    }
    if form == "floor":
        estimates["L_inf"] = a
    ci: dict[str, tuple[float, float] | None] = {}
    intervals: dict[str, Interval] = {}
    share = float(hit.mean()) if n_boot else float("nan")
    method = f"{bootstrap} bootstrap percentile ({n_boot} draws)"
    for name, est in estimates.items():
        col = draws[name].to_numpy()
        if not identified[name] or n_boot == 0 or not np.isfinite(col).all():
            ci[name] = None
            reason = flags.get(name) or flags.get("alpha") or "no finite bootstrap draws"
            intervals[name] = Interval(float(est), None, method, reason)
            flags.setdefault(name, reason)
            continue
        lo, hi = percentile(col)
        ci[name] = (lo, hi)
        note = flags.get(name)
        if not lo <= est <= hi:
            side = "below" if est < lo else "above"
            note = (
                f"estimate lies {side} the percentile interval: the bootstrap distribution is "
                f"skewed ({100 * share:.1f}% of draws at a bound)"
            )
            flags[name] = note
        intervals[name] = Interval(float(est), (lo, hi), method, note)
    for name, iv in profile_ci.items():
        note = flags.get(name) if iv is None or name == "L_inf" else None
        intervals[f"{name} (profile)"] = Interval(
            float(estimates[name]),
            iv,
            f"profile likelihood, F-calibrated ({100 * LEVEL:.0f}%)",
            note,
        )
    if share > 0.05:
        flags["bootstrap"] = f"{100 * share:.1f}% of bootstrap draws ended at a bound"
    return LossLawFit(
        form=form, n=n, alpha=float(alpha), A=float(b),
        L_inf=float(a) if form == "floor" else None, rss=float(rss), sigma=sigma,
        aicc=aicc, bic=bic, ci=ci, profile_ci=profile_ci, intervals=intervals,
        share_at_bound=share, converged=converged, flags=flags, bootstrap=bootstrap,
        n_boot=int(n_boot), draws=draws, profile=profile, N=N, loss=loss,
    )  # fmt: skip


def _profile_floor(x, y, rss_min, threshold, l_inf):
    """Profile likelihood interval of ``L_inf`` on a grid from 0 to the smallest loss."""
    levels = np.linspace(0.0, y.min(), 401)
    F = np.exp(-np.outer(_GRID, x))  # (G, n)
    sff = (F * F).sum(1)
    sfy = F @ y
    sf = F.sum(1)
    n = x.size
    # for fixed L_inf = c and alpha: b = max(0, f·(y-c)/f·f)
    sfyc = sfy[None, :] - levels[:, None] * sf[None, :]
    syyc = (y @ y) - 2 * levels * y.sum() + n * levels**2
    b = np.maximum(sfyc / sff[None, :], 0)
    rss = syyc[:, None] - 2 * b * sfyc + b**2 * sff[None, :]
    prof = rss.min(axis=1)
    if not np.isfinite(threshold):
        return None, False, "too few points for a profile interval"
    pi = profile_interval(levels, prof, threshold, l_inf)
    if pi.open_high:
        return (
            None,
            False,
            ("profile likelihood flat up to the smallest observed loss: L_inf not identified"),
        )
    note = None
    if pi.open_low:
        note = "lower end at the physical bound L_inf = 0 (the data allow no floor at all)"
    return pi.interval, True, note
