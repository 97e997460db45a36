import base64
import io

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import scaling_lab as sl
from scaling_lab.analysis import (
    approach2_sweep,
    compounding_table,
    symmetric_offsets,
    vertex_shift,
    vertex_shift_taylor,
)


@pytest.mark.parametrize("n", [3, 4, 15, 50])
@pytest.mark.parametrize("grid", [1.5, 8.0, 100.0])
def test_shift_is_exactly_zero_on_symmetric_surfaces(n, grid):
    assert vertex_shift(0.31, 0.31, grid, n) == 0.0
    assert vertex_shift(0.7, 0.7, grid, n) == 0.0


def test_offsets_are_exactly_antisymmetric():
    u = symmetric_offsets(np.log10(7.0), 15)
    assert np.array_equal(u, -u[::-1])
    assert u[0] == -np.log10(7.0) and u[-1] == np.log10(7.0)


@settings(max_examples=40, deadline=None)
@given(st.floats(0.1, 0.9), st.floats(0.1, 0.9), st.floats(1.5, 100.0), st.integers(3, 40))
def test_closed_form_matches_an_independent_polynomial_fit(alpha, beta, grid, n):
    u = np.linspace(-np.log10(grid), np.log10(grid), n)
    f = 10.0 ** (-alpha * u) + (alpha / beta) * 10.0 ** (beta * u)
    c2, c1, _ = np.polyfit(u, f, 2)
    expected = -c1 / (2 * c2)
    assert vertex_shift(alpha, beta, grid, n) == pytest.approx(expected, rel=1e-7, abs=1e-12)
    # Swapping the exponents mirrors the valley.
    assert vertex_shift(beta, alpha, grid, n) == pytest.approx(
        -vertex_shift(alpha, beta, grid, n), rel=1e-9, abs=1e-13
    )


@settings(max_examples=30, deadline=None)
@given(st.floats(0.1, 0.9), st.floats(0.1, 0.9), st.floats(2.0, 50.0), st.floats(0.3, 3.0))
def test_closed_form_predicts_numerical_approach2_intercepts(alpha, beta, grid, offset):
    s = sl.LossSurface(E=1.7, A=400.0, B=400.0, alpha=alpha, beta=beta)
    runs = sl.sample_isoflops(s, grid=grid, center_scale=offset)
    fit = sl.fit_approach2(runs)
    shift = vertex_shift(alpha, beta, grid, 15, center=-np.log10(offset))
    # Numerical Approach 2 can only resolve the vertex to the precision of the losses it
    # is given: when a narrow grid spans a loss range that is tiny next to the loss
    # itself (large exponents, large budgets), rounding of L limits the reference, not
    # the closed form. Allow ~50 ulp of the loss relative to that range.
    resolvable = 1e-14 * runs["loss"].max() / runs.groupby("budget")["loss"].agg(np.ptp).min()
    assert fit.a0 - s.a0 == pytest.approx(shift, rel=1e-8, abs=resolvable)
    assert fit.b0 - s.b0 == pytest.approx(-shift, rel=1e-8, abs=resolvable)


def test_taylor_term_is_the_small_grid_limit():
    chin = sl.SURFACES["chinchilla"]
    gaps = [
        abs(
            vertex_shift_taylor(chin.alpha, chin.beta, g) / vertex_shift(chin.alpha, chin.beta, g)
            - 1
        )
        for g in (8.0, 2.0, 1.2)
    ]
    assert gaps[0] > gaps[1] > gaps[2] and gaps[2] < 1e-3


def test_vertex_shift_broadcasts():
    out = vertex_shift(0.4, 0.2, np.array([2.0, 4.0, 8.0]))
    assert out.shape == (3,) and np.all(np.diff(out) > 0)


def test_sweep_rows_and_consistency():
    grids = [2.0, 8.0]
    df = approach2_sweep(sl.SURFACES, grids, sl.analysis.BIAS_CONFIGS)
    assert len(df) == 3 * len(sl.analysis.BIAS_CONFIGS) * 2
    row = df[(df.surface == "chinchilla") & (df.config == "offset 2×") & (df.grid == 8.0)].iloc[0]
    fit = sl.fit_approach2(
        sl.sample_isoflops(sl.SURFACES["chinchilla"], grid=8.0, center_scale=2.0)
    )
    assert row["b0"] == fit.b0 and row["a"] == fit.a
    assert row["D_extrap_err"] == sl.analysis.extrapolation_error(fit, sl.SURFACES["chinchilla"])
    assert row["center_scale"] == 2.0 and row["drift"] == 1.0


def test_compounding_table_identities():
    biases = {"offset": {"center_scale": 3.0}}
    table = compounding_table(sl.SURFACES, {"XS": 2.0, "L": 8.0}, biases)
    assert np.allclose(table["sum_of_separate"], table["asymmetry_alone"] + table["sampling_alone"])
    assert np.allclose(table["interaction"], table["combined"] - table["sum_of_separate"])
    sym = table.xs("symmetric", level="surface")
    assert np.abs(sym["interaction"]).max() <= 1e-12


def test_table_csv_download_keeps_full_precision():
    df = pd.DataFrame({"x": [1 / 3, np.pi, 1e-17]}, index=["a", "b", "c"])
    html = sl.report.table(df, "t.csv", float_format="{:.2f}").data
    assert "0.33" in html and 'download="t.csv"' in html
    payload = html.split("base64,")[1].split('"')[0]
    back = pd.read_csv(io.StringIO(base64.b64decode(payload).decode()), index_col=0)
    assert back["x"].tolist() == df["x"].tolist()  # bit-for-bit
    with pytest.raises(ValueError, match=r"must end with \.csv"):
        sl.report.table(df, "t.txt")


