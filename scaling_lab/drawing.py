"""The house matplotlib style and the figures the command line draws.

``scaling-lab fit --plot`` and the model-family report draw with matplotlib; this module
holds what they share with the book (the style, the budget colours, IsoFLOP panels and
the fit-report figure). It is imported only when something is drawn, so ``import
scaling_lab`` and the commands that draw nothing never load matplotlib.
"""

from __future__ import annotations

from collections.abc import Sequence

import matplotlib as mpl
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.text import Text

from .fitting.approach2 import Approach2Fit
from .surfaces import LossSurface

#: The width of the book's text column, in inches: every figure is drawn at most this
#: wide, so it is shown at its natural size (or close to it) and its text at the size
#: it was set in. 7.2 in is 691 CSS px, just inside the 741 px desktop column.
COLUMN_WIDTH_IN = 7.2
#: No text in a figure is set smaller than this (points at the figure's natural size).
#: Shown at natural size that is 12 CSS px; at phone width figures keep at least
#: ``PHONE_MIN_WIDTH_PX`` and scroll sideways, so the text stays at 9 CSS px or more.
MIN_FONT_PT = 9.0
#: The narrowest a figure is shown on a phone (the site's CSS; the browser tests check it).
PHONE_MIN_WIDTH_PX = 560

STYLE: dict[str, object] = {
    "figure.dpi": 100,
    "savefig.dpi": 100,
    "figure.figsize": (COLUMN_WIDTH_IN, 4.0),
    "font.size": 10,
    "axes.titlesize": 10,
    "axes.labelsize": 10,
    "xtick.labelsize": 9,
    "ytick.labelsize": 9,
    "legend.fontsize": 9,
    "legend.title_fontsize": 9,
    "figure.titlesize": 10,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.grid": True,
    "grid.alpha": 0.3,
    "legend.frameon": False,
    "lines.linewidth": 1.6,
    # Vector figures keep their text as text: sharp at any zoom, searchable, and its
    # size is readable from the file (tests/browser/test_reading.py checks it).
    "svg.fonttype": "none",
    "svg.hashsalt": "scaling-lab",  # element ids from the drawing alone: same figure, same file
}

TRUE_STYLE = {"color": "black", "marker": "*", "ms": 11, "ls": "none", "zorder": 5}
INFERRED_STYLE = {"color": "tab:red", "marker": "x", "ms": 8, "mew": 2, "ls": "none", "zorder": 6}


class IllegibleFigure(ValueError):
    """A figure wider than the column or with text smaller than ``MIN_FONT_PT``."""


def illegible_parts(fig: plt.Figure) -> list[str]:
    """What makes ``fig`` hard to read in the page: too wide, or text set too small.

    Text sizes are the artists' own (a mathtext label's superscript is drawn at 70% of
    its label, as in print; the label's size is what counts here).
    """
    problems = []
    width = fig.get_figwidth()
    if width > COLUMN_WIDTH_IN + 1e-9:
        problems.append(f"figure is {width:g} in wide (column {COLUMN_WIDTH_IN:g} in)")
    for text in fig.findobj(Text):
        if text.get_visible() and text.get_text().strip() and text.get_fontsize() < MIN_FONT_PT:
            label = text.get_text().strip().replace("\n", " ")[:40]
            problems.append(f"text {label!r} at {text.get_fontsize():g} pt (< {MIN_FONT_PT:g})")
    return problems


def check_legible(fig: plt.Figure) -> plt.Figure:
    """``fig`` unchanged, or :class:`IllegibleFigure` naming what is too wide or too small."""
    problems = illegible_parts(fig)
    if problems:
        shown = "; ".join(problems[:5]) + (
            f"; and {len(problems) - 5} more" if len(problems) > 5 else ""
        )
        raise IllegibleFigure(f"figure not legible in the page: {shown}")
    return fig


def _legible_svg(fig: plt.Figure) -> str:
    from IPython.core.pylabtools import print_figure as ipython_print_figure

    check_legible(fig)
    # No date in the metadata: a figure re-drawn unchanged is the same file (and image name).
    return ipython_print_figure(fig, "svg", bbox_inches="tight", metadata={"Date": None})


def use_style() -> None:
    """Apply the book's matplotlib style; in IPython, figures display as checked SVG.

    Every figure a chapter shows goes through :func:`check_legible`, so a figure drawn too
    wide or with small text fails the chapter instead of reaching the page.
    """
    try:
        from IPython import get_ipython
    except ImportError:  # pragma: no cover - the book extra brings IPython
        shell = None
    else:
        shell = get_ipython()
    if shell is not None:
        try:  # activate the inline backend now: on activation it resets the formatters
            import matplotlib_inline.backend_inline  # noqa: F401
        except ImportError:  # pragma: no cover - a shell without the inline backend
            pass
    mpl.rcParams.update(STYLE)
    if shell is None:
        return
    from matplotlib.figure import Figure

    formatters = shell.display_formatter.formatters
    for mime in ("image/png", "image/jpeg", "application/pdf", "image/svg+xml"):
        formatters[mime].pop(Figure, None)
    formatters["image/svg+xml"].for_type(Figure, _legible_svg)


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
    ax.legend(handles, labels, loc="upper right", ncol=2, fontsize=9)
    return ax


# --- practitioner tool: the figure of `scaling-lab fit --plot` ----------------------


#: Budgets beyond which the runs figure drops its legend (colour still runs with compute).
MAX_LEGEND_BUDGETS = 12


