"""Rolling-origin extrapolation: fit on the k smallest models, predict the larger ones.

Errors are put on scales that can be compared across targets:

* loss: the error of the log loss in percent, ``100 ln(pred/obs)`` (a relative error);
* tasks: the error in accuracy points as a share of the chance-to-perfect range,
  ``100 (pred - obs)/(1 - c)``, so a 2-way and a 4-way benchmark count alike.

The absolute percentage error (the earlier analysis's MAPE) is kept for comparison; it is
not comparable across targets, because a loss carries an irreducible part and an
accuracy carries its chance level.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from .loss_laws import fit_loss_law
from .tasks import fit_task_law

ORIGINS = (4, 5, 6)


def _origins(n: int, ks) -> list[int]:
    ks = list(ks)
    bad = [k for k in ks if not 3 <= k < n]
    if bad:
        raise ValueError(f"origins must be in [3, {n - 1}] for {n} sizes, got {bad}")
    return ks


def rolling_origin_loss(N, loss, ks=ORIGINS, forms=("power", "floor")) -> pd.DataFrame:
    """One row per (law, origin k, held-out size): prediction and errors."""
    N, loss = np.asarray(N, float), np.asarray(loss, float)
    order = np.argsort(N)
    N, loss = N[order], loss[order]
    rows = []
    for form in forms:
        for k in _origins(N.size, ks):
            if form == "floor" and k < 4:
                continue
            fit = fit_loss_law(N[:k], loss[:k], form=form, n_boot=0)
            pred = fit.predict(N[k:])
            for j, (n_, obs, pr) in enumerate(zip(N[k:], loss[k:], pred, strict=True)):
                rows.append({
                    "target": form, "k": k, "step": j + 1, "N": n_, "observed": obs,
                    "predicted": pr, "error_pct": 100 * np.log(pr / obs),
                    "ape_pct": 100 * abs(pr - obs) / obs,
                })  # fmt: skip
    return pd.DataFrame(rows)


def rolling_origin_tasks(N, acc: dict, se: dict, chance: dict, ks=ORIGINS) -> pd.DataFrame:
    """The same for each benchmark's chance-floor sigmoid (weighted by its SEs)."""
    N = np.asarray(N, float)
    order = np.argsort(N)
    rows = []
    for name, values in acc.items():
        a = np.asarray(values, float)[order]
        s = np.asarray(se[name], float)[order]
        n_sorted = N[order]
        c = chance[name]
        for k in _origins(N.size, ks):
            fit = fit_task_law(n_sorted[:k], a[:k], s[:k], c)
            pred = fit.predict(n_sorted[k:])
            for j, (n_, obs, pr) in enumerate(zip(n_sorted[k:], a[k:], pred, strict=True)):
                rows.append({
                    "target": name, "k": k, "step": j + 1, "N": n_, "observed": obs,
                    "predicted": pr, "error_pct": 100 * (pr - obs) / (1 - c),
                    "ape_pct": 100 * abs(pr - obs) / obs,
                })  # fmt: skip
    return pd.DataFrame(rows)


def summarise(errors: pd.DataFrame) -> pd.DataFrame:
    """Mean absolute error (comparable scale) and MAPE per target and origin."""
    g = errors.assign(abs_error=errors["error_pct"].abs()).groupby(["target", "k"], sort=False)
    return g.agg(mean_abs_error_pct=("abs_error", "mean"), mape_pct=("ape_pct", "mean"),
                 held_out=("N", "size")).reset_index()  # fmt: skip
