"""Backtest scaling-law fits: fit on the smaller budgets, predict the larger ones.

:func:`backtest` refits each method on the runs up to an *origin* budget and compares
its predictions with the held-out runs. ``origin="last"`` fits every budget but the
largest and predicts the largest; ``"rolling"`` fits the ``k`` smallest budgets and
predicts every larger one, for each ``k >= min_budgets``. Budgets are the runs' IsoFLOP
budgets, or for ladders (one run per size) the stated FLOPs or ``6 N D`` grouped by
:func:`scaling_lab.runs_io.prepare_runs`: rolling origins are then compute thresholds
every :data:`HORIZON_STEP` decades (:func:`origins`).

Intervals come from :func:`scaling_lab.assess.assess` (its default scheme, or the one
passed): a held-out run's loss interval is the percentile interval of the bootstrap
surfaces' losses at the run plus Gaussian noise at the fit's residual standard
deviation (a prediction interval, not a confidence interval for the mean). The
Approach 3 variants "chinchilla" and "normalised" are not in ``assess``: their point
predictions come from :func:`scaling_lab.fit_approach3` with that variant and their
intervals from the spread of ``assess``'s Approach 3 draws around its own estimate.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from .assess import DEFAULT_LEVEL, DEFAULT_SCHEME, assess, key
from .fitting import FitError, fit_approach3
from .fitting.data import check_option
from .landings import rate
from .runs_io import MIN_RUNS_PER_BUDGET, Runs, isoflop_gap, prepare_runs

#: Method name -> (``assess`` method, ``assess`` loss, Approach 3 variant or ``None``).
METHODS: dict[str, tuple[str, str, str | None]] = {
    "approach2": ("approach2", "squared", None),
    "vpnls": ("vpnls", "squared", None),
    "vpnls_huber": ("vpnls", "huber", None),
    "approach3_chinchilla": ("approach3", "squared", "chinchilla"),
    "approach3_normalised": ("approach3", "squared", "normalised"),
}
ORIGINS: tuple[str, ...] = ("rolling", "last")
DEFAULT_METHODS: tuple[str, ...] = tuple(METHODS)
DEFAULT_N_BOOT = 100
#: Horizons (decades of compute past the largest fitted budget) are rounded to this step.
HORIZON_STEP = 0.5
ArrayLikeFloat = np.ndarray | Sequence[float] | pd.Series | float
PREDICTION_COLUMNS = ("method", "origin", "budget", "params", "tokens", "loss")
PREDICTION_COLUMNS += ("predicted", "lower", "upper")


@dataclass(frozen=True, repr=False)
class Backtest:
    """Predictions of held-out runs and budgets by fits on the smaller budgets.

    ``predictions``: one row per method x origin x held-out run (methods that predict a
    loss). ``optima``: one row per method x origin x held-out IsoFLOP budget, observed
    vertex against predicted ``N*, D*``. ``summary``: per method and horizon, errors
    and coverage with Clopper-Pearson intervals.
    """

    predictions: pd.DataFrame
    optima: pd.DataFrame
    summary: pd.DataFrame
    methods: tuple[str, ...]
    origin: str
    level: float
    scheme: str
    n_boot: int
    seed: int
    source: str = "runs"
    warnings: tuple[str, ...] = field(default_factory=tuple)

    def to_frame(self) -> pd.DataFrame:
        """The summary table."""
        return self.summary.copy()

    def to_dict(self) -> dict:
        """Everything as plain Python values (for ``--json``)."""

        def records(df: pd.DataFrame) -> list[dict]:
            return [
                {k: (None if isinstance(v, float) and not np.isfinite(v) else v) for k, v in r}
                for r in (row.items() for row in df.astype(object).to_dict("records"))
            ]

        return {
            "source": self.source,
            "methods": list(self.methods),
            "origin": self.origin,
            "level": self.level,
            "scheme": self.scheme,
            "n_boot": self.n_boot,
            "seed": self.seed,
            "summary": records(self.summary),
            "predictions": records(self.predictions),
            "optima": records(self.optima),
            "warnings": list(self.warnings),
        }

    def by_budget(self) -> pd.DataFrame:
        """Per method x origin x held-out budget: mean observed and predicted loss, the
        share of runs inside their intervals, and observed against predicted ``D*``."""
        keys = ["method", "origin", "budget"]
        p = self.predictions.assign(
            covered=(self.predictions["lower"] <= self.predictions["loss"])
            & (self.predictions["loss"] <= self.predictions["upper"])
        )
        out = p.groupby(keys, sort=False).agg(
            runs=("loss", "size"),
            loss=("loss", "mean"),
            predicted=("predicted", "mean"),
            covered=("covered", "mean"),
        )
        if len(self.optima):
            d = self.optima.set_index(keys)[["D_observed", "D_predicted", "D_covered"]]
            out = out.join(d, how="outer")
        out["runs"] = out["runs"].fillna(0).astype(int)
        return out.reset_index()

    def report(self) -> str:
        """The plain-text summary ``scaling-lab backtest`` prints."""
        fmt = {"float_format": lambda x: f"{x:.4g}", "index": False}
        lines = [
            f"backtest of {self.source}: origin {self.origin!r}, {self.level:.0%} intervals "
            f"({self.scheme} bootstrap, {self.n_boot} draws, seed {self.seed})",
            "",
            "predicted against observed at each held-out budget (loss: means over its runs):",
            self.by_budget().to_string(**fmt),
            "",
            "summary per method and horizon (decades of compute past the fitted budgets):",
            self.summary.to_string(**fmt),
        ]
        return "\n".join(lines)

    def __repr__(self) -> str:
        return (
            f"Backtest(methods={list(self.methods)}, origin={self.origin!r}, "
            f"predictions={len(self.predictions)}, optima={len(self.optima)}, "
            f"level={self.level:g}, warnings={len(self.warnings)})"
        )


def origins(
    budgets: Sequence[float],
    origin: str = "rolling",
    min_budgets: int = 3,
    step: float | None = None,
) -> list[float]:
    """The largest fitted budget of each fit: the last but one, or every k-th smallest.

    With ``step`` (decades; for ladders, whose runs each have their own compute) the
    rolling origins are compute thresholds every ``step`` decades instead of every
    budget: each threshold gives the largest budget at or below it, kept when at least
    ``min_budgets`` budgets lie at or below it and one above.
    """
    check_option("origin", origin, ORIGINS)
    b = np.unique(np.asarray(budgets, dtype=float))
    if int(min_budgets) != min_budgets or min_budgets < 1:
        raise ValueError(f"min_budgets must be a positive integer, got {min_budgets!r}")
    if b.size < 2:
        raise ValueError(f"a backtest needs at least 2 budgets, got {b.size}")
    if origin == "last":
        return [float(b[-2])]
    if b.size <= min_budgets:
        raise ValueError(
            f"origin 'rolling' fits at least min_budgets={min_budgets} budgets and predicts "
            f"a larger one, but the runs have {b.size} budgets"
        )
    candidates = b[min_budgets - 1 : -1]
    if step is not None:
        lo, hi = np.log10(b[0]), np.log10(b[-1])
        cuts = 10.0 ** (np.ceil(lo / step) * step + step * np.arange(int((hi - lo) / step) + 2))
        picked = {float(b[np.searchsorted(b, c, side="right") - 1]) for c in cuts if c >= b[0]}
        candidates = np.array(sorted(x for x in picked if x in set(candidates.tolist())))
        if not candidates.size:
            raise ValueError(
                f"no compute threshold every {step:g} decades leaves min_budgets={min_budgets} "
                "budgets to fit and one to predict"
            )
    return [float(x) for x in candidates]


def observed_vertex(
    params: np.ndarray,
    tokens: np.ndarray,
    loss: np.ndarray,
    n_boot: int,
    level: float,
    rng: np.random.Generator,
) -> dict[str, float]:
    """Vertices of the parabolas of loss in ``log10 N`` and ``log10 D`` with percentile
    intervals from resampling the runs (NaN when a parabola is not convex)."""

    def vertices(idx: np.ndarray) -> tuple[float, float]:
        out = []
        for x in (np.log10(params[idx]), np.log10(tokens[idx])):
            if np.unique(x).size < 3:
                out.append(np.nan)
                continue
            c = x.mean()
            c2, c1, _ = np.polyfit(x - c, loss[idx], 2)
            out.append(c - c1 / (2 * c2) if c2 > 0 else np.nan)
        return out[0], out[1]

    n = len(loss)
    n_hat, d_hat = vertices(np.arange(n))
    draws = np.array([vertices(rng.integers(0, n, n)) for _ in range(n_boot)]).reshape(-1, 2)
    tail = (1 - level) / 2
    with np.errstate(all="ignore"):
        lo, hi = (
            np.nanquantile(draws, [tail, 1 - tail], axis=0, method="weibull")
            if n_boot and np.isfinite(draws).any()
            else np.full((2, 2), np.nan)
        )
    return {
        "N_observed": 10**n_hat,
        "N_observed_lower": 10 ** lo[0],
        "N_observed_upper": 10 ** hi[0],
        "D_observed": 10**d_hat,
        "D_observed_lower": 10 ** lo[1],
        "D_observed_upper": 10 ** hi[1],
    }


def _loss_intervals(a, fit_surface, params, tokens, level, rng) -> tuple[np.ndarray, ...]:
    """Point prediction and prediction interval of each held-out run's loss."""
    predicted = fit_surface.loss(params, tokens)
    draws = a.draws[["E", "A", "B", "alpha", "beta"]].dropna().to_numpy()
    if not len(draws):
        nan = np.full(len(params), np.nan)
        return predicted, nan, nan.copy()
    E, A, B, al, be = (draws[:, [j]] for j in range(5))
    boot = E + A / params[None, :] ** al + B / tokens[None, :] ** be
    centre = a.surface.loss(params, tokens)  # the assessment's own estimate
    boot = boot - centre[None, :] + predicted[None, :] + rng.normal(0, a.noise_sd, boot.shape)
    tail = (1 - level) / 2
    lo, hi = np.quantile(boot, [tail, 1 - tail], axis=0, method="weibull")
    return predicted, lo, hi


