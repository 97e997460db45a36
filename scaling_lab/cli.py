"""``scaling-lab``: fit your own IsoFLOP runs, plan the next budget, simulate runs.

    scaling-lab fit runs.csv                          # VPNLS, 90% bootstrap intervals
    scaling-lab fit runs.csv --method approach2 --target-compute 1e24 3e24 --json out.json
    scaling-lab backtest runs.csv --method vpnls approach2 --origin rolling
    scaling-lab plan runs.csv --next-budget 1e22 --points 9 -o next.csv
    scaling-lab size runs.csv --target-compute 1e24 --inference-tokens 0 1e12 1e13
    scaling-lab simulate --surface chinchilla --noise 0.01 --seed 1 -o runs.csv

A runs file has columns ``params, tokens, loss`` and optionally ``budget``
(:mod:`scaling_lab.runs_io`). Every command is a thin layer over a public function
(:func:`scaling_lab.assess.assess`, :func:`scaling_lab.planning.plan_next`,
:func:`scaling_lab.sizing.size_model`, :func:`scaling_lab.sample_isoflops`). Bad input
prints one line on stderr naming the file, the row and the problem and exits with
status 2; soft problems print one warning line each and exit 0.
"""

from __future__ import annotations

import argparse
import json
import sys
import warnings
from collections.abc import Callable

import numpy as np

from .assess import DEFAULT_LEVEL, DEFAULT_SCHEME, DESIGN_THRESHOLD, METHODS, SCHEMES, assess
from .backtest import METHODS as BACKTEST_METHODS
from .backtest import ORIGINS
from .datasets import DatasetError
from .families.cli import register as register_families
from .fitting import FitError
from .fitting.vpnls import HUBER_DELTA, LOSSES
from .runs_io import read_runs
from .sampling import DEFAULT_BUDGETS, sample_isoflops
from .sizing import DEFAULT_PRICING
from .surfaces import SURFACES, LossSurface

PROG = "scaling-lab"


