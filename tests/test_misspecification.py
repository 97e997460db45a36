import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import scaling_lab as sl
from scaling_lab.misspecification import OutOfFamilySurface, misspecification_table

BASE = sl.SURFACES["chinchilla"]


def test_the_family_is_the_special_case():
    s = OutOfFamilySurface(BASE)
    n, d = np.geomspace(1e7, 1e10, 5), np.geomspace(1e9, 1e12, 5)
    np.testing.assert_allclose(s.loss(n, d), BASE.loss(n, d), rtol=1e-15)
    budgets = np.array([1e17, 1e20, 1e24])
    np.testing.assert_allclose(s.N_opt(budgets), BASE.N_opt(budgets), rtol=1e-8)


@settings(max_examples=15, deadline=None)
@given(gamma=st.floats(0.0, 2.0), q=st.floats(0.5, 2.5), log_c=st.floats(17.0, 24.0))
def test_n_opt_is_the_minimum_along_the_isoflop_curve(gamma, q, log_c):
    s = OutOfFamilySurface(BASE, interaction=gamma, shape=q)
    c = 10.0**log_c
    n = s.N_opt(c)
    for factor in (0.99, 1.01):
        assert s.loss(n * factor, c / (6 * n * factor)) >= s.loss(n, c / (6 * n))


def test_shape_change_keeps_the_family_exponents():
    # (x^(1/q) + y^(1/q))^q is minimised along C = 6ND where x/y is constant.
    s = OutOfFamilySurface(BASE, shape=1.7)
    a, b = s.local_exponents([1e17, 1e19, 1e21])
    assert a == pytest.approx(BASE.a, abs=1e-7) and b == pytest.approx(BASE.b, abs=1e-7)


def test_interaction_bends_the_optimum():
    s = OutOfFamilySurface(BASE, interaction=1.0)
    low, _ = s.local_exponents([1e17, 1e18])
    high, _ = s.local_exponents([1e23, 1e24])
    assert abs(high - low) > 1e-3


def test_table_on_the_family_recovers_vpnls_exactly():
    out = misspecification_table({"family": OutOfFamilySurface(BASE)}).set_index("method")
    assert abs(out.loc["vpnls", "D* error at target"]) < 1e-9
    assert out.loc["vpnls", "rms residual"] < 1e-12
    assert abs(out.loc["approach2", "a error"]) < 1e-8


@pytest.mark.parametrize("kwargs", [{"interaction": -1.0}, {"shape": 0.0}, {"shape": np.nan}])
def test_bad_parameters_are_rejected(kwargs):
    with pytest.raises(ValueError):
        OutOfFamilySurface(BASE, **kwargs)
