"""Tests of :mod:`scaling_lab.backtest` and ``scaling-lab backtest``."""

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import scaling_lab as sl
from scaling_lab import datasets
from scaling_lab.backtest import METHODS, PREDICTION_COLUMNS, backtest, horizon, origins
from scaling_lab.cli import main
from scaling_lab.design import check_design

MIRROR = Path(__file__).resolve().parents[2] / "shared" / "data"
needs_mirror = pytest.mark.skipif(
    not MIRROR.is_dir(), reason="the offline mirror ../shared/data is not beside this checkout"
)


def run_cli(args, capsys):
    status = main([str(a) for a in args])
    out, err = capsys.readouterr()
    return status, out, err


def test_origins_last_and_rolling():
    b = [1e17, 1e18, 1e19, 1e20, 1e21]
    assert origins(b, "last") == [1e20]
    assert origins(b, "rolling", min_budgets=3) == [1e19, 1e20]
    assert origins(b, "rolling", min_budgets=2) == [1e18, 1e19, 1e20]
    with pytest.raises(ValueError, match="min_budgets=5"):
        origins(b, "rolling", min_budgets=5)
    with pytest.raises(ValueError, match="origin"):
        origins(b, "first")


def test_horizon_rounds_up_to_half_decades():
    assert list(horizon([1e21, 3e21, 1e22], 1e20)) == [1.0, 1.5, 2.0]


@needs_mirror
def test_llama3_last_origin_matches_an_independent_vpnls_fit(monkeypatch):
    monkeypatch.setenv(datasets.MIRROR_VARIABLE, str(MIRROR))
    df = datasets.load("llama3")
    result = backtest(df, methods=["vpnls"], origin="last", n_boot=20)
    p = result.predictions
    assert list(p.columns) == list(PREDICTION_COLUMNS)
    assert set(p["budget"]) == {1e22}
    assert set(p["origin"]) == {3e21}
    held = df[df["budget"] == 1e22]
    assert len(p) == len(held) == 6
    train = df[df["budget"] < 1e22]
    assert train["budget"].nunique() == 9
    surface = sl.fit_vpnls(train).surface
    expected = surface.loss(held["params"].to_numpy(), held["tokens"].to_numpy())
    np.testing.assert_allclose(p["predicted"].to_numpy(), expected, rtol=1e-9)
    np.testing.assert_allclose(p["loss"].to_numpy(), held["loss"].to_numpy())
    assert (p["lower"] < p["predicted"]).all() and (p["predicted"] < p["upper"]).all()
    # The observed vertex at 1e22 and the predicted optimum are both reported.
    assert len(result.optima) == 1 and np.isfinite(result.optima["D_observed"]).all()


def test_rolling_rows_and_approach2_has_no_loss_rows(standard_runs):
    result = backtest(standard_runs, methods=["approach2", "vpnls"], origin="rolling", n_boot=10)
    # origins 1e19 (predicts 1e20, 1e21) and 1e20 (predicts 1e21): 3 held-out curves
    assert len(result.predictions) == 3 * 15
    assert set(result.predictions["method"]) == {"vpnls"}
    assert len(result.optima) == 2 * 3
    s = result.summary
    assert set(s["horizon"]) == {1.0, 2.0, "all"}
    assert s.loc[(s["method"] == "vpnls") & (s["horizon"] == "all"), "runs"].item() == 45
    assert "Backtest(" in repr(result) and len(result.to_frame()) == len(s)
    by = result.by_budget()
    assert len(by) == 2 * 3 and set(by.loc[by["method"] == "approach2", "runs"]) == {0}
    assert "held-out budget" in result.report()


def test_noisy_intervals_are_seeded_and_cover_something():
    runs = sl.sample_isoflops(sl.SURFACES["chinchilla"], noise=0.01, seed=3)
    a = backtest(runs, methods=["vpnls"], origin="last", n_boot=30, seed=1)
    b = backtest(runs, methods=["vpnls"], origin="last", n_boot=30, seed=1)
    assert a.predictions.equals(b.predictions)
    cover = a.summary.loc[a.summary["horizon"] == "all", "loss_coverage"].item()
    assert cover > 0.5


def test_cli_noise_free_round_trip_vpnls_has_zero_error(tmp_path, capsys):
    runs = tmp_path / "runs.csv"
    status, _, err = run_cli(["simulate", "--surface", "asymmetric", "-o", runs], capsys)
    assert status == 0, err
    out_json = tmp_path / "bt.json"
    status, out, err = run_cli(
        ["backtest", runs, "--method", "vpnls", "--bootstrap", "0", "--json", out_json], capsys
    )
    assert status == 0, err
    assert "vpnls" in out and "loss_rmse" in out
    report = json.loads(out_json.read_text())
    preds = report["predictions"]
    assert len(preds) == 15 and {r["budget"] for r in preds} == {1e21}
    rel = [abs(r["predicted"] - r["loss"]) / r["loss"] for r in preds]
    assert max(rel) < 1e-9
    truth = sl.SURFACES["asymmetric"]
    (opt,) = report["optima"]
    assert abs(opt["D_predicted"] / truth.D_opt(1e21) - 1) < 1e-9


