"""Planning the next IsoFLOP curve."""

import numpy as np
import pytest

import scaling_lab as sl
from scaling_lab.planning import CURVATURE_SNR, WIDTHS, plan_next, width_check

#: The proposed centre must lie within this many decades of the true optimum (±5%).
CENTRE_TOLERANCE = np.log10(1.05)


def off_centre_runs(surface, seed, factor=3.0, noise=0.005):
    """Standard design whose last (largest) budget is sampled ``factor``× above N*."""
    runs = sl.sample_isoflops(surface)
    last = runs["budget"] == runs["budget"].max()
    runs.loc[last, "params"] *= factor
    runs.loc[last, "tokens"] /= factor
    rng = np.random.default_rng(seed)
    runs["loss"] = surface.loss(runs["params"], runs["tokens"]) + rng.normal(0, noise, len(runs))
    return runs


@pytest.mark.parametrize("seed", range(3))
@pytest.mark.parametrize("name", ["chinchilla", "asymmetric"])
def test_next_grid_is_centred_on_the_true_optimum(name, seed):
    surface = sl.SURFACES[name]
    plan = plan_next(off_centre_runs(surface, seed), 1e22, n_points=9, n_boot=50, n_sim=2)
    centre = np.mean(np.log10(plan.runs["params"]))
    assert abs(centre - np.log10(surface.N_opt(1e22))) <= CENTRE_TOLERANCE
    # The off-centre budget itself is far from that tolerance (it is sampled 3x above N*).
    assert np.log10(3.0) > 5 * CENTRE_TOLERANCE


def test_proposed_runs_lie_on_the_budget_and_are_symmetric():
    plan = plan_next(
        sl.sample_isoflops(sl.SURFACES["chinchilla"], noise=0.005, seed=0),
        3e22,
        n_points=7,
        n_boot=30,
        n_sim=2,
    )
    runs = plan.to_frame()
    assert np.allclose(6 * runs["params"] * runs["tokens"], 3e22, rtol=1e-12)
    steps = np.diff(np.log10(runs["params"]))
    assert np.allclose(steps, steps[0])
    assert np.log10(runs["params"].max() / runs["params"].min()) == pytest.approx(
        2 * np.log10(plan.width)
    )
    assert plan.width in WIDTHS


def test_chosen_width_is_the_narrowest_that_shows_curvature():
    runs = sl.sample_isoflops(sl.SURFACES["chinchilla"], noise=0.01, seed=1)
    plan = plan_next(runs, 1e22, n_points=9, n_boot=30, n_sim=2)
    s, sd = plan.assessment.surface, plan.noise_sd
    snr = [width_check(s, 1e22, k, 9, sd).curvature_snr for k in WIDTHS]
    i = WIDTHS.index(plan.width)
    assert snr[i] >= CURVATURE_SNR and all(x < CURVATURE_SNR for x in snr[:i])


def test_width_check_behaves():
    s = sl.SURFACES["symmetric"]
    checks = [width_check(s, 1e21, k, 9, 0.01) for k in WIDTHS]
    snr = [c.curvature_snr for c in checks]
    assert all(np.diff(snr) > 0)  # wider sweeps show more curvature
    assert all(abs(c.vertex_shift) < 1e-12 for c in checks)  # symmetric surface: no bias
    noisier = width_check(s, 1e21, 4.0, 9, 0.02)
    assert noisier.vertex_sd == pytest.approx(2 * checks[WIDTHS.index(4.0)].vertex_sd)
    asym = width_check(sl.SURFACES["asymmetric"], 1e21, 8.0, 15, 0.01)
    expected = sl.analysis.vertex_shift(0.465, 0.155, 8.0, 15)
    assert asym.vertex_shift == pytest.approx(expected, rel=1e-9)


def test_bad_plan_arguments():
    runs = sl.sample_isoflops(sl.SURFACES["chinchilla"])
    with pytest.raises(ValueError, match="n_points"):
        plan_next(runs, 1e22, n_points=2)
    with pytest.raises(ValueError, match="budget"):
        plan_next(runs, -1.0)
