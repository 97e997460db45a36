"""Cross-family transfer: fit task laws on Cerebras-GPT, predict Pythia.

The families differ in tokens per parameter: Cerebras-GPT trains every size on about 20,
Pythia trains every size on the same 300B tokens (about 4,300 per parameter at 70M, 25
at 12B). A law in N alone ignores Pythia's extra data; a law in training compute
``C = 6ND`` credits it in full, as if over-training were as good as growing the model.
The third variant maps each Pythia model to the Cerebras-GPT size with the same loss
under a published Chinchilla surface (Hoffmann et al. 2022), a middle road that is only
as good as that surface. Sizes are non-embedding counts (the two families share blocks
but not embeddings), and ARC-Challenge uses raw accuracy in both families.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..surfaces import SURFACES, LossSurface
from .tasks import TASK_FORMS, fit_task_law

VARIANTS = ("size N", "compute 6ND", "loss-equivalent size")
TOKENS_PER_PARAM = 20.0


def loss_equivalent_size(
    N, D, surface: LossSurface | None = None, tokens_per_param: float = TOKENS_PER_PARAM
) -> np.ndarray:
    """Size that reaches the loss of ``(N, D)`` at ``tokens_per_param`` tokens per parameter."""
    from scipy import optimize  # scipy loads on first use

    surface = surface or SURFACES["chinchilla"]
    out = []
    for n, d in zip(np.atleast_1d(N), np.atleast_1d(D), strict=True):
        target = surface.loss(n, d)
        if target <= surface.E:
            raise ValueError(f"loss at N={n:g}, D={d:g} is at the surface floor")

        def gap(logn, target=target):
            m = np.exp(logn)
            return surface.loss(m, tokens_per_param * m) - target

        out.append(float(np.exp(optimize.brentq(gap, np.log(1e3), np.log(1e16), xtol=1e-12))))
    return np.asarray(out)


def scaling_variable(variant: str, N, D) -> np.ndarray:
    """The x of the task law for one variant (N itself for the size variants)."""
    N, D = np.asarray(N, float), np.asarray(D, float)
    if variant == "size N":
        return N
    if variant == "compute 6ND":
        return 6 * N * D
    if variant == "loss-equivalent size":
        return loss_equivalent_size(N, D)
    raise ValueError(f"variant must be one of {VARIANTS}, got {variant!r}")


def transfer(source: pd.DataFrame, target: pd.DataFrame, benchmarks: dict) -> pd.DataFrame:
    """Predictions for every target model, benchmark and variant, with their errors.

    ``source`` and ``target`` have columns ``N`` (non-embedding), ``tokens``, one column
    per benchmark and ``<name>_se``; ``benchmarks`` maps names to chance levels.
    Each benchmark uses the task law (sigmoid with chance floor or bounded power law) that
    fits the source family better (smaller chi-square; both have two parameters).
    Columns out: ``variant, benchmark, law, model, observed, predicted, se, error_pct``
    (points as a share of the chance-to-perfect range), ``ape_pct`` and ``z``
    (error in units of the target's standard error).
    """
    rows = []
    for variant in VARIANTS:
        xs = scaling_variable(variant, source["N"], source["tokens"])
        xt = scaling_variable(variant, target["N"], target["tokens"])
        for name, chance in benchmarks.items():
            fits = [fit_task_law(xs, source[name], source[f"{name}_se"], chance, form)
                    for form in TASK_FORMS]  # fmt: skip
            fit = min(fits, key=lambda f: f.chi2)
            pred = fit.predict(xt)
            obs = target[name].to_numpy(float)
            se = target[f"{name}_se"].to_numpy(float)
            for model, o, p, s in zip(target["model"], obs, pred, se, strict=True):
                rows.append({
                    "variant": variant, "benchmark": name, "law": fit.form, "model": model,
                    "observed": o,
                    "predicted": p, "se": s, "error_pct": 100 * (p - o) / (1 - chance),
                    "ape_pct": 100 * abs(p - o) / o, "z": (p - o) / s,
                })  # fmt: skip
    return pd.DataFrame(rows)
