"""scaling_lab: fit neural scaling laws and measure where the usual methods go wrong.

``import scaling_lab`` loads the core (surfaces, sampling, the fitters) and nothing
heavier than numpy and pandas; every other submodule loads on first attribute access
(``sl.analysis``, ``sl.datasets``, ...). The book layer (``sl.plots``, ``sl.widgets``,
``sl.report``, in :mod:`scaling_lab.book`) needs the ``book`` extra and is never
imported by the library itself.
"""

from __future__ import annotations

from ._lazy import lazy_attributes
from .fitting import (
    Approach2Fit,
    FitError,
    FitStatus,
    SurfaceFit,
    fit_approach2,
    fit_approach3,
    fit_vpnls,
)
from .fitting.results import fits_table
from .sampling import DEFAULT_BUDGETS, NAMED_GRIDS, sample_isoflops
from .surfaces import (
    PUBLISHED_SURFACES,
    SURFACES,
    LossSurface,
    imbalanced_surface,
    surfaces_table,
)

__version__ = "0.1.0"

#: Loaded on first access: attribute -> ".module" or ".module:name".
_LAZY: dict[str, str] = {
    **{
        name: f".{name}"
        for name in (
            "analysis",
            "bootstrap",
            "costs",
            "datasets",
            "design",
            "families",
            "inference",
            "planning",
            "replication",
        )
    },
    **{name: f".book.{name}" for name in ("plots", "report", "widgets")},
    "Assessment": ".assess:Assessment",
    "assess": ".assess:assess",
    "backtest": ".backtest:backtest",
}

__all__ = [
    "DEFAULT_BUDGETS",
    "NAMED_GRIDS",
    "PUBLISHED_SURFACES",
    "SURFACES",
    "Approach2Fit",
    "Assessment",
    "FitError",
    "FitStatus",
    "LossSurface",
    "SurfaceFit",
    "analysis",
    "assess",
    "backtest",
    "bootstrap",
    "costs",
    "datasets",
    "design",
    "families",
    "fit_approach2",
    "fit_approach3",
    "fit_vpnls",
    "fits_table",
    "imbalanced_surface",
    "inference",
    "planning",
    "plots",
    "replication",
    "report",
    "sample_isoflops",
    "surfaces_table",
    "widgets",
]

__getattr__, __dir__ = lazy_attributes(__name__, _LAZY, __all__)
