"""One matplotlib style and the recurring figure types of the book."""

from __future__ import annotations

from collections.abc import Sequence

import matplotlib as mpl
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from .analysis import approach2_sweep, extrapolation_curve, symmetric_offsets, vertex_shift
from .fitting.approach2 import Approach2Fit, fit_approach2
from .sampling import NAMED_GRIDS, sample_isoflops
from .surfaces import SURFACES, LossSurface, imbalanced_surface

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
    show_centers: bool = False,
) -> plt.Axes:
    """IsoFLOP samples against ``variable`` (params or tokens), with fitted parabolas and optima.

    ``show_centers`` marks each budget's sampling centre (the middle of its grid).
    """
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
        if show_centers:
            centre = 10 ** np.mean(np.log10([x.min(), x.max()]))
            ax.axvline(centre, color=color, lw=0.8, ls=":")
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
    if show_centers:
        handles.append(plt.Line2D([], [], color="0.3", lw=0.8, ls=":"))
        labels.append("sampling centre")
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

    runs = sample_isoflops(surface, grid=grid, **sampling)
    fit = fit_approach2(runs)
    fig, (left, right) = plt.subplots(1, 2, figsize=figsize, layout="constrained")
    plot_isoflops(left, runs, fit=fit, surface=surface, legend=False)
    plot_power_law(right, fit, surface=surface, variable="tokens")
    return fig


def plot_error_lines(
    ax: plt.Axes,
    df: pd.DataFrame,
    y: str,
    by: str,
    x: str = "grid",
    percent: bool = True,
    labels: dict | None = None,
    ylabel: str | None = None,
) -> plt.Axes:
    """One line per value of ``by``: error column ``y`` against the grid width ``x``."""
    cmap = plt.get_cmap("plasma")
    groups = list(dict.fromkeys(df[by]))
    for k, key in enumerate(groups):
        part = df[df[by] == key].sort_values(x)
        scale = 100.0 if percent else 1.0
        color = cmap(0.1 + 0.75 * k / max(len(groups) - 1, 1))
        label = (labels or {}).get(key, str(key))
        ax.plot(part[x], scale * part[y], "-o", ms=2.5, color=color, label=label)
    ax.set_xscale("log")
    ax.axhline(0.0, color="black", lw=0.6)
    if x == "grid":
        ax.set_xlabel("sampling grid: ±k× around the centre")
        ticks = [t for t in (2, 4, 8, 16, 32, 100) if df[x].min() <= t <= df[x].max()]
        ax.set_xticks(ticks, [f"±{t}×" for t in ticks])
        ax.minorticks_off()
    ax.set_ylabel(ylabel if ylabel is not None else (f"{y} (%)" if percent else y))
    return ax


def vertex_shift_figure(
    ratio: float, grid: float, n_points: int = 15, figsize: tuple[float, float] = (9.0, 3.6)
) -> plt.Figure:
    """The normalised IsoFLOP valley with its fitted parabola (left) and the shift vs width."""

    s = imbalanced_surface(ratio)
    u = symmetric_offsets(np.log10(grid), n_points)
    f = 10.0 ** (-s.alpha * u) + (s.alpha / s.beta) * 10.0 ** (s.beta * u)
    coef = np.polyfit(u, f, 2)
    shift = vertex_shift(s.alpha, s.beta, grid, n_points)
    fig, (left, right) = plt.subplots(1, 2, figsize=figsize, layout="constrained")
    dense = np.linspace(u.min(), u.max(), 200)
    left.plot(
        dense,
        10.0 ** (-s.alpha * dense) + (s.alpha / s.beta) * 10.0 ** (s.beta * dense),
        color="0.6",
        lw=3,
        label="IsoFLOP loss (normalised)",
    )
    left.plot(u, f, "o", ms=3.5, color="tab:blue", label="runs")
    left.plot(dense, np.polyval(coef, dense), "--", color="tab:red", label="fitted parabola")
    left.axvline(0.0, color="black", lw=1, label="true optimum")
    left.axvline(shift, color="tab:red", lw=1, ls=":", label=f"vertex: {shift:+.4f} decades")
    left.set_xlabel("w = log10(N / N*)")
    left.set_ylabel("(L - E) / P")
    left.legend(loc="upper center", fontsize=7)
    widths = np.geomspace(2.0, 100.0, 60)
    right.plot(widths, vertex_shift(s.alpha, s.beta, widths, n_points), color="tab:red")
    right.plot(grid, shift, "o", color="tab:red")
    right.set_xscale("log")
    right.axhline(0.0, color="black", lw=0.6)
    right.set_xlabel("sampling grid: ±k×")
    right.set_ylabel("vertex shift δ (decades of N)")
    return fig


