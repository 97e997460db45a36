"""The book's recurring figure types (the house style lives in :mod:`scaling_lab.drawing`)."""

from __future__ import annotations

import textwrap
from collections.abc import Sequence

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from ..analysis import approach2_sweep, extrapolation_curve, symmetric_offsets, vertex_shift
from ..drawing import (  # noqa: F401  (re-exported: the book calls sl.plots.use_style)
    INFERRED_STYLE,
    STYLE,
    TRUE_STYLE,
    budget_colors,
    fit_report_figure,
    plot_isoflops,
    use_style,
)
from ..fitting.approach2 import Approach2Fit, fit_approach2
from ..sampling import NAMED_GRIDS, sample_isoflops
from ..surfaces import SURFACES, LossSurface, imbalanced_surface


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
    ax.clabel(cs, fmt="%.2f", fontsize=9)
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
    surface: LossSurface, grid: float = 8.0, figsize: tuple[float, float] = (7.2, 3.3), **sampling
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
    ratio: float, grid: float, n_points: int = 15, figsize: tuple[float, float] = (7.2, 3.3)
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
    left.set_xlabel("model size relative to the optimum: log10(N / N*)")
    left.set_ylabel("reducible loss, normalised: (L - E) / P")
    left.legend(loc="upper center", fontsize=9)
    widths = np.geomspace(2.0, 100.0, 60)
    right.plot(widths, vertex_shift(s.alpha, s.beta, widths, n_points), color="tab:red")
    right.plot(grid, shift, "o", color="tab:red")
    right.set_xscale("log")
    right.axhline(0.0, color="black", lw=0.6)
    right.set_xlabel("sampling grid: ±k×")
    right.set_ylabel("vertex shift δ (decades of N)")
    return fig


def _offset_drift_panels(magnitude: float, grid: float, surface: LossSurface, cs: np.ndarray):
    """(title, fit, optima, vertex error, extrapolated error) for offset and drift."""
    panels = []
    for title, bias in [
        (f"offset by {magnitude:g}×", {"center_scale": magnitude}),
        (f"drift to {magnitude:g}×", {"drift": magnitude}),
    ]:
        fit = fit_approach2(sample_isoflops(surface, grid=grid, **bias))
        opt = fit.optima
        vertex_err = opt["D_opt"] / surface.D_opt(opt["budget"].to_numpy()) - 1
        panels.append((title, fit, opt, vertex_err, extrapolation_curve(fit, surface, cs)))
    return panels


_OFFSET_DRIFT_CS = np.geomspace(1e17, 1e24, 50)


def offset_drift_ylim(
    magnitudes: Sequence[float], grids: Sequence[float], surface: LossSurface | None = None
) -> tuple[float, float]:
    """One y range (percent) that holds :func:`offset_drift_figure` for every combination.

    Pass it as ``ylim`` to every frame of a slider, so the axis does not rescale between
    frames and the growth of the error with the magnitude stays visible.
    """
    surface = SURFACES["symmetric"] if surface is None else surface
    values = [0.0]
    for magnitude in magnitudes:
        for grid in grids:
            for *_, vertex_err, curve in _offset_drift_panels(
                magnitude, grid, surface, _OFFSET_DRIFT_CS
            ):
                values.extend(100 * np.asarray(vertex_err))
                values.extend(100 * np.asarray(curve))
    lo, hi = float(np.min(values)), float(np.max(values))
    pad = 0.05 * (hi - lo)
    return lo - pad, hi + pad


