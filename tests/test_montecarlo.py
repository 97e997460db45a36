import numpy as np
import pandas as pd
import pytest

from scaling_lab import landings
from scaling_lab import montecarlo as mc


@pytest.fixture
def small_conditions():
    c = mc.conditions_grid(noise=[0.01, 0.03], n_points=[5, 9], draw=range(2))
    c["surface"] = "chinchilla"
    c["methods"] = [("approach2", "vpnls", "approach3/naive")] * len(c)
    return c


def test_conditions_grid_is_the_cartesian_product():
    c = mc.conditions_grid(a=[1, 2], b=["x", "y", "z"])
    assert len(c) == 6 and list(c.columns) == ["a", "b"]
    assert c.iloc[4].tolist() == [2, "y"]


def test_same_seed_gives_bit_identical_results_in_parallel_and_serially(small_conditions):
    parallel = mc.run_sweep(small_conditions, mc.fit_methods_task, seed=42, n_jobs=2)
    again = mc.run_sweep(small_conditions, mc.fit_methods_task, seed=42, n_jobs=2)
    serial = mc.run_sweep(small_conditions, mc.fit_methods_task, seed=42, n_jobs=1)
    pd.testing.assert_frame_equal(parallel, again, check_exact=True)
    pd.testing.assert_frame_equal(parallel, serial, check_exact=True)
    other = mc.run_sweep(small_conditions, mc.fit_methods_task, seed=43, n_jobs=1)
    assert not np.allclose(other["a"], parallel["a"], equal_nan=True)
    assert len(parallel) == 3 * len(small_conditions)


def test_each_condition_sees_its_own_noise(small_conditions):
    out = mc.run_sweep(small_conditions, mc.fit_methods_task, seed=0, n_jobs=1)
    vp = out[out["method"] == "vpnls"]
    assert vp["a"].nunique() == len(small_conditions)


def test_fit_errors_become_failed_rows():
    # Three runs per budget and heavy noise: some parabolas open downward.
    c = mc.conditions_grid(noise=[0.5], n_points=[3], draw=range(6))
    c["methods"] = [("approach2",)] * len(c)
    out = mc.run_sweep(c, mc.fit_methods_task, seed=3, n_jobs=1)
    failed = out[out["failed"]]
    assert len(failed) > 0
    assert failed["error"].str.contains("opens downward").all()
    assert failed["a"].isna().all()


def test_noise_free_task_recovers_the_surface():
    c = pd.DataFrame({"surface": ["asymmetric"], "grid": [8.0]})
    c["methods"] = [("vpnls", "approach2")]
    out = mc.run_sweep(c, mc.fit_methods_task, seed=0, n_jobs=1).set_index("method")
    assert abs(out.loc["vpnls", "alpha_err"]) < 1e-10
    assert abs(out.loc["approach2", "b_err"]) < 1e-9  # exponents exact with centred runs


def test_summaries():
    df = pd.DataFrame(
        {
            "method": ["m", "m", "n", "n"],
            "a_err": [0.1, -0.4, 0.2, np.nan],
            "b_err": [0.01, 0.04, -0.5, np.nan],
            "failed": [False, False, False, True],
            "a": [1.0, 2.0, 1.0, np.nan],
            "noise": [0.1, 0.1, 0.1, 0.1],
            "draw": [0, 1, 0, 1],
        }
    )
    s = mc.summarise_exponent_errors(df)
    assert s.loc["m", "a_worst"] == 0.4 and s.loc["m", "a_geomean"] == pytest.approx(0.2)
    assert s.loc["n", "failed"] == 1
    v = mc.pooled_variance(df, "a")
    assert v["m"] == pytest.approx(0.5 / 0.01)


def test_miss_kind_separates_wrong_basins_from_early_stops():
    assert landings.miss_kind(1e-9, 1e-20, 10.0) == "recovered"
    assert landings.miss_kind(1e-5, 1e-10, 10.0) == "early stop"
    assert landings.miss_kind(20.0, 0.5, 10.0) == "wrong basin"


def test_recovery_sweep_counts_misses_by_kind():
    configs = {"normalised": {"variant": "normalised"}, "raw": {"variant": "mle"}}
    out = mc.recovery_sweep(configs, surfaces=["asymmetric"], grids=[2.0, 8.0], n_jobs=1)
    counts = mc.miss_counts(out)
    assert list(counts.index) == ["normalised", "raw"]
    assert (counts["fits"] == 2).all()
    assert (counts["misses"] == counts["early stops"] + counts["wrong basins"]).all()
    assert counts.loc["normalised", "misses"] == 0
    # Each row's kind follows from its own numbers, whatever the landing was.
    kinds = [
        landings.miss_kind(e, r, r / rel)
        for e, r, rel in out[["max_err", "rss", "relative_rss"]].itertuples(index=False)
    ]
    assert list(out["kind"]) == kinds


