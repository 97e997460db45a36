"""End-to-end tests of the ``scaling-lab`` command: simulate, fit, plan, and bad input."""

import json
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
from scipy.stats import binomtest

import scaling_lab as sl
from scaling_lab.assess import assess as assess_runs
from scaling_lab.cli import build_parser, main

FIVE = ("E", "A", "B", "alpha", "beta")


def run_cli(args, capsys):
    status = main([str(a) for a in args])
    out, err = capsys.readouterr()
    return status, out, err


def fit_json(tmp_path, runs_path, capsys, *extra):
    out_json = tmp_path / "fit.json"
    status, _, err = run_cli(
        ["fit", runs_path, "--json", out_json, "--no-progress", *extra], capsys
    )
    assert status == 0, err
    return json.loads(out_json.read_text())


@pytest.mark.parametrize(
    ("surface", "design"),
    [
        ("symmetric", []),
        ("chinchilla", ["--grid", "4"]),
        ("asymmetric", ["--drift", "3", "--offset", "2", "--grid", "16"]),
        ("1.8,500,900,0.4,0.25", ["--points", "7"]),
    ],
)
def test_simulate_then_fit_recovers_the_surface_noise_free(tmp_path, capsys, surface, design):
    runs = tmp_path / "runs.csv"
    status, _, err = run_cli(["simulate", "--surface", surface, *design, "-o", runs], capsys)
    assert status == 0 and err == ""
    report = fit_json(tmp_path, runs, capsys, "--bootstrap", "20", "--target-compute", "1e24")
    truth = sl.SURFACES.get(surface) or sl.LossSurface(*map(float, surface.split(",")))
    expected = {**truth.to_dict(), "a": truth.a, "b": truth.b}
    for name, value in expected.items():
        got = report["parameters"][name]
        assert abs(got["estimate"] / value - 1) <= 1e-8, name
        # Every draw of noise-free runs is the truth too, so the interval collapses onto it.
        assert abs(got["lower"] / value - 1) <= 1e-6 and abs(got["upper"] / value - 1) <= 1e-6
    pred = report["predictions"][0]
    assert abs(pred["D_opt"]["estimate"] / truth.D_opt(1e24) - 1) <= 1e-8
    assert abs(pred["N_opt"]["estimate"] / truth.N_opt(1e24) - 1) <= 1e-8


def test_fit_without_budget_column_groups_runs_from_6ND(tmp_path, capsys):
    truth = sl.SURFACES["asymmetric"]
    runs = tmp_path / "runs.csv"
    sl.sample_isoflops(truth, grid=4.0).drop(columns="budget").to_csv(runs, index=False)
    report = fit_json(tmp_path, runs, capsys, "--bootstrap", "0")
    assert report["budget_column"] is False
    assert np.allclose(report["budgets"], sl.DEFAULT_BUDGETS, rtol=1e-12)
    for name in FIVE:
        assert abs(report["parameters"][name]["estimate"] / getattr(truth, name) - 1) <= 1e-8


def test_noisy_intervals_cover_the_truth_at_the_nominal_rate(tmp_path, capsys):
    """100 seeded noisy experiments through the CLI: 90% intervals hold 90% (binomial test)."""
    truth = sl.SURFACES["chinchilla"]
    true = {"alpha": truth.alpha, "beta": truth.beta, "a": truth.a, "b": truth.b}
    true_d = truth.D_opt(1e24)
    hits = {name: 0 for name in [*true, "D_opt"]}
    n_seeds = 100
    runs = tmp_path / "runs.csv"
    for seed in range(n_seeds):
        status, _, _ = run_cli(["simulate", "--noise", "0.01", "--seed", seed, "-o", runs], capsys)
        assert status == 0
        report = fit_json(tmp_path, runs, capsys, "--bootstrap", "100", "--seed", seed)
        for name, value in true.items():
            p = report["parameters"][name]
            hits[name] += p["lower"] <= value <= p["upper"]
        d = report["predictions"][0]["D_opt"]
        hits["D_opt"] += d["lower"] <= true_d <= d["upper"]
    for name, k in hits.items():
        # Exact two-sided binomial test of "coverage = 0.90" at the 1% level.
        assert binomtest(k, n_seeds, 0.90).pvalue > 0.01, (name, k)


