"""Fitters for IsoFLOP tables: Approach 2, Approach 3 and VPNLS."""

from .approach2 import Approach2Fit, Parabolas, fit_approach2
from .approach3 import APPROACH3_VARIANTS, fit_approach3
from .data import FitError, validate_isoflops
from .results import FitStatus, SurfaceFit
from .vpnls import VPNLS_METHODS, fit_vpnls

__all__ = [
    "APPROACH3_VARIANTS",
    "VPNLS_METHODS",
    "Approach2Fit",
    "FitError",
    "FitStatus",
    "Parabolas",
    "SurfaceFit",
    "fit_approach2",
    "fit_approach3",
    "fit_vpnls",
    "validate_isoflops",
]
