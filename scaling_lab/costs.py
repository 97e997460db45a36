"""What a wrong token count costs: loss penalty, deadweight compute and its price.

A run at budget ``C`` that trains on ``D`` tokens must use ``N = C/(6 D)`` parameters.
Against a surface taken as the truth, its loss ``L(N, D)`` exceeds the optimum
``L*(C)``. The *deadweight compute* is ``C - C_eq``, where ``C_eq`` is the compute that
reaches that same loss with the optimal allocation: the share of the budget the
misallocation threw away (DESIGN.md).

Dollar figures need assumptions, so they live in :class:`GpuPricing`, which states
them: accelerator peak throughput, model FLOP utilisation (MFU) and price per GPU-hour.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike

from .surfaces import LossSurface

#: NVIDIA H100 SXM dense BF16 tensor-core peak, FLOP/s. The often-quoted 1979 TFLOP/s
#: is the 2:4 structured-sparsity figure, which dense training does not reach.
H100_DENSE_BF16_FLOPS = 989e12
#: The Llama 3 405B pre-training budget, FLOPs (Grattafiori et al. 2024).
LLAMA3_405B_BUDGET = 3.8e25


@dataclass(frozen=True)
class Misallocation:
    """A run at budget ``C`` on ``D`` tokens, priced against the optimum of a true surface.

    Fields broadcast: scalars for scalar inputs, arrays otherwise. ``deadweight`` is in
    FLOPs (``C - C_eq``) and ``deadweight_fraction`` is its share of ``C``.
    """

    C: float | np.ndarray
    N_opt: float | np.ndarray
    D_opt: float | np.ndarray
    loss_opt: float | np.ndarray
    N: float | np.ndarray
    D: float | np.ndarray
    loss: float | np.ndarray
    loss_penalty: float | np.ndarray
    C_eq: float | np.ndarray
    deadweight: float | np.ndarray
    deadweight_fraction: float | np.ndarray

    @property
    def token_error(self) -> float | np.ndarray:
        """Relative error of the token count, ``D/D* - 1``."""
        return self.D / self.D_opt - 1.0

    def to_frame(self) -> pd.DataFrame:
        """One row per run, with ``D/N`` ratios next to the allocation."""
        df = pd.DataFrame({k: np.atleast_1d(v) for k, v in asdict(self).items()})
        df.insert(3, "D_opt/N_opt", df["D_opt"] / df["N_opt"])
        df.insert(7, "D/N", df["D"] / df["N"])
        return df

    def __repr__(self) -> str:
        if np.ndim(self.C) == 0:
            return (
                f"Misallocation(C={self.C:.3g}, D={self.D:.4g} vs D*={self.D_opt:.4g}, "
                f"loss_penalty={self.loss_penalty:.3g}, deadweight={self.deadweight:.3g} FLOPs "
                f"({100 * self.deadweight_fraction:.3g}% of C))"
            )
        return f"Misallocation({np.size(self.C)} runs)"


def misallocation(surface: LossSurface, D: ArrayLike, C: ArrayLike) -> Misallocation:
    """Price training on ``D`` tokens at budget ``C`` (so ``N = C/(6 D)``) against ``surface``.

    The deadweight compute is ``C - C_eq`` with ``C_eq = surface.compute_for_loss(L(N, D))``;
    it is zero at ``D = D*(C)`` and positive elsewhere. Broadcasts over ``D`` and ``C``.
    """
    D, C = np.broadcast_arrays(np.asarray(D, dtype=float), np.asarray(C, dtype=float))
    if np.any(~np.isfinite(D) | (D <= 0)) or np.any(~np.isfinite(C) | (C <= 0)):
        raise ValueError(f"D and C must be positive and finite; got D={D}, C={C}")
    N = C / (6.0 * D)
    loss = np.asarray(surface.loss(N, D))
    loss_opt = np.asarray(surface.loss_opt(C))
    # Evaluate the penalty without cancellation: both losses share E and are sums of
    # two positive terms, so subtract the reducible parts term by term.
    n_opt, d_opt = np.asarray(surface.N_opt(C)), np.asarray(surface.D_opt(C))
    penalty = surface.A * (N ** (-surface.alpha) - n_opt ** (-surface.alpha)) + surface.B * (
        D ** (-surface.beta) - d_opt ** (-surface.beta)
    )
    penalty = np.maximum(penalty, 0.0)
    # C_eq / C = ((L* - E + penalty)/(L* - E))**(-1/gamma), computed with log1p.
    reducible = loss_opt - surface.E
    ratio = np.exp(-np.log1p(penalty / reducible) / surface.loss_exponent)
    C_eq = C * ratio
    fraction = -np.expm1(-np.log1p(penalty / reducible) / surface.loss_exponent)
    out = {
        "C": C,
        "N_opt": n_opt,
        "D_opt": d_opt,
        "loss_opt": loss_opt,
        "N": N,
        "D": D,
        "loss": loss,
        "loss_penalty": penalty,
        "C_eq": C_eq,
        "deadweight": C * fraction,
        "deadweight_fraction": fraction,
    }
    return Misallocation(**{k: _scalar(v) for k, v in out.items()})


def _scalar(x: np.ndarray) -> float | np.ndarray:
    return float(x) if np.ndim(x) == 0 else x


@dataclass(frozen=True)
class GpuPricing:
    """Assumptions that turn FLOPs into GPU-hours and dollars, stated explicitly.

    ``peak_flops`` is one accelerator's dense peak (FLOP/s), ``mfu`` the model FLOP
    utilisation actually achieved, ``usd_per_gpu_hour`` the rental price.
    """

    mfu: float
    usd_per_gpu_hour: float
    peak_flops: float = H100_DENSE_BF16_FLOPS
    gpu: str = "H100 SXM (dense BF16)"

    def __post_init__(self) -> None:
        if not 0 < self.mfu <= 1:
            raise ValueError(f"mfu must be in (0, 1], got {self.mfu!r}")
        if not self.usd_per_gpu_hour > 0 or not self.peak_flops > 0:
            raise ValueError("usd_per_gpu_hour and peak_flops must be positive")

    def gpu_hours(self, flops: ArrayLike) -> np.ndarray | float:
        """GPU-hours to execute ``flops`` at ``mfu`` of ``peak_flops``."""
        return _scalar(np.asarray(flops, dtype=float) / (self.peak_flops * self.mfu) / 3600.0)

    def dollars(self, flops: ArrayLike) -> np.ndarray | float:
        """Rental cost of ``flops`` in US dollars."""
        return _scalar(np.asarray(self.gpu_hours(flops)) * self.usd_per_gpu_hour)
