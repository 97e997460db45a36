"""scaling_lab: fit neural scaling laws and measure where the usual methods go wrong."""

from . import (
    analysis,
    bootstrap,
    costs,
    datasets,
    design,
    families,
    planning,
    plots,
    replication,
    report,
    widgets,
)
from .assess import Assessment, assess
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
    "planning",
    "plots",
    "replication",
    "report",
    "sample_isoflops",
    "surfaces_table",
    "widgets",
]
