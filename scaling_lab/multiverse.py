"""How much each analysis choice moves a scaling-law answer: a multiverse of fits.

One set of published runs admits many defensible analyses: which runs to keep, which
method, which objective. :func:`multiverse` fits every combination and records three
answers per *universe*: the exponent ``a`` of ``N* ∝ C**a``, the ratio ``D*/N*`` at
:data:`RATIO_BUDGET`, and the deadweight share of the budget at :data:`PRICE_BUDGET`
when one trains on the universe's recommended token count while VPNLS on the same runs
is the truth (the convention of the frontier-cost chapter; VPNLS universes cost zero
under it by construction).

:meth:`Multiverse.shares` breaks each answer's spread down by choice with the
correlation ratio ``eta**2 = 1 - SS_within / SS_total`` of each factor on its own: the
share of the variance that knowing that one choice removes. The factors are not a full
factorial (Approach 2 has one objective, and method and objective are confounded), so
the shares need not sum to one; :meth:`Multiverse.chance` gives the share a factor with
as many levels would explain of pure noise.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import partial

import numpy as np
import pandas as pd

from .costs import misallocation
from .fitting import FitError, fit_approach2, fit_approach3, fit_vpnls

#: Budget of the ``D*/N*`` answer (FLOPs).
RATIO_BUDGET = 1e24
#: Budget at which a recommendation is priced (FLOPs): the Llama 3 405B scale.
PRICE_BUDGET = 3.8e25
#: Estimator name -> (method, objective, fitter).
ESTIMATORS: dict[str, tuple[str, str, Callable]] = {
    "approach2": ("Approach 2", "squared", fit_approach2),
    "vpnls": ("VPNLS", "squared", fit_vpnls),
    "vpnls_huber_1e-3": ("VPNLS", "Huber δ=1e-3", partial(fit_vpnls, loss="huber", delta=1e-3)),
    "vpnls_huber_1e-2": ("VPNLS", "Huber δ=1e-2", partial(fit_vpnls, loss="huber", delta=1e-2)),
    "approach3_normalised": (
        "Approach 3",
        "squared",
        partial(fit_approach3, variant="normalised"),
    ),
    "approach3_chinchilla": (
        "Approach 3",
        "Huber on log loss",
        partial(fit_approach3, variant="chinchilla"),
    ),
}
#: The answers each universe records, and the scale on which their spread is measured.
ANSWERS: dict[str, str] = {"a": "linear", "D/N at 1e24": "log10", "deadweight %": "linear"}
FACTORS: tuple[str, ...] = ("data", "method", "objective")


def data_choices(runs: pd.DataFrame, flag: str = "outlier") -> dict[str, tuple[str, pd.DataFrame]]:
    """Defensible choices of runs: all, without the flagged rows, each budget left out.

    Returns name -> (kind, runs), ``kind`` being ``"all"``, ``"QC flags"`` or
    ``"one budget left out"``. The flag column is optional.
    """
    out = {"all runs": ("all", runs)}
    if flag in runs.columns and runs[flag].astype(bool).any():
        out["flagged runs removed"] = ("QC flags", runs[~runs[flag].astype(bool)])
    for b in sorted(runs["budget"].unique()):
        out[f"without {b:.0e}"] = ("one budget left out", runs[runs["budget"] != b])
    return out


@dataclass(frozen=True, repr=False)
class Multiverse:
    """Every universe's answers (``universes``) and the share of each choice in them."""

    universes: pd.DataFrame
    source: str

    def shares(self) -> pd.DataFrame:
        """``eta**2`` of each factor (rows) for each answer (columns), on its scale."""
        u = self.universes
        out = {}
        for answer, scale in ANSWERS.items():
            y = u[answer].to_numpy(dtype=float)
            y = np.log10(y) if scale == "log10" else y
            ok = np.isfinite(y)
            total = float(np.sum((y[ok] - y[ok].mean()) ** 2))
            col = {}
            for f in FACTORS:
                g = pd.Series(y[ok]).groupby(u[f].to_numpy()[ok])
                within = float(g.apply(lambda s: np.sum((s - s.mean()) ** 2)).sum())
                col[f] = 1.0 - within / total if total > 0 else np.nan
            out[answer] = col
        table = pd.DataFrame(out)
        table.index.name = "choice"
        return table

    def chance(self) -> pd.Series:
        """Expected ``eta**2`` of each factor when it has no effect: ``(k - 1) / (n - 1)``.

        A factor with ``k`` levels over ``n`` universes explains that much of the variance
        of pure noise on average, so a share near it is no evidence that the choice matters.
        """
        n = len(self.universes)
        return pd.Series(
            {f: (self.universes[f].nunique() - 1) / max(n - 1, 1) for f in FACTORS},
            name="chance",
        )

    def summary(self) -> pd.DataFrame:
        """Per answer: the range, median and interquartile range over all universes."""
        u = self.universes[list(ANSWERS)]
        return pd.DataFrame(
            {
                "min": u.min(),
                "25%": u.quantile(0.25),
                "median": u.median(),
                "75%": u.quantile(0.75),
                "max": u.max(),
                "universes": u.notna().sum(),
            }
        )

    def __repr__(self) -> str:
        return f"Multiverse({self.source!r}, universes={len(self.universes)})"


def _universe(choice: str, kind: str, runs: pd.DataFrame, name: str, fitter, reference):
    method, objective = ESTIMATORS[name][:2]
    row = {"data": choice, "runs": kind, "estimator": name, "method": method}
    row |= {"objective": objective, "n_runs": len(runs)}
    try:
        fit = fitter(runs)
    except (FitError, ValueError) as exc:
        return row | {a: np.nan for a in ANSWERS} | {"error": " ".join(str(exc).split())}
    n, d = float(fit.N_opt(RATIO_BUDGET)), float(fit.D_opt(RATIO_BUDGET))
    dead = np.nan
    if reference is not None:
        m = misallocation(reference, float(fit.D_opt(PRICE_BUDGET)), PRICE_BUDGET)
        dead = 100 * float(m.deadweight_fraction)
    return row | {"a": float(fit.a), "D/N at 1e24": d / n, "deadweight %": dead, "error": ""}


def multiverse(
    runs: pd.DataFrame,
    estimators: Mapping[str, Callable] | None = None,
    flag: str = "outlier",
    source: str = "runs",
    n_jobs: int = 1,
) -> Multiverse:
    """Fit every estimator under every choice of runs (:func:`data_choices`).

    ``estimators`` maps names of :data:`ESTIMATORS` to fitters (default: all of them).
    A universe whose fit fails keeps its row, with NaN answers and the error. With
    ``n_jobs > 1`` the universes run in parallel (joblib); results do not depend on it.
    """
    from joblib import Parallel, delayed

    estimators = {k: v[2] for k, v in ESTIMATORS.items()} if estimators is None else estimators
    unknown = sorted(set(estimators) - set(ESTIMATORS))
    if unknown:
        raise ValueError(f"unknown estimator(s) {unknown}; choose from {list(ESTIMATORS)}")
    choices = data_choices(runs, flag)
    references = {}
    for choice, (_, rows) in choices.items():
        try:
            references[choice] = fit_vpnls(rows).surface
        except (FitError, ValueError):
            references[choice] = None
    jobs = (
        delayed(_universe)(choice, kind, rows, name, fitter, references[choice])
        for choice, (kind, rows) in choices.items()
        for name, fitter in estimators.items()
    )
    table = pd.DataFrame(Parallel(n_jobs=n_jobs)(jobs))
    return Multiverse(universes=table, source=source)
