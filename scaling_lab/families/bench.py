"""Time the model-family analysis: ``python -m scaling_lab.families.bench``.

Reports the wall-clock seconds of each phase of :func:`run_analysis` and of writing the
report (figures included), the median milliseconds of one ``fit_loss_law`` with 1000
bootstrap draws per form, and, as a baseline measured in the same run, the cost per draw
of refitting the floor law draw by draw with ``scipy.optimize.curve_fit`` (the usual
loop-over-draws bootstrap).
"""

from __future__ import annotations

import argparse
import tempfile
import time
import warnings

import numpy as np
from scipy import optimize

from . import data
from .analysis import run_analysis
from .loss_laws import N_REF, fit_loss_law
from .report import write_report


def _median_ms(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return 1e3 * float(np.median(times))


def loop_bootstrap_ms_per_draw(n_draws: int = 50, seed: int = 0) -> float:
    """Milliseconds per draw of a per-draw ``curve_fit`` refit of the floor law (baseline)."""
    cb = data.cerebras()
    x, y = cb["N_total"].to_numpy() / N_REF, cb["loss"].to_numpy()

    def law(x, l_inf, a, alpha):
        return l_inf + a * x ** (-alpha)

    rng = np.random.default_rng(seed)
    start = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for _ in range(n_draws):
            y_star = y + 0.02 * rng.standard_normal(y.size)
            for p0 in ((0.0, 2.0, 0.1), (1.0, 1.0, 0.3), (1.5, 0.5, 0.5)):
                try:
                    optimize.curve_fit(law, x, y_star, p0=p0, maxfev=5000,
                                       bounds=([0, 0, 0.005], [np.inf, np.inf, 2]))  # fmt: skip
                except RuntimeError:
                    pass
    return 1e3 * (time.perf_counter() - start) / n_draws


def benchmark(n_boot: int = 1000, repeats: int = 5) -> dict[str, float]:
    """Seconds per phase and milliseconds per fit (see the module docstring)."""
    start = time.perf_counter()
    an = run_analysis(n_boot=n_boot, seed=0)
    analysis_s = time.perf_counter() - start
    with tempfile.TemporaryDirectory() as tmp:
        t = time.perf_counter()
        write_report(an, tmp)
        report_s = time.perf_counter() - t
    cb = data.cerebras()
    out = {f"phase {k} (s)": v for k, v in an.timings.items()}
    out["analysis total (s)"] = analysis_s
    out["report and figures (s)"] = report_s
    out["analysis + report (s)"] = analysis_s + report_s
    for form in ("power", "floor"):
        out[f"fit_loss_law {form}, {n_boot} draws (ms)"] = _median_ms(
            lambda form=form: fit_loss_law(cb["N_total"], cb["loss"], form, n_boot), repeats
        )
    per_draw = loop_bootstrap_ms_per_draw()
    out["curve_fit loop baseline, per draw (ms)"] = per_draw
    out[f"curve_fit loop baseline, {n_boot} draws (ms, extrapolated)"] = per_draw * n_boot
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m scaling_lab.families.bench")
    parser.add_argument("--n-boot", type=int, default=1000)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args(argv)
    for name, value in benchmark(args.n_boot, args.repeats).items():
        print(f"{name:55s} {value:10.3f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
