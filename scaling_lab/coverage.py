"""Measured coverage of bootstrap intervals on simulated noisy IsoFLOP designs.

An interval procedure is honest when its nominal level is its actual coverage: over
many repetitions of a noisy experiment on a known surface, a 90% interval should
contain the true value 90% of the time. :func:`coverage_study` repeats a simulated
design ``n_reps`` times (each repetition its own seeded noise), runs
:func:`scaling_lab.assess.assess` with each bootstrap scheme, and counts how often the
intervals for ``alpha, beta, a, b`` and ``D*`` at the target budget contain the truth.
Coverage comes with exact (Clopper-Pearson) binomial intervals, so a scheme "holds"
its level only when the nominal level lies inside that interval.

:func:`coverage_table` runs the full study on several designs (:data:`STUDY_DESIGNS`)
and :func:`write_coverage_table` stores it as ``data/assess_coverage.csv``, which the
chapter reads back with :func:`load_coverage_table` instead of recomputing it. Both
quantile rules of :mod:`scaling_lab.assess` are recorded from the same draws, so the
table shows the effect of the rule with everything else held fixed.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import lru_cache

import numpy as np
import pandas as pd
from joblib import Parallel, delayed
from scipy.stats import beta as beta_dist

from .assess import (
    BOOTSTRAP_INTERVALS,
    DEFAULT_SCHEME,
    QUANTILE_RULE,
    QUANTILE_RULES,
    SCHEMES,
    assess,
    key,
)
from .datasets import project_file
from .misspecification import OutOfFamilySurface
from .sampling import DEFAULT_BUDGETS, sample_isoflops
from .surfaces import SURFACES, LossSurface

#: Quantities whose coverage is measured.
COVERED: tuple[str, ...] = ("alpha", "beta", "a", "b", "D_opt")
#: The study's default design: the Chinchilla surface, five budgets of 15 runs, ±8×, noise 0.01.
DEFAULT_DESIGN: dict[str, float] = {"grid": 8.0, "n_points": 15}
#: Scheme label of the Wald reference rows (delta-method intervals, no bootstrap).
WALD_SCHEME = "none (delta method)"
#: File (in ``data/``) holding the full study's measured coverage.
COVERAGE_FILE = "assess_coverage.csv"
#: Designs of the full study: the surface, ``sample_isoflops`` keywords, the noise and the
#: schemes measured (all three on the standard design, the default elsewhere).
STUDY_DESIGNS: dict[str, dict] = {
    "chinchilla ±8× noise 0.01": {
        "surface": "chinchilla",
        "design": {"grid": 8.0, "n_points": 15},
        "noise": 0.01,
        "schemes": ("cases", "residual", "parametric"),  # as stored (before "curves")
    },
    "asymmetric ±8× noise 0.01": {
        "surface": "asymmetric",
        "design": {"grid": 8.0, "n_points": 15},
        "noise": 0.01,
        "schemes": (DEFAULT_SCHEME,),
    },
    "chinchilla ±8× noise 0.02": {
        "surface": "chinchilla",
        "design": {"grid": 8.0, "n_points": 15},
        "noise": 0.02,
        "schemes": (DEFAULT_SCHEME,),
    },
    "chinchilla ±2× (XS) noise 0.01": {
        "surface": "chinchilla",
        "design": {"grid": 2.0, "n_points": 15},
        "noise": 0.01,
        "schemes": (DEFAULT_SCHEME,),
    },
}


def clopper_pearson(hits: int, n: int, confidence: float = 0.95) -> tuple[float, float]:
    """Exact binomial confidence interval for a proportion ``hits / n``."""
    tail = (1 - confidence) / 2
    lo = 0.0 if hits == 0 else float(beta_dist.ppf(tail, hits, n - hits + 1))
    hi = 1.0 if hits == n else float(beta_dist.ppf(1 - tail, hits + 1, n - hits))
    return lo, hi


def truth_values(surface: LossSurface, target: float) -> dict[str, float]:
    """True values of the covered quantities on ``surface``."""
    return {
        "alpha": surface.alpha,
        "beta": surface.beta,
        "a": surface.a,
        "b": surface.b,
        "D_opt": surface.D_opt(target),
    }


@dataclass(frozen=True, repr=False)
class CoverageStudy:
    """Per repetition, scheme and interval kind: whether each interval held the truth; widths."""

    hits: pd.DataFrame
    level: float
    n_boot: int
    noise: float
    target: float
    surface: LossSurface
    design: dict = field(default_factory=dict)

    @property
    def n_reps(self) -> int:
        return int(self.hits["rep"].nunique())

    def summary(self, confidence: float = 0.95) -> pd.DataFrame:
        """Coverage per scheme, interval kind, quantile rule and quantity, with
        Clopper-Pearson bounds and a ``holds`` flag."""
        rows = []
        groups = self.hits.groupby(["scheme", "interval", "rule"], sort=False)
        for (scheme, kind, rule), part in groups:
            for q in COVERED:
                hit = part[q].to_numpy(dtype=bool)
                lo, hi = clopper_pearson(int(hit.sum()), hit.size, confidence)
                rows.append(
                    {
                        "scheme": scheme,
                        "interval": kind,
                        "rule": rule,
                        "quantity": q,
                        "hits": int(hit.sum()),
                        "coverage": hit.mean(),
                        "lower": lo,
                        "upper": hi,
                        "nominal": self.level,
                        "holds": lo <= self.level <= hi,
                        "median width": float(np.median(part[f"{q} width"])),
                        "reps": hit.size,
                    }
                )
        return pd.DataFrame(rows)

    def to_frame(self) -> pd.DataFrame:
        """Coverage table: one row per scheme and interval kind, one column per quantity."""
        table = self.summary().pivot(
            index=["scheme", "interval", "rule"], columns="quantity", values="coverage"
        )
        return table[list(COVERED)]

    def __repr__(self) -> str:
        return (
            f"CoverageStudy({self.n_reps} repetitions x {self.hits['scheme'].nunique()} "
            f"schemes, {self.n_boot} draws each, nominal {self.level:g}, noise {self.noise:g})"
        )


def coverage_study(
    surface: LossSurface | None = None,
    *,
    schemes: Sequence[str] = SCHEMES,
    n_reps: int = 200,
    n_boot: int = 200,
    noise: float = 0.01,
    level: float = 0.90,
    target: float = 1e24,
    design: dict | None = None,
    seed: int = 0,
    n_jobs: int = 1,
    rules: Sequence[str] = (QUANTILE_RULE,),
    wald: bool = False,
) -> CoverageStudy:
    """Repeat a noisy design ``n_reps`` times and record each scheme's interval coverage.

    ``design`` holds :func:`~scaling_lab.sample_isoflops` keywords (default
    :data:`DEFAULT_DESIGN`); repetition ``r`` draws its noise and its bootstrap from
    ``numpy.random.SeedSequence([seed, r])``, so a study is reproducible and
    independent of ``n_jobs``. ``rules`` are the quantile rules recorded (each from the
    same draws; :data:`scaling_lab.assess.QUANTILE_RULES`). ``wald`` adds the Wald
    interval of each repetition's fit (no bootstrap) as a reference, under the scheme
    name :data:`WALD_SCHEME`.
    """
    surface = SURFACES["chinchilla"] if surface is None else surface
    design = dict(DEFAULT_DESIGN if design is None else design)
    unknown = [s for s in schemes if s not in SCHEMES]
    if unknown:
        raise ValueError(f"unknown scheme(s) {unknown}; choose from {SCHEMES}")
    bad_rules = [r for r in rules if r not in QUANTILE_RULES]
    if bad_rules:
        raise ValueError(f"unknown quantile rule(s) {bad_rules}; choose from {QUANTILE_RULES}")
    if not schemes:
        raise ValueError("schemes must name at least one bootstrap scheme")
    if int(n_reps) != n_reps or n_reps < 1:
        raise ValueError(f"n_reps must be a positive integer, got {n_reps!r}")
    jobs = (
        delayed(_one_rep)(
            surface,
            tuple(schemes),
            tuple(rules),
            wald,
            n_boot,
            noise,
            level,
            target,
            design,
            seed,
            r,
        )
        for r in range(int(n_reps))
    )
    rows = [row for rep in Parallel(n_jobs=n_jobs)(jobs) for row in rep]
    return CoverageStudy(
        hits=pd.DataFrame(rows),
        level=level,
        n_boot=n_boot,
        noise=noise,
        target=target,
        surface=surface,
        design=design,
    )


def _one_rep(surface, schemes, rules, wald, n_boot, noise, level, target, design, seed, rep):
    data_seed, *boot_seeds = np.random.SeedSequence([seed, rep]).spawn(1 + len(schemes))
    runs = sample_isoflops(surface, noise=noise, seed=np.random.default_rng(data_seed), **design)
    truth = truth_values(surface, target)
    names = {q: (key(q, target) if q == "D_opt" else q) for q in COVERED}
    rows = []

    def record(result, scheme: str, kind: str, rule: str) -> None:
        table = result.intervals(kind=kind, **({} if kind == "wald" else {"rule": rule}))
        row: dict = {"rep": rep, "scheme": scheme, "interval": kind, "rule": rule}
        for q, name in names.items():
            lo, hi = table.loc[name, "lower"], table.loc[name, "upper"]
            row[q] = bool(lo <= truth[q] <= hi)
            row[f"{q} width"] = float(hi - lo)
        rows.append(row)

    for scheme, boot_seed in zip(schemes, boot_seeds, strict=True):
        result = assess(
            runs,
            n_boot=n_boot,
            seed=np.random.default_rng(boot_seed),
            targets=(target,),
            scheme=scheme,
            level=level,
        )
        for kind in BOOTSTRAP_INTERVALS:
            for rule in rules:
                record(result, scheme, kind, rule)
    if wald:  # the same fit for every scheme: one reference row per repetition
        record(result, WALD_SCHEME, "wald", "t quantile")
    return rows


def coverage_table(
    designs: dict[str, dict] | None = None,
    *,
    n_reps: int = 1000,
    n_boot: int = 200,
    level: float = 0.90,
    target: float = 1e24,
    seed: int = 0,
    n_jobs: int = 1,
) -> pd.DataFrame:
    """The full study: coverage of every design in ``designs`` (default :data:`STUDY_DESIGNS`).

    One row per design, scheme, interval kind, quantile rule and quantity, with the hits,
    the repetitions, the coverage and its 95% Clopper-Pearson interval. The default
    (1000 repetitions, 200 draws, four designs) takes about ten minutes on two cores.
    """
    designs = STUDY_DESIGNS if designs is None else designs
    parts = []
    for name, spec in designs.items():
        study = coverage_study(
            SURFACES[spec["surface"]],
            schemes=spec["schemes"],
            n_reps=n_reps,
            n_boot=n_boot,
            noise=spec["noise"],
            level=level,
            target=target,
            design=spec["design"],
            seed=seed,
            n_jobs=n_jobs,
            rules=QUANTILE_RULES,
            wald=True,
        )
        summary = study.summary().rename(columns={"reps": "n"})
        head = {
            "design": name,
            "surface": spec["surface"],
            "grid": spec["design"]["grid"],
            "n_points": spec["design"]["n_points"],
            "noise": spec["noise"],
            "n_boot": n_boot,
            "target": target,
        }
        parts.append(summary.drop(columns=["median width"]).assign(**head))
    table = pd.concat(parts, ignore_index=True)
    first = ["design", "surface", "grid", "n_points", "noise", "n_boot", "target"]
    return table[first + [c for c in table.columns if c not in first]]


def write_coverage_table(path=None, **kwargs) -> pd.DataFrame:
    """Run :func:`coverage_table` and write it as CSV (default ``data/assess_coverage.csv``)."""
    return _write_data(coverage_table(**kwargs), COVERAGE_FILE, path)


def _write_data(table: pd.DataFrame, name: str, path=None) -> pd.DataFrame:
    """Write ``table`` as CSV to ``path``, by default ``data/<name>``; returns it."""
    default = project_file("registry.csv").parent / name  # the data/ folder
    table.to_csv(default if path is None else path, index=False)
    return table


def load_coverage_table() -> pd.DataFrame:
    """The full study's stored results (``data/assess_coverage.csv``)."""
    return pd.read_csv(project_file(COVERAGE_FILE))


