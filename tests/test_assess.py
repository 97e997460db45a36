"""The public entry point ``assess``: fit, bootstrap, design check, predictions; runs input."""

import json

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.stats import binomtest

import scaling_lab as sl
from scaling_lab.assess import (
    SCHEMES,
    assess,
    key,
    standard_errors,
    surface_quantities,
)
from scaling_lab.bootstrap import resample_indices
from scaling_lab.coverage import (
    COVERED,
    clopper_pearson,
    coverage_study,
    load_coverage_table,
    truth_values,
)
from scaling_lab.refit import refit_vpnls_batch
from scaling_lab.runs_io import RunsError, group_budgets, prepare_runs


@pytest.fixture
def noisy_runs() -> pd.DataFrame:
    return sl.sample_isoflops(sl.SURFACES["chinchilla"], noise=0.01, seed=4)


def test_same_seed_same_draws_and_different_seed_different(noisy_runs):
    a = assess(noisy_runs, n_boot=50, seed=3)
    b = assess(noisy_runs, n_boot=50, seed=3)
    c = assess(noisy_runs, n_boot=50, seed=4)
    assert a.draws.equals(b.draws) and a.intervals().equals(b.intervals())
    assert not a.draws.equals(c.draws)


def test_warm_started_batch_refit_matches_full_grid_fit(noisy_runs):
    fit = sl.fit_vpnls(noisy_runs)
    rows = resample_indices(40, noisy_runs["budget"].to_numpy(), seed=1)
    log_n, log_d = np.log(noisy_runs["params"].to_numpy()), np.log(noisy_runs["tokens"].to_numpy())
    loss = noisy_runs["loss"].to_numpy()
    res = refit_vpnls_batch(log_n[rows], log_d[rows], loss[rows], np.array([fit.alpha, fit.beta]))
    assert res.ok.all()
    for p, idx in zip(res.params, rows, strict=True):
        ref = sl.fit_vpnls(noisy_runs.iloc[idx].reset_index(drop=True)).surface
        want = np.array(list(ref.to_dict().values()))
        assert np.allclose(p, want, rtol=1e-6), (p, want)


def test_surface_quantities_match_loss_surface():
    P = np.array([list(s.to_dict().values()) for s in sl.SURFACES.values()])
    got = surface_quantities(P, (1e22, 1e24))
    for i, s in enumerate(sl.SURFACES.values()):
        for c in (1e22, 1e24):
            assert got[key("N_opt", c)][i] == pytest.approx(s.N_opt(c), rel=1e-12)
            assert got[key("D_opt", c)][i] == pytest.approx(s.D_opt(c), rel=1e-12)
            assert got[key("loss_opt", c)][i] == pytest.approx(s.loss_opt(c), rel=1e-12)
        assert got["a"][i] == pytest.approx(s.a, rel=1e-14)


def test_delta_method_errors_match_the_spread_of_refits():
    """Wald standard errors agree with the spread of fits over repeated noise (within 25%)."""
    s = sl.SURFACES["chinchilla"]
    runs = sl.sample_isoflops(s)
    fits = []
    for seed in range(200):
        noisy = runs.assign(loss=runs["loss"] + np.random.default_rng(seed).normal(0, 0.01, 75))
        fits.append(sl.fit_vpnls(noisy).alpha)
    noisy = runs.assign(loss=runs["loss"] + np.random.default_rng(999).normal(0, 0.01, 75))
    P = np.array([list(s.to_dict().values())])
    data = [noisy[c].to_numpy()[None] for c in ("params", "tokens", "loss")]
    se = standard_errors(P, np.log(data[0]), np.log(data[1]), data[2], (1e24,))
    assert se["alpha"][0] == pytest.approx(np.std(fits), rel=0.25)


def test_noise_free_fit_is_exact_and_intervals_collapse():
    s = sl.SURFACES["asymmetric"]
    result = assess(sl.sample_isoflops(s, drift=3.0), n_boot=30, targets=(1e23, 1e24))
    table = result.intervals()
    assert table.loc["alpha", "estimate"] == pytest.approx(s.alpha, rel=1e-9)
    assert table.loc[key("D_opt", 1e24), "estimate"] == pytest.approx(s.D_opt(1e24), rel=1e-8)
    pct = result.intervals(kind="percentile")
    assert np.allclose(pct["lower"], pct["estimate"], rtol=1e-7)
    assert np.allclose(pct["upper"], pct["estimate"], rtol=1e-7)