def _one_fit(
    train: pd.DataFrame,
    test: pd.DataFrame,
    method: str,
    origin_budget: float,
    curve_budgets: np.ndarray,
    *,
    n_boot: int,
    seed: int,
    level: float,
    scheme: str,
) -> tuple[list[dict], list[dict]]:
    base, loss, variant = METHODS[method]
    targets = np.unique(test["budget"].to_numpy())
    a = assess(
        train, method=base, n_boot=n_boot, seed=seed, targets=targets, scheme=scheme,
        level=level, loss=loss,
    )  # fmt: skip
    rng = np.random.default_rng([seed, len(train)])
    ints = a.intervals()
    if ints[["lower", "upper"]].isna().to_numpy().any():  # degenerate fit: some quantity
        ints = a.intervals(kind="percentile")  # has no finite studentized draw
    estimate = ints["estimate"].copy()
    shift = pd.Series(0.0, index=estimate.index)  # log-scale shift of the variant's point
    surface = a.surface
    if variant is not None:
        surface = fit_approach3(train, variant=variant).surface
    pred_rows = []
    if surface is not None:
        p, t = test["params"].to_numpy(), test["tokens"].to_numpy()
        predicted, lo, hi = _loss_intervals(a, surface, p, t, level, rng)
        for i, (_, run) in enumerate(test.iterrows()):
            pred_rows.append(
                {
                    "method": method,
                    "origin": origin_budget,
                    "budget": run["budget"],
                    "params": run["params"],
                    "tokens": run["tokens"],
                    "loss": run["loss"],
                    "predicted": predicted[i],
                    "lower": lo[i],
                    "upper": hi[i],
                }
            )
    opt_rows = []
    for c in targets:
        if c not in curve_budgets:
            continue
        held = test[test["budget"] == c]
        obs = observed_vertex(
            held["params"].to_numpy(), held["tokens"].to_numpy(), held["loss"].to_numpy(),
            n_boot, level, rng,
        )  # fmt: skip
        row = {"method": method, "origin": origin_budget, "budget": c, **obs}
        for name, q in (("N", "N_opt"), ("D", "D_opt")):
            k = key(q, c)
            if surface is None:
                point = float(estimate[k])
            else:
                point = float(surface.N_opt(c) if name == "N" else surface.D_opt(c))
            if variant is not None:
                shift[k] = np.log(point) - np.log(estimate[k])
            factor = float(np.exp(shift[k]))
            lo, hi = ints.loc[k, "lower"] * factor, ints.loc[k, "upper"] * factor
            o, o_lo, o_hi = (
                obs[f"{name}_observed"],
                obs[f"{name}_observed_lower"],
                obs[f"{name}_observed_upper"],
            )
            row |= {
                f"{name}_predicted": point,
                f"{name}_lower": lo,
                f"{name}_upper": hi,
                f"{name}_log10_error": np.log10(point / o),
                f"{name}_covered": bool(lo <= o <= hi),
                f"{name}_overlap": bool(lo <= o_hi and o_lo <= hi),
            }
        opt_rows.append(row)
    return pred_rows, opt_rows