def test_cli_approach2_error_matches_the_closed_form(tmp_path, capsys):
    truth = sl.SURFACES["asymmetric"]
    df = sl.sample_isoflops(truth, grid=16.0, drift=3.0)
    runs = tmp_path / "runs.csv"
    df.to_csv(runs, index=False)
    out_json = tmp_path / "bt.json"
    status, _, err = run_cli(
        ["backtest", runs, "--method", "approach2", "--bootstrap", "0", "--json", out_json],
        capsys,
    )
    assert status == 0, err
    (opt,) = json.loads(out_json.read_text())["optima"]
    # Closed form: the fit's D* at 1e21 is off the truth by D_error_at; the observed
    # vertex at 1e21 is off by that curve's own closed-form vertex shift.
    fitted = check_design(df[df["budget"] < 1e21], truth, extrapolate_to=1e21)
    shifts = check_design(df, truth).per_budget.set_index("budget")["vertex_shift_D"]
    expected = np.log10(1 + fitted.D_error_at(1e21)) - shifts[1e21]
    assert abs(expected) > 0.01  # the design biases the backtest: the test can fail
    assert opt["D_log10_error"] == pytest.approx(expected, abs=1e-9)


def test_cli_bad_input_exits_2_with_one_line(tmp_path, capsys):
    missing = tmp_path / "missing.csv"
    status, _, err = run_cli(["backtest", missing], capsys)
    assert status == 2 and len(err.strip().splitlines()) == 1 and "missing.csv" in err
    bad = tmp_path / "bad.csv"
    bad.write_text("params,tokens,loss\n1e8,2e9,3.1\n1e8,x,3.0\n")
    status, _, err = run_cli(["backtest", bad], capsys)
    assert status == 2 and len(err.strip().splitlines()) == 1 and "row 2" in err
    one = tmp_path / "one.csv"
    sl.sample_isoflops(sl.SURFACES["chinchilla"], budgets=[1e18]).to_csv(one, index=False)
    status, _, err = run_cli(["backtest", one], capsys)
    assert status == 2 and len(err.strip().splitlines()) == 1 and "2 budgets" in err
    two = tmp_path / "two.csv"
    sl.sample_isoflops(sl.SURFACES["chinchilla"]).to_csv(two, index=False)
    status, _, err = run_cli(["backtest", two, "--origin", "rolling", "--min-budgets", "5"], capsys)
    assert status == 2 and len(err.strip().splitlines()) == 1 and "min_budgets=5" in err


def test_bad_arguments_raise_value_error(standard_runs):
    with pytest.raises(ValueError, match="method"):
        backtest(standard_runs, methods=["approach4"])
    with pytest.raises(ValueError, match="level"):
        backtest(standard_runs, level=1.5)
    with pytest.raises(ValueError, match="n_boot"):
        backtest(standard_runs, n_boot=-1)


def test_ladder_origins_are_compute_thresholds():
    b = np.geomspace(1e18, 1e21, 31)  # one run per compute: a ladder
    got = origins(b, "rolling", min_budgets=3, step=0.5)
    assert got == pytest.approx([10**18.5, 1e19, 10**19.5, 1e20, 10**20.5])
    surface = sl.SURFACES["chinchilla"]
    params = surface.N_opt(b) * np.linspace(0.3, 3.0, b.size)  # off the optimum: identifiable
    tokens = b / (6 * params)
    ladder = pd.DataFrame({"params": params, "tokens": tokens})
    ladder["loss"] = surface.loss(params, tokens)
    result = backtest(ladder, methods=["vpnls"], origin="rolling", n_boot=5)
    assert sorted(set(result.predictions["origin"])) == pytest.approx(got)
    assert result.optima.empty  # no IsoFLOP curves, no observed vertices
    assert result.predictions["predicted"].sub(result.predictions["loss"]).abs().max() < 1e-9


def test_scheme_is_passed_to_assess():
    noisy = sl.sample_isoflops(sl.SURFACES["chinchilla"], noise=0.01, seed=4)
    a = backtest(noisy, methods=["vpnls"], origin="last", n_boot=20, scheme="curves")
    b = backtest(noisy, methods=["vpnls"], origin="last", n_boot=20)
    assert a.scheme == "curves" and b.scheme == "parametric"
    assert not np.allclose(a.predictions["lower"], b.predictions["lower"])
    np.testing.assert_allclose(a.predictions["predicted"], b.predictions["predicted"])


def test_coverage_table_pools_sets_with_binomial_intervals():
    from scaling_lab.backtest import coverage_table

    sets = {
        f"s{i}": sl.sample_isoflops(sl.SURFACES["chinchilla"], noise=0.01, seed=i) for i in range(2)
    }
    table, _ = coverage_table(sets, methods=["vpnls"], n_boot=5, n_jobs=1)
    all_rows = table[table["horizon"] == "all"].set_index("set")
    assert set(all_rows.index) == {"s0", "s1", "pooled"}
    assert all_rows.loc["pooled", "runs"] == all_rows.loc["s0", "runs"] + all_rows.loc["s1", "runs"]
    pooled = all_rows.loc["pooled"]
    assert pooled["loss_coverage_lower"] <= pooled["loss_coverage"] <= pooled["loss_coverage_upper"]
    again, _ = coverage_table(sets, methods=["vpnls"], n_boot=5, n_jobs=1)
    assert table.equals(again)


def test_stored_real_data_coverage_is_consistent():
    path = Path(__file__).resolve().parents[1] / "data" / "backtest_coverage.csv"
    table = pd.read_csv(path)
    rows = table[table["horizon"] == "all"]
    pooled = rows[rows["set"] == "pooled"].set_index("method")
    assert set(pooled.index) == set(METHODS)
    per_set = rows[rows["set"] != "pooled"].groupby("method")["runs"].sum()
    assert (per_set.reindex(pooled.index) == pooled["runs"]).all()
    for what in ("loss", "D"):
        ok = pooled[f"{what}_coverage"].notna()
        p = pooled[ok]
        assert (p[f"{what}_coverage_lower"] <= p[f"{what}_coverage"]).all()
        assert (p[f"{what}_coverage"] <= p[f"{what}_coverage_upper"]).all()
    assert rows["set"].nunique() == 22  # 16 IsoFLOP variants, 5 other sets, pooled
