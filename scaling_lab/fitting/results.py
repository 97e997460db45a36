"""Result types shared by the surface fitters (VPNLS and Approach 3)."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike

from ..surfaces import LossSurface


class FitStatus(StrEnum):
    """How a fit ended. Anything but ``CONVERGED`` is a soft problem worth a look."""

    CONVERGED = "converged"
    MAX_ITER = "iteration limit"
    BOUND_HIT = "bound hit"
    LINE_SEARCH = "abnormal line search"


@dataclass(frozen=True, repr=False)
class SurfaceFit:
    """A fitted loss surface ``E + A/N**alpha + B/D**beta`` and how the fit went."""

    surface: LossSurface
    rss: float
    status: FitStatus
    message: str
    n_iter: int
    method: str
    n_points: int

    @property
    def E(self) -> float:
        return self.surface.E

    @property
    def A(self) -> float:
        return self.surface.A

    @property
    def B(self) -> float:
        return self.surface.B

    @property
    def alpha(self) -> float:
        return self.surface.alpha

    @property
    def beta(self) -> float:
        return self.surface.beta

    @property
    def a(self) -> float:
        """Implied exponent of ``N*`` against compute."""
        return self.surface.a

    @property
    def b(self) -> float:
        """Implied exponent of ``D*`` against compute."""
        return self.surface.b

    @property
    def converged(self) -> bool:
        return self.status is FitStatus.CONVERGED

    def N_opt(self, C: ArrayLike) -> np.ndarray | float:
        return self.surface.N_opt(C)

    def D_opt(self, C: ArrayLike) -> np.ndarray | float:
        return self.surface.D_opt(C)

    def loss(self, N: ArrayLike, D: ArrayLike) -> np.ndarray | float:
        return self.surface.loss(N, D)

    def relative_errors(self, truth: LossSurface) -> dict[str, float]:
        """``(fitted - true)/true`` for each of the five parameters."""
        fitted = self.surface.to_dict()
        return {k: (fitted[k] - v) / v for k, v in truth.to_dict().items()}

    def to_frame(self) -> pd.DataFrame:
        """One row: parameters, implied allocation exponents and fit diagnostics."""
        row = {**self.surface.to_dict(), "a": self.a, "b": self.b, "rss": self.rss}
        row.update(status=str(self.status), n_iter=self.n_iter, method=self.method)
        return pd.DataFrame([row])

    def __repr__(self) -> str:
        s = self.surface
        return (
            f"SurfaceFit(method={self.method!r}, E={s.E:.6g}, A={s.A:.6g}, B={s.B:.6g}, "
            f"alpha={s.alpha:.6g}, beta={s.beta:.6g}, rss={self.rss:.3g}, "
            f"status={self.status.value!r}, n_iter={self.n_iter})"
        )


def fits_table(fits: dict[str, SurfaceFit], truth: LossSurface | None = None) -> pd.DataFrame:
    """One row per named fit: parameters, status and, given ``truth``, the worst relative error."""
    rows = {}
    for name, fit in fits.items():
        row = {**fit.surface.to_dict(), "status": str(fit.status), "iterations": fit.n_iter}
        if truth is not None:
            row["max |relative error|"] = max(abs(v) for v in fit.relative_errors(truth).values())
        rows[name] = row
    return pd.DataFrame(rows).T.infer_objects()