def test_fit_report_lists_every_part(tmp_path, capsys):
    runs = tmp_path / "runs.csv"
    sl.sample_isoflops(sl.SURFACES["asymmetric"], center_scale=3.0, noise=0.005, seed=2).to_csv(
        runs, index=False
    )
    plot = tmp_path / "fit.png"
    status, out, err = run_cli(
        ["fit", runs, "--bootstrap", "50", "--target-compute", "1e23", "1e24", "--plot", plot],
        capsys,
    )
    assert status == 0 and err == ""
    for text in ("alpha", "beta", "a = beta/(alpha+beta)", "N* (parameters)", "D* (tokens)"):
        assert text in out
    assert "C = 1e+23 FLOPs" in out and "C = 1e+24 FLOPs" in out
    assert "design check" in out and "WARNING: Approach 2 on this design" in out
    assert plot.stat().st_size > 10_000


@pytest.mark.parametrize("method", ["approach2", "approach3"])
def test_other_methods_run_through_the_cli(tmp_path, capsys, method):
    runs = tmp_path / "runs.csv"
    sl.sample_isoflops(sl.SURFACES["symmetric"], noise=0.002, seed=0).to_csv(runs, index=False)
    report = fit_json(tmp_path, runs, capsys, "--method", method, "--bootstrap", "10")
    assert report["method"] == method
    truth = sl.SURFACES["symmetric"]
    b = report["parameters"]["b"]["estimate"]
    assert abs(b - truth.b) < 0.02
    names = set(report["parameters"])
    assert names == ({"a", "b", "a0", "b0"} if method == "approach2" else {*FIVE, "a", "b"})


def test_plan_writes_the_proposed_runs(tmp_path, capsys):
    runs, nxt = tmp_path / "runs.csv", tmp_path / "next.csv"
    sl.sample_isoflops(sl.SURFACES["chinchilla"], noise=0.005, seed=1).to_csv(runs, index=False)
    status, out, err = run_cli(
        ["plan", runs, "--next-budget", "1e22", "--points", "7", "-o", nxt, "--bootstrap", "50"],
        capsys,
    )
    assert status == 0 and err == ""
    proposal = pd.read_csv(nxt)
    assert list(proposal.columns) == ["budget", "params", "tokens"] and len(proposal) == 7
    assert np.allclose(6 * proposal["params"] * proposal["tokens"], 1e22, rtol=1e-12)
    for word in ("centre", "width", "vertex", "expected gain"):
        assert word in out


# --- bad input: one line on stderr naming the file, the row and the problem; status 2 ---


def good_runs() -> pd.DataFrame:
    return sl.sample_isoflops(sl.SURFACES["chinchilla"], n_points=5)


def write(tmp_path, content) -> str:
    path = tmp_path / "runs.csv"
    if isinstance(content, pd.DataFrame):
        content.to_csv(path, index=False)
    else:
        path.write_text(content)
    return str(path)


def with_cell(column: str, row: int, value: str) -> pd.DataFrame:
    df = good_runs().astype(object)
    df.loc[row, column] = value
    return df


