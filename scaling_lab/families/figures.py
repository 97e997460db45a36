"""Figures of the model-family analysis (used by the report command and the chapter)."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np

from ..bootstrap import percentile_interval
from ..drawing import use_style
from . import data
from .analysis import FamiliesAnalysis
from .intervals import f_threshold
from .loss_laws import N_REF
from .transfer import VARIANTS

FORM_STYLE = {
    "power": {"color": "tab:blue", "label": r"power law $(N_c/N)^\alpha$"},
    "floor": {"color": "tab:orange", "label": r"with a floor $L_\infty + (N_c/N)^\alpha$"},
}


def _band(fit, grid):
    d = fit.draws
    l_inf = d["L_inf"].to_numpy() if "L_inf" in d else np.zeros(len(d))
    pred = l_inf[:, None] + d["A"].to_numpy()[:, None] * (grid / N_REF) ** (
        -d["alpha"].to_numpy()[:, None]
    )
    return percentile_interval(pred, 0.95)


def loss_scaling(an: FamiliesAnalysis) -> plt.Figure:
    """Cerebras-GPT test loss against size with both laws and their 95% bootstrap bands."""
    use_style()
    cb = an.cerebras
    fig, ax = plt.subplots(figsize=(7, 4.2), layout="constrained")
    grid = np.geomspace(5e7, 1e11, 200)
    for form, fit in an.fits.items():
        st = FORM_STYLE[form]
        lo, hi = _band(fit, grid)
        ax.fill_between(grid, lo, hi, color=st["color"], alpha=0.18, lw=0)
        ax.plot(
            grid, fit.predict(grid), color=st["color"], label=f"{st['label']}, α = {fit.alpha:.3f}"
        )
    ax.plot(cb["N_total"], cb["loss"], "ko", ms=5, label="Cerebras-GPT (Pile test loss)")
    ax.axvspan(cb["N_total"].max(), grid[-1], color="0.9", zorder=0, label="beyond the data")
    ax.set_xscale("log")
    ax.set_xlabel("parameters N (exact total count)")
    ax.set_ylabel("Pile test loss (nats per token)")
    ax.legend(loc="upper right")
    return fig


def residuals(an: FamiliesAnalysis) -> plt.Figure:
    """Residuals of both laws with the ±2σ band of each fit's noise scale."""
    use_style()
    fig, axes = plt.subplots(1, 2, figsize=(7.2, 3.2), layout="constrained", sharey=True)
    for ax, (form, fit) in zip(axes, an.fits.items(), strict=True):
        st = FORM_STYLE[form]
        ax.axhspan(-2 * fit.sigma * 1e3, 2 * fit.sigma * 1e3, color=st["color"], alpha=0.15, lw=0)
        ax.axhline(0, color="black", lw=0.6)
        ax.plot(fit.N, 1e3 * fit.residuals, "o-", color=st["color"])
        ax.set_xscale("log")
        ax.set_title(st["label"])
        ax.set_xlabel("parameters N")
    axes[0].set_ylabel("observed − fitted loss (milli-nats)")
    return fig


def model_selection(an: FamiliesAnalysis) -> plt.Figure:
    """Profile likelihood of the exponent, information criteria, and the Chinchilla profile."""
    use_style()
    fig, axd = plt.subplot_mosaic(
        [["profile", "criteria"], ["chinchilla", "chinchilla"]],
        figsize=(7.2, 6.4),
        layout="constrained",
    )
    ax = axd["profile"]
    for form, fit in an.fits.items():
        prof = fit.profile
        k = 2 if form == "power" else 3
        label = "power law" if form == "power" else "with a floor"
        ax.plot(prof["alpha"], prof["rss"] / fit.rss, color=FORM_STYLE[form]["color"], label=label)
        ax.axhline(f_threshold(1.0, fit.n, k), color=FORM_STYLE[form]["color"], ls=":", lw=1)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_ylim(0.9, 1e3)
    ax.set_xlabel("exponent α")
    ax.set_ylabel("profile RSS / minimum RSS")
    ax.set_title("profile likelihood of α\n(dotted: 95% threshold)")
    ax.legend()
    ax = axd["criteria"]
    ms = an.results["loss_scaling"]["model_selection"]
    forms = list(an.fits)
    x = np.arange(len(forms))
    ax.bar(x - 0.18, [ms["aicc"][f] for f in forms], 0.36, label="AICc")
    ax.bar(x + 0.18, [ms["bic"][f] for f in forms], 0.36, label="BIC")
    ax.set_xticks(x, ["power law", "with a floor"])
    ax.set_ylabel("criterion (lower is better)")
    ax.set_title("information criteria, n = 7")
    ax.legend()
    ax = axd["chinchilla"]
    for name, prof in an.chinchilla_profiles.items():
        ax.plot(prof["beta"], prof["rss"] / prof["rss"].min(), label=name)
    ax.set_yscale("log")
    ax.set_xlabel("data exponent β")
    ax.set_ylabel("profile RSS / minimum RSS")
    ax.set_title("Chinchilla form: profile over the data exponent β")
    ax.legend()
    return fig


