"""Conditioning of the surface fits: the 5-D Hessian of Approach 3 and the 2-D one of VPNLS.

At the true parameters of noise-free data the residuals vanish, so the Hessian of the
residual sum of squares is exactly ``2 J^T J`` (the second-derivative terms are
multiplied by zero residuals). ``J`` is the Jacobian of the predicted losses with
respect to ``(E, A, B, alpha, beta)`` for Approach 3, and the Jacobian of the projected
residual with respect to ``(alpha, beta)`` for VPNLS.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from .fitting.approach3 import input_scales
from .fitting.data import check_option, validate_isoflops
from .fitting.vpnls import _Projection
from .surfaces import LossSurface

PARAMETERS = ("E", "A", "B", "alpha", "beta")


@dataclass(frozen=True)
class HessianAnalysis:
    """Eigen-decomposition of an RSS Hessian."""

    hessian: np.ndarray
    eigenvalues: np.ndarray  # ascending
    eigenvectors: np.ndarray  # columns
    names: tuple[str, ...]

    @property
    def condition_number(self) -> float:
        return float(self.eigenvalues[-1] / self.eigenvalues[0])

    @property
    def scaled_condition_number(self) -> float:
        """Condition number after rescaling every parameter to unit curvature.

        Symmetric diagonal scaling ``S H S`` with ``S = diag(H)**-1/2`` removes what is
        only a choice of units (A in the hundreds, alpha below one) and keeps the
        correlations between parameters.
        """
        s = 1.0 / np.sqrt(np.diag(self.hessian))
        values = np.linalg.eigvalsh(self.hessian * np.outer(s, s))
        return float(values[-1] / values[0])

    def to_frame(self) -> pd.DataFrame:
        """One row per eigenvalue, with the eigenvector's components."""
        frame = pd.DataFrame(self.eigenvectors.T, columns=list(self.names))
        frame.insert(0, "eigenvalue", self.eigenvalues)
        return frame


def _analyse(hessian: np.ndarray, names: tuple[str, ...]) -> HessianAnalysis:
    values, vectors = np.linalg.eigh(hessian)
    # Fix each eigenvector's sign so its largest component is positive (reproducible tables).
    signs = np.sign(vectors[np.argmax(np.abs(vectors), axis=0), np.arange(vectors.shape[1])])
    return HessianAnalysis(hessian, values, vectors * signs, names)


def prediction_jacobian(surface: LossSurface, params: np.ndarray, tokens: np.ndarray) -> np.ndarray:
    """d(predicted loss)/d(E, A, B, alpha, beta), one row per run."""
    tn = params ** (-surface.alpha)
    td = tokens ** (-surface.beta)
    return np.column_stack(
        [
            np.ones_like(tn),
            tn,
            td,
            -surface.A * np.log(params) * tn,
            -surface.B * np.log(tokens) * td,
        ]
    )


#: The parameterisations of the 5-D fit that ``hessian_5d`` analyses.
PARAMETERISATIONS: tuple[str, ...] = ("raw", "log", "normalised")