BAD_INPUTS = {
    "missing column": (lambda: good_runs().drop(columns="tokens"), ["missing column", "tokens"]),
    "non-numeric": (
        lambda: with_cell("loss", 6, "n/a"),
        ["row 7 (line 8)", "loss", "not a number"],
    ),
    "non-positive": (
        lambda: with_cell("params", 3, "-5"),
        ["row 4 (line 5)", "params", "positive"],
    ),
    "NaN": (lambda: with_cell("tokens", 10, "nan"), ["row 11 (line 12)", "tokens", "NaN"]),
    "empty cell": (lambda: with_cell("loss", 0, ""), ["row 1 (line 2)", "loss", "empty"]),
    "empty file": (lambda: "", ["the file is empty"]),
    "every loss equal": (
        lambda: good_runs().assign(loss=3.0),
        ["every run has the same loss (3)", "fall with model size"],
    ),
    "space-separated": (
        lambda: good_runs().to_csv(index=False).replace(",", " "),
        ["missing column(s) params, tokens, loss"],
    ),
    "comma header, semicolon rows": (
        lambda: (
            "params,tokens,loss\n"
            + good_runs()[["params", "tokens", "loss"]].to_csv(index=False, header=False, sep=";")
        ),
        ["row 1 (line 2)", "not a number"],
    ),
    "header only": (lambda: "params,tokens,loss\n", ["no runs"]),
}


def assert_one_line_error(status, err, path, words):
    assert status == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("scaling-lab: error: ") and path in lines[0]
    for word in words:
        assert word in lines[0], (word, lines[0])
    assert "Traceback" not in err


@pytest.mark.parametrize("case", list(BAD_INPUTS))
def test_bad_input_is_one_line_naming_file_row_and_problem(tmp_path, capsys, case):
    make, words = BAD_INPUTS[case]
    path = write(tmp_path, make())
    status, _, err = run_cli(["fit", path, "--bootstrap", "5"], capsys)
    assert_one_line_error(status, err, path, words)


@pytest.mark.parametrize("sep", [";", "\t", "|"])
def test_semicolon_and_tab_separated_files_fit_like_commas(tmp_path, capsys, sep):
    df = sl.sample_isoflops(sl.SURFACES["chinchilla"], noise=0.005, seed=3)
    comma, other = tmp_path / "comma.csv", tmp_path / "other.csv"
    df.to_csv(comma, index=False)
    df.to_csv(other, index=False, sep=sep)
    a = fit_json(tmp_path, comma, capsys, "--bootstrap", "10")
    b = fit_json(tmp_path, other, capsys, "--bootstrap", "10")
    assert a["parameters"] == b["parameters"] and b["runs"] == len(df)


def test_header_with_another_separator_is_named_in_the_error(tmp_path, capsys):
    path = write(tmp_path, "params;tokens;los\n1e8;2e9;3.1\n")
    status, _, err = run_cli(["fit", path], capsys)
    assert_one_line_error(status, err, path, ["missing column(s)", "semicolons"])


def test_budget_with_two_runs_is_bad_input_for_approach2_only(tmp_path, capsys):
    path = write(tmp_path, good_runs().drop(index=[0, 1, 2]))
    status, _, err = run_cli(["fit", path, "--method", "approach2", "--bootstrap", "5"], capsys)
    words = ["budget 1e+17", "2 run(s)", "row 1 (line 2)", "at least 3", "--method vpnls"]
    assert_one_line_error(status, err, path, words)
    status, out, err = run_cli(["fit", path, "--bootstrap", "5"], capsys)
    assert status == 0 and "loss surface" in out and err == ""


def ladder(surface, sizes=(1e8, 2e8, 4e8, 8e8, 1.6e9), multiples=(0.5, 1, 2, 5, 10)):
    """A model ladder (sizes × token multiples of 20 N, as in OLMo's): no IsoFLOP curves."""
    n, k = np.meshgrid(np.asarray(sizes), np.asarray(multiples))
    n, d = n.ravel(), 20.0 * k.ravel() * n.ravel()
    return pd.DataFrame({"params": n, "tokens": d, "loss": surface.loss(n, d)})


