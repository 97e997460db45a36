"""Design diagnostics: what Approach 2 would get wrong on an IsoFLOP table, noise aside.

Along an IsoFLOP line, with ``w = log10(N/N*)``, the loss of the surface
``E + A/N**alpha + B/D**beta`` is ``E + P f(w)`` with
``f(w) = 10**(-alpha w) + (alpha/beta) 10**(beta w)`` (optimality forces
``alpha A/N***alpha = beta B/D***beta``). A least-squares parabola is unchanged in
its vertex by the affine map ``E + P f``, so the vertex Approach 2 finds on runs at
offsets ``w_i`` is ``log10 N* + s(w)``, where ``s`` is the vertex of the parabola of
``f(w_i)`` in ``w``. That shift depends on the exponents and the offsets only, for
any spacing and count; the shifts of all budgets then pass through the OLS of
``log10 N*`` on ``log10 C``, which gives the exponent and intercept biases exactly.

:func:`check_design` applies this to a real table of runs against a (fitted) surface:
how wide and how centred each budget's sweep is, the bias each budget's vertex
carries, and the D* error those biases imply at a frontier budget.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike

from .bootstrap import BootstrapResult, bootstrap
from .fitting.approach2 import Approach2Fit, fit_approach2, fit_power_law
from .fitting.data import FitError, format_rows, validate_isoflops
from .fitting.results import SurfaceFit
from .fitting.vpnls import fit_vpnls
from .surfaces import LossSurface

#: Default extrapolation budget of the D* error (the book's headline budget).
EXTRAPOLATE_TO = 1e24
#: A sweep centred further than this factor from N* is flagged as off-centre.
CENTER_FACTOR = 1.5
#: Runs whose ``6 N D`` departs from their budget by more than this fraction are flagged.
COMPUTE_TOLERANCE = 0.05


def _parabola_vertex(x: np.ndarray, y: np.ndarray) -> float:
    """Vertex of the least-squares parabola of ``y`` against ``x`` (centred and scaled)."""
    center = 0.5 * (x.max() + x.min())
    scale = 0.5 * (x.max() - x.min())
    u = (x - center) / scale
    design = np.column_stack([np.ones_like(u), u, u**2])
    (_, c1, c2), *_ = np.linalg.lstsq(design, y - y.mean(), rcond=None)
    if not c2 > 0:
        raise ValueError(f"the parabola through these offsets has no minimum (curvature {c2:.3g})")
    return float(center - scale * c1 / (2.0 * c2))


def _check_offsets(alpha: float, beta: float, offsets: ArrayLike) -> np.ndarray:
    w = np.asarray(offsets, dtype=float)
    if w.ndim != 1:
        raise ValueError(f"offsets must be one-dimensional, got shape {w.shape}")
    if not np.all(np.isfinite(w)):
        raise ValueError(f"offsets must be finite, got {w.tolist()}")
    if np.unique(w).size < 3:
        raise ValueError(
            f"a parabola needs at least 3 distinct offsets; got {np.unique(w).size} "
            f"({np.unique(w).tolist()})"
        )
    for name, value in (("alpha", alpha), ("beta", beta)):
        if not (np.isfinite(value) and value > 0):
            raise ValueError(f"{name} must be positive and finite, got {value!r}")
    return w


def vertex_shift_offsets(alpha: float, beta: float, offsets: ArrayLike) -> float:
    """Approach 2's vertex minus the true ``log10 N*``, in decades, for runs at ``offsets``.

    ``offsets`` are ``w_i = log10(N_i/N*)`` on one IsoFLOP curve, any spacing, at least
    three distinct values. The result is the vertex of the least-squares parabola of
    ``f(w) = 10**(-alpha w) + (alpha/beta) 10**(beta w)`` in ``w``. On an equally
    spaced grid symmetric about ``center`` it equals
    :func:`scaling_lab.analysis.vertex_shift`.
    """
    w = _check_offsets(alpha, beta, offsets)
    f = 10.0 ** (-alpha * w) + (alpha / beta) * 10.0 ** (beta * w)
    return _parabola_vertex(w, f)


def vertex_shift_offsets_D(alpha: float, beta: float, offsets: ArrayLike) -> float:
    """The same shift for the parabola in ``log10 D``: vertex minus ``log10 D*``, in decades.

    ``offsets`` are still the parameter offsets ``w_i = log10(N_i/N*)``. On an IsoFLOP
    line ``log10(D/D*) = -w``, and the loss in ``v = -w`` has the form of ``f`` with
    ``alpha`` and ``beta`` swapped, so this is
    ``vertex_shift_offsets(beta, alpha, -offsets)``.
    """
    w = _check_offsets(alpha, beta, offsets)
    return vertex_shift_offsets(beta, alpha, -w)


@dataclass(frozen=True, repr=False)
class DesignCheck:
    """What a design's geometry alone does to Approach 2 on a given surface.

    ``per_budget`` has one row per budget: ``budget, runs, width`` (the ``k`` of
    "±k×", ``sqrt(max N/min N)``), ``center_offset`` (mean ``log10 N`` minus
    ``log10 N*``, decades; positive means the sweep sits at larger models than the
    optimum), and the closed-form vertex shifts ``vertex_shift_N`` and
    ``vertex_shift_D`` (decades). The biases are those of Approach 2's OLS fit of the
    shifted vertices: ``a_bias, a0_bias`` for ``N*`` and ``b_bias, b0_bias`` for ``D*``
    (exponents, and log10 intercepts in decades).
    """

    per_budget: pd.DataFrame
    surface: LossSurface
    a_bias: float
    a0_bias: float
    b_bias: float
    b0_bias: float
    extrapolate_to: float
    threshold: float
    warnings: list[str] = field(default_factory=list)

    @property
    def imbalance(self) -> float:
        """Exponent ratio ``alpha/beta`` of the surface."""
        return self.surface.imbalance

    def N_error_at(self, C: ArrayLike) -> np.ndarray | float:
        """Relative error of Approach 2's ``N*`` at budget ``C`` implied by the biases."""
        out = 10.0 ** (self.a_bias * np.log10(np.asarray(C, dtype=float)) + self.a0_bias) - 1.0
        return float(out) if np.ndim(out) == 0 else out

    def D_error_at(self, C: ArrayLike) -> np.ndarray | float:
        """Relative error of Approach 2's ``D*`` at budget ``C`` implied by the biases."""
        out = 10.0 ** (self.b_bias * np.log10(np.asarray(C, dtype=float)) + self.b0_bias) - 1.0
        return float(out) if np.ndim(out) == 0 else out

    @property
    def D_error(self) -> float:
        """Relative D* error at ``extrapolate_to``."""
        return float(self.D_error_at(self.extrapolate_to))

    def to_frame(self) -> pd.DataFrame:
        """The per-budget table (a copy)."""
        return self.per_budget.copy()

    def to_dict(self) -> dict[str, object]:
        """Summary scalars and the warnings."""
        return {
            "imbalance": self.imbalance,
            "a_bias": self.a_bias,
            "a0_bias": self.a0_bias,
            "b_bias": self.b_bias,
            "b0_bias": self.b0_bias,
            "extrapolate_to": self.extrapolate_to,
            "D_error": self.D_error,
            "threshold": self.threshold,
            "warnings": list(self.warnings),
        }

    def __repr__(self) -> str:
        lines = [
            f"DesignCheck({len(self.per_budget)} budgets, alpha/beta={self.imbalance:.3g}, "
            f"a0_bias={self.a0_bias:+.3g} dec, b0_bias={self.b0_bias:+.3g} dec, "
            f"a_bias={self.a_bias:+.3g}, b_bias={self.b_bias:+.3g}, "
            f"D* error at {self.extrapolate_to:.3g} FLOPs={100 * self.D_error:+.3g}%)"
        ]
        lines += [f"  warning: {w}" for w in self.warnings]
        return "\n".join(lines)


