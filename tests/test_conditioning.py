import numpy as np
import pytest

import scaling_lab as sl
from scaling_lab import conditioning
from scaling_lab.fitting.approach3 import _normalised_rss_and_grad, _raw_rss_and_grad, input_scales


def _fd_hessian(grad, x, h):
    """Central differences of an analytic gradient, column by column."""
    cols = []
    for k in range(len(x)):
        step = np.zeros(len(x))
        step[k] = h[k]
        cols.append((grad(x + step) - grad(x - step)) / (2 * h[k]))
    return np.array(cols)


@pytest.fixture
def runs():
    return sl.sample_isoflops(sl.SURFACES["asymmetric"], grid=8.0)


def test_raw_hessian_matches_finite_differences_of_the_gradient(runs):
    s = sl.SURFACES["asymmetric"]
    args = np.log(runs["params"].to_numpy()), np.log(runs["tokens"].to_numpy()), runs["loss"]
    x = np.array([s.E, s.A, s.B, s.alpha, s.beta])
    fd = _fd_hessian(lambda p: _raw_rss_and_grad(p, *args)[1], x, 1e-6 * np.abs(x))
    analytic = conditioning.hessian_5d(s, runs).hessian
    np.testing.assert_allclose(fd, analytic, rtol=1e-4, atol=1e-6 * np.abs(analytic).max())


@pytest.mark.parametrize("scales", [None, (1e6, 1e9), (1.0, 1.0)])
def test_normalised_hessian_matches_finite_differences(runs, scales):
    s = sl.SURFACES["asymmetric"]
    n0, d0 = input_scales(runs["params"], runs["tokens"]) if scales is None else scales
    log_n = np.log(runs["params"].to_numpy()) - np.log(n0)
    log_d = np.log(runs["tokens"].to_numpy()) - np.log(d0)
    loss = runs["loss"].to_numpy()
    x = np.array([np.log(s.E), np.log(s.A) - s.alpha * np.log(n0),
                  np.log(s.B) - s.beta * np.log(d0), s.alpha, s.beta])  # fmt: skip
    fd = _fd_hessian(lambda p: _normalised_rss_and_grad(p, log_n, log_d, loss)[1], x,
                     np.full(5, 1e-6))  # fmt: skip
    kind = "log" if scales == (1.0, 1.0) else "normalised"
    analytic = conditioning.hessian_5d(s, runs, kind, scales=scales).hessian
    np.testing.assert_allclose(fd, analytic, rtol=1e-4, atol=1e-6 * np.abs(analytic).max())


def test_better_coordinates_lower_the_condition_number_but_not_to_vpnls(runs):
    table = conditioning.condition_table(sl.SURFACES["asymmetric"], runs)["condition number"]
    raw, log, fixed, norm, diag, vp = table.to_numpy()
    assert 0.2 < norm / diag < 5  # as good as the best diagonal rescaling
    assert raw > log > norm and raw > fixed > norm
    assert norm > 100 * vp


def test_unknown_parameterisation_is_rejected(runs):
    with pytest.raises(ValueError, match="parameterisation must be one of"):
        conditioning.hessian_5d(sl.SURFACES["asymmetric"], runs, "polar")
