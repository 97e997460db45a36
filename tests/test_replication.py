"""Tests of the Chinchilla replication: protocol, Huber refit, bootstrap, residual diagnostics."""

from __future__ import annotations

import dataclasses

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import scaling_lab as sl
from scaling_lab import replication as rp
from scaling_lab.book.plots import interval_comparison_figure, residual_diagnostics_figure
from scaling_lab.bootstrap import BootstrapResult, resample_indices

DELTA = 1e-3


def _huber_by_hand(r: np.ndarray) -> float:
    total = 0.0
    for x in r:
        total += 0.5 * x * x if abs(x) <= DELTA else DELTA * (abs(x) - 0.5 * DELTA)
    return total


@pytest.fixture
def noisy_runs() -> pd.DataFrame:
    """Chinchilla surface, standard design, multiplicative noise: a stand-in for real runs."""
    return sl.sample_isoflops(sl.SURFACES["chinchilla"], noise=0.01, seed=7)


# --- the protocol -------------------------------------------------------------------------


@settings(max_examples=50, deadline=None)
@given(
    losses=st.lists(st.floats(1.0, 10.0, allow_nan=False), min_size=2, max_size=40),
    data=st.data(),
)
def test_besiroglu_runs_drops_exactly_the_highest_losses(losses, data):
    n_drop = data.draw(st.integers(0, len(losses) - 1))
    df = pd.DataFrame({"loss": losses, "row": range(len(losses))})
    kept = rp.besiroglu_runs(df, n_drop)
    assert len(kept) == len(losses) - n_drop
    assert list(kept.index) == list(range(len(kept)))
    dropped = df[~df["row"].isin(kept["row"])]
    assert len(dropped) == n_drop
    if n_drop and len(kept):
        assert kept["loss"].max() <= dropped["loss"].min()


def test_besiroglu_runs_rejects_bad_input():
    df = pd.DataFrame({"loss": [1.0, 2.0, 3.0]})
    with pytest.raises(ValueError, match="n_drop"):
        rp.besiroglu_runs(df, -1)
    with pytest.raises(ValueError, match="n_drop"):
        rp.besiroglu_runs(df, 1.5)
    with pytest.raises(ValueError, match="cannot drop 3 runs"):
        rp.besiroglu_runs(df, 3)
    with pytest.raises(ValueError, match="'loss'"):
        rp.besiroglu_runs(pd.DataFrame({"x": [1.0, 2.0]}), 1)


def test_published_intervals_carry_the_published_numbers_and_citations():
    pub = rp.published_intervals().set_index(["source", "quantity"])
    hoff = {"E": 1.69, "A": 406.4, "B": 410.7, "alpha": 0.34, "beta": 0.28}
    besi = {"E": 1.82, "A": 482.01, "B": 2085.43, "alpha": 0.3478, "beta": 0.3658}
    for source, values in (("hoffmann2022", hoff), ("besiroglu2024", besi)):
        for k, v in values.items():
            assert pub.loc[(source, k), "estimate"] == v
    assert pub["citation"].notna().all() and pub["bibkey"].notna().all()
    # every published number sits in a row with a citation; missing values stay empty
    assert pub.loc[("besiroglu2024", "b"), ["estimate", "lower", "upper"]].isna().all()
    assert (pub.loc[("besiroglu2024", "a"), ["estimate", "standard_error"]] == [0.513, 0.020]).all()
    assert (pub.loc[("hoffmann2022_approach2", "a"), ["estimate", "lower", "upper"]]
            == [0.49, 0.462, 0.534]).all()  # fmt: skip
    assert (pub.loc[("hoffmann2022", "a"), ["lower", "upper"]] == [0.454, 0.455]).all()


# --- quantities ---------------------------------------------------------------------------


def test_surface_quantities_of_a_symmetric_surface():
    q = rp.surface_quantities(sl.SURFACES["symmetric"])
    assert set(q) == set(rp.QUANTITIES)
    # alpha = beta and A = B give G = 1, so N* = D* = sqrt(C/6) and D*/N* = 1
    assert q["a"] == pytest.approx(0.5, rel=1e-15)
    assert q["D/N"] == pytest.approx(1.0, rel=1e-12)


def test_approach2_quantities_match_the_fit_and_survive_overflow():
    fit = sl.fit_approach2(sl.sample_isoflops(sl.SURFACES["symmetric"]))
    q = rp.approach2_quantities(fit)
    assert q["D/N"] == pytest.approx(fit.D_opt(1e24) / fit.N_opt(1e24), rel=1e-12)
    assert q["D/N"] == pytest.approx(1.0, rel=1e-8)  # symmetric surface: Approach 2 is exact
    wild = dataclasses.replace(fit, b0=400.0)
    assert rp.approach2_quantities(wild)["D/N"] == np.inf