def offset_drift_figure(
    magnitude: float,
    grid: float,
    surface: LossSurface | None = None,
    figsize: tuple[float, float] = (7.2, 3.3),
    ylim: tuple[float, float] | None = None,
) -> plt.Figure:
    """Relative error of D* against compute under a constant offset (left) and a drift (right).

    Crosses are the per-budget parabola vertices, the line the fitted power law
    extrapolated to 1e24 FLOPs; a flat line means a correct exponent. ``ylim`` fixes the
    y range (see :func:`offset_drift_ylim`); by default it fits this figure alone.
    """

    surface = SURFACES["symmetric"] if surface is None else surface
    fig, axes = plt.subplots(1, 2, figsize=figsize, layout="constrained", sharey=True)
    cs = _OFFSET_DRIFT_CS
    for ax, (title, fit, opt, vertex_err, curve) in zip(
        axes, _offset_drift_panels(magnitude, grid, surface, cs), strict=True
    ):
        ax.plot(cs, 100 * curve, "--", color="tab:red", label="fitted power law")
        ax.plot(opt["budget"], 100 * vertex_err, **INFERRED_STYLE, label="parabola vertices")
        ax.axhline(0.0, color="black", lw=0.8)
        ax.axvspan(1e17, 1e21, color="0.92", zorder=0)
        ax.set_xscale("log")
        ax.set_xlabel("compute C (FLOPs); shaded: fitted range")
        ax.set_title(
            f"{title}: a = {fit.a:.4f}, b = {fit.b:.4f} (true {surface.a:.4f}, {surface.b:.4f})",
            fontsize=9,
        )
    if ylim is not None:
        axes[0].set_ylim(*ylim)
    axes[0].set_ylabel("D*: relative error (%)")
    axes[0].legend(loc="lower left")
    return fig


