"""Where an optimiser lands, measured as a rate over perturbations rather than one landing.

A noise-free direct fit of the five-parameter surface is ill-conditioned: which basin it
ends in, and how far short of the optimum it stops, can change with the last bits of
the arithmetic (another BLAS kernel, another SIMD level, another CPU). One landing is
therefore not a result that holds on another machine. Here each fit is repeated on
copies of the runs whose losses carry a relative jitter far below any training noise
(:data:`JITTER`, 1e-12): the spread of those outcomes stands in for the spread across
machines, and counts of outcomes become rates with exact binomial intervals.

A fit *misses* when its worst relative parameter error exceeds :data:`MISS_TOLERANCE`.
A miss is a *wrong basin* when its RSS is more than :data:`WRONG_BASIN_RSS` of the
data's total sum of squares (the fit does not explain the data) and an *early stop*
otherwise (right basin, parameters still off).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from .fitting import fit_approach3, fit_vpnls
from .fitting.results import SurfaceFit
from .sampling import sample_isoflops
from .surfaces import SURFACES, LossSurface

#: Relative jitter on each loss that stands in for another machine's arithmetic: far
#: below any training noise (1e-12 of a loss near 3 is 3e-12) and far above rounding.
JITTER = 1e-12
#: A noise-free fit "misses" when its worst relative parameter error exceeds this.
MISS_TOLERANCE = 1e-6
#: A miss is a wrong basin when its RSS exceeds this fraction of the total sum of squares.
WRONG_BASIN_RSS = 1e-6
#: Outcome kinds, in reading order.
KINDS = ("recovered", "early stop", "wrong basin")


@dataclass(frozen=True)
class Rate:
    """``hits`` of ``n`` with an exact (Clopper-Pearson) interval at ``confidence``."""

    hits: int
    n: int
    lower: float
    upper: float
    confidence: float = 0.95

    @property
    def estimate(self) -> float:
        return self.hits / self.n if self.n else float("nan")

    def __str__(self) -> str:
        return (
            f"{self.hits} of {self.n} ({self.estimate:.1%}; {self.confidence:.0%} interval "
            f"{self.lower:.1%} to {self.upper:.1%})"
        )


def rate(hits: int, n: int, confidence: float = 0.95) -> Rate:
    """The proportion ``hits / n`` with its exact binomial interval."""
    from .coverage import clopper_pearson

    hits, n = int(hits), int(n)
    if n <= 0 or not 0 <= hits <= n:
        raise ValueError(f"need 0 <= hits <= n and n > 0, got hits={hits}, n={n}")
    lower, upper = clopper_pearson(hits, n, confidence)
    return Rate(hits=hits, n=n, lower=lower, upper=upper, confidence=confidence)


def jitter_losses(
    runs: pd.DataFrame, rng: np.random.Generator, scale: float = JITTER
) -> pd.DataFrame:
    """A copy of ``runs`` whose losses are multiplied by ``1 + scale * z``, ``z ~ N(0, 1)``."""
    out = runs.copy()
    if scale:
        out["loss"] = out["loss"] * (1.0 + scale * rng.standard_normal(len(out)))
    return out


def miss_kind(max_error: float, rss: float, total_ss: float) -> str:
    """``"recovered"``, ``"early stop"`` (tiny RSS, parameters off) or ``"wrong basin"``.

    The RSS test needs no knowledge of the truth: a practitioner can see a wrong basin in
    the RSS of noise-free (or low-noise) data, but not an early stop.
    """
    if max_error <= MISS_TOLERANCE:
        return "recovered"
    return "wrong basin" if rss > WRONG_BASIN_RSS * total_ss else "early stop"


def outcome(fit: SurfaceFit, surface: LossSurface, runs: pd.DataFrame) -> dict[str, Any]:
    """How far a noise-free fit landed from ``surface``: errors, RSS, kind, term sizes.

    ``weakest_term`` is the smaller of the two power-law terms' ranges over the runs,
    each relative to the true term's range: near 0 when the fit has switched a term off
    and let ``E`` absorb it.
    """
    loss = runs["loss"].to_numpy()
    n, d = runs["params"].to_numpy(), runs["tokens"].to_numpy()
    total_ss = float(np.sum((loss - loss.mean()) ** 2))
    max_error = max(abs(v) for v in fit.relative_errors(surface).values())
    terms = (
        np.ptp(fit.A * n**-fit.alpha) / np.ptp(surface.A * n**-surface.alpha),
        np.ptp(fit.B * d**-fit.beta) / np.ptp(surface.B * d**-surface.beta),
    )
    return {
        "max_err": max_error,
        "rss": fit.rss,
        "relative_rss": fit.rss / total_ss,
        "kind": miss_kind(max_error, fit.rss, total_ss),
        "status": str(fit.status),
        "weakest_term": float(min(terms)),
        **{k: getattr(fit, k) for k in ("E", "A", "B", "alpha", "beta")},
    }


def landing_task(condition: dict[str, Any], rng: np.random.Generator) -> list[dict[str, Any]]:
    """One noise-free fit on jittered runs (a :func:`scaling_lab.montecarlo.run_sweep` task).

    The condition sets ``surface`` (a preset name), ``grid`` (the ±k× width, default 8),
    ``jitter`` (default :data:`JITTER`; 0 fits the exact runs), ``fitter``
    (``"approach3"`` or ``"vpnls"``) and ``options`` (keyword arguments of the fitter).
    """
    surface = SURFACES[condition.get("surface", "asymmetric")]
    runs = sample_isoflops(surface, grid=float(condition.get("grid", 8.0)))
    runs = jitter_losses(runs, rng, float(condition.get("jitter", JITTER)))
    options = dict(condition.get("options") or {})
    fitter = condition.get("fitter", "approach3")
    if fitter == "approach3":
        fit = fit_approach3(runs, **options)
    elif fitter == "vpnls":
        fit = fit_vpnls(runs, **options)
    else:
        raise ValueError(f"fitter must be 'approach3' or 'vpnls', got {fitter!r}")
    return [outcome(fit, surface, runs)]


def perturbed_sweep(
    conditions: pd.DataFrame,
    repeats: int,
    jitter: float = JITTER,
    seed: int = 0,
    n_jobs: int | None = -1,
) -> pd.DataFrame:
    """Every condition (a row of :func:`landing_task` keys) fitted on ``repeats`` copies.

    Each copy of the runs carries its own relative ``jitter`` on the losses; the copies
    are drawn from one seeded stream per row (:func:`scaling_lab.montecarlo.run_sweep`),
    so the sweep is reproducible and independent of the number of workers. One output
    row per fit, with the condition, its ``repeat`` index and :func:`outcome`.
    """
    from .montecarlo import run_sweep

    if int(repeats) != repeats or repeats < 1:
        raise ValueError(f"repeats must be a positive integer, got {repeats!r}")
    rows = conditions.merge(pd.DataFrame({"repeat": range(int(repeats))}), how="cross")
    rows["jitter"] = float(jitter)
    return run_sweep(rows, landing_task, seed=seed, n_jobs=n_jobs)


def kind_rates(
    landings: pd.DataFrame, by: str | list[str], confidence: float = 0.95
) -> pd.DataFrame:
    """Per group: fits, and for early stops, wrong basins and all misses the count and rate.

    Each rate comes with its exact binomial interval (columns ``... lower``/``... upper``).
    """
    rows = {}
    for key, part in landings.groupby(by, sort=False):
        n = len(part)
        row: dict[str, Any] = {"fits": n}
        for label, hits in (
            ("early stops", (part["kind"] == "early stop").sum()),
            ("wrong basins", (part["kind"] == "wrong basin").sum()),
            ("misses", (part["kind"] != "recovered").sum()),
        ):
            r = rate(hits, n, confidence)
            row.update(
                {label: r.hits, f"{label} rate": r.estimate, f"{label} lower": r.lower}
                | {f"{label} upper": r.upper}
            )
        row["worst error"] = part["max_err"].max()
        rows[key] = row
    out = pd.DataFrame.from_dict(rows, orient="index")
    out.index.name = by if isinstance(by, str) else None
    return out


def error_spread(
    landings: pd.DataFrame, by: str, threshold: float, confidence: float = 0.95
) -> pd.DataFrame:
    """Per group: the median and range of ``max_err``, and the share above ``threshold``.

    The share comes with its exact binomial interval (``above lower``, ``above upper``).
    """
    rows = {}
    for key, part in landings.groupby(by, sort=False):
        errors = part["max_err"]
        r = rate((errors > threshold).sum(), len(errors), confidence)
        rows[key] = {
            "fits": r.n,
            "median": errors.median(),
            "smallest": errors.min(),
            "largest": errors.max(),
            "above": r.hits,
            "above rate": r.estimate,
            "above lower": r.lower,
            "above upper": r.upper,
        }
    out = pd.DataFrame.from_dict(rows, orient="index")
    out.index.name = by
    return out
