import numpy as np
import pandas as pd
import pytest

import scaling_lab as sl


@pytest.mark.parametrize("grid", [2.0, 3.0, 4.0, 6.0, 8.0, 12.0, 16.0])
@pytest.mark.parametrize("n_points", [5, 15])
def test_symmetric_surface_is_recovered_exactly(grid, n_points):
    s = sl.SURFACES["symmetric"]
    fit = sl.fit_approach2(sl.sample_isoflops(s, n_points=n_points, grid=grid))
    for est, true in ((fit.a, s.a), (fit.a0, s.a0), (fit.b, s.b), (fit.b0, s.b0)):
        assert abs(est - true) <= 1e-9 * abs(true)
    opt = fit.optima
    assert np.allclose(opt["N_opt"], s.N_opt(opt["budget"].to_numpy()), rtol=1e-9, atol=0)


def test_parabola_vertices_of_exact_quadratics_are_found():
    # Loss exactly quadratic in log10 N with a known vertex: the fit must return it.
    rows = []
    for budget, vertex in ((1e18, 8.3), (1e19, 8.8), (1e20, 9.3)):
        x = np.linspace(vertex - 0.7, vertex + 0.5, 9)  # deliberately off-centre
        n = 10.0**x
        loss = 2.0 + 0.3 * (x - vertex) ** 2
        rows.append(
            pd.DataFrame({"budget": budget, "params": n, "tokens": budget / (6 * n), "loss": loss})
        )
    fit = sl.fit_approach2(pd.concat(rows, ignore_index=True))
    assert np.allclose(np.log10(fit.optima["N_opt"]), [8.3, 8.8, 9.3], rtol=0, atol=1e-12)
    assert fit.a == pytest.approx(0.5, rel=1e-12)
    assert fit.a0 == pytest.approx(8.3 - 0.5 * 18, rel=1e-12)
    assert np.allclose(fit.optima["curvature_N"], 0.3, rtol=1e-10)


@pytest.mark.parametrize("name", ["chinchilla", "asymmetric"])
def test_asymmetric_surfaces_keep_exact_exponents_but_shift_intercepts(name):
    s = sl.SURFACES[name]
    fit = sl.fit_approach2(sl.sample_isoflops(s, grid=8.0))
    assert fit.a == pytest.approx(s.a, rel=1e-9)
    assert fit.b == pytest.approx(s.b, rel=1e-9)
    assert abs(fit.a0 - s.a0) > 1e-3
    assert sl.analysis.extrapolation_error(fit, s) < -0.01  # D* underestimated


def test_extrapolation_uses_the_fitted_power_law(standard_runs):
    fit = sl.fit_approach2(standard_runs)
    assert fit.D_opt(1e24) == pytest.approx(10 ** (fit.b * 24 + fit.b0), rel=1e-14)
    assert fit.N_opt(np.array([1e22, 1e23])).shape == (2,)


def test_row_order_does_not_matter(standard_runs):
    shuffled = standard_runs.sample(frac=1.0, random_state=3)
    a, b = sl.fit_approach2(standard_runs), sl.fit_approach2(shuffled)
    assert (a.a, a.a0, a.b, a.b0) == pytest.approx((b.a, b.a0, b.b, b.b0), rel=1e-13)


def test_parabolas_evaluate_to_the_fitted_losses(standard_runs):
    fit = sl.fit_approach2(standard_runs)
    par = fit.parabolas_N
    runs = standard_runs[standard_runs["budget"] == par.budget[2]]
    pred = par(2, np.log10(runs["params"]))
    assert np.max(np.abs(pred - runs["loss"])) < 0.02  # a parabola, not the exact curve
    assert "Approach2Fit(a=" in repr(fit)
    assert list(fit.to_frame().columns) == ["a", "a0", "b", "b0"]