def task_scaling(an: FamiliesAnalysis) -> plt.Figure:
    """Each benchmark's accuracy with binomial error bars and both task laws."""
    use_style()
    cb = an.cerebras
    fig, axes = plt.subplots(4, 2, figsize=(7.2, 9.6), layout="constrained", sharex=True)
    grid = np.geomspace(5e7, 1e11, 200)
    for ax, (name, b) in zip(axes.flat, data.BENCHMARKS.items(), strict=False):
        objs = an.task_fits[name]
        ax.errorbar(cb["N_total"], cb[name], yerr=2 * objs["se"], fmt="ko", ms=3.5, capsize=2)
        ax.plot(
            grid, objs["sigmoid"].predict(grid), color="tab:green", label="sigmoid, chance floor"
        )
        ax.plot(
            grid,
            objs["power"].predict(grid),
            color="tab:purple",
            ls="--",
            label="bounded power law",
        )
        ax.axhline(b.chance, color="0.5", lw=0.8, ls=":", label="chance")
        lo = min(cb[name].min(), b.chance) - 0.05
        ax.set_ylim(max(lo, -0.02), min(1.0, cb[name].max() + 0.1))
        ax.set_title(b.label)
        ax.set_xscale("log")
    axes.flat[-1].axis("off")
    handles, labels = axes.flat[0].get_legend_handles_labels()
    axes.flat[-1].legend(handles, labels, loc="center", fontsize=10)
    axes[-2, -1].xaxis.set_tick_params(labelbottom=True)
    for ax in (axes[-1, 0], axes[-2, -1]):
        ax.set_xlabel("parameters N (exact total count)")
    for ax in axes[:, 0]:
        ax.set_ylabel("accuracy (±2 SE)")
    return fig


def _label(target: str) -> str:
    return data.BENCHMARKS[target].label if target in data.BENCHMARKS else f"{target} law"


def extrapolation(an: FamiliesAnalysis) -> plt.Figure:
    """Rolling-origin errors for loss and for each benchmark, on comparable scales."""
    use_style()
    fig, axes = plt.subplots(2, 1, figsize=(7.2, 7.2), layout="constrained", sharex=True)
    for ax, table, ylabel in (
        (axes[0], an.loss_errors, "log-loss error (%)"),
        (axes[1], an.task_errors, "accuracy error\n(% of chance-to-perfect range)"),
    ):
        targets = list(dict.fromkeys(table["target"]))
        cmap = plt.get_cmap("tab10")
        for i, t in enumerate(targets):
            part = table[table.target == t]
            for k, marker in zip(sorted(part["k"].unique()), "o^s", strict=False):
                sub = part[part.k == k]
                ax.plot(sub["N"], sub["error_pct"], marker=marker, ls="-", color=cmap(i), ms=4,
                        label=_label(t) if k == part["k"].min() else None)  # fmt: skip
        ax.axhline(0, color="black", lw=0.6)
        ax.set_xscale("log")
        ax.set_ylabel(ylabel)
    axes[1].set_xlabel("held-out size N (exact total count)")
    axes[0].set_title("loss laws (fitted on the k smallest sizes; markers: k = 4 ○, 5 △, 6 □)")
    axes[1].set_title("task sigmoids with a chance floor")
    axes[0].legend()
    axes[1].legend(ncol=2)
    return fig


def transfer(an: FamiliesAnalysis) -> plt.Figure:
    """Pythia accuracy predicted from Cerebras-GPT laws against the observed accuracy."""
    use_style()
    t = an.transfer_table
    fig, axes = plt.subplots(
        1, len(VARIANTS), figsize=(7.2, 3.4), layout="constrained", sharey=True
    )
    cmap = plt.get_cmap("tab10")
    for ax, v in zip(axes, VARIANTS, strict=True):
        part = t[t.variant == v]
        for i, name in enumerate(data.PYTHIA_TASKS):
            sub = part[part.benchmark == name]
            ax.errorbar(sub["observed"], sub["predicted"], xerr=2 * sub["se"], fmt="o", ms=3.5,
                        color=cmap(i), label=data.BENCHMARKS[name].label)  # fmt: skip
        ax.plot([0, 1], [0, 1], color="black", lw=0.6)
        ax.set_xlim(0.1, 0.85)
        ax.set_ylim(0.1, 0.85)
        ax.set_title(f"variable: {v}")
        ax.set_xlabel("Pythia, observed")
        ax.set_aspect("equal")
    axes[0].set_ylabel("predicted from Cerebras-GPT laws")
    handles, labels = axes[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="outside lower center", ncol=len(labels))
    return fig


ALL = {
    "loss_scaling": loss_scaling,
    "task_scaling": task_scaling,
    "residuals": residuals,
    "model_selection": model_selection,
    "extrapolation": extrapolation,
    "transfer": transfer,
}
