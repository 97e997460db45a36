"""The multiverse: every choice of runs × estimator, and the variance share of each choice."""

import numpy as np
import pandas as pd
import pytest

import scaling_lab as sl
from scaling_lab.multiverse import ESTIMATORS, Multiverse, data_choices, multiverse


@pytest.fixture(scope="module")
def exact_runs():
    runs = sl.sample_isoflops(sl.SURFACES["symmetric"], n_points=9, grid=4.0)
    runs["outlier"] = False
    runs.loc[[0, 20], "outlier"] = True
    return runs


def test_data_choices_all_flagged_and_each_budget_left_out(exact_runs):
    choices = data_choices(exact_runs)
    budgets = sorted(exact_runs["budget"].unique())
    assert list(choices)[:2] == ["all runs", "flagged runs removed"]
    assert len(choices) == 2 + len(budgets)
    assert len(choices["flagged runs removed"][1]) == len(exact_runs) - 2
    for b in budgets:
        kind, rows = choices[f"without {b:.0e}"]
        assert kind == "one budget left out" and b not in set(rows["budget"])
    assert "flagged runs removed" not in data_choices(exact_runs.drop(columns="outlier"))


def test_noise_free_symmetric_surface_every_vpnls_universe_is_exact(exact_runs):
    s = sl.SURFACES["symmetric"]
    m = multiverse(exact_runs, estimators={k: ESTIMATORS[k][2] for k in ("approach2", "vpnls")})
    u = m.universes
    assert (u["error"] == "").all() and len(u) == 2 * len(data_choices(exact_runs))
    ratio = s.D_opt(1e24) / s.N_opt(1e24)
    vp = u[u["estimator"] == "vpnls"]
    np.testing.assert_allclose(vp["a"], s.a, rtol=1e-8)
    np.testing.assert_allclose(vp["D/N at 1e24"], ratio, rtol=1e-7)
    np.testing.assert_allclose(vp["deadweight %"], 0.0, atol=1e-10)
    # Approach 2 is exact on whole centred curves; dropping one run per curve (the flagged
    # rows) leaves two curves off-centre, and then it is biased (Part I).
    a2 = u[u["estimator"] == "approach2"].set_index("data")["a"]
    np.testing.assert_allclose(a2.drop("flagged runs removed"), s.a, rtol=1e-8)
    assert abs(a2["flagged runs removed"] - s.a) > 1e-6


def test_shares_are_the_correlation_ratio_of_each_factor():
    # Two methods x two data choices; a depends on the method only, the ratio on both.
    u = pd.DataFrame(
        {
            "data": ["x", "x", "y", "y"],
            "method": ["m1", "m2", "m1", "m2"],
            "objective": ["o", "o", "o", "o"],
            "a": [0.4, 0.6, 0.4, 0.6],
            "D/N at 1e24": [10.0, 100.0, 1000.0, 10000.0],
            "deadweight %": [1.0, 1.0, 1.0, 1.0],
        }
    )
    s = Multiverse(universes=u, source="toy").shares()
    assert s.loc["method", "a"] == pytest.approx(1.0)
    assert s.loc["data", "a"] == pytest.approx(0.0, abs=1e-12)
    assert s.loc["objective", "a"] == pytest.approx(0.0, abs=1e-12)
    # log10 ratios 1, 2, 3, 4: data groups (1,2),(3,4) -> eta^2 = 1 - 1 / 5 = 0.8
    assert s.loc["data", "D/N at 1e24"] == pytest.approx(0.8)
    assert s.loc["method", "D/N at 1e24"] == pytest.approx(0.2)
    assert np.isnan(s.loc["method", "deadweight %"])  # no spread: no share
    chance = Multiverse(universes=u, source="toy").chance()
    assert chance["data"] == pytest.approx(1 / 3) and chance["objective"] == 0.0


def test_chance_share_is_the_mean_eta_squared_of_pure_noise():
    rng = np.random.default_rng(0)
    k, per, reps = 6, 4, 400
    base = pd.DataFrame({"data": np.repeat(list("abcdef"), per), "method": "m", "objective": "o"})
    etas = []
    for _ in range(reps):
        u = base.assign(**{"a": rng.normal(size=k * per), "D/N at 1e24": 1.0, "deadweight %": 0.0})
        etas.append(Multiverse(universes=u, source="noise").shares().loc["data", "a"])
    chance = Multiverse(universes=u, source="noise").chance()["data"]
    se = np.std(etas) / np.sqrt(reps)
    assert abs(np.mean(etas) - chance) < 4 * se


def test_unknown_estimator_is_a_clear_error(exact_runs):
    with pytest.raises(ValueError, match="unknown estimator"):
        multiverse(exact_runs, estimators={"approach4": sl.fit_vpnls})


def test_a_failing_fit_keeps_its_row_with_the_error(exact_runs):
    def broken(runs):
        raise sl.FitError("no fit here")

    m = multiverse(exact_runs, estimators={"vpnls": broken})
    assert m.universes["error"].str.contains("no fit here").all()
    assert m.universes["a"].isna().all()