def hessian_5d(
    surface: LossSurface,
    df: pd.DataFrame,
    parameterisation: str = "raw",
    scales: tuple[float, float] | None = None,
) -> HessianAnalysis:
    """Hessian of Approach 3's least-squares RSS at ``surface`` (exact for noise-free runs).

    ``parameterisation`` names the coordinates the optimiser moves in: ``"raw"``
    ``(E, A, B, alpha, beta)``; ``"log"`` ``(log E, log A, log B, alpha, beta)``;
    ``"normalised"`` the ``"normalised"`` variant of ``fit_approach3``:
    ``(log E, log(A/N0**alpha), log(B/D0**beta), alpha, beta)`` with ``(N0, D0)`` the
    runs' geometric means unless ``scales`` gives them. The objective is the same in all
    three; only the chain rule ``J -> J T`` differs, so any difference in conditioning is
    a property of the coordinates, not of the problem.
    """
    check_option("parameterisation", parameterisation, PARAMETERISATIONS)
    data = validate_isoflops(df)
    jac = prediction_jacobian(surface, data.params, data.tokens)
    if parameterisation == "raw":
        return _analyse(2.0 * jac.T @ jac, PARAMETERS)
    if parameterisation == "log":
        n0, d0 = 1.0, 1.0
    else:
        n0, d0 = input_scales(data.params, data.tokens) if scales is None else scales
    # d(raw)/d(new): E = e^e, A = e^a N0^alpha, B = e^b D0^beta.
    t = np.diag([surface.E, surface.A, surface.B, 1.0, 1.0])
    t[1, 3] = surface.A * np.log(n0)
    t[2, 4] = surface.B * np.log(d0)
    jac = jac @ t
    names = ("log E", "log A", "log B", "alpha", "beta")
    if parameterisation == "normalised":
        names = ("log E", "log(A/N0^alpha)", "log(B/D0^beta)", "alpha", "beta")
    return _analyse(2.0 * jac.T @ jac, names)


def hessian_2d(surface: LossSurface, df: pd.DataFrame) -> HessianAnalysis:
    """Hessian of the VPNLS projected RSS over (alpha, beta) at the surface's exponents."""
    data = validate_isoflops(df)
    prob = _Projection(np.log(data.params), np.log(data.tokens), data.loss)
    jac = prob.jacobian(np.array([surface.alpha, surface.beta]))
    return _analyse(2.0 * jac.T @ jac, ("alpha", "beta"))


def rss_gradient_5d(x: np.ndarray, df: pd.DataFrame) -> np.ndarray:
    """Gradient of Approach 3's raw RSS at parameters ``x = (E, A, B, alpha, beta)``."""
    from .fitting.approach3 import _raw_rss_and_grad

    data = validate_isoflops(df)
    return _raw_rss_and_grad(
        np.asarray(x, float), np.log(data.params), np.log(data.tokens), data.loss
    )[1]


def perturbation_test(surface: LossSurface, df: pd.DataFrame, step: float = 1e-3) -> pd.DataFrame:
    """Move ``step`` (Euclidean) from the truth along each 5-D eigenvector; report the gradient.

    A gradient-based optimiser stops when the gradient is small; along a flat eigenvector
    it is small long before the parameters are right.
    """
    analysis = hessian_5d(surface, df)
    truth = np.array([surface.E, surface.A, surface.B, surface.alpha, surface.beta])
    rows = []
    for k, value in enumerate(analysis.eigenvalues):
        x = truth + step * analysis.eigenvectors[:, k]
        grad = rss_gradient_5d(x, df)
        rows.append(
            {
                "eigenvalue": value,
                "gradient_norm": float(np.linalg.norm(grad)),
                "dominant": PARAMETERS[int(np.argmax(np.abs(analysis.eigenvectors[:, k])))],
            }
        )
    return pd.DataFrame(rows)


def condition_table(surface: LossSurface, df: pd.DataFrame) -> pd.DataFrame:
    """Condition numbers of the same least-squares problem in several coordinates.

    From the raw five parameters to the normalised, log-parameterised form (fixed scales
    ``N/1e6, D/1e9`` and the runs' geometric means), the best diagonal rescaling of the
    raw Hessian, and the two-parameter problem left by variable projection.
    """
    rows = {
        "raw: E, A, B, α, β": hessian_5d(surface, df).condition_number,
        "log E, log A, log B, α, β": hessian_5d(surface, df, "log").condition_number,
        "inputs N/1e6, D/1e9; log E, A, B": hessian_5d(
            surface, df, "normalised", scales=(1e6, 1e9)
        ).condition_number,
        "inputs over their geometric means; log E, A, B": hessian_5d(
            surface, df, "normalised"
        ).condition_number,
        "raw, every parameter rescaled to unit curvature": hessian_5d(
            surface, df
        ).scaled_condition_number,
        "VPNLS: α, β only": hessian_2d(surface, df).condition_number,
    }
    return pd.DataFrame({"condition number": rows})
