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
import warnings
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import pandas as pd
from joblib import Parallel, delayed

from .bootstrap import percentile_interval
from .fitting import FitError, approach3, fit_approach2, fit_approach3, fit_vpnls
from .fitting.approach3 import huber_linear_fraction
from .landings import jitter_losses, kind_rates, perturbed_sweep
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
    "approach3/normalised": lambda df, rng: fit_approach3(df, variant="normalised"),
    "approach3/mle numerical": lambda df, rng: fit_approach3(df, variant="mle", jac="3-point"),
    "approach3/chinchilla": lambda df, rng: fit_approach3(df, variant="chinchilla"),
    "approach3/naive": lambda df, rng: fit_approach3(
        df, variant="naive", seed=int(rng.integers(2**32))
    ),
}


#: Readable names for plots and tables (the keys stay short for code and CSV files).
#: The raw least-squares variant is keyed "mle" for API compatibility; it is a maximum
#: likelihood estimate only under independent Gaussian noise of constant variance on
#: the loss, so the label says what it does.
METHOD_LABELS: dict[str, str] = {
    "approach2": "Approach 2",
    "vpnls": "VPNLS",
    "vpnls/l-bfgs-b": "VPNLS, L-BFGS-B",
    "vpnls/l-bfgs-b numerical": "VPNLS, L-BFGS-B, numerical gradient",
    "vpnls/nelder-mead": "VPNLS, Nelder-Mead",
    "vpnls/grid 256²": "VPNLS, 256×256 grid only",
    "approach3/mle": "Approach 3, least squares, raw parameters",
    "approach3/mle numerical": "Approach 3, least squares, raw parameters, numerical gradient",
    "approach3/normalised": "Approach 3, least squares, normalised inputs, log A, B, E",
    "approach3/chinchilla": "Approach 3, Huber loss on log-loss (Chinchilla form)",
    "approach3/naive": "Approach 3, one random start",
}