def backtest(
    runs: pd.DataFrame | Runs,
    methods: Sequence[str] = DEFAULT_METHODS,
    origin: str = "rolling",
    min_budgets: int = 3,
    level: float = DEFAULT_LEVEL,
    n_boot: int = DEFAULT_N_BOOT,
    seed: int = 0,
    *,
    scheme: str = DEFAULT_SCHEME,
) -> Backtest:
    """Fit each of ``methods`` on the budgets up to each origin and predict the larger ones.

    ``runs`` is a DataFrame with ``params, tokens, loss`` (and optionally ``budget``) or
    :class:`~scaling_lab.runs_io.Runs`. A method that cannot fit at an origin is left
    out there with a warning; bad input raises ``ValueError``.
    """
    methods = (methods,) if isinstance(methods, str) else tuple(methods)
    if not methods:
        raise ValueError("methods is empty; choose from " + ", ".join(METHODS))
    for m in methods:
        check_option("method", m, tuple(METHODS))
    check_option("origin", origin, ORIGINS)
    if not 0 < level < 1:
        raise ValueError(f"level must be in (0, 1), got {level!r}")
    if int(n_boot) != n_boot or n_boot < 0:
        raise ValueError(f"n_boot must be a non-negative integer, got {n_boot!r}")
    runs = prepare_runs(runs)
    table = runs.table
    budgets, counts = np.unique(table["budget"].to_numpy(), return_counts=True)
    curve_budgets = budgets[counts >= MIN_RUNS_PER_BUDGET]
    warnings = list(runs.warnings)
    preds, optima = [], []
    step = HORIZON_STEP if isoflop_gap(runs) is not None else None  # a ladder
    for o in origins(budgets, origin, min_budgets, step):
        train = table[table["budget"] <= o]
        test = table[table["budget"] > o]
        for m in methods:
            try:
                p, q = _one_fit(
                    train, test, m, o, curve_budgets,
                    n_boot=int(n_boot), seed=seed, level=level, scheme=scheme,
                )  # fmt: skip
            except (FitError, ValueError) as exc:
                warnings.append(f"{m} at origin {o:.3g}: {' '.join(str(exc).split())}")
                continue
            preds += p
            optima += q
    if not preds and not optima:
        raise ValueError(
            f"{runs.source}: no method produced a prediction ("
            + "; ".join(warnings[-len(methods) :])
            + ")"
        )
    predictions = pd.DataFrame(preds, columns=list(PREDICTION_COLUMNS))
    optima_df = pd.DataFrame(optima)
    return Backtest(
        predictions=predictions,
        optima=optima_df,
        summary=summarise(predictions, optima_df, methods, level),
        methods=methods,
        origin=origin,
        level=float(level),
        scheme=scheme,
        n_boot=int(n_boot),
        seed=seed,
        source=runs.source,
        warnings=tuple(warnings),
    )


