"""Start-up cost of the ``scaling-lab`` command, against the floor of numpy and pandas.

    python -m scaling_lab.bench_startup [--repeat 9] [--baseline GIT_REF]

Times, in fresh processes: ``import numpy, pandas`` (the floor no command can beat),
``import scaling_lab``, ``scaling-lab --help`` and ``scaling-lab fit`` on a small
simulated file (75 runs, no bootstrap). With ``--baseline`` (run inside a git checkout)
the same commands run on the package as it was at ``GIT_REF``, extracted to a temporary
folder, in the same session, so the ratios compare like with like. Every process runs in
that temporary folder, so the working directory never shadows either package. Reports
medians.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def _median_seconds(argv: list[str], env: dict[str, str], repeat: int, cwd: str) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        done = subprocess.run(argv, env=env, cwd=cwd, capture_output=True, text=True)
        times.append(time.perf_counter() - start)
        if done.returncode != 0:
            raise RuntimeError(f"{' '.join(argv)} failed: {done.stderr.strip()[-300:]}")
    return statistics.median(times)


def _commands(runs_csv: str) -> dict[str, list[str]]:
    py = sys.executable
    cli = [py, "-m", "scaling_lab.cli"]
    return {
        "import numpy, pandas": [py, "-c", "import numpy, pandas"],
        "import scaling_lab": [py, "-c", "import scaling_lab"],
        "scaling-lab --help": [*cli, "--help"],
        "scaling-lab fit (75 runs)": [*cli, "fit", runs_csv, "--bootstrap", "0", "--no-progress"],
    }


def _extract(ref: str, into: Path) -> Path:
    """The package at git ``ref``, written under ``into`` (``git archive``)."""
    root = subprocess.run(
        ["git", "rev-parse", "--show-toplevel"], capture_output=True, text=True, check=True
    ).stdout.strip()
    archive = subprocess.run(
        ["git", "-C", root, "archive", ref, "scaling_lab", "data"],
        capture_output=True,
        check=True,
    ).stdout
    into.mkdir(parents=True, exist_ok=True)
    subprocess.run(["tar", "-x", "-C", str(into)], input=archive, check=True)
    pkg_data = into / "scaling_lab" / "data"
    if not pkg_data.exists():  # the source tree ships data/ as the package scaling_lab.data
        shutil.copytree(into / "data", pkg_data)
    return into


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=9)
    parser.add_argument("--baseline", help="git ref of the package to compare against")
    args = parser.parse_args(argv)
    from scaling_lab import SURFACES, sample_isoflops

    with tempfile.TemporaryDirectory() as tmp:
        runs_csv = str(Path(tmp) / "runs.csv")
        sample_isoflops(SURFACES["chinchilla"], noise=0.005, seed=0).to_csv(runs_csv, index=False)
        env = {**os.environ, "OPENBLAS_NUM_THREADS": "1"}
        trees = {"current": env}
        if args.baseline:
            base = _extract(args.baseline, Path(tmp) / "baseline")
            trees[f"baseline {args.baseline}"] = {**env, "PYTHONPATH": str(base)}
        table: dict[str, dict[str, float]] = {}
        for tree, tree_env in trees.items():
            table[tree] = {
                name: _median_seconds(cmd, tree_env, args.repeat, cwd=tmp)
                for name, cmd in _commands(runs_csv).items()
            }
    floor = table["current"]["import numpy, pandas"]
    print(f"median of {args.repeat} fresh processes; floor (numpy + pandas) {floor:.3f} s")
    for tree, row in table.items():
        print(f"\n{tree}:")
        for name, seconds in row.items():
            print(f"  {name:28s} {seconds:6.3f} s   {seconds - floor:+6.3f} s over the floor")
    if args.baseline:
        base = table[f"baseline {args.baseline}"]
        print("\nbaseline / current:")
        for name in list(table["current"])[1:]:
            print(f"  {name:28s} {base[name] / table['current'][name]:5.2f}x")


if __name__ == "__main__":
    main()
