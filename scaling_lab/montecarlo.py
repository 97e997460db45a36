"""Seeded Monte Carlo sweeps over a table of conditions, run in parallel with joblib.

A sweep is a pure function of a conditions table and a seed: each condition (row) gets
its own ``numpy.random.SeedSequence`` child, spawned from the seed in row order, so the
result does not depend on the number of workers or on scheduling, and the same seed
gives bit-identical results. Tasks are module-level functions, so any joblib backend can
run them. On a cluster, run the same sweep on Dask workers::

    import joblib
    from dask.distributed import Client

    client = Client("tcp://scheduler:8786")
    with joblib.parallel_config(backend="dask"):
        results = run_sweep(conditions, fit_methods_task, seed=0)

Run the book's studies at full size from the command line::

    python -m scaling_lab.montecarlo noise --size full --out noise_full.csv
"""

from __future__ import annotations

import argparse
import itertools
import time
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import pandas as pd
from joblib import Parallel, delayed

from .fitting import FitError, fit_approach2, fit_approach3, fit_vpnls
from .sampling import sample_isoflops
from .surfaces import SURFACES, LossSurface

Task = Callable[[dict[str, Any], np.random.Generator], list[dict[str, Any]]]

#: Fitters by name: each takes (runs, rng) and returns an Approach2Fit or SurfaceFit.
FITTERS: dict[str, Callable] = {
    "approach2": lambda df, rng: fit_approach2(df),
    "vpnls": lambda df, rng: fit_vpnls(df),
    "vpnls/l-bfgs-b": lambda df, rng: fit_vpnls(df, method="l-bfgs-b"),
    "vpnls/l-bfgs-b numerical": lambda df, rng: fit_vpnls(df, method="l-bfgs-b", jac="3-point"),
    "vpnls/nelder-mead": lambda df, rng: fit_vpnls(df, method="nelder-mead"),
    "vpnls/grid 256²": lambda df, rng: fit_vpnls(df, method="grid", grid_size=256),
    "approach3/mle": lambda df, rng: fit_approach3(df, variant="mle"),
    "approach3/mle numerical": lambda df, rng: fit_approach3(df, variant="mle", jac="3-point"),
    "approach3/chinchilla": lambda df, rng: fit_approach3(df, variant="chinchilla"),
    "approach3/naive": lambda df, rng: fit_approach3(
        df, variant="naive", seed=int(rng.integers(2**32))
    ),
}


def conditions_grid(**axes: Sequence[Any]) -> pd.DataFrame:
    """Every combination of the given axis values, one row per condition."""
    names = list(axes)
    return pd.DataFrame(list(itertools.product(*axes.values())), columns=names)


def run_sweep(
    conditions: pd.DataFrame,
    task: Task,
    seed: int,
    n_jobs: int | None = -1,
) -> pd.DataFrame:
    """Run ``task(condition, rng)`` on every row and return all rows it reports.

    ``n_jobs`` is passed to ``joblib.Parallel`` (``-1``: all cores; the active
    ``joblib.parallel_config`` backend is used). The output keeps condition order and
    adds a ``condition`` column with the row's position.
    """
    rows = conditions.to_dict("records")
    children = np.random.SeedSequence(seed).spawn(len(rows))
    results = Parallel(n_jobs=n_jobs)(
        delayed(_run_one)(task, row, child) for row, child in zip(rows, children, strict=True)
    )
    flat = [
        {"condition": i, **conditions.iloc[i].to_dict(), **out}
        for i, outs in enumerate(results)
        for out in outs
    ]
    return pd.DataFrame(flat)


def _run_one(task: Task, row: dict[str, Any], child: np.random.SeedSequence) -> list[dict]:
    return task(row, np.random.default_rng(child))


def _surface(condition: dict[str, Any]) -> LossSurface:
    surface = condition.get("surface", "asymmetric")
    return SURFACES[surface] if isinstance(surface, str) else surface


def _budgets(condition: dict[str, Any]) -> np.ndarray:
    return np.geomspace(1e17, 1e21, int(condition.get("n_budgets", 5)))


