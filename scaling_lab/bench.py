"""Benchmark the fitters on the standard setup: ``python -m scaling_lab.bench``.

Prints the median milliseconds per fit of each method on five budgets, 15 runs per
budget and a ±8× grid, for each preset surface, noise-free and with Gaussian loss
noise (sd 0.01 by default), together with a straightforward VPNLS
baseline (a Python loop of ``scipy.optimize.nnls`` over the 32×32 exponent grid, then
Nelder-Mead with NNLS inside) measured in the same run, and the speed-up against it.
``--robust`` times the Huber fit against the squared-loss fit on the published sets
(:func:`robust_run`).
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable

import numpy as np
import pandas as pd
from scipy.optimize import minimize, nnls

from .fitting import fit_approach2, fit_approach3, fit_vpnls
from .sampling import sample_isoflops
from .surfaces import SURFACES


def baseline_vpnls(df: pd.DataFrame, grid_size: int = 32) -> tuple[float, float]:
    """The straightforward VPNLS: NNLS at each grid point in a loop, then Nelder-Mead."""
    log_n, log_d = np.log(df["params"].to_numpy()), np.log(df["tokens"].to_numpy())
    loss = df["loss"].to_numpy()

    def rss(theta):
        X = np.column_stack(
            [np.ones_like(loss), np.exp(-theta[0] * log_n), np.exp(-theta[1] * log_d)]
        )
        return nnls(X, loss)[1] ** 2

    grid = np.linspace(0.05, 0.95, grid_size)
    best = min(((a, b) for a in grid for b in grid), key=rss)
    res = minimize(
        rss, best, method="Nelder-Mead", options={"xatol": 1e-10, "fatol": 1e-15, "maxiter": 10000}
    )
    return float(res.x[0]), float(res.x[1])


def median_ms(fn: Callable[[], object], repeats: int) -> float:
    fn()  # warm-up
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return 1e3 * float(np.median(times))


def run(repeats: int = 30, noise: float = 0.0, seed: int = 0) -> pd.DataFrame:
    """Median ms per fit, one row per method, one column per preset surface."""
    methods: dict[str, tuple[Callable, int]] = {
        "approach2": (fit_approach2, repeats),
        "vpnls (gauss-newton, default)": (fit_vpnls, repeats),
        "vpnls (l-bfgs-b)": (lambda d: fit_vpnls(d, method="l-bfgs-b"), repeats),
        "vpnls (nelder-mead)": (lambda d: fit_vpnls(d, method="nelder-mead"), repeats),
        "vpnls (grid 32x32 only)": (lambda d: fit_vpnls(d, method="grid"), repeats),
        "baseline vpnls (nnls loop + nelder-mead)": (baseline_vpnls, max(3, repeats // 5)),
        "approach3 (raw least squares, 4^5 grid)": (fit_approach3, max(3, repeats // 5)),
        "approach3 (normalised least squares, 4^5 grid)": (
            lambda d: fit_approach3(d, variant="normalised"),
            max(3, repeats // 5),
        ),
        "approach3 (chinchilla form)": (
            lambda d: fit_approach3(d, variant="chinchilla"),
            max(3, repeats // 10),
        ),
        "approach3 (naive, one start)": (
            lambda d: fit_approach3(d, variant="naive", seed=seed),
            max(3, repeats // 5),
        ),
    }
    table = {}
    for name, surface in SURFACES.items():
        df = sample_isoflops(surface, grid=8.0, noise=noise, seed=seed)
        table[name] = {m: median_ms(lambda f=f, df=df: f(df), r) for m, (f, r) in methods.items()}
    out = pd.DataFrame(table)
    out["median"] = out.median(axis=1)
    return out


#: Published sets the robust benchmark fits (Gadre et al.: the RefinedWeb models only).
PUBLISHED_SETS: tuple[str, ...] = (
    "chinchilla_epoch",
    "llama3",
    "gemstones",
    "olmo_ladder",
    "gadre2024",
)


def published_runs(name: str) -> pd.DataFrame:
    """The runs of published set ``name`` that the robust benchmark fits."""
    from . import datasets

    df = datasets.load(name)
    return df[df["train_set"] == "rw_original"] if name == "gadre2024" else df


def robust_run(repeats: int = 10, sets: tuple[str, ...] = PUBLISHED_SETS) -> pd.DataFrame:
    """Median ms per VPNLS fit, squared loss against Huber (delta 1e-3), same run, per set.

    Columns: ``runs``, ``squared_ms``, ``huber_ms`` and ``ratio`` (Huber over squared);
    the two are timed alternately on the same table so that load affects both alike.
    """
    rows = {}
    for name in sets:
        df = published_runs(name)
        fits = {
            "squared": lambda d=df: fit_vpnls(d),
            "huber": lambda d=df: fit_vpnls(d, loss="huber"),
        }
        times: dict[str, list[float]] = {k: [] for k in fits}
        for fn in fits.values():
            fn()  # warm-up
        for _ in range(repeats):
            for k, fn in fits.items():
                start = time.perf_counter()
                fn()
                times[k].append(time.perf_counter() - start)
        sq, hu = (1e3 * float(np.median(times[k])) for k in ("squared", "huber"))
        rows[name] = {"runs": len(df), "squared_ms": sq, "huber_ms": hu, "ratio": hu / sq}
    return pd.DataFrame(rows).T.astype({"runs": int})


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=30)
    parser.add_argument(
        "--noise", type=float, default=0.01, help="std of Gaussian loss noise for the second table"
    )
    parser.add_argument(
        "--robust",
        action="store_true",
        help="only time Huber against squared-loss VPNLS on the published sets",
    )
    args = parser.parse_args(argv)
    if args.robust:
        table = robust_run(max(3, args.repeats // 3))
        print("median ms per VPNLS fit on the published sets: squared loss vs Huber (delta 1e-3)")
        print(table.round(2).to_string())
        print(f"Huber / squared: median {table['ratio'].median():.2f}x\n")
        return
    for noise in (0.0, args.noise):
        table = run(args.repeats, noise=noise)
        label = "noise-free" if noise == 0 else f"Gaussian loss noise, sd {noise:g} (seed 0)"
        print(f"median ms per fit, standard setup (5 budgets x 15 runs, ±8x), {label}")
        print(table.round(3).to_string())
        fast = table.loc["vpnls (gauss-newton, default)", "median"]
        base = table.loc["baseline vpnls (nnls loop + nelder-mead)", "median"]
        a2 = table.loc["approach2", "median"]
        print(
            f"default VPNLS: {fast:.2f} ms per fit; baseline {base:.2f} ms -> "
            f"{base / fast:.1f}x faster; {fast / a2:.1f}x the cost of Approach 2\n"
        )


if __name__ == "__main__":
    main()