def fit_report_figure(assessment, figsize: tuple[float, float] = (7.2, 3.6)) -> plt.Figure:
    """Runs, fitted IsoFLOP curves and optima (left); ``D*`` against compute with intervals.

    ``assessment`` is a :class:`scaling_lab.assess.Assessment`. Left: each budget's runs
    with the fitted surface's IsoFLOP curve (or Approach 2's parabola) and its optimum.
    Right: the fitted ``D*(C)`` from the smallest budget to the largest target, the
    bootstrap band at the assessment's level, and each target's interval.
    """
    runs, level = assessment.runs.table, assessment.level
    surface, fit = assessment.surface, assessment.fit
    fig, (left, right) = plt.subplots(1, 2, figsize=figsize, layout="constrained")
    if surface is None:
        plot_isoflops(left, runs, fit=fit, legend=False)
    else:
        budgets, counts = np.unique(runs["budget"], return_counts=True)
        for color, budget, count in zip(budget_colors(budgets), budgets, counts, strict=True):
            part = runs[runs["budget"] == budget]
            label = f"{budget:.2g}" if budgets.size <= MAX_LEGEND_BUDGETS else None
            left.plot(part["params"], part["loss"], "o", ms=3.5, color=color, label=label)
            if count < 3:  # not an IsoFLOP curve (a ladder, scattered runs): points only
                continue
            ns = np.geomspace(part["params"].min(), part["params"].max(), 100)
            left.plot(ns, surface.loss(ns, budget / (6 * ns)), color=color, lw=1.2)
            left.plot(surface.N_opt(budget), surface.loss_opt(budget), **INFERRED_STYLE)
        left.set_xscale("log")
        left.set_xlabel("parameters N")
        left.set_ylabel("loss")
        if budgets.size <= MAX_LEGEND_BUDGETS:
            left.legend(title="budget (FLOPs)", ncol=2, fontsize=9, loc="upper right")
    curves = surface is None or bool(np.any(np.unique(runs["budget"], return_counts=True)[1] >= 3))
    left.set_title(
        "runs, fitted IsoFLOP curves and optima (×)"
        if curves
        else "runs (colour: compute); the design has no IsoFLOP curves to draw"
    )

    cs = np.geomspace(runs["budget"].min(), max(max(assessment.targets), runs["budget"].max()), 80)
    draws = assessment.draws.dropna(how="all")
    if surface is None:
        line = fit.D_opt(cs)
        band = 10.0 ** (np.outer(draws["b"], np.log10(cs)) + draws["b0"].to_numpy()[:, None])
    else:
        line = surface.D_opt(cs)
        cols = ["E", "A", "B", "alpha", "beta"]
        band = np.array([LossSurface(*row).D_opt(cs) for row in draws[cols].to_numpy()])
    method_names = {"vpnls": "VPNLS", "approach2": "Approach 2", "approach3": "Approach 3"}
    method_name = method_names.get(assessment.method, assessment.method)
    right.axhline(0.0, color="tab:red", label=f"fitted D*(C) ({method_name})")
    if len(band):
        tail = 100 * (1 - level) / 2
        lo, hi = np.percentile(band, [tail, 100 - tail], axis=0)
        right.fill_between(
            cs,
            100 * (lo / line - 1),
            100 * (hi / line - 1),
            color="tab:red",
            alpha=0.2,
            label=f"{level:.0%} band (percentiles of the draws)",
        )
    preds = assessment.predictions()
    d = preds[preds["quantity"] == "D_opt"]
    right.errorbar(
        d["compute"],
        np.zeros(len(d)),
        yerr=[100 * (1 - d["lower"] / d["estimate"]), 100 * (d["upper"] / d["estimate"] - 1)],
        fmt="o",
        color="black",
        capsize=3,
        label="target compute",
    )
    right.axvspan(runs["budget"].min(), runs["budget"].max(), color="0.92", zorder=0)
    right.set_xscale("log")
    right.set_xlabel("compute C (FLOPs); shaded: budgets of the runs")
    right.set_ylabel("D*(C): interval around the fit (%)")
    right.set_title(
        f"D* = {d['estimate'].iloc[-1]:.3g} tokens at {d['compute'].iloc[-1]:.3g} FLOPs"
    )
    right.legend(loc="upper left")
    return fig


def backtest_figure(result, figsize: tuple[float, float] = (7.2, 3.6)) -> plt.Figure:
    """Predicted against observed: held-out losses (left) and IsoFLOP D* (right)."""
    fig, (ax_l, ax_d) = plt.subplots(1, 2, figsize=figsize)
    for ax, df, obs, pred, lo, hi, log in (
        (ax_l, result.predictions, "loss", "predicted", "lower", "upper", False),
        (ax_d, result.optima, "D_observed", "D_predicted", "D_lower", "D_upper", True),
    ):
        for j, m in enumerate(result.methods):
            rows = df[df["method"] == m] if len(df) else df
            if not len(rows):
                continue
            err = np.abs(rows[[lo, hi]].to_numpy().T - rows[pred].to_numpy())
            ax.errorbar(
                rows[obs], rows[pred], yerr=err, fmt="o", ms=4, color=f"C{j}", label=m, alpha=0.8
            )
        lims = ax.get_xlim()
        ax.plot(lims, lims, color="0.4", lw=1, ls="--")
        if log:
            ax.set_xscale("log")
            ax.set_yscale("log")
        ax.legend()
    ax_l.set(xlabel="observed loss", ylabel="predicted loss", title="held-out runs")
    ax_d.set(xlabel="observed D* (vertex)", ylabel="predicted D*", title="held-out optima")
    fig.tight_layout()
    return fig
