"""Figures of the Kaplan-versus-Chinchilla chapter (house style: :mod:`scaling_lab.drawing`)."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np

from ..kaplan import Shape, exponent_limits, fit_exponent, frontier_table
from ..surfaces import LossSurface

#: Kaplan et al. (2020): N_opt ∝ C^0.73 (non-embedding parameters and compute).
KAPLAN_EXPONENT = 0.73


def kaplan_figure(
    surface: LossSurface, shape: Shape, c_min: float, c_max: float, span=(1e11, 1e27)
) -> plt.Figure:
    """Left: ``N_E*`` and ``N_T*`` against ``C_E`` with the power law fitted on
    ``[c_min, c_max]``. Right: the local exponent, the fitted one and the published ones.
    """
    c = np.geomspace(*span, 300)
    table = frontier_table(surface, c, shape)
    fit = fit_exponent(surface, c_min, c_max, shape)
    fig, (left, right) = plt.subplots(1, 2, figsize=(7.2, 3.5), layout="constrained")
    left.plot(c, table["N_E"], color="tab:blue", label="optimal non-embedding size $N_E^*$")
    left.plot(c, table["N_T"], color="tab:gray", ls=":", label="its total size $N_T$")
    left.plot(
        c,
        np.exp(fit.intercept) * c**fit.exponent,
        color="tab:red",
        ls="--",
        label=f"power law fitted on the shaded range: $C_E^{{{fit.exponent:.3f}}}$",
    )
    for ax in (left, right):
        ax.axvspan(c_min, c_max, color="tab:red", alpha=0.08, lw=0)
        ax.set_xscale("log")
        ax.set_xlabel("non-embedding compute $C_E = 6 N_E D$ (FLOPs)")
    left.set_yscale("log")
    left.set_ylabel("parameters")
    left.legend(fontsize=9)
    small, large = exponent_limits(surface)
    right.plot(c, table["local_exponent"], color="tab:blue", label="local exponent")
    right.axhline(fit.exponent, color="tab:red", ls="--", label=f"fitted: {fit.exponent:.3f}")
    right.axhline(
        KAPLAN_EXPONENT, color="black", ls="-.", lw=1, label=f"Kaplan et al.: {KAPLAN_EXPONENT}"
    )
    right.axhline(large, color="tab:green", ls=":", label=f"Chinchilla a = {large:.3f}")
    right.axhline(
        small, color="tab:purple", ls=":", lw=1, label=f"embedding-dominated limit {small:.3f}"
    )
    right.set_ylim(0.4, 1.05)
    right.set_ylabel("d ln $N_E^*$ / d ln $C_E$")
    right.legend(fontsize=9, loc="upper right")
    return fig