def test_a_model_ladder_fits_end_to_end_and_says_what_it_skipped(tmp_path, capsys):
    truth = sl.SURFACES["chinchilla"]
    path = write(tmp_path, ladder(truth))
    plot = tmp_path / "fit.png"
    status, out, err = run_cli(
        ["fit", path, "--bootstrap", "20", "--plot", plot, "--no-progress"], capsys
    )
    assert status == 0, err
    skipped = [line for line in out.splitlines() if "skipped" in line]
    assert len(skipped) == 1 and "not an IsoFLOP grid" in skipped[0], out
    assert err == "" and plot.stat().st_size > 10_000  # a ladder is no problem: no warning
    report = fit_json(tmp_path, path, capsys, "--bootstrap", "20")
    assert report["design_check"] is None and "IsoFLOP" in report["design_check_skipped"]
    for name in FIVE:
        got = report["parameters"][name]
        assert abs(got["estimate"] / getattr(truth, name) - 1) <= 1e-9, name
        assert abs(got["upper"] / got["lower"] - 1) <= 1e-6  # noise-free: collapsed interval
    for method in ("approach3",):
        status, out, err = run_cli(["fit", path, "--method", method, "--bootstrap", "5"], capsys)
        assert status == 0 and "skipped" in out, err
    status, _, err = run_cli(["fit", path, "--method", "approach2"], capsys)
    assert status == 2 and "Approach 2 needs at least 3 runs" in err
    status, _, err = run_cli(
        ["plan", path, "--next-budget", "1e22", "-o", tmp_path / "n.csv"], capsys
    )
    assert_one_line_error(status, err, path, ["plan proposes the next IsoFLOP curve", "not an"])


def test_noisy_ladder_intervals_cover_the_truth():
    """30 seeded noisy ladders (25 runs each): 90% intervals hold (binomial test at 0.1%)."""
    truth = sl.SURFACES["chinchilla"]
    hits = {"alpha": 0, "beta": 0}
    for seed in range(30):
        runs = ladder(truth)
        runs["loss"] += 0.005 * np.random.default_rng(seed).standard_normal(len(runs))
        table = assess_runs(runs, n_boot=100, seed=seed).intervals()
        for name in hits:
            hits[name] += (
                table.loc[name, "lower"] <= getattr(truth, name) <= table.loc[name, "upper"]
            )
    for name, k in hits.items():
        assert binomtest(k, 30, 0.90).pvalue > 0.001, (name, k)


def test_epoch_chinchilla_runs_without_budgets_fit_end_to_end(tmp_path, capsys):
    """Epoch's runs exported as params, tokens, loss: grouped, fitted, design-checked."""
    df = sl.datasets.load("chinchilla_epoch")[["params", "tokens", "loss"]]
    path = write(tmp_path, df)
    report = fit_json(tmp_path, path, capsys, "--bootstrap", "50", "--plot", tmp_path / "f.png")
    assert report["runs"] == len(df) and report["status"] == "converged"
    assert report["design_check"] is not None  # 35 grouped budgets hold IsoFLOP curves
    alpha = report["parameters"]["alpha"]
    assert 0.2 < alpha["lower"] < alpha["estimate"] < alpha["upper"] < 0.6


def test_single_budget_fits_with_a_warning_and_wide_intervals(tmp_path, capsys):
    df = sl.sample_isoflops(sl.SURFACES["chinchilla"], noise=0.005, seed=1)
    one = df[df["budget"] == 1e19]
    path = write(tmp_path, one)
    status, out, err = run_cli(["fit", path, "--bootstrap", "100", "--no-progress"], capsys)
    assert status == 0
    assert "one IsoFLOP curve barely identifies the exponents" in err
    assert "skipped" in out
    full = assess_runs(df, n_boot=100).intervals().loc["alpha"]
    single = assess_runs(one, n_boot=100).intervals().loc["alpha"]
    assert single["upper"] - single["lower"] > 3 * (full["upper"] - full["lower"])