def check_design(
    runs: pd.DataFrame,
    surface: LossSurface,
    *,
    extrapolate_to: float = EXTRAPOLATE_TO,
    threshold: float = 0.01,
    center_factor: float = CENTER_FACTOR,
) -> DesignCheck:
    """Diagnose an IsoFLOP table (``budget, params, tokens, loss``) against ``surface``.

    Only the runs' budgets and parameter counts matter: the losses are not used,
    because the biases are those of the design, computed on the noise-free surface.
    Warnings fire when the implied D* error at ``extrapolate_to`` exceeds
    ``threshold`` in magnitude, when a budget's sweep is centred more than
    ``center_factor``× away from ``N*``, when the centres drift by more than
    that factor across budgets (which biases the exponents, not only the intercepts),
    and when runs lie off the line ``C = 6 N D`` by more than 5% (the closed form
    places every run on that line by its parameter count; :func:`replay_approach2`
    is exact for any ``(N, D)``).
    """
    if not isinstance(surface, LossSurface):
        raise ValueError(f"surface must be a LossSurface, got {type(surface).__name__}")
    if not (np.isfinite(extrapolate_to) and extrapolate_to > 0):
        raise ValueError(f"extrapolate_to must be a positive budget, got {extrapolate_to!r}")
    if not (np.isfinite(threshold) and threshold > 0):
        raise ValueError(f"threshold must be a positive fraction, got {threshold!r}")
    if not center_factor > 1:
        raise ValueError(f"center_factor must exceed 1, got {center_factor!r}")
    data = validate_isoflops(runs, min_points_per_budget=3, min_budgets=2, purpose="check_design")
    alpha, beta = surface.alpha, surface.beta
    rows = []
    for budget in np.unique(data.budget):
        mask = data.budget == budget
        log_n = np.log10(data.params[mask])
        if np.unique(log_n).size < 3:
            raise ValueError(
                f"budget {budget:.3g}: fewer than 3 distinct params values (rows "
                f"{data.rows_where(mask)}); a parabola needs at least 3"
            )
        w = log_n - np.log10(surface.N_opt(budget))
        rows.append(
            {
                "budget": float(budget),
                "runs": int(mask.sum()),
                "width": float(10.0 ** (0.5 * (log_n.max() - log_n.min()))),
                "center_offset": float(w.mean()),
                "vertex_shift_N": vertex_shift_offsets(alpha, beta, w),
                "vertex_shift_D": vertex_shift_offsets_D(alpha, beta, w),
            }
        )
    table = pd.DataFrame(rows)
    log_c = np.log10(table["budget"].to_numpy())
    # Approach 2's own OLS of the vertices on log10 C, applied to their shifts.
    a_bias, a0_bias = fit_power_law(log_c, table["vertex_shift_N"].to_numpy())
    b_bias, b0_bias = fit_power_law(log_c, table["vertex_shift_D"].to_numpy())
    check = DesignCheck(
        per_budget=table,
        surface=surface,
        a_bias=a_bias,
        a0_bias=a0_bias,
        b_bias=b_bias,
        b0_bias=b0_bias,
        extrapolate_to=float(extrapolate_to),
        threshold=float(threshold),
    )
    check.warnings.extend(_warnings(check, center_factor))
    ratio = 6.0 * data.params * data.tokens / data.budget
    off_line = np.abs(ratio - 1.0) > COMPUTE_TOLERANCE
    if off_line.any():
        worst = ratio[np.argmax(np.abs(ratio - 1.0))]
        check.warnings.append(
            f"{off_line.sum()} of {data.n} runs have 6·params·tokens more than "
            f"{100 * COMPUTE_TOLERANCE:.3g}% away from their budget (up to "
            f"{100 * (worst - 1.0):+.3g}%; rows {format_rows(data.rows[off_line])}): the closed "
            f"form treats every run as lying on C = 6ND, so its biases are approximate here; "
            f"replay_approach2 gives the exact noise-free fit."
        )
    return check


