import numpy as np
import pytest

import scaling_lab as sl
from scaling_lab.sampling import drift_fraction


@pytest.fixture
def chin():
    return sl.SURFACES["chinchilla"]


def test_default_design_has_five_budgets_of_fifteen_runs(chin):
    df = sl.sample_isoflops(chin)
    assert list(df.columns) == ["budget", "params", "tokens", "loss"]
    assert len(df) == 75
    assert sorted(df["budget"].unique()) == [1e17, 1e18, 1e19, 1e20, 1e21]
    assert np.allclose(6 * df["params"] * df["tokens"], df["budget"], rtol=1e-14, atol=0)
    assert np.allclose(df["loss"], chin.loss(df["params"], df["tokens"]), rtol=1e-15, atol=0)


@pytest.mark.parametrize("grid", [2.0, 8.0, 100.0])
def test_runs_are_equally_spaced_in_log_params_and_centred_on_the_optimum(chin, grid):
    df = sl.sample_isoflops(chin, n_points=11, grid=grid)
    for budget, runs in df.groupby("budget"):
        x = np.log10(runs["params"].to_numpy())
        assert np.allclose(np.diff(x), 2 * np.log10(grid) / 10, rtol=1e-9, atol=0)
        assert x[5] == pytest.approx(np.log10(chin.N_opt(budget)), abs=1e-12)
        assert x[-1] - x[0] == pytest.approx(2 * np.log10(grid), rel=1e-12)


def test_offset_by_three_centres_every_grid_on_three_times_the_optimal_tokens(chin):
    df = sl.sample_isoflops(chin, n_points=5, center_scale=3.0)
    for budget, runs in df.groupby("budget"):
        centre = runs.iloc[2]
        assert centre["tokens"] == pytest.approx(3 * chin.D_opt(budget), rel=1e-12)
        assert centre["params"] == pytest.approx(chin.N_opt(budget) / 3, rel=1e-12)


def test_drift_to_three_runs_from_the_optimum_to_three_times_it(chin):
    budgets = [1e17, 1e18, 1e19, 1e20, 1e21]
    df = sl.sample_isoflops(chin, budgets=budgets, n_points=3, drift=3.0)
    centres = df.iloc[1::3]
    ratios = centres["tokens"].to_numpy() / chin.D_opt(np.array(budgets))
    assert ratios == pytest.approx(3.0 ** np.array([0, 0.25, 0.5, 0.75, 1.0]), rel=1e-12)


def test_drift_fraction_is_linear_in_log_compute():
    assert drift_fraction([1e17, 1e19, 1e21]).tolist() == [0.0, 0.5, 1.0]
    assert drift_fraction([1e20]).tolist() == [0.0]


def test_noise_is_reproducible_from_the_seed(chin):
    a = sl.sample_isoflops(chin, noise=0.01, seed=7)
    b = sl.sample_isoflops(chin, noise=0.01, seed=7)
    c = sl.sample_isoflops(chin, noise=0.01, seed=8)
    clean = sl.sample_isoflops(chin)
    assert a.equals(b)
    assert not a.equals(c)
    resid = a["loss"] - clean["loss"]
    assert 0.005 < resid.std() < 0.02
    gen = sl.sample_isoflops(chin, noise=0.01, seed=np.random.default_rng(7))
    assert gen.equals(a)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"grid": 1.0}, "grid"),
        ({"n_points": 0}, "n_points"),
        ({"center_scale": 0.0}, "center_scale"),
        ({"drift": -1.0}, "drift"),
        ({"noise": -0.1}, "noise"),
        ({"budgets": [1e18, -1.0]}, "budgets"),
        ({"budgets": []}, "budgets"),
    ],
)
def test_invalid_designs_are_rejected(chin, kwargs, match):
    with pytest.raises(ValueError, match=match):
        sl.sample_isoflops(chin, **kwargs)
