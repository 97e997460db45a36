"""Deadweight compute and dollar costs (scaling_lab.costs)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import scaling_lab as sl
from scaling_lab.costs import GpuPricing, misallocation


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
