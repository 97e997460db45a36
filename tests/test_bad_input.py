"""Malformed input gets a ValueError or FitError that names the problem and the rows."""

import numpy as np
import pandas as pd
import pytest

import scaling_lab as sl

FITTERS = {
    "approach2": sl.fit_approach2,
    "vpnls": sl.fit_vpnls,
    "approach3": lambda df: sl.fit_approach3(df, "naive", seed=0),
}


@pytest.fixture(params=list(FITTERS))
def fitter(request):
    return FITTERS[request.param]


def test_missing_column_is_named(fitter, standard_runs):
    df = standard_runs.rename(columns={"tokens": "data"})
    with pytest.raises(ValueError, match=r"missing column\(s\) 'tokens'.*found \[.*'data'"):
        fitter(df)


def test_not_a_dataframe(fitter):
    with pytest.raises(ValueError, match="expected a pandas DataFrame"):
        fitter({"budget": [1.0]})


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_non_finite_values_name_column_and_rows(fitter, standard_runs, bad):
    df = standard_runs.copy()
    df.loc[[3, 40], "loss"] = bad
    with pytest.raises(
        ValueError, match=r"column 'loss' has NaN or infinite values in rows \[3, 40\]"
    ):
        fitter(df)


@pytest.mark.parametrize("column", ["params", "tokens", "budget", "loss"])
def test_non_positive_values_name_column_and_rows(fitter, standard_runs, column):
    df = standard_runs.copy()
    df.loc[7, column] = 0.0
    df.loc[8, column] = -5.0
    with pytest.raises(ValueError, match=rf"column '{column}' must be positive; rows \[7, 8\]"):
        fitter(df)


def test_non_numeric_column(fitter, standard_runs):
    df = standard_runs.astype({"params": object})
    df.loc[0, "params"] = "big"
    with pytest.raises(ValueError, match="column 'params' must be numeric"):
        fitter(df)


def test_too_few_points_on_a_budget_names_budget_and_rows(standard_runs):
    df = standard_runs.drop(index=range(32, 45))  # budget 1e19 keeps rows 30, 31
    with pytest.raises(ValueError, match=r"budget 1e\+19 has 2 point\(s\) \(rows \[30, 31\]\)"):
        sl.fit_approach2(df)


def test_too_few_budgets(standard_runs):
    df = standard_runs[standard_runs["budget"] == 1e20]
    with pytest.raises(ValueError, match="at least 2 distinct budgets; got 1"):
        sl.fit_approach2(df)


def test_repeated_params_leave_too_few_distinct_points(standard_runs):
    df = standard_runs.copy()
    rows = df.index[df["budget"] == 1e18]
    df.loc[rows, "params"] = np.r_[np.full(13, 1e8), 2e8, 2e8]
    with pytest.raises(sl.FitError, match="budget 1e\\+18: fewer than 3 distinct params"):
        sl.fit_approach2(df)


def test_downward_parabola_is_a_fit_error_naming_the_budget(standard_runs):
    df = standard_runs.copy()
    rows = df.index[df["budget"] == 1e20]
    df.loc[rows, "loss"] = 5.0 - (np.arange(15) - 7.0) ** 2 / 100  # a maximum, not a minimum
    with pytest.raises(sl.FitError, match=r"budget\(s\) 1e\+20: .*opens downward.*rows \[45, 46"):
        sl.fit_approach2(df)


def test_surface_fits_need_more_runs_than_parameters(standard_runs):
    for fit in (sl.fit_vpnls, sl.fit_approach3):
        with pytest.raises(ValueError, match="at least 6 runs; got 5"):
            fit(standard_runs.head(5))


def test_unknown_method_and_variant(standard_runs):
    with pytest.raises(ValueError, match="method must be one of"):
        sl.fit_vpnls(standard_runs, method="newton")
    with pytest.raises(ValueError, match="variant must be one of"):
        sl.fit_approach3(standard_runs, variant="bayes")
    with pytest.raises(ValueError, match="grid_size"):
        sl.fit_vpnls(standard_runs, grid_size=1)


def test_data_without_a_size_effect_cannot_identify_alpha():
    # Loss depends on tokens only: the best fit has A = 0, so alpha is not identified.
    n = np.geomspace(1e7, 1e9, 20)
    d = np.geomspace(1e9, 1e11, 20)[::-1]
    df = pd.DataFrame({"budget": 6 * n * d, "params": n, "tokens": d, "loss": 1.8 + 400.0 / d**0.3})
    with pytest.raises(sl.FitError, match="sets A = 0, so the data do not identify alpha"):
        sl.fit_vpnls(df)
