"""Inference-aware allocation (scaling_lab.inference) and the sizing report (scaling_lab.sizing)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy.optimize import brentq, minimize_scalar

import scaling_lab as sl
from scaling_lab.inference import (
    approach2_surface,
    inference_optimal,
    price_inference_plan,
)
from scaling_lab.sizing import size_model

SURFACES = {**sl.SURFACES, **sl.PUBLISHED_SURFACES}
TOKENS = np.array([1e3, 1e8, 1e10, 3e11, 1e12, 1e13, 1e14, 1e16, 1e20])


def brute_force_N(surface, target, T):
    """Independent check: root of d/dlogN (6 N D(N) + 2 N T) on the iso-loss curve, by brentq.

    Uses the original variables: ``D(N) = (B/(L - E - A N**-alpha))**(1/beta)``.
    """
    E, A, B, al, be = surface.to_dict().values()

    def dfdx(x):
        N = np.exp(x)
        R = target - E - A * N**-al
        D = (B / R) ** (1 / be)
        g = al * A * N**-al / (be * R)
        return 6 * D * (1 - g) + 2 * T

    x_min = np.log(A / (target - E)) / al  # the loss is reachable only above this size
    x_opt = np.log(surface.N_opt(surface.compute_for_loss(target)))
    lo = x_min + 1e-12 * abs(x_min)
    while dfdx(lo) > 0:  # step in until the derivative is negative (D blows up at x_min)
        lo = 0.5 * (lo + x_min) + 1e-9
    return np.exp(brentq(dfdx, lo, x_opt + 1e-9, xtol=1e-15, rtol=1e-15, maxiter=500))


def total(surface, target, T, N):
    E, A, B, al, be = surface.to_dict().values()
    D = (B / (target - E - A * N**-al)) ** (1 / be)
    return 6 * N * D + 2 * N * T


@pytest.mark.parametrize("name", list(SURFACES))
@pytest.mark.parametrize("budget", [1e19, 1e23, 3.8e25])
def test_no_inference_is_the_compute_optimal_model(name, budget):
    s = SURFACES[name]
    target = s.loss_opt(budget)
    r = inference_optimal(s, target, 0.0)
    C = s.compute_for_loss(target)
    assert r.N == pytest.approx(s.N_opt(C), rel=1e-10)
    assert r.D == pytest.approx(s.D_opt(C), rel=1e-10)
    assert r.N_opt == pytest.approx(s.N_opt(C), rel=1e-10)
    assert r.training_flops == pytest.approx(budget, rel=1e-10)
    assert r.inference_flops == 0 and abs(r.saving_fraction) < 1e-12


@pytest.mark.parametrize("name", list(SURFACES))
def test_matches_a_brute_force_minimisation(name):
    s = SURFACES[name]
    target = s.loss_opt(1e23)
    r = inference_optimal(s, target, TOKENS)  # vectorised over T
    for j, T in enumerate(TOKENS):
        n_bf = brute_force_N(s, target, T)
        assert r.N[j] == pytest.approx(n_bf, rel=1e-10), T
        # A plain bounded minimisation of the cost itself agrees to its own precision
        # (the cost is flat at the minimum, so the minimiser is known to ~sqrt(eps) only).
        x_min = np.log(s.A / (target - s.E)) / s.alpha
        res = minimize_scalar(
            lambda x, T=T, scale=r.total_flops_opt[j]: total(s, target, T, np.exp(x)) / scale,
            bounds=(x_min + 1e-6, np.log(r.N_opt[j]) + 1.0),
            method="bounded",
            options={"xatol": 1e-10},
        )
        assert np.exp(res.x) == pytest.approx(r.N[j], rel=1e-4), T
        assert r.total_flops[j] <= total(s, target, T, np.exp(res.x)) * (1 + 1e-14)
        # On the iso-loss curve, at the reported split, with the reported cost.
        assert s.loss(r.N[j], r.D[j]) == pytest.approx(target, rel=1e-13)
        assert r.total_flops[j] == pytest.approx(total(s, target, T, r.N[j]), rel=1e-12)


def test_the_brute_force_check_can_fail():
    """The brute-force comparison detects a minimiser off by 1e-8 relative."""
    s = sl.SURFACES["chinchilla"]
    target = s.loss_opt(1e22)
    r = inference_optimal(s, target, 1e12)
    assert brute_force_N(s, target, 1e12) != pytest.approx(r.N * (1 + 1e-8), rel=1e-10)


def test_vectorised_equals_one_at_a_time_and_trends():
    s = sl.SURFACES["chinchilla"]
    targets = s.loss_opt(np.array([1e21, 1e24]))[:, None]
    r = inference_optimal(s, targets, TOKENS[None, :])
    assert r.N.shape == (2, TOKENS.size)
    for i in range(2):
        for j, T in enumerate(TOKENS):
            one = inference_optimal(s, float(targets[i, 0]), T)
            assert one.N == r.N[i, j] and one.D == r.D[i, j]
    # More inference: smaller models trained longer, and a growing saving.
    assert np.all(np.diff(r.N, axis=1) < 0) and np.all(np.diff(r.D, axis=1) > 0)
    assert np.all(np.diff(r.saving_fraction, axis=1) >= 0) and np.all(r.saving >= 0)
    assert np.all(r.saving_fraction[:, 3:] > 1e-6)
    # The saving cannot exceed what removing training entirely would give.
    assert np.all(r.total_flops >= r.inference_flops)
    frame = inference_optimal(s, float(targets[0, 0]), TOKENS).to_frame()
    assert len(frame) == TOKENS.size and "D/N" in frame


def test_solution_depends_on_inference_tokens_over_training_tokens_only():
    s = sl.SURFACES["asymmetric"]
    ratios = np.array([0.01, 0.3, 1.0, 10.0, 1e3])
    out = []
    for budget in (1e20, 1e25):
        r0 = inference_optimal(s, s.loss_opt(budget), 0.0)
        r = inference_optimal(s, s.loss_opt(budget), ratios * r0.D)
        out.append((r.N / r0.N, r.D / r0.D, r.saving_fraction))
    for a, b in zip(*out, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-11, atol=1e-13)


def test_bad_input():
    s = sl.SURFACES["chinchilla"]
    with pytest.raises(ValueError, match="irreducible loss"):
        inference_optimal(s, s.E, 1e12)
    with pytest.raises(ValueError, match="irreducible loss"):
        inference_optimal(s, np.nan, 1e12)
    with pytest.raises(ValueError, match="inference_tokens"):
        inference_optimal(s, 2.0, -1.0)
    with pytest.raises(ValueError, match="inference_tokens"):
        inference_optimal(s, 2.0, [1e9, np.inf])
    with pytest.raises(ValueError, match="positive"):
        price_inference_plan(s, -1.0, 1e12, 0.0)


def test_pricing_a_plan_against_the_truth():
    s = sl.SURFACES["chinchilla"]
    target, T = s.loss_opt(1e23), 1e13
    best = inference_optimal(s, target, T)
    at_best = price_inference_plan(s, best.N, best.D, T)
    assert abs(at_best.deadweight_fraction) < 1e-12
    assert at_best.loss == pytest.approx(target, rel=1e-13)
    # The compute-optimal model, asked to serve T tokens, wastes exactly the saving.
    chin = price_inference_plan(s, best.N_opt, best.D_opt, T)
    assert chin.deadweight == pytest.approx(best.saving, rel=1e-9)
    off = price_inference_plan(s, best.N * np.array([0.5, 2.0]), best.D, T)
    assert np.all(off.deadweight_fraction > 0)


def test_surface_implied_by_approach2():
    truth = sl.SURFACES["symmetric"]
    fit = sl.fit_approach2(sl.sample_isoflops(truth, grid=2.0))
    implied = approach2_surface(fit)
    C = np.array([1e18, 1e24])
    np.testing.assert_allclose(implied.N_opt(C), fit.N_opt(C), rtol=1e-12)
    np.testing.assert_allclose(implied.D_opt(C), fit.D_opt(C), rtol=1e-12)
    # Symmetric surface, centred narrow grids: the vertices are nearly exact.
    for name in ("E", "alpha", "beta"):
        assert getattr(implied, name) == pytest.approx(getattr(truth, name), rel=1e-3), name
    np.testing.assert_allclose(implied.loss_opt(C), truth.loss_opt(C), rtol=1e-4)


# --- the sizing report -------------------------------------------------------------------


def test_sizing_noise_free_runs_reproduces_the_truth():
    truth = sl.SURFACES["chinchilla"]
    runs = sl.sample_isoflops(truth)
    sizing = size_model(runs, [0.0, 1e13], target_compute=1e24, n_boot=20)
    table = sizing.to_frame().set_index(["inference_tokens", "quantity"])
    r = inference_optimal(truth, truth.loss_opt(1e24), np.array([0.0, 1e13]))
    for j, T in enumerate([0.0, 1e13]):
        for name, value in {"N": r.N[j], "D": r.D[j], "total_flops": r.total_flops[j]}.items():
            row = table.loc[(T, name)]
            assert row["estimate"] == pytest.approx(value, rel=1e-7)
            assert row["lower"] == pytest.approx(value, rel=1e-5)  # draws are the truth too
            assert row["upper"] == pytest.approx(value, rel=1e-5)
    assert table.loc[(0.0, "training_flops"), "estimate"] == pytest.approx(1e24, rel=1e-10)
    usd = sizing.pricing.dollars(table.loc[(1e13, "total_flops"), "estimate"])
    assert table.loc[(1e13, "total_usd"), "estimate"] == pytest.approx(usd, rel=1e-12)
    assert "inference tokens T = 1e+13" in sizing.report()


def test_sizing_intervals_cover_the_estimate_and_widen_with_noise():
    truth = sl.SURFACES["chinchilla"]
    widths = []
    for noise in (0.002, 0.01):
        runs = sl.sample_isoflops(truth, noise=noise, seed=3)
        sizing = size_model(runs, 1e12, target_loss=2.1, n_boot=100)
        row = sizing.to_frame().set_index("quantity").loc["N"]
        assert row["lower"] <= row["estimate"] <= row["upper"]
        widths.append(row["upper"] / row["lower"])
    assert widths[1] > widths[0]


def test_sizing_bad_input():
    runs = sl.sample_isoflops(sl.SURFACES["chinchilla"], n_points=5)
    with pytest.raises(ValueError, match="exactly one"):
        size_model(runs, 1e12, n_boot=0)
    with pytest.raises(ValueError, match="exactly one"):
        size_model(runs, 1e12, target_loss=2.0, target_compute=1e24, n_boot=0)
    with pytest.raises(ValueError, match="not above the fitted irreducible loss"):
        size_model(runs, 1e12, target_loss=1.0, n_boot=0)
    with pytest.raises(ValueError, match="inference tokens"):
        size_model(runs, [-1.0], target_loss=2.0, n_boot=0)


def test_size_command(tmp_path, capsys):
    from scaling_lab.cli import main

    path, out_csv = tmp_path / "runs.csv", tmp_path / "size.csv"
    sl.sample_isoflops(sl.SURFACES["chinchilla"], noise=0.005, seed=1).to_csv(path, index=False)
    args = ["size", path, "--target-compute", "1e23", "--inference-tokens", "0", "1e12"]
    status = main([str(a) for a in [*args, "--bootstrap", "30", "--csv", out_csv]])
    out, err = capsys.readouterr()
    assert status == 0 and err == ""
    for text in ("D/N (tokens per parameter)", "total cost (USD)", "989 TFLOP/s", "40% MFU"):
        assert text in out
    table = pd.read_csv(out_csv)
    assert set(table["inference_tokens"]) == {0.0, 1e12} and table["lower"].notna().all()
    # Bad input: one line naming the file and the problem, status 2.
    status = main(["size", str(path), "--target-loss", "1.0", "--inference-tokens", "1e12"])
    _, err = capsys.readouterr()
    lines = err.strip().splitlines()
    assert status == 2 and len(lines) == 1 and str(path) in lines[0]
    assert "irreducible loss" in lines[0]
    status = main(
        ["size", str(tmp_path / "nope.csv"), "--target-loss", "2", "--inference-tokens", "1"]
    )
    _, err = capsys.readouterr()
    assert status == 2 and len(err.strip().splitlines()) == 1 and "cannot read" in err
    with pytest.raises(SystemExit) as exit_info:
        main(["size", str(path), "--target-loss", "2", "--inference-tokens", "-5"])
    assert exit_info.value.code == 2 and "must be a number >= 0" in capsys.readouterr().err


@pytest.mark.parametrize("name", ["chinchilla", "asymmetric", "soda"])
def test_where_the_saving_becomes_material(name):
    from scaling_lab.inference import inference_for_saving, saving_limit

    s = SURFACES[name]
    top = saving_limit(s)
    far = inference_optimal(s, s.loss_opt(1e22), np.array([1e30, 1e60]))
    assert np.all(far.saving_fraction < top) and far.saving_fraction[1] > top - 1e-5
    assert far.saving_fraction[1] > far.saving_fraction[0]
    for fraction in (0.01, 0.1, 0.5 * top):
        ratio = inference_for_saving(s, fraction)
        for budget in (1e20, 1e25):  # the same ratio at any loss
            r = inference_optimal(s, s.loss_opt(budget), ratio * s.D_opt(budget))
            assert r.saving_fraction == pytest.approx(fraction, rel=1e-9)
    with pytest.raises(ValueError, match="fraction"):
        inference_for_saving(s, top)


def test_unreachable_draws_make_the_upper_limit_unbounded():
    runs = sl.sample_isoflops(sl.SURFACES["chinchilla"], n_points=5, noise=0.05, seed=3)
    sizing = size_model(runs, 1e13, target_loss=1.9, n_boot=200)
    assert sizing.n_infeasible > 0.05 * 200  # more than the upper tail of a 90% interval
    table = sizing.to_frame().set_index("quantity")
    assert np.isinf(table.loc["N", "upper"]) and np.isfinite(table.loc["N", "lower"])
    assert np.isinf(table.loc["total_usd", "upper"])
    assert "inf" in sizing.report()


def test_approach2_plan_costs_at_no_inference_is_the_frontier_deadweight():
    from scaling_lab.inference import approach2_plan_costs

    runs = sl.sample_isoflops(sl.SURFACES["asymmetric"], grid=16.0)
    out = approach2_plan_costs(runs, 1e24, [0.0, 1e13])
    frontier = sl.costs.price_recommendation(
        sl.fit_approach2(runs), sl.fit_vpnls(runs).surface, 1e24
    )
    assert frontier.deadweight_fraction > 1e-3  # the asymmetric surface biases Approach 2
    assert out["deadweight_fraction[0]"] == pytest.approx(frontier.deadweight_fraction, rel=1e-6)
    assert out["deadweight_fraction[1e+13]"] > 0
    # Symmetric surface, centred narrow grid: Approach 2 is nearly exact, so is its plan.
    exact = approach2_plan_costs(
        sl.sample_isoflops(sl.SURFACES["symmetric"], grid=2.0), 1e24, [1e13]
    )
    assert exact["deadweight_fraction[1e+13]"] < 1e-6