@pytest.mark.parametrize("scheme", SCHEMES)
def test_every_scheme_gives_intervals_around_the_estimate(noisy_runs, scheme):
    result = assess(noisy_runs, n_boot=100, seed=0, scheme=scheme)
    table = result.intervals()
    assert (table["lower"] < table["upper"]).all()
    assert result.n_failed == 0
    # 6 N* D* = C in every draw (a property of the allocation, not of the fit).
    c = 1e24
    assert np.allclose(6 * result.draws[key("N_opt", c)] * result.draws[key("D_opt", c)], c)


def test_to_dict_is_json_and_carries_the_report(noisy_runs):
    result = assess(noisy_runs, n_boot=20, targets=(1e23, 1e24))
    data = json.loads(json.dumps(result.to_dict()))
    assert set(data["parameters"]) == {"E", "A", "B", "alpha", "beta", "a", "b"}
    assert [p["compute"] for p in data["predictions"]] == [1e23, 1e24]
    assert data["design_check"]["per_budget"][0]["runs"] == 15
    assert "D* (tokens)" in result.report() and "design check" in result.report()


def test_approach2_assessment_checks_its_design_on_the_vpnls_surface(noisy_runs):
    result = assess(noisy_runs, method="approach2", n_boot=50)
    assert set(result.parameters().index) == {"a", "b", "a0", "b0"}
    assert result.design is not None
    assert result.design.surface.alpha == pytest.approx(sl.fit_vpnls(noisy_runs).alpha)


def test_bad_arguments_raise_value_errors(noisy_runs):
    for kwargs in ({"method": "ols"}, {"scheme": "wild"}, {"n_boot": -1}, {"targets": (-1.0,)}):
        with pytest.raises(ValueError):
            assess(noisy_runs, **kwargs)
    with pytest.raises(ValueError, match="rule"):
        assess(noisy_runs, n_boot=5).intervals(rule="nearest")


# --- interval coverage --------------------------------------------------------------


@pytest.mark.parametrize("n_boot", [19, 99])
def test_bootstrap_quantiles_read_the_k_over_b_plus_1_order_statistic(noisy_runs, n_boot):
    """With B = 19 (or 99) draws the 5% and 95% quantiles are the 1st and 19th (5th and
    95th) sorted draws: an interval built from an exact pivot then covers exactly 90%."""
    result = assess(noisy_runs, n_boot=n_boot, seed=1)
    table = result.intervals(kind="percentile")
    k = (n_boot + 1) // 20
    for name in ("alpha", key("D_opt", 1e24)):
        ordered = np.sort(result.draws[name].to_numpy())
        assert table.loc[name, "lower"] == pytest.approx(ordered[k - 1], rel=1e-12)
        assert table.loc[name, "upper"] == pytest.approx(ordered[n_boot - k], rel=1e-12)


def test_order_statistic_interval_of_a_pivot_covers_exactly_its_level():
    """Why the rule matters: for an exact pivot, the interval from the 1st and 19th of 19
    draws covers 18/20 = 90%; numpy's default interpolation covers 0.9 * 18/20 = 81%."""
    rng = np.random.default_rng(0)
    reps, n_boot = 40_000, 19
    truth, draws = rng.standard_normal(reps), rng.standard_normal((reps, n_boot))
    for method, expected in (("weibull", 0.90), ("linear", 0.81)):
        lo, hi = np.percentile(draws, [5, 95], axis=1, method=method)
        hits = int(np.sum((lo <= truth) & (truth <= hi)))
        assert binomtest(hits, reps, expected).pvalue > 0.001, (method, hits / reps)


