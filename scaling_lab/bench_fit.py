"""Benchmark ``scaling-lab fit``: ``python -m scaling_lab.bench_fit``.

Simulates 1000 noisy runs (ten budgets of 100 runs on the Chinchilla surface), runs
``scaling-lab fit`` on them with B = 1000 bootstrap draws (reading the CSV, the fit,
the warm-started batched refits, the design check and the report, with the progress
bar on stderr), then refits the same draws from scratch with the full 32×32 grid
search of :func:`scaling_lab.fit_vpnls` in the same process, and prints both times
and their ratio.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

from .bootstrap import resample_indices
from .cli import main as cli_main
from .fitting import FitError, fit_vpnls
from .sampling import sample_isoflops
from .surfaces import SURFACES


def simulated_runs(n_runs: int = 1000, n_budgets: int = 10, noise: float = 0.01, seed: int = 0):
    """``n_runs`` noisy runs on ``n_budgets`` budgets from 1e17 to 1e21 (±8× grids)."""
    budgets = np.geomspace(1e17, 1e21, n_budgets)
    return sample_isoflops(
        SURFACES["chinchilla"],
        budgets=budgets,
        n_points=n_runs // n_budgets,
        noise=noise,
        seed=seed,
    )


def scratch_refits(runs: pd.DataFrame, n_boot: int, seed: int = 0) -> float:
    """Seconds to refit ``n_boot`` within-budget case resamples with the full grid search."""
    rows = resample_indices(n_boot, runs["budget"].to_numpy(), seed)
    start = time.perf_counter()
    for idx in rows:
        with contextlib.suppress(FitError, ValueError):
            fit_vpnls(runs.iloc[idx].reset_index(drop=True))
    return time.perf_counter() - start


def run(n_runs: int = 1000, n_boot: int = 1000, baseline_draws: int | None = None) -> dict:
    """Time the command and the from-scratch baseline; returns the numbers it prints."""
    runs = simulated_runs(n_runs)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "runs.csv"
        runs.to_csv(path, index=False)
        start = time.perf_counter()
        with contextlib.redirect_stdout(io.StringIO()):
            status = cli_main(["fit", str(path), "--bootstrap", str(n_boot), "--seed", "0"])
        command = time.perf_counter() - start
    if status != 0:
        raise RuntimeError(f"scaling-lab fit exited with status {status}")
    measured = n_boot if baseline_draws is None else min(baseline_draws, n_boot)
    baseline = scratch_refits(runs, measured) * n_boot / measured
    return {
        "runs": len(runs),
        "draws": n_boot,
        "command_s": command,
        "baseline_s": baseline,
        "baseline_draws_measured": measured,
        "ratio": baseline / command,
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=1000)
    parser.add_argument("--bootstrap", type=int, default=1000)
    parser.add_argument(
        "--baseline-draws",
        type=int,
        default=None,
        help="time the from-scratch baseline on this many draws and scale (default: all)",
    )
    args = parser.parse_args(argv)
    r = run(args.runs, args.bootstrap, args.baseline_draws)
    print(
        f"scaling-lab fit, {r['runs']} runs, B = {r['draws']}: {r['command_s']:.2f} s end to end\n"
        f"refitting every draw from scratch with the 32x32 grid: {r['baseline_s']:.2f} s "
        f"(measured on {r['baseline_draws_measured']} draws)\n"
        f"speed-up: {r['ratio']:.1f}x"
    )


if __name__ == "__main__":
    main()
