"""Case-resampling bootstrap (scaling_lab.bootstrap)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import scaling_lab as sl
from scaling_lab.bootstrap import BootstrapResult, bootstrap, resample_indices


def test_within_group_indices_stay_in_their_group_and_keep_sizes():
    groups = np.repeat([1e18, 1e19, 1e20], [4, 5, 6])
    idx = resample_indices(200, groups, seed=3)
    assert idx.shape == (200, 15)
    np.testing.assert_array_equal(groups[idx], np.broadcast_to(groups, idx.shape))
    # Resampling with replacement repeats rows in most draws.
    repeats = np.mean([np.unique(row).size < row.size for row in idx])
    assert repeats > 0.9


def test_indices_are_reproducible_and_seed_dependent():
    groups = np.arange(10) % 2
    np.testing.assert_array_equal(resample_indices(5, groups, 7), resample_indices(5, groups, 7))
    assert not np.array_equal(resample_indices(5, groups, 7), resample_indices(5, groups, 8))
    pooled = resample_indices(1000, groups, 1, within_groups=False)
    assert (groups[pooled].sum(axis=1) != 5).any()  # group sizes vary when pooled


def test_bad_n_boot_is_rejected():
    with pytest.raises(ValueError, match="n_boot"):
        resample_indices(0, [1, 2])


def test_bootstrap_of_a_mean_matches_its_standard_error():
    rng = np.random.default_rng(0)
    df = pd.DataFrame({"budget": np.repeat([1.0, 2.0], 200), "x": rng.normal(size=400)})
    res = bootstrap(df, lambda d: {"mean": d["x"].mean()}, n_boot=2000, seed=1)
    se = df.groupby("budget")["x"].var(ddof=0).mean() ** 0.5 / np.sqrt(400)
    assert res.draws["mean"].std() == pytest.approx(se, rel=0.1)
    ci = res.intervals(0.95).loc["mean"]
    assert ci["lower"] < ci["estimate"] < ci["upper"] and ci["contains_estimate"]


def test_failed_draws_are_kept_as_nan_and_counted():
    df = sl.sample_isoflops(sl.SURFACES["chinchilla"], n_points=5, grid=4.0, noise=0.02, seed=0)

    def fragile(d):
        if d["loss"].mean() > df["loss"].mean():  # fails on about half of the draws
            raise sl.FitError("a draw this fit cannot handle")
        return {"b": sl.fit_approach2(d).b}

    res = bootstrap(df, fragile, n_boot=200, seed=0)
    assert len(res.draws) == 200
    assert 0 < res.n_failed < 200
    assert res.draws["b"].isna().sum() == res.n_failed


def test_results_do_not_depend_on_n_jobs():
    df = sl.sample_isoflops(sl.SURFACES["chinchilla"], grid=4.0, noise=0.01, seed=2)

    def est(d):
        fit = sl.fit_approach2(d)
        return {"a": fit.a, "b": fit.b}

    one = bootstrap(df, est, n_boot=40, seed=5, n_jobs=1)
    two = bootstrap(df, est, n_boot=40, seed=5, n_jobs=2)
    pd.testing.assert_frame_equal(one.draws, two.draws)


def test_endpoint_ranges_bracket_the_percentile_endpoints_and_shrink_with_draws():
    rng = np.random.default_rng(0)

    def result(n):
        draws = pd.DataFrame({"x": rng.standard_normal(n)})
        draws.loc[: n // 10, "x"] = np.nan  # some failed draws
        return BootstrapResult(estimate=pd.Series({"x": 0.0}), draws=draws, scheme="t", seed=0)

    small, large = result(400), result(8000)
    for r in (small, large):
        iv, ranges = r.intervals(0.95).loc["x"], r.endpoint_ranges(0.95).loc["x"]
        assert ranges["lower from"] <= iv["lower"] <= ranges["lower to"]
        assert ranges["upper from"] <= iv["upper"] <= ranges["upper to"]
        assert r.failure_rate.hits == r.n_failed and r.failure_rate.n == r.n_boot
    width = lambda r: float(np.diff(r.endpoint_ranges().loc["x", ["upper from", "upper to"]])[0])  # noqa: E731
    assert width(large) < width(small) / 2


def test_subsample_draws_distinct_rows_of_the_stated_share():
    from scaling_lab.bootstrap import subsample

    df = pd.DataFrame({"x": np.arange(50.0)})

    def estimator(d):
        return {"n": len(d), "distinct": d["x"].nunique(), "mean": d["x"].mean()}

    res = subsample(df, estimator, n_sub=30, fraction=0.8, seed=4)
    assert (res.draws["n"] == 40).all() and (res.draws["distinct"] == 40).all()
    assert res.draws["mean"].std() > 0  # the subsets differ
    same = subsample(df, estimator, n_sub=30, fraction=0.8, seed=4)
    pd.testing.assert_frame_equal(res.draws, same.draws)
    with pytest.raises(ValueError, match="fraction"):
        subsample(df, estimator, fraction=1.0)
