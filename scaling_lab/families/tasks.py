"""Task accuracy against size: laws with a chance floor, weighted by binomial errors.

* ``"sigmoid"``: ``acc = c + (1 - c) σ(k (log10 N - x0))``, c the chance accuracy
  (0.25 for 4-way multiple choice, 0.5 for binary, 0 for LAMBADA). The ceiling is 1:
  these models are far from it, and a free ceiling is not identified by seven points
  (the earlier analysis's fitted ceilings sat at their bound).
* ``"power"`` (bounded power law): the error rate falls as a power of N,
  ``acc = 1 - A (N/1e9)^-alpha``; bounded above by 1, with no chance floor.

Both are weighted least squares with weights 1/SE² from the binomial standard errors, so
the weighted RSS is a chi-square statistic: a p-value above 0.05 means the law is
consistent with the data within sampling noise. A breakpoint (a kink in accuracy against
log N) is claimed only when a continuous two-segment line beats a single line by a
parametric-bootstrap likelihood-ratio test, Holm-corrected across benchmarks.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

N_REF = 1e9
TASK_FORMS = ("sigmoid", "power")


@dataclass(frozen=True)
class TaskFit:
    """A weighted fit of accuracy against size for one benchmark."""

    form: str
    chance: float
    params: dict[str, float]
    chi2: float
    dof: int
    p_value: float
    converged: bool
    flag: str | None

    @property
    def consistent(self) -> bool:
        """Consistent with the law within sampling noise (chi-square p > 0.05)."""
        return self.p_value > 0.05

    def predict(self, N) -> np.ndarray:
        return predict(self.form, self.params, self.chance, N)

    def to_dict(self) -> dict:
        return {
            "form": self.form,
            "chance": self.chance,
            "params": dict(self.params),
            "chi2": self.chi2,
            "dof": self.dof,
            "p_value": self.p_value,
            "converged": self.converged,
            "flag": self.flag,
        }


def predict(form: str, params: dict[str, float], chance: float, N) -> np.ndarray:
    """Accuracy predicted by a task law at sizes ``N``."""
    from scipy import special  # scipy loads on first use

    x = np.log10(np.asarray(N, float))
    if form == "sigmoid":
        return chance + (1 - chance) * special.expit(params["k"] * (x - params["x0"]))
    if form == "power":
        return 1 - params["A"] * 10 ** (-params["alpha"] * (x - np.log10(N_REF)))
    raise ValueError(f"form must be one of {TASK_FORMS}, got {form!r}")


def _check(N, acc, se, chance):
    N, acc, se = (np.asarray(v, float) for v in (N, acc, se))
    if not (N.shape == acc.shape == se.shape) or N.ndim != 1:
        raise ValueError(
            f"N, acc and se must be 1-D of equal length: {N.shape}, {acc.shape}, {se.shape}"
        )
    for name, v, ok in (
        ("N", N, N > 0),
        ("acc", acc, (acc >= 0) & (acc <= 1)),
        ("se", se, se > 0),
    ):
        bad = np.flatnonzero(~np.isfinite(v) | ~ok)
        if bad.size:
            raise ValueError(f"{name} has invalid values at rows {bad.tolist()}")
    if not 0 <= chance < 1:
        raise ValueError(f"chance must be in [0, 1), got {chance}")
    if N.size < 3:
        raise ValueError(f"need at least 3 sizes, got {N.size}")
    return N, acc, se


_SIG_K = np.geomspace(1e-3, 20.0, 120)
_SIG_X0 = np.linspace(4.0, 20.0, 321)
_POW_ALPHA = np.linspace(0.0, 2.0, 801)


def _grid_start(form: str, x: np.ndarray, acc: np.ndarray, se: np.ndarray, chance: float):
    """Best point of a dense parameter grid, evaluated in one vectorised pass."""
    from scipy import special  # scipy loads on first use

    w = 1 / se**2
    if form == "sigmoid":
        k, x0 = np.meshgrid(_SIG_K, _SIG_X0, indexing="ij")
        z = k.reshape(-1, 1) * (x - x0.reshape(-1, 1))
        pred = chance + (1 - chance) * special.expit(z)
        j = int(np.argmin(((pred - acc) ** 2 * w).sum(1)))
        return np.array([k.flat[j], x0.flat[j]])
    # power: 1 - acc = A f, f = 10^(-alpha (x - 9)); A solved in closed form per alpha
    f = 10 ** (-np.outer(_POW_ALPHA, x - np.log10(N_REF)))
    e = 1 - acc
    A = np.clip((f * e * w).sum(1) / (f * f * w).sum(1), 1e-6, 10.0)
    j = int(np.argmin((((A[:, None] * f) - e) ** 2 * w).sum(1)))
    return np.array([A[j], _POW_ALPHA[j]])


def fit_task_law(N, acc, se, chance: float, form: str = "sigmoid") -> TaskFit:
    """Weighted least-squares fit of one task law: a dense grid, then a polish."""
    from scipy import (  # scipy loads on first use
        optimize,
        special,
        stats,  # on first use: scipy.stats is slow to import
    )

    N, acc, se = _check(N, acc, se, chance)
    x = np.log10(N)
    if form == "sigmoid":
        names, lb, ub = ("k", "x0"), [1e-3, 4.0], [20.0, 20.0]

        def jac(t):
            s_ = special.expit(t[0] * (x - t[1]))
            g = (1 - chance) * s_ * (1 - s_)
            return np.column_stack([g * (x - t[1]), -g * t[0]]) / se[:, None]

    elif form == "power":
        names, lb, ub = ("A", "alpha"), [1e-6, 0.0], [10.0, 2.0]

        def jac(t):
            f = 10 ** (-t[1] * (x - np.log10(N_REF)))
            return (
                np.column_stack([-f, t[0] * f * np.log(10) * (x - np.log10(N_REF))]) / se[:, None]
            )

    else:
        raise ValueError(f"form must be one of {TASK_FORMS}, got {form!r}")

    def resid(t):
        return (predict(form, dict(zip(names, t, strict=True)), chance, N) - acc) / se

    t0 = np.clip(_grid_start(form, x, acc, se, chance), lb, ub)
    best = optimize.least_squares(
        resid, t0, jac=jac, bounds=(lb, ub), method="trf", xtol=1e-12, ftol=1e-12
    )
    if best.cost > 0.5 * resid(t0) @ resid(t0):  # never worse than the grid point
        best.x, best.cost = t0, 0.5 * resid(t0) @ resid(t0)
    params = dict(zip(names, (float(v) for v in best.x), strict=True))
    chi2 = float(2 * best.cost)
    dof = int(N.size - 2)
    p_value = float(stats.chi2.sf(chi2, dof)) if dof > 0 else float("nan")
    at = [
        n
        for n, v, lo, hi in zip(names, best.x, lb, ub, strict=True)
        if v <= lo + 1e-9 * max(1.0, abs(lo)) or v >= hi - 1e-9 * max(1.0, abs(hi))
    ]
    flag = f"parameter at its bound: {', '.join(at)}" if at else None
    below = int(np.sum(acc < chance))
    if below and form == "sigmoid":
        note = (
            f"{below} of {acc.size} accuracies below chance {chance:g}; "
            "a chance floor cannot fit them"
        )
        flag = note if flag is None else f"{flag}; {note}"
    return TaskFit(form, float(chance), params, chi2, dof, p_value, bool(best.success), flag)


_FLOOR_GRID = 40  # floors tried between 0 and just below the smallest accuracy


def fit_floor_sigmoid(N, acc, se) -> TaskFit:
    """The sigmoid with its floor fitted instead of fixed at chance (three parameters).

    Raw multiple-choice accuracy of small models can sit below ``1/k``: a model that
    prefers wrong answers systematically scores under chance. A floor fixed at chance
    then tests a misplaced floor, not the shape. Here the floor ``c`` is profiled over a
    grid in ``[0, min(acc))``, each fitted by :func:`fit_task_law` with that floor, and
    the best is polished jointly. ``chance`` of the result is the fitted floor; the
    chi-square has ``n - 3`` degrees of freedom.
    """
    from scipy import optimize, special, stats  # scipy loads on first use

    N, acc, se = _check(N, acc, se, 0.0)
    if N.size < 4:
        raise ValueError(f"a fitted floor needs at least 4 sizes, got {N.size}")
    floors = np.linspace(0.0, acc.min() * (1 - 1e-6), _FLOOR_GRID)
    fits = [fit_task_law(N, acc, se, float(c), "sigmoid") for c in floors]
    start = min(fits, key=lambda f: f.chi2)
    x = np.log10(N)

    def resid(t):
        return (t[2] + (1 - t[2]) * special.expit(t[0] * (x - t[1])) - acc) / se

    t0 = np.array([start.params["k"], start.params["x0"], start.chance])
    lb, ub = [1e-3, 4.0, 0.0], [20.0, 20.0, float(acc.min())]
    best = optimize.least_squares(resid, np.clip(t0, lb, ub), bounds=(lb, ub), method="trf",
                                  xtol=1e-12, ftol=1e-12)  # fmt: skip
    t = best.x if 2 * best.cost <= start.chi2 else t0
    chi2 = float(resid(t) @ resid(t))
    dof = int(N.size - 3)
    p_value = float(stats.chi2.sf(chi2, dof)) if dof > 0 else float("nan")
    params = {"k": float(t[0]), "x0": float(t[1])}
    flag = "floor at zero" if t[2] <= 1e-9 else None
    return TaskFit("sigmoid", float(t[2]), params, chi2, dof, p_value, bool(best.success), flag)


@dataclass(frozen=True)
class BreakpointTest:
    """A single line in log N against a continuous two-segment line (knot at a data point)."""

    delta_chi2: float
    knot_log10N: float
    p_value: float
    line_chi2: float
    line_p_value: float
    n_sim: int

    def to_dict(self) -> dict:
        return dict(self.__dict__)


def breakpoint_test(N, acc, se, n_sim: int = 4000, seed: int = 0) -> BreakpointTest:
    """Likelihood-ratio test of a kink, calibrated by simulation under the single line.

    The statistic is the drop in weighted RSS (chi-square, SEs known) from the best
    line to the best two-segment line over the interior knots (each segment keeps at
    least three points). Because the knot is searched, the null distribution is not
    chi-square; it is simulated from the fitted line with the published SEs.
    """
    from scipy import stats  # on first use: scipy.stats is slow to import

    N, acc, se = _check(N, acc, se, 0.0)
    if N.size < 5:
        raise ValueError(f"a breakpoint test needs at least 5 sizes, got {N.size}")
    order = np.argsort(N)
    x, y, s = np.log10(N)[order], acc[order], se[order]
    w = 1 / s
    knots = x[2:-2]
    lines = np.column_stack([np.ones_like(x), x])
    designs = [lines] + [np.column_stack([lines, np.maximum(x - t, 0)]) for t in knots]

    def resid_makers():
        # weighted residual-maker matrices M = I - Xw (Xw' Xw)^-1 Xw'
        out = []
        for X in designs:
            Xw = X * w[:, None]
            out.append(np.eye(x.size) - Xw @ np.linalg.pinv(Xw))
        return np.stack(out)

    M = resid_makers()

    def chi2s(Yw):  # Yw: (..., n) weighted responses
        r = np.einsum("kij,...j->...ki", M, Yw)
        return (r**2).sum(-1)

    obs = chi2s(y * w)
    delta = float(obs[0] - obs[1:].min())
    j = int(np.argmin(obs[1:]))
    line_fit = y - (M[0] @ (y * w)) / w
    rng = np.random.default_rng(seed)
    sims = (line_fit + s * rng.standard_normal((n_sim, x.size))) * w
    c = chi2s(sims)
    null = c[:, 0] - c[:, 1:].min(axis=1)
    p = float((1 + np.sum(null >= delta - 1e-12)) / (n_sim + 1))
    line_p = float(stats.chi2.sf(obs[0], x.size - 2))
    return BreakpointTest(delta, float(knots[j]), p, float(obs[0]), line_p, int(n_sim))


def holm(p_values: dict[str, float], level: float = 0.05) -> dict[str, bool]:
    """Holm's step-down rejections at family-wise ``level``."""
    names = sorted(p_values, key=p_values.get)
    m = len(names)
    out = dict.fromkeys(names, False)
    for i, name in enumerate(names):
        if p_values[name] > level / (m - i):
            break
        out[name] = True
    return out