def test_default_intervals_cover_at_the_nominal_rate_on_an_asymmetric_design():
    """200 seeded noisy experiments on the asymmetric surface: the default (parametric,
    studentized) 90% intervals contain the truth at 90% (exact binomial test)."""
    s = sl.SURFACES["asymmetric"]
    truth = truth_values(s, 1e24)
    hits = dict.fromkeys(COVERED, 0)
    n_seeds = 200
    for seed in range(n_seeds):
        runs = sl.sample_isoflops(s, noise=0.01, seed=1000 + seed)
        table = assess(runs, n_boot=39, seed=seed).intervals()
        for q in COVERED:
            lo, hi = table.loc[key(q, 1e24) if q == "D_opt" else q, ["lower", "upper"]]
            hits[q] += bool(lo <= truth[q] <= hi)
    for q, k in hits.items():
        assert binomtest(k, n_seeds, 0.90).pvalue > 0.01, (q, k)


def test_stored_coverage_table_is_consistent_and_supports_the_default():
    """data/assess_coverage.csv: counts, coverage and Clopper-Pearson bounds agree, and
    the default scheme holds 90% for every quantity on at least two designs."""
    table = load_coverage_table()
    assert (table["n"] >= 1000).all()
    assert np.allclose(table["coverage"], table["hits"] / table["n"], rtol=0, atol=1e-12)
    for row in table.itertuples():
        assert (row.lower, row.upper) == pytest.approx(clopper_pearson(row.hits, row.n), abs=1e-9)
    assert (table["holds"] == ((table["lower"] <= 0.9) & (0.9 <= table["upper"]))).all()
    default = table[
        (table["scheme"] == "parametric")
        & (table["interval"] == "studentized")
        & (table["rule"] == "weibull")
    ]
    held = default.groupby("design")["holds"].all()
    assert set(default["quantity"]) == set(COVERED)
    assert held.sum() >= 2, held


# --- runs input ---------------------------------------------------------------------


@settings(max_examples=40, deadline=None)
@given(
    log_budgets=st.lists(st.floats(15, 24), min_size=1, max_size=6, unique=True),
    jitter=st.floats(0.0, 0.03),
    n=st.integers(3, 6),
)
def test_grouping_recovers_well_separated_budgets(log_budgets, jitter, n):
    budgets = np.sort(10.0 ** np.array(log_budgets))
    if budgets.size > 1 and np.min(np.diff(np.log(budgets))) < np.log(1.5):
        return  # budgets closer than 1.5× are not "well separated"
    factors = 1.0 + jitter * np.linspace(-1, 1, n)  # spread within ±3%, below the 10% tolerance
    compute = np.concatenate([b * factors for b in budgets])
    grouped = group_budgets(compute)
    assert np.unique(grouped).size == budgets.size
    for b in budgets:
        members = grouped[np.abs(np.log(compute / b)) < np.log(1.05)]
        assert np.unique(members).size == 1
        assert members[0] == pytest.approx(b, rel=0.031)


def test_flop_convention_warning_names_the_worst_row():
    df = sl.sample_isoflops(sl.SURFACES["chinchilla"], n_points=5)
    df.loc[7, "budget"] *= 1.3
    runs = prepare_runs(df, "mine.csv")
    assert len(runs.warnings) == 1
    assert "row 7" in runs.warnings[0] and "-23.1%" in runs.warnings[0]


def test_runs_errors_name_source_and_row():
    df = sl.sample_isoflops(sl.SURFACES["chinchilla"], n_points=5)
    df.loc[12, "loss"] = -1.0
    with pytest.raises(RunsError, match=r"^mine\.csv, row 12: loss must be positive, got -1$"):
        prepare_runs(df, "mine.csv")


# --- coverage machinery -------------------------------------------------------------


def test_clopper_pearson_matches_scipy():
    for hits, n in ((0, 10), (7, 10), (90, 100), (100, 100)):
        ref = binomtest(hits, n).proportion_ci(0.95, method="exact")
        assert clopper_pearson(hits, n) == pytest.approx((ref.low, ref.high), abs=1e-12)


def test_coverage_study_is_reproducible():
    a = coverage_study(n_reps=3, n_boot=30, schemes=("cases",), seed=5)
    b = coverage_study(n_reps=3, n_boot=30, schemes=("cases",), seed=5)
    pd.testing.assert_frame_equal(a.hits, b.hits)
    summary = a.summary()
    assert set(summary["quantity"]) == {"alpha", "beta", "a", "b", "D_opt"}
    assert (summary["reps"] == 3).all()


# --- the "curves" scheme: a shared offset per IsoFLOP curve -----------------------------


