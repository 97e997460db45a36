import numpy as np
import pytest

import scaling_lab as sl
from scaling_lab.fitting.approach3 import (
    CHINCHILLA_GRID,
    RAW_GRID,
    _chinchilla_objective,
    _chinchilla_objective_and_grad,
    _raw_rss,
    _raw_rss_and_grad,
    grid_points,
)


@pytest.mark.parametrize("variant", ["mle", "chinchilla"])
@pytest.mark.parametrize("name", ["symmetric", "asymmetric"])
def test_grid_started_variants_run_and_report_status(variant, name):
    s = sl.SURFACES[name]
    fit = sl.fit_approach3(sl.sample_isoflops(s), variant=variant)
    assert fit.method == f"approach3/{variant}"
    assert isinstance(fit.status, sl.FitStatus) and fit.message
    assert fit.n_iter > 0
    # Noise-free data: a good start lands close, though not at machine precision.
    assert max(abs(v) for v in fit.relative_errors(s).values()) < 1e-3


def test_naive_variant_is_reproducible_from_its_seed(standard_runs):
    a = sl.fit_approach3(standard_runs, variant="naive", seed=123)
    b = sl.fit_approach3(standard_runs, variant="naive", seed=123)
    c = sl.fit_approach3(standard_runs, variant="naive", seed=124)
    assert a.surface == b.surface and a.rss == b.rss and a.n_iter == b.n_iter
    assert a.surface != c.surface


def test_grids_have_the_documented_sizes():
    assert grid_points(RAW_GRID).shape == (4**5, 5)
    assert grid_points(CHINCHILLA_GRID).shape == (4500, 5)


def test_vectorised_objectives_match_the_pointwise_ones(standard_runs):
    log_n = np.log(standard_runs["params"].to_numpy())
    log_d = np.log(standard_runs["tokens"].to_numpy())
    loss = standard_runs["loss"].to_numpy()
    x = np.array([1.5, 300.0, 500.0, 0.3, 0.3])
    assert _raw_rss(x[None], log_n, log_d, loss)[0] == pytest.approx(
        _raw_rss_and_grad(x, log_n, log_d, loss)[0], rel=1e-13
    )
    p = np.array([0.4, 6.0, 6.2, 0.3, 0.3])
    assert _chinchilla_objective(p[None], log_n, log_d, np.log(loss))[0] == pytest.approx(
        _chinchilla_objective_and_grad(p, log_n, log_d, np.log(loss))[0], rel=1e-13
    )


@pytest.mark.parametrize(
    ("fun", "x"),
    [
        (_raw_rss_and_grad, np.array([1.5, 300.0, 500.0, 0.3, 0.3])),
        (_chinchilla_objective_and_grad, np.array([0.4, 6.0, 6.2, 0.33, 0.29])),
    ],
)
def test_analytic_gradients_match_finite_differences(standard_runs, fun, x):
    df = sl.sample_isoflops(sl.SURFACES["chinchilla"], noise=0.05, seed=1)
    log_n, log_d = np.log(df["params"].to_numpy()), np.log(df["tokens"].to_numpy())
    target = df["loss"].to_numpy()
    if fun is _chinchilla_objective_and_grad:
        target = np.log(target)
    _, grad = fun(x, log_n, log_d, target)
    for k in range(5):
        h = 1e-6 * max(1.0, abs(x[k]))
        step = np.zeros(5)
        step[k] = h
        fd = (fun(x + step, log_n, log_d, target)[0] - fun(x - step, log_n, log_d, target)[0]) / (
            2 * h
        )
        assert grad[k] == pytest.approx(fd, rel=1e-4, abs=1e-10)


def test_numerical_gradient_option(standard_runs):
    fit = sl.fit_approach3(standard_runs, variant="mle", jac="3-point")
    assert fit.method == "approach3/mle"
    with pytest.raises(ValueError, match="jac must be one of"):
        sl.fit_approach3(standard_runs, jac="exact")


def test_more_refinements_never_do_worse(standard_runs):
    one = sl.fit_approach3(standard_runs, variant="mle", n_refine=1)
    four = sl.fit_approach3(standard_runs, variant="mle", n_refine=4)
    assert four.rss <= one.rss * (1 + 1e-12)
