"""Landing rates: perturbed copies, outcome kinds and their binomial intervals."""

import numpy as np
import pandas as pd
import pytest

import scaling_lab as sl
from scaling_lab import landings


def test_rate_interval_contains_its_estimate_and_matches_the_exact_binomial():
    from scipy.stats import binom

    for hits, n in ((0, 10), (3, 40), (40, 40), (17, 200)):
        r = landings.rate(hits, n)
        assert r.lower <= r.estimate <= r.upper
        # Clopper-Pearson: each tail of the interval has probability 2.5% at its end.
        if hits > 0:
            assert binom.sf(hits - 1, n, r.lower) == pytest.approx(0.025, rel=1e-6)
        if hits < n:
            assert binom.cdf(hits, n, r.upper) == pytest.approx(0.025, rel=1e-6)
    assert landings.rate(0, 10).lower == 0.0 and landings.rate(10, 10).upper == 1.0
    assert "3 of 40" in str(landings.rate(3, 40))
    with pytest.raises(ValueError, match="hits"):
        landings.rate(5, 4)


def test_jitter_changes_only_the_losses_and_by_the_stated_size():
    runs = sl.sample_isoflops(sl.SURFACES["chinchilla"])
    copy = landings.jitter_losses(runs, np.random.default_rng(0), scale=1e-12)
    pd.testing.assert_frame_equal(copy.drop(columns="loss"), runs.drop(columns="loss"))
    ratio = copy["loss"] / runs["loss"] - 1
    assert 0 < ratio.abs().max() < 1e-11 and ratio.std() == pytest.approx(1e-12, rel=0.5)
    assert landings.jitter_losses(runs, np.random.default_rng(0), scale=0.0).equals(runs)


def test_outcome_of_an_exact_fit_is_recovered_and_of_a_switched_off_term_is_a_wrong_basin():
    s = sl.SURFACES["asymmetric"]
    runs = sl.sample_isoflops(s)
    exact = landings.outcome(sl.fit_vpnls(runs), s, runs)
    assert exact["kind"] == "recovered" and exact["weakest_term"] == pytest.approx(1, rel=1e-9)

    class Stub:  # a fit with the B term switched off: E absorbs the mean of that term
        E, A, B, alpha, beta = s.E + 0.5, s.A, 1e-9, s.alpha, s.beta
        status = "converged"
        rss = float(np.sum((runs["loss"] - s.E - 0.5 - s.A * runs["params"] ** -s.alpha) ** 2))

        def relative_errors(self, truth):
            return {"B": self.B / truth.B - 1}

    off = landings.outcome(Stub(), s, runs)
    assert off["kind"] == "wrong basin" and off["weakest_term"] < 1e-9


def test_perturbed_sweep_is_reproducible_and_reports_each_copy():
    cond = pd.DataFrame({"fitter": ["vpnls"], "surface": ["symmetric"], "grid": [8.0]})
    cond["options"] = [{}]
    a = landings.perturbed_sweep(cond, repeats=4, seed=7, n_jobs=1)
    b = landings.perturbed_sweep(cond, repeats=4, seed=7, n_jobs=2)
    pd.testing.assert_frame_equal(a, b, check_exact=True)
    assert list(a["repeat"]) == [0, 1, 2, 3] and (a["kind"] == "recovered").all()
    # VPNLS moves with the copies only as far as the jitter moves the optimum.
    assert a["max_err"].max() < 1e-9
    with pytest.raises(ValueError, match="repeats"):
        landings.perturbed_sweep(cond, repeats=0)


def test_kind_rates_and_error_spread_count_what_they_say():
    df = pd.DataFrame(
        {
            "g": ["x"] * 4 + ["y"] * 2,
            "kind": [
                "recovered",
                "early stop",
                "wrong basin",
                "recovered",
                "recovered",
                "recovered",
            ],
            "max_err": [1e-9, 1e-5, 3.0, 2e-9, 1e-12, 1e-11],
        }
    )
    rates = landings.kind_rates(df, "g")
    assert rates.loc["x", ["fits", "early stops", "wrong basins", "misses"]].tolist() == [
        4,
        1,
        1,
        2,
    ]
    assert rates.loc["y", "misses"] == 0 and rates.loc["y", "misses upper"] > 0
    spread = landings.error_spread(df, "g", threshold=1e-9)
    assert spread.loc["x", "above"] == 3 and spread.loc["y", "above"] == 0
    assert spread.loc["x", "largest"] == 3.0 and spread.loc["y", "median"] == pytest.approx(
        5.05e-12
    )


def test_landing_task_rejects_an_unknown_fitter():
    with pytest.raises(ValueError, match="fitter"):
        landings.landing_task({"fitter": "bfgs"}, np.random.default_rng(0))
