"""Can the Chinchilla form ``L = E + A/N^alpha + B/D^beta`` be fitted to a model family?

Only if the family varies tokens D independently of size N. When every model is trained
on about 20 tokens per parameter (Cerebras-GPT), ``B/D^beta = B 20^-beta / N^beta`` is a
second power law in N: the data term cannot be told apart from the size term, and a fit
returns whatever split of the loss its optimiser happens to reach. The check below looks
at the design itself (how much of log D is left once log N is known), so it needs no fit.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from .intervals import f_threshold


@dataclass(frozen=True)
class Identifiability:
    """How far tokens vary independently of size, and the verdict."""

    identifiable: bool
    corr_logN_logD: float
    independent_factor: float
    min_factor: float
    reason: str

    def to_dict(self) -> dict:
        return {
            "identifiable": self.identifiable,
            "corr_logN_logD": self.corr_logN_logD,
            "independent_factor": self.independent_factor,
            "min_factor": self.min_factor,
            "reason": self.reason,
        }


def chinchilla_identifiability(N, D, min_factor: float = 2.0) -> Identifiability:
    """Whether ``(N, D)`` can separate a size term from a data term.

    ``independent_factor`` is the spread (max/min) of D left after a least-squares fit of
    log D on log N: 1.0 when D is proportional to N (or any power of N). The Chinchilla
    form is called identifiable only when that spread reaches ``min_factor`` (2 by
    default: some pairs of runs differ at least twofold in tokens at the same size).
    """
    N = np.asarray(N, float)
    D = np.asarray(D, float)
    if N.shape != D.shape or N.ndim != 1:
        raise ValueError(f"N and D must be 1-D of equal length, got {N.shape} and {D.shape}")
    bad = np.flatnonzero(~np.isfinite(N) | ~np.isfinite(D) | (N <= 0) | (D <= 0))
    if bad.size:
        raise ValueError(f"N and D must be finite and positive; bad rows {bad.tolist()}")
    if N.size < 3:
        raise ValueError(f"need at least 3 runs, got {N.size}")
    if min_factor <= 1:
        raise ValueError(f"min_factor must exceed 1, got {min_factor}")
    x, y = np.log10(N), np.log10(D)
    X = np.column_stack([np.ones_like(x), x])
    resid = y - X @ np.linalg.lstsq(X, y, rcond=None)[0]
    factor = float(10 ** (resid.max() - resid.min()))
    corr = float(np.corrcoef(x, y)[0, 1]) if np.ptp(y) > 0 else float("nan")
    ok = factor >= min_factor
    if ok:
        reason = f"tokens vary {factor:.3g}-fold at fixed size: the data term is separable"
    else:
        reason = (
            f"D is a power of N to within a factor {factor:.4g} (< {min_factor:g}): the data "
            "term B/D^beta collapses into a second power law in N, so B and beta (and the "
            "split between the two terms) are not identified"
        )
    return Identifiability(ok, corr, factor, float(min_factor), reason)


def chinchilla_profile(N, D, loss, betas=None, alphas=None) -> pd.DataFrame:
    """Profile RSS of the Chinchilla form over beta (minimised over alpha, E, A, B).

    For fixed exponents the form is linear in (E, A, B), solved by least squares for the
    whole (alpha, beta) grid in one batched pseudo-inverse. Returns columns ``beta``,
    ``rss`` and ``inside`` (within the 95% F-calibrated profile threshold). A profile that
    stays inside across the grid is flat: beta is not identified.
    """
    N, D, loss = (np.asarray(v, float) for v in (N, D, loss))
    betas = np.linspace(0.05, 0.95, 91) if betas is None else np.asarray(betas, float)
    alphas = np.linspace(0.05, 0.95, 91) if alphas is None else np.asarray(alphas, float)
    n = loss.size
    if n < 6:
        raise ValueError(f"the Chinchilla form has 5 parameters; need at least 6 runs, got {n}")
    xn, xd = np.log(N / N.mean()), np.log(D / D.mean())
    ga, gb = np.meshgrid(alphas, betas, indexing="ij")
    cols = [
        np.ones((ga.size, n)),
        np.exp(-ga.reshape(-1, 1) * xn),
        np.exp(-gb.reshape(-1, 1) * xd),
    ]
    X = np.stack(cols, axis=-1)  # (G, n, 3)
    coef = np.linalg.pinv(X) @ loss
    rss = ((X @ coef[..., None])[..., 0] - loss) ** 2
    rss = rss.sum(-1).reshape(ga.shape).min(axis=0)
    thr = f_threshold(rss.min(), n, 5)
    return pd.DataFrame({"beta": betas, "rss": rss, "inside": rss <= thr})