# --- coverage under other noise models ---------------------------------------------------

#: File (in ``data/``) holding the coverage under the noise conditions of :data:`NOISE_CONDITIONS`.
NOISE_COVERAGE_FILE = "assess_coverage_noise.csv"
#: Noise conditions on the standard design (Chinchilla surface, five budgets of 15 runs,
#: ±8×), each with a total loss-noise standard deviation of about 0.01.
NOISE_CONDITIONS: tuple[str, ...] = (
    "i.i.d. Gaussian",
    "Student t (3 dof)",
    "heteroscedastic (sd 4× larger at the smallest budget)",
    "per-curve offsets, sd 0.007 + i.i.d. 0.007",
    "per-curve offsets, sd 0.0035 + i.i.d. 0.0094",
    "5% outlying runs (+5 sd)",
)
#: Surfaces outside the fitted family (the two shown in the misspecification section of
#: the VPNLS chapter), with i.i.d. Gaussian noise of sd 0.01. ``alpha`` and ``beta`` have
#: no true value there; ``a``, ``b`` are the true local slopes over the fitted budgets and
#: ``D_opt`` the numerically exact optimum at the target.
MISSPECIFIED_CONDITIONS: tuple[str, ...] = (
    "misspecified: interaction γ = 0.1",
    "misspecified: shape q = 1.5",
)