def replay_approach2(runs: pd.DataFrame, surface: LossSurface) -> Approach2Fit:
    """Approach 2 on ``surface``'s noise-free losses at the runs' own ``(params, tokens)``.

    The numerical counterpart of :func:`check_design`: exact for any design, including
    runs off the line ``C = 6 N D``; its ``a - surface.a`` (and so on) are the biases.
    """
    data = validate_isoflops(runs, min_points_per_budget=3, min_budgets=2, purpose="replay")
    replayed = pd.DataFrame(
        {
            "budget": data.budget,
            "params": data.params,
            "tokens": data.tokens,
            "loss": surface.loss(data.params, data.tokens),
        },
        index=data.rows,
    )
    return fit_approach2(replayed)


def _warnings(check: DesignCheck, center_factor: float) -> list[str]:
    out = []
    err = check.D_error
    if abs(err) > check.threshold:
        out.append(
            f"Approach 2 on this design would misstate D* at {check.extrapolate_to:.3g} FLOPs "
            f"by {100 * err:+.3g}% before any noise (threshold ±{100 * check.threshold:.3g}%): "
            f"the D* intercept is biased by {check.b0_bias:+.3g} decades and the exponent "
            f"by {check.b_bias:+.3g}."
        )
    table = check.per_budget
    limit = np.log10(center_factor)
    off = table[np.abs(table["center_offset"]) > limit]
    if len(off):
        where = ", ".join(
            f"{b:.3g} ({_factor_words(c)})"
            for b, c in zip(off["budget"], off["center_offset"], strict=True)
        )
        out.append(
            f"{len(off)} of {len(table)} budgets are sampled more than {center_factor:.3g}× "
            f"away from the surface's N*: {where}. Re-centre those sweeps on N*."
        )
    spread = table["center_offset"].max() - table["center_offset"].min()
    if spread > limit:
        out.append(
            f"the sampling centre moves by {10**spread:.3g}× relative to N* across budgets; "
            f"a drifting centre biases the exponents (a by {check.a_bias:+.3g}, b by "
            f"{check.b_bias:+.3g}), not only the intercepts."
        )
    return out


