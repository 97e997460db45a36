"""Deadweight compute and dollar costs (scaling_lab.costs)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import scaling_lab as sl
from scaling_lab import costs
from scaling_lab.costs import (
    GpuPricing,
    cost_table,
    deadweight_fraction,
    deadweight_fraction_quadratic,
    misallocation,
    price_recommendation,
    recommendation_costs,
    with_deadweight,
)


def test_symmetric_surface_by_hand():
    """alpha = beta, A = B: N* = D* = sqrt(C/6). Training on k D* tokens uses N*/k.

    Then L - E = A N*^-alpha (k^alpha + k^-alpha) against 2 A N*^-alpha at the optimum,
    and since L* - E ∝ C^(-alpha/2), C_eq/C = (cosh(alpha ln k))^(-2/alpha).
    """
    alpha, C, k = 0.31, 1e22, 2.0
    s = sl.LossSurface(E=1.69, A=400.0, B=400.0, alpha=alpha, beta=alpha)
    n_star = np.sqrt(C / 6)
    m = misallocation(s, k * n_star, C)
    assert m.N == pytest.approx(n_star / k, rel=1e-14)
    expected_penalty = 400.0 * n_star**-alpha * (k**alpha + k**-alpha - 2.0)
    assert m.loss_penalty == pytest.approx(expected_penalty, rel=1e-12)
    expected_fraction = 1.0 - np.cosh(alpha * np.log(k)) ** (-2.0 / alpha)
    assert m.deadweight_fraction == pytest.approx(expected_fraction, rel=1e-12)
    assert m.deadweight == pytest.approx(C * expected_fraction, rel=1e-12)
    assert m.C_eq == pytest.approx(C - m.deadweight, rel=1e-14)


@pytest.mark.parametrize("name", ["symmetric", "chinchilla", "asymmetric"])
def test_deadweight_is_zero_at_the_optimum(name):
    s = sl.SURFACES[name]
    C = np.array([1e18, 1e21, 1e24, 3.8e25])
    m = misallocation(s, s.D_opt(C), C)
    np.testing.assert_allclose(m.deadweight_fraction, 0.0, atol=1e-13)
    np.testing.assert_allclose(m.loss_penalty, 0.0, atol=1e-13)


@settings(max_examples=60, deadline=None)
@given(
    alpha=st.floats(0.1, 0.9),
    beta=st.floats(0.1, 0.9),
    log_c=st.floats(18, 26),
    log_k=st.floats(-1.0, 1.0).filter(lambda v: abs(v) > 1e-3),
)
def test_deadweight_is_positive_and_consistent(alpha, beta, log_c, log_k):
    s = sl.LossSurface(E=1.7, A=400.0, B=400.0, alpha=alpha, beta=beta)
    C = 10.0**log_c
    m = misallocation(s, s.D_opt(C) * 10.0**log_k, C)
    assert 0 < m.deadweight_fraction < 1
    # The run's loss is reached by the optimal allocation at C_eq, exactly.
    assert s.loss_opt(m.C_eq) == pytest.approx(m.loss, rel=1e-12)
    assert m.loss == pytest.approx(m.loss_opt + m.loss_penalty, rel=1e-12)


def test_misallocation_broadcasts_and_frames():
    s = sl.SURFACES["chinchilla"]
    C = np.array([1e22, 1e24])
    m = misallocation(s, s.D_opt(C) * np.array([0.9, 1.1]), C)
    frame = m.to_frame()
    assert len(frame) == 2
    np.testing.assert_allclose(frame["D/N"], frame["D"] / frame["N"])
    np.testing.assert_allclose(m.token_error, [-0.1, 0.1], rtol=1e-12)
    assert "2 runs" in repr(m)


def test_bad_input_is_rejected():
    with pytest.raises(ValueError, match="positive"):
        misallocation(sl.SURFACES["chinchilla"], -1.0, 1e24)
    with pytest.raises(ValueError, match="mfu"):
        GpuPricing(mfu=1.5, usd_per_gpu_hour=2.0)


def test_pricing_from_stated_assumptions():
    price = GpuPricing(mfu=0.4, usd_per_gpu_hour=2.0)
    flops = 989e12 * 0.4 * 3600  # one GPU-hour at 40% of the dense BF16 peak
    assert price.gpu_hours(flops) == pytest.approx(1.0, rel=1e-14)
    assert price.dollars(flops) == pytest.approx(2.0, rel=1e-14)


# --- closed form of the token-error cost, recommendations and tables -------------------


@settings(max_examples=60, deadline=None)
@given(
    alpha=st.floats(0.1, 0.9),
    beta=st.floats(0.1, 0.9),
    log_a=st.floats(1, 6),
    log_b=st.floats(1, 6),
    log_c=st.floats(18, 26),
    log_k=st.floats(-1.0, 1.0).filter(lambda v: abs(v) > 1e-2),
)
def test_closed_form_matches_misallocation(alpha, beta, log_a, log_b, log_c, log_k):
    """The deadweight share depends on alpha, beta and the token error only."""
    s = sl.LossSurface(E=2.0, A=10.0**log_a, B=10.0**log_b, alpha=alpha, beta=beta)
    C = 10.0**log_c
    err = 10.0**log_k - 1.0
    m = misallocation(s, s.D_opt(C) * (1.0 + err), C)
    assert deadweight_fraction(s, err) == pytest.approx(m.deadweight_fraction, rel=1e-8)


def test_closed_form_by_hand_on_the_symmetric_surface():
    s = sl.SURFACES["symmetric"]  # alpha = beta = 0.31
    err = np.array([-0.5, 0.0, 1.0, 3.0])
    expected = 1.0 - np.cosh(0.31 * np.log1p(err)) ** (-2.0 / 0.31)
    np.testing.assert_allclose(deadweight_fraction(s, err), expected, rtol=1e-12, atol=1e-16)
    assert deadweight_fraction(s, 0.0) == 0.0


def test_quadratic_approximation_converges():
    s = sl.PUBLISHED_SURFACES["soda"]
    # By hand: D = e D*, so ln(D/D*) = 1 and the quadratic term is (alpha + beta)/2.
    assert deadweight_fraction_quadratic(s, np.e - 1.0) == pytest.approx(1.123 / 2, rel=1e-14)
    gaps = [
        abs(deadweight_fraction(s, e) / deadweight_fraction_quadratic(s, e) - 1.0)
        for e in (1e-1, 1e-2, 1e-3)
    ]
    # The leading correction is first order in the token error.
    assert gaps[0] > 5 * gaps[1] > 25 * gaps[2]
    assert gaps[2] < 2e-3


def test_bad_token_error_is_rejected():
    with pytest.raises(ValueError, match="token_error"):
        deadweight_fraction(sl.SURFACES["chinchilla"], -1.0)


class _FixedLaw:
    def __init__(self, tokens: float):
        self.tokens = tokens

    def D_opt(self, C):
        return self.tokens


def test_price_recommendation_uses_the_recommended_tokens():
    s = sl.SURFACES["chinchilla"]
    C = 3.8e25
    m = price_recommendation(_FixedLaw(2 * s.D_opt(C)), s, C)
    assert m.D == pytest.approx(2 * s.D_opt(C), rel=1e-15)
    assert m.N == pytest.approx(s.N_opt(C) / 2, rel=1e-12)
    assert price_recommendation(s, s, C).deadweight_fraction == pytest.approx(0.0, abs=1e-14)


def test_recommendation_costs_of_an_unbiased_design_are_zero():
    """Approach 2 on centred runs of the symmetric surface recovers D* exactly."""
    s = sl.SURFACES["symmetric"]
    runs = sl.sample_isoflops(s, grid=4.0)
    out = recommendation_costs(runs, {"truth": lambda df: s}, 1e24, sl.fit_approach2)
    assert set(out) == {
        "D_recommended",
        "D_opt[truth]",
        "token_error[truth]",
        "deadweight_fraction[truth]",
    }
    assert out["D_opt[truth]"] == pytest.approx(s.D_opt(1e24), rel=1e-14)
    assert abs(out["token_error[truth]"]) < 1e-9
    assert out["deadweight_fraction[truth]"] < 1e-15


def test_recommendation_costs_accept_surface_fits():
    s = sl.SURFACES["chinchilla"]
    runs = sl.sample_isoflops(s, grid=8.0)
    out = recommendation_costs(runs, {"vpnls": sl.fit_vpnls}, 1e24, sl.fit_approach2)
    fit = sl.fit_approach2(runs)
    direct = misallocation(s, fit.D_opt(1e24), 1e24)
    # A noise-free VPNLS fit recovers the surface, so the two prices agree closely.
    assert out["deadweight_fraction[vpnls]"] == pytest.approx(direct.deadweight_fraction, rel=1e-6)
    assert out["token_error[vpnls]"] < 0  # the asymmetric surface: Approach 2 undershoots D*


def test_cost_table_prices_each_run():
    s = sl.SURFACES["chinchilla"]
    C = 1e24
    price = GpuPricing(mfu=0.5, usd_per_gpu_hour=3.0)
    runs = {"over": misallocation(s, 1.5 * s.D_opt(C), C), "exact": misallocation(s, s.D_opt(C), C)}
    table = cost_table(runs, price)
    assert list(table.index) == ["over", "exact"]
    over = table.loc["over"]
    hours = over["deadweight"] / (989e12 * 0.5 * 3600.0)
    assert over["deadweight_gpu_hours"] == pytest.approx(hours, rel=1e-14)
    assert over["deadweight_usd"] == pytest.approx(3.0 * hours, rel=1e-14)
    assert over["token_error"] == pytest.approx(0.5, rel=1e-12)
    assert over["D/N"] == pytest.approx(over["D"] / over["N"], rel=1e-14)
    assert table.loc["exact", "deadweight_usd"] == pytest.approx(0.0, abs=1e-3)
    with pytest.raises(ValueError, match="scalar"):
        cost_table({"many": misallocation(s, s.D_opt([C, C]), [C, C])}, price)
    with pytest.raises(ValueError, match="at least one"):
        cost_table({}, price)


def test_with_deadweight_reads_surface_from_column_or_index():
    surfaces = {"chinchilla": sl.SURFACES["chinchilla"], "soda": sl.PUBLISHED_SURFACES["soda"]}
    price = GpuPricing(mfu=0.4, usd_per_gpu_hour=2.0)
    frame = pd.DataFrame({"surface": ["chinchilla", "soda"], "D_extrap_err": [-0.2, 0.3]})
    out = with_deadweight(frame, surfaces, 1e24, price)
    for i, name in enumerate(frame["surface"]):
        s = surfaces[name]
        m = misallocation(s, s.D_opt(1e24) * (1 + frame["D_extrap_err"][i]), 1e24)
        assert out["deadweight_fraction"][i] == pytest.approx(m.deadweight_fraction, rel=1e-9)
        assert out["deadweight_usd"][i] == pytest.approx(price.dollars(m.deadweight), rel=1e-9)
    indexed = with_deadweight(frame.set_index("surface"), surfaces, 1e24, price)
    np.testing.assert_array_equal(indexed["deadweight"], out["deadweight"])
    with pytest.raises(ValueError, match="no surface"):
        with_deadweight(frame, {"soda": surfaces["soda"]}, 1e24, price)
    with pytest.raises(ValueError, match="surface"):
        with_deadweight(frame.drop(columns="surface"), surfaces, 1e24, price)


def test_misallocation_keeps_precision_when_the_loss_is_near_e():
    """A tiny reducible loss (L* - E ~ 1e-9) must not be computed as L* - E (cancellation)."""
    alpha, k, C = 0.875, 10.0, 1e24
    s = sl.LossSurface(E=2.0, A=10.0, B=10.0, alpha=alpha, beta=alpha)
    assert s.loss_opt(C) - s.E < 1e-8
    m = misallocation(s, k * s.D_opt(C), C)
    expected = 1.0 - np.cosh(alpha * np.log(k)) ** (-2.0 / alpha)
    assert m.deadweight_fraction == pytest.approx(expected, rel=1e-12)
    assert deadweight_fraction(s, k - 1.0) == pytest.approx(expected, rel=1e-12)


def test_choice_sensitivity_prices_each_variant_like_recommendation_costs():
    s = sl.SURFACES["chinchilla"]
    runs = sl.sample_isoflops(s, grid=8.0, drift=3.0)
    variants = {"all": runs, "without the largest": runs[runs["budget"] < runs["budget"].max()]}
    truths = {"truth": lambda df: s}
    table = costs.choice_sensitivity(variants, truths, 1e24, sl.fit_approach2)
    assert list(table.index) == ["all", "without the largest"]
    assert (
        table.loc["all", "runs"] == len(runs) and table.loc["without the largest", "budgets"] == 4
    )
    for name, df in variants.items():
        expected = costs.recommendation_costs(df, truths, 1e24, sl.fit_approach2)
        for key, value in expected.items():
            assert table.loc[name, key] == value
    # Drift biases Approach 2's recommendation, so the choice of budgets moves its price.
    assert table["deadweight_fraction[truth]"].nunique() == 2
