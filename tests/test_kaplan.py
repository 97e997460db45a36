"""Kaplan's non-embedding allocation on a Chinchilla truth (scaling_lab.kaplan)."""

import numpy as np
import pytest
from scipy.optimize import minimize_scalar

import scaling_lab as sl
from scaling_lab.kaplan import (
    Shape,
    budget_for,
    exponent_limits,
    fit_exponent,
    kaplan_budget_range,
    local_exponent,
    optimal_size,
    where_effect_stops,
)

TRUTH = sl.SURFACES["chinchilla"]


def test_without_embeddings_kaplan_finds_chinchillas_exponent():
    shape = Shape(vocab=0)
    fit = fit_exponent(TRUTH, 1e12, 1e24, shape)
    assert fit.exponent == pytest.approx(TRUTH.a, abs=1e-10)
    np.testing.assert_allclose(
        optimal_size(TRUTH, [1e15, 1e22], shape), TRUTH.N_opt([1e15, 1e22]), rtol=1e-11
    )


@pytest.mark.parametrize("vocab", [8000, 50257, 256000])
@pytest.mark.parametrize("budget", [1e13, 1e17, 1e21])
def test_optimal_size_is_the_minimum_of_the_loss(vocab, budget):
    shape = Shape(vocab=vocab)
    n = optimal_size(TRUTH, budget, shape)

    def loss(x):
        return TRUTH.loss(shape.total(np.exp(x)), budget / (6 * np.exp(x)))

    res = minimize_scalar(
        loss, bounds=(np.log(n) - 3, np.log(n) + 3), method="bounded", options={"xatol": 1e-10}
    )
    assert np.exp(res.x) == pytest.approx(n, rel=1e-6)
    assert loss(np.log(n)) <= loss(res.x) + 1e-15
    assert budget_for(TRUTH, n, shape) == pytest.approx(budget, rel=1e-11)


def test_local_exponent_is_the_slope_and_has_its_limits():
    shape = Shape()
    n = np.geomspace(1e3, 1e12, 7)
    c = budget_for(TRUTH, n, shape)
    h = 1e-4
    up = np.log(budget_for(TRUTH, n * np.exp(h), shape))
    down = np.log(budget_for(TRUTH, n * np.exp(-h), shape))
    slope = 2 * h / (up - down)
    np.testing.assert_allclose(local_exponent(TRUTH, n, shape), slope, rtol=1e-7)
    assert np.all(np.diff(c) > 0)
    small, large = exponent_limits(TRUTH)
    assert local_exponent(TRUTH, 1e-3, shape) == pytest.approx(small, rel=1e-3)
    assert local_exponent(TRUTH, 1e18, shape) == pytest.approx(large, rel=1e-3)


def test_the_effect_over_kaplans_range_and_where_it_stops():
    shape = Shape()
    lo, hi = kaplan_budget_range(TRUTH, shape)
    small = fit_exponent(TRUTH, lo, hi, shape).exponent
    wide = fit_exponent(TRUTH, lo, 1e24, shape).exponent
    assert small > wide > TRUTH.a + 0.05
    stop = where_effect_stops(TRUTH, shape, 0.01)
    n = optimal_size(TRUTH, stop, shape)
    assert local_exponent(TRUTH, n, shape) == pytest.approx(TRUTH.a + 0.01, rel=1e-9)
    later = optimal_size(TRUTH, np.geomspace(stop, 1e30, 20)[1:], shape)
    assert np.all(local_exponent(TRUTH, later, shape) < TRUTH.a + 0.01)


def test_bad_input():
    with pytest.raises(ValueError, match="vocab"):
        Shape(vocab=-1)
    with pytest.raises(ValueError, match="aspect_ratio"):
        Shape(aspect_ratio=0)
    with pytest.raises(ValueError, match="budgets"):
        optimal_size(TRUTH, -1.0, Shape())
    with pytest.raises(ValueError, match="c_min"):
        fit_exponent(TRUTH, 1e20, 1e12, Shape())