# --- the Huber objective and its trust-region refit ---------------------------------------


def test_huber_objective_matches_a_hand_computation():
    surface = sl.SURFACES["chinchilla"]
    runs = sl.sample_isoflops(surface, n_points=5)
    r = np.linspace(-3e-3, 3e-3, len(runs))  # residuals on both sides of delta
    observed = runs.assign(loss=runs["loss"] * np.exp(-r))  # log(pred) - log(obs) = r
    assert rp.huber_objective(observed, surface) == pytest.approx(_huber_by_hand(r), rel=1e-12)


def test_refit_huber_recovers_a_noise_free_surface():
    truth = sl.SURFACES["chinchilla"]
    runs = sl.sample_isoflops(truth)
    start = sl.LossSurface(E=1.9, A=300.0, B=600.0, alpha=0.3, beta=0.3)
    fit = rp.refit_huber(runs, start)
    assert fit.converged
    for k, v in fit.relative_errors(truth).items():
        assert abs(v) < 1e-8, k


def test_refit_huber_reaches_the_approach3_chinchilla_minimum(noisy_runs):
    lbfgs = sl.fit_approach3(noisy_runs, variant="chinchilla")
    refit = rp.refit_huber(noisy_runs, lbfgs.surface)
    f_lbfgs = rp.huber_objective(noisy_runs, lbfgs.surface)
    assert rp.huber_objective(noisy_runs, refit.surface) <= f_lbfgs * (1 + 1e-10)
    np.testing.assert_allclose(
        rp.log_params(refit.surface), rp.log_params(lbfgs.surface), rtol=1e-4
    )


def test_refit_huber_rejects_bad_delta(noisy_runs):
    with pytest.raises(ValueError, match="delta"):
        rp.refit_huber(noisy_runs, sl.SURFACES["chinchilla"], delta=0.0)


# --- bootstrap ----------------------------------------------------------------------------


def test_surface_estimator_names_its_method():
    with pytest.raises(ValueError, match="method"):
        rp.SurfaceEstimator("lbfgs", sl.SURFACES["chinchilla"])


@pytest.mark.parametrize("method", rp.SURFACE_METHODS)
def test_surface_estimator_returns_all_quantities(method, noisy_runs):
    out = rp.SurfaceEstimator(method, sl.SURFACES["chinchilla"])(noisy_runs)
    assert set(out) == {*rp.QUANTITIES, "rss"}
    assert all(np.isfinite(v) for v in out.values())


def test_bootstrap_is_seeded_and_independent_of_jobs(noisy_runs):
    start = sl.SURFACES["chinchilla"]
    one = rp.bootstrap_surface(noisy_runs, "chinchilla", start, n_boot=8, seed=3, n_jobs=1)
    two = rp.bootstrap_surface(noisy_runs, "chinchilla", start, n_boot=8, seed=3, n_jobs=2)
    other = rp.bootstrap_surface(noisy_runs, "chinchilla", start, n_boot=8, seed=4, n_jobs=1)
    pd.testing.assert_frame_equal(one.draws, two.draws, check_exact=True)
    assert not one.draws.equals(other.draws)
    assert one.scheme == "cases" and one.n_failed == 0


def test_bootstrap_draw_is_the_fit_of_the_resampled_runs(noisy_runs):
    start = sl.SURFACES["chinchilla"]
    boot = rp.bootstrap_surface(noisy_runs, "vpnls", start, n_boot=3, seed=11)
    idx = resample_indices(3, np.zeros(len(noisy_runs)), 11, within_groups=False)
    refit = sl.fit_vpnls(noisy_runs.iloc[idx[2]].reset_index(drop=True))
    assert boot.draws.loc[2, "beta"] == refit.beta


def test_bootstrap_approach2_resamples_within_budgets():
    runs = sl.sample_isoflops(sl.SURFACES["chinchilla"], noise=0.005, seed=1)
    boot = rp.bootstrap_approach2(runs, n_boot=20, seed=0)
    assert boot.scheme == "cases within budget"
    assert list(boot.draws.columns) == ["a", "b", "D/N"]
    assert boot.intervals().loc["a", "contains_estimate"]


