"""The Chinchilla loss surface ``L(N, D) = E + A/N**alpha + B/D**beta`` and its presets.

Compute is ``C = 6 N D``. Minimising ``L`` on that constraint gives the
compute-optimal allocation ``N*(C) = G (C/6)**a`` and ``D*(C) = (C/6)**b / G`` with
``a = beta/(alpha+beta)``, ``b = alpha/(alpha+beta)`` and
``G = (alpha A / (beta B))**(1/(alpha+beta))`` (Hoffmann et al. 2022, appendix D).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike

#: Sum of exponents kept fixed by the imbalance family (Chinchilla's 0.34 + 0.28).
IMBALANCE_EXPONENT_SUM = 0.62


@dataclass(frozen=True)
class LossSurface:
    """A loss surface ``E + A/N**alpha + B/D**beta`` with ``C = 6 N D``."""

    E: float
    A: float
    B: float
    alpha: float
    beta: float

    def __post_init__(self) -> None:
        for name in ("E", "A", "B", "alpha", "beta"):
            value = getattr(self, name)
            if not np.isfinite(value):
                raise ValueError(f"LossSurface.{name} must be finite, got {value!r}")
        for name in ("A", "B", "alpha", "beta"):
            if getattr(self, name) <= 0:
                raise ValueError(
                    f"LossSurface.{name} must be positive, got {getattr(self, name)!r}"
                )

    # --- allocation exponents and constants -------------------------------------------
    @property
    def a(self) -> float:
        """Exponent of ``N*`` against compute: ``beta/(alpha+beta)``."""
        return self.beta / (self.alpha + self.beta)

    @property
    def b(self) -> float:
        """Exponent of ``D*`` against compute: ``alpha/(alpha+beta)``."""
        return self.alpha / (self.alpha + self.beta)

    @property
    def G(self) -> float:
        """Allocation constant ``(alpha A/(beta B))**(1/(alpha+beta))``."""
        return (self.alpha * self.A / (self.beta * self.B)) ** (1.0 / (self.alpha + self.beta))

    @property
    def a0(self) -> float:
        """log10 intercept of ``N*`` against ``C``: ``log10 G - a log10 6``."""
        return float(np.log10(self.G) - self.a * np.log10(6.0))

    @property
    def b0(self) -> float:
        """log10 intercept of ``D*`` against ``C``: ``-log10 G - b log10 6``."""
        return float(-np.log10(self.G) - self.b * np.log10(6.0))

    @property
    def loss_exponent(self) -> float:
        """Exponent of the reducible optimal loss against compute: ``alpha beta/(alpha+beta)``."""
        return self.alpha * self.beta / (self.alpha + self.beta)

    @property
    def imbalance(self) -> float:
        """Exponent ratio ``alpha/beta`` (1 for a symmetric surface)."""
        return self.alpha / self.beta

    # --- evaluation -------------------------------------------------------------------
    def loss(self, N: ArrayLike, D: ArrayLike) -> np.ndarray | float:
        """Loss at ``N`` parameters and ``D`` tokens (broadcasts)."""
        N = np.asarray(N, dtype=float)
        D = np.asarray(D, dtype=float)
        return _scalar_or_array(self.E + self.A * N ** (-self.alpha) + self.B * D ** (-self.beta))

    def N_opt(self, C: ArrayLike) -> np.ndarray | float:
        """Compute-optimal parameter count ``G (C/6)**a``."""
        return _scalar_or_array(self.G * (np.asarray(C, dtype=float) / 6.0) ** self.a)

    def D_opt(self, C: ArrayLike) -> np.ndarray | float:
        """Compute-optimal token count ``(C/6)**b / G``."""
        return _scalar_or_array((np.asarray(C, dtype=float) / 6.0) ** self.b / self.G)

    def loss_opt(self, C: ArrayLike) -> np.ndarray | float:
        """Lowest loss reachable with compute ``C``: ``E + K (C/6)**(-gamma)``."""
        scaled = (np.asarray(C, dtype=float) / 6.0) ** (-self.loss_exponent)
        return _scalar_or_array(self.E + self._loss_opt_coefficient() * scaled)

    def compute_for_loss(self, L: ArrayLike) -> np.ndarray | float:
        """Compute that reaches loss ``L`` with the optimal allocation (inverse of ``loss_opt``)."""
        L = np.asarray(L, dtype=float)
        if np.any(~(L > self.E)):
            raise ValueError(f"loss must exceed the irreducible loss E={self.E}; got {L}")
        ratio = (L - self.E) / self._loss_opt_coefficient()
        return _scalar_or_array(6.0 * ratio ** (-1.0 / self.loss_exponent))

    def _loss_opt_coefficient(self) -> float:
        # At the optimum A/N*^alpha and B/D*^beta both scale as (C/6)**(-gamma).
        return self.A * self.G ** (-self.alpha) + self.B * self.G**self.beta

    def to_dict(self) -> dict[str, float]:
        """The five parameters as a plain dict."""
        return {"E": self.E, "A": self.A, "B": self.B, "alpha": self.alpha, "beta": self.beta}


def _scalar_or_array(x: np.ndarray) -> np.ndarray | float:
    return float(x) if np.ndim(x) == 0 else x


def imbalanced_surface(ratio: float, exponent_sum: float = IMBALANCE_EXPONENT_SUM) -> LossSurface:
    """Chinchilla's ``E, A, B`` with ``alpha/beta = ratio`` and ``alpha + beta = exponent_sum``."""
    if not ratio > 0:
        raise ValueError(f"ratio must be positive, got {ratio!r}")
    alpha = exponent_sum * ratio / (1.0 + ratio)
    beta = exponent_sum / (1.0 + ratio)
    return LossSurface(E=1.69, A=406.4, B=410.7, alpha=alpha, beta=beta)


#: Synthetic presets shared by every chapter and test (DESIGN.md).
SURFACES: dict[str, LossSurface] = {
    "symmetric": LossSurface(E=1.69, A=400.0, B=400.0, alpha=0.31, beta=0.31),
    "chinchilla": LossSurface(E=1.69, A=406.4, B=410.7, alpha=0.34, beta=0.28),
    "asymmetric": LossSurface(E=1.69, A=406.4, B=410.7, alpha=0.465, beta=0.155),
}

#: Published fitted surfaces used for frontier-scale cost estimates.
PUBLISHED_SURFACES: dict[str, LossSurface] = {
    "soda": LossSurface(E=3.169, A=215886.0, B=4750.0, alpha=0.684, beta=0.439),
    "sparse_nmm": LossSurface(E=2.158, A=381773.0, B=4659.0, alpha=0.710, beta=0.372),
}


def surfaces_table(surfaces: dict[str, LossSurface]) -> pd.DataFrame:
    """Parameters and allocation exponents of named surfaces, one row each."""
    return pd.DataFrame(
        {
            name: {**s.to_dict(), "alpha/beta": s.imbalance, "a": s.a, "b": s.b}
            for name, s in surfaces.items()
        }
    ).T