def fit_methods_task(condition: dict[str, Any], rng: np.random.Generator) -> list[dict]:
    """Sample one noisy IsoFLOP study and fit it with each method in ``condition['methods']``.

    The condition may set ``surface`` (a preset name), ``grid``, ``center_scale``,
    ``drift``, ``noise``, ``n_points``, ``n_budgets``. One output row per method with the
    estimated exponents ``a, b``, their relative errors, the five surface parameters'
    relative errors where the method estimates them, and ``failed`` with the error.
    """
    surface = _surface(condition)
    runs = sample_isoflops(
        surface,
        budgets=_budgets(condition),
        n_points=int(condition.get("n_points", 15)),
        grid=float(condition.get("grid", 8.0)),
        center_scale=float(condition.get("center_scale", 1.0)),
        drift=float(condition.get("drift", 1.0)),
        noise=float(condition.get("noise", 0.0)),
        seed=rng,
    )
    out = []
    for method in condition["methods"]:
        method_rng = np.random.default_rng(rng.integers(2**63))
        row: dict[str, Any] = {"method": method, "failed": False, "error": ""}
        try:
            fit = FITTERS[method](runs, method_rng)
        except (FitError, ValueError) as exc:
            row.update(failed=True, error=str(exc), a=np.nan, b=np.nan, a_err=np.nan, b_err=np.nan)
            out.append(row)
            continue
        row.update(a=fit.a, b=fit.b, a_err=fit.a / surface.a - 1, b_err=fit.b / surface.b - 1)
        if hasattr(fit, "surface"):
            row.update({f"{k}_err": v for k, v in fit.relative_errors(surface).items()})
            row["rss"] = fit.rss
            row["status"] = str(fit.status)
        else:
            row["status"] = "converged"
        out.append(row)
    return out


def drop_methods(df: pd.DataFrame) -> pd.DataFrame:
    """The conditions table without the ``methods`` column (for display)."""
    return df.drop(columns=["methods"], errors="ignore")


#: The book's noise study (chapter "Noise") and its full size.
NOISE_STUDY: dict[str, dict[str, Sequence[Any]]] = {
    "book": {
        "noise": [0.005, 0.01, 0.02, 0.04],
        "n_budgets": [3, 5],
        "n_points": [7, 15],
        "draw": list(range(6)),
    },
    "full": {
        "noise": [0.0025, 0.005, 0.01, 0.02, 0.04, 0.08],
        "n_budgets": [3, 4, 5, 7, 9],
        "n_points": [5, 7, 10, 15, 25, 50],
        "draw": list(range(50)),
    },
}
NOISE_METHODS = (
    "approach2",
    "approach3/naive",
    "approach3/mle",
    "approach3/chinchilla",
    "vpnls",
)


def noise_study(size: str = "book", seed: int = 0, n_jobs: int | None = -1) -> pd.DataFrame:
    """Exponent errors of five methods under noise: asymmetric surface, drift to 3×, ±8×."""
    axes = NOISE_STUDY[size]
    conditions = conditions_grid(**axes)
    conditions["surface"] = "asymmetric"
    conditions["grid"] = 8.0
    conditions["drift"] = 3.0
    conditions["methods"] = [NOISE_METHODS] * len(conditions)
    return drop_methods(run_sweep(conditions, fit_methods_task, seed=seed, n_jobs=n_jobs))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Run a Monte Carlo study of the book.")
    parser.add_argument("study", choices=["noise"])
    parser.add_argument("--size", choices=["book", "full"], default="book")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--n-jobs", type=int, default=-1)
    parser.add_argument("--out", default=None, help="CSV file for the tidy results")
    args = parser.parse_args(argv)
    start = time.perf_counter()
    results = noise_study(args.size, seed=args.seed, n_jobs=args.n_jobs)
    elapsed = time.perf_counter() - start
    summary = results.groupby("method")[["a_err", "b_err"]].agg(lambda x: np.nanmax(np.abs(x)))
    print(f"{len(results)} fits in {elapsed:.1f} s; worst |relative error| per method:")
    print(summary.to_string())
    if args.out:
        results.to_csv(args.out, index=False)


if __name__ == "__main__":
    main()


def summarise_exponent_errors(
    results: pd.DataFrame, by: str | list[str] = "method"
) -> pd.DataFrame:
    """Fits, failures, geometric-mean and worst |relative error| of ``a`` and ``b`` per group."""

    def geomean(x: pd.Series) -> float:
        x = x.abs().dropna()
        return float(np.exp(np.mean(np.log(np.maximum(x, 1e-300))))) if len(x) else np.nan

    return results.groupby(by).agg(
        fits=("a_err", "size"),
        failed=("failed", "sum"),
        a_geomean=("a_err", geomean),
        a_worst=("a_err", lambda x: x.abs().max()),
        b_geomean=("b_err", geomean),
        b_worst=("b_err", lambda x: x.abs().max()),
    )


def pooled_variance(results: pd.DataFrame, column: str = "a", repeat: str = "draw") -> pd.Series:
    """Per method: the variance of ``column`` over repeated draws, divided by the noise
    variance, averaged over all other conditions. Smaller means more data-efficient."""
    keys = [c for c in ("noise", "n_points", "n_budgets", "grid") if c in results]
    per_condition = results.groupby(["method", *keys])[column].var()
    scaled = per_condition / per_condition.index.get_level_values("noise") ** 2
    return scaled.groupby("method").mean()