def label(method: str) -> str:
    """The readable name of a method key (the key itself when it has none)."""
    return METHOD_LABELS.get(method, method)


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
    ``drift``, ``noise``, ``n_points``, ``n_budgets``. With ``noise_seed`` the noise comes
    from that seed instead of the condition's stream, so several conditions can share one
    noisy study; ``jitter`` then perturbs its losses by that relative amount
    (:func:`scaling_lab.landings.jitter_losses`), drawn from the condition's stream, to
    measure how the fits land on copies of one study. One output row per method with the
    estimated exponents ``a, b``, their relative errors, the five surface parameters'
    relative errors where the method estimates them, and ``failed`` with the error.
    """
    surface = _surface(condition)
    noise_seed = condition.get("noise_seed")
    runs = sample_isoflops(
        surface,
        budgets=_budgets(condition),
        n_points=int(condition.get("n_points", 15)),
        grid=float(condition.get("grid", 8.0)),
        center_scale=float(condition.get("center_scale", 1.0)),
        drift=float(condition.get("drift", 1.0)),
        noise=float(condition.get("noise", 0.0)),
        seed=rng if noise_seed is None else int(noise_seed),
    )
    runs = jitter_losses(runs, rng, float(condition.get("jitter", 0.0)))
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
        if method == "approach3/chinchilla":
            row["huber_linear_fraction"] = huber_linear_fraction(fit, runs)
        if hasattr(fit, "surface"):
            row.update({f"{k}_err": v for k, v in fit.relative_errors(surface).items()})
            row["rss"] = fit.rss
            loss = runs["loss"].to_numpy()
            row["total_ss"] = float(np.sum((loss - loss.mean()) ** 2))
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
    "approach3/normalised",
    "approach3/chinchilla",
    "vpnls",
)


def noise_study(size: str = "book", seed: int = 0, n_jobs: int | None = -1) -> pd.DataFrame:
    """Exponent errors of six methods under noise: asymmetric surface, drift to 3×, ±8×."""
    axes = NOISE_STUDY[size]
    conditions = conditions_grid(**axes)
    conditions["surface"] = "asymmetric"
    conditions["grid"] = 8.0
    conditions["drift"] = 3.0
    conditions["methods"] = [NOISE_METHODS] * len(conditions)
    return drop_methods(run_sweep(conditions, fit_methods_task, seed=seed, n_jobs=n_jobs))


def noise_landings(
    size: str = "book",
    repeats: int = 8,
    methods: Sequence[str] = ("approach3/mle", "vpnls"),
    jitter: float = 1e-12,
    seed: int = 0,
    n_jobs: int | None = -1,
) -> pd.DataFrame:
    """The noise study's designs, each noisy study fitted on ``repeats`` jittered copies.

    Every study (one design and draw of :data:`NOISE_STUDY`) gets its own noise seed, so
    its copies share the noise and differ only by a relative ``jitter`` of the losses:
    how a method lands on them measures its landing rate rather than one machine's
    landing. Adds ``study`` (the study's index) to each output row.
    """
    axes = NOISE_STUDY[size]
    studies = conditions_grid(**axes)
    studies["study"] = range(len(studies))
    conditions = studies.merge(pd.DataFrame({"repeat": range(int(repeats))}), how="cross")
    conditions["noise_seed"] = np.random.SeedSequence(seed).generate_state(len(studies))[
        conditions["study"]
    ]
    conditions["surface"] = "asymmetric"
    conditions["grid"] = 8.0
    conditions["drift"] = 3.0
    conditions["jitter"] = float(jitter)
    conditions["methods"] = [tuple(methods)] * len(conditions)
    return drop_methods(run_sweep(conditions, fit_methods_task, seed=seed + 1, n_jobs=n_jobs))


def landing_rates(
    landed: pd.DataFrame, method: str, reference: str = "vpnls", rss_tol: float = 1e-9
) -> dict[str, Any]:
    """How often ``method`` lands away from ``reference`` on the same noisy copies.

    ``"higher rss"``: its RSS exceeds the reference's by more than ``rss_tol`` (relative),
    so it stopped before the optimum both methods minimise. ``"far"``: its ``b`` is
    farther from the reference's ``b`` than the reference's is from the truth. Each is a
    :class:`scaling_lab.landings.Rate` over all copies; ``"changing studies"`` counts the
    studies whose copies do not all agree on ``"far"``.
    """
    from .landings import rate

    index = ["study", "repeat"]
    wide = landed.pivot_table(index=index, columns="method", values=["rss", "b", "b_err"])
    b_true = wide["b"][reference] / (1 + wide["b_err"][reference])
    higher = wide["rss"][method] > wide["rss"][reference] * (1 + rss_tol)
    far = (wide["b"][method] - wide["b"][reference]).abs() > (wide["b"][reference] - b_true).abs()
    changing = far.groupby(level="study").nunique() > 1
    return {
        "higher rss": rate(higher.sum(), len(higher)),
        "far": rate(far.sum(), len(far)),
        "changing studies": rate(changing.sum(), len(changing)),
    }


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


# --- Noise-free recovery of the direct fit: misses by kind, per configuration --------

_RAW, _NORM = approach3.RAW_GRID, approach3.NORMALISED_GRID
_RAW_B = approach3.RAW_BOUNDS

#: Configurations of the direct least-squares fit whose miss counts the book compares:
#: the start grid, the box, the coordinates and the input scaling, one change at a time.
DIRECT_FIT_CONFIGS: dict[str, dict[str, Any]] = {
    "raw, default (A, B starts 10 to 1e4)": {"variant": "mle"},
    "raw, A, B starts 10 to 1e3": {
        "variant": "mle",
        "grid": (_RAW[0], np.logspace(1, 3, 4), np.logspace(1, 3, 4), _RAW[3], _RAW[4]),
    },
    "raw, A, B starts 10 to 1e6": {
        "variant": "mle",
        "grid": (_RAW[0], np.logspace(1, 6, 4), np.logspace(1, 6, 4), _RAW[3], _RAW[4]),
    },
    "raw, 5 start values for A and for B": {
        "variant": "mle",
        "grid": (_RAW[0], np.logspace(1, 4, 5), np.logspace(1, 4, 5), _RAW[3], _RAW[4]),
    },
    "raw, A, B bounded by 1e4": {
        "variant": "mle",
        "bounds": (_RAW_B[0], (1e-6, 1e4), (1e-6, 1e4), _RAW_B[3], _RAW_B[4]),
    },
    "raw, A, B bounded by 1e8": {
        "variant": "mle",
        "bounds": (_RAW_B[0], (1e-6, 1e8), (1e-6, 1e8), _RAW_B[3], _RAW_B[4]),
    },
    "log E, A, B; inputs unscaled": {
        "variant": "normalised",
        "scales": (1.0, 1.0),
        "grid": (_NORM[0], np.log(_RAW[1]), np.log(_RAW[2]), _RAW[3], _RAW[4]),
    },
    "log E, A, B; inputs N/1e6, D/1e9": {"variant": "normalised", "scales": (1e6, 1e9)},
    "normalised (geometric means), default": {"variant": "normalised"},
    "normalised, 3 start values per axis": {
        "variant": "normalised",
        "grid": tuple(np.linspace(a[0], a[-1], 3) for a in _NORM),
    },
}


def recovery_sweep(
    configs: dict[str, dict[str, Any]],
    surfaces: Sequence[str] = tuple(SURFACES),
    grids: Sequence[float] = tuple(np.geomspace(2.0, 100.0, 20)),
    repeats: int = 1,
    jitter: float = 0.0,
    seed: int = 0,
    n_jobs: int | None = -1,
) -> pd.DataFrame:
    """Noise-free direct fits of every surface at every sampling width, per configuration.

    ``configs`` maps a readable name to ``fit_approach3`` keyword arguments. Each
    condition is fitted ``repeats`` times on runs whose losses carry a relative
    ``jitter`` (:func:`scaling_lab.landings.jitter_losses`; 0 fits the exact runs), so
    that counts of misses become rates that hold on any machine. One row per fit with
    its worst relative error, RSS and ``kind`` (:func:`scaling_lab.landings.miss_kind`).
    """
    conditions = conditions_grid(config=list(configs), surface=list(surfaces), grid=list(grids))
    conditions["options"] = conditions["config"].map(configs)
    conditions["fitter"] = "approach3"
    out = perturbed_sweep(conditions, repeats, jitter=jitter, seed=seed, n_jobs=n_jobs)
    return out.drop(columns=["options", "fitter"])


def miss_rates(recovery: pd.DataFrame, confidence: float = 0.95) -> pd.DataFrame:
    """Per configuration: misses by kind as rates over all its fits, with binomial intervals."""
    return kind_rates(recovery, "config", confidence).loc[list(dict.fromkeys(recovery["config"]))]


def miss_counts(recovery: pd.DataFrame) -> pd.DataFrame:
    """Per configuration: fits, misses by kind, and the worst error among the others."""
    counts = pd.crosstab(recovery["config"], recovery["kind"])
    for kind in ("recovered", "early stop", "wrong basin"):
        if kind not in counts:
            counts[kind] = 0
    out = pd.DataFrame(
        {
            "fits": counts.sum(axis=1),
            "early stops": counts["early stop"],
            "wrong basins": counts["wrong basin"],
            "misses": counts["early stop"] + counts["wrong basin"],
            "worst error": recovery.groupby("config")["max_err"].max(),
        }
    )
    return out.loc[list(dict.fromkeys(recovery["config"]))]


# --- Intervals for Monte Carlo summaries ---------------------------------------------


def draws_array(
    results: pd.DataFrame, column: str, repeat: str = "draw"
) -> tuple[np.ndarray, pd.DataFrame, list[str]]:
    """``column`` as an array ``(groups, draws, methods)`` for resampling.

    A group is one combination of the design columns (every column but the method, the
    outputs and ``repeat``); its draws are the repeated noisy studies of that design.
    Returns the array, the groups' design values and the method names.
    """
    design = [
        c
        for c in ("surface", "noise", "n_points", "n_budgets", "grid", "center_scale", "drift")
        if c in results
    ]
    wide = results.pivot_table(
        index=[*design, repeat], columns="method", values=column, dropna=False
    )
    methods = list(wide.columns)
    groups = wide.index.droplevel(repeat).unique() if design else pd.Index([0])
    n_draws = results[repeat].nunique()
    if len(wide) != len(groups) * n_draws:
        raise ValueError(f"every design must have the same {n_draws} values of {repeat!r}")
    values = wide.to_numpy().reshape(len(groups), n_draws, len(methods))
    frame = groups.to_frame(index=False) if design else pd.DataFrame(index=[0])
    return values, frame, methods


def resample_draws(values: np.ndarray, n_boot: int, seed: int) -> np.ndarray:
    """Bootstrap samples of a ``(groups, draws, methods)`` array, one more leading axis.

    Draws are resampled with replacement within each group (the design is kept) and
    with the same indices for every method (the comparison stays paired).
    """
    rng = np.random.default_rng(seed)
    n_groups, n_draws, _ = values.shape
    idx = rng.integers(0, n_draws, size=(int(n_boot), n_groups, n_draws))
    return values[np.arange(n_groups)[None, :, None], idx]


def _interval(point: np.ndarray, boot: np.ndarray, level: float) -> dict[str, np.ndarray]:
    lower, upper = percentile_interval(boot, level)
    return {"estimate": point, "lower": lower, "upper": upper}


def _with_ratio(
    point: np.ndarray, boot: np.ndarray, methods: list[str], reference: str, level: float
) -> pd.DataFrame:
    """Per method: the statistic and its interval, then its paired ratio to ``reference``'s."""
    ref = methods.index(reference)
    out = pd.DataFrame(_interval(point, boot, level), index=methods)
    ratio = _interval(point / point[ref], boot / boot[:, ref : ref + 1], level)
    out[["ratio", "ratio lower", "ratio upper"]] = np.column_stack(list(ratio.values()))
    return out


def worst_case_intervals(
    results: pd.DataFrame,
    column: str,
    reference: str,
    n_boot: int = 2000,
    seed: int = 0,
    level: float = 0.95,
) -> pd.DataFrame:
    """Worst ``|column|`` per method and its ratio to ``reference``'s, with bootstrap intervals.

    The bootstrap of a maximum never exceeds the observed maximum, so the interval of a
    single worst case shows how much it rests on a few studies; the paired ratio's
    interval says whether one method's worst case is reliably smaller than another's.
    """
    values, _, methods = draws_array(results, column)
    values = np.abs(values)
    point = np.nanmax(values, axis=(0, 1))
    boot = np.nanmax(resample_draws(values, n_boot, seed), axis=(1, 2))
    return _with_ratio(point, boot, methods, reference, level)


def variance_ratio_intervals(
    results: pd.DataFrame,
    column: str,
    reference: str,
    n_boot: int = 2000,
    seed: int = 0,
    level: float = 0.95,
) -> pd.DataFrame:
    """:func:`pooled_variance` per method and its ratio to ``reference``'s, with intervals.

    The ratio of variances is the ratio of runs two methods need for the same spread.
    """
    values, groups, methods = draws_array(results, column)
    noise2 = groups["noise"].to_numpy()[:, None] ** 2

    def pooled(v: np.ndarray) -> np.ndarray:  # (..., groups, draws, methods) -> (..., methods)
        with np.errstate(invalid="ignore", divide="ignore"), warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            return np.nanmean(np.nanvar(v, axis=-2, ddof=1) / noise2, axis=-2)

    point = pooled(values)
    boot = pooled(resample_draws(values, n_boot, seed))
    return _with_ratio(point, boot, methods, reference, level)


def rms_ratio_interval(
    results: pd.DataFrame,
    column: str,
    numerator: str,
    denominator: str,
    n_boot: int = 2000,
    seed: int = 0,
    level: float = 0.95,
) -> dict[str, float]:
    """Median over designs of the ratio of RMS ``column`` (numerator/denominator), with interval."""
    values, _, methods = draws_array(results, column)
    i, j = methods.index(numerator), methods.index(denominator)

    def median_ratio(v: np.ndarray) -> np.ndarray:
        rms = np.sqrt(np.nanmean(v**2, axis=-2))  # (..., groups, methods)
        return np.median(rms[..., i] / rms[..., j], axis=-1)

    interval = _interval(
        median_ratio(values), median_ratio(resample_draws(values, n_boot, seed)), level
    )
    return {k: float(v) for k, v in interval.items()}


if __name__ == "__main__":
    main()