def _number(text: str, ok: Callable[[float], bool], words: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not (np.isfinite(value) and ok(value)):
        raise argparse.ArgumentTypeError(f"must be {words}, got {text!r}")
    return value


def _positive(text: str) -> float:
    return _number(text, lambda v: v > 0, "a positive number")


def _nonnegative(text: str) -> float:
    return _number(text, lambda v: v >= 0, "a number >= 0")


def _finite(text: str) -> float:
    return _number(text, lambda v: True, "a finite number")


def _surface(text: str) -> LossSurface:
    """A preset name or five numbers ``E,A,B,alpha,beta``."""
    if text.lower() in SURFACES:
        return SURFACES[text.lower()]
    parts = text.split(",")
    if len(parts) != 5:
        raise argparse.ArgumentTypeError(
            f"expected a preset ({', '.join(SURFACES)}) or five numbers E,A,B,alpha,beta; "
            f"got {text!r}"
        )
    try:
        return LossSurface(*(float(p) for p in parts))
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


# --- commands -----------------------------------------------------------------------


def fit_command(args: argparse.Namespace) -> int:
    """Fit, bootstrap, check the design, print the report; write JSON and a figure on request."""
    runs = read_runs(args.runs)
    result = assess(
        runs,
        method=args.method,
        n_boot=args.bootstrap,
        seed=args.seed,
        targets=args.target_compute,
        scheme=args.scheme,
        level=args.level,
        design_threshold=args.design_threshold,
        progress=not args.no_progress,
        loss=args.loss,
        delta=args.delta,
    )
    return _report(result, args, "fit_report_figure")


def backtest_command(args: argparse.Namespace) -> int:
    """Refit on the smaller budgets, predict the larger ones, print errors and coverage."""
    from .backtest import backtest

    runs = read_runs(args.runs)
    result = backtest(
        runs,
        methods=args.method or ("approach2", "vpnls"),
        origin=args.origin,
        min_budgets=args.min_budgets,
        level=args.level,
        n_boot=args.bootstrap,
        seed=args.seed,
        scheme=args.scheme,
    )
    return _report(result, args, "backtest_figure")


def plan_command(args: argparse.Namespace) -> int:
    """Propose the next IsoFLOP curve and say why."""
    from .planning import plan_next

    runs = read_runs(args.runs)
    plan = plan_next(
        runs, args.next_budget, n_points=args.points, n_boot=args.bootstrap, seed=args.seed
    )
    print(plan.report())
    for line in plan.assessment.warnings:
        _warn(line)
    _write(args.output, lambda f: plan.to_frame().to_csv(f, index=False))
    print(f"wrote {len(plan.runs)} proposed runs to {args.output}")
    return 0


def size_command(args: argparse.Namespace) -> int:
    """Size the model with the least training + inference compute for a loss target."""
    from .costs import GpuPricing
    from .sizing import size_model

    runs = read_runs(args.runs)
    sizing = size_model(
        runs,
        args.inference_tokens,
        target_loss=args.target_loss,
        target_compute=args.target_compute,
        n_boot=args.bootstrap,
        seed=args.seed,
        level=args.level,
        pricing=GpuPricing(mfu=args.mfu, usd_per_gpu_hour=args.usd_per_gpu_hour),
        progress=not args.no_progress,
    )
    print(sizing.report())
    for line in sizing.assessment.warnings:
        _warn(line)
    if sizing.n_infeasible:
        _warn(
            f"{sizing.n_infeasible} of {sizing.assessment.n_boot} bootstrap draws cannot reach "
            "the target loss (it is not above their E); they count as an unbounded model, "
            "so upper limits may be inf"
        )
    if args.csv:
        _write(args.csv, lambda f: sizing.to_frame().to_csv(f, index=False))
        print(f"wrote {args.csv}")
    return 0


def simulate_command(args: argparse.Namespace) -> int:
    """Write synthetic IsoFLOP runs in the runs-file format."""
    runs = sample_isoflops(
        args.surface,
        budgets=args.budgets,
        n_points=args.points,
        grid=args.grid,
        center_scale=args.offset,
        drift=args.drift,
        noise=args.noise,
        seed=args.seed,
    )
    if args.output == "-":
        runs.to_csv(sys.stdout, index=False)
    else:
        _write(args.output, lambda f: runs.to_csv(f, index=False))
        print(f"wrote {len(runs)} runs on {runs['budget'].nunique()} budgets to {args.output}")
    return 0


def _report(result, args: argparse.Namespace, figure: str) -> int:
    """Print ``result``'s report and warnings; write ``--json`` and draw ``--plot`` on request."""
    print(result.report())
    for line in result.warnings:
        _warn(line)
    if args.json:
        _write(args.json, lambda f: json.dump(result.to_dict(), f, indent=2))
        print(f"wrote {args.json}")
    if args.plot:
        from . import drawing  # matplotlib loads only when a figure is drawn

        drawing.use_style()
        fig = getattr(drawing, figure)(result)
        try:
            fig.savefig(args.plot, bbox_inches="tight")
        except OSError as exc:
            raise OSError(f"{args.plot}: cannot write the figure ({exc.strerror or exc})") from None
        print(f"wrote {args.plot}")
    return 0


def _write(path: str, writer: Callable) -> None:
    try:
        with open(path, "w", encoding="utf-8", newline="") as f:
            writer(f)
    except OSError as exc:
        raise OSError(f"{path}: cannot write the file ({exc.strerror or exc})") from None


def _warn(line: str) -> None:
    print(f"{PROG}: warning: {' '.join(str(line).split())}", file=sys.stderr)


# --- parser -------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=PROG,
        description="Fit scaling laws to your own IsoFLOP runs, plan the next budget, "
        "simulate runs.",
    )
    sub = parser.add_subparsers(dest="command", required=True)

    fit = sub.add_parser(
        "fit",
        help="fit a runs CSV (params, tokens, loss[, budget]) with bootstrap intervals",
        description="Fit the runs, bootstrap the fit, check the IsoFLOP design and predict "
        "the compute-optimal allocation at each target compute.",
    )
    fit.add_argument("runs", help="CSV with columns params, tokens, loss and optionally budget")
    fit.add_argument("--method", choices=METHODS, default="vpnls")
    fit.add_argument(
        "--target-compute",
        type=_positive,
        nargs="+",
        default=[1e24],
        metavar="C",
        help="budgets (FLOPs) to predict N*, D*, D*/N* and the loss at (default 1e24)",
    )
    fit.add_argument("--bootstrap", type=int, default=1000, metavar="B", help="draws (0: none)")
    fit.add_argument("--seed", type=int, default=0, help="seed of the bootstrap draws")
    fit.add_argument("--scheme", choices=SCHEMES, default=DEFAULT_SCHEME)
    fit.add_argument("--level", type=float, default=DEFAULT_LEVEL, help="interval level")
    fit.add_argument(
        "--design-threshold",
        type=_positive,
        default=DESIGN_THRESHOLD,
        help="warn when the design biases Approach 2's D* by more than this fraction",
    )
    fit.add_argument(
        "--loss",
        choices=LOSSES,
        default="squared",
        help="VPNLS objective: least squares, or Huber's loss (robust to outlying runs)",
    )
    fit.add_argument(
        "--delta",
        type=_positive,
        default=HUBER_DELTA,
        help=f"Huber threshold in loss units (default {HUBER_DELTA:g})",
    )
    fit.add_argument("--json", metavar="OUT.json", help="write the report as JSON")
    fit.add_argument(
        "--plot",
        metavar="OUT.png|svg|pdf",
        help="draw the runs, fit and intervals (format from the suffix)",
    )
    fit.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    fit.set_defaults(handler=fit_command)

    bt = sub.add_parser(
        "backtest",
        help="refit on the smaller budgets and predict the larger ones",
        description="Fit each method on the budgets up to an origin, predict the held-out "
        "runs and IsoFLOP optima, and print the errors and interval coverage.",
    )
    bt.add_argument("runs", help="CSV with columns params, tokens, loss and optionally budget")
    bt.add_argument(
        "--method",
        choices=BACKTEST_METHODS,
        nargs="+",
        help="methods to backtest (default: approach2 vpnls)",
    )
    bt.add_argument("--origin", choices=ORIGINS, default="last")
    bt.add_argument("--min-budgets", type=int, default=3, metavar="K", help="rolling: fit k >= K")
    bt.add_argument("--bootstrap", type=int, default=100, metavar="B", help="draws (0: none)")
    bt.add_argument("--seed", type=int, default=0, help="seed of the bootstrap draws")
    bt.add_argument("--scheme", choices=SCHEMES, default=DEFAULT_SCHEME)
    bt.add_argument("--level", type=float, default=DEFAULT_LEVEL, help="interval level")
    bt.add_argument("--json", metavar="OUT.json", help="write the three tables as JSON")
    bt.add_argument(
        "--plot",
        metavar="OUT.png|svg|pdf",
        help="draw predicted against observed (format from the suffix)",
    )
    bt.set_defaults(handler=backtest_command)

    plan = sub.add_parser(
        "plan",
        help="propose the next IsoFLOP curve from a fit of the runs so far",
        description="Centre the next curve on the fitted optimum, as narrow as the measured "
        "noise allows, and predict what it adds.",
    )
    plan.add_argument("runs", help="CSV with columns params, tokens, loss and optionally budget")
    plan.add_argument("--next-budget", type=_positive, required=True, metavar="C")
    plan.add_argument("--points", type=int, default=9, metavar="K", help="runs on the curve")
    plan.add_argument("-o", "--output", required=True, metavar="NEXT.csv")
    plan.add_argument("--bootstrap", type=int, default=200, metavar="B")
    plan.add_argument("--seed", type=int, default=0)
    plan.set_defaults(handler=plan_command)

    size = sub.add_parser(
        "size",
        help="size the model with the least training + inference compute for a loss target",
        description="Fit the runs (VPNLS, bootstrap) and find the N, D that reach the target "
        "loss with the least 6ND + 2NT FLOPs for each inference-token count T, with FLOPs, "
        "dollars and bootstrap intervals.",
    )
    size.add_argument("runs", help="CSV with columns params, tokens, loss and optionally budget")
    target = size.add_mutually_exclusive_group(required=True)
    target.add_argument("--target-loss", type=_finite, metavar="L", help="the loss to reach")
    target.add_argument(
        "--target-compute",
        type=_positive,
        metavar="C",
        help="reach the loss the compute-optimal model reaches at C FLOPs",
    )
    size.add_argument(
        "--inference-tokens",
        type=_nonnegative,
        nargs="+",
        required=True,
        metavar="T",
        help="tokens the model will process at inference (one or more counts)",
    )
    size.add_argument("--bootstrap", type=int, default=1000, metavar="B", help="draws (0: none)")
    size.add_argument("--seed", type=int, default=0, help="seed of the bootstrap draws")
    size.add_argument("--level", type=float, default=DEFAULT_LEVEL, help="interval level")
    size.add_argument(
        "--mfu",
        type=_positive,
        default=DEFAULT_PRICING.mfu,
        help=f"model FLOP utilisation (default {DEFAULT_PRICING.mfu:g})",
    )
    size.add_argument(
        "--usd-per-gpu-hour",
        type=_positive,
        default=DEFAULT_PRICING.usd_per_gpu_hour,
        metavar="USD",
        help=f"H100 SXM rental price (default {DEFAULT_PRICING.usd_per_gpu_hour:.2f})",
    )
    size.add_argument("--csv", metavar="OUT.csv", help="write the table of intervals")
    size.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    size.set_defaults(handler=size_command)

    sim = sub.add_parser(
        "simulate",
        help="write synthetic IsoFLOP runs (budget, params, tokens, loss)",
        description="Sample IsoFLOP runs on a known loss surface, for demos and tests.",
    )
    sim.add_argument(
        "--surface",
        type=_surface,
        default=SURFACES["chinchilla"],
        metavar="NAME|E,A,B,alpha,beta",
        help=f"a preset ({', '.join(SURFACES)}) or five numbers",
    )
    sim.add_argument("--budgets", type=_positive, nargs="+", default=list(DEFAULT_BUDGETS))
    sim.add_argument("--points", type=int, default=15, help="runs per budget")
    sim.add_argument("--grid", type=float, default=8.0, metavar="K", help="±K× sweep")
    sim.add_argument("--drift", type=float, default=1.0, metavar="K", help="drift to K×")
    sim.add_argument("--offset", type=float, default=1.0, metavar="K", help="offset by K×")
    sim.add_argument("--noise", type=float, default=0.0, metavar="S", help="loss noise sd")
    sim.add_argument("--seed", type=int, default=0)
    sim.add_argument("-o", "--output", required=True, metavar="RUNS.csv", help="'-' for stdout")
    sim.set_defaults(handler=simulate_command)

    register_families(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Console entry point; returns the exit status (0 ok, 2 bad input, 1 internal error)."""
    args = build_parser().parse_args(argv)
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            status = args.handler(args)
        for message in dict.fromkeys(str(w.message) for w in caught):
            _warn(message)
        return status
    except (ValueError, FitError, OSError, DatasetError) as exc:
        print(f"{PROG}: error: {' '.join(str(exc).split())}", file=sys.stderr)
        return 2
    except Exception as exc:  # never a traceback for the user: one line, then exit 1
        print(
            f"{PROG}: internal error: {type(exc).__name__}: {' '.join(str(exc).split())} "
            "(please report it with the input file)",
            file=sys.stderr,
        )
        return 1


if __name__ == "__main__":
    sys.exit(main())