def test_single_budget_is_bad_input_for_approach2(tmp_path, capsys):
    df = good_runs()
    path = write(tmp_path, df[df["budget"] == 1e19])
    status, _, err = run_cli(["fit", path, "--method", "approach2"], capsys)
    assert_one_line_error(status, err, path, ["Approach 2 needs at least 2 budgets"])


@pytest.mark.parametrize("kind", ["missing", "directory", "binary"])
def test_unreadable_file_is_one_line(tmp_path, capsys, kind):
    path = tmp_path / "runs.csv"
    if kind == "directory":
        path.mkdir()
    elif kind == "binary":
        path.write_bytes(b"\xff\xfe\x00\x81\x92")
    status, _, err = run_cli(["fit", path], capsys)
    assert_one_line_error(status, err, str(path), ["cannot read the file"])


def test_bad_input_in_a_real_process_prints_no_traceback(tmp_path):
    path = write(tmp_path, with_cell("loss", 2, "abc"))
    result = subprocess.run(
        [sys.executable, "-m", "scaling_lab.cli", "fit", path],
        capture_output=True,
        text=True,
        check=False,
    )
    assert_one_line_error(result.returncode, result.stderr, path, ["row 3 (line 4)"])
    assert result.stdout == ""


def test_soft_problems_print_one_warning_line_and_exit_0(tmp_path, capsys):
    # FLOP convention: budgets 20% above 6ND, so 6ND is 16.7% below the budget.
    df = good_runs()
    df["budget"] *= 1.2
    path = write(tmp_path, df)
    status, out, err = run_cli(["fit", path, "--bootstrap", "5"], capsys)
    assert status == 0 and "loss surface" in out
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("scaling-lab: warning: ")
    assert "count FLOPs differently" in lines[0] and "-16.7%" in lines[0]
    # A bound hit: the true alpha lies outside the search box [0.05, 0.95].
    path = write(tmp_path, sl.sample_isoflops(sl.LossSurface(1.7, 400.0, 400.0, 0.99, 0.3)))
    status, out, err = run_cli(["fit", path, "--bootstrap", "0"], capsys)
    assert status == 0
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "bound hit" in lines[0], err


def test_every_subcommand_is_registered(tmp_path, capsys):
    parser = build_parser()
    choices = set(parser._subparsers._group_actions[0].choices)
    assert choices == {"fit", "plan", "size", "simulate", "families", "backtest"}
    # `families validate DIR` reaches the families validator through main().
    status, out, _ = run_cli(["families", "validate", tmp_path / "missing"], capsys)
    assert status == 1 and "no such folder" in out


def test_huber_loss_through_the_cli_resists_outlying_runs(tmp_path, capsys):
    truth = sl.SURFACES["chinchilla"]
    df = sl.sample_isoflops(truth, noise=0.01, seed=0)
    df.loc[[7, 40, 61], "loss"] += 0.1
    path = write(tmp_path, df)
    status, _, err = run_cli(["fit", path, "--bootstrap", "0"], capsys)
    assert status == 0 and "--loss huber down-weights them" in err
    squared = fit_json(tmp_path, path, capsys, "--bootstrap", "0")
    robust = fit_json(tmp_path, path, capsys, "--bootstrap", "10", "--loss", "huber")
    assert robust["loss"] == "huber" and robust["delta"] == 1e-3
    clean_runs = sl.sample_isoflops(truth, noise=0.01, seed=0)

    def moved(report, loss):  # largest relative change of the five from the same fit, clean
        clean = sl.fit_vpnls(clean_runs, loss=loss).surface.to_dict()
        return max(abs(report["parameters"][k]["estimate"] / v - 1) for k, v in clean.items())

    assert moved(robust, "huber") < 0.5 * moved(squared, "squared")
    status, _, err = run_cli(["fit", path, "--loss", "huber", "--method", "approach2"], capsys)
    assert status == 2 and err.strip() == (
        "scaling-lab: error: loss='huber' needs method 'vpnls' (got 'approach2')"
    )
