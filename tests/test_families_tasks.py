"""Task laws, breakpoint test, correlation power, extrapolation and transfer."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import special, stats

from scaling_lab.families import data
from scaling_lab.families.correlation import correlate, critical_r, detectable_r
from scaling_lab.families.extrapolation import rolling_origin_loss
from scaling_lab.families.tasks import breakpoint_test, fit_task_law, holm
from scaling_lab.families.transfer import loss_equivalent_size, scaling_variable
from scaling_lab.surfaces import SURFACES

N = np.geomspace(1.1e8, 1.3e10, 7)


@pytest.mark.parametrize(
    ("chance", "k", "x0"), [(0.25, 1.2, 9.8), (0.5, 2.0, 10.3), (0.0, 0.9, 9.2)]
)
def test_sigmoid_recovers_noise_free_parameters(chance, k, x0):
    acc = chance + (1 - chance) * special.expit(k * (np.log10(N) - x0))
    fit = fit_task_law(N, acc, np.full(7, 0.01), chance)
    assert fit.params["k"] == pytest.approx(k, rel=1e-8)
    assert fit.params["x0"] == pytest.approx(x0, rel=1e-8)
    assert fit.chi2 < 1e-12 and fit.converged and fit.flag is None


def test_bounded_power_law_recovers_noise_free_parameters():
    acc = 1 - 0.45 * (N / 1e9) ** -0.12
    fit = fit_task_law(N, acc, np.full(7, 0.01), 0.25, form="power")
    assert fit.params["A"] == pytest.approx(0.45, rel=1e-8)
    assert fit.params["alpha"] == pytest.approx(0.12, rel=1e-8)


def test_chi_square_calibration_under_the_true_law():
    # with binomial noise of the stated size, p < 0.05 in about 5% of datasets
    rng = np.random.default_rng(0)
    se = np.full(7, 0.012)
    truth = 0.25 + 0.75 * special.expit(1.1 * (np.log10(N) - 9.9))
    m = 150
    rejections = sum(
        fit_task_law(N, truth + se * rng.standard_normal(7), se, 0.25).p_value < 0.05
        for _ in range(m)
    )
    lo, hi = stats.binom.ppf([0.0005, 0.9995], m, 0.05)
    assert lo <= rejections <= hi


def test_breakpoint_test_size_and_power():
    rng = np.random.default_rng(1)
    x = np.log10(N)
    se = np.full(7, 0.01)
    line = 0.3 + 0.08 * (x - 8)
    m = 150
    p_null = [breakpoint_test(N, line + se * rng.standard_normal(7), se, n_sim=500, seed=i).p_value
              for i in range(m)]  # fmt: skip
    lo, hi = stats.binom.ppf([0.0005, 0.9995], m, 0.05)
    assert lo <= sum(p < 0.05 for p in p_null) <= hi
    kinked = 0.3 + 0.01 * (x - 8) + 0.2 * np.maximum(x - x[4], 0)
    bt = breakpoint_test(N, kinked, se, n_sim=2000)
    assert bt.p_value < 0.01 and bt.knot_log10N == pytest.approx(x[4])


def test_holm():
    assert holm({"a": 0.001, "b": 0.02, "c": 0.04}) == {"a": True, "b": True, "c": True}
    assert holm({"a": 0.001, "b": 0.03, "c": 0.04}) == {"a": True, "b": False, "c": False}


def test_task_bad_input():
    with pytest.raises(ValueError, match=r"acc has invalid values at rows \[2\]"):
        fit_task_law(N, [0.3, 0.4, 1.5, 0.5, 0.6, 0.7, 0.8], np.full(7, 0.01), 0.25)
    with pytest.raises(ValueError, match=r"se has invalid values at rows \[0\]"):
        fit_task_law(N, np.full(7, 0.5), np.r_[0.0, np.full(6, 0.01)], 0.25)
    with pytest.raises(ValueError, match="form must be one of"):
        fit_task_law(N, np.full(7, 0.5), np.full(7, 0.01), 0.25, form="logistic")


def test_correlation_power_statements():
    # the critical r is where the exact test's p-value equals 0.05
    r = critical_r(6)
    x = np.array([-1.0, -0.6, -0.2, 0.2, 0.6, 1.0])
    e = np.array([1.0, -1.0, -1.0, 1.0, 1.0, -1.0])
    e = e - e.mean() - (e @ x) / (x @ x) * x  # orthogonal to x and the constant
    y = r * x / x.std() + np.sqrt(1 - r**2) * e / e.std()
    assert np.corrcoef(x, y)[0, 1] == pytest.approx(r, rel=1e-10)
    assert stats.pearsonr(x, y).pvalue == pytest.approx(0.05, rel=1e-6)
    # 80% power at n = 6 by simulation of bivariate normal pairs
    rng = np.random.default_rng(0)
    rho = detectable_r(6)
    z = rng.standard_normal((4000, 2, 6))
    y = rho * z[:, 0] + np.sqrt(1 - rho**2) * z[:, 1]
    rs = np.array([np.corrcoef(a, b)[0, 1] for a, b in zip(z[:, 0], y, strict=True)])
    power = np.mean(np.abs(rs) > r)
    assert 0.78 < power < 0.92  # Fisher z is approximate (conservative) at n = 6
    c = correlate(x, y[0])
    assert c.interval[0] < c.r < c.interval[1]


def test_rolling_origin_is_exact_on_a_noise_free_power_law():
    loss = (8.8e13 / N) ** 0.076
    err = rolling_origin_loss(N, loss, forms=("power",))
    assert np.abs(err["error_pct"]).max() < 1e-8
    assert sorted(err.groupby("k").size().to_dict().items()) == [(4, 3), (5, 2), (6, 1)]


def test_loss_equivalent_size():
    s = SURFACES["chinchilla"]
    # a model trained at exactly 20 tokens per parameter is its own equivalent
    assert loss_equivalent_size([1e9], [2e10])[0] == pytest.approx(1e9, rel=1e-9)
    n_eq = loss_equivalent_size([7e7], [3e11])[0]
    assert s.loss(n_eq, 20 * n_eq) == pytest.approx(s.loss(7e7, 3e11), rel=1e-10)
    assert n_eq > 7e7  # over-training is worth some, not all, of the extra compute
    assert 6 * n_eq * 20 * n_eq < 6 * 7e7 * 3e11
    with pytest.raises(ValueError, match="variant"):
        scaling_variable("tokens", [1e9], [1e10])


def test_benchmark_table():
    assert {b.chance for b in data.BENCHMARKS.values()} == {0.0, 0.25, 0.5}
    assert data.BENCHMARKS["openbookqa"].items == 500


def test_fitted_floor_recovers_a_floor_below_chance():
    from scaling_lab.families.tasks import fit_floor_sigmoid

    N = np.geomspace(1e8, 1.3e10, 7)
    floor, k, x0 = 0.15, 1.3, 10.2
    acc = floor + (1 - floor) * special.expit(k * (np.log10(N) - x0))
    se = np.full(N.size, 0.01)
    fixed = fit_task_law(N, acc, se, 0.25, "sigmoid")
    free = fit_floor_sigmoid(N, acc, se)
    assert fixed.p_value < 1e-6  # a floor fixed at chance cannot follow it
    assert free.dof == N.size - 3 and free.p_value > 0.999
    np.testing.assert_allclose(
        [free.chance, free.params["k"], free.params["x0"]], [floor, k, x0], rtol=1e-6
    )
    with pytest.raises(ValueError, match="at least 4"):
        fit_floor_sigmoid(N[:3], acc[:3], se[:3])