def extrapolation_figure(
    drift: float = 1.0,
    grid: float = 8.0,
    center_scale: float = 1.0,
    figsize: tuple[float, float] = (7.2, 3.4),
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
    center_scale: float = 3.0, drift: float = 1.0, figsize: tuple[float, float] = (7.2, 3.4)
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
    ax.legend(title="grid", ncol=4, fontsize=9)
    return fig


ISOFLOP_FIELDS = ["budget", "params", "tokens", "loss"]


def plot_experiment_isoflops(ax: plt.Axes, runs: pd.DataFrame, title: str = "") -> plt.Axes:
    """One published experiment: kept runs with their Approach 2 parabolas, flagged runs as crosses.

    ``runs`` carries the consolidated file's ``outlier`` column. A budget whose kept
    runs cannot be fitted (no minimum, too few sizes) is drawn without a parabola.
    """
    from ..fitting.data import FitError

    kept = runs[~runs["outlier"].astype(bool)]
    try:
        fit = fit_approach2(kept[ISOFLOP_FIELDS])
    except (FitError, ValueError):
        fit = None
    plot_isoflops(ax, kept, fit, legend=False)
    flagged = runs[runs["outlier"].astype(bool)]
    ax.plot(flagged["params"], flagged["loss"], "x", color="0.55", ms=4, mew=1, zorder=1)
    lo, hi = kept["loss"].min(), kept["loss"].max()
    ax.set_ylim(lo - 0.08 * (hi - lo), hi + 0.15 * (hi - lo))
    ax.set_title(title)
    return ax


def plot_centre_vs_vertex(
    ax: plt.Axes, runs: pd.DataFrame, surface: LossSurface, title: str = ""
) -> plt.Axes:
    """Per budget, in decades from the surface's ``N*(C)``: sampling centre, vertex, closed form.

    The zero line is the fitted surface's optimum. Grey squares: the mean ``log10 N``
    of the runs; red crosses: the vertex of each budget's parabola through the data;
    blue circles: where the closed form puts the vertex for this design on the
    noise-free surface.
    """
    from ..design import check_design, curvature_table

    check = check_design(runs[ISOFLOP_FIELDS], surface, threshold=1.0).per_budget
    curves = curvature_table(runs[ISOFLOP_FIELDS])
    log_opt = np.log10(surface.N_opt(curves["budget"].to_numpy()))
    ax.axhline(0.0, color="black", lw=0.8)
    ax.plot(
        check["budget"], check["center_offset"], "s", color="0.45", ms=5, label="sampling centre"
    )
    ax.plot(
        curves["budget"],
        curves["vertex"] - log_opt,
        **{**INFERRED_STYLE, "ms": 6},
        label="parabola vertex (data)",
    )
    ax.plot(
        check["budget"],
        check["vertex_shift_N"],
        "o-",
        color="tab:blue",
        ms=4,
        lw=1,
        label="closed-form vertex (surface)",
    )
    ax.set_xscale("log")
    ax.set_xlabel("compute C (FLOPs)")
    ax.set_ylabel("log10(N / N* of the fit)")
    ax.set_title(title)
    return ax


def plot_valley(
    ax: plt.Axes, runs: pd.DataFrame, surface: LossSurface, title: str = ""
) -> plt.Axes:
    """All budgets' runs collapsed onto one valley: excess reducible loss against ``log10(N/N*)``.

    On the surface every IsoFLOP curve is ``(L - E)/(L*(C) - E) - 1 = f(w)/f(0) - 1`` with
    ``f(w) = 10**(-alpha w) + (alpha/beta) 10**(beta w)``, the same for every budget. The
    dashed line mirrors that curve about ``w = 0``: where the two differ the valley is
    asymmetric, which is what biases Approach 2's vertices.
    """
    budget = runs["budget"].to_numpy(dtype=float)
    w = np.log10(runs["params"].to_numpy(dtype=float) / surface.N_opt(budget))
    excess = (runs["loss"].to_numpy(dtype=float) - surface.E) / (
        surface.loss_opt(budget) - surface.E
    )
    colors = dict(zip(np.unique(budget), budget_colors(np.unique(budget)), strict=True))
    ax.scatter(w, excess - 1.0, s=9, c=[colors[b] for b in budget], zorder=3)
    a, b = surface.alpha, surface.beta
    lim = max(0.8, float(np.abs(w).max()))
    ws = np.linspace(-lim, lim, 200)

    def curve(x):
        return (10 ** (-a * x) + (a / b) * 10 ** (b * x)) / (1 + a / b) - 1.0

    ax.plot(ws, curve(ws), color="black", lw=1.4, label="fitted surface")
    ax.plot(ws, curve(-ws), color="black", lw=1, ls="--", label="its mirror image")
    ax.set_xlim(-lim, lim)
    ax.set_ylim(-0.02, min(1.2, float(np.nanmax(excess - 1.0)) * 1.1 + 0.02))
    ax.set_xlabel("log10(N / N*)")
    ax.set_ylabel("excess reducible loss")
    ax.set_title(title)
    return ax


def deadweight_cost_figure(
    fractions: pd.Series,
    budget: float,
    mfu: float,
    usd_per_gpu_hour: float,
    lower: pd.Series | None = None,
    upper: pd.Series | None = None,
    usd_limit: float | None = None,
    figsize: tuple[float, float] = (7.2, 3.4),
) -> plt.Figure:
    """Deadweight compute per case: share of the budget (left) and its rental price (right).

    ``fractions`` maps case names to deadweight fractions of ``budget``; ``lower`` and
    ``upper`` (optional, same index) draw interval whiskers. ``usd_limit`` (million USD)
    fixes the dollar axis, so that frames of a widget share one scale. Dollars use an H100 SXM
    dense BF16 peak at ``mfu`` and ``usd_per_gpu_hour`` (:class:`costs.GpuPricing`).
    """
    from ..costs import GpuPricing

    price = GpuPricing(mfu=mfu, usd_per_gpu_hour=usd_per_gpu_hour)
    names = list(fractions.index)[::-1]
    y = np.arange(len(names))
    frac = fractions.loc[names].to_numpy(dtype=float)
    err = None
    if lower is not None and upper is not None:
        lo = lower.reindex(names).to_numpy(dtype=float)
        hi = upper.reindex(names).to_numpy(dtype=float)
        err = np.vstack(
            [np.where(np.isnan(lo), 0, frac - lo), np.where(np.isnan(hi), 0, hi - frac)]
        )
    fig, axes = plt.subplots(1, 2, figsize=figsize, layout="constrained", sharey=True)
    scales = (100.0, np.asarray(price.dollars(budget)) / 1e6)
    labels = ("deadweight compute (% of budget)", "deadweight compute (million USD)")
    for ax, scale, label in zip(axes, scales, labels, strict=True):
        ax.barh(y, scale * frac, color="tab:red", alpha=0.75)
        if err is not None:
            ax.errorbar(scale * frac, y, xerr=scale * err, fmt="none", ecolor="black", lw=1)
        ax.set_xlabel(label)
        ax.set_xlim(left=0)
    axes[0].set_yticks(y, names)
    if usd_limit is not None:
        axes[1].set_xlim(0, usd_limit)
    total = price.dollars(budget) / 1e6
    axes[1].set_title(
        f"whole run: {total:,.0f} million USD\n"
        f"({mfu:.0%} MFU, {usd_per_gpu_hour:.2f} USD per GPU-hour)",
        fontsize=9,
    )
    axes[0].set_title(f"budget {budget:.2g} FLOPs", fontsize=9)
    return fig


def deadweight_curve_figure(
    surfaces: dict[str, LossSurface],
    points: pd.DataFrame | None = None,
    errors: np.ndarray | None = None,
    figsize: tuple[float, float] = (7.2, 3.8),
) -> plt.Figure:
    """Deadweight share of the budget against the token error, one curve per surface.

    Solid lines: the exact closed form; dashed: its quadratic approximation
    ``(alpha+beta)/2 ln(1+err)**2``. ``points`` (columns ``token_error``,
    ``deadweight_fraction`` and optionally ``label``) are overlaid as markers.
    """
    from ..costs import deadweight_fraction, deadweight_fraction_quadratic

    errors = np.linspace(-0.6, 1.5, 300) if errors is None else np.asarray(errors)
    fig, ax = plt.subplots(figsize=figsize, layout="constrained")
    colors = plt.get_cmap("tab10").colors
    for color, (name, s) in zip(colors, surfaces.items(), strict=False):
        label = f"{name} (α+β = {s.alpha + s.beta:.3g})"
        ax.plot(100 * errors, 100 * deadweight_fraction(s, errors), color=color, label=label)
        ax.plot(
            100 * errors, 100 * deadweight_fraction_quadratic(s, errors), color=color, ls="--", lw=1
        )
    if points is not None:
        groups = points.groupby("label") if "label" in points else [("", points)]
        for marker, (label, part) in zip("os^dvP", groups, strict=False):
            ax.plot(
                100 * part["token_error"],
                100 * part["deadweight_fraction"],
                marker,
                ms=4,
                color="black",
                mfc="none",
                label=label or None,
            )
    ax.set_xlabel("token error of the planned run, D/D* − 1 (%)")
    ax.set_ylabel("deadweight compute (% of budget)")
    ax.set_ylim(bottom=0)
    ax.legend(fontsize=9)
    return fig


KIND_COLORS = {"recovered": "tab:blue", "early stop": "tab:orange", "wrong basin": "tab:red"}


def miss_rates_figure(rates: pd.DataFrame) -> plt.Figure:
    """Early-stop and wrong-basin rates per fit configuration, with their 95% intervals.

    ``rates`` is ``montecarlo.miss_rates`` output (index: configuration names).
    """
    fig, ax = plt.subplots(figsize=(7.2, 0.42 * len(rates) + 1.3), layout="constrained")
    y = np.arange(len(rates))
    for offset, kind, label in (
        (-0.15, "early stops", "early stop (RSS near zero)"),
        (0.15, "wrong basins", "wrong basin (RSS far from zero)"),
    ):
        est = 100 * rates[f"{kind} rate"].to_numpy()
        err = [est - 100 * rates[f"{kind} lower"], 100 * rates[f"{kind} upper"] - est]
        color = KIND_COLORS[kind[:-1]]
        ax.errorbar(est, y + offset, xerr=err, fmt="o", ms=4, color=color, capsize=2, label=label)
    ax.set_yticks(y, list(rates.index))
    ax.invert_yaxis()
    ax.set_xlabel(
        f"share of {int(rates['fits'].iloc[0])} perturbed fits that miss (%), with 95% interval"
    )
    ax.set_xlim(left=0)
    ax.legend(loc="lower right", fontsize=9)
    return fig


def landings_figure(landings: pd.DataFrame, by: str, xlabel: str) -> plt.Figure:
    """Worst relative error of each perturbed fit against ``by`` (one column of dots each).

    Dots are coloured by outcome kind; the copies of one condition differ only by a
    relative jitter of the losses, so a column of several colours is one fit whose
    landing the last bits of the arithmetic decide.
    """
    fig, ax = plt.subplots(figsize=(7.2, 3.6), layout="constrained")
    for kind, color in KIND_COLORS.items():
        part = landings[landings["kind"] == kind]
        ax.scatter(
            part[by],
            part["max_err"].clip(lower=1e-16),
            s=14,
            color=color,
            label=kind,
            alpha=0.75,
            linewidths=0,
        )
    ax.set_yscale("log")
    ax.set_xlabel(xlabel)
    ax.set_ylabel("worst relative error of E, A, B, α, β")
    ax.legend(loc="upper right", ncol=3, fontsize=9)
    return fig


def error_vs_misspecification_figure(sweep: pd.DataFrame, x: str, xlabel: str) -> plt.Figure:
    """Relative error of D* at the headline budget against a misspecification strength.

    ``sweep`` has columns ``x``, ``method`` and ``D* error at target`` (one row per fit).
    """
    fig, ax = plt.subplots(figsize=(6.5, 3.8), layout="constrained")
    names = {"approach2": "Approach 2", "vpnls": "VPNLS"}
    for method, part in sweep.groupby("method"):
        ax.plot(part[x], 100 * part["D* error at target"], "-o", ms=3, label=names.get(method))
    ax.axhline(0, color="0.6", lw=0.8)
    ax.set_xlabel(xlabel)
    ax.set_ylabel("relative error of D* at 1e24 FLOPs (%)")
    ax.legend()
    return fig


def interval_comparison_figure(
    table: pd.DataFrame,
    quantities: Sequence[str],
    labels: dict[str, str] | None = None,
    figsize: tuple[float, float] = (7.2, 4.4),
    ncols: int | None = None,
    titles: dict[str, str] | None = None,
) -> plt.Figure:
    """One panel per quantity: each source's estimate with its interval, sources on the y axis.

    ``table`` is indexed by ``(quantity, source)`` with ``estimate, lower, upper`` columns
    (as :func:`scaling_lab.replication.comparison_table` returns); a missing interval is
    drawn as the estimate alone (hollow marker). Panels fill rows of ``ncols`` (default:
    all in one row); ``titles`` names the panels in words. Colours follow the order of
    the sources in the whole ``table``, so two figures of one table colour a source alike.
    """
    labels, titles = labels or {}, titles or {}
    every = list(dict.fromkeys(table.index.get_level_values("source")))
    colors = dict(zip(every, plt.get_cmap("tab10").colors, strict=False))
    shown = table[table.index.get_level_values("quantity").isin(list(quantities))]
    sources = list(dict.fromkeys(shown.index.get_level_values("source")))
    ncols = ncols or len(quantities)
    nrows = -(-len(quantities) // ncols)
    fig, grid = plt.subplots(nrows, ncols, figsize=figsize, layout="constrained", sharey=True)
    axes = np.atleast_1d(grid).ravel()
    for ax in axes[len(quantities) :]:
        ax.set_visible(False)
    for ax, q in zip(axes, quantities, strict=False):
        part = table.xs(q, level="quantity")
        for y, src in enumerate(sources):
            if src not in part.index:
                continue
            est, lo, hi = part.loc[src, ["estimate", "lower", "upper"]].astype(float)
            has = np.isfinite(lo) and np.isfinite(hi)
            if has:
                ax.plot([lo, hi], [y, y], color=colors[src], lw=2.2, solid_capstyle="butt")
            ax.plot(est, y, "o", color=colors[src], mfc=colors[src] if has else "white", ms=6)
        ax.set_title(titles.get(q, q))
        ax.set_yticks(range(len(sources)), [labels.get(s, s) for s in sources])
        ax.grid(axis="y", alpha=0)
    np.atleast_1d(axes)[0].invert_yaxis()  # first source on top (the y axis is shared)
    return fig


def residual_diagnostics_figure(
    residuals: dict[str, pd.DataFrame],
    column: str = "residual",
    n_bins: int = 6,
    figsize: tuple[float, float] | None = None,
) -> plt.Figure:
    """Rows: fits; columns: residual against budget, against N, against D/N, and its histogram.

    Each frame needs ``budget, params, ratio`` and ``column``; a line joins the mean
    residual of equal-count bins of the regressor, so a trend stands out of the scatter.
    """
    xcols = (
        ("budget", "budget C (FLOPs)"),
        ("params", "parameters N"),
        ("ratio", "tokens per parameter D/N"),
    )
    n = len(residuals)
    fig, axes = plt.subplots(
        n, 4, figsize=figsize or (7.2, 2.1 * n), layout="constrained", squeeze=False
    )
    last = n - 1
    for i, (row, (name, res)) in enumerate(zip(axes, residuals.items(), strict=True)):
        r = res[column].to_numpy()
        for ax, (col, label) in zip(row[:3], xcols, strict=True):
            x = res[col].to_numpy()
            ax.scatter(x, r, s=8, alpha=0.5, color="tab:blue", lw=0)
            bins = pd.qcut(np.log(x), n_bins, labels=False, duplicates="drop")
            means = pd.DataFrame({"x": np.log(x), "r": r}).groupby(bins).mean()
            ax.plot(np.exp(means["x"]), means["r"], color="tab:red", marker="o", ms=3)
            ax.axhline(0, color="black", lw=0.6)
            ax.set_xscale("log")
            if i == last:
                ax.set_xlabel(label)
        row[0].set_ylabel(f"{textwrap.fill(name, 24)}\nresidual (nats)")
        row[3].hist(r, bins=30, color="tab:blue", alpha=0.7, orientation="horizontal")
        row[3].axhline(0, color="black", lw=0.6)
        if i == last:
            row[3].set_xlabel("number of runs")
        for ax in row[1:]:
            ax.sharey(row[0])
    titles = ("against budget", "against model size", "against tokens per parameter")
    for ax, title in zip(axes[0], (*titles, "distribution"), strict=True):
        ax.set_title(title)
    return fig


def method_errors_figure(
    results: pd.DataFrame, methods: Sequence[str], labels: dict[str, str] | None = None
) -> plt.Figure:
    """Absolute relative errors of ``a`` (top) and ``b`` (bottom) per fit, by method and noise.

    Each dot is one study, coloured by noise level; a black tick marks each method's worst.
    """
    import textwrap

    labels = labels or {}
    fig, axes = plt.subplots(2, 1, figsize=(7.2, 6.0), sharex=True, layout="constrained")
    levels = sorted(results["noise"].unique())
    cmap = plt.get_cmap("viridis")
    rng = np.random.default_rng(0)  # jitter only
    for ax, column, name in zip(axes, ("a_err", "b_err"), ("a", "b"), strict=True):
        for k, method in enumerate(methods):
            part = results[results["method"] == method]
            for m, level in enumerate(levels):
                values = part[part["noise"] == level][column].abs()
                x = k + (m - (len(levels) - 1) / 2) * 0.15 + rng.uniform(-0.05, 0.05, len(values))
                ax.scatter(x, values, s=6, color=cmap(m / max(len(levels) - 1, 1)),
                           label=f"noise {level:g}" if k == 0 else None)  # fmt: skip
            ax.plot([k - 0.35, k + 0.35], [part[column].abs().max()] * 2, color="black")
        ax.set_yscale("log")
        ax.set_ylabel(f"|relative error of {name}|")
    axes[1].set_xticks(
        range(len(methods)), [textwrap.fill(labels.get(m, m), 16) for m in methods], fontsize=9
    )
    axes[0].legend(loc="lower left", ncol=len(levels), fontsize=9)
    return fig


def coverage_figure(summary: pd.DataFrame, figsize: tuple[float, float] = (7.2, 3.4)) -> plt.Figure:
    """Measured coverage per quantity, one marker per scheme and interval, with binomial bars.

    ``summary`` is :meth:`scaling_lab.coverage.CoverageStudy.summary`: columns ``scheme,
    interval, quantity, coverage, lower, upper, nominal``.
    """
    fig, ax = plt.subplots(figsize=figsize, layout="constrained")
    quantities = list(dict.fromkeys(summary["quantity"]))
    groups = list(dict.fromkeys(zip(summary["scheme"], summary["interval"], strict=True)))
    width = 0.8 / len(groups)
    colors = plt.get_cmap("tab10").colors
    for k, (scheme, kind) in enumerate(groups):
        part = summary[(summary["scheme"] == scheme) & (summary["interval"] == kind)]
        part = part.set_index("quantity").loc[quantities]
        x = np.arange(len(quantities)) - 0.4 + width * (k + 0.5)
        ax.errorbar(
            x,
            100 * part["coverage"],
            yerr=[
                100 * (part["coverage"] - part["lower"]),
                100 * (part["upper"] - part["coverage"]),
            ],
            fmt="o",
            color=colors[k],
            capsize=3,
            label=f"{scheme}, {kind}",
        )
    ax.axhline(100 * summary["nominal"].iloc[0], color="black", lw=0.8, ls="--", label="nominal")
    labels = {
        "alpha": "α",
        "beta": "β",
        "a": "a (exponent of N*)",
        "b": "b (exponent of D*)",
        "D_opt": "D* at target",
    }
    ax.set_xticks(range(len(quantities)), [labels.get(q, q) for q in quantities])
    ax.set_ylabel("intervals containing the truth (%)")
    ax.legend(ncol=3, fontsize=9, loc="lower center", bbox_to_anchor=(0.5, 1.0), frameon=False)
    return fig


def backtest_horizon_figure(
    pooled: pd.DataFrame, labels: dict[str, str], figsize: tuple[float, float] = (7.2, 3.8)
) -> plt.Figure:
    """Pooled backtest errors against horizon: loss MAPE (left), RMS log10 N* error (right).

    ``pooled`` holds the pooled rows of ``data/backtest_coverage.csv`` with numeric
    horizons; a point is drawn only where it pools at least 20 runs (left) or 5 budgets
    (right), so that a line does not end on one set's last budget.
    """
    fig, (ax_l, ax_n) = plt.subplots(1, 2, figsize=figsize, layout="constrained", sharex=True)
    for k, (method, part) in enumerate(pooled.groupby("method", sort=False)):
        part = part.sort_values("horizon")
        runs, opt = part[part["runs"] >= 20], part[part["budgets"] >= 5]
        label = labels.get(method, method)
        if len(runs):
            ax_l.plot(runs["horizon"], 100 * runs["loss_mape"], "o-", ms=4, color=f"C{k}",
                      label=label)  # fmt: skip
        ax_n.plot(opt["horizon"], opt["N_log10_rmse"], "o-", ms=4, color=f"C{k}", label=label)
    ax_l.set(xlabel="horizon (decades of compute)", ylabel="loss error, MAPE (%)")
    ax_n.set(xlabel="horizon (decades of compute)", ylabel="N* error, RMS log10")
    ax_n.set_yscale("log")
    handles, names = ax_n.get_legend_handles_labels()
    fig.legend(handles, names, loc="outside lower center", ncol=3, fontsize=9)
    return fig