def test_curve_noise_recovers_offset_and_within_sds():
    from scaling_lab.assess import curve_noise

    rng = np.random.default_rng(0)
    budget = np.repeat(np.arange(400.0) + 1, 8)
    resid = rng.normal(0, 0.007, 400)[budget.astype(int) - 1] + rng.normal(0, 0.004, budget.size)
    noise = curve_noise(resid, budget)
    assert noise.offset_sd == pytest.approx(0.007, rel=0.1)
    assert noise.within_sd == pytest.approx(0.004, rel=0.05)
    assert noise.offset_share == pytest.approx(0.007**2 / (0.007**2 + 0.004**2), rel=0.15)
    flat = curve_noise(rng.normal(0, 0.004, budget.size), budget)
    assert flat.offset_sd < 0.1 * flat.within_sd


def test_curves_scheme_covers_per_curve_offsets_better_than_the_default():
    """Offsets of sd 0.007 per curve plus i.i.d. sd 0.007 (the issue's condition), 60 seeds.

    Measured: parametric 62%/53% for alpha/beta, curves 82%/85% (nominal 90%; five
    curves give the offset variance four degrees of freedom, hence still short).
    """
    truth = sl.SURFACES["chinchilla"]
    hits = {s: {"alpha": 0, "beta": 0} for s in ("parametric", "curves")}
    reps = 60
    for seed in range(reps):
        df = sl.sample_isoflops(truth, grid=8.0, noise=0.007, seed=seed)
        _, group = np.unique(df["budget"], return_inverse=True)
        df["loss"] += np.random.default_rng(10_000 + seed).normal(0, 0.007, group.max() + 1)[group]
        for scheme, h in hits.items():
            table = assess(df, n_boot=100, seed=seed, scheme=scheme).intervals()
            for name in h:
                h[name] += (
                    table.loc[name, "lower"] <= getattr(truth, name) <= table.loc[name, "upper"]
                )
    for name in ("alpha", "beta"):
        assert hits["curves"][name] / reps >= 0.78, hits
        assert hits["curves"][name] >= hits["parametric"][name] + 0.15 * reps, hits


def test_curves_scheme_needs_isoflop_curves():
    n = np.geomspace(1e8, 1e9, 8)
    runs = pd.DataFrame(
        {"params": n, "tokens": 20 * n, "loss": sl.SURFACES["chinchilla"].loss(n, 20 * n)}
    )
    with pytest.raises(ValueError, match="scheme 'curves' models an offset per IsoFLOP curve"):
        assess(runs, n_boot=10, scheme="curves")


def _offset_runs(seed: int, offset_sd: float) -> pd.DataFrame:
    df = sl.sample_isoflops(sl.SURFACES["chinchilla"], grid=8.0, noise=0.007, seed=seed)
    _, group = np.unique(df["budget"], return_inverse=True)
    df["loss"] += np.random.default_rng(10_000 + seed).normal(0, offset_sd, group.max() + 1)[group]
    return df


def test_fit_warns_about_per_curve_offsets_and_names_the_scheme():
    warned = [
        any("--scheme curves" in w for w in assess(_offset_runs(s, 0.007), n_boot=0).warnings)
        for s in range(20)
    ]
    quiet = [
        any("--scheme curves" in w for w in assess(_offset_runs(s, 0.0), n_boot=0).warnings)
        for s in range(20)
    ]
    assert sum(warned) >= 8 and sum(quiet) == 0, (warned, quiet)
    # The warning is about the default: with the curves scheme chosen it is not repeated.
    df = _offset_runs(int(np.argmax(warned)), 0.007)
    assert not any("--scheme" in w for w in assess(df, n_boot=0, scheme="curves").warnings)


def test_fit_warns_about_outlying_runs_and_names_the_huber_loss():
    df = sl.sample_isoflops(sl.SURFACES["chinchilla"], noise=0.01, seed=0)
    assert not any("--loss huber" in w for w in assess(df, n_boot=0).warnings)
    df.loc[[7, 40], "loss"] += 0.1
    (line,) = [w for w in assess(df, n_boot=0).warnings if "--loss huber" in w]
    assert "2 run(s)" in line and "row 7" in line and "row 40" in line
    robust = assess(df, n_boot=20, loss="huber")
    assert not any("--loss huber" in w for w in robust.warnings)
    assert robust.to_dict()["loss"] == "huber" and "Huber loss" in robust.report()
    clean = sl.fit_vpnls(sl.sample_isoflops(sl.SURFACES["chinchilla"], noise=0.01, seed=0))
    assert abs(robust.estimate["alpha"] - clean.alpha) < abs(
        assess(df, n_boot=0).estimate["alpha"] - clean.alpha
    )