def horizon(budget: ArrayLikeFloat, origin: ArrayLikeFloat) -> np.ndarray:
    """Decades of compute past the largest fitted budget, rounded up to :data:`HORIZON_STEP`."""
    h = np.log10(np.asarray(budget, dtype=float) / np.asarray(origin, dtype=float))
    return np.ceil(np.round(h / HORIZON_STEP, 9)) * HORIZON_STEP


def _rate_columns(prefix: str, hits: int, n: int) -> dict[str, float]:
    if n == 0:
        return {prefix: np.nan, f"{prefix}_lower": np.nan, f"{prefix}_upper": np.nan}
    r = rate(hits, n)
    return {prefix: r.estimate, f"{prefix}_lower": r.lower, f"{prefix}_upper": r.upper}


def summarise(
    predictions: pd.DataFrame, optima: pd.DataFrame, methods: Sequence[str], level: float
) -> pd.DataFrame:
    """Per method and horizon (and ``"all"``): loss RMSE, MAPE, coverage; log10 N*, D* errors."""
    p = predictions.assign(horizon=horizon(predictions["budget"], predictions["origin"]))
    q = optima.assign(
        horizon=horizon(optima["budget"], optima["origin"]) if len(optima) else []
    )  # fmt: skip
    rows = []
    for m in methods:
        pm, qm = p[p["method"] == m], q[q["method"] == m] if len(q) else q
        hs = sorted(set(pm["horizon"]) | set(qm["horizon"] if len(qm) else []))
        for h in [*hs, "all"]:
            ph = pm if h == "all" else pm[pm["horizon"] == h]
            qh = qm if h == "all" or not len(qm) else qm[qm["horizon"] == h]
            err = (ph["predicted"] - ph["loss"]).to_numpy()
            hits = int(((ph["lower"] <= ph["loss"]) & (ph["loss"] <= ph["upper"])).sum())
            row = {
                "method": m,
                "horizon": h,
                "runs": len(ph),
                "loss_rmse": float(np.sqrt(np.mean(err**2))) if len(ph) else np.nan,
                "loss_mape": float(np.mean(np.abs(err / ph["loss"]))) if len(ph) else np.nan,
                **_rate_columns("loss_coverage", hits, len(ph)),
                "budgets": len(qh),
            }
            for name in ("N", "D"):
                e = qh[f"{name}_log10_error"].to_numpy() if len(qh) else np.array([])
                e = e[np.isfinite(e)]
                row[f"{name}_log10_rmse"] = float(np.sqrt(np.mean(e**2))) if e.size else np.nan
                cov = int(qh[f"{name}_covered"].sum()) if len(qh) else 0
                row |= _rate_columns(f"{name}_coverage", cov, len(qh))
            rows.append(row)
    return pd.DataFrame(rows)


