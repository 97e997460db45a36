"""The earlier analysis's numbers recomputed like for like, then one change at a time.

The earlier report on these families (the Claw4S "scaling-laws" submission) fitted
``L = a N^-alpha + L_inf`` on nominal parameter counts, bootstrapped it parametrically
with the noise scale fixed at the residual standard deviation and dropped every draw
with ``L_inf < 0``; it measured extrapolation as the mean absolute percentage error of
the loss from the four smallest models, and transfer as the same error of an unweighted
bounded power law ``acc = 1 - a N^-alpha`` fitted on Cerebras-GPT's nominal sizes and
evaluated at Pythia's, against Pythia's length-normalised ARC-Challenge score. This
module reproduces each protocol with this package's fitters and then changes one choice
at a time, so a reader can see which choice moves which number.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from . import data
from .loss_laws import N_REF, _at_bound, _fit_batch, fit_loss_law
from .tasks import TASK_FORMS, fit_task_law
from .transfer import scaling_variable

COUNTS = {"nominal": "N_nominal", "total": "N_total", "non-embedding": "N_nonembedding"}
LAWS = ("earlier", "best of two")


@dataclass(frozen=True)
class AlphaInterval:
    """A bootstrap percentile interval of the floor law's exponent and how it was made."""

    alpha: float
    lower: float
    upper: float
    kept: int
    n_boot: int


def fixed_scale_bootstrap(
    N, loss, n_boot: int = 1000, seed: int = 0, drop_at_bound: bool = True
) -> AlphaInterval:
    """The earlier protocol's 95% interval of ``alpha`` for the floor law.

    Gaussian noise of fixed scale (the residuals' standard deviation, ``ddof=1``) is added
    to the fitted curve and every draw refitted at once. With ``drop_at_bound`` the draws
    whose floor lands on ``L_inf = 0`` (an unconstrained fit would put it below zero) or
    whose ``alpha`` leaves ``[0, 1]`` are dropped, as the earlier code did.
    """
    N, loss = np.asarray(N, float), np.asarray(loss, float)
    fit = fit_loss_law(N, loss, "floor", n_boot=0)
    scale = float(np.std(fit.residuals, ddof=1))
    rng = np.random.default_rng(seed)
    Y = fit.predict(N) + scale * rng.standard_normal((n_boot, N.size))
    alpha, a, b, _ = _fit_batch(np.log(N / N_REF), Y, "floor")
    keep = np.ones(n_boot, bool)
    if drop_at_bound:
        keep = ~_at_bound(alpha, a, b, "floor") & (alpha <= 1)
    if keep.sum() < 2:
        raise ValueError(f"only {int(keep.sum())} of {n_boot} draws kept: no interval")
    lo, hi = np.percentile(alpha[keep], [2.5, 97.5])
    return AlphaInterval(fit.alpha, float(lo), float(hi), int(keep.sum()), n_boot)


def extrapolation_mape(N, loss, form: str = "floor", origins=(4,), metric: str = "ape") -> float:
    """Mean error (percent) over the held-out sizes when fitting on the smallest ``k``.

    ``metric="ape"`` is the absolute percentage error of the loss (the earlier metric);
    ``"log"`` the absolute error of the log loss, ``100 |ln(pred/obs)|``. With several
    origins the errors of all held-out predictions are averaged.
    """
    if metric not in ("ape", "log"):
        raise ValueError(f"metric must be 'ape' or 'log', got {metric!r}")
    N, loss = np.asarray(N, float), np.asarray(loss, float)
    order = np.argsort(N)
    N, loss = N[order], loss[order]
    errors = []
    for k in origins:
        pred = fit_loss_law(N[:k], loss[:k], form, n_boot=0).predict(N[k:])
        obs = loss[k:]
        err = np.abs(pred - obs) / obs if metric == "ape" else np.abs(np.log(pred / obs))
        errors.append(100 * err)
    return float(np.mean(np.concatenate(errors)))


@dataclass(frozen=True)
class TransferChoice:
    """One transfer protocol: every choice that the earlier and this analysis differ in."""

    counts: str = "nominal"
    weighted: bool = False
    law: str = "earlier"
    variable: str = "size N"
    arc_metric: str = "acc_norm"

    def changed(self, **kw) -> TransferChoice:
        return TransferChoice(**{**self.__dict__, **kw})


EARLIER_TRANSFER = TransferChoice()
CHAPTER_TRANSFER = TransferChoice("non-embedding", True, "best of two", "size N", "acc")


def transfer_mape(choice: TransferChoice, cerebras=None, pythia=None) -> float:
    """Mean absolute percentage error of Pythia's accuracies predicted from Cerebras-GPT.

    ``law="earlier"`` is the bounded power law on every benchmark; ``"best of two"``
    takes, per benchmark, the chance-floor sigmoid or the bounded power law, whichever
    fits Cerebras-GPT with the smaller chi-square. ``weighted`` uses binomial standard
    errors as weights (otherwise every point counts alike).
    """
    if choice.counts not in COUNTS:
        raise ValueError(f"counts must be one of {list(COUNTS)}, got {choice.counts!r}")
    if choice.law not in LAWS:
        raise ValueError(f"law must be one of {LAWS}, got {choice.law!r}")
    cb = data.cerebras() if cerebras is None else cerebras
    py = data.pythia(choice.arc_metric) if pythia is None else pythia
    col = COUNTS[choice.counts]
    xs = scaling_variable(choice.variable, cb[col], cb["tokens"])
    xt = scaling_variable(choice.variable, py[col], py["tokens"])
    errors = []
    for name in data.PYTHIA_TASKS:
        bench = data.BENCHMARKS[name]
        se = data.binomial_se(cb[name], bench.items) if choice.weighted else np.ones(len(cb))
        forms = ("power",) if choice.law == "earlier" else TASK_FORMS
        fits = [fit_task_law(xs, cb[name], se, bench.chance, form) for form in forms]
        fit = min(fits, key=lambda f: f.chi2)
        obs = py[name].to_numpy(float)
        errors.append(100 * np.abs(fit.predict(xt) - obs) / obs)
    return float(np.mean(np.concatenate(errors)))