@pytest.mark.parametrize("condition", sl.coverage.NOISE_CONDITIONS)
def test_noise_conditions_have_total_sd_near_0_01(condition):
    from scaling_lab.coverage import noisy_losses

    runs = sl.sample_isoflops(sl.SURFACES["chinchilla"])
    rng = np.random.default_rng(0)
    draws = np.array([noisy_losses(condition, runs, rng) for _ in range(2000)])
    sd = np.sqrt(np.mean(draws**2))
    expected = np.sqrt(0.01**2 + 0.05 * 0.05**2) if condition.startswith("5%") else 0.01
    assert sd == pytest.approx(expected, rel=0.03), condition
    within = draws[:, runs["budget"] == 1e19]
    shared = np.mean(np.corrcoef(within.T)[np.triu_indices(15, 1)])
    # Correlation within a curve: offset variance share (0.5 and 0.12) or none.
    assert (shared > 0.06) == condition.startswith("per-curve offsets"), (condition, shared)


def test_noise_coverage_table_counts_hits_per_condition_and_scheme():
    from scaling_lab.coverage import noise_coverage_table

    table = noise_coverage_table(["i.i.d. Gaussian"], n_reps=4, n_boot=20)
    assert set(table["scheme"]) == {"parametric", "curves"} and (table["n"] == 4).all()
    assert np.allclose(table["coverage"], table["hits"] / 4)
    assert ((table["lower"] <= table["coverage"]) & (table["coverage"] <= table["upper"])).all()
    again = noise_coverage_table(["i.i.d. Gaussian"], n_reps=4, n_boot=20)
    pd.testing.assert_frame_equal(table, again)


def test_misspecified_conditions_cover_only_quantities_with_a_true_value():
    from scaling_lab.coverage import (
        MISSPECIFIED_CONDITIONS,
        condition_surface,
        condition_truth,
        noise_coverage_table,
    )
    from scaling_lab.misspecification import OutOfFamilySurface

    for condition in MISSPECIFIED_CONDITIONS:
        surface = condition_surface(condition)
        assert isinstance(surface, OutOfFamilySurface)
        truth = condition_truth(condition, 1e24)
        assert truth["alpha"] is None and truth["beta"] is None
        # The true local slopes sum to one; the interaction moves a off the family's value
        # (the shape change q leaves the optimum's exponent where it was).
        assert truth["a"] + truth["b"] == pytest.approx(1.0, abs=1e-12)
        moved = abs(truth["a"] - sl.SURFACES["chinchilla"].a) > 1e-4
        assert moved == (condition == MISSPECIFIED_CONDITIONS[0])
        assert truth["D_opt"] == pytest.approx(float(surface.D_opt(1e24)), rel=1e-12)
    table = noise_coverage_table(MISSPECIFIED_CONDITIONS[:1], n_reps=3, n_boot=20)
    assert set(table["quantity"]) == {"a", "b", "D_opt"} and (table["n"] == 3).all()


def test_studentized_interval_without_a_finite_draw_is_missing_not_an_error(noisy_runs):
    # A quantity whose every studentized draw is non-finite (each draw's standard error
    # zero or missing) has no bootstrap-t interval: NaN bounds, the others unaffected.
    import dataclasses

    result = assess(noisy_runs, n_boot=50, seed=0, interval="studentized")
    se_draws = result.se_draws.copy()
    se_draws["alpha"] = np.nan
    se_draws["beta"] = 0.0
    broken = dataclasses.replace(result, se_draws=se_draws)
    table = broken.intervals(kind="studentized")
    assert table.loc[["alpha", "beta"], ["lower", "upper"]].isna().all().all()
    others = table.drop(index=["alpha", "beta"])
    assert np.isfinite(others[["lower", "upper"]].to_numpy()).all()
    assert (others["lower"] <= others["estimate"]).all()
    assert (others["estimate"] <= others["upper"]).all()