# --- pooled real-data coverage ------------------------------------------------------

LADDERS: tuple[str, ...] = ("gemstones", "olmo_ladder", "gadre2024")
COVERAGE_FILE = "backtest_coverage.csv"
COVERAGE_N_BOOT = 20


def published_sets() -> dict[str, pd.DataFrame]:
    """The published sets the pooled backtest covers, by name.

    The eight IsoFLOP experiments of ``datasets.load("isoflops")`` with all runs and
    without the rows flagged ``outlier``, the Epoch Chinchilla runs, Llama 3 and the
    three ladders.
    """
    from . import datasets

    iso = datasets.load("isoflops")
    sets: dict[str, pd.DataFrame] = {}
    for name, rows in iso.groupby("experiment", sort=True):
        sets[f"{name}"] = rows.reset_index(drop=True)
        sets[f"{name} (no outliers)"] = rows[~rows["outlier"].astype(bool)].reset_index(drop=True)
    for name in ("chinchilla_epoch", "llama3", *LADDERS):
        sets[name] = datasets.load(name)
    return sets


def _set_task(
    name: str, runs: pd.DataFrame, method: str, n_boot: int, seed: int, level: float
) -> tuple[pd.DataFrame, pd.DataFrame, tuple[str, ...]]:
    """One set and method, rolling origins; empty tables when nothing can be fitted."""
    import warnings

    try:
        with warnings.catch_warnings():  # degenerate bootstrap draws on small origins
            warnings.simplefilter("ignore", RuntimeWarning)
            r = backtest(
                runs, methods=[method], origin="rolling", n_boot=n_boot, seed=seed, level=level
            )
    except (FitError, ValueError) as exc:
        return pd.DataFrame(), pd.DataFrame(), (f"{name}, {method}: {exc}",)
    return (
        r.predictions.assign(set=name),
        r.optima.assign(set=name),
        tuple(f"{name}: {w}" for w in r.warnings),
    )