def offset_drift_figure(
    magnitude: float,
    grid: float,
    surface: LossSurface | None = None,
    figsize: tuple[float, float] = (9.0, 3.6),
) -> plt.Figure:
    """Relative error of D* against compute under a constant offset (left) and a drift (right).

    Crosses are the per-budget parabola vertices, the line the fitted power law
    extrapolated to 1e24 FLOPs; a flat line means a correct exponent.
    """

    surface = SURFACES["symmetric"] if surface is None else surface
    fig, axes = plt.subplots(1, 2, figsize=figsize, layout="constrained", sharey=True)
    cs = np.geomspace(1e17, 1e24, 50)
    for ax, (title, bias) in zip(
        axes,
        [
            (f"offset by {magnitude:g}×", {"center_scale": magnitude}),
            (f"drift to {magnitude:g}×", {"drift": magnitude}),
        ],
        strict=True,
    ):
        fit = fit_approach2(sample_isoflops(surface, grid=grid, **bias))
        opt = fit.optima
        vertex_err = opt["D_opt"] / surface.D_opt(opt["budget"].to_numpy()) - 1
        ax.plot(
            cs,
            100 * extrapolation_curve(fit, surface, cs),
            "--",
            color="tab:red",
            label="fitted power law",
        )
        ax.plot(opt["budget"], 100 * vertex_err, **INFERRED_STYLE, label="parabola vertices")
        ax.axhline(0.0, color="black", lw=0.8)
        ax.axvspan(1e17, 1e21, color="0.92", zorder=0)
        ax.set_xscale("log")
        ax.set_xlabel("compute C (FLOPs); shaded: fitted range")
        ax.set_title(f"{title}: b = {fit.b:.4f} (true {surface.b:.4f})", fontsize=9)
    axes[0].set_ylabel("D*: relative error (%)")
    axes[0].legend(loc="lower left")
    return fig


def extrapolation_figure(
    drift: float = 1.0,
    grid: float = 8.0,
    center_scale: float = 1.0,
    figsize: tuple[float, float] = (8.0, 3.6),
) -> plt.Figure:
    """Relative error of the Approach 2 ``D*(C)`` from 1e17 to 1e25 FLOPs, per preset."""

    cs = np.geomspace(1e17, 1e25, 60)
    fig, ax = plt.subplots(figsize=figsize, layout="constrained")
    for color, (name, surface) in zip(
        ("0.4", "tab:blue", "tab:red"), SURFACES.items(), strict=True
    ):
        fit = fit_approach2(
            sample_isoflops(surface, grid=grid, drift=drift, center_scale=center_scale)
        )
        ax.plot(cs, 100 * extrapolation_curve(fit, surface, cs), color=color, label=name)
    ax.axvspan(1e17, 1e21, color="0.92", zorder=0)
    ax.axvline(1e24, color="black", lw=0.6, ls=":")
    ax.axhline(0, color="black", lw=0.6)
    ax.set_xscale("log")
    ax.set_xlabel("compute C (FLOPs); shaded: fitted range, dotted: 1e24")
    ax.set_ylabel("extrapolated D*: relative error (%)")
    ax.legend(loc="lower left")
    return fig


def compounding_figure(
    center_scale: float = 3.0, drift: float = 1.0, figsize: tuple[float, float] = (8.0, 3.6)
) -> plt.Figure:
    """Bars of the D* error at 1e24 FLOPs for each preset and named grid under one bias."""

    bias = {"bias": {"center_scale": center_scale, "drift": drift}}
    df = approach2_sweep(SURFACES, list(NAMED_GRIDS.values()), bias)
    df["grid"] = df["grid"].map({v: k for k, v in NAMED_GRIDS.items()})
    pivot = df.pivot(index="surface", columns="grid", values="D_extrap_err")
    pivot = pivot.loc[list(SURFACES), list(NAMED_GRIDS)]
    fig, ax = plt.subplots(figsize=figsize, layout="constrained")
    (100 * pivot).plot.bar(ax=ax, rot=0, colormap="viridis")
    ax.axhline(0, color="black", lw=0.6)
    ax.set_ylabel("D* at 1e24 FLOPs: relative error (%)")
    ax.set_xlabel("")
    ax.legend(title="grid", ncol=4, fontsize=7)
    return fig