def test_glue_passes_plain_python_numbers(monkeypatch):
    seen = {}
    import myst_nb

    monkeypatch.setattr(myst_nb, "glue", lambda name, value, display: seen.update({name: value}))
    sl.report.glue("x", np.float64(0.5))
    assert type(seen["x"]) is float and seen["x"] == 0.5


def test_extrapolation_deadweight_against_an_independent_root_find():
    from scipy.optimize import brentq

    chin = sl.SURFACES["chinchilla"]
    fit = sl.fit_approach2(sl.sample_isoflops(chin, grid=8.0))
    C = 1e24
    D = float(fit.D_opt(C))
    loss = chin.E + chin.A * (C / (6 * D)) ** (-chin.alpha) + chin.B * D ** (-chin.beta)
    # Compute that reaches the same loss on the optimal path, found by bisection in log C.
    log_c_eq = brentq(lambda x: chin.loss_opt(10.0**x) - loss, 20.0, 24.0, xtol=1e-14)
    expected = 1.0 - 10.0**log_c_eq / C
    got = sl.analysis.extrapolation_deadweight(fit, chin, C)
    assert got == pytest.approx(expected, rel=1e-6)
    assert 0 < got < 1e-3  # a -2.9% token error is cheap: the optimum is flat


def test_extrapolation_deadweight_is_zero_for_an_exact_fit():
    sym = sl.SURFACES["symmetric"]
    fit = sl.fit_approach2(sl.sample_isoflops(sym, grid=8.0))
    assert sl.analysis.extrapolation_deadweight(fit, sym) <= 1e-12


@settings(max_examples=30, deadline=None)
@given(
    st.floats(0.1, 0.9),
    st.floats(0.1, 0.9),
    st.floats(0.01, 0.5),
    st.floats(0.01, 0.5),
    st.booleans(),
)
def test_deadweight_grows_with_the_token_error(alpha, beta, e1, e2, more_tokens):
    s = sl.LossSurface(E=1.7, A=400.0, B=400.0, alpha=alpha, beta=beta)
    lo, hi = sorted((e1, e2))
    sign = 1.0 if more_tokens else -1.0
    C = 1e22
    waste = sl.analysis.misallocation(s, s.D_opt(C) * (1 + sign * np.array([lo, hi])), C)
    frac = waste.deadweight_fraction
    assert 0 < frac[0] <= frac[1] < 1


def test_sweep_and_compounding_carry_the_deadweight():
    df = approach2_sweep({"chinchilla": sl.SURFACES["chinchilla"]}, [2.0, 8.0])
    for _, row in df.iterrows():
        fit = sl.fit_approach2(sl.sample_isoflops(sl.SURFACES["chinchilla"], grid=row["grid"]))
        assert row["D_extrap_deadweight"] == sl.analysis.extrapolation_deadweight(
            fit, sl.SURFACES["chinchilla"]
        )
    table = compounding_table(sl.SURFACES, {"XS": 2.0}, {"drift": {"drift": 3.0}})
    for (s_name, _, _), row in table.iterrows():
        s = sl.SURFACES[s_name]
        C = sl.analysis.HEADLINE_BUDGET
        direct = sl.analysis.misallocation(s, s.D_opt(C) * (1 + row["combined"]), C)
        assert row["combined_deadweight"] == pytest.approx(direct.deadweight_fraction, rel=1e-9)


def test_grid_width_tradeoff_is_seeded_and_consistent():
    chin = sl.SURFACES["chinchilla"]
    kwargs = dict(grids=[2.0, 8.0], n_draws=20, n_boot=200)
    first = sl.analysis.grid_width_tradeoff(chin, seed=3, **kwargs)
    again = sl.analysis.grid_width_tradeoff(chin, seed=3, **kwargs)
    other = sl.analysis.grid_width_tradeoff(chin, seed=4, **kwargs)
    pd.testing.assert_frame_equal(first, again, check_exact=True)
    assert not first["noisy_median"].equals(other["noisy_median"])
    for _, row in first.iterrows():
        centred = sl.fit_approach2(sl.sample_isoflops(chin, grid=row["grid"]))
        offset = sl.fit_approach2(sl.sample_isoflops(chin, grid=row["grid"], center_scale=3.0))
        assert row["centred_err"] == sl.analysis.extrapolation_error(centred, chin)
        assert row["offset_err"] == sl.analysis.extrapolation_error(offset, chin)
        assert row["noisy_lo"] <= row["noisy_median"] <= row["noisy_hi"]
        # Loss rise at the grid edges, from the surface formula directly.
        c = np.asarray(sl.DEFAULT_BUDGETS)
        n_opt = chin.G * (c / 6) ** chin.a
        rises = [
            chin.E
            + chin.A * n**-chin.alpha
            + chin.B * (c / (6 * n)) ** -chin.beta
            - chin.loss_opt(c)
            for n in (n_opt * row["grid"], n_opt / row["grid"])
        ]
        assert row["rise_to_noise"] == pytest.approx(np.min(rises) / 0.01, rel=1e-9)
    with pytest.raises(ValueError, match="noise"):
        sl.analysis.grid_width_tradeoff(chin, [2.0], noise=0.0)


def test_machine_zero_format():
    fmt = sl.report.machine_zero_format("{:.2e}", tol=1e-12)
    assert fmt(-1.11022e-16) == "0 (machine precision)"
    assert fmt(0.0) == "0 (machine precision)"
    assert fmt(3.0e-5) == "3.00e-05"
    assert fmt(float("nan")) == "–"
    assert fmt(np.float64(-2e-13)) == "0 (machine precision)"
    html = sl.report.table(pd.DataFrame({"x": [1e-17, 0.25]}), "z.csv", float_format=fmt).data
    assert "0 (machine precision)" in html and "2.50e-01" in html
