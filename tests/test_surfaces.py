import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.optimize import minimize_scalar

import scaling_lab as sl
from scaling_lab.surfaces import IMBALANCE_EXPONENT_SUM


def test_presets_match_the_design_values():
    sym, chin, asym = (sl.SURFACES[k] for k in ("symmetric", "chinchilla", "asymmetric"))
    assert sym.to_dict() == {"E": 1.69, "A": 400.0, "B": 400.0, "alpha": 0.31, "beta": 0.31}
    assert chin.to_dict() == {"E": 1.69, "A": 406.4, "B": 410.7, "alpha": 0.34, "beta": 0.28}
    assert asym.to_dict() == {"E": 1.69, "A": 406.4, "B": 410.7, "alpha": 0.465, "beta": 0.155}
    assert sl.PUBLISHED_SURFACES["soda"].A == 215886.0


@pytest.mark.parametrize("name", ["symmetric", "chinchilla", "asymmetric"])
@pytest.mark.parametrize("budget", [1e17, 1e20, 1e24])
def test_optimum_minimises_loss_along_the_isoflop_line(name, budget):
    s = sl.SURFACES[name]

    def loss_at(log_n):
        n = 10.0**log_n
        return s.loss(n, budget / (6 * n))

    guess = np.log10(s.N_opt(budget))
    res = minimize_scalar(loss_at, bracket=(guess - 1, guess + 1), tol=1e-12)
    assert res.x == pytest.approx(guess, abs=1e-6)
    assert s.loss_opt(budget) == pytest.approx(res.fun, rel=1e-13)
    assert s.N_opt(budget) * s.D_opt(budget) == pytest.approx(budget / 6, rel=1e-14)


def test_allocation_exponents_and_intercepts_follow_from_the_parameters():
    s = sl.SURFACES["chinchilla"]
    assert s.a == pytest.approx(0.28 / 0.62, rel=1e-15)
    assert s.b == pytest.approx(0.34 / 0.62, rel=1e-15)
    assert s.G == pytest.approx((0.34 * 406.4 / (0.28 * 410.7)) ** (1 / 0.62), rel=1e-15)
    c = np.array([1e18, 1e22])
    assert np.allclose(np.log10(s.N_opt(c)), s.a * np.log10(c) + s.a0, rtol=1e-14, atol=0)
    assert np.allclose(np.log10(s.D_opt(c)), s.b * np.log10(c) + s.b0, rtol=1e-14, atol=0)


def test_compute_for_loss_inverts_loss_opt():
    s = sl.SURFACES["asymmetric"]
    c = np.geomspace(1e15, 1e26, 12)
    assert np.allclose(s.compute_for_loss(s.loss_opt(c)), c, rtol=1e-11, atol=0)
    assert isinstance(s.compute_for_loss(2.5), float)
    with pytest.raises(ValueError, match="irreducible loss"):
        s.compute_for_loss(s.E)


def test_scalar_in_scalar_out_and_arrays_broadcast():
    s = sl.SURFACES["symmetric"]
    assert isinstance(s.loss(1e9, 2e10), float)
    assert isinstance(s.N_opt(1e20), float)
    assert s.loss(np.array([1e9, 1e10]), 1e11).shape == (2,)


@pytest.mark.parametrize("ratio", [1.0, 1.5, 3.0, 9.0])
def test_imbalance_family_keeps_the_exponent_sum(ratio):
    s = sl.imbalanced_surface(ratio)
    assert s.alpha / s.beta == pytest.approx(ratio, rel=1e-14)
    assert s.alpha + s.beta == pytest.approx(IMBALANCE_EXPONENT_SUM, rel=1e-15)
    assert (s.E, s.A, s.B) == (1.69, 406.4, 410.7)
    asym = sl.SURFACES["asymmetric"]
    three = sl.imbalanced_surface(3.0)
    assert (three.alpha, three.beta) == pytest.approx((asym.alpha, asym.beta), rel=1e-15)


@pytest.mark.parametrize(
    "kwargs", [{"A": -1.0}, {"alpha": 0.0}, {"beta": float("nan")}, {"E": float("inf")}]
)
def test_invalid_surface_parameters_are_rejected(kwargs):
    params = {"E": 1.69, "A": 400.0, "B": 400.0, "alpha": 0.3, "beta": 0.3, **kwargs}
    with pytest.raises(ValueError, match=next(iter(kwargs))):
        sl.LossSurface(**params)


def test_surfaces_table_lists_every_preset():
    table = sl.surfaces_table(sl.SURFACES)
    assert list(table.index) == list(sl.SURFACES)
    assert table.loc["asymmetric", "alpha/beta"] == pytest.approx(3.0)


@settings(max_examples=40, deadline=None)
@given(st.floats(0.05, 20.0))
def test_imbalance_family_mirrors_below_one(ratio):
    s, mirror = sl.imbalanced_surface(ratio), sl.imbalanced_surface(1.0 / ratio)
    assert s.alpha + s.beta == pytest.approx(0.62, rel=1e-14)
    assert s.alpha / s.beta == pytest.approx(ratio, rel=1e-12)
    # Ratio r and 1/r swap the two exponents, so beta > alpha exactly when r < 1.
    assert s.alpha == pytest.approx(mirror.beta, rel=1e-12)
    if abs(ratio - 1.0) > 1e-9:
        assert (s.beta > s.alpha) == (ratio < 1)