def test_comparison_table_converts_standard_errors_and_keeps_percentiles(noisy_runs):
    published = pd.DataFrame(
        {
            "source": ["p1", "p2"],
            "quantity": ["alpha", "a"],
            "estimate": [0.35, 0.5],
            "lower": [np.nan, 0.45],
            "upper": [np.nan, 0.52],
            "standard_error": [0.02, np.nan],
            "interval": ["standard error", "10th to 90th percentile"],
        }
    )
    boot = rp.bootstrap_surface(noisy_runs, "vpnls", sl.SURFACES["chinchilla"], 10, seed=0)
    table = rp.comparison_table({"ours": boot}, published, level=0.9, z=2.0)
    assert table.loc[("alpha", "p1"), "lower"] == pytest.approx(0.31, rel=1e-12)
    assert table.loc[("alpha", "p1"), "upper"] == pytest.approx(0.39, rel=1e-12)
    assert table.loc[("a", "p2"), ["lower", "upper"]].tolist() == [0.45, 0.52]
    iv = boot.intervals(0.9)
    assert table.loc[("beta", "ours"), "upper"] == iv.loc["beta", "upper"]
    assert "rss" not in table.index.get_level_values("quantity")
    assert table.loc[("beta", "ours"), "interval"] == "90% bootstrap percentile, 10 draws"


def test_comparison_table_names_the_failed_draws():
    draws = pd.DataFrame({"a": [0.5, np.nan, 0.52, 0.48], "b": [0.5, np.nan, 0.48, 0.52]})
    boot = BootstrapResult(pd.Series({"a": 0.5, "b": 0.5}), draws, "cases", 0)
    table = rp.comparison_table({"ours": boot}, published=rp.published_intervals().iloc[:0])
    kind = table.loc[("a", "ours"), "interval"]
    assert kind == "95% bootstrap percentile, 4 draws (1 failed, not used)"


# --- residuals ----------------------------------------------------------------------------


def test_residuals_of_the_true_surface_vanish():
    truth = sl.SURFACES["asymmetric"]
    runs = sl.sample_isoflops(truth)
    fit = sl.fit_vpnls(runs)
    res = rp.residuals(runs, fit)
    assert res["residual"].abs().max() < 1e-9
    np.testing.assert_allclose(res["ratio"], runs["tokens"] / runs["params"], rtol=1e-15)
    np.testing.assert_allclose(res["observed"] - res["fitted"], res["residual"], rtol=0, atol=0)


def test_approach2_residuals_use_each_budgets_parabola():
    runs = sl.sample_isoflops(sl.SURFACES["chinchilla"], noise=0.005, seed=2)
    fit = sl.fit_approach2(runs)
    res = rp.residuals(runs, fit)
    # least-squares parabola with intercept: residuals sum to zero on every budget
    sums = res.groupby("budget")["residual"].sum()
    assert sums.abs().max() < 1e-10
    with pytest.raises(ValueError, match="no parabola"):
        rp.residuals(runs.assign(budget=runs["budget"] * 2), fit)


def test_residual_trends_find_a_bend_and_not_noise():
    rng = np.random.default_rng(0)
    n = 400
    params = np.exp(rng.uniform(np.log(1e8), np.log(1e10), n))
    ratio = np.exp(rng.uniform(np.log(1.0), np.log(300.0), n))
    u = np.log(ratio) - np.log(ratio).mean()
    noise = rng.normal(0, 0.01, n)
    frame = pd.DataFrame({"params": params, "ratio": ratio, "budget": 6 * params * params * ratio})
    bent = rp.residual_trends(frame.assign(residual=0.01 * u**2 + noise))
    flat = rp.residual_trends(frame.assign(residual=noise))
    assert bent.loc["ratio", "curvature_t"] > 10
    assert abs(flat.loc["ratio", "curvature_t"]) < 3
    assert (flat["p_value"] > 0.001).all()


def test_quadratic_t_needs_four_points():
    with pytest.raises(ValueError, match="at least 4"):
        rp._quadratic_t(np.array([1.0, 2.0, 3.0]), np.array([0.0, 1.0, 0.0]))


def test_residual_summary_and_tail_share():
    r = np.array([0.0, 5e-4, -2e-3, 3e-3])
    res = pd.DataFrame({"residual": r, "log_residual": r})
    out = rp.residual_summary(res)
    assert out["beyond_delta"] == 0.5
    assert out["rms"] == pytest.approx(np.sqrt(np.mean(r**2)), rel=1e-15)
    assert out["median"] == pytest.approx(2.5e-4, rel=1e-12)


# --- figures ------------------------------------------------------------------------------