TRANSFER_STEPS = (
    ("the earlier protocol", {}),
    ("exact total counts", {"counts": "total"}),
    ("non-embedding counts", {"counts": "non-embedding"}),
    ("binomial weights", {"weighted": True}),
    ("law: the better of sigmoid and power", {"law": "best of two"}),
    ("variable: compute 6ND", {"variable": "compute 6ND"}),
    ("variable: loss-equivalent size", {"variable": "loss-equivalent size"}),
    ("Pythia ARC-Challenge raw acc, as Cerebras-GPT's", {"arc_metric": "acc"}),
)


def transfer_ablation(cerebras=None) -> pd.DataFrame:
    """The earlier transfer protocol, each choice changed alone, and this chapter's.

    One row per protocol with its MAPE and its change from the earlier protocol's; the
    loss-equivalent size is shown with total counts (the convention of the surface it
    borrows) and with the chapter's non-embedding counts.
    """
    rows = [(label, EARLIER_TRANSFER.changed(**kw)) for label, kw in TRANSFER_STEPS]
    rows += [
        ("this chapter: non-embedding, weighted, better law", CHAPTER_TRANSFER),
        ("  ... with the loss-equivalent size",
         CHAPTER_TRANSFER.changed(variable="loss-equivalent size")),
        ("  ... loss-equivalent size on total counts",
         CHAPTER_TRANSFER.changed(variable="loss-equivalent size", counts="total")),
    ]  # fmt: skip
    out = pd.DataFrame(
        [{"protocol": label, "mape_pct": transfer_mape(c, cerebras), **c.__dict__}
         for label, c in rows]
    ).set_index("protocol")  # fmt: skip
    out["change_pct_points"] = out["mape_pct"] - out["mape_pct"].iloc[0]
    return out


def loss_ablation(cerebras=None, n_boot: int = 1000, seed: int = 0) -> pd.DataFrame:
    """The earlier loss numbers like for like, then one change at a time.

    Rows: the floor law's exponent and its interval (fixed-scale bootstrap, draws at the
    bound dropped; then kept; then this package's bootstrap, whose scale is drawn from
    its chi-square distribution; then exact counts; then the pure power law), and the
    extrapolation error (floor law, four smallest, nominal counts, percentage error of
    the loss; then one change each; then this chapter's protocol).
    """
    cb = data.cerebras() if cerebras is None else cerebras
    y = cb["loss"].to_numpy(float)
    nom, tot = cb["N_nominal"].to_numpy(float), cb["N_total"].to_numpy(float)
    rows = []

    def alpha_row(label, fit_alpha, lo, hi, note):
        rows.append({"quantity": "alpha", "protocol": label, "value": fit_alpha,
                     "lower": lo, "upper": hi, "note": note})  # fmt: skip

    same = fixed_scale_bootstrap(nom, y, n_boot, seed, drop_at_bound=True)
    alpha_row(
        "floor law, nominal counts, fixed scale, draws at L_inf = 0 dropped",
        same.alpha,
        same.lower,
        same.upper,
        f"{same.kept} of {same.n_boot} draws kept",
    )
    every = fixed_scale_bootstrap(nom, y, n_boot, seed, drop_at_bound=False)
    alpha_row("  ... every draw kept", every.alpha, every.lower, every.upper, f"{every.kept} draws")
    for label, N, form in (
        ("  ... scale drawn from its chi-square (this package)", nom, "floor"),
        ("  ... exact total counts", tot, "floor"),
        ("pure power law, exact total counts (this chapter)", tot, "power"),
    ):
        f = fit_loss_law(N, y, form, n_boot=n_boot, seed=seed)
        alpha_row(label, f.alpha, *f.ci["alpha"], f"{100 * f.share_at_bound:.0f}% at a bound")
    fl = fit_loss_law(nom, y, "floor", n_boot=0)
    rows.append({"quantity": "L_inf", "protocol": "floor law, nominal counts",
                 "value": fl.L_inf, "lower": np.nan, "upper": np.nan, "note": ""})  # fmt: skip
    for label, kw in (
        ("floor law, 4 smallest, nominal counts, % error of the loss", {}),
        ("  ... exact total counts", {"N": tot}),
        ("  ... pure power law", {"form": "power"}),
        ("  ... error of the log loss", {"metric": "log"}),
        ("  ... origins 4, 5 and 6", {"origins": (4, 5, 6)}),
        ("power law, exact counts, log loss, origins 4-6 (this chapter)",
         {"N": tot, "form": "power", "metric": "log", "origins": (4, 5, 6)}),
    ):  # fmt: skip
        args = {"N": nom, "form": "floor", "origins": (4,), "metric": "ape"} | kw
        rows.append({"quantity": "extrapolation error (%)", "protocol": label,
                     "value": extrapolation_mape(loss=y, **args), "lower": np.nan,
                     "upper": np.nan, "note": ""})  # fmt: skip
    return pd.DataFrame(rows).set_index(["quantity", "protocol"])
