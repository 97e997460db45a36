"""Design diagnostics: the closed-form vertex shift at arbitrary offsets and check_design."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import scaling_lab as sl
from scaling_lab.analysis import symmetric_offsets, vertex_shift
from scaling_lab.design import (
    DesignCheck,
    check_design,
    replay_approach2,
    vertex_shift_offsets,
    vertex_shift_offsets_D,
)

SURFACE_NAMES = ["symmetric", "chinchilla", "asymmetric"]


def runs_at_offsets(surface: sl.LossSurface, budget: float, offsets: np.ndarray) -> pd.DataFrame:
    """Noise-free runs on one IsoFLOP curve at ``log10(N/N*) = offsets``."""
    params = surface.N_opt(budget) * 10.0 ** np.asarray(offsets)
    tokens = budget / (6.0 * params)
    return pd.DataFrame(
        {"budget": budget, "params": params, "tokens": tokens, "loss": surface.loss(params, tokens)}
    )


@pytest.mark.parametrize("name", SURFACE_NAMES)
@pytest.mark.parametrize("grid", [2.0, 8.0, 100.0])
@pytest.mark.parametrize("center", [0.0, -0.3, 0.5])
@pytest.mark.parametrize("n_points", [3, 4, 15])
def test_agrees_with_vertex_shift_on_symmetric_grids(name, grid, center, n_points):
    s = sl.SURFACES[name]
    w = center + symmetric_offsets(np.log10(grid), n_points)
    expected = vertex_shift(s.alpha, s.beta, grid, n_points, center)
    assert vertex_shift_offsets(s.alpha, s.beta, w) == pytest.approx(expected, abs=1e-12)


def test_zero_on_symmetric_surface_centred():
    s = sl.SURFACES["symmetric"]
    for grid in (2.0, 8.0, 100.0):
        w = symmetric_offsets(np.log10(grid), 15)
        assert abs(vertex_shift_offsets(s.alpha, s.beta, w)) < 1e-14
        check = check_design(sl.sample_isoflops(s, grid=grid), s)
        for col in ("vertex_shift_N", "vertex_shift_D"):
            assert np.abs(check.per_budget[col]).max() < 1e-12
        assert max(abs(check.a0_bias), abs(check.b0_bias)) < 1e-12
        assert max(abs(check.a_bias), abs(check.b_bias)) < 1e-12
        assert abs(check.D_error) < 1e-10
        assert check.warnings == []


def test_matches_independent_polyfit_at_uneven_offsets():
    s = sl.SURFACES["chinchilla"]
    w = np.array([-0.9, -0.5, -0.41, 0.02, 0.3, 0.75, 1.2])
    f = 10 ** (-s.alpha * w) + (s.alpha / s.beta) * 10 ** (s.beta * w)
    c2, c1, _ = np.polyfit(w, f, 2)
    assert vertex_shift_offsets(s.alpha, s.beta, w) == pytest.approx(-c1 / (2 * c2), abs=1e-10)


offsets_strategy = st.lists(
    st.floats(-1.2, 1.2, allow_nan=False), min_size=3, max_size=12, unique=True
).filter(lambda xs: np.ptp(xs) > 0.1 and np.unique(np.round(xs, 3)).size >= 3)


@settings(max_examples=60, deadline=None)
@given(
    offsets=offsets_strategy,
    alpha=st.floats(0.1, 0.8),
    beta=st.floats(0.1, 0.8),
    budget_exp=st.floats(16.0, 23.0),
)
def test_matches_numerical_approach2_at_any_offsets(offsets, alpha, beta, budget_exp):
    s = sl.LossSurface(E=1.7, A=400.0, B=410.0, alpha=alpha, beta=beta)
    w = np.sort(np.asarray(offsets))
    budgets = [10.0**budget_exp, 10.0 ** (budget_exp + 1)]
    runs = pd.concat([runs_at_offsets(s, c, w) for c in budgets], ignore_index=True)
    opt = sl.fit_approach2(runs).optima
    shift_n = np.log10(opt["N_opt"].iloc[0] / s.N_opt(budgets[0]))
    shift_d = np.log10(opt["D_opt"].iloc[0] / s.D_opt(budgets[0]))
    assert vertex_shift_offsets(alpha, beta, w) == pytest.approx(shift_n, abs=1e-8)
    assert vertex_shift_offsets_D(alpha, beta, w) == pytest.approx(shift_d, abs=1e-8)


@settings(max_examples=60, deadline=None)
@given(offsets=offsets_strategy, alpha=st.floats(0.1, 0.8), beta=st.floats(0.1, 0.8))
def test_D_shift_is_minus_N_shift_on_isoflop_line(offsets, alpha, beta):
    # log10 D/D* = -log10 N/N*, and the loss values are the same runs: the D-parabola is
    # the N-parabola reflected, so its vertex shift is the negative.
    w = np.asarray(offsets)
    n_shift = vertex_shift_offsets(alpha, beta, w)
    assert vertex_shift_offsets_D(alpha, beta, w) == pytest.approx(-n_shift, abs=1e-10)


DESIGNS = {
    "centred": {},
    "offset 3x": {"center_scale": 3.0},
    "offset 1/2x": {"center_scale": 0.5},
    "drift 3x": {"drift": 3.0},
    "drift + offset": {"drift": 2.0, "center_scale": 1.5},
}


@pytest.mark.parametrize("name", SURFACE_NAMES)
@pytest.mark.parametrize("design", list(DESIGNS))
@pytest.mark.parametrize("grid", [2.0, 8.0, 30.0])
def test_biases_match_numerical_approach2(name, design, grid):
    s = sl.SURFACES[name]
    runs = sl.sample_isoflops(s, grid=grid, **DESIGNS[design])
    fit = sl.fit_approach2(runs)
    check = check_design(runs, s)
    assert check.a_bias == pytest.approx(fit.a - s.a, abs=1e-9)
    assert check.b_bias == pytest.approx(fit.b - s.b, abs=1e-9)
    assert check.a0_bias == pytest.approx(fit.a0 - s.a0, abs=1e-9)
    assert check.b0_bias == pytest.approx(fit.b0 - s.b0, abs=1e-9)
    true_err = fit.D_opt(1e24) / s.D_opt(1e24) - 1.0
    assert check.D_error == pytest.approx(true_err, abs=1e-8)
    n_err = fit.N_opt(3e25) / s.N_opt(3e25) - 1.0
    assert check.N_error_at(3e25) == pytest.approx(n_err, abs=1e-8)


def test_per_budget_table_describes_the_design():
    s = sl.SURFACES["chinchilla"]
    runs = sl.sample_isoflops(s, grid=4.0, n_points=9, center_scale=2.0)
    table = check_design(runs, s).to_frame()
    assert list(table.columns) == [
        "budget",
        "runs",
        "width",
        "center_offset",
        "vertex_shift_N",
        "vertex_shift_D",
    ]
    assert table["budget"].tolist() == list(sl.DEFAULT_BUDGETS)
    assert (table["runs"] == 9).all()
    np.testing.assert_allclose(table["width"], 4.0, rtol=1e-12)
    np.testing.assert_allclose(table["center_offset"], -np.log10(2.0), atol=1e-12)


def test_unsorted_rows_and_uneven_counts():
    s = sl.SURFACES["asymmetric"]
    parts = [
        runs_at_offsets(s, 1e18, np.linspace(-0.6, 0.4, 5)),
        runs_at_offsets(s, 1e19, np.array([-0.2, 0.0, 0.1, 0.5, 0.9, 1.0, 1.3])),
        runs_at_offsets(s, 1e20, np.array([-1.0, -0.3, 0.2])),
    ]
    runs = pd.concat(parts, ignore_index=True).sample(frac=1.0, random_state=0)
    fit = sl.fit_approach2(runs)
    check = check_design(runs, s)
    assert check.per_budget["runs"].tolist() == [5, 7, 3]
    assert check.b_bias == pytest.approx(fit.b - s.b, abs=1e-9)
    assert check.b0_bias == pytest.approx(fit.b0 - s.b0, abs=1e-9)


def test_D_error_warning_fires_above_threshold_only():
    s = sl.SURFACES["chinchilla"]
    runs = sl.sample_isoflops(s, grid=8.0)
    err = abs(check_design(runs, s).D_error)
    assert err > 1e-4
    below = check_design(runs, s, threshold=1.01 * err)
    above = check_design(runs, s, threshold=0.99 * err)
    assert not any("misstate D*" in w for w in below.warnings)
    assert sum("misstate D*" in w for w in above.warnings) == 1


@pytest.mark.parametrize(
    ("scale", "fires"), [(1.4, False), (1 / 1.4, False), (1.6, True), (0.6, True)]
)
def test_off_centre_warning(scale, fires):
    s = sl.SURFACES["symmetric"]
    check = check_design(sl.sample_isoflops(s, grid=4.0, center_scale=scale), s, threshold=10.0)
    assert any("away from the surface's N*" in w for w in check.warnings) is fires
    assert not any("moves by" in w for w in check.warnings)


@pytest.mark.parametrize(("drift", "fires"), [(1.4, False), (1.6, True), (0.5, True)])
def test_drift_warning(drift, fires):
    s = sl.SURFACES["symmetric"]
    check = check_design(sl.sample_isoflops(s, grid=4.0, drift=drift), s, threshold=10.0)
    assert any("moves by" in w for w in check.warnings) is fires


def test_result_is_readable_and_serialisable():
    s = sl.SURFACES["asymmetric"]
    check = check_design(sl.sample_isoflops(s, grid=8.0, drift=3.0), s)
    assert isinstance(check, DesignCheck)
    assert check.imbalance == pytest.approx(3.0)
    d = check.to_dict()
    assert d["D_error"] == check.D_error and d["warnings"] == check.warnings
    text = repr(check)
    assert "alpha/beta=3" in text and "warning:" in text
    assert check.D_error_at(np.array([1e22, 1e24])).shape == (2,)


def test_bad_input_errors():
    s = sl.SURFACES["chinchilla"]
    runs = sl.sample_isoflops(s, grid=4.0, n_points=5)
    with pytest.raises(ValueError, match="'loss'"):
        check_design(runs.drop(columns="loss"), s)
    bad = runs.copy()
    bad.loc[3, "params"] = np.nan
    with pytest.raises(ValueError, match=r"'params'.*\[3\]"):
        check_design(bad, s)
    with pytest.raises(ValueError, match="at least 2 distinct budgets"):
        check_design(runs[runs["budget"] == 1e19], s)
    with pytest.raises(ValueError, match="at least 3 per budget"):
        check_design(runs.drop(index=[0, 1, 2]), s)
    dup = runs.copy()
    dup.loc[[2, 3, 4], "params"] = dup.loc[1, "params"]  # budget 1e17: 2 distinct sizes
    with pytest.raises(ValueError, match=r"budget 1e\+17: fewer than 3 distinct params"):
        check_design(dup, s)
    with pytest.raises(ValueError, match="LossSurface"):
        check_design(runs, s.to_dict())
    with pytest.raises(ValueError, match="threshold"):
        check_design(runs, s, threshold=0.0)
    with pytest.raises(ValueError, match="extrapolate_to"):
        check_design(runs, s, extrapolate_to=-1.0)


def test_offsets_bad_input():
    with pytest.raises(ValueError, match="3 distinct offsets"):
        vertex_shift_offsets(0.3, 0.3, [0.0, 0.1, 0.1])
    with pytest.raises(ValueError, match="finite"):
        vertex_shift_offsets(0.3, 0.3, [0.0, np.nan, 0.2])
    with pytest.raises(ValueError, match="alpha"):
        vertex_shift_offsets(-0.3, 0.3, [0.0, 0.1, 0.2])
    with pytest.raises(ValueError, match="beta"):
        vertex_shift_offsets_D(0.3, 0.0, [0.0, 0.1, 0.2])


def test_replay_equals_closed_form_on_the_isoflop_line():
    s = sl.SURFACES["asymmetric"]
    runs = sl.sample_isoflops(s, grid=6.0, drift=2.0, n_points=7)
    runs["loss"] = 99.0  # the replay must not read the observed losses
    fit = replay_approach2(runs, s)
    check = check_design(runs, s)
    assert fit.b - s.b == pytest.approx(check.b_bias, abs=1e-9)
    assert fit.b0 - s.b0 == pytest.approx(check.b0_bias, abs=1e-9)
    assert not any("6·params·tokens" in w for w in check.warnings)


def test_off_line_runs_are_flagged():
    s = sl.SURFACES["chinchilla"]
    runs = sl.sample_isoflops(s, grid=4.0, n_points=7)
    runs.loc[[2, 9], "tokens"] *= 1.2
    check = check_design(runs, s, threshold=10.0)
    (msg,) = [w for w in check.warnings if "6·params·tokens" in w]
    assert "2 of 35 runs" in msg and "[2, 9]" in msg


def test_curvature_table_reports_missing_minima():
    from scaling_lab.design import curvature_table

    s = sl.SURFACES["chinchilla"]
    runs = sl.sample_isoflops(s, budgets=[1e18, 1e19, 1e20], grid=4.0, n_points=5)
    fit = sl.fit_approach2(runs)
    hill = runs["budget"] == 1e19
    runs.loc[hill, "loss"] = 10.0 - runs.loc[hill, "loss"]  # turn that valley into a hill
    runs = pd.concat([runs, runs_at_offsets(s, 1e21, np.array([0.0, 0.1]))], ignore_index=True)
    table = curvature_table(runs)
    assert table["has_minimum"].tolist() == [True, False, True, False]
    assert table["distinct_params"].tolist() == [5, 5, 5, 2]
    assert table["curvature"].iloc[1] < 0 and np.isnan(table["curvature"].iloc[3])
    assert np.isnan(table["vertex"].iloc[[1, 3]]).all()
    np.testing.assert_allclose(
        table["vertex"].iloc[[0, 2]], np.log10(fit.optima["N_opt"].iloc[[0, 2]]), atol=1e-9
    )
    np.testing.assert_allclose(
        table["curvature"].iloc[[0, 2]], fit.optima["curvature_N"].iloc[[0, 2]], rtol=1e-9
    )


def test_fit_pair_reports_failures():
    from scaling_lab.design import fit_pair

    s = sl.SURFACES["chinchilla"]
    runs = sl.sample_isoflops(s, budgets=[1e18, 1e19, 1e20], grid=4.0, n_points=5)
    good = fit_pair(runs)
    assert good.approach2_error == "" and good.vpnls_error == ""
    assert good.to_dict()["vpnls_alpha"] == pytest.approx(s.alpha, rel=1e-8)
    hill = runs["budget"] == 1e19
    runs.loc[hill, "loss"] = 10.0 - runs.loc[hill, "loss"]
    bad = fit_pair(runs)
    assert bad.approach2 is None and bad.approach2_error.startswith("FitError: budget(s) 1e+19")
    assert np.isnan(bad.to_dict()["approach2_a"]) and bad.vpnls is not None
    assert "failed" in repr(bad)


def test_bootstrap_imbalance_resamples_within_budgets_and_is_seeded():
    from scaling_lab.bootstrap import resample_indices
    from scaling_lab.design import bootstrap_imbalance

    truth = sl.SURFACES["asymmetric"]
    runs = sl.sample_isoflops(truth, n_points=9, grid=4.0, noise=0.002, seed=3)
    boot = bootstrap_imbalance(runs.assign(extra=1), n_boot=12, seed=5)
    assert list(boot.draws.columns) == ["alpha", "beta", "alpha/beta"]
    np.testing.assert_array_equal(
        boot.draws.to_numpy(), bootstrap_imbalance(runs, n_boot=12, seed=5).draws.to_numpy()
    )
    # draw 0 is the VPNLS fit of the runs chosen within each budget
    idx = resample_indices(12, runs["budget"].to_numpy(), seed=5)[0]
    first = sl.fit_vpnls(runs.iloc[idx].reset_index(drop=True)).surface
    assert boot.draws.iloc[0]["alpha/beta"] == pytest.approx(first.alpha / first.beta, rel=1e-12)
    assert (runs["budget"].to_numpy()[idx] == runs["budget"].to_numpy()).all()
    iv = boot.intervals(0.9).loc["alpha/beta"]
    assert iv["lower"] > 1  # a ratio-3 surface with small noise resolves alpha > beta
