"""Plan the next IsoFLOP curve from a fit of the runs so far.

The next budget's sweep is centred on the fitted optimum ``N*(C)`` (an off-centre
sweep biases Approach 2 and wastes runs on the flanks) and made as narrow as the noise
allows: the smallest width from :data:`WIDTHS` at which a least-squares parabola
through the ``K`` runs measures the IsoFLOP curve's curvature with a signal-to-noise
ratio of at least :data:`CURVATURE_SNR`, computed from the fitted surface and the
fit's residual standard deviation. A narrower sweep cannot show that the curve bends
(its vertex is then noise); a wider one spends runs far from the optimum and, for an
asymmetric surface, moves Approach 2's vertex by the closed-form shift of Part I.

The plan also predicts what the new runs buy: the width of the interval for ``D*``
at the next budget before and after adding them, by simulating the proposed runs
from the fitted surface with the measured noise and refitting with the bootstrap.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from .analysis import symmetric_offsets
from .assess import Assessment, assess, key
from .design import vertex_shift_offsets
from .runs_io import Runs, RunsError, isoflop_gap, prepare_runs
from .surfaces import LossSurface

#: Candidate sweep widths (the k of "±k×"), narrowest first.
WIDTHS: tuple[float, ...] = (1.5, 2.0, 2.5, 3.0, 4.0, 5.0, 6.0, 8.0, 10.0, 12.0, 16.0)
#: The curvature of the next IsoFLOP curve must stand this many standard errors above zero.
CURVATURE_SNR = 10.0


@dataclass(frozen=True)
class WidthCheck:
    """What a ``±k×`` sweep of ``n`` runs would show on an IsoFLOP curve, before any run."""

    width: float
    curvature_snr: float
    vertex_sd: float
    vertex_shift: float


def width_check(
    surface: LossSurface, budget: float, width: float, n_points: int, noise_sd: float
) -> WidthCheck:
    """Curvature signal-to-noise, vertex standard deviation and Approach 2 shift (decades).

    Runs at ``w_i = log10(N_i/N*)`` equally spaced on ``[-log10 k, log10 k]``. The
    least-squares parabola's coefficients have covariance ``noise_sd**2 (X'X)^-1``;
    its curvature is that of the noise-free losses, and the vertex's standard
    deviation follows from the delta method.
    """
    w = symmetric_offsets(np.log10(width), n_points)
    n_opt = surface.N_opt(budget)
    n = n_opt * 10.0**w
    loss = surface.loss(n, budget / (6.0 * n))
    X = np.column_stack([np.ones_like(w), w, w**2])
    coef, *_ = np.linalg.lstsq(X, loss, rcond=None)
    cov = noise_sd**2 * np.linalg.inv(X.T @ X)
    c1, c2 = coef[1], coef[2]
    snr = float(c2 / np.sqrt(cov[2, 2])) if noise_sd > 0 else np.inf
    grad = np.array([0.0, -1.0 / (2 * c2), c1 / (2 * c2**2)])  # d vertex / d coef
    vertex_sd = float(np.sqrt(grad @ cov @ grad))
    shift = vertex_shift_offsets(surface.alpha, surface.beta, w)
    return WidthCheck(
        width=float(width), curvature_snr=snr, vertex_sd=vertex_sd, vertex_shift=shift
    )


@dataclass(frozen=True, repr=False)
class Plan:
    """A proposed IsoFLOP sweep at ``budget`` and the reasons for it."""

    budget: float
    runs: pd.DataFrame
    center: float
    center_interval: tuple[float, float]
    check: WidthCheck
    noise_sd: float
    interval_before: float
    interval_after: float
    n_sim: int
    assessment: Assessment

    @property
    def width(self) -> float:
        return self.check.width

    def to_frame(self) -> pd.DataFrame:
        """The proposed runs: ``budget, params, tokens``."""
        return self.runs.copy()

    def reasons(self) -> list[str]:
        """Why this sweep, one line per point."""
        chk = self.check
        lo, hi = self.center_interval
        lines = [
            f"next IsoFLOP curve: C = {self.budget:.3g} FLOPs, {len(self.runs)} runs, "
            f"params from {self.runs['params'].min():.3g} to {self.runs['params'].max():.3g}",
            f"centre: fitted N*(C) = {self.center:.4g} parameters "
            f"(90% interval [{lo:.4g}, {hi:.4g}]), so D*(C) = "
            f"{self.budget / (6 * self.center):.4g} tokens",
            f"width: ±{chk.width:g}× is the narrowest of {', '.join(f'±{k:g}×' for k in WIDTHS)} "
            f"whose curvature stands {CURVATURE_SNR:g} standard errors above the measured "
            f"noise (sd {self.noise_sd:.3g}): signal-to-noise {chk.curvature_snr:.3g}",
            f"vertex: a parabola through these runs would place N* to within "
            f"{chk.vertex_sd:.3g} decades (1 sd, from noise); Approach 2's closed-form bias at "
            f"this width is {chk.vertex_shift:+.3g} decades (VPNLS has none)",
            "expected gain: the 90% interval of D*(C) narrows from "
            f"±{50 * self.interval_before:.3g}% to about ±{50 * self.interval_after:.3g}% "
            f"(median of {self.n_sim} simulations of these runs on the fitted surface with the "
            "measured noise)",
        ]
        if not np.isfinite(chk.curvature_snr) or chk.curvature_snr < CURVATURE_SNR:
            lines.append(
                f"warning: even ±{chk.width:g}× does not reach a curvature signal-to-noise of "
                f"{CURVATURE_SNR:g}; use more runs per curve or reduce the noise"
            )
        return lines

    def report(self) -> str:
        return "\n".join(self.reasons())

    def __repr__(self) -> str:
        return (
            f"Plan(budget={self.budget:.3g}, runs={len(self.runs)}, centre N*={self.center:.4g}, "
            f"width=±{self.width:g}×, interval of D* ±{50 * self.interval_before:.3g}% -> "
            f"±{50 * self.interval_after:.3g}%)"
        )


def plan_next(
    runs: pd.DataFrame | Runs,
    budget: float,
    n_points: int = 9,
    *,
    n_boot: int = 200,
    n_sim: int = 5,
    seed: int = 0,
    assessment: Assessment | None = None,
) -> Plan:
    """Propose ``n_points`` runs for the IsoFLOP curve at ``budget`` from a VPNLS fit of ``runs``.

    ``assessment`` reuses an existing :func:`~scaling_lab.assess.assess` result of the
    same runs with the VPNLS method; otherwise one is made with ``n_boot`` draws.
    ``n_sim`` simulations (seeded from ``seed``) predict the interval after the runs.
    """
    if not (np.isfinite(budget) and budget > 0):
        raise ValueError(f"budget must be a positive number of FLOPs, got {budget!r}")
    if int(n_points) != n_points or n_points < 3:
        raise ValueError(f"n_points must be an integer >= 3 (a parabola needs 3), got {n_points!r}")
    runs = prepare_runs(runs)
    gap = isoflop_gap(runs)
    if gap is not None:
        raise RunsError(runs.source, f"plan proposes the next IsoFLOP curve, but {gap}")
    if assessment is None or assessment.method != "vpnls" or budget not in assessment.targets:
        assessment = assess(runs, method="vpnls", n_boot=n_boot, seed=seed, targets=(budget,))
    surface = assessment.surface
    noise = assessment.noise_sd
    checks = [width_check(surface, budget, k, n_points, noise) for k in WIDTHS]
    chosen = next((c for c in checks if c.curvature_snr >= CURVATURE_SNR), checks[-1])
    center = surface.N_opt(budget)
    params = center * 10.0 ** symmetric_offsets(np.log10(chosen.width), n_points)
    proposal = pd.DataFrame({"budget": budget, "params": params, "tokens": budget / (6.0 * params)})
    table = assessment.intervals()
    d_key = key("D_opt", budget)
    before = _relative_width(table.loc[d_key])
    after = _simulated_width(runs, proposal, surface, noise, budget, n_boot, n_sim, seed)
    n_row = table.loc[key("N_opt", budget)]
    return Plan(
        budget=float(budget),
        runs=proposal,
        center=float(center),
        center_interval=(float(n_row["lower"]), float(n_row["upper"])),
        check=chosen,
        noise_sd=noise,
        interval_before=before,
        interval_after=after,
        n_sim=n_sim,
        assessment=assessment,
    )


def _relative_width(row: pd.Series) -> float:
    return float((row["upper"] - row["lower"]) / row["estimate"])


def _simulated_width(runs, proposal, surface, noise, budget, n_boot, n_sim, seed) -> float:
    """Median relative width of the D*(budget) interval after adding simulated proposed runs."""
    widths = []
    for child in np.random.default_rng([seed, 1]).spawn(n_sim):
        new = proposal.copy()
        new["loss"] = surface.loss(new["params"], new["tokens"]) + child.normal(
            0.0, noise, size=len(new)
        )
        combined = pd.concat([runs.table, new], ignore_index=True)
        result = assess(combined, n_boot=n_boot, seed=child, targets=(budget,))
        widths.append(_relative_width(result.intervals().loc[key("D_opt", budget)]))
    return float(np.median(widths))
