"""Figures of the inference-aware allocation chapter (house style: :mod:`scaling_lab.drawing`)."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from ..inference import inference_optimal
from ..surfaces import LossSurface

COLORS = ("tab:blue", "tab:orange", "tab:green", "tab:red")


def allocation_figure(curves: dict[str, pd.DataFrame], level: str = "90%") -> plt.Figure:
    """Inference-optimal ``N`` and ``D/N`` against ``T``, one curve per surface.

    Each frame is indexed by ``T`` with columns ``N``, ``N_opt`` and ``tokens_per_param``;
    ``*_lower``/``*_upper`` columns, where present, are drawn as a band.
    """
    fig, axes = plt.subplots(1, 2, figsize=(7.2, 3.4), layout="constrained")
    for color, (name, df) in zip(COLORS, curves.items(), strict=False):
        t = df.index.to_numpy()
        for ax, col in zip(axes, ("N", "tokens_per_param"), strict=True):
            ax.plot(t, df[col], color=color, label=name)
            if f"{col}_lower" in df:
                ax.fill_between(
                    t,
                    df[f"{col}_lower"],
                    df[f"{col}_upper"],
                    color=color,
                    alpha=0.2,
                    lw=0,
                    label=f"{name}: {level} bootstrap interval",
                )
        axes[0].plot(t, df["N_opt"], color=color, ls=":", lw=1)
    axes[0].set_ylabel("parameters N (dotted: compute-optimal N*)")
    axes[1].set_ylabel("training tokens per parameter D/N")
    for ax in axes:
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("inference tokens T")
    axes[1].legend(fontsize=9)
    return fig


def deadweight_figure(
    T: np.ndarray,
    fraction: np.ndarray,
    lower: np.ndarray | None = None,
    upper: np.ndarray | None = None,
    label: str = "",
    band_T: np.ndarray | None = None,
) -> plt.Figure:
    """Deadweight share of the lifetime compute against ``T``, with an optional band.

    ``band_T`` are the loads of ``lower`` and ``upper`` when they differ from ``T``.
    """
    fig, ax = plt.subplots(figsize=(7.0, 3.4), layout="constrained")
    ax.plot(T, 100 * np.asarray(fraction), color="tab:red", label=label or None)
    if lower is not None:
        ax.fill_between(
            T if band_T is None else band_T,
            100 * lower,
            100 * upper,
            color="tab:red",
            alpha=0.2,
            lw=0,
            label="95% bootstrap interval",
        )
    ax.set_xscale("log")
    ax.set_xlabel("inference tokens T")
    ax.set_ylabel("deadweight (% of lifetime compute)")
    ax.set_ylim(bottom=0)
    ax.legend()
    return fig


def lifetime_cost_figure(targets: dict[str, tuple[LossSurface, float]], T: float) -> plt.Figure:
    """Lifetime compute ``6ND + 2NT`` along each iso-loss curve, the compute-optimal model's = 1.

    ``targets`` maps a name to ``(surface, target loss)``. The x-axis is ``N/N*``; circles
    mark the compute-optimal model, stars the inference-optimal one.
    """
    fig, ax = plt.subplots(figsize=(7.0, 3.8), layout="constrained")
    share = np.geomspace(0.02, 3.0, 400)
    for color, (name, (s, target)) in zip(COLORS, targets.items(), strict=False):
        best = inference_optimal(s, target, T)
        n = best.N_opt * share
        room = target - s.E - s.A * n ** (-s.alpha)
        ok = room > 0
        d = (s.B / room[ok]) ** (1.0 / s.beta)
        scale = best.total_flops_opt
        cost = (6.0 * n[ok] * d + 2.0 * n[ok] * T) / scale
        ax.plot(share[ok], cost, color=color, label=name)
        ax.plot(1.0, best.total_flops_opt / scale, "o", color=color, mfc="none", ms=8)
        ax.plot(best.N / best.N_opt, best.total_flops / scale, "*", color=color, ms=12)
        ax.annotate(
            f"saves {100 * best.saving_fraction:.1f}%",
            (best.N / best.N_opt, best.total_flops / scale),
            textcoords="offset points",
            xytext=(6, -14),
            fontsize=9,
            color=color,
        )
    ax.set_xscale("log")
    ax.set_xlabel("model size N / N* (N* the compute-optimal size for the loss)")
    ax.set_ylabel("lifetime compute (compute-optimal model = 1)")
    ax.set_ylim(0.0, 2.0)
    ax.legend(title="○ compute-optimal   ★ inference-optimal", fontsize=9, title_fontsize=9)
    return fig
