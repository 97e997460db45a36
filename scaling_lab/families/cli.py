"""``scaling-lab families``: regenerate the model-family analysis, or validate a results folder.

    scaling-lab families --out DIR [--n-boot 1000] [--seed 0]
    scaling-lab families validate DIR

``python -m scaling_lab.families ...`` does the same. ``validate`` prints one line per
broken invariant and exits with status 1; bad arguments exit with status 2.
"""

from __future__ import annotations

import argparse
import sys
import time


def _run(args: argparse.Namespace) -> int:
    if args.target is not None:
        if args.target != "validate" or args.dir is None:
            print("scaling-lab families: error: usage: families validate DIR", file=sys.stderr)
            return 2
        from .validate import validate

        problems = validate(args.dir)
        for p in problems:
            print(p)
        if problems:
            print(f"{len(problems)} problem(s) in {args.dir}", file=sys.stderr)
            return 1
        print(f"{args.dir}: all invariants hold")
        return 0
    if args.out is None:
        print("scaling-lab families: error: --out DIR is required", file=sys.stderr)
        return 2
    if args.n_boot < 1:
        print(
            f"scaling-lab families: error: --n-boot must be >= 1, got {args.n_boot}",
            file=sys.stderr,
        )
        return 2
    from .analysis import run_analysis
    from .report import write_report

    start = time.perf_counter()

    def say(msg: str) -> None:
        print(f"{msg}  ({time.perf_counter() - start:.1f} s)", flush=True)

    try:
        an = run_analysis(n_boot=args.n_boot, seed=args.seed, progress=say)
        say(f"[6/6] report: results.json, report.md and figures in {args.out}")
        write_report(an, args.out, progress=say)
    except (ValueError, OSError) as exc:
        print(f"scaling-lab families: error: {exc}", file=sys.stderr)
        return 2
    say("done")
    return 0


def _add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "target", nargs="?", choices=["validate"], help="validate DIR: check a results folder"
    )
    p.add_argument("dir", nargs="?", help="results folder to validate")
    p.add_argument("--out", help="folder for results.json, report.md and figures/")
    p.add_argument("--n-boot", type=int, default=1000, help="bootstrap draws per interval")
    p.add_argument("--seed", type=int, default=0, help="seed of every random draw")
    p.set_defaults(handler=_run)


def register(subparsers) -> argparse.ArgumentParser:
    """Add the ``families`` subcommand to an argparse subparsers object."""
    p = subparsers.add_parser(
        "families",
        help="scaling laws on Cerebras-GPT and Pythia: run (--out DIR) or validate DIR",
        description=__doc__.split("\n\n")[0],
    )
    _add_arguments(p)
    return p


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``python -m scaling_lab.families``."""
    parser = argparse.ArgumentParser(
        prog="scaling-lab families", description=__doc__.split("\n\n")[0]
    )
    _add_arguments(parser)
    args = parser.parse_args(argv)
    return args.handler(args)


if __name__ == "__main__":
    sys.exit(main())