def test_recovery_sweep_repeats_on_jittered_copies():
    configs = {"raw": {"variant": "mle"}}
    exact = mc.recovery_sweep(configs, surfaces=["symmetric"], grids=[4.0], repeats=3, n_jobs=1)
    # Without jitter the copies are the same runs: the same landing three times.
    assert exact["max_err"].nunique() == 1 and list(exact["repeat"]) == [0, 1, 2]
    jittered = mc.recovery_sweep(
        configs, surfaces=["symmetric"], grids=[4.0], repeats=3, jitter=1e-12, n_jobs=1
    )
    assert jittered["max_err"].nunique() == 3  # three different copies, three landings
    again = mc.recovery_sweep(
        configs, surfaces=["symmetric"], grids=[4.0], repeats=3, jitter=1e-12, n_jobs=2
    )
    pd.testing.assert_frame_equal(jittered, again, check_exact=True)
    rates = mc.miss_rates(jittered)
    assert rates.loc["raw", "fits"] == 3
    for kind in ("early stops", "wrong basins", "misses"):
        lo, est, hi = rates.loc["raw", [f"{kind} lower", f"{kind} rate", f"{kind} upper"]]
        assert lo <= est <= hi


@pytest.fixture
def fake_draws():
    rng = np.random.default_rng(5)
    rows = []
    for noise in (0.01, 0.02):
        for draw in range(6):
            x = rng.normal(size=2)
            rows.append({"noise": noise, "draw": draw, "method": "m", "a": noise * x[0]})
            rows.append({"noise": noise, "draw": draw, "method": "r", "a": 2 * noise * x[1]})
    return pd.DataFrame(rows)


def test_draws_array_and_paired_stratified_resampling(fake_draws):
    values, groups, methods = mc.draws_array(fake_draws, "a")
    assert values.shape == (2, 6, 2) and methods == ["m", "r"]
    assert list(groups["noise"]) == [0.01, 0.02]
    boot = mc.resample_draws(values, 50, seed=1)
    assert boot.shape == (50, 2, 6, 2)
    # Each resampled value comes from its own group, the same draw for both methods.
    for g in range(2):
        pairs = {tuple(v) for v in values[g]}
        assert all(tuple(v) in pairs for v in boot[:, g].reshape(-1, 2))
    np.testing.assert_array_equal(boot, mc.resample_draws(values, 50, seed=1))


def test_variance_ratio_point_matches_pooled_variance(fake_draws):
    out = mc.variance_ratio_intervals(fake_draws, "a", reference="r", n_boot=200)
    pooled = mc.pooled_variance(fake_draws, "a")
    assert out.loc["m", "estimate"] == pytest.approx(pooled["m"], rel=1e-12)
    assert out.loc["m", "ratio"] == pytest.approx(pooled["m"] / pooled["r"], rel=1e-12)
    assert out.loc["r", "ratio"] == 1.0
    assert (out["lower"] <= out["upper"]).all()


def test_worst_case_interval_never_exceeds_the_observed_worst(fake_draws):
    out = mc.worst_case_intervals(fake_draws, "a", reference="r", n_boot=300, seed=3)
    assert (out["upper"] <= out["estimate"]).all() and (out["lower"] <= out["estimate"]).all()
    assert out.loc["m", "estimate"] == fake_draws[fake_draws["method"] == "m"]["a"].abs().max()


def test_rms_ratio_interval_brackets_its_estimate(fake_draws):
    out = mc.rms_ratio_interval(fake_draws, "a", "m", "r", n_boot=300, seed=0)
    assert out["lower"] <= out["estimate"] <= out["upper"]


def test_labels_use_words():
    assert mc.label("approach3/mle") == "Approach 3, least squares, raw parameters"
    assert all("/" not in mc.label(m) for m in mc.NOISE_METHODS)


def test_noise_landings_share_the_noise_across_copies_and_rates_count_them():
    landed = mc.noise_landings(
        "book", repeats=2, methods=("approach3/normalised", "vpnls"), seed=4, n_jobs=1
    )
    studies = landed["study"].nunique()
    assert len(landed) == studies * 2 * 2
    vp = landed[landed["method"] == "vpnls"].pivot_table(
        index="study", columns="repeat", values="b"
    )
    # The copies of one study differ by 1e-12 in the losses, not by the noise.
    assert (vp[0] - vp[1]).abs().max() < 1e-8 and vp[0].std() > 1e-3
    rates = mc.landing_rates(landed, "approach3/normalised", reference="vpnls")
    assert rates["far"].n == studies * 2 and rates["changing studies"].n == studies
    # Normalised least squares lands on the VPNLS optimum: never farther than VPNLS's error.
    assert rates["far"].hits == 0
