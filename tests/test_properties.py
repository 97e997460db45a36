"""Property-based tests: the fitters across random surfaces and designs."""

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import scaling_lab as sl

exponent = st.floats(0.1, 0.9)
coefficient = st.floats(30.0, 1e4)
irreducible = st.floats(0.5, 3.0)
grid_width = st.floats(2.0, 100.0)
points = st.integers(5, 30)

SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@SETTINGS
@given(irreducible, coefficient, coefficient, exponent, exponent, grid_width, points)
def test_vpnls_recovers_random_noise_free_surfaces(E, A, B, alpha, beta, grid, n):
    s = sl.LossSurface(E=E, A=A, B=B, alpha=alpha, beta=beta)
    fit = sl.fit_vpnls(sl.sample_isoflops(s, grid=grid, n_points=n))
    errors = fit.relative_errors(s)
    assert max(abs(v) for v in errors.values()) <= 1e-8, (errors, fit)
    assert fit.status is sl.FitStatus.CONVERGED


@SETTINGS
@given(irreducible, coefficient, exponent, grid_width, points)
def test_approach2_is_exact_on_symmetric_surfaces(E, A, alpha, grid, n):
    s = sl.LossSurface(E=E, A=A, B=A, alpha=alpha, beta=alpha)
    fit = sl.fit_approach2(sl.sample_isoflops(s, grid=grid, n_points=n))
    est = np.array([fit.a, fit.a0, fit.b, fit.b0])
    true = np.array([s.a, s.a0, s.b, s.b0])
    assert np.all(np.abs(est - true) <= 1e-9 * np.abs(true))


@SETTINGS
@given(
    irreducible,
    coefficient,
    coefficient,
    exponent,
    exponent,
    st.floats(2.0, 16.0),
    st.floats(0.25, 4.0),
)
def test_approach2_exponents_survive_any_constant_offset(E, A, B, alpha, beta, grid, offset):
    # A constant offset shifts every vertex by the same amount in log space, so it can
    # move the intercepts but never the slopes.
    s = sl.LossSurface(E=E, A=A, B=B, alpha=alpha, beta=beta)
    fit = sl.fit_approach2(sl.sample_isoflops(s, grid=grid, center_scale=offset))
    assert abs(fit.a - s.a) <= 1e-9 * s.a
    assert abs(fit.b - s.b) <= 1e-9 * s.b
