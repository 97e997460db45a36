"""Tests of the model-family strand: data, loss laws, intervals, identifiability."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats

from scaling_lab.families import data
from scaling_lab.families.identifiability import chinchilla_identifiability, chinchilla_profile
from scaling_lab.families.loss_laws import fit_loss_law

SIZES = np.array([1.1e8, 2.6e8, 5.9e8, 1.3e9, 2.7e9, 6.7e9, 1.3e10])


def floor_law(N, L_inf, Nc, alpha):
    return L_inf + (Nc / N) ** alpha


# ---- data ---------------------------------------------------------------------------


def test_exact_counts_match_published_figures():
    cb = data.cerebras()
    # third-party / caveat-file totals in millions, written independently of the formula
    published = [111.05, 255.98, 590.31, 1315.7, 2651.6, 6658.4, 12853.4]
    assert np.allclose(cb["N_total"] / 1e6, published, atol=0.05)
    fam = data.load_families()
    py = fam[fam.family == "Pythia"]
    # Pythia's own non-embedding counts (model cards) equal the architecture formula
    assert (py["non_embedding_params"].astype(int) == py["N_nonembedding"].astype(int)).all()
    assert (py["N_total"] == py["params_total_derived"]).all()


def test_pythia_arc_metric_choice():
    raw, norm = data.pythia("acc"), data.pythia("acc_norm")
    assert np.allclose(
        raw["arc_challenge"].round(3), [0.181, 0.188, 0.213, 0.244, 0.260, 0.295, 0.313, 0.318]
    )
    fam = data.load_families()
    assert np.allclose(
        norm["arc_challenge"].round(3), fam[fam.family == "Pythia"]["arc_challenge_acc"]
    )
    with pytest.raises(ValueError, match="arc_metric"):
        data.pythia("f1")


def test_every_column_has_a_source():
    src = data.sources()
    fam = data.load_families()
    cited = set()
    for fam_name, cols in zip(src["family"], src["columns"], strict=True):
        if fam_name in ("Cerebras-GPT", "Pythia"):
            cited |= {(fam_name, c.strip()) for c in cols.split(";")}
    raw_cols = [
        c for c in fam.columns if c not in ("family", "N_nominal", "N_total", "N_nonembedding")
    ]
    for fam_name in ("Cerebras-GPT", "Pythia"):
        missing = [c for c in raw_cols if (fam_name, c) not in cited]
        assert not missing, (fam_name, missing)
    assert src["source"].notna().all()


# ---- loss laws: exact recovery --------------------------------------------------------


@pytest.mark.parametrize("alpha", [0.076, 0.1, 0.34])
def test_power_law_noise_free_exact(alpha):
    Nc = 8.8e13
    fit = fit_loss_law(SIZES, (Nc / SIZES) ** alpha, form="power", n_boot=50)
    assert fit.alpha == pytest.approx(alpha, rel=1e-10)
    assert fit.Nc == pytest.approx(Nc, rel=1e-8)
    assert fit.converged


@pytest.mark.parametrize(("L_inf", "Nc", "alpha"), [(1.7, 1e9, 0.3), (0.8, 3e11, 0.12)])
def test_floor_law_noise_free_exact(L_inf, Nc, alpha):
    N = np.geomspace(1e7, 1e11, 9)
    fit = fit_loss_law(N, floor_law(N, L_inf, Nc, alpha), form="floor", n_boot=50)
    assert fit.alpha == pytest.approx(alpha, rel=1e-8)
    assert fit.L_inf == pytest.approx(L_inf, rel=1e-8)
    assert fit.Nc == pytest.approx(Nc, rel=1e-7)


# ---- loss laws: noisy recovery and coverage ---------------------------------------------


def _coverage(form, truth, N, sigma, seeds, n_boot):
    hits = {"bootstrap": 0, "profile": 0}
    estimates = []
    for seed in range(seeds):
        rng = np.random.default_rng(10_000 + seed)
        y = floor_law(N, *truth) + sigma * rng.standard_normal(N.size)
        fit = fit_loss_law(N, y, form=form, n_boot=n_boot, seed=seed)
        estimates.append(fit.alpha)
        for key, ci in (("bootstrap", fit.ci["alpha"]), ("profile", fit.profile_ci["alpha"])):
            hits[key] += ci is not None and ci[0] <= truth[2] <= ci[1]
    return {k: v / seeds for k, v in hits.items()}, np.array(estimates)


def _binomial_ok(rate, m, nominal=0.95):
    # two-sided 99.9% binomial acceptance region for the observed coverage
    lo, hi = stats.binom.ppf([0.0005, 0.9995], m, nominal) / m
    return lo <= rate <= hi


def test_power_law_intervals_cover_truth_at_nominal_rate():
    m = 300
    cov, est = _coverage("power", (0.0, 8.8e13, 0.076), SIZES, 0.01, m, 300)
    assert _binomial_ok(cov["bootstrap"], m), cov
    assert _binomial_ok(cov["profile"], m), cov
    # unbiased enough: the mean estimate is within 4 standard errors of the truth
    assert abs(est.mean() - 0.076) < 4 * est.std() / np.sqrt(m)


def test_floor_law_intervals_cover_truth():
    m = 120
    N = np.geomspace(1e7, 1e11, 9)
    cov, est = _coverage("floor", (1.7, 1e9, 0.3), N, 0.005, m, 300)
    assert _binomial_ok(cov["profile"], m), cov
    assert _binomial_ok(cov["bootstrap"], m), cov
    assert abs(np.median(est) - 0.3) < 0.03


def test_flat_profile_is_reported_not_identified():
    # a floor law on data that only see the reducible part weakly: L_inf and alpha trade off
    rng = np.random.default_rng(3)
    N = SIZES[:4]
    y = floor_law(N, 1.0, 1e9, 0.3) + 0.02 * rng.standard_normal(N.size)
    fit = fit_loss_law(N, y, form="floor", n_boot=100)
    assert fit.profile_ci["alpha"] is None and fit.ci["alpha"] is None
    assert "not identified" in fit.flags["alpha"]


def test_intervals_contain_estimate_or_are_flagged():
    cb = data.cerebras()
    for form in ("power", "floor"):
        fit = fit_loss_law(cb["N_total"], cb["loss"], form=form, n_boot=300)
        for name, iv in fit.intervals.items():
            assert iv.contains_estimate or iv.flag, (form, name, iv)
        assert 0 <= fit.share_at_bound <= 1
        assert len(fit.draws) == 300  # every draw kept


def test_noise_scale_uses_residual_degrees_of_freedom():
    rng = np.random.default_rng(0)
    y = (8.8e13 / SIZES) ** 0.076 * (1 + 0.01 * rng.standard_normal(SIZES.size))
    fit = fit_loss_law(SIZES, y, form="power", n_boot=0)
    assert fit.sigma == pytest.approx(np.sqrt(fit.rss / (SIZES.size - 2)), rel=1e-12)
    assert fit.rss == pytest.approx(np.sum(fit.residuals**2), rel=1e-10)


def test_information_criteria_by_hand():
    rng = np.random.default_rng(1)
    y = (8.8e13 / SIZES) ** 0.076 + 0.01 * rng.standard_normal(SIZES.size)
    f = fit_loss_law(SIZES, y, form="floor", n_boot=0)
    n, k = 7, 4
    ll = -n / 2 * (np.log(2 * np.pi * f.rss / n) + 1)
    assert f.aicc == pytest.approx(-2 * ll + 2 * k + 2 * k * (k + 1) / (n - k - 1), rel=1e-12)
    assert f.bic == pytest.approx(-2 * ll + k * np.log(n), rel=1e-12)


def test_seeded_bootstrap_is_bit_identical():
    cb = data.cerebras()
    a = fit_loss_law(cb["N_total"], cb["loss"], form="floor", n_boot=200, seed=5)
    b = fit_loss_law(cb["N_total"], cb["loss"], form="floor", n_boot=200, seed=5)
    c = fit_loss_law(cb["N_total"], cb["loss"], form="floor", n_boot=200, seed=6)
    assert a.draws.equals(b.draws) and a.ci == b.ci
    assert not a.draws.equals(c.draws)


def test_residual_bootstrap_runs_and_differs():
    cb = data.cerebras()
    p = fit_loss_law(cb["N_total"], cb["loss"], n_boot=200, bootstrap="parametric")
    r = fit_loss_law(cb["N_total"], cb["loss"], n_boot=200, bootstrap="residual")
    assert p.alpha == r.alpha and p.ci["alpha"] != r.ci["alpha"]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"N": SIZES, "loss": -np.ones(7)}, r"loss must be finite and positive; bad rows \[0, 1"),
        ({"N": SIZES, "loss": np.r_[np.ones(6), np.nan]}, r"bad rows \[6\]"),
        ({"N": np.r_[SIZES[:6], 0.0], "loss": np.ones(7)}, r"N must be .* bad rows \[6\]"),
        ({"N": SIZES, "loss": np.ones(6)}, "differ in length: 7 vs 6"),
        ({"N": SIZES, "loss": np.ones(7), "form": "chinchilla"}, "form must be one of"),
        ({"N": SIZES[:3], "loss": np.ones(3), "form": "floor"}, "at least 4 distinct sizes"),
        ({"N": SIZES, "loss": np.ones(7), "n_boot": -1}, "n_boot"),
        ({"N": SIZES, "loss": np.ones(7), "bootstrap": "wild"}, "bootstrap must be one of"),
    ],
)
def test_bad_input_names_the_problem(kwargs, message):
    with pytest.raises(ValueError, match=message):
        fit_loss_law(**kwargs)


# ---- identifiability of the Chinchilla form ---------------------------------------------


@settings(max_examples=40, deadline=None)
@given(
    tokens_per_param=st.floats(1.0, 5000.0),
    power=st.floats(0.5, 1.5),
    jitter=st.floats(0.0, 0.1),
)
def test_identifiability_fires_when_D_is_a_power_of_N(tokens_per_param, power, jitter):
    N = np.geomspace(1e8, 1.3e10, 7)
    wobble = 1 + jitter * np.sin(np.arange(7))  # within ±10%: still no independent variation
    D = tokens_per_param * N**power / 1e9 ** (power - 1) * wobble
    assert not chinchilla_identifiability(N, D).identifiable


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 10_000))
def test_identifiability_passes_when_D_varies_independently(seed):
    rng = np.random.default_rng(seed)
    N = np.repeat(np.geomspace(1e8, 1.3e10, 5), 3)
    D = np.tile([1e9, 1e10, 1e11], 5) * rng.uniform(0.8, 1.25, N.size)
    assert chinchilla_identifiability(N, D).identifiable


def test_cerebras_design_is_not_identifiable_and_profile_is_flat():
    cb = data.cerebras()
    check = chinchilla_identifiability(cb["N_total"], cb["tokens"])
    assert not check.identifiable and check.independent_factor < 1.01
    prof = chinchilla_profile(cb["N_total"], cb["tokens"], cb["loss"])
    assert prof["inside"].all()  # every beta in [0.05, 0.95] fits equally well


def test_chinchilla_profile_has_a_minimum_when_identifiable():
    rng = np.random.default_rng(0)
    N = np.repeat(np.geomspace(1e8, 1e11, 6), 4)
    D = np.tile(np.geomspace(1e9, 1e12, 4), 6)
    loss = 1.69 + 406.4 / N**0.34 + 410.7 / D**0.28 + 0.002 * rng.standard_normal(N.size)
    prof = chinchilla_profile(N, D, loss)
    inside = prof.loc[prof["inside"], "beta"]
    assert inside.min() > 0.15 and inside.max() < 0.45
    assert chinchilla_identifiability(N, D).identifiable
