"""One matplotlib style and the recurring figure types of the book."""

from __future__ import annotations

from collections.abc import Sequence

import matplotlib as mpl
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from .fitting.approach2 import Approach2Fit
from .surfaces import LossSurface

STYLE: dict[str, object] = {
    "figure.dpi": 100,
    "savefig.dpi": 100,
    "figure.figsize": (7.0, 4.2),
    "font.size": 10,
    "axes.titlesize": 10,
    "axes.labelsize": 10,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.grid": True,
    "grid.alpha": 0.3,
    "legend.frameon": False,
    "legend.fontsize": 8,
    "lines.linewidth": 1.6,
}

TRUE_STYLE = {"color": "black", "marker": "*", "ms": 11, "ls": "none", "zorder": 5}
INFERRED_STYLE = {"color": "tab:red", "marker": "x", "ms": 8, "mew": 2, "ls": "none", "zorder": 6}


def use_style() -> None:
    """Apply the book's matplotlib style."""
    mpl.rcParams.update(STYLE)


def budget_colors(budgets: Sequence[float]) -> list:
    """One colour per budget, dark (small) to light (large)."""
    cmap = plt.get_cmap("viridis")
    return [cmap(x) for x in np.linspace(0.05, 0.85, len(budgets))]


def plot_isoflops(
    ax: plt.Axes,
    df: pd.DataFrame,
    fit: Approach2Fit | None = None,
    surface: LossSurface | None = None,
    variable: str = "params",
    legend: bool = True,
) -> plt.Axes:
    """IsoFLOP samples against ``variable`` (params or tokens), with fitted parabolas and optima."""
    if variable not in ("params", "tokens"):
        raise ValueError(f"variable must be 'params' or 'tokens', got {variable!r}")
    budgets = np.unique(df["budget"])
    for color, budget in zip(budget_colors(budgets), budgets, strict=True):
        runs = df[df["budget"] == budget]
        x = runs[variable].to_numpy()
        ax.plot(x, runs["loss"], "o", ms=3.5, color=color, label=f"C = {budget:.0e}")
        if fit is not None:
            par = fit.parabolas_N if variable == "params" else fit.parabolas_D
            i = int(np.flatnonzero(par.budget == budget)[0])
            xs = np.linspace(np.log10(x.min()), np.log10(x.max()), 100)
            ax.plot(10**xs, par(i, xs), "-", color=color, lw=1.2, alpha=0.9)
            ax.plot(10 ** par.vertex[i], par.vertex_loss[i], **INFERRED_STYLE)
        if surface is not None:
            opt = surface.N_opt(budget) if variable == "params" else surface.D_opt(budget)
            ax.plot(opt, surface.loss_opt(budget), **TRUE_STYLE)
    ax.set_xscale("log")
    ax.set_xlabel("parameters N" if variable == "params" else "training tokens D")
    ax.set_ylabel("loss")
    if not legend:
        return ax
    handles, labels = ax.get_legend_handles_labels()
    if fit is not None:
        handles.append(plt.Line2D([], [], **INFERRED_STYLE))
        labels.append("parabola vertex")
    if surface is not None:
        handles.append(plt.Line2D([], [], **TRUE_STYLE))
        labels.append("true optimum")
    ax.legend(handles, labels, loc="upper right", ncol=2, fontsize=7)
    return ax


def plot_power_law(
    ax: plt.Axes,
    fit: Approach2Fit,
    surface: LossSurface | None = None,
    variable: str = "params",
    extend_to: float | None = None,
) -> plt.Axes:
    """Per-budget optima against compute with the fitted power law (and the true one)."""
    opt = fit.optima
    col, predict = ("N_opt", fit.N_opt) if variable == "params" else ("D_opt", fit.D_opt)
    lo, hi = opt["budget"].min(), max(opt["budget"].max(), extend_to or 0)
    cs = np.geomspace(lo, hi, 100)
    if surface is not None:
        true = surface.N_opt if variable == "params" else surface.D_opt
        ax.plot(cs, true(cs), color="black", lw=3, alpha=0.25, label="true")
    ax.plot(cs, predict(cs), color="tab:red", ls="--", label="Approach 2 power law")
    ax.plot(opt["budget"], opt[col], **INFERRED_STYLE, label="parabola vertices")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("compute C (FLOPs)")
    ax.set_ylabel("optimal parameters N*" if variable == "params" else "optimal tokens D*")
    ax.legend()
    return ax


def plot_loss_landscape(
    ax: plt.Axes,
    surface: LossSurface,
    budgets: Sequence[float],
    n_range: tuple[float, float] = (1e7, 1e11),
    d_range: tuple[float, float] = (1e8, 1e12),
) -> plt.Axes:
    """Loss contours over (N, D) with IsoFLOP lines and the compute-optimal path."""
    ns = np.geomspace(*n_range, 200)
    ds = np.geomspace(*d_range, 200)
    grid_n, grid_d = np.meshgrid(ns, ds)
    levels = np.quantile(surface.loss(grid_n, grid_d), np.linspace(0.02, 0.98, 14))
    cs = ax.contour(
        grid_n, grid_d, surface.loss(grid_n, grid_d), levels=levels, cmap="Greys", linewidths=0.8
    )
    ax.clabel(cs, fmt="%.2f", fontsize=7)
    for color, budget in zip(budget_colors(budgets), budgets, strict=True):
        ax.plot(ns, budget / (6 * ns), color=color, lw=1.4, label=f"C = {budget:.0e}")
    path = np.geomspace(min(budgets) / 10, max(budgets) * 10, 50)
    ax.plot(
        surface.N_opt(path),
        surface.D_opt(path),
        color="tab:red",
        lw=2,
        label="compute-optimal N*(C), D*(C)",
    )
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlim(*n_range)
    ax.set_ylim(*d_range)
    ax.set_xlabel("parameters N")
    ax.set_ylabel("training tokens D")
    ax.legend(loc="upper right")
    return ax


def approach2_figure(
    surface: LossSurface, grid: float = 8.0, figsize: tuple[float, float] = (9.0, 3.6), **sampling
) -> plt.Figure:
    """IsoFLOP runs with fitted parabolas (left) and the power law of the vertices (right)."""
    from .fitting.approach2 import fit_approach2
    from .sampling import sample_isoflops

    runs = sample_isoflops(surface, grid=grid, **sampling)
    fit = fit_approach2(runs)
    fig, (left, right) = plt.subplots(1, 2, figsize=figsize, layout="constrained")
    plot_isoflops(left, runs, fit=fit, surface=surface, legend=False)
    plot_power_law(right, fit, surface=surface, variable="tokens")
    return fig