def test_figures_have_one_panel_per_quantity_and_four_per_fit(noisy_runs):
    boot = rp.bootstrap_surface(noisy_runs, "vpnls", sl.SURFACES["chinchilla"], 5, seed=0)
    table = rp.comparison_table({"vpnls": boot})
    fig = interval_comparison_figure(table, ("E", "alpha", "beta"), titles={"E": "E (loss)"})
    assert len(fig.axes) == 3
    assert [ax.get_title() for ax in fig.axes] == ["E (loss)", "alpha", "beta"]
    fits = {"a": sl.fit_vpnls(noisy_runs), "b": sl.fit_approach3(noisy_runs, "chinchilla")}
    fig2 = residual_diagnostics_figure({k: rp.residuals(noisy_runs, f) for k, f in fits.items()})
    assert len(fig2.axes) == 8
    assert all(ax.get_xlabel() for ax in fig2.axes[4:])  # the bottom row names its axes
    assert not any(ax.get_xlabel() for ax in fig2.axes[:4])
    plt.close("all")


def test_interval_figure_colours_a_source_alike_in_every_figure():
    est = {("alpha", "p"): 0.3, ("alpha", "q"): 0.35, ("a", "q"): 0.5}
    table = pd.DataFrame({"estimate": est, "lower": {k: v - 0.01 for k, v in est.items()}}).assign(
        upper=lambda t: t["estimate"] + 0.01
    )
    table.index.names = ["quantity", "source"]
    colour = {}
    for quantity in ("alpha", "a"):
        fig = interval_comparison_figure(table, (quantity,))
        lines = [ln for ln in fig.axes[0].lines if len(ln.get_xdata()) == 2]
        colour[quantity] = lines[-1].get_color()  # the last source drawn is "q"
    assert colour["alpha"] == colour["a"]
    plt.close("all")


def test_holm_adjusted_p_values():
    np.testing.assert_allclose(rp.holm_adjust([0.01, 0.04, 0.03]), [0.03, 0.06, 0.06])
    assert rp.holm_adjust([0.5, 0.9]).max() == 1.0


def test_curvature_permutation_tests_detect_a_bend_and_not_noise():
    rng = np.random.default_rng(0)
    n = 120
    params = np.exp(rng.uniform(np.log(1e7), np.log(1e10), n))
    tokens = np.exp(rng.uniform(np.log(1e9), np.log(1e12), n))
    base = {"budget": 6 * params * tokens, "params": params, "tokens": tokens,
            "ratio": tokens / params}  # fmt: skip
    u = np.log(base["ratio"])
    bent = pd.DataFrame(
        base | {"residual": 0.01 * (u - u.mean()) ** 2 + 1e-3 * rng.standard_normal(n)}
    )
    noise = pd.DataFrame(base | {"residual": rng.standard_normal(n)})
    out = rp.curvature_permutation_tests({"bent": bent, "noise": noise}, n_perm=999, seed=1)
    assert out.loc[("bent", "ratio"), "p_holm"] < 0.01
    assert (out.xs("noise")["p_holm"] > 0.05).all()
    # the batched statistic is the one-at-a-time statistic
    R = rng.standard_normal((5, n))
    single = [rp._quadratic_t(u, r) for r in R]
    np.testing.assert_allclose(rp._quadratic_t_batch(u, R), single, rtol=1e-10)
    with pytest.raises(ValueError, match="n_perm"):
        rp.curvature_permutation_tests({"bent": bent}, n_perm=0)


def test_huber_likelihood_is_the_normalised_density_and_is_minimised_near_the_truth():
    from scipy import integrate

    from scaling_lab.fitting.approach3 import _huber

    d = 1e-3

    def density(r):
        return np.exp(-_huber(np.array([r]), d)[0])

    centre, _ = integrate.quad(density, -d, d, epsabs=0, epsrel=1e-12)
    tail, _ = integrate.quad(density, d, 60 / d, epsabs=0, epsrel=1e-12, limit=500)
    total = centre + 2 * tail  # the density's normaliser, by quadrature
    truth = sl.SURFACES["chinchilla"]
    df = sl.sample_isoflops(truth)
    x = [np.log(truth.A), np.log(truth.B), np.log(truth.E), truth.alpha, truth.beta, 0.0]
    # with residuals of zero and unit scale the likelihood is n log Z exactly
    assert rp.huber_likelihood(df, x) == pytest.approx(len(df) * np.log(total), rel=1e-6)
    rng = np.random.default_rng(0)
    noisy = df.assign(loss=df["loss"] * np.exp(1e-3 * rng.laplace(size=len(df))))
    land = rp.huber_likelihood_landings(noisy, truth, n_starts=2, seed=0)
    assert (land["nll"] <= rp.huber_likelihood(noisy, [*x[:5], np.log(1e-6)]) + 1e-9).all()
    assert np.allclose(land["alpha"], truth.alpha, atol=0.02)