def coverage_table(
    sets: dict[str, pd.DataFrame] | None = None,
    methods: Sequence[str] = DEFAULT_METHODS,
    n_boot: int = COVERAGE_N_BOOT,
    seed: int = 0,
    level: float = DEFAULT_LEVEL,
    n_jobs: int = 2,
) -> tuple[pd.DataFrame, tuple[str, ...]]:
    """Rolling backtests of every set and method (in parallel with joblib), pooled.

    Returns the summary rows per set and, with ``set == "pooled"``, over all sets, with
    Clopper-Pearson intervals of the coverage, and the warnings. Task ``i`` uses seed
    ``seed + i``: the same arguments give the same table for any ``n_jobs``.
    """
    from joblib import Parallel, delayed

    sets = published_sets() if sets is None else sets
    tasks = [(name, runs, m) for name, runs in sets.items() for m in methods]
    out = Parallel(n_jobs=n_jobs)(
        delayed(_set_task)(name, runs, m, n_boot, seed + i, level)
        for i, (name, runs, m) in enumerate(tasks)
    )
    preds = [p for p, _, _ in out if len(p)]
    opts = [q for _, q, _ in out if len(q)]
    predictions = pd.concat(preds, ignore_index=True) if preds else pd.DataFrame(
        columns=[*PREDICTION_COLUMNS, "set"]
    )  # fmt: skip
    optima = pd.concat(opts, ignore_index=True) if opts else pd.DataFrame()
    rows = []
    for name in sets:
        p = predictions[predictions["set"] == name]
        q = optima[optima["set"] == name] if len(optima) else optima
        if len(p) or len(q):
            rows.append(summarise(p, q, methods, level).assign(set=name))
    rows.append(summarise(predictions, optima, methods, level).assign(set="pooled"))
    table = pd.concat(rows, ignore_index=True)
    table = table[["set", *[c for c in table.columns if c != "set"]]]
    table = table[(table["runs"] > 0) | (table["budgets"] > 0)].reset_index(drop=True)
    return table, tuple(w for _, _, ws in out for w in ws)


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m scaling_lab.backtest [OUT.csv]``: write the pooled real-data coverage."""
    import sys
    from pathlib import Path

    args = list(sys.argv[1:] if argv is None else argv)
    out = Path(args[0]) if args else Path(__file__).resolve().parents[1] / "data" / COVERAGE_FILE
    table, warnings = coverage_table()
    table.to_csv(out, index=False, float_format="%.6g")
    pooled = table[(table["set"] == "pooled") & (table["horizon"] == "all")]
    print(pooled.to_string(index=False, float_format=lambda x: f"{x:.4g}"))
    print(f"wrote {out} ({len(table)} rows; {len(warnings)} fits skipped or warned)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
