import numpy as np
import pandas as pd
import pytest
from scipy.optimize import nnls

import scaling_lab as sl
from scaling_lab.fitting.vpnls import _Projection, exponent_grid, projected_rss_grid

GRIDS = np.geomspace(2.0, 100.0, 8)
TOLERANCE = {"gauss-newton": 1e-10, "nelder-mead": 1e-8, "l-bfgs-b": 1e-8}


def max_rel_error(fit, surface):
    return max(abs(v) for v in fit.relative_errors(surface).values())


@pytest.mark.parametrize("method", list(TOLERANCE))
@pytest.mark.parametrize("name", ["symmetric", "chinchilla", "asymmetric"])
def test_noise_free_recovery_on_every_preset_and_grid(method, name):
    s = sl.SURFACES[name]
    for grid in GRIDS:
        fit = sl.fit_vpnls(sl.sample_isoflops(s, grid=grid), method=method)
        assert max_rel_error(fit, s) <= TOLERANCE[method], (grid, fit)
        assert fit.status in (sl.FitStatus.CONVERGED, sl.FitStatus.LINE_SEARCH)


def test_recovery_survives_offset_and_drift():
    s = sl.SURFACES["asymmetric"]
    df = sl.sample_isoflops(s, grid=16, center_scale=3.0, drift=3.0)
    assert max_rel_error(sl.fit_vpnls(df), s) <= 1e-10


@pytest.fixture
def noisy():
    df = sl.sample_isoflops(sl.SURFACES["chinchilla"], noise=0.02, seed=11)
    return np.log(df["params"].to_numpy()), np.log(df["tokens"].to_numpy()), df["loss"].to_numpy()


def test_batched_grid_matches_scipy_nnls_point_by_point(noisy):
    log_n, log_d, loss = noisy
    grid = exponent_grid(12)
    rss, coef = projected_rss_grid(log_n, log_d, loss, grid, grid)
    for i, alpha in enumerate(grid):
        for j, beta in enumerate(grid):
            X = np.column_stack([np.ones_like(loss), np.exp(-alpha * log_n), np.exp(-beta * log_d)])
            ref, rnorm = nnls(X, loss)
            assert rss[i, j] == pytest.approx(rnorm**2, rel=1e-9, abs=1e-14)
            assert coef[i, j] == pytest.approx(ref, rel=1e-6, abs=1e-9)


def test_projected_jacobian_matches_finite_differences(noisy):
    prob = _Projection(*noisy)
    theta = np.array([0.31, 0.27])
    jac = prob.jacobian(theta)
    h = 1e-6
    for k in range(2):
        step = np.zeros(2)
        step[k] = h
        fd = (prob.residual(theta + step) - prob.residual(theta - step)) / (2 * h)
        assert np.allclose(jac[:, k], fd, rtol=1e-5, atol=1e-9)


def test_envelope_gradient_matches_finite_differences(noisy):
    prob = _Projection(*noisy)
    theta = np.array([0.4, 0.2])
    grad = prob.rss_ols_grad(theta)
    h = 1e-6
    fd = [(prob.rss_ols(theta + h * e) - prob.rss_ols(theta - h * e)) / (2 * h) for e in np.eye(2)]
    assert grad == pytest.approx(fd, rel=1e-5)


def test_methods_agree_on_noisy_data():
    df = sl.sample_isoflops(sl.SURFACES["asymmetric"], noise=0.01, seed=5)
    fits = [sl.fit_vpnls(df, method=m) for m in ("gauss-newton", "nelder-mead", "l-bfgs-b")]
    ref = fits[0]
    assert ref.status is sl.FitStatus.CONVERGED
    for fit in fits[1:]:
        assert fit.rss == pytest.approx(ref.rss, rel=1e-8)
        assert (fit.alpha, fit.beta) == pytest.approx((ref.alpha, ref.beta), rel=1e-5)


def test_grid_only_returns_the_best_grid_point(standard_runs):
    fit = sl.fit_vpnls(standard_runs, method="grid", grid_size=91)  # spacing 0.01
    assert fit.alpha == pytest.approx(0.34, abs=0.005 + 1e-12)
    assert fit.beta == pytest.approx(0.28, abs=0.005 + 1e-12)
    assert fit.n_iter == 0 and fit.method == "vpnls/grid"


def test_exponent_outside_the_search_box_is_reported_as_a_bound_hit():
    s = sl.LossSurface(E=1.69, A=400.0, B=400.0, alpha=0.98, beta=0.3)
    fit = sl.fit_vpnls(sl.sample_isoflops(s, grid=8))
    assert fit.status is sl.FitStatus.BOUND_HIT
    assert fit.alpha == pytest.approx(0.95, abs=1e-6)
    assert "alpha" in fit.message


def test_coefficients_stay_non_negative_when_least_squares_would_go_negative():
    # True E = 0 plus noise: ordinary least squares gives E < 0 for this seed.
    s = sl.LossSurface(E=1e-9, A=400.0, B=400.0, alpha=0.3, beta=0.3)
    df = sl.sample_isoflops(s, noise=0.02, seed=2)
    fit = sl.fit_vpnls(df)
    assert min(fit.E, fit.A, fit.B) >= 0
    X = np.column_stack([np.ones(len(df)), df["params"] ** -fit.alpha, df["tokens"] ** -fit.beta])
    _, rnorm = nnls(X, df["loss"].to_numpy())
    assert fit.rss <= rnorm**2 * (1 + 1e-9)
    assert "NNLS" in fit.message


def test_same_input_gives_identical_results(standard_runs):
    a, b = sl.fit_vpnls(standard_runs), sl.fit_vpnls(standard_runs.copy())
    assert a.surface == b.surface and a.rss == b.rss


def test_result_api(standard_runs):
    fit = sl.fit_vpnls(standard_runs)
    s = sl.SURFACES["chinchilla"]
    assert fit.a == pytest.approx(s.a, rel=1e-10) and fit.b == pytest.approx(s.b, rel=1e-10)
    assert fit.D_opt(1e24) == pytest.approx(s.D_opt(1e24), rel=1e-9)
    assert fit.N_opt(1e24) == pytest.approx(s.N_opt(1e24), rel=1e-9)
    frame = fit.to_frame()
    assert isinstance(frame, pd.DataFrame) and frame.loc[0, "status"] == "converged"
    assert repr(fit).startswith("SurfaceFit(method='vpnls/gauss-newton', E=1.69")
    table = sl.fits_table({"vp": fit}, truth=s)
    assert table.loc["vp", "max |relative error|"] <= 1e-10