def condition_surface(condition: str):
    """The surface the runs of ``condition`` come from (Chinchilla unless misspecified)."""
    base = SURFACES["chinchilla"]
    if condition == MISSPECIFIED_CONDITIONS[0]:
        return OutOfFamilySurface(base, interaction=0.1)
    if condition == MISSPECIFIED_CONDITIONS[1]:
        return OutOfFamilySurface(base, shape=1.5)
    return base


@lru_cache(maxsize=16)
def condition_truth(condition: str, target: float) -> dict[str, float | None]:
    """True values of the covered quantities under ``condition`` (``None``: undefined)."""
    surface = condition_surface(condition)
    if isinstance(surface, LossSurface):
        return truth_values(surface, target)
    a, b = surface.local_exponents(DEFAULT_BUDGETS)
    return {"alpha": None, "beta": None, "a": a, "b": b, "D_opt": float(surface.D_opt(target))}


def noisy_losses(condition: str, runs: pd.DataFrame, rng: np.random.Generator) -> np.ndarray:
    """Loss noise of ``condition`` (one of :data:`NOISE_CONDITIONS`) for ``runs``."""
    n = len(runs)
    _, curve = np.unique(runs["budget"], return_inverse=True)
    if condition == "i.i.d. Gaussian":
        return rng.normal(0.0, 0.01, n)
    if condition == "Student t (3 dof)":  # variance 3 for 3 dof: scaled to sd 0.01
        return 0.01 * rng.standard_t(3, n) / np.sqrt(3.0)
    if condition.startswith("heteroscedastic"):
        f = np.log(runs["budget"].to_numpy())
        sd = 4.0 ** ((f.max() - f) / (f.max() - f.min()))  # 4 at the smallest, 1 at the largest
        return rng.normal(0.0, 1.0, n) * 0.01 * sd / np.sqrt(np.mean(sd**2))
    if condition.startswith("per-curve offsets"):
        offset_sd, iid_sd = (0.007, 0.007) if "0.007 +" in condition else (0.0035, 0.0094)
        return rng.normal(0.0, offset_sd, curve.max() + 1)[curve] + rng.normal(0.0, iid_sd, n)
    if condition in MISSPECIFIED_CONDITIONS:
        return rng.normal(0.0, 0.01, n)
    if condition.startswith("5% outlying"):
        out = rng.normal(0.0, 0.01, n)
        out[rng.choice(n, size=max(1, round(0.05 * n)), replace=False)] += 0.05
        return out
    known = NOISE_CONDITIONS + MISSPECIFIED_CONDITIONS
    raise ValueError(f"unknown noise condition {condition!r}; choose from {known}")


