"""``scaling-lab``: fit your own IsoFLOP runs from a CSV file.

    scaling-lab fit runs.csv                      # VPNLS (default) and Approach 2
    scaling-lab fit runs.csv --method approach3 --budget 1e24

The CSV needs columns ``budget, params, tokens, loss``. Bad input prints one line
naming the problem and exits with status 2.
"""

from __future__ import annotations

import argparse
import sys

import pandas as pd

from .fitting import FitError, fit_approach2, fit_approach3, fit_vpnls


def _read(path: str) -> pd.DataFrame:
    try:
        return pd.read_csv(path)
    except (OSError, pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise ValueError(f"cannot read {path}: {exc}") from None


def fit_command(args: argparse.Namespace) -> str:
    df = _read(args.csv)
    lines = []
    if args.method in ("approach2", "all"):
        fit = fit_approach2(df)
        lines.append(
            f"approach2: a={fit.a:.6g} a0={fit.a0:.6g} b={fit.b:.6g} b0={fit.b0:.6g} "
            f"N*({args.budget:.3g})={fit.N_opt(args.budget):.4g} "
            f"D*({args.budget:.3g})={fit.D_opt(args.budget):.4g}"
        )
    surface_fits = {"vpnls": lambda: fit_vpnls(df), "approach3": lambda: fit_approach3(df)}
    for name, run in surface_fits.items():
        if args.method in (name, "all"):
            fit = run()
            s = fit.surface
            lines.append(
                f"{name}: E={s.E:.6g} A={s.A:.6g} B={s.B:.6g} alpha={s.alpha:.6g} "
                f"beta={s.beta:.6g} status={fit.status.value} "
                f"N*({args.budget:.3g})={fit.N_opt(args.budget):.4g} "
                f"D*({args.budget:.3g})={fit.D_opt(args.budget):.4g}"
            )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="scaling-lab", description="Fit scaling laws.")
    sub = parser.add_subparsers(dest="command", required=True)
    fit = sub.add_parser("fit", help="fit a CSV of runs (budget, params, tokens, loss)")
    fit.add_argument("csv")
    fit.add_argument("--method", choices=["vpnls", "approach2", "approach3", "all"], default="all")
    fit.add_argument("--budget", type=float, default=1e24, help="budget to extrapolate to")
    args = parser.parse_args(argv)
    try:
        print(fit_command(args))
    except (ValueError, FitError) as exc:
        print(f"scaling-lab: error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
