import numpy as np
import pandas as pd
import pytest

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