def _noise_rep(condition, schemes, n_boot, level, target, seed, rep, loss="squared"):
    surface = condition_surface(condition)
    data_seed, *boot_seeds = np.random.SeedSequence([seed, rep]).spawn(1 + len(schemes))
    runs = sample_isoflops(surface, **DEFAULT_DESIGN)
    runs["loss"] += noisy_losses(condition, runs, np.random.default_rng(data_seed))
    truth = condition_truth(condition, target)
    rows = []
    for scheme, boot_seed in zip(schemes, boot_seeds, strict=True):
        table = assess(
            runs,
            n_boot=n_boot,
            seed=np.random.default_rng(boot_seed),
            targets=(target,),
            scheme=scheme,
            level=level,
            loss=loss,
        ).intervals()
        row = {"condition": condition, "scheme": scheme, "loss": loss, "rep": rep}
        for q in COVERED:
            name = key(q, target) if q == "D_opt" else q
            lower, upper = table.loc[name, "lower"], table.loc[name, "upper"]
            row[q] = None if truth[q] is None else bool(lower <= truth[q] <= upper)
        rows.append(row)
    return rows


def noise_coverage_table(
    conditions: Sequence[str] = NOISE_CONDITIONS,
    *,
    schemes: Sequence[str] = ("parametric", "curves"),
    n_reps: int = 1000,
    n_boot: int = 100,
    level: float = 0.90,
    target: float = 1e24,
    seed: int = 0,
    n_jobs: int = 1,
    loss: str = "squared",
) -> pd.DataFrame:
    """Coverage of studentized intervals per noise condition and scheme, for one VPNLS loss.

    Repetition ``r`` of a condition draws its noise and bootstrap from
    ``SeedSequence([seed, r])``; every scheme sees the same noisy runs. One row per
    (condition, scheme, quantity): ``hits, n, coverage`` and the exact 95% binomial
    interval ``lower, upper``; ``holds`` says whether the nominal level lies inside it.
    """
    jobs = (
        delayed(_noise_rep)(c, tuple(schemes), n_boot, level, target, seed, r, loss)
        for c in conditions
        for r in range(int(n_reps))
    )
    hits = pd.DataFrame([row for rep in Parallel(n_jobs=n_jobs)(jobs) for row in rep])
    rows = []
    for (condition, scheme), part in hits.groupby(["condition", "scheme"], sort=False):
        for q in COVERED:
            hit = part[q].dropna()
            if hit.empty:  # no true value under this condition (misspecified exponents)
                continue
            k, n = int(hit.astype(bool).sum()), len(hit)
            lo, hi = clopper_pearson(k, n)
            rows.append(
                {
                    "condition": condition,
                    "scheme": scheme,
                    "loss": loss,
                    "quantity": q,
                    "hits": k,
                    "n": n,
                    "coverage": k / n,
                    "lower": lo,
                    "upper": hi,
                    "nominal": level,
                    "holds": lo <= level <= hi,
                    "n_boot": n_boot,
                }
            )
    return pd.DataFrame(rows)


def write_noise_coverage_table(path=None, n_jobs: int = 2, seed: int = 0) -> pd.DataFrame:
    """The stored noise study: every condition, both schemes, least squares and Huber.

    Least squares: 1000 repetitions of 100 draws. Huber: 1000 repetitions of 50 draws
    (each Huber draw is refitted from scratch, about 50× the cost of a warm-started
    least-squares draw). About 45 minutes on two cores.
    """
    conditions = NOISE_CONDITIONS + MISSPECIFIED_CONDITIONS
    parts = [
        noise_coverage_table(conditions, n_boot=100, seed=seed, n_jobs=n_jobs),
        noise_coverage_table(conditions, n_boot=50, seed=seed, n_jobs=n_jobs, loss="huber"),
    ]
    return _write_data(pd.concat(parts, ignore_index=True), NOISE_COVERAGE_FILE, path)


def load_noise_coverage_table() -> pd.DataFrame:
    """The stored noise-condition study (``data/assess_coverage_noise.csv``)."""
    return pd.read_csv(project_file(NOISE_COVERAGE_FILE))