def _factor_words(offset: float) -> str:
    factor = 10.0 ** abs(offset)
    return f"{factor:.3g}× {'above' if offset > 0 else 'below'} N*"


def curvature_table(runs: pd.DataFrame) -> pd.DataFrame:
    """Each budget's least-squares parabola of loss against ``log10 N``, without raising.

    Columns: ``budget, runs, distinct_params, curvature`` (loss per decade squared;
    NaN with fewer than 3 distinct sizes), ``vertex`` (``log10 N`` of the minimum,
    NaN when there is none), ``center`` (mean ``log10 N`` of the runs) and
    ``has_minimum``. Real IsoFLOP curves can be flat or bend the wrong way; this
    says where, before Approach 2 stops with a :class:`FitError`.
    """
    data = validate_isoflops(runs, purpose="curvature_table")
    rows = []
    for budget in np.unique(data.budget):
        mask = data.budget == budget
        x, y = np.log10(data.params[mask]), data.loss[mask]
        distinct = np.unique(x).size
        curvature = vertex = np.nan
        if distinct >= 3:
            c2, c1, _ = np.polyfit(x - x.mean(), y, 2)
            curvature = float(c2)
            vertex = float(x.mean() - c1 / (2.0 * c2)) if c2 > 0 else np.nan
        rows.append(
            {
                "budget": float(budget),
                "runs": int(mask.sum()),
                "distinct_params": int(distinct),
                "curvature": curvature,
                "vertex": vertex,
                "center": float(x.mean()),
                "has_minimum": bool(curvature > 0),
            }
        )
    return pd.DataFrame(rows)


@dataclass(frozen=True, repr=False)
class FitPair:
    """Approach 2 and VPNLS on one table; a fit that failed is ``None`` with its error message."""

    approach2: Approach2Fit | None
    vpnls: SurfaceFit | None
    approach2_error: str = ""
    vpnls_error: str = ""

    def to_dict(self) -> dict[str, object]:
        """Exponents of both fits (NaN where a fit failed), VPNLS status and the errors."""
        a2, vp = self.approach2, self.vpnls
        return {
            "approach2_a": a2.a if a2 else np.nan,
            "approach2_b": a2.b if a2 else np.nan,
            "vpnls_alpha": vp.alpha if vp else np.nan,
            "vpnls_beta": vp.beta if vp else np.nan,
            "vpnls_a": vp.a if vp else np.nan,
            "vpnls_status": str(vp.status) if vp else "failed",
            "approach2_error": self.approach2_error,
            "vpnls_error": self.vpnls_error,
        }

    def __repr__(self) -> str:
        a2 = f"a={self.approach2.a:.4g}" if self.approach2 else f"failed: {self.approach2_error}"
        vp = repr(self.vpnls) if self.vpnls else f"failed: {self.vpnls_error}"
        return f"FitPair(approach2 {a2}; vpnls {vp})"


def fit_pair(runs: pd.DataFrame) -> FitPair:
    """Fit Approach 2 and VPNLS to the same runs, reporting a failure instead of raising it.

    Real tables break Approach 2 in ordinary ways (a budget with fewer than three sizes,
    a curve that bends the wrong way); the message says which budget and rows.
    """
    table = runs[["budget", "params", "tokens", "loss"]]
    out: dict[str, object] = {}
    for key, fitter in (("approach2", fit_approach2), ("vpnls", fit_vpnls)):
        try:
            out[key] = fitter(table)
        except (FitError, ValueError) as exc:
            out[key] = None
            out[f"{key}_error"] = f"{type(exc).__name__}: {exc}"
    return FitPair(**out)


def _vpnls_exponents(runs: pd.DataFrame) -> dict[str, float]:
    surface = fit_vpnls(runs).surface
    return {"alpha": surface.alpha, "beta": surface.beta, "alpha/beta": surface.imbalance}


def bootstrap_imbalance(
    runs: pd.DataFrame, n_boot: int = 500, seed: int = 0, n_jobs: int = 1
) -> BootstrapResult:
    """VPNLS ``alpha``, ``beta`` and ``alpha/beta`` with runs resampled within budgets.

    Each IsoFLOP curve keeps its number of runs, so every draw keeps the experiment's
    design; the interval says whether a table resolves the sign of ``alpha - beta``,
    which sets the sign of Approach 2's asymmetry bias.
    """
    table = runs[["budget", "params", "tokens", "loss"]].reset_index(drop=True)
    return bootstrap(table, _vpnls_exponents, n_boot, seed, within="budget", n_jobs=n_jobs)
